"""`smb-tui completion SHELL`: the shell asks smb-tui what may come next, and gets the
commands, the subcommands and the flags (the connection flags after a command too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smb_tui.cli import main

BIN = Path(sys.executable).parent  # where pip put the `smb-tui` command

# The completion function bash registers for smb-tui, called as bash calls it on Tab.
BASH = """
set -e
eval "$(smb-tui completion bash)"
function_name=$(complete -p smb-tui | sed -E 's/.*-F ([^ ]+).*/\\1/')
line="$LINE"
COMP_LINE="$line"; COMP_POINT=${#line}
read -ra COMP_WORDS <<< "$line"
[[ "$line" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
"$function_name" smb-tui "${COMP_WORDS[$COMP_CWORD]}" "${COMP_WORDS[$COMP_CWORD - 1]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def tab(line: str) -> set[str]:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LINE": line}
    done = subprocess.run(
        ["bash", "-c", BASH], env=environment, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return {word.strip() for word in done.stdout.splitlines() if word.strip()}


@pytest.mark.skipif(shutil.which("bash") is None or not (BIN / "smb-tui").exists(), reason="bash")
def test_bash_completes_commands_subcommands_and_flags() -> None:
    assert "export" in tab("smb-tui exp")
    assert {"demo", "local", "export", "deploy", "chart", "replay", "completion"} <= tab("smb-tui ")
    assert tab("smb-tui export h") == {"history"}
    assert tab("smb-tui export history counter busy --pro") == {"--profile"}
    assert {"--port", "--page-size"} <= tab("smb-tui local --p")
    assert tab("smb-tui completion f") == {"fish"}


@pytest.mark.parametrize(
    ("shell", "said"),
    [
        ("bash", "complete -o nospace -o default -o bashdefault -F _python_argcomplete smb-tui"),
        ("zsh", "#compdef smb-tui"),
        ("fish", "complete --command smb-tui"),
    ],
)
def test_each_shell_gets_its_own_code(
    shell: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    code = capsys.readouterr().out
    assert said in code and "_ARGCOMPLETE" in code


def test_an_unknown_shell_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["completion", "tcsh"])
    assert done.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_keys_prints_what_the_question_mark_screen_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["help", "keys"]) == 0
    text = capsys.readouterr().out
    for section in ("Everywhere", "History", "Logs", "Composer", "Lists"):
        assert f"\n{section}\n" in f"\n{text}", section
    lines = text.splitlines()
    assert any(line.split() == ["q", "Quit"] for line in lines)
    assert any(line.startswith("  ^p ") and "Command palette" in line for line in lines)
    assert any(line.startswith("  tab, shift+tab Next") for line in lines)  # never run together
    assert "\x1b" not in text  # plain, for a pager or grep
