"""The event composer: type, JSON payload, "send as"; shows the settled state and the diff."""

from __future__ import annotations

import itertools
import json
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Static, TextArea

from smb_tui.api.errors import OutcomeUnknown, RejectedByAuthorizer
from smb_tui.core.describe import (
    context_changes,
    event_payload,
    parse_object,
    short_json,
    state_summary,
)
from smb_tui.core.history_pager import EVENT_TYPES_KEPT
from smb_tui.core.instance_session import InstanceSnapshot, SendReport, refusal
from smb_tui.core.text import safe
from smb_tui.tui.palette import Role, tone


def describe_outcome(report: SendReport) -> Text:
    """The result line of a send: settled or not, what changed, and as whom it was sent."""
    event_type = safe(report.event["type"])
    who = f" as {safe(report.acting_as)}"
    error = report.error
    if isinstance(error, RejectedByAuthorizer):
        return Text(
            f"✖ Refused (403): {safe(refusal(report))}. Nothing changed.",
            style=tone("error", "bold"),
        )
    if isinstance(error, OutcomeUnknown):
        return Text(
            f"⚠ {event_type}{who}: no answer in time, so it may or may not have been applied."
            " The state is read again; look at the history before sending it again.",
            style=tone("warn", "bold"),
        )
    if error is not None:
        return Text(f"✖ {event_type}{who}: {safe(error)}", style=tone("error", "bold"))
    before, after = report.before, report.after
    assert after is not None
    text = Text()
    if report.settled is False:
        services = ", ".join(safe(name) for name in report.stopped_services)
        text.append(
            f"⚠ {event_type}{who}: answered at the settle time-out after {report.seconds:.2f} s;"
            f" running services were stopped ({services}). Their error events are delivered"
            " before the next event.\n",
            style=tone("warn", "bold"),
        )
    elif report.settled is None:
        text.append(
            f"⚠ {event_type}{who}: answered after {report.seconds:.2f} s; State Backed answers"
            " at its settle time-out while services still run, so it may not have settled.\n",
            style=tone("warn", "bold"),
        )
    elif report.changed_nothing:
        text.append(
            f"○ {event_type}{who}: no transition matched; nothing changed"
            f" ({report.seconds:.2f} s)  ",
            style="bold",
        )
    else:
        text.append(
            f"✔ {event_type}{who} settled in {report.seconds:.2f} s  ", style=tone("ok", "bold")
        )
    text.append("state: ", style="dim")
    if before is None or before.state == after.state:
        text.append(safe(state_summary(after.state)), style="bold")
        text.append(" (unchanged)" if before is not None else "", style="dim")
    else:
        text.append(safe(state_summary(before.state)), style=tone("error"))
        text.append(" → ", style="dim")
        text.append(safe(state_summary(after.state)), style=tone("ok", "bold"))
    changes = context_changes(before.public_context if before else {}, after.public_context)
    if changes:
        text.append("\ncontext: ", style="dim")
        for index, change in enumerate(changes):
            if index:
                text.append(", ", style="dim")
            role: Role = (
                "ok" if change.kind == "added" else "error" if change.kind == "removed" else "warn"
            )
            text.append(safe(change.label()), style=tone(role))
    elif before is not None and not report.changed_nothing:
        text.append("\ncontext: no public changes", style="dim")
    if after.done:
        text.append("  ✔ done", style=tone("done", "bold"))
    return text


def editable_json(payload: dict[str, Any]) -> str:
    """A payload from the history as the box shows it to edit: escapes shown (what is
    sent is what is seen), indented; on one line when nested too deep for indents (their
    writer recurses more); "" past that (the history view shows it, escaped)."""
    try:
        return json.dumps(payload, indent=2, ensure_ascii=True)
    except RecursionError:
        pass
    try:
        return json.dumps(payload, ensure_ascii=True)
    except RecursionError:
        return ""


PAYLOAD_PLACEHOLDER = 'payload {"amount": 12}'
# Event types kept from a history: a machine has a few dozen; a history whose every event
# has a type of its own (an end user's doing) keeps the first few hundred, not all.
MAX_SUGGESTED = EVENT_TYPES_KEPT  # as many as a seek gathers
EXAMPLE_SHOWN = 40  # characters of an example payload in the empty box (on one line)


class PayloadArea(TextArea):
    """The payload box: Enter sends, as in the event type box (JSON needs no new line; a
    payload is typed on one line, or pasted whole). Empty, it shows the payload the
    history last had for the event type typed, and → takes it."""

    class Submitted(Message):
        pass

    example: dict[str, Any] | None = None  # without its `type`

    def show_example(self, event: Any) -> None:
        """The payload of `event` (one from the history, or None) as the box's hint."""
        self.example = event_payload(event) or None
        if self.example is None:
            self.placeholder = PAYLOAD_PLACEHOLDER
            return
        shown = short_json(self.example, EXAMPLE_SHOWN)
        # A server's text: made safe, and never read as markup (a plain string would be).
        self.placeholder = Content(f"e.g. {safe(shown)}  (the history's; → takes it)")

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            self.post_message(self.Submitted())
            return
        if event.key == "right" and not self.text and self.example:
            event.prevent_default()
            event.stop()
            self.text = editable_json(self.example)
            self.move_cursor(self.document.end)
            return
        await super()._on_key(event)


class EventTypeInput(Input):
    """The event type box: Tab takes the type it suggests (shown after the cursor, as a
    shell completes a word), then moves on; a suggestion left untaken is not sent."""

    async def _on_key(self, event: events.Key) -> None:
        suggestion: str = getattr(self, "_suggestion", "")  # Textual's; "" if it goes
        if (
            event.key == "tab"
            and self.cursor_at_end
            and len(suggestion) > len(self.value)
            and suggestion.startswith(self.value)
        ):
            event.prevent_default()
            event.stop()
            self.value = suggestion
            self.cursor_position = len(suggestion)
            return
        await super()._on_key(event)


class EventComposer(Vertical):
    ALLOW_MAXIMIZE = True
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
    EventComposer #send-as-label, EventComposer #send-as { display: none; }
    EventComposer.-can-act-as #send-as-label, EventComposer.-can-act-as #send-as {
        display: block;
    }
    EventComposer #send-as-row { align-horizontal: right; }
    EventComposer #send-as-label { width: auto; color: $text-muted; padding: 0 1 0 0; }
    EventComposer #send-as-label.-filled { color: $text-warning; text-style: bold; }
    EventComposer #send-as { width: 1fr; }
    EventComposer #composer-status { height: auto; max-height: 3; }
    """
    BINDINGS = [
        # Not a priority binding: one is run as the key arrives, before the keys typed
        # ahead of it (a burst over SSH, a fast typist) reach the boxes, and would send
        # what they held before. Passed up from the focused box, it comes after them.
        Binding("ctrl+s", "send", "Send event"),
        # Esc is the screen's: back out to the instance pane, where keys are keys again.
    ]

    snapshot: reactive[InstanceSnapshot] = reactive(InstanceSnapshot, always_update=True)

    class SendRequested(Message):
        """Send this event to the open instance, as `acting` (None: as you)."""

        def __init__(self, event: dict[str, Any], acting: dict[str, Any] | None) -> None:
            super().__init__()
            self.event, self.acting = event, acting

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_act_as = False
        self.sent_types: list[str] = []
        # The newest event of each type in the history (as far as it is loaded): the
        # suggestions, and the payload box's example for the type typed.
        self.history_events: dict[str, Any] = {}
        self.sending = False
        self._target: str | None = None
        # What the status line says about: a state it no longer holds must go.
        self._status_about: str = "none"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield EventTypeInput(placeholder="event type", id="event-type")
            yield PayloadArea.code_editor(
                "",
                language="json",
                id="payload",
                soft_wrap=True,
                show_line_numbers=False,
                theme="css",  # colours from our CSS, so that an invalid payload shows red
                tab_behavior="focus",  # Tab moves on, as everywhere else; JSON needs no tabs
                placeholder=PAYLOAD_PLACEHOLDER,
            )
        # Tab goes event type -> payload -> send as -> Send: the button comes last.
        with Horizontal(id="send-as-row"):
            yield Static("send as", id="send-as-label")
            yield Input(placeholder='{"sub": "user-1"}  (blank: as you)', id="send-as")
            yield Button("Send ^s", id="send", variant="primary", compact=True)
        yield Static(Text("Open an instance to send it events.", style="dim"), id="composer-status")

    def allow_acting_as(self, can_act_as: bool, update: bool = True) -> None:
        """Only key credentials can mint a token for another end user. `update`: False
        before the screen's first styles are worked out."""
        self.can_act_as = can_act_as
        self.set_class(can_act_as, "-can-act-as", update=update)

    def watch_snapshot(self, snapshot: InstanceSnapshot) -> None:
        if not self.is_mounted:
            return
        name = snapshot.name
        if name != self._target:
            self._target = name
            # Another instance: nothing typed as somebody else carries over to it.
            self.query_one("#send-as", Input).value = ""
            if name is None:
                self._status(Text("Open an instance to send it events.", style="dim"), "none")
            else:
                self._status(Text(f"Send an event to {safe(name)}.", style="dim"), "target")
            return
        if snapshot.phase in ("not-found", "error") and not self.sending:
            self._status(
                Text(
                    f"✖ Nothing can be sent to {safe(name)}: see the instance pane.",
                    tone("error", "bold"),
                ),
                "unavailable",
            )
        elif snapshot.phase == "ready" and self._status_about in ("unavailable", "failed"):
            # What the line said no longer holds: the instance is back.
            self._status(Text(f"Ready to send to {safe(name)}.", style="dim"), "target")

    @property
    def history_types(self) -> list[str]:
        """The event types seen in the history, as they came."""
        return list(self.history_events)

    def clear(self) -> None:
        """Another instance opened: what was typed for the last one is not sent here, and
        its history suggests nothing here."""
        self.history_events = {}
        self._update_suggester()
        self.query_one("#event-type", Input).value = ""
        self.query_one("#payload", TextArea).text = ""

    def fill(self, event: Any) -> None:
        """Put `event` (from the history) in the boxes to edit and send; nothing is sent.
        Its text is shown as it is, escapes and all: what is sent is what is seen."""
        kind = (
            event
            if isinstance(event, str)
            else event.get("type", "")
            if isinstance(event, dict)
            else ""
        )
        payload = event_payload(event)
        self.query_one("#event-type", Input).value = safe(kind)
        self.query_one("#payload", TextArea).text = editable_json(payload) if payload else ""
        self._status(
            Text("An event from the history: edit it, then Enter or ^s sends it.", style="dim"),
            "target",
        )

    def suggest(self, events: dict[str, Any]) -> None:
        """Event types seen in the history (each with its newest event seen), added to
        those seen before on this instance."""
        known = self.history_events
        room = MAX_SUGGESTED - len(known)
        new = dict(itertools.islice(((t, e) for t, e in events.items() if t not in known), room))
        if not new:
            return
        known.update(new)
        self._update_suggester()
        self._show_example()

    @on(Input.Changed, "#event-type")
    def _show_example(self) -> None:
        event = self.history_events.get(self.query_one("#event-type", Input).value.strip())
        self.query_one("#payload", PayloadArea).show_example(event)

    def _update_suggester(self) -> None:
        # A type that would show escaped cannot be typed back as it is: not suggested.
        types = [
            t
            for t in dict.fromkeys([*reversed(self.sent_types), *self.history_types])
            if safe(t) == t
        ]
        self.query_one("#event-type", Input).suggester = SuggestFromList(types, case_sensitive=True)

    def _status(self, text: Text, about: str) -> None:
        self._status_about = about
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
        self.query_one("#send-as-label").set_class(
            bool(self.query_one("#send-as", Input).value.strip()), "-filled"
        )
        if error and (payload_error or error.startswith("send as")):
            self._status(
                Text(f"✖ {error}; nothing will be sent", style=tone("error", "bold")), "invalid"
            )
        elif not self.sending and self.snapshot.name and self._status_about == "invalid":
            self._status(
                Text(f"Ready to send to {safe(self.snapshot.name)}.", style="dim"), "target"
            )

    @on(Input.Submitted, "#event-type")
    @on(Button.Pressed, "#send")
    def _submit(self) -> None:
        self.action_send()

    @on(PayloadArea.Submitted)
    def _payload_submitted(self) -> None:
        self.action_send()

    def action_send(self) -> None:
        if self.sending:
            return
        snapshot = self.snapshot
        if snapshot.name is None:
            self._status(Text("Open an instance first.", style=tone("error", "bold")), "invalid")
            return
        if not snapshot.can_send:
            self._status(
                Text(f"✖ Nothing can be sent to {safe(snapshot.name)} now.", tone("error", "bold")),
                "unavailable",
            )
            return
        event, acting, error = self.validate()
        if error:
            self._status(
                Text(f"✖ {error}; nothing was sent", style=tone("error", "bold")), "invalid"
            )
            return
        assert event is not None
        self.sending = True
        self.query_one("#send", Button).disabled = True
        who = f" as {safe(json.dumps(acting, ensure_ascii=False))}" if acting else ""
        self._status(
            Text(
                f"⧗ sending {safe(event['type'])}{who}… waiting for the instance to settle",
                style=tone("warn", "bold"),
            ),
            "sending",
        )
        self.post_message(self.SendRequested(event, acting))

    def send_failed(self, why: str) -> None:
        """The send this composer asked for never came back with a report."""
        self.sending = False
        self.query_one("#send", Button).disabled = False
        self._status(Text(f"✖ {safe(why)}", style=tone("error")), "failed")

    def show_report(self, report: SendReport) -> None:
        """The outcome of the send this composer asked for."""
        self.sending = False
        self.query_one("#send", Button).disabled = False
        if report.error is None and report.event["type"] not in self.sent_types:
            self.sent_types.append(report.event["type"])
            self._update_suggester()
        self._status(describe_outcome(report), "failed" if report.error else "outcome")
