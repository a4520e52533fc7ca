"""The client against the local server over real HTTP: every method, paging, errors, auth."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smb_tui.api import (
    AnonymousSession,
    ConnectionFailed,
    Forbidden,
    InvalidParameter,
    InvalidSlug,
    InvalidState,
    KeyCredentials,
    MachineFailed,
    MissingScope,
    MissingUser,
    NoMigrationPath,
    NotFound,
    RejectedByAuthorizer,
    State,
    StateBackedClient,
    StaticToken,
)
from smb_tui.api import client as client_module
from smb_tui.local.server import ServerThread
from tests.conftest import SHORT_HISTORY, unique
from tests.http_log import logged_requests, requests_at_each_parse


def credentials(server: ServerThread, sub: str = "demo-user") -> KeyCredentials:
    return KeyCredentials(server.key.key_id, server.key.secret, {"sub": sub})


@pytest.fixture
async def api(server: ServerThread) -> AsyncIterator[StateBackedClient]:
    async with StateBackedClient(credentials(server), server.base_url) as client:
        yield client


async def test_machines_versions_and_instances(api: StateBackedClient) -> None:
    machines = [m async for m in api.machines()]
    assert "checkout" in [m.slug for m in machines]
    order = next(m for m in machines if m.slug == "order")
    assert order.current_version is not None and order.current_version.client_info == "v2"
    machine = await api.get_machine("counter")
    assert machine.indexes == ["count"]
    versions = [v async for v in api.versions("order")]
    assert [v.client_info for v in versions] == ["v2", "v1"]
    instances = [i async for i in api.instances("traffic-light")]
    assert {i.slug: i.status for i in instances}["side-street"] == "paused"


async def test_create_read_send_and_admin(api: StateBackedClient) -> None:
    slug = unique("api-cart")
    created = await api.create_instance("checkout", slug, {"public": {"items": [], "total": 0}})
    assert isinstance(created, State) and created.state == {"shopping": "browsing"}
    sent = await api.send_event("checkout", slug, {"type": "add_item", "item": "pen", "price": 2})
    assert sent.public_context == {"items": ["pen"], "total": 2}
    moved = await api.send_event("checkout", slug, "start_checkout")
    assert moved.state == {
        "shopping": {"checkout": {"payment": "unpaid", "shipping": "no_address"}}
    }
    assert moved.tags == ["in-checkout"]
    read = await api.get_instance("checkout", slug)
    assert read.state == moved.state
    admin = await api.get_instance_admin("checkout", slug)
    assert admin.status == "running" and admin.machine_version is not None


async def test_status_desired_version_and_delete(api: StateBackedClient) -> None:
    slug = unique("api-order")
    v2, v1 = [v.id async for v in api.versions("order")]
    await api.create_instance("order", slug, machine_version_id=v1)
    await api.set_instance_status("order", slug, "paused")
    with pytest.raises(InvalidState) as paused:
        await api.send_event("order", slug, "pay")
    assert paused.value.status == 409 and "paused" in (paused.value.server_message or "")
    said = str(paused.value)
    assert said.startswith("the instance is paused") and "exists already" not in said
    with pytest.raises(InvalidState) as taken:
        await api.create_instance("order", slug)
    assert str(taken.value).startswith("an instance of that name exists already")
    await api.set_instance_status("order", slug, "running")
    await api.set_desired_version("order", slug, v2)
    admin = await api.get_instance_admin("order", slug)
    assert admin.desired_machine_version is not None and admin.desired_machine_version.id == v2
    await api.send_event("order", slug, {"type": "pay", "at": "now"})
    assert (await api.get_instance_admin("order", slug)).machine_version.id == v2  # type: ignore[union-attr]
    with pytest.raises(NoMigrationPath):
        await api.set_desired_version("order", slug, v1)
    await api.delete_instance("order", slug)
    with pytest.raises(NotFound):
        await api.get_instance("order", slug)


async def test_index_query_and_logs(api: StateBackedClient) -> None:
    page = await api.query_index("counter", "count", 10**6, op="lt", direction="desc")
    assert [e.slug for e in page.items][:1] == ["busy"]
    slug = unique("api-logs")
    await api.create_instance("scratch", slug)
    await api.send_event("scratch", slug, {"type": "put", "key": "who", "value": 1})
    logs = await api.get_logs("2000-01-01T00:00:00Z", instance=slug)
    assert [entry.log for entry in logs.logs] == ["stored who"]
    assert logs.max_timestamp == logs.logs[-1].timestamp


async def test_pages_the_long_history_item_by_item(api: StateBackedClient) -> None:
    events = [t.event async for t in api.transitions("counter", "busy")]
    assert len(events) == SHORT_HISTORY
    expected = [{"type": "xstate.init"}] + [
        {"type": "increment", "by": 1 + n % 3} if n % 5 else {"type": "decrement"}
        for n in range(SHORT_HISTORY - 1)
    ]
    assert list(reversed(events)) == expected
    cursors = [page.cursor async for page in api.transition_pages("counter", "busy")]
    assert cursors[-1] is None and len(set(cursors)) == len(cursors) == -(-SHORT_HISTORY // 100)


async def test_the_next_page_is_asked_for_once_the_bytes_are_in(
    api: StateBackedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the page before it is parsed (from the cursor at the end of its bytes), so
    that the server works on it while this client reads that page."""
    with logged_requests() as log:
        asked_when_parsed = requests_at_each_parse(log, "/events", monkeypatch)
        pages = [page async for page in api.transition_pages("counter", "busy")]
    count = len(pages)
    assert count == -(-SHORT_HISTORY // 100) and log.count("GET", "/events") == count
    # The first page surely comes while the walk waits for it; a later one may come
    # while the page before is still read (this server is fast), and is then asked
    # for once that page is parsed, as before.
    assert asked_when_parsed[0] == 2
    assert all(n + 1 <= asked <= n + 2 for n, asked in enumerate(asked_when_parsed))


async def test_a_busy_reader_has_one_page_asked_for_ahead_not_more(api: StateBackedClient) -> None:
    with logged_requests() as log:
        pages = api.transition_pages("counter", "busy")
        await anext(pages)
        await asyncio.sleep(0.3)  # the second page comes meanwhile; the third is not asked
        assert log.count("GET", "/events") == 2
        await anext(pages)
        await asyncio.sleep(0.3)
        assert log.count("GET", "/events") == 3
        await pages.aclose()


@pytest.mark.parametrize("slug", ["bad slug", "", "x" * 129, "a/b"])
async def test_bad_slugs_fail_before_any_request(slug: str) -> None:
    # Port 9 (discard) is never contacted: the slug check comes first.
    async with StateBackedClient(StaticToken("t"), "http://127.0.0.1:9") as client:
        with pytest.raises(InvalidSlug, match="not a valid name"):
            await client.get_instance("counter", slug)
        with pytest.raises(InvalidSlug):
            await client.send_event(slug, "x", "go")


async def test_errors_map_to_types_and_keep_the_server_message(
    api: StateBackedClient, server: ServerThread
) -> None:
    with pytest.raises(NotFound) as missing:
        await api.get_instance("counter", "no-such-instance")
    assert "no-such-instance" in (missing.value.server_message or "")
    with pytest.raises(InvalidParameter) as bad:
        await api.create_instance("order", unique("x"), machine_version_id="mv_nope")
    assert bad.value.parameter == "machineVersionId"
    assert "machineVersionId" in str(bad.value)
    with pytest.raises(InvalidState):
        await api.create_instance("counter", "small")
    async with StateBackedClient(credentials(server, "mallory"), server.base_url) as mallory:
        with pytest.raises(RejectedByAuthorizer) as refused:
            await mallory.send_event("document", "handbook", "submit")
        assert "allowWrite" in str(refused.value)
    nobody = KeyCredentials(server.key.key_id, server.key.secret, {})
    async with StateBackedClient(nobody, server.base_url) as anonymous_user:
        with pytest.raises(MissingUser):
            await anonymous_user.get_instance("counter", "small")


async def test_a_machine_whose_code_fails_is_its_own_error_not_the_servers(
    api: StateBackedClient,
) -> None:
    """A 500 for the machine's own code (it raised, or ran past its limits) said "the
    server failed; try again, and report it if it persists": trying again fails the same
    way, and there is nothing to report but the machine's code."""
    slug = unique("failing")
    await api.create_instance("scratch", slug)
    with pytest.raises(MachineFailed) as looped:
        await api.send_event("scratch", slug, "spin")
    assert looped.value.code == "machine-cpu-limit"
    assert str(looped.value).startswith("the machine's code failed on this event")
    assert "1 s CPU limit" in str(looped.value)
    with pytest.raises(MachineFailed) as raised:
        await api.send_event("scratch", slug, "corrupt")
    assert raised.value.code == "machine-error"
    assert "try again" not in str(raised.value)


async def test_wrong_key_and_expired_token_are_forbidden(server: ServerThread) -> None:
    wrong = KeyCredentials(server.key.key_id, "wrong-secret-" * 3, {"sub": "x"})
    async with StateBackedClient(wrong, server.base_url) as client:
        with pytest.raises(Forbidden) as error:
            await client.list_machines()
        assert "wrong-secret" not in str(error.value)
    fresh = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "x"}).mint()
    async with StateBackedClient(StaticToken(fresh), server.base_url) as client:
        await client.list_machines()
    old = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "x"}, expires_in=-5)
    async with StateBackedClient(StaticToken(old.mint()), server.base_url) as client:
        with pytest.raises(Forbidden, match="expired"):
            await client.list_machines()


async def test_key_credentials_refresh_before_expiry(server: ServerThread) -> None:
    source = KeyCredentials(server.key.key_id, server.key.secret, {"sub": "x"}, expires_in=62)
    async with StateBackedClient(source, server.base_url) as client:
        await client.list_machines()
        first = await source.token(client.exchange_token)
        # Within the refresh margin of `exp`, the next call mints a new token.
        source._expiry = time.time() + 30
        await asyncio.sleep(1.1)
        await client.list_machines()
        assert await source.token(client.exchange_token) != first


async def test_anonymous_session_exchanges_and_acts_as_an_end_user(
    server: ServerThread,
) -> None:
    session = AnonymousSession("org_local", device_id="phone-1")
    async with StateBackedClient(session, server.base_url) as client:
        slug = unique("anon")
        state = await client.create_instance("counter", slug)
        assert state.state == "counting"
        sent = await client.send_event("counter", slug, "increment")
        assert sent.public_context == {"count": 1}
        with pytest.raises(MissingScope):
            await client.list_machines()
        exchanges: list[str] = []

        async def counted(form: Mapping[str, str]) -> str:
            exchanges.append(form["subject_token"])
            return await client.exchange_token(form)

        await session.token(counted)
        assert exchanges == []  # still valid: no new exchange
        session._expiry = 0  # expired: exchanged again
        await session.token(counted)
        assert len(exchanges) == 1


async def test_act_as_header(server: ServerThread) -> None:
    async with StateBackedClient(
        credentials(server, "demo-user"), server.base_url, act={"sub": "alice"}
    ) as client:
        state = await client.send_event(
            "document", "handbook", {"type": "edit", "title": "via act"}
        )
        assert state.public_context["title"] == "via act"


async def test_unreachable_server_is_connection_failed() -> None:
    async with StateBackedClient(StaticToken("t"), "http://127.0.0.1:9") as client:
        with pytest.raises(ConnectionFailed, match="could not reach"):
            await client.list_machines()


def test_secrets_stay_out_of_reprs() -> None:
    key = KeyCredentials("sbk_id", "super-secret-value", {"sub": "x"})
    token = key.mint()
    for thing in (key, StaticToken(token), StateBackedClient(key, "http://x")):
        assert "super-secret-value" not in repr(thing)
        assert token not in repr(thing)


@pytest.mark.parametrize(
    ("body", "read"),
    [
        (b'{"transitions": [], "cursor": "abc.DEF-1"}', "abc.DEF-1"),
        (b'{"cursor":"abc"}\n', "abc"),
        (b'{"transitions": [], "cursor": "old", "cursor": "new"}', "new"),
        ('{"transitions": [], "cursor": "é\u202e"}'.encode(), "é\u202e"),
        (b'{"transitions": [{"event": {"cursor": "in"}}], "x": {"cursor": "in"}}', None),
        (b'{"transitions": [], "cursor": "first", "note": "\\",\\"cursor\\":\\"fake\\"}"}', None),
        (b'{"transitions": [], "cursor": "a\\"b"}', None),
        (b'{"transitions": [], "cursor": null}', None),
        (b'{"transitions": [], "cursor": "\xff"}', None),
        (b'{"transitions": [oops], "cursor": "2"}', "2"),  # not JSON: the page fails later
    ],
)
def test_a_cursor_read_from_the_end_of_the_bytes_is_the_answer_s_own(
    body: bytes, read: str | None
) -> None:
    """What is read from an answer's last bytes is the top-level "cursor" parsing gives
    (the last, if twice), or nothing: never one nested inside, never one in a string."""
    assert client_module._cursor_at_end(body) == read
    try:
        parsed = json.loads(body)
    except ValueError:
        return
    if read is not None:
        assert parsed["cursor"] == read


_PIECES = [b'"cursor"', b":", b",", b"{", b"}", b" ", b"\n", b'"', b"\\", b"abc", b"\x00", b"["]


@given(st.lists(st.sampled_from(_PIECES), max_size=14), st.text(max_size=30))
def test_the_cursor_is_found_from_the_last_key_as_a_search_of_every_byte_finds_it(
    pieces: list[bytes], cursor: str
) -> None:
    """Looking from the last `"cursor"` finds what trying each of the last bytes found."""
    tail = b',"cursor":"' + cursor.encode() + b'"}'
    for body in (b"".join(pieces), b"".join(pieces) + tail, b'{"x":1' + b"".join(pieces) + tail):
        every = client_module._CURSOR_AT_END.search(body, max(0, len(body) - 2200))
        expected = None
        if every is not None:
            try:
                expected = every.group(1).decode()
            except UnicodeDecodeError:
                expected = None
        assert client_module._cursor_at_end(body) == expected, body
