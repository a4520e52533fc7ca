"""Where the local server must answer as State Backed (XState v4) would: event names,
stopped machines, failed services. Each test failed on the server before the fix."""

from __future__ import annotations

import httpx

from tests.conftest import history, unique


def logs_of(http: httpx.Client, machine: str, slug: str) -> list[dict[str, object]]:
    body = http.get(
        "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": machine, "instance": slug}
    ).json()
    return list(body["logs"])


def test_events_are_recorded_exactly_as_sent(http: httpx.Client) -> None:
    slug = unique("as-sent")
    http.post("/machines/counter", json={"slug": slug})
    sent = [
        {"type": "done.invoke.x", "data": {"premium": 12}},
        {"type": "error.platform.y", "data": "no"},
        {"type": "xstate.after(5)#elsewhere.z", "note": "not a timer of this machine"},
    ]
    for event in sent:
        assert (
            http.post(f"/machines/counter/i/{slug}/events", json={"event": event}).status_code
            == 200
        )
    recorded = [row["event"] for row in history(http, "counter", slug)]
    assert recorded[:3] == list(reversed(sent))


def test_an_event_after_a_top_level_final_state_changes_nothing_and_is_not_recorded(
    http: httpx.Client,
) -> None:
    slug = unique("shipped")
    http.post("/machines/order", json={"slug": slug})
    http.post(f"/machines/order/i/{slug}/events", json={"event": "pay"})
    done = http.post(f"/machines/order/i/{slug}/events", json={"event": "ship"}).json()
    assert done["done"] is True and done["state"] == "shipped"
    before = history(http, "order", slug)

    late = http.post(f"/machines/order/i/{slug}/events", json={"event": {"type": "pay", "n": 2}})

    assert late.status_code == 200
    assert late.json() == done  # same state, same ts: nothing happened
    assert history(http, "order", slug) == before
    assert http.get(f"/machines/order/i/{slug}").json() == done


def test_a_failed_service_is_error_platform_with_data(http: httpx.Client) -> None:
    slug = unique("doomed")
    http.post("/machines/scratch", json={"slug": slug})
    answer = http.post(f"/machines/scratch/i/{slug}/events", json={"event": "try_doomed"})
    assert answer.status_code == 200
    assert answer.json()["state"] == "failed"
    rows = history(http, "scratch", slug)
    assert rows[0]["event"] == {
        "type": "error.platform.doomed",
        "data": {"name": "ValueError", "message": "the quote service said no"},
    }
    assert rows[0]["state"] == "failed"
    assert rows[1]["event"] == {"type": "try_doomed"}


def test_a_failed_service_no_state_takes_fails_the_event_and_is_logged(
    http: httpx.Client,
) -> None:
    slug = unique("unguarded")
    http.post("/machines/scratch", json={"slug": slug})
    before = history(http, "scratch", slug)

    answer = http.post(f"/machines/scratch/i/{slug}/events", json={"event": "try_unguarded"})

    assert answer.status_code == 500
    assert answer.json()["code"] == "machine-error"
    assert "ValueError" in answer.json()["error"]
    assert http.get(f"/machines/scratch/i/{slug}").json()["state"] == "ready"
    assert history(http, "scratch", slug) == before
    errors = [entry for entry in logs_of(http, "scratch", slug) if entry["outputType"] == "stderr"]
    assert len(errors) == 1
    assert "the quote service said no" in str(errors[0]["log"])
    assert "Traceback" in str(errors[0]["log"])
