"""The artifact as a board runs it: built once per session, started by an "image Python".

``pyz``: ``tools/dist.py`` run into a temp directory (its output, the archive, its version and update bundle).
``image_python``: a ``python3`` wrapper that sees what a board's Python would: the standard library,
the archive, and only the native packages ``tools/dist.py --native-deps`` says the image provides
(symlinked from the venv into one directory). No venv site-packages, no checkout, no current
directory on ``sys.path`` (``-S -P``): a pure dependency missing from the archive fails the import.
Figures measured by the tests are printed at the end of the run (``figures``).
"""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "tools" / "dist.py"

_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    return _FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("packaging figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class Artifact:
    path: Path
    build_output: str

    @property
    def version(self) -> str:
        """X.Y.Z of the build (pyproject.toml's): ``version`` beside the archive, the image's /kvmapp/version."""
        return self.path.with_name("version").read_text(encoding="utf-8").strip()

    @property
    def bundle(self) -> Path:
        """The update bundle the same build wrote beside the archive (unsigned)."""
        return self.path.with_name(f"nanokvm_{self.version}.tar.gz")


@pytest.fixture(scope="session")
def pyz(tmp_path_factory: pytest.TempPathFactory, figures: list[str]) -> Artifact:
    path = tmp_path_factory.mktemp("dist") / "nanokvm-py.pyz"
    done = subprocess.run(
        [sys.executable, str(DIST), "--output", str(path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    figures.append(f"artifact: {done.stdout.strip().splitlines()[-1]}")
    return Artifact(path, done.stdout)


def native_distributions() -> list[str]:
    done = subprocess.run(
        [sys.executable, str(DIST), "--native-deps"], capture_output=True, text=True, timeout=60, check=True
    )
    names = [line.split()[0] for line in done.stdout.splitlines() if line and not line.startswith("#")]
    return [name for name in names if name != "python3"]


@pytest.fixture(scope="session")
def image_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory holding only the native packages (and their bundled shared libraries)."""
    site = tmp_path_factory.mktemp("image-site")
    for name in native_distributions():
        dist = metadata.distribution(name)
        for top in {file.parts[0] for file in dist.files or []}:
            if top.endswith(".dist-info") or top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            link = site / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))
    return site


@pytest.fixture(scope="session")
def image_python(tmp_path_factory: pytest.TempPathFactory, image_site: Path) -> Path:
    """``python3`` as on the image: stdlib + native packages only (what KVM_PYTHON points the init scripts at)."""
    wrapper = tmp_path_factory.mktemp("image-bin") / "python3"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH={image_site} exec {sys.executable} -S -P "$@"\n')
    wrapper.chmod(0o755)
    return wrapper
