"""What a process's httpx.AsyncClients sent: the app's requests, counted where they reach
httpx's transport (the client hands them there directly, past `AsyncClient.send`), for
tests and benchmarks that say what something costs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from smb_tui.api import client as client_module


@dataclass
class HttpLog:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (method, path)

    def count(self, method: str, path_end: str = "") -> int:
        """Requests sent with `method` to a path ending in `path_end`."""
        return sum(1 for m, p in self.sent if m == method and p.endswith(path_end))


@contextmanager
def logged_requests() -> Iterator[HttpLog]:
    """Every request sent through httpx's async transport meanwhile (by any client of this
    process: the app's and a test's own async clients alike)."""
    log = HttpLog()
    real = httpx.AsyncHTTPTransport.handle_async_request

    async def send(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> Any:
        log.sent.append((request.method, request.url.path))
        return await real(self, request)

    httpx.AsyncHTTPTransport.handle_async_request = send  # type: ignore[method-assign]
    try:
        yield log
    finally:
        httpx.AsyncHTTPTransport.handle_async_request = real  # type: ignore[method-assign]


def requests_at_each_parse(
    log: HttpLog, path_end: str, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """A list that gets, each time the client parses an answer, how many GETs to a path
    ending in `path_end` `log` had seen by then (what had been asked for before it)."""
    counts: list[int] = []
    real = client_module._json

    def parse(data: str | bytes) -> object:
        counts.append(log.count("GET", path_end))
        return real(data)

    monkeypatch.setattr(client_module, "_json", parse)
    return counts
