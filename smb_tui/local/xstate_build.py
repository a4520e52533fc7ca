"""Build XState machine modules from TypeScript as `smply` does: esbuild, ES module,
browser platform, minified, names kept, xstate bundled in.

    python -m smb_tui.local.xstate_build SOURCES OUT

builds `SOURCES/NAME.ts` into `OUT/NAME.js` and a folder `SOURCES/NAME/` (versions,
migration modules, `machine.json`) into `OUT/NAME/`. It needs node and npm: the first
build installs the pinned xstate and esbuild into a cache folder.
"""

from __future__ import annotations

import argparse
import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smb_tui.local.machines import MANIFEST

# What smply passes to esbuild (smply's machine-versions create).
SMPLY_FLAGS = ["--bundle", "--format=esm", "--platform=browser", "--minify", "--keep-names"]
# Pinned, so that a build from the same sources gives the same bundle.
PACKAGES = ["xstate@4.38.3", "esbuild@0.28.2"]
SOURCE_SUFFIXES = (".ts", ".js", ".mjs")


class BuildUnavailable(RuntimeError):
    """node or npm is missing, or npm could not install the packages."""


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """One process at a time works in `folder` (npm installs and builds there): two test
    workers, or two builds, would otherwise install over each other."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def toolchain(work: Path) -> Path:
    """A folder with xstate and esbuild installed (npm install, once); its esbuild."""
    with exclusive(work):
        return _toolchain(work)


def _toolchain(work: Path) -> Path:
    esbuild = work / "node_modules" / ".bin" / "esbuild"
    if esbuild.exists():
        return esbuild
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BuildUnavailable("node and npm are needed to build XState modules")
    work.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        ["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-save", *PACKAGES],
        cwd=work,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if installed.returncode != 0 or not esbuild.exists():
        wanted = " ".join(PACKAGES)
        raise BuildUnavailable(f"npm could not install {wanted}: {installed.stderr[-400:]}")
    return esbuild


def build_file(source: Path, out: Path, work: Path) -> Path:
    """One module: `source` (TypeScript or JavaScript) bundled into `out`."""
    with exclusive(work):
        return _build_file(source, out, work)


def _build_file(source: Path, out: Path, work: Path) -> Path:
    esbuild = _toolchain(work)
    # Built beside node_modules, where esbuild finds xstate, with the files it imports.
    folder = work / "src" / source.parent.name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source.parent, folder, ignore=shutil.ignore_patterns("node_modules"))
    staged = folder / source.name
    out.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        [str(esbuild), str(staged), *SMPLY_FLAGS, "--log-level=error", f"--outfile={out}"],
        cwd=work,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if built.returncode != 0:
        raise RuntimeError(f"esbuild could not build {source}:\n{built.stderr}")
    return out


def build_tree(sources: Path, out: Path, work: Path) -> list[Path]:
    """Every module under `sources` (files and one level of folders) into `out`; files
    named `_*` are only imported by the others."""
    sources, out, work = sources.resolve(), out.resolve(), work.resolve()
    built = []
    for path in sorted(sources.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            built.append(build_file(path, out / f"{path.stem}.js", work))
        elif path.is_dir():
            for file in sorted(path.iterdir()):
                if file.suffix in SOURCE_SUFFIXES and not file.name.startswith("_"):
                    built.append(build_file(file, out / path.name / f"{file.stem}.js", work))
            if (path / MANIFEST).is_file():
                shutil.copyfile(path / MANIFEST, out / path.name / MANIFEST)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smb_tui.local.xstate_build")
    parser.add_argument("sources", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--work", type=Path, default=Path.home() / ".cache" / "smb-tui" / "xstate-build"
    )
    args = parser.parse_args(argv)
    try:
        for path in build_tree(args.sources, args.out, args.work):
            print(path)
    except (BuildUnavailable, RuntimeError) as error:
        print(f"smb-tui: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
