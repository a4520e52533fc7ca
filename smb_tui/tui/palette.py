"""The few colours the views give text, taken from the app's theme.

Rich `Text` styles are strings, not CSS, so `$success` cannot be written in them:
`tone("ok")` looks the colour up in the running app's theme instead, so a theme the
user picks (Ctrl+P, "theme") colours these too, and NO_COLOR's filter sees one
palette. Outside an app (tests, exports) the default theme's colours answer.
"""

from __future__ import annotations

from typing import Literal

from textual._context import active_app

Role = Literal["ok", "warn", "error", "accent", "done"]

VARIABLE: dict[Role, str] = {
    "ok": "text-success",  # settled, running, entered, added
    "warn": "text-warning",  # loading, stale, paused, changed
    "error": "text-error",  # refused, failed, left, removed, stderr
    "accent": "text-primary",  # event types, keys, instance names, tags
    "done": "text-secondary",  # a final state; JSON's true, false and null
}
FALLBACK: dict[Role, str] = {  # textual-dark's
    "ok": "#8AD4A1",
    "warn": "#FFC473",
    "error": "#D17E92",
    "accent": "#57A5E2",
    "done": "#5684A5",
}


def tone(role: Role, *attributes: str) -> str:
    """A Rich style: `tone("error", "bold")` is "bold #D17E92" under textual-dark."""
    colour = FALLBACK[role]
    try:
        variables = active_app.get().theme_variables
    except LookupError:
        variables = {}
    colour = variables.get(VARIABLE[role], colour)
    return " ".join((*attributes, colour))
