"""Build the libkvm.so stand-in (tests/libkvm_standin.c) with gcc, and write its scripts."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("libkvm_standin.c")


def build_standin(directory: Path) -> Path:
    """Compile the stand-in into ``directory``; without gcc: a skip, or a failure under CI=true."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        if os.environ.get("CI") == "true":
            pytest.fail("gcc is needed to build the libkvm stand-in (apt-get install gcc)")
        pytest.skip("no gcc: cannot build the libkvm stand-in")
    directory.mkdir(parents=True, exist_ok=True)
    library = directory / "libkvm.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-o", str(library), str(SOURCE), "-lpthread"], check=True)
    return library


def script(records: list[tuple[int, bytes]]) -> bytes:
    """KVM_STANDIN_SCRIPT's format: [int32 result][uint32 size][bytes] per record."""
    return b"".join(struct.pack("<iI", result, len(data)) + data for result, data in records)
