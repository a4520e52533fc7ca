"""A machine module as V8 runs it: an esbuild ES module made a function expression.

V8 runs it as a script, not as a module (measured: a script cannot hold `export`), so the
bundle becomes a function whose body is the module and whose value is its exports; its
`import`s of `npm:xstate` get the xstate this package holds (`js/xstate-4.38.3.js`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

# `import x, {a as b} from "npm:xstate";`, `import * as x from ...`, `import "...";`, at
# the start of a statement (esbuild puts its keep-names helper before them).
IMPORT = re.compile(
    r"(?:^|(?<=[;}\n]))\s*import\s*"
    r"(?:(?:(?P<default>[\w$]+)\s*,?\s*)?(?:\*\s*as\s+(?P<star>[\w$]+)|\{(?P<names>[^}]*)\})?"
    r"\s*from\s*)?(?P<quote>[\"'])(?P<specifier>[^\"']*)(?P=quote)\s*;?"
)
XSTATE_SPECIFIER = re.compile(r"(?:npm:)?xstate(?:@4(?:\.[\w.-]*)?)?")
XSTATE_FILE = "xstate-4.38.3.js"  # what `npm:xstate` is: see the file's header
EXPORTS = re.compile(r"export\s*\{([^}]*)\}\s*;?\s*(?:/\*[\s\S]*?\*/\s*)*$")


def wrap_module(source: str) -> str:
    """An esbuild ES module as a function expression of the run's console, timers and
    fetch, returning the module's exports. Its `import`s of `npm:xstate` (bundles built
    with `--external:npm:xstate`, as State Backed's docs build them) get the xstate this
    package holds, evaluated afresh with the module: as a bundle with xstate inside."""
    match = EXPORTS.search(source)
    if match is None:
        raise ValueError(
            "no `export { ... }` at its end, where esbuild puts a bundle's exports: build it"
            " with esbuild --bundle --format=esm (as smply does), exporting the machine as"
            " default"
        )
    names = []
    for part in match.group(1).split(","):
        local, _, exported = part.strip().partition(" as ")
        if local:
            names.append(f"{json.dumps(exported.strip() or local)}: {local}")
    imports, body = _imports(source[: match.start()])
    return (
        "(function (console, setTimeout, clearTimeout, setInterval, clearInterval, fetch) {\n"
        f"{imports}{body}\n;return {{{', '.join(names)}}};\n}})"
    )


def _imports(source: str) -> tuple[str, str]:
    """The module's `import` statements as bindings of the provided xstate (imports are
    hoisted: the bindings come first), and the module without them. Any other import is
    refused by name: the local server, like State Backed, provides only `npm:xstate`."""
    bindings: list[str] = []
    parts: list[str] = []
    position = 0
    for match in IMPORT.finditer(source):
        specifier = match["specifier"]
        if XSTATE_SPECIFIER.fullmatch(specifier) is None:
            raise ValueError(
                f"it imports {specifier!r}; the runtime provides only npm:xstate"
                " (bundle everything else into the module)"
            )
        for name in (match["default"], match["star"]):
            if name:
                bindings.append(f"const {name} = __xstate;")
        if match["names"]:
            pairs = []
            for part in match["names"].split(","):
                imported, _, local = part.strip().partition(" as ")
                if imported:
                    pairs.append(f"{imported.strip()}: {local.strip() or imported.strip()}")
            bindings.append(f"const {{{', '.join(pairs)}}} = __xstate;")
        parts.append(source[position : match.start()])
        position = match.end()
    if position == 0:
        return "", source
    parts.append(source[position:])
    imports = f"const __xstate = {_xstate_factory()}();\n{''.join(bindings)}\n"
    return imports, "".join(parts)


_XSTATE: list[str] = []


def _xstate_factory() -> str:
    """xstate's UMD build as a function returning its exports (read once)."""
    if not _XSTATE:
        umd = (Path(__file__).parent / "js" / XSTATE_FILE).read_text()
        _XSTATE.append(
            "(function () { var module = { exports: {} }, exports = module.exports,"
            f" define = undefined;\n{umd}\n;return module.exports; }})"
        )
    return _XSTATE[0]
