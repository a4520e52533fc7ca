"""Values as a JavaScript machine sees them: plain JSON, checked before anything runs.

One accepted write with a lone surrogate, a NaN or 900 levels of nesting used to be
stored, and from then on every read of the instance failed. So every value that comes
in (an event, a context, an auth context) or that a machine produced is checked here
first, and what cannot be plain JSON is refused with a message that says where.
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 64  # objects and arrays inside each other; State Backed's limit is not published
MAX_SAFE_INTEGER = 2**53 - 1  # past this a JavaScript number is not an exact integer


class NotPlainJson(ValueError):
    """`path` names where in the value the problem is, like `event.items[3].name`."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NotPlainJson(path, "holds a lone surrogate (\\ud800-\\udfff), not text") from None


def plain_json(value: Any, path: str = "value", depth: int = 0) -> Any:
    """`value` as JSON a JavaScript machine would hold, or NotPlainJson.

    Integers past 2^53 become the floats JavaScript would make of them.
    """
    if depth > MAX_DEPTH:
        raise NotPlainJson(path, f"is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotPlainJson(path, f"is {value}, which JSON cannot hold")
        return value
    if isinstance(value, str):
        _check_text(value, path)
        return value
    if isinstance(value, dict):
        checked = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotPlainJson(path, f"has a key that is not text: {key!r}")
            _check_text(key, f"{path} (a key)")
            checked[key] = plain_json(item, f"{path}.{key}", depth + 1)
        return checked
    if isinstance(value, list | tuple):
        return [plain_json(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    raise NotPlainJson(path, f"is a {type(value).__name__}, which JSON cannot hold")
