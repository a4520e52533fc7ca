"""XState machine modules on V8 through the HTTP API, built from tests/xstate/*.ts with
esbuild as `smply` builds them. Skipped (and counted) when node and npm are missing."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import hmac
import http.server
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from smb_tui.local import delivery
from smb_tui.local.auth import sign_key_token
from smb_tui.local.clock import ManualClock
from smb_tui.local.definitions import JSON
from smb_tui.local.delivery import MAX_HOPS
from smb_tui.local.server import ServerThread
from tests.conftest import client, history, start_server, unique, until
from tests.local.conftest import next_message, subscribe


def send(http: httpx.Client, slug: str, event: object) -> httpx.Response:
    return http.post(f"/machines/door/i/{slug}/events", json={"event": event})


def test_a_module_runs_with_xstates_semantics(xserver: ServerThread) -> None:
    slug = unique("door")
    with client(xserver, sub="owner") as http:
        created = http.post("/machines/door", json={"slug": slug}).json()
        assert created["state"] == "closed"
        assert created["publicContext"] == {"opened": 0}  # `secret` stays private
        assert send(http, slug, "lock").json()["tags"] == ["locked"]
        wrong = send(http, slug, {"type": "unlock", "code": "guess"}).json()
        assert wrong["state"] == "locked"  # the guard said no
        right = send(http, slug, {"type": "unlock", "code": "hinge-code"}).json()
        assert right["state"] == "closed"
        opened = send(http, slug, "open").json()
        assert opened["state"] == "open" and opened["tags"] == ["open"]
        assert opened["publicContext"]["opened"] == 1
        admin = http.get(f"/machines/door/i/{slug}/admin").json()
        assert admin["context"]["secret"] == "hinge-code"
        done = send(http, slug, "close")
        done = send(http, slug, "smash").json()
        assert done["state"] == "broken" and done["done"] is True
        events = [row["event"] for row in history(http, "door", slug)]
        assert events[0] == {"type": "smash"}
        assert {"type": "unlock", "code": "guess"} in events


def test_entry_exit_and_always_run_within_the_event(xserver: ServerThread) -> None:
    slug = unique("door-kicks")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
        kicked = send(http, slug, "kick").json()
        # closed's exit, kicked's entry, then `always` back to closed: one event.
        assert kicked["state"] == "closed"
        assert kicked["publicContext"] == {"opened": 0, "left": 1, "kicks": 1}
        send(http, slug, "kick")
        worn = send(http, slug, "kick").json()
        assert worn["state"] == "broken" and worn["done"] is True  # the guarded `always`
        assert worn["publicContext"]["kicks"] == 3
        events = [row["event"]["type"] for row in history(http, "door", slug)]
    assert events == ["kick", "kick", "kick", "xstate.init"]


async def test_realtime_subscribers_are_asked_of_allow_read(xserver: ServerThread) -> None:
    slug = unique("door-live")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
    url = xserver.base_url.replace("http://", "ws://") + "/rt?token="
    owner = sign_key_token(xserver.key, {"sub": "owner"})
    stranger = sign_key_token(xserver.key, {"sub": "stranger"})
    async with (
        websockets.connect(url + owner) as watching,
        websockets.connect(url + stranger) as refused,
    ):
        await subscribe(watching, "door", slug, "mine")
        assert (await next_message(watching))["state"] == "closed"
        await subscribe(refused, "door", slug, "theirs")
        error = await next_message(refused)
        assert error["type"] == "error" and error["requestId"] == "theirs"
        assert error["code"] == "rejected-by-machine-authorizer"
        async with httpx.AsyncClient(base_url=xserver.base_url) as http_async:
            await http_async.post(
                f"/machines/door/i/{slug}/events",
                headers={"authorization": f"Bearer {owner}"},
                json={"event": "open"},
            )
        update = await next_message(watching)
        assert update["state"] == "open" and update["publicContext"] == {"opened": 1, "left": 1}


def test_a_delayed_transition_is_fired_by_the_server(xserver: ServerThread) -> None:
    slug = unique("door-after")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
        send(http, slug, "open")
        deadline = time.monotonic() + 10
        while http.get(f"/machines/door/i/{slug}").json()["state"] != "closed":
            assert time.monotonic() < deadline, "the delayed transition never fired"
            time.sleep(0.05)
        assert history(http, "door", slug)[0]["event"] == {"type": "xstate.after(300)#door.open"}


def test_console_goes_to_the_logs_and_a_throwing_action_fails_the_event(
    xserver: ServerThread,
) -> None:
    slug = unique("door-logs")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
        send(http, slug, "open")
        send(http, slug, "close")
        before = history(http, "door", slug)
        failed = send(http, slug, "explode")
        assert failed.status_code == 500 and failed.json()["code"] == "machine-error"
        assert "the hinge gave way" in failed.json()["error"]
        assert history(http, "door", slug) == before  # nothing stored
        logs = http.get(
            "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": "door", "instance": slug}
        ).json()["logs"]
    lines = [(entry["outputType"], entry["log"]) for entry in logs]
    assert ("stdout", "opened 1 times") in lines
    assert ("stderr", "a draught") in lines
    assert any(kind == "stderr" and "the hinge gave way" in text for kind, text in lines)


def test_allow_write_and_allow_read_are_asked(xserver: ServerThread) -> None:
    slug = unique("door-auth")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
    for sub in ("intruder", "vandal"):  # one says no, one makes allowWrite throw
        with client(xserver, sub=sub) as http:
            refused = send(http, slug, "open")
            assert refused.status_code == 403
            assert refused.json()["code"] == "rejected-by-machine-authorizer"
            theirs = unique("door-theirs")
            assert http.post("/machines/door", json={"slug": theirs}).status_code == 403
            assert http.get(f"/machines/door/i/{theirs}").status_code == 404  # none made
    with client(xserver, sub="owner") as http:
        assert http.get(f"/machines/door/i/{slug}").json()["state"] == "closed"
        assert history(http, "door", slug)[0]["event"] == {"type": "xstate.init"}
    with client(xserver, sub="stranger") as http:
        assert http.get(f"/machines/door/i/{slug}").status_code == 403


def test_what_an_authorizer_prints_or_raises_reaches_that_instance_s_logs(
    xserver: ServerThread,
) -> None:
    slug, theirs = unique("door-logs"), unique("door-refused")
    with client(xserver, sub="owner") as http:
        http.post("/machines/door", json={"slug": slug})
    with client(xserver, sub="vandal") as http:
        assert send(http, slug, "open").status_code == 403
        assert http.post("/machines/door", json={"slug": theirs}).status_code == 403
    with client(xserver, sub="breaker") as http:
        assert http.get(f"/machines/door/i/{slug}").status_code == 403

    def logs(instance: str) -> list[tuple[str, str]]:
        params = {"from": "2000-01-01T00:00:00Z", "machine": "door", "instance": instance}
        with client(xserver, sub="owner") as http:
            entries = http.get("/logs", params=params).json()["logs"]
        return [(entry["outputType"], entry["log"]) for entry in entries]

    def first_lines(instance: str) -> list[tuple[str, str]]:
        return [(output, text.splitlines()[0]) for output, text in logs(instance)]

    raised = "allowWrite raised, so the request was refused: Error: the authorizer broke"
    lines = first_lines(slug)
    assert lines[:3] == [
        ("stdout", "allowWrite asked by owner"),
        ("stdout", "allowWrite asked by vandal"),
        ("stderr", raised),  # and its stack, below
    ]
    assert "at allowWrite" in logs(slug)[2][1]
    output, read = lines[3]  # V8's trace, where it was first
    assert output == "stderr" and read.startswith("allowRead raised, so the request was refused")
    assert read.endswith("Error: the reader broke") and len(lines) == 4
    # The refused create's, under the instance it would have made (none was made).
    assert first_lines(theirs) == [("stdout", "allowWrite asked by vandal"), ("stderr", raised)]


def test_a_send_to_no_parent_or_no_child_fails_the_event_as_xstate_does(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        before = history(http, "errands", slug)
        for event, to in (("tellParent", "#_parent"), ("tellNobody", "ghost")):
            failed = errand(http, slug, event)
            assert failed.status_code == 500, failed.text
            said = f"Unable to send event to child '{to}' from service 'errands'"
            assert said in failed.json()["error"]
        assert history(http, "errands", slug) == before  # nothing stored, `told` unset
        assert "told" not in http.get(f"/machines/errands/i/{slug}").json()["publicContext"]
        # To itself (`#_internal`), a send is an event of the same run.
        assert errand(http, slug, "tellSelf").json()["publicContext"]["rang"] is False


def test_a_module_that_does_not_load_is_named_and_the_others_load(
    xserver: ServerThread,
) -> None:
    with client(xserver) as http:
        slugs = [m["slug"] for m in http.get("/machines").json()["machines"]]
    assert slugs == [
        "aggregate",
        "courier",
        "crew",
        "door",
        "echo",
        "errands",
        "family",
        "hostile",
        "kid",
        "lamp",
        "rater",
        "subvert",
    ]


def test_a_pending_delayed_event_fires_after_a_restart(modules: Path, tmp_path: Path) -> None:
    with start_server(tmp_path, machines_dir=modules, demo=False) as first:
        with client(first, sub="owner") as http:
            http.post("/machines/door", json={"slug": "restarted"})
            send(http, "restarted", "open")
        key = first.key
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, key=key) as second,
        client(second, sub="owner") as http,
    ):
        deadline = time.monotonic() + 10
        while http.get("/machines/door/i/restarted").json()["state"] != "closed":
            assert time.monotonic() < deadline, "the timer did not survive the restart"
            time.sleep(0.05)


def test_python_and_xstate_machines_run_side_by_side(modules: Path, tmp_path: Path) -> None:
    with start_server(tmp_path, machines_dir=modules) as both, client(both, sub="owner") as http:
        http.post("/machines/door", json={"slug": "side"})
        assert send(http, "side", "open").json()["state"] == "open"
        answer = http.post("/machines/counter/i/small/events", json={"event": "increment"})
        assert answer.status_code == 200 and answer.json()["state"] == "counting"


def errand(http: httpx.Client, slug: str, event: object) -> httpx.Response:
    return http.post(f"/machines/errands/i/{slug}/events", json={"event": event})


def errands(http: httpx.Client) -> str:
    slug = unique("errands")
    assert http.post("/machines/errands", json={"slug": slug}).status_code == 200
    return slug


def test_an_invoked_promise_is_waited_for(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        done = errand(http, slug, {"type": "wait", "ms": 50}).json()
        assert done["state"] == "idle"
        assert done["publicContext"]["result"] == {"waited": 50}
        failed = errand(http, slug, "fail").json()
        assert failed["state"] == "idle" and failed["publicContext"]["error"] == "no luck"
        events = [row["event"] for row in history(http, "errands", slug)]
    failure = {"name": "Error", "message": "no luck"}
    assert events[0] == {"type": "error.platform.flaky", "data": failure}
    assert {"type": "done.invoke.errands.waiting:invocation[0]", "data": {"waited": 50}} in events


def test_set_timeout_fires_and_clear_timeout_stops_it(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        done = errand(http, slug, "time").json()
    assert done["state"] == "idle"
    assert done["publicContext"]["fired"] == ["with arguments"]  # the cleared two never fire


def test_url_gives_international_hosts_as_punycode(xserver: ServerThread) -> None:
    hosts = ["münchen.de", "Ünïcode.ExAmple", "日本語.jp", "пример.рф", "😀.ws", "a-ü-b.com"]
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, {"type": "hosts", "hosts": hosts}).json()["publicContext"]
    assert seen["ascii"] == [host.lower().encode("idna").decode() for host in hosts]


def test_a_callback_service_talks_both_ways_and_stops_on_exit(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        answer = errand(http, slug, "listen")
        assert answer.status_code == 200
        done = answer.json()
        assert done["state"] == "idle"  # the third tick left; the ticker was stopped
        assert done["publicContext"]["ticks"] == 3
        assert done["publicContext"]["ponged"] is True  # a send to it, answered
        assert not answer.headers.get("x-smb-stopped-services")  # nothing was stopped


def test_a_service_still_running_at_the_settle_timeout_is_stopped(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        started = time.monotonic()
        answer = errand(http, slug, "hang")
        assert time.monotonic() - started >= 0.9  # the server's settle time-out is 1 s
        assert answer.status_code == 200 and answer.json()["state"] == "hanging"
        assert answer.headers["x-smb-stopped-services"] == "forever"
        # The stopped service's error comes before the next event, as the contract says.
        after = errand(http, slug, "giveUp").json()
        assert after["state"] == "idle"
        assert "did not settle in time" in after["publicContext"]["error"]
        events = [row["event"]["type"] for row in history(http, "errands", slug)]
    assert events[:3] == ["giveUp", "error.platform.forever", "hang"]


def test_an_unhandled_service_failure_is_logged_as_xstate_does(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        answer = errand(http, slug, "orphan")
        assert answer.status_code == 200 and answer.json()["state"] == "orphaned"
        logs = http.get(
            "/logs",
            params={"from": "2000-01-01T00:00:00Z", "machine": "errands", "instance": slug},
        ).json()["logs"]
    assert any(
        entry["outputType"] == "stderr"
        and "Missing onError handler for invocation 'lost'" in entry["log"]
        and "nobody listens" in entry["log"]
        for entry in logs
    )


def test_machine_code_has_the_web_apis(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "web").json()["publicContext"]
        digested = errand(http, slug, "digest").json()["publicContext"]
    assert len(seen["uuid"]) == 36 and seen["uuid"][14] == "4"
    assert seen["random"] == 8
    assert seen["url"] == "https://example.com/b?x=1%202#h"
    assert seen["host"] == "localhost:8080"
    assert seen["idn"] == "xn--bcher-kva.example"
    assert seen["query"] == "x y"
    assert seen["params"] == "a=1&b=x+y%26"
    assert seen["text"] == "héllo ✓ 😀"
    assert seen["bytes"] == 3
    assert (seen["b64"], seen["unb64"]) == ("aGkh", "hi!")
    assert digested["digest"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_machine_code_has_hmac_intervals_clones_and_abort_signals(xserver: ServerThread) -> None:
    """What XState's own examples and State Backed's docs use beyond the basics:
    setInterval (the stopwatch), crypto.subtle HMAC keys, structuredClone,
    performance.now and AbortController. HMACs are checked against Python's hmac."""
    message = b"The quick brown fox jumps over the lazy dog"
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "moreWeb").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    more = seen["more"]
    assert more["hmac"] == hmac.new(b"key", message, hashlib.sha256).hexdigest()
    assert more["hmac512"] == hmac.new(bytes([7]) * 200, message, hashlib.sha512).hexdigest()
    assert more["verified"] is True and more["forged"] is False
    assert more["refused"] == "InvalidAccessError"  # a key made only to sign cannot verify
    assert more["exported"] == 400  # 200 bytes, in hex
    assert more["cloned"] is True and more["cloneError"] == "DataCloneError"
    assert more["aborted"] is True and more["heard"] == "enough"
    assert more["ticks"] == 3 and more["performance"] is True


def test_machine_code_has_blobs_form_data_requests_and_responses(xserver: ServerThread) -> None:
    """Bodies as State Backed's runtime docs name them (Blob, FormData) and as fetch code
    builds them (Request, Response, File), whole in memory."""
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "bodies").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    assert seen["bodies"] == {
        "size": 8,  # UTF-8: é is two bytes
        "type": "text/plain",
        "text": "héllo !",
        "slice": "é",
        "file": "a.txt",
        "all": ["1", "2"],
        "b": "3",
        "upload": "rows.csv",
        "multipartType": "multipart/form-data",
        "multipart": True,
        "jsonType": "application/json",
        "jsonStatus": 201,
        "json": {"ok": True},
        "again": "TypeError",  # a body is read once
        "requestMethod": "POST",
        "requestType": "application/x-www-form-urlencoded;charset=UTF-8",
        "requestBody": "q=x+y",
        "requestHeader": "1",
        "getBody": "TypeError",  # a GET has no body
    }


def test_machine_code_reads_forms_and_fills_its_own_buffers(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "forms").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    assert seen["forms"] == {
        # A multipart body read back: names with quotes and line breaks, a binary file
        # whose bytes look like a boundary's start.
        "names": ['Zoë "quoted"\r\nline', "second"],
        "upload": ["raw.bin", "application/x-thing", [0, 255, 13, 10, 45, 45]],
        "encoded": [["a", "1 2"], ["b", "é"]],
        "notForm": "TypeError",  # a text/plain body is no form
        "reads": [[1, 2, 3], [4, 5, 6], [7]],  # a BYOB reader, three bytes at a time
    }


def test_machine_code_compresses_with_streams(xserver: ServerThread) -> None:
    """CompressionStream and DecompressionStream (State Backed's runtime docs name them),
    through Blob.stream(), pipeThrough and Response, checked against Python's gzip."""
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "squeeze").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    squeezed = seen["squeezed"]
    assert gzip.decompress(base64.b64decode(squeezed.pop("gzip"))) == b"squeeze me " * 200
    assert squeezed == {
        "smaller": True,
        "roundTrip": True,
        "corrupt": "TypeError",  # not deflate data: the read fails, nothing hangs
        "badFormat": "TypeError",
        "joined": "ab",  # a stream read with for await
        "shouted": "HI",  # through a TransformStream
        "heard": 1,  # an EventTarget's `once` listener
        "detail": {"n": 7},  # a CustomEvent's
        "decoded": "héllo",  # TextDecoderStream
        "reencoded": "wörld",  # and TextEncoderStream
    }
    # A bomb (11 MB of zeros, 11 kB gzipped) stops at the 10 MB cap, with a reason.
    bomb = base64.b64encode(gzip.compress(bytes(11 * 2**20))).decode()
    with client(xserver, sub="owner") as http:
        refused = errand(http, slug, {"type": "inflate", "gzip": bomb}).json()["publicContext"]
        assert "inflates past 10 MB" in refused["failed"]
        small = base64.b64encode(gzip.compress(b"x" * 1000)).decode()
        assert (
            errand(http, slug, {"type": "inflate", "gzip": small}).json()["publicContext"][
                "inflated"
            ]
            == 1000
        )


def test_machine_code_seals_with_aes_gcm(xserver: ServerThread) -> None:
    """crypto.subtle AES-GCM (importKey, generateKey, encrypt, decrypt), checked against
    the cryptography package's."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "seal").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    expected = AESGCM(bytes([9]) * 32).encrypt(bytes([1]) * 12, b"secret message", b"aad")
    assert seen["sealed"] == {
        "sealed": expected.hex(),
        "opened": "secret message",
        "tampered": "OperationError",  # not authentic: refused
        "exported": 16,  # a generated 128-bit key
        "wrongUsage": "InvalidAccessError",  # made to encrypt only
    }


def test_machine_code_signs_derives_and_encrypts_with_rsa_ec_and_aes(
    xserver: ServerThread,
) -> None:
    """crypto.subtle's RSA, ECDSA, ECDH, AES-CBC/CTR, PBKDF2 and HKDF, and the jwk, spki,
    pkcs8 and raw key formats, checked against hashlib and the cryptography package."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    with client(xserver, sub="owner") as http:
        slug = errands(http)
        seen = errand(http, slug, "keys").json()["publicContext"]
    assert "failed" not in seen, seen.get("failed")
    keys = seen["keys"]
    message = b"hello, keys"
    public = serialization.load_der_public_key(bytes.fromhex(keys["spki"]))
    public.verify(  # type: ignore[union-attr]
        bytes.fromhex(keys["rsaSignature"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    assert keys["publicJwk"]["alg"] == "RS256" and keys["publicJwk"]["key_ops"] == ["verify"]
    assert (keys["rsaVerified"], keys["rsaTampered"], keys["pssVerified"]) == (True, False, True)
    assert keys["oaepOpened"] == "hello, keys"
    assert (keys["ecVerified"], keys["ecSignatureBytes"]) == (True, 64)  # r || s, as WebCrypto
    assert keys["ecRaw"].startswith("04") and len(keys["ecRaw"]) == 130  # an uncompressed point
    assert set(keys["ecPrivateJwk"]) == {"key_ops", "ext", "kty", "crv", "x", "y", "d"}
    cbc = Cipher(algorithms.AES(bytes(range(16))), modes.CBC(bytes([7]) * 16)).encryptor()
    padded = message + bytes([16 - len(message)]) * (16 - len(message))
    assert keys["cbc"] == (cbc.update(padded) + cbc.finalize()).hex()
    assert keys["cbcOpened"] == keys["ctrOpened"] == "hello, keys"
    ctr = Cipher(algorithms.AES(bytes(range(16))), modes.CTR(bytes([1]) * 16)).encryptor()
    assert keys["ctr"] == (ctr.update(message) + ctr.finalize()).hex()
    stretched = hashlib.pbkdf2_hmac("sha256", b"correct horse", b"salt", 1000, 32)
    assert keys["pbkdf2"] == stretched.hex()
    assert keys["derivedKey"] == stretched[:16].hex()
    hkdf = HKDF(hashes.SHA256(), 16, b"s", b"i").derive(b"input key")
    assert keys["hkdf"] == hkdf.hex()
    assert len(keys["shared"]) == 64
    assert keys["generated"] == [
        "public", "private", True, False, ["verify"], ["sign"], "P-384",
    ]  # fmt: skip
    assert keys["generatedVerified"] is True
    assert keys["rsaGenerated"] == ["RSA-OAEP", "AQAB", 1024]
    assert keys["wrongUsage"] == "SyntaxError"  # a public key cannot sign


def test_fetch_is_off_unless_allowed(xserver: ServerThread, modules: Path, tmp_path: Path) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        url = f"{xserver.base_url}/openapi.json"
        refused = errand(http, slug, {"type": "fetchIt", "url": url}).json()
        assert "--allow-fetch" in refused["publicContext"]["error"]
        logs = http.get(
            "/logs",
            params={"from": "2000-01-01T00:00:00Z", "machine": "errands", "instance": slug},
        ).json()["logs"]
        assert any("--allow-fetch" in entry["log"] for entry in logs)
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, allow_fetch=True) as online,
        client(online, sub="owner") as http,
    ):
        slug = errands(http)
        url = f"{online.base_url}/openapi.json"
        fetched = errand(http, slug, {"type": "fetchIt", "url": url}).json()
        assert fetched["publicContext"]["fetched"] == {"status": 200, "kind": "openapi"}
        with echo_server() as echo:
            sent = {"type": "fetchIt", "url": echo, "bytes": [0, 255, 128, 10, 195]}
            posted = errand(http, slug, sent).json()["publicContext"]["fetched"]
    assert posted == {"status": 200, "kind": "00ff800ac3"}  # every byte, none re-encoded


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    """A server on 127.0.0.1 that answers a POST with its body's bytes, in hex."""

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.hex().encode())

        def log_message(self, *args: object) -> None:
            pass

    listening = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listening.server_address[1]}/echo"
    finally:
        listening.shutdown()


def test_a_delayed_send_keeps_its_event_payload(modules: Path, tmp_path: Path) -> None:
    clock = ManualClock(1_780_000_000.0)  # the delay passes when the test says so
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, clock=clock) as server,
        client(server, sub="owner") as http,
    ):
        db = sqlite3.connect(server.server.options.db)

        def rings() -> int:
            return sum(r["event"]["type"] == "ring" for r in history(http, "errands", slug))

        def timers() -> int:
            return int(db.execute("SELECT count(*) FROM timers").fetchone()[0])

        slug = errands(http)
        errand(http, slug, "later")
        assert timers() == 1
        start = clock.now
        clock.advance(0.1)
        assert rings() == 0  # not due yet
        clock.set(start + 0.2)  # due: the sent moment plus 200 ms, to the last bit
        until(lambda: rings() == 1, "the delayed send")
        assert history(http, "errands", slug)[0]["event"] == {"type": "ring", "loud": True}
        # Handled without leaving the state, the delayed event is spent all the same: it
        # fires once, and the next one fires too.
        until(lambda: timers() == 0, "the timer, spent")
        errand(http, slug, "later")
        clock.advance(0.2)
        until(lambda: rings() == 2, "the second delayed send")
        until(lambda: timers() == 0, "the second timer, spent")
        clock.advance(3600)
        assert rings() == 2
        db.close()


@pytest.mark.parametrize(
    ("event", "code", "said"),
    [
        ("spin", "machine-cpu-limit", "1 s CPU limit"),
        ("spinLater", "machine-cpu-limit", "1 s CPU limit"),
        ("hog", "machine-memory-limit", "128 MB memory limit"),
    ],
)
def test_machine_code_past_its_limits_is_refused_and_nothing_is_stored(
    xserver: ServerThread, event: str, code: str, said: str
) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        before = history(http, "errands", slug)
        refused = errand(http, slug, event)
        assert refused.status_code == 500
        assert refused.json()["code"] == code and said in refused.json()["error"]
        assert history(http, "errands", slug) == before
        assert http.get(f"/machines/errands/i/{slug}").json()["state"] == "idle"
        # The worker still runs machines afterwards.
        assert errand(http, slug, {"type": "wait", "ms": 1}).json()["state"] == "idle"


def test_machine_code_running_away_holds_up_no_other_request(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        slug = errands(http)
        with ThreadPoolExecutor(1) as pool:
            spinning = pool.submit(errand, http, slug, "spin")  # 1 s before it is cut
            time.sleep(0.1)
            # The isolate runs on V8's thread: the server's loop answers meanwhile.
            assert http.get("/machines").status_code == 200
            assert http.get(f"/machines/errands/i/{slug}/admin").json()["state"] == "idle"
            assert not spinning.done()
            assert spinning.result().json()["code"] == "machine-cpu-limit"


def test_a_migration_module_upgrades_an_instance(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        versions = http.get("/machines/lamp/v").json()["versions"]
        ids = {version["clientInfo"]: version["id"] for version in versions}
        old, new = ids["v1"], ids["v2"]
        slug = unique("lamp")
        http.post("/machines/lamp", json={"slug": slug, "machineVersionId": old})
        assert (
            http.post(f"/machines/lamp/i/{slug}/events", json={"event": "flip"}).json()["state"]
            == "on"
        )
        assert http.put(
            f"/machines/lamp/i/{slug}/v", json={"targetMachineVersionId": new}
        ).status_code in (200, 201)
        after = http.post(f"/machines/lamp/i/{slug}/events", json={"event": "dim"}).json()
        assert after["state"] == {"lit": "dimmed"}
        assert after["publicContext"] == {"switched": 1, "migrated": True}
        events = [row["event"]["type"] for row in history(http, "lamp", slug)]
        # machine.json's index selector, a JSON pointer into the context
        found = http.get(
            "/machines/lamp/indexes/switched/query", params={"op": "eq", "value": "1"}
        ).json()["instances"]
    assert events[:2] == ["dim", "statebacked.upgrade"]
    assert slug in [entry["slug"] for entry in found]


def test_a_migration_leads_back_to_an_older_version(xserver: ServerThread) -> None:
    """machine.json's migrations are edges between any two versions (v2 -> v1 here), as
    State Backed traverses all of a machine's migrations."""
    with client(xserver, sub="owner") as http:
        versions = http.get("/machines/lamp/v").json()["versions"]
        ids = {version["clientInfo"]: version["id"] for version in versions}
        slug = unique("lamp-back")
        http.post("/machines/lamp", json={"slug": slug, "machineVersionId": ids["v2"]})
        http.post(f"/machines/lamp/i/{slug}/events", json={"event": "flip"})  # lit, 1
        moved = http.put(f"/machines/lamp/i/{slug}/v", json={"targetMachineVersionId": ids["v1"]})
        assert moved.status_code in (200, 201), moved.text
        back = http.post(f"/machines/lamp/i/{slug}/events", json={"event": "flip"}).json()
        assert back["state"] == "off"  # on (from lit), then flipped
        assert back["publicContext"] == {"flips": 2}
        admin = http.get(f"/machines/lamp/i/{slug}/admin").json()
        assert admin["machineVersion"]["id"] == ids["v1"]


def test_events_between_instances_reach_an_instance_made_if_missing(
    xserver: ServerThread,
) -> None:
    """State Backed's headless rating component: each rater sends its rating to the
    item's aggregate (another machine's instance, made by the first rating), as itself:
    the aggregate's allowWrite sees `stateBackedSender` and takes only raters."""
    item = unique("item")
    with client(xserver, sub="owner") as http:
        for rating in (4, 2):
            rater = unique("rater")
            made = http.post("/machines/rater", json={"slug": rater, "context": {"item": item}})
            assert made.status_code == 200, made.text
            sent = http.post(
                f"/machines/rater/i/{rater}/events",
                json={"event": {"type": "rate", "rating": rating}},
            )
            assert sent.status_code == 200, sent.text

        def aggregate() -> dict[str, object]:
            answer = http.get(f"/machines/aggregate/i/{item}/admin")
            return answer.json()["context"] if answer.status_code == 200 else {}

        until(lambda: aggregate().get("count") == 2, "both ratings in the aggregate")
        assert aggregate() == {"totalRating": 6, "count": 2}
        events = [row["event"] for row in history(http, "aggregate", item)]
        assert events[:2] == [
            {"type": "addToRating", "rating": 2, "count": 1},
            {"type": "addToRating", "rating": 4, "count": 1},
        ]
    # No client may pass for another instance: the claim is the server's to set.
    forged = {"sub": "mallory", "stateBackedSender": {"machineName": "rater"}}
    token = sign_key_token(xserver.key, forged)
    refused = httpx.post(
        f"{xserver.base_url}/machines/aggregate/i/{item}/events",
        json={"event": {"type": "addToRating", "rating": 100, "count": 1}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert refused.status_code == 403


def test_an_event_that_cannot_be_delivered_is_said_in_the_sender_s_logs(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        rater = unique("rater")
        http.post("/machines/rater", json={"slug": rater, "context": {"item": "x"}})
        assert http.post(
            f"/machines/rater/i/{rater}/events", json={"event": "rateNowhere"}
        ).is_success

        def said() -> list[str]:
            params = {"from": "2000-01-01T00:00:00Z", "machine": "rater", "instance": rater}
            return [entry["log"] for entry in http.get("/logs", params=params).json()["logs"]]

        until(lambda: any("not delivered" in line for line in said()), "the sender's log")
        [line] = [line for line in said() if "not delivered" in line]
        assert "'addToRating' to nowhere/x" in line


def test_ephemeral_actors_run_within_their_event_and_are_gone_after(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        slug = unique("crew")
        http.post("/machines/crew", json={"slug": slug})
        # A spawned machine takes two jobs, answers with sendParent and ends, in one event.
        assert http.post(f"/machines/crew/i/{slug}/events", json={"event": "hire"}).is_success
        context = http.get(f"/machines/crew/i/{slug}/admin").json()["context"]
        assert context["done"] == [2, 4]
        assert context["result"] == {"jobs": 2}
        assert context["worker"] == {"id": "w1"}  # a ref, stored as XState writes one
        before = history(http, "crew", slug)
        # The next event's send to that ref fails, saying why; nothing is stored.
        poked = http.post(f"/machines/crew/i/{slug}/events", json={"event": "poke"})
        assert poked.status_code == 500
        assert "spawned by an earlier event" in poked.json()["error"]
        assert history(http, "crew", slug) == before


def test_a_loop_of_events_between_instances_is_cut_and_said(xserver: ServerThread) -> None:
    with client(xserver, sub="owner") as http:
        a, b = unique("echo"), unique("echo")
        http.post("/machines/echo", json={"slug": a, "context": {"peer": b}})
        http.post("/machines/echo", json={"slug": b, "context": {"peer": a}})
        assert http.post(f"/machines/echo/i/{a}/events", json={"event": "ping"}).is_success

        def said(slug: str) -> list[str]:
            params = {"from": "2000-01-01T00:00:00Z", "machine": "echo", "instance": slug}
            return [entry["log"] for entry in http.get("/logs", params=params).json()["logs"]]

        def pings(slug: str) -> int:
            context = http.get(f"/machines/echo/i/{slug}/admin").json()["context"]
            return int(context["pings"])

        until(lambda: any("a loop?" in line for line in said(a) + said(b)), "the cut")
        # The client's ping, then MAX_HOPS deliveries: the one after is not delivered.
        assert pings(a) + pings(b) == 1 + MAX_HOPS
        [line] = [line for line in said(a) + said(b) if "a loop?" in line]
        assert f"would be event {MAX_HOPS + 1} of a chain" in line
        # Each instance still takes a client's events.
        assert http.post(f"/machines/echo/i/{b}/events", json={"event": "ping"}).is_success


def test_a_spawned_persistent_child_and_its_parent_talk_both_ways(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        parent = unique("family")
        http.post("/machines/family", json={"slug": parent})
        assert http.post(f"/machines/family/i/{parent}/events", json={"event": "run"}).is_success

        def admin(machine: str, slug: str) -> dict[str, Any]:
            answer = http.get(f"/machines/{machine}/i/{slug}/admin")
            return answer.json() if answer.status_code == 200 else {}

        until(lambda: admin("family", parent)["context"]["heard"] == 1, "the child's hi")
        kid = admin("family", parent)["context"]["kid"]
        assert kid["type"] == "statebacked.instance" and kid["id"] == "kid"
        slug = kid["machineInstanceName"]
        until(
            lambda: admin("kid", slug).get("context", {}).get("public", {}).get("greeted") == 1,
            "the parent's hi",
        )
        assert admin("kid", slug)["context"]["public"]["nickname"] == "sprout"  # spawned so
        # By the local id it was spawned under, as sendTo("kid", ...) names it.
        assert http.post(f"/machines/family/i/{parent}/events", json={"event": "again"}).is_success
        until(lambda: admin("kid", slug)["context"]["public"]["greeted"] == 2, "the second hi")
        kid_events = [row["event"]["type"] for row in history(http, "kid", slug)]
        assert kid_events == ["hiFromParent", "hiFromParent", "xstate.init"]


def test_events_between_instances_left_undelivered_are_delivered_after_a_restart(
    modules: Path, tmp_path: Path
) -> None:
    """The outbox is the store's: what a stopped server had yet to deliver (here written
    into it while the server is down) is delivered when it starts again."""
    from smb_tui.local.store import Store

    item = unique("item")
    with start_server(tmp_path, machines_dir=modules, demo=False) as first:
        key = first.key
    store = Store(tmp_path / "local.db")
    with store.transaction() as db:
        sender = {"machineName": "rater", "machineInstanceName": "r-left"}
        message = {"type": "addToRating", "rating": 3, "count": 1}
        body = {"machine": "aggregate", "instance": item, "event": message}
        store.add_outbox(db, sender, [("send", body)])
    store.close()
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, key=key) as again,
        client(again, sub="owner") as http,
    ):

        def delivered() -> object:
            answer = http.get(f"/machines/aggregate/i/{item}/admin")
            return answer.json()["context"] if answer.status_code == 200 else None

        # Delivery makes the missing instance (seen at once, its context still empty),
        # then sends it the event: wait for the event, not for the instance.
        until(
            lambda: delivered() == {"totalRating": 3, "count": 1}, "the delivery after the restart"
        )
        assert delivered() == {"totalRating": 3, "count": 1}
    left = Store(tmp_path / "local.db")
    assert left.outbox_after(0) == []  # delivered, and gone from the outbox
    left.close()


def test_a_delayed_send_to_a_persistent_child_fires_from_the_parent(
    modules: Path, tmp_path: Path
) -> None:
    """State Backed's docs' example sends to its spawned child with `delay: 200`: a timer
    of the parent's, fired by the server's clock (the test's), delivered as the parent."""
    clock = ManualClock(1_780_000_000.0)
    with (
        start_server(tmp_path, machines_dir=modules, demo=False, clock=clock) as server,
        client(server, sub="owner") as http,
    ):
        http.post("/machines/family", json={"slug": "fam"})
        http.post("/machines/family/i/fam/events", json={"event": "run"})

        def greeted() -> object:
            kid = http.get("/machines/family/i/fam/admin").json()["context"]["kid"]
            answer = http.get(f"/machines/kid/i/{kid['machineInstanceName']}/admin")
            return answer.json()["context"]["public"]["greeted"] if answer.is_success else None

        until(lambda: greeted() == 1, "the first hi")
        assert http.post("/machines/family/i/fam/events", json={"event": "later"}).is_success
        assert greeted() == 1  # not yet: its time has not come
        clock.advance(0.2)
        until(lambda: greeted() == 2, "the delayed hi")


def test_a_persistent_instance_invoked_is_made_and_reached_by_the_invocation_s_id(
    xserver: ServerThread,
) -> None:
    with client(xserver, sub="owner") as http:
        host = unique("family")
        http.post("/machines/family", json={"slug": host})
        assert http.post(f"/machines/family/i/{host}/events", json={"event": "invite"}).is_success

        def guest() -> dict[str, Any]:
            answer = http.get("/machines/kid/i/invited-guest/admin")
            return answer.json()["context"]["public"] if answer.is_success else {}

        until(lambda: guest().get("greeted") == 1, "the host's hi, by the invocation's id")
        assert guest()["nickname"] == "guest"  # the invocation's data, as its context
        host_context = lambda: http.get(f"/machines/family/i/{host}/admin").json()["context"]  # noqa: E731
        until(lambda: host_context()["heard"] == 1, "the guest's sendParent")
        assert http.post(f"/machines/family/i/{host}/events", json={"event": "again"}).is_success
        until(lambda: guest().get("greeted") == 2, "a later send, in a later run")


def couriers(http: httpx.Client, count: int) -> list[str]:
    """`count` new courier instances: the sender first, then its receivers."""
    slugs = [unique("courier") for _ in range(count)]
    for slug in slugs:
        http.post("/machines/courier", json={"slug": slug}).raise_for_status()
    return slugs


def dispatch(
    http: httpx.Client, sender: str, first: tuple[str, JSON], second: tuple[str, JSON]
) -> None:
    """`sender` sends the first (receiver, event), then the second, in one run."""
    event = {
        "type": "dispatch",
        "first": {"instance": first[0], "event": first[1]},
        "second": {"instance": second[0], "event": second[1]},
    }
    sent = http.post(f"/machines/courier/i/{sender}/events", json={"event": event})
    assert sent.is_success


def received(http: httpx.Client, slug: str) -> list[str]:
    """The types of a courier's events, newest first."""
    return [t["event"]["type"] for t in history(http, "courier", slug)]


def test_an_event_to_a_slow_instance_holds_up_no_event_to_another(xserver: ServerThread) -> None:
    """Events between instances were delivered one at a time, oldest first: one whose
    receiver ran a service a while held up every other instance's. Now each receiver's
    come in order, and receivers are served side by side."""
    with client(xserver, sub="owner") as http:
        sender, slow, quick = couriers(http, 3)
        dispatch(http, sender, (slow, {"type": "nap", "ms": 800}), (quick, {"type": "mark"}))

        def marked() -> bool:
            answer = http.get(f"/machines/courier/i/{quick}").json()
            return bool(answer["publicContext"] == {"marked": True})

        until(marked, "the quick one's event")
        # The slow one's event still runs (stored as it settles).
        assert received(http, slow) == ["xstate.init"]
        until(lambda: len(received(http, slow)) > 1, "the slow one's event")
        assert received(http, slow) == [
            "done.invoke.courier.napping:invocation[0]",
            "nap",
            "xstate.init",
        ]


def test_events_to_one_instance_arrive_in_the_order_they_were_sent(xserver: ServerThread) -> None:
    """Receivers are served side by side, each one's events one after another: the mark
    sent second waits for the nap sent first to settle."""
    with client(xserver, sub="owner") as http:
        sender, receiver = couriers(http, 2)
        dispatch(http, sender, (receiver, {"type": "nap", "ms": 300}), (receiver, {"type": "mark"}))
        until(lambda: "mark" in received(http, receiver), "both events")
        assert received(http, receiver) == [
            "mark",
            "done.invoke.courier.napping:invocation[0]",
            "nap",
            "xstate.init",
        ]


def test_receivers_past_the_most_served_at_once_wait_their_turn(
    xserver: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "MAX_RECEIVERS", 1)
    with client(xserver, sub="owner") as http:
        sender, first, second = couriers(http, 3)
        dispatch(http, sender, (first, {"type": "nap", "ms": 100}), (second, {"type": "mark"}))
        until(
            lambda: "mark" in received(http, second) and "nap" in received(http, first),
            "both receivers",
        )
