"""For the test servers that misbehave on purpose: HTTP read by hand, so that they can
answer what no HTTP library would let them."""

from __future__ import annotations

import asyncio


async def read_request(reader: asyncio.StreamReader) -> str:
    """One request's head and body read; its request line (`GET /machines HTTP/1.1`).
    Raises asyncio.IncompleteReadError when the client goes away."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(
        (
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        ),
        0,
    )
    await reader.readexactly(length)
    return lines[0]
