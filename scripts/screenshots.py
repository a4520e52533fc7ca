"""Make the README's screenshots: SVGs of the real app on the demo machines.

python scripts/screenshots.py   # writes screenshots/*.svg
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from smb_tui.tui.app import SmbTui
from smb_tui.tui.demo import start_demo
from smb_tui.tui.widgets.instance_view import InstanceView
from smb_tui.tui.widgets.transition_history import TransitionHistory

OUT = Path(__file__).resolve().parent.parent / "screenshots"


async def settle(pilot: Pilot[None]) -> None:
    app = pilot.app
    for _ in range(200):
        view = app.screen.query_one(InstanceView)
        history = app.screen.query_one(TransitionHistory)
        if view.state is not None and history.row_count and "live" in app.sub_title:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


async def send(pilot: Pilot[None]) -> None:
    screen = pilot.app.screen
    await pilot.press("4")
    screen.query_one("#event-type", Input).value = "add_item"
    screen.query_one("#payload", TextArea).text = '{"item": "lamp", "price": 40}'
    await pilot.press("ctrl+s")
    await pilot.pause(1.0)


async def bad_payload(pilot: Pilot[None]) -> None:
    screen = pilot.app.screen
    await pilot.press("4")
    screen.query_one("#event-type", Input).value = "pay"
    screen.query_one("#payload", TextArea).text = '{"amount": 12,'
    await pilot.pause(0.3)


async def detail(pilot: Pilot[None]) -> None:
    await pilot.press("5", "down", "enter")
    await pilot.pause(0.3)


async def keys(pilot: Pilot[None]) -> None:
    await pilot.press("question_mark")
    await pilot.pause(0.3)


async def history(pilot: Pilot[None]) -> None:
    await pilot.press("5")
    for _ in range(12):
        await pilot.press("pagedown")
    await pilot.pause(0.5)


async def logs(pilot: Pilot[None]) -> None:
    await pilot.press("l", "s")  # the logs of every order, not only this one
    await pilot.pause(1.0)


async def search(pilot: Pilot[None]) -> None:
    await pilot.press("5", "slash", *'"by":3', "enter")
    history = pilot.app.screen.query_one(TransitionHistory)
    for _ in range(200):
        if history.at_end and not history.searching:
            break
        await pilot.pause(0.05)
    await pilot.press("down", "down")
    await pilot.pause(0.3)


async def state_map(pilot: Pilot[None]) -> None:
    screen = pilot.app.screen
    client = screen.client  # type: ignore[attr-defined]
    for event in ["timer", "timer", "timer", "repair", "timer", "fault", "repair", "timer"]:
        await client.send_event("traffic-light", "main-street", event)
    await pilot.pause(1.0)
    await pilot.press("5", "m")
    await pilot.pause(0.5)


async def chart(pilot: Pilot[None]) -> None:
    await pilot.press("5", "M")
    for _ in range(40):
        if type(pilot.app.screen).__name__ == "ChartScreen":
            break
        await pilot.pause(0.1)
    await pilot.pause(0.5)


SHOTS: list[tuple[str, str, str, tuple[int, int], Callable[[Pilot[None]], Awaitable[None]]]] = [
    ("dashboard", "checkout", "cart-alice", (140, 40), send),
    ("history", "counter", "busy", (140, 40), history),
    ("composer-error", "checkout", "cart-bob", (100, 30), bad_payload),
    ("transition", "checkout", "order-1001", (100, 30), detail),
    ("keys", "counter", "small", (100, 30), keys),
    ("small-terminal", "checkout", "cart-bob", (80, 24), settle),
    ("logs", "order", "order-2003", (120, 32), logs),
    ("search", "counter", "busy", (120, 32), search),
    ("state-map", "traffic-light", "main-street", (120, 32), state_map),
    ("chart", "checkout", "cart-bob", (120, 48), chart),
]


async def main() -> None:
    OUT.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="smb-shots-"))
    server, connection = start_demo(db=folder / "demo.db", key_path=folder / "k")
    if not server.wait_for("seeded", 60):
        raise SystemExit("the demo server did not start and seed in 60 s")
    try:
        for name, machine, instance, size, steps in SHOTS:
            app = SmbTui(connection, machine=machine, instance=instance)
            async with app.run_test(size=size) as pilot:
                await settle(pilot)
                await steps(pilot)
                app.save_screenshot(str(OUT / f"{name}.svg"))
                print(f"screenshots/{name}.svg")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
