"""The one way untrusted text reaches a terminal: anything that could drive it is made
visible. No Textual here: the dashboard, the CLI and the local server's start-up messages
(machine files and their errors are written by somebody else too) all use it.

Every string that came from a server (names, event types, payload and context keys and
values, state names, tags, error messages, log lines, auth contexts) was written by
somebody else. Shown raw, `ESC ] 52` writes to the viewer's clipboard, `ESC [ 2J`
blanks the screen, U+202E turns a line around and U+009B starts a control sequence.
"""

from __future__ import annotations

import re
from typing import Any

# str.isprintable() is False for C0, DEL, C1 (Cc), format characters such as the bidi
# controls and zero-width ones (Cf), surrogates (Cs), line and paragraph separators
# (Zl, Zp), private use (Co) and unassigned code points (Cn); also for spaces other
# than " " (Zs), which are harmless and kept.
_NOT_PRINTABLE = re.compile(r"[^\w !-/:-@\[-`{-~]")


def _escape(char: str) -> str:
    code = ord(char)
    if char.isprintable() or (char.isspace() and code > 0x9F and char not in "\u2028\u2029"):
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe(value: Any) -> str:
    """`value` as text that shows exactly what it holds and cannot drive a terminal.

    Controls (C0, DEL, C1), bidi and zero-width format characters, separators, lone
    surrogates and unassigned code points become `\\u001b`-style escapes. Markup stays
    text because the result is only ever put into a `rich.text.Text`, never parsed.
    """
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case, in C
        return text
    return _NOT_PRINTABLE.sub(lambda match: _escape(match.group()), text)


__all__ = ["safe"]
