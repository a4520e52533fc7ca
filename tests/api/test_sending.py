"""`sending.started`: a call's request is out on the wire by the time it returns, so the
caller's work overlaps the server's (End and every walk of a list rely on it)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from smb_tui.api import StateBackedClient, StaticToken
from smb_tui.api.errors import ConnectionFailed
from smb_tui.api.sending import started


class Listener:
    """A server in a thread of its own: it hears a request while the test's loop is
    blocked, which a server on that loop could not."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.heard = threading.Event()
        self.answer = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        connection, _ = self.socket.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            self.heard.set()
            self.answer.wait(10)
            body = json.dumps({"machines": []}).encode()
            connection.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )


@pytest.fixture
def listener() -> Iterator[Listener]:
    heard = Listener()
    yield heard
    heard.answer.set()
    heard.socket.close()


async def test_a_call_started_has_sent_its_request(listener: Listener) -> None:
    async with StateBackedClient(StaticToken("t"), listener.base_url) as client:
        call = await started(client.list_machines())
        # Blocking the loop: only a request already written can reach the server now.
        assert listener.heard.wait(5)
        assert not call.done()
        listener.answer.set()
        assert (await call).items == []


async def test_a_call_that_fails_before_sending_returns_its_failure() -> None:
    unused = socket.create_server(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()  # nobody listens there
    async with StateBackedClient(StaticToken("t"), f"http://127.0.0.1:{port}", tries=1) as client:
        call = await started(client.list_machines())
        with pytest.raises(ConnectionFailed):
            await call
