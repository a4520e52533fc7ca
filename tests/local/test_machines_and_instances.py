"""Machines, versions, instances: every endpoint over real HTTP, with its errors."""

from __future__ import annotations

import httpx
import pytest

from smb_tui.api.wire import delete_confirmation
from tests.conftest import history, unique


def test_lists_machines_with_current_versions(http: httpx.Client) -> None:
    body = http.get("/machines").json()
    slugs = [m["slug"] for m in body["machines"]]
    assert {"checkout", "counter", "document", "order", "quote", "traffic-light"} <= set(slugs)
    assert slugs == sorted(slugs)
    order = next(m for m in body["machines"] if m["slug"] == "order")
    assert order["currentVersion"]["clientInfo"] == "v2"
    assert "cursor" not in body


def test_reads_one_machine_with_indexes(http: httpx.Client) -> None:
    machine = http.get("/machines/counter").json()["machine"]
    assert machine["indexes"] == ["count"]
    assert machine["currentVersion"]["id"].startswith("mv_")


def test_lists_versions_newest_first(http: httpx.Client) -> None:
    versions = http.get("/machines/order/v").json()["versions"]
    assert [v["clientInfo"] for v in versions] == ["v2", "v1"]


def test_unknown_machine_is_404(http: httpx.Client) -> None:
    for path in ("/machines/nope", "/machines/nope/v", "/machines/nope/i", "/machines/nope/i/x"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert "nope" in response.json()["error"]


@pytest.mark.parametrize("slug", ["bad slug", "a" * 129, "semi;colon", "dot.ted"])
def test_bad_slug_is_400_naming_the_parameter(http: httpx.Client, slug: str) -> None:
    response = http.get(f"/machines/{slug}/i/x")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid-parameter"
    assert response.json()["parameter"] == "machineSlug"
    response = http.get(f"/machines/counter/i/{slug}")
    assert response.json()["parameter"] == "instanceSlug"


def test_creates_reads_and_lists_an_instance(http: httpx.Client) -> None:
    slug = unique("created")
    created = http.post("/machines/checkout", json={"slug": slug})
    assert created.status_code == 200
    state = created.json()
    assert state["state"] == {"shopping": "browsing"}
    assert state["done"] is False and state["tags"] == []
    assert isinstance(state["ts"], int)
    assert http.get(f"/machines/checkout/i/{slug}").json()["state"] == {"shopping": "browsing"}
    listed = http.get("/machines/checkout/i").json()["instances"]
    mine = next(i for i in listed if i["slug"] == slug)
    assert mine["status"] == "running"
    assert mine["machineVersion"]["clientInfo"] == "v1"


def test_create_with_context_and_older_version(http: httpx.Client) -> None:
    slug = unique("old-order")
    v1 = http.get("/machines/order/v").json()["versions"][-1]["id"]
    response = http.post(
        "/machines/order",
        json={
            "slug": slug,
            "context": {"public": {"item": "pen"}, "secret": 1},
            "machineVersionId": v1,
        },
    )
    assert response.status_code == 200
    assert response.json()["publicContext"] == {"item": "pen"}
    admin = http.get(f"/machines/order/i/{slug}/admin").json()
    assert admin["machineVersion"]["id"] == v1
    assert admin["context"] == {"public": {"item": "pen"}, "secret": 1}


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"slug": "has space"}, "slug"),
        ({}, "slug"),
        ({"slug": 12}, "slug"),
        ({"slug": "fine", "context": [1, 2]}, "context"),
        ({"slug": "fine", "machineVersionId": "mv_nope"}, "machineVersionId"),
    ],
)
def test_bad_create_is_400_and_stores_nothing(
    http: httpx.Client, body: dict[str, object], parameter: str
) -> None:
    response = http.post("/machines/checkout", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid-parameter"
    assert response.json()["parameter"] == parameter
    assert http.get("/machines/checkout/i/fine").status_code == 404


def test_extra_fields_are_tolerated_in_a_create_as_in_an_event(http: httpx.Client) -> None:
    """The contract: unknown extra fields must be tolerated (a newer client may send
    them); a create refused them with a 400 while an event took them."""
    slug = unique("extra")
    made = http.post("/machines/counter", json={"slug": slug, "clientInfo": "x", "ttl": 5})
    assert made.status_code == 200, made.text
    sent = http.post(
        f"/machines/counter/i/{slug}/events",
        json={"event": {"type": "increment", "note": "extra"}, "clientInfo": "x"},
    )
    assert sent.status_code == 200, sent.text
    assert history(http, "counter", slug)[0]["event"] == {"type": "increment", "note": "extra"}


def test_creating_an_existing_slug_is_409(http: httpx.Client) -> None:
    slug = unique("twice")
    assert http.post("/machines/counter", json={"slug": slug}).status_code == 200
    response = http.post("/machines/counter", json={"slug": slug})
    assert response.status_code == 409
    assert response.json()["code"] == "invalid-state"


def test_admin_read_shows_private_context(http: httpx.Client) -> None:
    public = http.get("/machines/checkout/i/cart-bob").json()
    admin = http.get("/machines/checkout/i/cart-bob/admin").json()
    assert "card_last4" not in public["publicContext"]
    assert admin["context"]["card_last4"] == "4242"
    assert admin["status"] == "running"
    assert admin["createdAt"].endswith("Z")
    assert "desiredMachineVersion" not in admin


def test_pause_rejects_events_and_resume_accepts_them(http: httpx.Client) -> None:
    slug = unique("paused")
    http.post("/machines/counter", json={"slug": slug})
    assert (
        http.put(f"/machines/counter/i/{slug}/status", json={"status": "paused"}).status_code == 204
    )
    assert http.get(f"/machines/counter/i/{slug}/admin").json()["status"] == "paused"
    refused = http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid-state"
    assert (
        http.put(f"/machines/counter/i/{slug}/status", json={"status": "running"}).status_code
        == 204
    )
    sent = http.post(f"/machines/counter/i/{slug}/events", json={"event": "increment"})
    assert sent.json()["publicContext"] == {"count": 1}


def test_bad_status_is_400(http: httpx.Client) -> None:
    response = http.put("/machines/counter/i/small/status", json={"status": "sleeping"})
    assert response.status_code == 400
    assert response.json()["parameter"] == "status"


def test_desired_version_upgrades_at_the_next_event(http: httpx.Client) -> None:
    slug = unique("upgrade")
    versions = http.get("/machines/order/v").json()["versions"]
    v2, v1 = versions[0]["id"], versions[1]["id"]
    http.post(
        "/machines/order",
        json={"slug": slug, "machineVersionId": v1, "context": {"public": {"item": "cup"}}},
    )
    assert (
        http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": v2}).status_code
        == 201
    )
    admin = http.get(f"/machines/order/i/{slug}/admin").json()
    assert admin["desiredMachineVersion"]["id"] == v2
    assert admin["machineVersion"]["id"] == v1
    http.post(f"/machines/order/i/{slug}/events", json={"event": {"type": "pay", "at": "now"}})
    admin = http.get(f"/machines/order/i/{slug}/admin").json()
    assert admin["machineVersion"]["id"] == v2
    assert "desiredMachineVersion" not in admin
    assert admin["context"]["public"]["status"] == "paid"
    rows = http.get(f"/machines/order/i/{slug}/events").json()["transitions"]
    # Upgraded before the event, recorded as a transition; v2 handled `pay`.
    assert [row["event"]["type"] for row in rows] == ["pay", "statebacked.upgrade", "xstate.init"]
    assert rows[1]["event"]["fromMachineVersionId"] == v1
    assert rows[1]["event"]["toMachineVersionId"] == v2
    assert rows[1]["state"] == "awaiting_payment"


def test_the_new_version_handles_the_event_that_upgrades(http: httpx.Client) -> None:
    """Only v2's `pay` tells the customer; what it prints is logged under v2."""
    slug = unique("upgrade-first")
    versions = http.get("/machines/order/v").json()["versions"]
    v2, v1 = versions[0]["id"], versions[1]["id"]
    http.post("/machines/order", json={"slug": slug, "machineVersionId": v1})
    http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": v2})
    http.post(f"/machines/order/i/{slug}/events", json={"event": "pay"})
    logs = http.get(
        "/logs", params={"from": "2000-01-01T00:00:00Z", "machine": "order", "instance": slug}
    ).json()["logs"]
    assert [(entry["log"], entry["machineVersionId"]) for entry in logs] == [
        ("payment recorded for None", v2),
        ("customer told: paid", v2),
    ]


def test_no_migration_path_back_to_an_older_version(http: httpx.Client) -> None:
    slug = unique("downgrade")
    http.post("/machines/order", json={"slug": slug})
    v1 = http.get("/machines/order/v").json()["versions"][-1]["id"]
    response = http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": v1})
    assert response.status_code == 400
    assert response.json()["code"] == "no-migration-path"
    unknown = http.put(f"/machines/order/i/{slug}/v", json={"targetMachineVersionId": "mv_x"})
    assert unknown.json()["parameter"] == "targetMachineVersionId"


def test_delete_needs_the_hmac_confirmation(http: httpx.Client) -> None:
    slug = unique("doomed")
    http.post("/machines/counter", json={"slug": slug})
    wrong = http.request(
        "DELETE",
        f"/machines/counter/i/{slug}",
        json={
            "dangerDataWillBeDeletedForever": True,
            "hmacSha256OfMachineInstanceNameWithMachineNameKey": "bogus",
        },
    )
    assert wrong.status_code == 400
    assert wrong.json()["parameter"] == "hmacSha256OfMachineInstanceNameWithMachineNameKey"
    not_sure = http.request(
        "DELETE",
        f"/machines/counter/i/{slug}",
        json={
            "dangerDataWillBeDeletedForever": False,
            "hmacSha256OfMachineInstanceNameWithMachineNameKey": delete_confirmation(
                "counter", slug
            ),
        },
    )
    assert not_sure.status_code == 400
    assert http.get(f"/machines/counter/i/{slug}").status_code == 200
    deleted = http.request(
        "DELETE",
        f"/machines/counter/i/{slug}",
        json={
            "dangerDataWillBeDeletedForever": True,
            "hmacSha256OfMachineInstanceNameWithMachineNameKey": delete_confirmation(
                "counter", slug
            ),
        },
    )
    assert deleted.status_code == 204
    assert http.get(f"/machines/counter/i/{slug}").status_code == 404
    assert http.get(f"/machines/counter/i/{slug}/events").status_code == 404


def test_delete_confirmation_matches_the_contract() -> None:
    # base64url(HMAC-SHA256(key="my-machine", message="user-1234")), unpadded
    import base64
    import hashlib
    import hmac

    expected = (
        base64.urlsafe_b64encode(hmac.new(b"my-machine", b"user-1234", hashlib.sha256).digest())
        .rstrip(b"=")
        .decode()
    )
    assert delete_confirmation("my-machine", "user-1234") == expected
    assert "=" not in expected


def test_index_query_filters_orders_and_pages(http: httpx.Client) -> None:
    for rank in (5, 7, 9, 11):
        slug = unique(f"ranked{rank}")
        http.post("/machines/scratch", json={"slug": slug, "context": {"public": {"rank": rank}}})
    query = "/machines/scratch/indexes/rank/query"
    gt = http.get(query, params={"op": "gt", "value": "6"}).json()["instances"]
    assert [i["indexValue"] for i in gt][:3] == ["7", "9", "11"]  # strings on the wire
    desc = http.get(query, params={"op": "gte", "value": "5", "dir": "desc"}).json()["instances"]
    values = [float(i["indexValue"]) for i in desc]
    assert values == sorted(values, reverse=True)
    first = http.get(query, params={"op": "gte", "value": "5", "limit": 2}).json()
    assert len(first["instances"]) == 2 and first["cursor"]
    second = http.get(
        query, params={"op": "gte", "value": "5", "limit": 2, "cursor": first["cursor"]}
    ).json()
    assert not {i["slug"] for i in first["instances"]} & {i["slug"] for i in second["instances"]}
    assert http.get(query, params={"op": "between", "value": "1"}).json()["parameter"] == "op"
    assert (
        http.get("/machines/scratch/indexes/nope/query", params={"value": "1"}).status_code == 404
    )


def test_unknown_route_and_bad_cursor(http: httpx.Client) -> None:
    response = http.get("/nowhere")
    assert response.status_code == 404 and "error" in response.json()
    bad = http.get("/machines/counter/i/busy/events", params={"cursor": "!!!"})
    assert bad.status_code == 400 and bad.json()["parameter"] == "cursor"


def test_serves_its_openapi_document(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/machines",
        "/machines/{machineSlug}/i/{instanceSlug}/events",
        "/logs",
        "/tokens",
        "/machines/{machineSlug}/indexes/{index}/query",
    ):
        assert path in paths
