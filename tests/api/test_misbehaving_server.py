"""The client against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import struct
import time
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from smb_tui import cli
from smb_tui.api import (
    ConfigurationError,
    ConnectionFailed,
    EmptyPages,
    OutcomeUnknown,
    ProtocolError,
    RateLimited,
    RepeatedCursor,
    ServerError,
    StateBackedClient,
    StaticToken,
    TimedOut,
    TlsError,
)
from smb_tui.api.logs import LogsReader
from smb_tui.api.models import Transition, Transitions
from smb_tui.core.history_buffer import HistoryBuffer
from tests.raw_http import read_request

OK_MACHINES = (200, {}, json.dumps({"machines": []}))
TRANSITION = {
    "createdAt": "2026-01-01T00:00:00Z",
    "state": "on",
    "event": {"type": "go"},
}
STATE = {"ts": 1, "state": "on", "publicContext": {}, "tags": [], "done": False}


@dataclass
class Misbehaving:
    """Answers each request with the next scripted action: a response, "hang" or "reset"."""

    script: list[object] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                self.requests.append(await read_request(reader))
                action = self.script.pop(0) if self.script else OK_MACHINES
                if action == "hang":
                    await asyncio.sleep(30)
                    return
                if action == "trickle":  # headers, then a byte every 0.3 s
                    writer.write(b"HTTP/1.1 200 X\r\ncontent-length: 100\r\n\r\n")
                    for _ in range(100):
                        writer.write(b" ")
                        await writer.drain()
                        await asyncio.sleep(0.3)
                    return
                if action == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                status, headers, body = action  # type: ignore[misc]
                payload = body.encode()
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                writer.write(
                    # Latin-1: a header may carry any byte, as a broken server's can.
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(payload)}\r\n{extra}\r\n".encode(
                        "latin-1"
                    )
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def bad() -> AsyncIterator[Misbehaving]:
    server = Misbehaving()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.base_url = f"http://127.0.0.1:{port}"
    yield server
    listener.close()


def client_for(server: Misbehaving) -> StateBackedClient:
    return StateBackedClient(
        StaticToken("test-token"),
        server.base_url,
        timeout=httpx.Timeout(0.5),
        settle_timeout=httpx.Timeout(0.5),
    )


def error(status: int, body: str = '{"error": "boom"}', **headers: str) -> object:
    return (status, headers, body)


async def test_500_is_a_server_error_and_is_not_retried(bad: Misbehaving) -> None:
    bad.script = [error(500)]
    async with client_for(bad) as client:
        with pytest.raises(ServerError, match="boom"):
            await client.list_machines()
    assert len(bad.requests) == 1


async def test_503_then_success_is_retried(bad: Misbehaving) -> None:
    bad.script = [error(503), OK_MACHINES]
    async with client_for(bad) as client:
        page = await client.list_machines()
    assert page.items == [] and len(bad.requests) == 2


async def test_three_503s_give_up_after_three_tries(bad: Misbehaving) -> None:
    bad.script = [error(503), error(502), error(504)]
    async with client_for(bad) as client:
        with pytest.raises(ServerError) as failed:
            await client.list_machines()
    assert failed.value.status == 504 and len(bad.requests) == 3


async def test_429_waits_for_retry_after(bad: Misbehaving) -> None:
    bad.script = [error(429, **{"retry-after": "1"}), OK_MACHINES]
    started = time.monotonic()
    async with client_for(bad) as client:
        await client.list_machines()
    assert time.monotonic() - started >= 1.0
    assert len(bad.requests) == 2


@pytest.mark.parametrize(
    "when", ["soon", "Mon, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 99999 07:28:00 GMT"]
)
async def test_a_retry_after_that_is_not_a_time_is_waited_out_as_usual(
    bad: Misbehaving, when: str
) -> None:
    """A Retry-After no parser reads (a proxy's own words, a 32nd of October) is ignored:
    the client waits as it would without one, and asks again; it raised ValueError."""
    bad.script = [error(503, **{"retry-after": when}), OK_MACHINES]
    async with client_for(bad) as client:
        page = await client.list_machines()
    assert page.items == [] and len(bad.requests) == 2


async def test_429_every_time_is_rate_limited(bad: Misbehaving) -> None:
    bad.script = [error(429, **{"retry-after": "0"})] * 3
    async with client_for(bad) as client:
        with pytest.raises(RateLimited):
            await client.list_machines()


async def test_a_hang_times_out(bad: Misbehaving) -> None:
    bad.script = ["hang"]
    async with client_for(bad) as client:
        with pytest.raises(TimedOut, match="did not answer in time"):
            await client.list_machines()


async def test_a_reset_connection_is_retried_for_reads(bad: Misbehaving) -> None:
    bad.script = ["reset", OK_MACHINES]
    async with client_for(bad) as client:
        await client.list_machines()
    assert len(bad.requests) == 2
    bad.script = ["reset"] * 3
    async with client_for(bad) as client:
        with pytest.raises(ConnectionFailed, match="broke"):
            await client.list_machines()


async def test_a_non_json_body(bad: Misbehaving) -> None:
    bad.script = [(200, {}, "<html>hello</html>")]
    async with client_for(bad) as client:
        with pytest.raises(ProtocolError, match="not JSON"):
            await client.list_machines()
    bad.script = [error(404, "<html>Not here</html>")]
    async with client_for(bad) as client:
        with pytest.raises(Exception, match="Not here") as missing:
            await client.get_instance("m", "i")
    assert getattr(missing.value, "status", None) == 404


async def test_a_body_of_the_wrong_shape(bad: Misbehaving) -> None:
    bad.script = [(200, {}, json.dumps({"machines": "nope"}))]
    async with client_for(bad) as client:
        with pytest.raises(ProtocolError, match="'machines'"):
            await client.list_machines()


@pytest.mark.parametrize(
    "item",
    [
        {"state": "on", "event": {"type": "go"}},  # no time
        {"createdAt": 1767225600000, "state": "on", "event": "go"},  # a time that is a number
        {"createdAt": "2026-01-01T00:00:00Z", "state": ["on"], "event": "go"},
        {"createdAt": "2026-01-01T00:00:00Z", "state": {"on": 1}, "event": "go"},
        {"createdAt": "2026-01-01T00:00:00Z", "state": "on", "event": ["go"]},
        {"createdAt": "2026-01-01T00:00:00Z", "state": "on"},  # no event
        "a transition",
        None,
    ],
)
async def test_a_page_with_one_item_that_is_no_transition_fails_whole(
    bad: Misbehaving, item: object
) -> None:
    """Read from the JSON objects (a model made of each only when asked for), a page is
    still checked whole when it comes: one bad item anywhere fails it, as a fetch."""
    items = [TRANSITION] * 50 + [item] + [TRANSITION] * 49
    bad.script = [(200, {}, json.dumps({"transitions": items, "cursor": "2"}))]
    async with client_for(bad) as client:
        with pytest.raises(ProtocolError, match="not a list of Transition"):
            await client.list_transitions("m", "i")


async def test_a_page_of_transitions_reads_as_pydantic_reads_it(bad: Misbehaving) -> None:
    """The usual items are kept as sent and the others as pydantic reads them (a nested
    state, the field's own name for the time); the models, made when asked for, keep
    what State Backed may add."""
    items = [
        {**TRANSITION, "extra": {"kept": True}},
        {"createdAt": "2026-01-01T00:00:01Z", "state": {"on": {"high": "x"}}, "event": "go"},
        {"created_at": "2026-01-01T00:00:02Z", "state": "off", "event": {"type": "stop"}},
    ]
    bad.script = [(200, {}, json.dumps({"transitions": items}))]
    async with client_for(bad) as client:
        page = await client.list_transitions("m", "i")
    assert isinstance(page.items, Transitions) and page.items._models is None
    assert [r["createdAt"] for r in page.items.records] == [
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:00:01Z",
        "2026-01-01T00:00:02Z",
    ]
    expected = [Transition.model_validate(item) for item in items]
    assert list(page.items) == expected and page.items == expected
    assert page.items[0].model_extra == {"extra": {"kept": True}}
    assert page.items[1].state == {"on": {"high": "x"}} and page.items[-1].created_at.endswith("2Z")
    assert page.items[1:] == expected[1:] and len(page.items) == 3


async def test_a_repeated_cursor_ends_paging_with_an_error(bad: Misbehaving) -> None:
    page = json.dumps({"transitions": [], "cursor": "same"})
    bad.script = [(200, {}, page)] * 5
    async with client_for(bad) as client:
        with pytest.raises(RepeatedCursor):
            async for _ in client.transitions("m", "i"):
                pass
    assert len(bad.requests) == 2


async def test_a_post_that_times_out_is_not_retried(bad: Misbehaving) -> None:
    bad.script = ["hang"]
    async with client_for(bad) as client:
        with pytest.raises(OutcomeUnknown, match="re-read"):
            await client.send_event("m", "i", "go")
    assert len(bad.requests) == 1


async def test_a_post_that_gets_503_is_not_retried(bad: Misbehaving) -> None:
    bad.script = [error(503), OK_MACHINES]
    async with client_for(bad) as client:
        with pytest.raises(ServerError):
            await client.create_instance("m", "i")
    assert len(bad.requests) == 1


async def test_a_post_whose_connection_resets_has_an_unknown_outcome(bad: Misbehaving) -> None:
    bad.script = ["reset"]
    async with client_for(bad) as client:
        with pytest.raises(OutcomeUnknown):
            await client.send_event("m", "i", "go")
    assert len(bad.requests) == 1


def test_send_waits_well_past_the_90_second_settle() -> None:
    client = StateBackedClient(StaticToken("t"))
    assert client.settle_timeout.read is not None and client.settle_timeout.read >= 100


async def test_https_to_a_plain_http_server_is_a_tls_error() -> None:
    async def plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(plain_http, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with StateBackedClient(StaticToken("t"), f"https://127.0.0.1:{port}") as client:
            with pytest.raises(TlsError, match="TLS"):
                await client.list_machines()
    finally:
        listener.close()


def empty_page(n: int, key: str = "machines") -> object:
    return (200, {}, json.dumps({key: [], "cursor": f"next-{n}"}))


async def test_endless_empty_pages_stop_with_a_typed_error(bad: Misbehaving) -> None:
    bad.script = [empty_page(n) for n in range(100)]
    async with client_for(bad) as client:
        with pytest.raises(EmptyPages):
            async for _ in client.pages(client.list_machines):
                pass
    assert len(bad.requests) == 11


async def test_walking_a_list_stops_following_endless_empty_pages(bad: Misbehaving) -> None:
    bad.script = [empty_page(n) for n in range(100)]
    async with client_for(bad) as client:
        with pytest.raises(EmptyPages):
            async for _ in client.machines():
                pass
    assert len(bad.requests) == 11


def page_of(key: str, item: object, cursor: str | None) -> object:
    return (200, {}, json.dumps({key: [item], "cursor": cursor}))


async def test_the_next_page_is_asked_for_while_this_one_is_read(bad: Misbehaving) -> None:
    bad.script = [page_of("transitions", TRANSITION, "2"), page_of("transitions", TRANSITION, None)]
    async with client_for(bad) as client:
        pages = client.transition_pages("m", "i")
        first = await anext(pages)
        await asyncio.sleep(0.05)  # the reader is still on the first page
        assert first.cursor == "2" and len(bad.requests) == 2
        assert "cursor=2" in bad.requests[1]
        assert [page.cursor async for page in pages] == [None]
    assert len(bad.requests) == 2


async def test_a_cursor_read_early_from_an_answer_that_is_not_json_is_dropped(
    bad: Misbehaving,
) -> None:
    """The next page is asked for from the cursor at the end of the bytes; when the whole
    answer then turns out not to be JSON, the page fails and that request is cancelled."""
    broken = '{"transitions": [oops], "cursor": "2"}'
    bad.script = [(200, {}, broken), "hang"]
    async with client_for(bad) as client:
        with pytest.raises(ProtocolError, match="not JSON"):
            async for _ in client.transition_pages("m", "i"):
                pass
        await asyncio.sleep(0)
        assert len(bad.requests) == 2 and "cursor=2" in bad.requests[1]  # asked early
        running = [t for t in asyncio.all_tasks() if "_request" in repr(t.get_coro())]
        assert running == []


async def test_a_cursor_of_any_text_goes_back_as_one_parameter(bad: Misbehaving) -> None:
    """A cursor is the server's text: `&`, `=`, `#`, `+`, spaces, non-ASCII and a long one
    come back to it exactly, never splitting the query or cutting the URL."""
    cursor = "a&b=c#d e/+%20é\u202e" + "x" * 4000
    bad.script = [
        page_of("transitions", TRANSITION, cursor),
        page_of("transitions", TRANSITION, None),
    ]
    async with client_for(bad) as client:
        assert [page.cursor async for page in client.transition_pages("m", "i")] == [cursor, None]
    target = bad.requests[1].split(" ")[1]
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(target).query) == {"cursor": [cursor]}


async def test_a_reader_that_stops_leaves_no_request_running(bad: Misbehaving) -> None:
    bad.script = [page_of("machines", {"slug": "a", "createdAt": "2026-01-01"}, "2"), "hang"]
    async with client_for(bad) as client:
        machines = client.machines()
        assert (await anext(machines)).slug == "a"
        await machines.aclose()  # what `break` in `async for` comes to
        await asyncio.sleep(0)
        running = [
            task
            for task in asyncio.all_tasks()
            if "StateBackedClient" in getattr(task.get_coro(), "__qualname__", "")
            and not task.done()
        ]
        assert running == []


async def test_a_page_asked_for_ahead_that_fails_unread_is_not_reported(
    bad: Misbehaving, caplog: pytest.LogCaptureFixture
) -> None:
    bad.script = [page_of("machines", {"slug": "a", "createdAt": "2026-01-01"}, "2"), error(500)]
    async with client_for(bad) as client:
        machines = client.machines()
        assert (await anext(machines)).slug == "a"
        await asyncio.sleep(0.1)  # the page after it has failed meanwhile
        await machines.aclose()
        del machines
        gc.collect()
    assert "never retrieved" not in caplog.text


async def test_the_history_stops_following_endless_empty_pages(bad: Misbehaving) -> None:
    bad.script = [empty_page(n, "transitions") for n in range(100)]
    async with client_for(bad) as client:
        buffer = HistoryBuffer(lambda cursor: client.list_transitions("m", "i", cursor))
        while (cursor := buffer.next_request()) is not False:
            assert not isinstance(cursor, bool) and buffer.fetch is not None
            buffer.started(cursor)
            buffer.add_page(await buffer.fetch(cursor))
    assert buffer.error is not None and "nothing in it" in buffer.error
    assert len(bad.requests) == 11


async def test_a_token_the_server_echoes_never_reaches_the_error(bad: Misbehaving) -> None:
    bad.script = [error(500, '{"error": "refused Authorization: Bearer test-token"}')]
    bad.script.append(error(502, "<html>Bearer test-token</html>"))
    async with client_for(bad) as client:
        with pytest.raises(ServerError) as first:
            await client.list_machines()
        assert "test-token" not in str(first.value) and "<token>" in str(first.value)
        client.tries = 1
        with pytest.raises(ServerError) as second:
            await client.list_machines()
        assert "test-token" not in str(second.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/#x", "http://127.0.0.1:99999", "ftp://host", "http://h:port"]
)
def test_a_bad_base_url_is_a_configuration_error_without_the_token(url: str) -> None:
    with pytest.raises(ConfigurationError) as failed:
        StateBackedClient(StaticToken("very-secret-token"), url)
    assert "very-secret-token" not in str(failed.value)


async def test_a_body_that_trickles_hits_the_deadline(bad: Misbehaving) -> None:
    bad.script = ["trickle"]
    client = StateBackedClient(
        StaticToken("test-token"), bad.base_url, timeout=httpx.Timeout(0.5), deadline=1.0
    )
    async with client:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await client.list_machines()
        assert time.monotonic() - started < 3


async def test_an_answer_over_the_cap_is_refused(bad: Misbehaving) -> None:
    bad.script = [(200, {}, json.dumps({"machines": [], "pad": "x" * 5000}))]
    bad.script.append((200, {}, json.dumps({"machines": [], "pad": "x" * 500})))
    client = StateBackedClient(StaticToken("test-token"), bad.base_url, max_response_bytes=1000)
    async with client:
        with pytest.raises(ProtocolError, match="over"):
            await client.list_machines()
        assert (await client.list_machines()).items == []


async def test_a_post_that_could_not_connect_is_tried_once_more() -> None:
    """No connection, so the request never left: one more try, on a fresh connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Misbehaving(script=[(200, {}, json.dumps(STATE))])
    server.base_url = f"http://127.0.0.1:{port}"
    listening: list[asyncio.Server] = []

    async def listen_soon() -> None:
        await asyncio.sleep(0.05)  # the client's first try is refused; it waits >= 0.25 s
        listening.append(await asyncio.start_server(server.handle, "127.0.0.1", port))

    opening = asyncio.create_task(listen_soon())
    try:
        async with client_for(server) as client:
            state = await client.send_event("m", "i", "go")
        assert state.state == "on"
        assert len(server.requests) == 1
    finally:
        await opening
        for listener in listening:
            listener.close()


async def test_a_post_that_cannot_connect_twice_is_a_connection_error_not_unknown() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with StateBackedClient(StaticToken("t"), f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ConnectionFailed):
            await client.send_event("m", "i", "go")


def log_page(stamps: list[str], texts: list[str]) -> object:
    entries = [
        {
            "timestamp": stamp,
            "machineName": "m",
            "instanceName": "i",
            "outputType": "stdout",
            "log": text,
        }
        for stamp, text in zip(stamps, texts, strict=True)
    ]
    return (200, {}, json.dumps({"maxTimestamp": stamps[-1], "logs": entries}))


async def test_logs_from_a_server_whose_from_is_inclusive_neither_repeat_nor_skip(
    bad: Misbehaving,
) -> None:
    """State Backed may give the entries at `from` again: the reader leaves them out."""
    first = [f"2026-11-23T10:00:{n // 10:02d}.{n % 10}00Z" for n in range(98)]
    first += ["2026-11-23T10:00:59.000Z"] * 2  # two entries at the page's last time
    texts = [f"line {n}" for n in range(100)]
    bad.script = [
        log_page(first, texts),
        log_page(
            ["2026-11-23T10:00:59.000Z"] * 2 + ["2026-11-23T10:01:00.000Z"],
            ["line 98", "line 99", "line 100"],
        ),
    ]
    async with client_for(bad) as client:
        reader = LogsReader(client, "2026-11-23T00:00:00Z")
        given = await reader.next_page()
        assert not reader.caught_up
        given += await reader.next_page()
        assert reader.caught_up
    assert [entry.log for entry in given] == [f"line {n}" for n in range(101)]
    assert "from=2026-11-23T10%3A00%3A59.000Z" in bad.requests[1]


@pytest.mark.parametrize("value", ["café", "\x9b[2J", "\xff\xfe"])
async def test_a_response_header_that_is_not_ascii_changes_nothing(
    bad: Misbehaving, value: str
) -> None:
    bad.script = [(200, {"x-served-by": value}, json.dumps({"machines": []}))]
    async with client_for(bad) as client:
        assert (await client.list_machines()).items == []


async def test_json_nested_too_deep_is_a_protocol_error(bad: Misbehaving) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    bad.script = [(200, {}, deep), (500, {}, deep)]
    async with client_for(bad) as client:
        with pytest.raises(ProtocolError, match="nested deeper than this client reads"):
            await client.list_machines()
        with pytest.raises(ServerError):
            await client.list_machines()


async def test_the_token_exchange_has_the_cap_and_the_deadline_of_every_call(
    bad: Misbehaving,
) -> None:
    bad.script = [(200, {}, json.dumps({"accessToken": "x" * 5000})), "trickle"]
    client = StateBackedClient(
        StaticToken("test-token"),
        bad.base_url,
        timeout=httpx.Timeout(0.5),
        deadline=1.0,
        max_response_bytes=1000,
    )
    async with client:
        with pytest.raises(ProtocolError, match="over"):
            await client.exchange_token({"grant_type": "x"})
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await client.exchange_token({"grant_type": "x"})
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("cursors", ["repeated", "empty"])
async def test_export_on_an_endless_history_stops_with_a_message(
    bad: Misbehaving, tmp_path: Path, capsys: pytest.CaptureFixture[str], cursors: str
) -> None:
    def page(n: int) -> object:
        cursor = "same" if cursors == "repeated" else f"next-{n}"
        items = [TRANSITION] if cursors == "repeated" else []
        return (200, {}, json.dumps({"transitions": items, "cursor": cursor}))

    bad.script = [page(n) for n in range(100)]
    out = tmp_path / "history.jsonl"
    argv = ["--api-url", bad.base_url, "--token", "t", "--no-cache"]
    argv += ["export", "history", "m", "i", "-o", str(out)]
    code = await asyncio.wait_for(asyncio.to_thread(cli.main, argv), 20)
    assert code == 1
    assert not out.exists()  # nothing half-written is left
    said = capsys.readouterr().err
    assert ("cursor it returned before" if cursors == "repeated" else "nothing in it") in said
    assert f"{out} was left as it was" in said
