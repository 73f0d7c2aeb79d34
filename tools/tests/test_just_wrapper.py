"""Tests of the top-level `./just` wrapper and the README's two-command quick start.

Each test copies the repository's files (what `git ls-files` lists, as in a fresh clone: no
target/, no .venv) into a temporary folder and runs the wrapper there in a fresh environment whose
PATH is only `/usr/bin:/bin` (or nothing at all). No network: `.venv` either already holds a `just`
(a link to the one running these tests) or `python3` is a stub that records how it was called.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BARE_PATH = "/usr/bin:/bin"


def pinned_just() -> str:
    """The `rust-just==X` line of tools/requirements-dev.txt, read here independently of the wrapper."""
    lines = (REPO / "tools/requirements-dev.txt").read_text().splitlines()
    pins = [line.strip() for line in lines if line.strip().startswith("rust-just==")]
    assert len(pins) == 1, pins
    return pins[0]


def real_just() -> Path:
    """The `just` binary of the environment running the tests (.venv/bin/just under `just test`)."""
    beside = Path(sys.executable).parent / "just"
    found = beside if beside.is_file() else (Path(p) if (p := shutil.which("just")) else None)
    if found is None:
        pytest.skip("no `just` beside the test's Python or on PATH (run the tests through `./just test`)")
    return found


def copy_repo(dest: Path) -> Path:
    """Copies the files a fresh clone has (tracked and untracked-but-not-ignored) into dest/repo."""
    out = dest / "repo"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():  # a file deleted in the working tree is still listed by --cached
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, out / rel)
    assert not (out / ".venv").exists() and not (out / "target").exists()
    return out


def run(cmd: list[str], cwd: Path, path: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """Runs cmd as a fresh shell would: no variables but PATH, HOME and `extra`."""
    env = {"PATH": path, "HOME": str(cwd), **extra}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def recipes(listing: str) -> set[str]:
    """Recipe names in `just --list` output ("    demo   # ..." lines)."""
    return {m.group(1) for m in re.finditer(r"^\s+([a-z][a-z0-9-]*)\b", listing, re.M)}


@pytest.mark.parametrize(
    ("cmd", "subdir"),
    [
        (["./just", "--list"], "."),
        (["sh", "just", "--list"], "."),
        (["../just", "--list"], "data"),  # a sub-folder
        (["repo/just", "--list"], ".."),  # outside the repository: just alone would find no justfile
    ],
)
def test_wrapper_runs_the_just_in_venv(tmp_path: Path, cmd: list[str], subdir: str) -> None:
    repo = copy_repo(tmp_path)
    (repo / ".venv/bin").mkdir(parents=True)
    (repo / ".venv/bin/just").symlink_to(real_just())
    got = run(cmd, repo / subdir, BARE_PATH)
    assert got.returncode == 0, got.stderr
    # The justfile's recipes, listed by the .venv's just from any folder of the copy.
    assert {"demo", "test", "extract", "train-heads", "demo-assets"} <= recipes(got.stdout)
    assert "installing" not in got.stderr


def test_wrapper_version_is_the_pinned_one(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    (repo / ".venv/bin").mkdir(parents=True)
    (repo / ".venv/bin/just").symlink_to(real_just())
    got = run(["./just", "--version"], repo, BARE_PATH)
    assert got.returncode == 0, got.stderr
    # rust-just==1.59.0 -> "just 1.59.0" (setup-dev.sh installs the pin into .venv)
    assert got.stdout.strip() == "just " + pinned_just().split("==")[1]


# A stand-in for python3 (and, linked as .venv/bin/python, for the venv's python): it logs its
# arguments, makes the venv's bin/ for `-m venv DIR`, and for `-m pip install` puts a link to the
# real `just` into its own bin/ as pip would.
STUB_PYTHON = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && ln -s "$STUB_SELF" "$3/bin/python"
elif [ "$1 $2 $3" = "-m pip install" ]; then
  ln -s "$REAL_JUST" "$(dirname "$0")/just"
fi
"""


def test_wrapper_installs_the_pinned_just_when_missing(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    stub = stubs / "python3"
    stub.write_text(STUB_PYTHON)
    stub.chmod(0o755)
    log = tmp_path / "calls.log"
    extra = {"STUB_LOG": str(log), "STUB_SELF": str(stub), "REAL_JUST": str(real_just())}

    got = run(["./just", "--list"], repo, f"{stubs}:{BARE_PATH}", **extra)
    assert got.returncode == 0, got.stderr
    venv = repo / ".venv"
    calls = log.read_text().splitlines()
    assert calls[0] == f"python3 -m venv {venv}"
    assert calls[1].startswith("python -m pip install ") and calls[1].split()[-1] == pinned_just()
    assert len(calls) == 2
    assert f"installing {pinned_just()}" in got.stderr
    # then it ran the freshly installed just with the arguments given
    assert {"demo", "test"} <= recipes(got.stdout)

    # Second run: just is there, nothing is installed again.
    again = run(["./just", "--list"], repo, f"{stubs}:{BARE_PATH}", **extra)
    assert again.returncode == 0, again.stderr
    assert log.read_text().splitlines() == calls


def test_wrapper_without_python3_says_so(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    got = run(["/bin/sh", "./just", "demo"], repo, str(empty))
    assert got.returncode == 1
    assert "python3 not found" in got.stderr
    assert not (repo / ".venv").exists()


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["./just demo", "./just test"]
    ci = (REPO / ".ci/run").read_text().splitlines()
    assert commands[1] in [line.strip() for line in ci]
    assert os.access(REPO / "just", os.X_OK) and os.access(REPO / ".ci/run", os.X_OK)
