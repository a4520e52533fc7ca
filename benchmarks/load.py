"""A lean HTTP/1.1 load generator, run in a process of its own so that the figures are
the server's: `senders` keep-alive connections, each POSTing as soon as it has its
answer, spread over `instances` paths, for `seconds`. Prints JSON: events/s, latency
percentiles and the longest wait. Raw asyncio streams, not httpx: the client must cost less than
the server it measures.

    python benchmarks/load.py URL TOKEN PATH_TEMPLATE SENDERS INSTANCES SECONDS [BODY]
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def sender(host: str, port: int, request: bytes, stop: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    done = 0
    try:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"answered {status}")
            latencies.append(time.perf_counter() - started)
            done += 1
    finally:
        writer.close()
    return done


async def main() -> None:
    url, token, template, senders, instances, seconds = sys.argv[1:7]
    body = sys.argv[7] if len(sys.argv) > 7 else '{"event": {"type": "increment"}}'
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    payload = body.encode()
    requests = []
    for n in range(int(instances)):
        path = template.format(n=n)
        requests.append(
            (
                f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\n"
                f"authorization: Bearer {token}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\n\r\n"
            ).encode()
            + payload
        )
    latencies: list[float] = []
    stop = time.perf_counter() + float(seconds)
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(
            sender(host, port, requests[n % len(requests)], stop, latencies)
            for n in range(int(senders))
        )
    )
    elapsed = time.perf_counter() - started
    latencies.sort()

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000

    figures = {"per_s": sum(counts) / elapsed, "p50_ms": at(0.5), "p99_ms": at(0.99)}
    print(json.dumps({**figures, "max_ms": latencies[-1] * 1000}))


if __name__ == "__main__":
    asyncio.run(main())
