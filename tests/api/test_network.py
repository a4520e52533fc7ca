"""The client's network under httpcore (`smb_tui/api/network.py`): TLS, large answers,
connections the server closes, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smb_tui.api import StateBackedClient, StaticToken, TlsError
from smb_tui.api.network import AsyncioBackend
from smb_tui.local.server import ServerThread
from tests.api.test_client import credentials
from tests.raw_http import read_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate authority (its certificate written to a file) and a server context
    whose certificate it signed, for 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("smb-tui test CA"))
        .issuer_name(_name("smb-tui test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    authority = folder / "ca.pem"
    authority.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = folder / "server.pem"
    chain.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + leaf.public_bytes(serialization.Encoding.PEM)
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return authority, context


def answering(bodies: list[str], *, close_after_each: bool = False) -> Handler:
    """A handler answering each request with the next of `bodies` (200, JSON), on one
    kept-alive connection, or closing it a little after each answer (once the client
    has put the connection back in its pool)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while bodies:
                await read_request(reader)
                payload = bodies.pop(0).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if close_after_each:
                    await asyncio.sleep(0.1)
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle


async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    listener = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        listener.close()


def machines(count: int, pad: int = 0) -> str:
    return json.dumps(
        {
            "machines": [
                {"slug": f"m{i}", "createdAt": "2026-01-01T00:00:00Z", "pad": "é" * pad}
                for i in range(count)
            ]
        }
    )


async def test_the_client_speaks_tls_to_a_server_it_trusts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authority, context = make_certificates(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))  # as an on-premises CA is trusted
    # An answer of 1.2 MB: more than the network reads ahead of httpcore, over TLS.
    bodies = [machines(3), machines(2, pad=300_000)]
    server = serving(answering(bodies), context)
    base_url = await anext(server)
    try:
        async with StateBackedClient(StaticToken("t"), base_url) as client:
            first = await client.list_machines()
            second = await client.list_machines()
    finally:
        await server.aclose()
    assert [m.slug for m in first.items] == ["m0", "m1", "m2"]
    assert [m.slug for m in second.items] == ["m0", "m1"]


async def test_a_server_whose_certificate_is_not_trusted_is_a_tls_error(
    tmp_path: Path,
) -> None:
    _, context = make_certificates(tmp_path)  # its authority never trusted
    server = serving(answering([machines(1)]), context)
    base_url = await anext(server)
    try:
        async with StateBackedClient(StaticToken("t"), base_url) as client:
            with pytest.raises(TlsError, match="TLS"):
                await client.list_machines()
    finally:
        await server.aclose()


async def test_what_is_trusted_is_read_at_the_first_tls_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not when the client is made (35 ms on the way to the dashboard's first frame, for
    a server on http:// that never needs it): SSL_CERT_FILE set after still counts."""
    authority, context = make_certificates(tmp_path)
    server = serving(answering([machines(1)]), context)
    base_url = await anext(server)
    client = StateBackedClient(StaticToken("t"), base_url)
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0  # nothing read yet
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    try:
        async with client:
            page = await client.list_machines()
    finally:
        await server.aclose()
    assert [m.slug for m in page.items] == ["m0"]
    assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED and pool._ssl_context.check_hostname


async def test_an_answer_larger_than_the_read_ahead_arrives_whole() -> None:
    body = machines(40, pad=20_000)  # 1.6 MB in UTF-8
    server = serving(answering([body]))
    base_url = await anext(server)
    try:
        async with StateBackedClient(StaticToken("t"), base_url) as client:
            page = await client.list_machines()
    finally:
        await server.aclose()
    assert len(page.items) == 40
    assert page.items[-1].slug == "m39"


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    """A kept-alive connection the server has closed is seen as closed, so the next call
    takes a new one rather than failing on the dead one (a GET would be tried again, a
    write would not)."""
    server = serving(answering([machines(1), machines(2)], close_after_each=True))
    base_url = await anext(server)
    try:
        async with StateBackedClient(StaticToken("t"), base_url) as client:
            await client.list_machines()
            await asyncio.sleep(0.3)  # the server's close arrives
            pool = client._http._transport._pool  # type: ignore[attr-defined]
            assert [c.is_closed() or c.has_expired() for c in pool.connections] == [True]
            page = await client.list_machines()
    finally:
        await server.aclose()
    assert [m.slug for m in page.items] == ["m0", "m1"]


async def test_the_client_runs_on_its_fast_paths(server: ServerThread) -> None:
    """httpcore on asyncio's transports and requests handed straight to the transport:
    set through httpx's internals, which a later httpx may move. The client then still
    works (it falls back), only slower: this test is what notices."""
    async with StateBackedClient(credentials(server), server.base_url) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, AsyncioBackend)
        assert callable(getattr(client._http, "_transport_for_url", None))
        await client.list_machines()
        assert len(pool.connections) == 1


async def test_a_reader_slower_than_the_server_gets_every_byte_in_order() -> None:
    """What arrives while nobody reads is held up to a bound (the transport stops reading
    past it) and read on when taken: 4 MB written at once, read after a pause."""
    sent = bytes(range(256)) * (4 * 4096)

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sent)
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(flood, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
        await asyncio.sleep(0.3)  # the server writes all it can meanwhile
        received = bytearray()
        while chunk := await stream.read(65536, timeout=5):
            received += chunk
        await stream.aclose()
    finally:
        listener.close()
    assert bytes(received) == sent


async def test_a_write_larger_than_the_socket_takes_waits_for_the_reader() -> None:
    """A request body the socket cannot take at once (a large deploy) goes out whole once
    the server reads; to a server that never reads, the write times out."""
    body = b"x" * (16 * 1024 * 1024)
    got: list[int] = []

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        got.append(len(await reader.readexactly(len(body))))
        writer.close()

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    for handler in (slow, deaf):
        listener = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port, timeout=5)
            if handler is slow:
                await stream.write(body, timeout=5)
                assert await stream.read(10, timeout=5) == b""  # the server closes
            else:
                with pytest.raises(httpcore.WriteTimeout):
                    await stream.write(body, timeout=0.5)
            await stream.aclose()
        finally:
            listener.close()
    assert got == [len(body)]
