"""httpcore's network on asyncio's own transports, in place of anyio's streams.

httpcore reaches the network through a small interface (connect, read, write, start
TLS, close); its default implements it on anyio, whose cancel scopes, locks and
library detection cost a tenth of the client's time paging a history. This one
implements the same interface on an asyncio `Protocol`: each read waits on one future,
each write is handed to the transport (waiting only when it is paused), and failures
are httpcore's own exceptions, so httpx maps them exactly as it maps anyio's.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
import sys
from collections.abc import Coroutine, Iterable
from typing import Any

import httpcore
from httpcore import SOCKET_OPTION, AsyncNetworkBackend, AsyncNetworkStream

# Read at most this much ahead of httpcore: past it the transport stops reading.
HIGH_WATER = 256 * 1024


class TrustOnFirstUse(ssl.SSLContext):
    """The TLS context httpx makes by default (certificates and host names checked,
    against `SSL_CERT_FILE`, `SSL_CERT_DIR` or certifi's bundle), with the trusted
    certificates loaded when the first TLS connection starts rather than when a client
    is made: loading them takes 35 ms, on the way to the dashboard's first frame, for a
    server on http:// that never needs them. Made with `TrustOnFirstUse()`."""

    _loaded = False

    def __new__(cls) -> TrustOnFirstUse:
        return super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, host checked

    def __init__(self) -> None:
        super().__init__()
        keylog = os.environ.get("SSLKEYLOGFILE")  # as ssl.create_default_context does
        if keylog and not sys.flags.ignore_environment:
            self.keylog_filename = keylog

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if os.environ.get("SSL_CERT_FILE"):
            self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
        elif os.environ.get("SSL_CERT_DIR"):
            self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
        else:
            import certifi

            self.load_verify_locations(cafile=certifi.where())

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._load()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._load()
        return super().wrap_socket(*args, **kwargs)


class _Reader(asyncio.BufferedProtocol):
    """Keeps what arrives until `read` takes it; says when the connection is gone."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray(65536)
        self._received = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self.eof = False
        self.error: BaseException | None = None
        self._paused_reading = False
        self._paused_writing = False

    # -- what asyncio calls --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self._received += memoryview(self._buffer)[:nbytes]
        if len(self._received) > HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self._paused_reading = True
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, error: Exception | None) -> None:
        self.eof = True
        if error is not None:
            self.error = error
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- what the stream calls ------------------------------------------------------------

    async def receive(self, max_bytes: int) -> bytes:
        while not self._received and not self.eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self._received:
            if self.error is not None:
                raise httpcore.ReadError(str(self.error) or type(self.error).__name__)
            return b""  # the other end closed: httpcore reads that as the end
        data = bytes(self._received[:max_bytes])
        del self._received[:max_bytes]
        if self._paused_reading and len(self._received) <= HIGH_WATER // 2:
            assert self.transport is not None
            self.transport.resume_reading()
            self._paused_reading = False
        return data

    async def drain(self) -> None:
        if self._paused_writing and self.transport is not None:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await self._drained
            finally:
                self._drained = None
        if self.transport is None or self.transport.is_closing():
            raise httpcore.WriteError(str(self.error or "the connection is closed"))


class AsyncioStream(AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, reader: _Reader) -> None:
        self._transport = transport
        self._reader = reader

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.receive(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out reading") from None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError(str(self._reader.error or "the connection is closed"))
        try:
            self._transport.write(buffer)
        except (OSError, RuntimeError) as error:
            raise httpcore.WriteError(str(error)) from None
        try:
            async with asyncio.timeout(timeout):
                await self._reader.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing") from None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._reader, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as error:
            self._transport.close()
            raise httpcore.ConnectError(str(error)) from error
        if transport is None:  # pragma: no cover - the server closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        assert isinstance(transport, asyncio.Transport)
        self._reader.transport = transport
        return AsyncioStream(transport, self._reader)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks before reusing a kept-alive connection: one with something to
            # read (the server's close, or bytes nobody asked for) is not reused.
            return self._reader.eof or bool(self._reader._received) or _readable(self._transport)
        return None


def _readable(transport: asyncio.Transport) -> bool:
    sock = transport.get_extra_info("socket")
    if sock is None or sock.fileno() < 0:
        return True
    poll = select.poll()
    poll.register(sock.fileno(), select.POLLIN)
    return bool(poll.poll(0))


class AsyncioBackend(AsyncNetworkBackend):
    """httpcore's network backend on asyncio's transports (TCP, TLS and Unix sockets)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        local = None if local_address is None else (local_address, 0)
        loop = asyncio.get_running_loop()
        connecting = loop.create_connection(_Reader, host, port, local_addr=local)
        return await _connected(connecting, f"{host}:{port}", timeout, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        connecting = asyncio.get_running_loop().create_unix_connection(_Reader, path)
        return await _connected(connecting, path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    connecting: Coroutine[Any, Any, tuple[asyncio.Transport, _Reader]],
    where: str,
    timeout: float | None,
    socket_options: Iterable[SOCKET_OPTION] | None,
) -> AsyncNetworkStream:
    """A stream once `connecting` is done, its failures as httpcore's."""
    try:
        async with asyncio.timeout(timeout):
            transport, reader = await connecting
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"timed out connecting to {where}") from None
    except OSError as error:
        raise httpcore.ConnectError(str(error)) from error
    sock: socket.socket = transport.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return AsyncioStream(transport, reader)
