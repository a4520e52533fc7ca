"""The lowest versions pyproject.toml allows for each direct dependency, as pins for pip
(`name==lower`), for the CI step that installs them and runs the smoke test: every lower
bound must be one that works.

    python scripts/lowest_requirements.py > lowest.txt
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement


def main() -> int:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    for line in project["project"]["dependencies"]:
        requirement = Requirement(line)
        lower = [s.version for s in requirement.specifier if s.operator in (">=", "==", "~=")]
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        marker = f"; {requirement.marker}" if requirement.marker else ""
        if lower:
            print(f"{requirement.name}{extras}=={lower[0]}{marker}")
        else:
            print(f"smb-tui: {requirement.name} has no lower bound", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
