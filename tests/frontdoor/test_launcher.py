"""``./task``, the launcher: what only root can install is named in one line, exit status 1; otherwise it
hands over to the venv's ``task``. Each case runs the real launcher in a copy of it, with a ``PATH``
holding only what that case's machine has (stand-ins for python3 and node that behave as the missing
pieces do)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
TOOLS = ("sh", "dirname", "rm", "cat")  # what the launcher itself calls, besides python3 and node


def script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the launcher and an empty bin directory (tmp/bin) for the machine's tools."""
    work = tmp_path / "checkout"
    work.mkdir()
    shutil.copy2(REPO / "task", work / "task")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return work


def launch(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(checkout.parent / "bin"), "HOME": str(checkout.parent)}
    return subprocess.run(
        ["/bin/sh", str(checkout / "task"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def venv_ready(checkout: Path) -> None:
    """A venv the launcher takes as made: its python runs, its task echoes what it was given."""
    bin_dir = checkout / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    script(bin_dir / "python", "exit 0\n")
    script(bin_dir / "task", 'echo "task got: $*"\n')


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_no_python_311_names_the_package(checkout: Path) -> None:
    script(checkout.parent / "bin" / "python3", "exit 1\n")  # answers the version check as a 3.9 would
    line = one_line(launch(checkout, "run"))
    assert "needs Python 3.11 or newer" in line and "python3 package" in line
    assert not (checkout / ".venv").exists()


def test_no_venv_module_names_python3_venv(checkout: Path) -> None:
    # Debian's python3 without python3-venv: runs, but has no ensurepip.
    real = sys.executable  # a real Python 3.11+ (the PATH here has no pyenv shims)
    script(checkout.parent / "bin" / "python3", f'case "$*" in *ensurepip*) exit 1;; esac\nexec {real} "$@"\n')
    line = one_line(launch(checkout, "run"))
    assert "install the python3-venv package" in line
    assert not (checkout / ".venv").exists()


def test_no_node_names_nodejs(checkout: Path) -> None:
    venv_ready(checkout)
    line = one_line(launch(checkout, "run"))
    assert "install the nodejs and npm packages" in line


def test_hands_over_to_the_venvs_task(checkout: Path) -> None:
    venv_ready(checkout)
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("no node/npm on this machine")
    (checkout.parent / "bin" / "node").symlink_to(node)
    (checkout.parent / "bin" / "npm").symlink_to(npm)
    done = launch(checkout, "run", "--", "--port", "8080")
    assert done.returncode == 0 and done.stdout == "task got: run -- --port 8080\n", done
    listing = launch(checkout)
    assert listing.returncode == 0 and listing.stdout == "task got: --list\n", listing
