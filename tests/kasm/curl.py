"""Run the real curl, as the seeds' examples do, and read back status and body."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def curl(*args: str) -> Answer:
    """``curl <args>`` with the body to a file and the status printed (``-s -o -w``); nothing else added."""
    binary = shutil.which("curl")
    assert binary is not None, "curl is not installed"
    with tempfile.NamedTemporaryFile() as out:
        done = subprocess.run(
            [binary, "-s", "-o", out.name, "-w", "%{http_code}", *args],
            capture_output=True,
            timeout=60,
            check=True,
        )
        return Answer(int(done.stdout), Path(out.name).read_bytes())
