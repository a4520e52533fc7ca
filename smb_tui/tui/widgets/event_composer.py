"""The event composer: type, JSON payload, "send as"; shows the settled state and the diff."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Static, TextArea

from smb_tui.api.client import StateBackedClient
from smb_tui.api.errors import RejectedByAuthorizer, StateBackedError
from smb_tui.api.models import State
from smb_tui.tui.describe import context_changes, short_json, state_summary

ClientFor = Callable[[dict[str, Any] | None], StateBackedClient]


def parse_object(text: str, what: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the object, None), or (None, a message saying where the JSON is wrong)."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"{what}: line {error.lineno}, column {error.colno}: {error.msg}"
    if not isinstance(value, dict):
        return None, f'{what} must be a JSON object, like {{"key": 1}}'
    return value, None


def describe_outcome(before: State | None, after: State, seconds: float) -> Text:
    text = Text()
    text.append(f"✔ settled in {seconds:.2f} s  ", style="bold green")
    if before is None or before.state == after.state:
        text.append("state: ", style="dim")
        text.append(state_summary(after.state), style="bold")
        text.append(" (unchanged)" if before is not None else "", style="dim")
    else:
        text.append("state: ", style="dim")
        text.append(state_summary(before.state), style="red")
        text.append(" → ", style="dim")
        text.append(state_summary(after.state), style="bold green")
    changes = context_changes(before.public_context if before else {}, after.public_context)
    if changes:
        text.append("\ncontext: ", style="dim")
        for index, change in enumerate(changes):
            if index:
                text.append(", ", style="dim")
            if change.kind == "added":
                text.append(f"+{change.key}={short_json(change.after)}", style="green")
            elif change.kind == "removed":
                text.append(f"-{change.key}", style="red")
            else:
                text.append(
                    f"~{change.key}: {short_json(change.before)} → {short_json(change.after)}",
                    style="yellow",
                )
    elif before is not None:
        text.append("\ncontext: no public changes", style="dim")
    if after.done:
        text.append("  ✔ done", style="bold magenta")
    return text


class EventComposer(Vertical):
    # One line each while you are elsewhere; the payload grows while you type in it.
    DEFAULT_CSS = """
    EventComposer { height: auto; padding: 0 1; }
    EventComposer Horizontal { height: auto; }
    EventComposer Input { border: none; height: 1; padding: 0 1; background: $boost; }
    EventComposer Input:focus { border: none; background: $accent 25%; }
    EventComposer #event-type { width: 1fr; max-width: 32; }
    EventComposer #payload {
        width: 2fr; height: 1; border: none; padding: 0 1; margin: 0 1;
        background: $boost;
    }
    EventComposer #payload:focus { height: 4; border: none; background: $accent 15%; }
    EventComposer #payload.invalid, EventComposer #payload.invalid:focus {
        background: $error 35%;
    }
    EventComposer #send { width: 11; min-width: 8; height: 1; border: none; }
    EventComposer #send-as { width: 1fr; }
    EventComposer #composer-status { height: auto; max-height: 3; }
    """
    BINDINGS = [
        Binding("ctrl+s", "send", "Send event", priority=True),
        Binding(
            "escape", "leave", "Done typing", tooltip="Leave the composer: keys are keys again"
        ),
    ]

    class Settled(Message):
        """An event was applied: the instance's state after it settled."""

        def __init__(self, machine: str, instance: str, state: State) -> None:
            super().__init__()
            self.machine, self.instance, self.state = machine, instance, state

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.machine: str | None = None
        self.instance: str | None = None
        self.before: State | None = None
        self.client_for: ClientFor | None = None
        self.can_act_as = False
        self.sent_types: list[str] = []
        self.history_types: list[str] = []
        self.sending = False

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Input(placeholder="event type", id="event-type")
            yield TextArea.code_editor(
                "",
                language="json",
                id="payload",
                soft_wrap=True,
                show_line_numbers=False,
                theme="css",  # colours from our CSS, so that an invalid payload shows red
                tab_behavior="focus",  # Tab moves on, as everywhere else; JSON needs no tabs
                placeholder='payload {"amount": 12}',
            )
            yield Button("Send ^s", id="send", variant="primary")
        yield Input(placeholder='send as {"sub": "user-1"}  (blank: you)', id="send-as")
        yield Static(Text("Open an instance to send it events.", style="dim"), id="composer-status")

    def on_mount(self) -> None:
        self.query_one("#send-as", Input).display = False

    def target(
        self,
        machine: str,
        instance: str,
        state: State | None,
        client_for: ClientFor,
        can_act_as: bool,
    ) -> None:
        if (machine, instance) != (self.machine, self.instance):
            self._status(Text(f"Send an event to {machine}/{instance}.", style="dim"))
        self.machine, self.instance, self.before = machine, instance, state
        self.client_for, self.can_act_as = client_for, can_act_as
        # Only key credentials can mint a token for another end user.
        self.query_one("#send-as", Input).display = can_act_as

    def follow(self, state: State) -> None:
        """The instance moved on (live or re-read): diff the next send against this."""
        self.before = state

    def suggest(self, history_types: list[str]) -> None:
        self.history_types = history_types
        self._update_suggester()

    def _update_suggester(self) -> None:
        types = list(dict.fromkeys([*reversed(self.sent_types), *self.history_types]))
        self.query_one("#event-type", Input).suggester = SuggestFromList(types, case_sensitive=True)

    def _status(self, text: Text) -> None:
        self.query_one("#composer-status", Static).update(text)

    def validate(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
        """(event, auth context, None) or (None, None, what is wrong)."""
        event_type = self.query_one("#event-type", Input).value.strip()
        payload, error = parse_object(self.query_one("#payload", TextArea).text, "payload")
        if error:
            return None, None, error
        assert payload is not None
        if "type" in payload and payload["type"] != event_type and event_type:
            return None, None, "payload has a different `type`; leave it out of the payload"
        event_type = event_type or str(payload.get("type", ""))
        if not event_type:
            return None, None, "give the event a type"
        acting: dict[str, Any] | None = None
        if self.can_act_as:
            send_as = self.query_one("#send-as", Input).value
            acting, error = parse_object(send_as, "send as")
            if error:
                return None, None, error
            acting = acting or None
        return {**payload, "type": event_type}, acting, None

    @on(TextArea.Changed, "#payload")
    @on(Input.Changed, "#send-as")
    def _check(self) -> None:
        _, _, error = self.validate()
        payload_error = error is not None and error.startswith("payload")
        self.query_one("#payload", TextArea).set_class(payload_error, "invalid")
        if error and (payload_error or error.startswith("send as")):
            self._status(Text(f"✖ {error}; nothing will be sent", style="bold red"))
        elif not self.sending and self.machine:
            self._status(Text(f"Ready to send to {self.machine}/{self.instance}.", style="dim"))

    @on(Input.Submitted, "#event-type")
    @on(Button.Pressed, "#send")
    def _submit(self) -> None:
        self.action_send()

    def action_leave(self) -> None:
        # With nothing focused, 1-5 and the other screen keys work again.
        self.screen.set_focus(None)

    def action_send(self) -> None:
        if self.sending:
            return
        if self.machine is None or self.instance is None or self.client_for is None:
            self._status(Text("Open an instance first.", style="bold red"))
            return
        event, acting, error = self.validate()
        if error:
            self._status(Text(f"✖ {error}; nothing was sent", style="bold red"))
            return
        assert event is not None
        self.sending = True
        self.query_one("#send", Button).disabled = True
        who = f" as {json.dumps(acting)}" if acting else ""
        self._status(
            Text(
                f"⧗ sending {event['type']}{who}… waiting for the instance to settle",
                style="bold yellow",
            )
        )
        self._send(self.machine, self.instance, event, acting, self.before)

    @work(group="send", exit_on_error=False)
    async def _send(
        self,
        machine: str,
        instance: str,
        event: dict[str, Any],
        acting: dict[str, Any] | None,
        before: State | None,
    ) -> None:
        assert self.client_for is not None
        client = self.client_for(acting)
        started = time.monotonic()
        try:
            state = await client.send_event(machine, instance, event)
        except RejectedByAuthorizer:
            context = json.dumps(acting) if acting else "your token's auth context"
            self._status(
                Text(
                    f"✖ Refused (403): the machine's allowWrite rejected {event['type']!r} for "
                    f"auth context {context}. Nothing changed.",
                    style="bold red",
                )
            )
            return
        except StateBackedError as error:
            self._status(Text(f"✖ {error}", style="bold red"))
            return
        finally:
            self.sending = False
            self.query_one("#send", Button).disabled = False
            if client is not self.client_for(None):
                await client.aclose()
        if event["type"] not in self.sent_types:
            self.sent_types.append(event["type"])
            self._update_suggester()
        # `before` is the state when the user pressed send: live updates may have moved
        # `self.before` on already.
        self._status(describe_outcome(before, state, time.monotonic() - started))
        self.before = state
        self.post_message(self.Settled(machine, instance, state))
