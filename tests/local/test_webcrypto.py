"""The host side of machine code's crypto.subtle (webcrypto.py), with what machine code may
throw at it: keys that are not keys, sizes that would hold a worker, wrong lengths. Each is
refused as WebCrypto refuses it (a DOMException's name and a message), never a traceback."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from smb_tui.local.engines import webcrypto


def ask(**request: object) -> dict[str, object]:
    answer: dict[str, object] = json.loads(asyncio.run(webcrypto.subtle(json.dumps(request))))
    return answer


@pytest.mark.parametrize(
    ("request_", "name", "says"),
    [
        (
            {"op": "import", "format": "spki", "family": "RSA", "keyData": "AAAA"},
            "DataError",
            "not a valid key",
        ),
        (
            {"op": "import", "format": "jwk", "family": "RSA", "keyData": {"kty": "EC"}},
            "DataError",
            "kty",
        ),
        (
            {
                "op": "import",
                "format": "jwk",
                "family": "EC",
                "keyData": {"kty": "EC", "crv": "P-192"},
            },
            "NotSupportedError",
            "curve",
        ),
        (
            {
                "op": "import",
                "format": "jwk",
                "family": "RSA",
                "keyData": {"kty": "RSA", "n": 5, "e": "AQAB"},
            },
            "DataError",
            "not a string",
        ),
        ({"op": "generate", "family": "RSA", "modulusLength": 16384}, "OperationError", "8192"),
        (
            {"op": "generate", "family": "RSA", "modulusLength": 2048, "publicExponent": "Bw=="},
            "OperationError",
            "65537",
        ),
        (
            {
                "op": "derive",
                "length": 256,
                "algorithm": {"name": "PBKDF2", "hash": "SHA-256", "iterations": 10**9},
                "secret": "cGFzcw==",
            },
            "OperationError",
            "iterations",
        ),
        (
            {
                "op": "derive",
                "length": 12,
                "algorithm": {"name": "HKDF", "hash": "SHA-256"},
                "secret": "aw==",
            },
            "OperationError",
            "whole bytes",
        ),
        (
            {
                "op": "crypt",
                "operation": "decrypt",
                "algorithm": {"name": "AES-CBC", "iv": base64.b64encode(bytes(16)).decode()},
                "secret": base64.b64encode(bytes(16)).decode(),
                "data": base64.b64encode(bytes(16)).decode(),
            },
            "OperationError",
            "not AES-CBC",
        ),
        (
            {
                "op": "crypt",
                "operation": "encrypt",
                "algorithm": {"name": "AES-CBC", "iv": "AAAA"},
                "secret": base64.b64encode(bytes(16)).decode(),
                "data": "",
            },
            "OperationError",
            "16 bytes",
        ),
    ],
)
def test_what_webcrypto_would_refuse_is_refused_with_its_name(
    request_: dict[str, object], name: str, says: str
) -> None:
    answer = ask(**request_)
    assert answer.get("name") == name, answer
    assert says in str(answer["error"])


def test_an_rsa_key_round_trips_through_every_format() -> None:
    pair = ask(op="generate", family="RSA", modulusLength=1024, publicExponent="AQAB")["ok"]
    private = pair["privateKey"]  # type: ignore[index]
    algorithm = {"name": "RSA-PSS", "hash": "SHA-384"}
    jwk = ask(op="export", format="jwk", key=private, algorithm=algorithm)["ok"]
    assert jwk["alg"] == "PS384"  # type: ignore[index]
    again = ask(op="import", format="jwk", family="RSA", keyData=jwk)["ok"]
    assert again == private
    pkcs8 = ask(op="export", format="pkcs8", key=private, algorithm=algorithm)["ok"]
    assert ask(op="import", format="pkcs8", family="RSA", keyData=pkcs8)["ok"] == private
    refused = ask(op="export", format="spki", key=private, algorithm=algorithm)
    assert refused["name"] == "InvalidAccessError"  # a private key has no spki form
