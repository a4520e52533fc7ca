"""Following /logs by the documented rule (`from = maxTimestamp`), as the official client
and smply do: their times are JavaScript dates (milliseconds), and each line must come
once, with nothing skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from smb_tui.local.auth import sign_key_token
from smb_tui.local.server import ServerThread
from tests.conftest import client, unique
from tests.local.conftest import run_official


def printed(http: httpx.Client, slug: str, count: int) -> None:
    """`count` events, each printing one line into the instance's logs."""
    http.post("/machines/scratch", json={"slug": slug}).raise_for_status()
    for n in range(count):
        event = {"type": "put", "key": f"k{n}", "value": n}
        http.post(f"/machines/scratch/i/{slug}/events", json={"event": event}).raise_for_status()


def as_javascript_date(stamp: str) -> str:
    """What `new Date(stamp).toISOString()` gives: the time to the millisecond."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_a_millisecond_follower_gets_each_line_once(server: ServerThread) -> None:
    slug = unique("ms-follower")
    with client(server) as http:
        printed(http, slug, 250)  # more than two pages, written faster than 1 a ms
        start = "2000-01-01T00:00:00.000Z"
        seen: list[str] = []
        for _ in range(10):
            body = http.get("/logs", params={"from": start, "instance": slug}).json()
            stamps = [entry["timestamp"] for entry in body["logs"]]
            assert all(stamp == as_javascript_date(stamp) for stamp in stamps)
            seen += [entry["log"] for entry in body["logs"]]
            if not body["logs"]:
                # Caught up: `from` comes back as the client wrote it, which is how the
                # official client knows to wait rather than ask again at once.
                assert body["maxTimestamp"] == start
                break
            start = as_javascript_date(body["maxTimestamp"])
        assert seen == [f"stored k{n}" for n in range(250)]


def test_the_official_clients_logs_watch_gets_each_line_once(server: ServerThread) -> None:
    slug = unique("watched")
    with client(server) as http:
        printed(http, slug, 3)
    seen = run_official(
        "official_logs_watch.mjs",
        SMB_URL=server.base_url,
        SMB_TOKEN=sign_key_token(server.key, {"sub": "demo-user"}),
        SMB_FROM="2000-01-01T00:00:00.000Z",
        SMB_INSTANCE=slug,
        SMB_SECONDS="2",
    )
    assert seen["lines"] == ["stored k0", "stored k1", "stored k2"]
    # One read, one that finds it is caught up and waits (30 s, cut short): the server
    # gave the follower nothing to loop on (it used to ask again at once, for ever).
    assert seen["requests"] <= 3, seen
