"""The client over TLS, against a real HTTPS server on 127.0.0.1 with a certificate made
here: it checks the server's certificate (loading what it trusts on the first TLS
connection, not when it is made) and trusts what SSL_CERT_FILE names."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from smb_tui.api import StateBackedClient, StaticToken, TlsError
from tests.raw_http import read_request


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smb-tui test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def https_server(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """An HTTPS server answering every request with an empty list of machines: its base
    URL and its certificate's file."""
    cert_file, key_file = certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await read_request(reader)
                body = json.dumps({"machines": []}).encode()
                head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n"
                writer.write(head.encode() + b"content-type: application/json\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}", cert_file
    finally:
        listener.close()


async def test_a_certificate_nobody_vouches_for_is_refused(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, _ = https_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with StateBackedClient(StaticToken("t"), base_url) as client:
        with pytest.raises(TlsError, match="certificate"):
            await client.list_machines()


async def test_what_ssl_cert_file_names_is_trusted_from_the_first_connection(
    https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, cert_file = https_server
    client = StateBackedClient(StaticToken("t"), base_url)
    # Set after the client is made: what it trusts is read when it first connects.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    async with client:
        page = await client.list_machines()
    assert page.items == []


def test_making_a_client_reads_no_certificates() -> None:
    """A client for a server on http:// never needs them (35 ms, before the first frame)."""
    client = StateBackedClient(StaticToken("t"), "https://127.0.0.1:9")
    pool = client._http._transport._pool  # type: ignore[attr-defined]
    assert pool._ssl_context.cert_store_stats()["x509_ca"] == 0
    assert pool._ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert pool._ssl_context.check_hostname
