"""The built-in demo machines, and the instances and history a new database starts with."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smb_tui.local.auth import ALL_SCOPES, Principal
from smb_tui.local.definitions import JSON, MachineDefinition
from smb_tui.local.demo import checkout, counter, document, order, quote, traffic_light
from smb_tui.local.options import DEMO_USER
from smb_tui.local.service import LocalService

DEMO_MACHINES: list[MachineDefinition] = [
    checkout.machine,
    counter.machine,
    document.machine,
    order.machine,
    quote.machine,
    traffic_light.machine,
]
# XState demo machines: built from xstate_src/ by `python -m smb_tui.local.xstate_build
# smb_tui/local/demo/xstate_src smb_tui/local/demo/xstate` (a test checks they match).
DEMO_MODULES = Path(__file__).parent / "xstate"
BUSY_HISTORY = 10_000
SEED_SLICE = 250


def _as(sub: str) -> Principal:
    return Principal({"sub": sub}, ALL_SCOPES)


async def seed(service: LocalService, busy_history: int = BUSY_HISTORY) -> None:
    """Fill a new database with instances in interesting states."""

    async def create(
        machine: str,
        slug: str,
        context: dict[str, JSON] | None = None,
        events: list[dict[str, JSON]] | None = None,
        owner: str = DEMO_USER,
        version: str | None = None,
    ) -> None:
        user = _as(owner)
        await service.create_instance(user, machine, slug, context or {}, version)
        for event in events or []:
            await service.send_event(user, machine, slug, event)

    item = {"type": "add_item", "item": "socks", "price": 12}
    await create("checkout", "cart-alice", events=[item, {**item, "item": "hat", "price": 30}])
    await create(
        "checkout",
        "cart-bob",
        events=[
            item,
            {"type": "start_checkout"},
            {"type": "pay", "amount": 12, "card": "4242424242424242"},
        ],
    )
    await create(
        "checkout",
        "order-1001",
        events=[
            item,
            {"type": "start_checkout"},
            {"type": "pay", "amount": 12, "card": "5555444433331111"},
            {"type": "set_address", "address": "1 Main St"},
            {"type": "place_order"},
        ],
    )
    await create("traffic-light", "main-street")
    await create("traffic-light", "side-street", events=[{"type": "fault"}])
    await service.set_status("traffic-light", "side-street", "paused")
    v1 = order.machine.version_id(order.machine.versions[0])
    await create("order", "order-2001", {"public": {"item": "lamp"}}, version=v1)
    await create(
        "order",
        "order-2002",
        {"public": {"item": "desk"}},
        [{"type": "pay", "at": "2026-01-02T10:00:00Z"}],
        version=v1,
    )
    await create(
        "order",
        "order-2003",
        {"public": {"item": "chair"}},
        [{"type": "pay", "at": "2026-01-03T10:00:00Z"}, {"type": "ship"}],
    )
    await create(
        "document",
        "handbook",
        {"owner": "alice", "public": {"title": "Handbook"}},
        [{"type": "edit", "title": "Staff handbook"}],
        owner="alice",
    )
    await create(
        "document",
        "my-notes",
        {"owner": DEMO_USER, "public": {"title": "Notes"}},
        [{"type": "edit", "title": "On-call notes"}, {"type": "submit"}],
    )
    if "ticket" in service.definitions:  # the XState demo machines (V8) loaded
        await create(
            "ticket",
            "ticket-101",
            {"reporter": "alice", "public": {"title": "Checkout is down", "comments": 0}},
            [{"type": "assign", "assignee": DEMO_USER}, {"type": "comment"}],
        )
        await create(
            "ticket",
            "ticket-102",
            {"public": {"title": "Typo on the pricing page", "comments": 0}},
        )
        await create("pomodoro", "desk-1", events=[{"type": "start"}])
    await create("counter", "small", events=[{"type": "increment"}] * 5)
    await create("counter", "busy")
    events: list[dict[str, JSON]] = [
        {"type": "increment", "by": 1 + n % 3} if n % 5 else {"type": "decrement"}
        for n in range(busy_history - 1)
    ]
    # In slices, so that the server answers requests meanwhile (the demo starts at once).
    for start in range(0, len(events), SEED_SLICE):
        await service.apply_events("counter", "busy", events[start : start + SEED_SLICE])
        await asyncio.sleep(0.02)
    await create(
        "quote", "car-1", events=[{"type": "request_quote", "car": "hatchback", "delay": 0.05}]
    )
