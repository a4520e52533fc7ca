"""The open instance: its state, admin view and live status, and every call made for it.

No Textual here (as Toolong keeps `LogFile` apart from its view). The dashboard owns one
`InstanceSession` at a time and binds its `InstanceSnapshot` into the instance pane, the
composer and the header, so they all say the same thing about the same instance.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from smb_tui.api.auth import KeyCredentials
from smb_tui.api.errors import (
    MissingScope,
    NotFound,
    RejectedByAuthorizer,
    StateBackedError,
    TransportError,
)

if TYPE_CHECKING:  # loaded with the client, once the dashboard has drawn its first frame
    from smb_tui.api.client import StateBackedClient
    from smb_tui.api.models import AdministrativeInstanceState, InstanceUpdate, State

# loading: nothing read yet; ready: state is current; stale: state is what was last
# read, and the last try to read or follow failed; not-found: 404; error: no state.
Phase = Literal["idle", "loading", "ready", "stale", "not-found", "error"]
LiveStatus = Literal["live", "reconnecting", "offline"]
UPDATE_INTERVAL = 0.05  # live updates shown at most this often: a flood shows its newest
BEHIND_SECONDS = 1.0  # an update shown later than this after it came: not "live"


@dataclass(frozen=True)
class InstanceSnapshot:
    """What is known of the open instance, all of it from the same moment."""

    machine: str | None = None
    instance: str | None = None
    phase: Phase = "idle"
    state: State | None = None
    admin: AdministrativeInstanceState | None = None
    admin_note: str | None = None
    # The admin view was read at this state's ts; older than `state.ts`: being re-read.
    admin_ts: float | None = None
    error: str | None = None
    live: LiveStatus = "offline"
    behind: bool = False  # live, but the screen shows updates later than BEHIND_SECONDS
    stale_since: float | None = None  # live updates were lost at this time (epoch seconds)

    @property
    def name(self) -> str | None:
        return f"{self.machine}/{self.instance}" if self.machine and self.instance else None

    @property
    def can_send(self) -> bool:
        return self.phase in ("ready", "stale") and self.state is not None

    @property
    def admin_current(self) -> bool:
        return self.admin is not None and self.state is not None and self.admin_ts == self.state.ts


@dataclass(frozen=True)
class SendReport:
    """One send as the composer says it: what was sent, as whom, and what came of it."""

    event: dict[str, Any]
    acting_as: str  # the auth context the event was sent as, as JSON or a phrase
    before: State | None
    after: State | None = None
    seconds: float = 0.0
    settled: bool | None = True
    stopped_services: tuple[str, ...] = ()
    error: StateBackedError | None = None

    @property
    def changed_nothing(self) -> bool:
        """XState's `changed` is false: no transition matched (or it did nothing)."""
        before, after = self.before, self.after
        return (
            before is not None
            and after is not None
            and (before.state, before.public_context, before.tags, before.done)
            == (after.state, after.public_context, after.tags, after.done)
        )


ClientFor = Callable[[dict[str, Any] | None], "StateBackedClient"]


class InstanceSession:
    """The one owner of an open instance. Tells `on_change` of every new snapshot.

    `on_transitions` hears that the instance moved on (a newer `ts` arrived, from a send
    or a live update; each `ts` once), with the state before and after, so the history
    fetches the new rows once and marks the one whose context changed.
    `on_reconnected` hears that live updates came back after a break.
    """

    def __init__(
        self,
        client: StateBackedClient,
        machine: str,
        instance: str,
        *,
        on_change: Callable[[InstanceSnapshot], None],
        on_transitions: Callable[[State | None, State], None] = lambda before, after: None,
        on_reconnected: Callable[[], None] = lambda: None,
        client_for: ClientFor | None = None,
    ) -> None:
        self.client = client
        self.snapshot = InstanceSnapshot(machine, instance, "loading")
        self._on_change = on_change
        self._on_transitions = on_transitions
        self._on_reconnected = on_reconnected
        self._client_for = client_for or (lambda acting: client)
        self.full_context = False  # the admin view's context is shown: keep it current
        self.closed = False
        self._admin_reading = False
        self._moved = False  # an upgrade was seen since the admin view was read
        self._newest: InstanceUpdate | None = None  # live updates: the newest not yet shown
        self._showing: asyncio.TimerHandle | None = None
        self._caught_up_check: asyncio.TimerHandle | None = None
        self._shown_at = 0.0
        self._arrived_at = 0.0  # when the newest update not yet shown was read

    @property
    def machine(self) -> str:
        assert self.snapshot.machine is not None
        return self.snapshot.machine

    @property
    def instance(self) -> str:
        assert self.snapshot.instance is not None
        return self.snapshot.instance

    def _set(self, **changes: Any) -> None:
        if self.closed:
            return
        self.snapshot = replace(self.snapshot, **changes)
        self._on_change(self.snapshot)

    def close(self) -> None:
        self.closed = True
        for timer in (self._showing, self._caught_up_check):
            if timer is not None:
                timer.cancel()

    # -- reading -------------------------------------------------------------------------

    async def read(self) -> None:
        """Read the state (and the admin view): after opening, `r`, or a reconnect."""
        try:
            state = await self.client.get_instance(self.machine, self.instance)
        except StateBackedError as error:
            self._failed(error)
            return
        self._take(state)
        await self.read_admin()

    async def read_admin(self) -> None:
        """The admin view (status, version, full context), if the key allows it."""
        state = self.snapshot.state
        self._admin_reading = True
        self._moved = False
        try:
            admin = await self.client.get_instance_admin(self.machine, self.instance)
        except MissingScope:
            self._set(admin=None, admin_note="status, version and full context need an admin key")
            return
        except NotFound as error:
            self._failed(error)
            return
        except StateBackedError as error:
            self._set(admin_note=f"admin view unavailable: {error}")
            return
        finally:
            self._admin_reading = False
        if state is not None and admin.ts is not None and admin.ts < state.ts:
            return  # an answer from before what we hold; the next read brings it
        self._set(admin=admin, admin_note=None, admin_ts=state.ts if state else None)

    @property
    def admin_wanted(self) -> bool:
        """The admin view shown is older than the state: read it again."""
        snapshot = self.snapshot
        if snapshot.admin is None or snapshot.admin_current or snapshot.phase != "ready":
            return False
        if self._admin_reading:
            return False
        pending_upgrade = snapshot.admin.desired_machine_version is not None
        return self.full_context or pending_upgrade or self._moved

    def version_moved(self) -> None:
        """The history shows an upgrade (the instance is at another version now, one the
        admin view read before it does not name): `admin_wanted` until it is re-read."""
        self._moved = True

    def failed_unexpectedly(self, why: str) -> None:
        """A read raised something that is not a StateBackedError: say so, keep nothing
        as current."""
        phase = "stale" if self.snapshot.state is not None else "error"
        self._set(phase=phase, error=f"unexpected: {why}")

    def _failed(self, error: StateBackedError) -> None:
        if isinstance(error, NotFound):
            # Never the old instance's data under this name; and nothing shown is stale
            # (the live updates the server then refuses are no sign the server is away).
            self._set(
                phase="not-found",
                state=None,
                admin=None,
                admin_ts=None,
                error=str(error),
                stale_since=None,
            )
        elif isinstance(error, TransportError) and self.snapshot.state is not None:
            self._set(phase="stale", error=str(error))
        else:
            self._set(phase="error", state=None, admin=None, admin_ts=None, error=str(error))

    def _take(self, state: State) -> bool:
        """Hold `state` if it is newer than what is held; say whether it was."""
        held = self.snapshot.state
        if held is not None and self.snapshot.phase == "ready" and state.ts <= held.ts:
            return False  # a duplicate (the send's answer and its live update) or older
        newer = held is not None and state.ts > held.ts
        self._set(phase="ready", state=state, error=None)
        if newer:
            self._on_transitions(held, state)
        return True

    # -- live ----------------------------------------------------------------------------

    def apply_update(self, update: InstanceUpdate) -> bool:
        from smb_tui.api.models import State

        held = self.snapshot.state
        state = State(
            ts=update.ts if update.ts is not None else (held.ts + 1 if held else 0),
            state=update.state,
            publicContext=update.public_context,
            tags=update.tags,
            done=update.done,
        )
        return self._take(state)

    def _arrived(self, update: InstanceUpdate) -> None:
        """A live update goes into a one-update slot, shown at most every UPDATE_INTERVAL:
        under a flood the screen follows the newest state instead of every one in turn."""
        if self._newest is None:
            self._arrived_at = time.monotonic()
        self._newest = update
        if self._showing is None:
            wait = max(0.0, self._shown_at + UPDATE_INTERVAL - time.monotonic())
            self._showing = asyncio.get_running_loop().call_later(wait, self._show_newest)

    def _show_newest(self) -> None:
        self._showing = None
        update, self._newest = self._newest, None
        if update is None or self.closed:
            return
        self._shown_at = time.monotonic()
        # Read from the socket at `_arrived_at`, shown now: an update's own ts says when the
        # state last changed, not when it was sent, so it cannot tell how late this is.
        behind = self._shown_at - self._arrived_at > BEHIND_SECONDS
        if behind != self.snapshot.behind:
            self._set(behind=behind)
        self.apply_update(update)
        if behind:
            # One late update must not say "behind" for ever on an instance that then goes
            # quiet: with nothing waiting a moment later, the screen has caught up.
            self._caught_up_check = asyncio.get_running_loop().call_later(
                BEHIND_SECONDS, self._caught_up
            )

    def _caught_up(self) -> None:
        waiting = self._newest is not None or self._showing is not None
        if not waiting and not self.closed and self.snapshot.behind:
            self._set(behind=False)

    def set_live(self, status: LiveStatus) -> None:
        if status == self.snapshot.live:
            return
        if status == "live":
            self._set(live=status, stale_since=None)
        elif self.snapshot.live == "live" or self.snapshot.stale_since is not None:
            # What is shown was current until now: from here on it is stale.
            self._set(live=status, stale_since=self.snapshot.stale_since or time.time())
        else:
            self._set(live=status)

    async def follow(self) -> None:
        """Live updates until closed; on a reconnect, read again what may have been missed."""
        from smb_tui.api.client import Reconnected
        from smb_tui.api.models import InstanceUpdate

        try:
            async for update in self.client.subscribe(
                self.machine, self.instance, on_status=self.set_live
            ):
                if self.closed:
                    return
                if isinstance(update, Reconnected):
                    await self.read()
                    self._on_reconnected()
                elif isinstance(update, InstanceUpdate):
                    self._arrived(update)
        except StateBackedError as error:
            self.set_live("offline")
            if isinstance(error, NotFound):
                self._failed(error)
            raise

    # -- sending -------------------------------------------------------------------------

    def acting_as(self, acting: dict[str, Any] | None) -> str:
        if acting is not None:
            return json.dumps(acting, ensure_ascii=False)
        auth = self.client.auth
        if isinstance(auth, KeyCredentials):
            return json.dumps(auth.auth_context, ensure_ascii=False)
        return "your token's auth context"

    async def send(self, event: dict[str, Any], acting: dict[str, Any] | None) -> SendReport:
        """POST the event; the answer becomes the state. One request; no reads after it."""
        before = self.snapshot.state
        report = SendReport(event, self.acting_as(acting), before)
        client = self._client_for(acting)
        try:
            sent = await client.send_event_report(self.machine, self.instance, event)
        except StateBackedError as error:
            if isinstance(error, NotFound):
                self._failed(error)
            return replace(report, error=error)
        finally:
            if client is not self.client:
                await client.aclose()
        self._take(sent.state)
        return replace(
            report,
            after=sent.state,
            seconds=sent.seconds,
            settled=sent.settled,
            stopped_services=sent.stopped_services,
        )


def refusal(report: SendReport) -> str:
    """The 403 of an authorizer, naming what was refused and for whom."""
    assert isinstance(report.error, RejectedByAuthorizer)
    return f"allowWrite refused {report.event['type']!r} for {report.acting_as}"


__all__ = [
    "InstanceSession",
    "InstanceSnapshot",
    "LiveStatus",
    "Phase",
    "SendReport",
    "refusal",
]
