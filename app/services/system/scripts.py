"""User scripts (``/etc/kvm/scripts``) and autostart files (``/etc/kvm/autostart``), spec 4.2.

A name is always one plain file name inside its directory: letters, digits, ``.``, ``_`` and ``-``,
not starting with a dot (so never ``..``, a hidden file or the temp files of an atomic write), at most
128 characters. Scripts also end in ``.sh`` or ``.py`` (any case, as NanoKVM). A script runs as an
argument vector, ``sh <path>`` or ``python3 <path>``, through the board's command runner; on the sim
board that runner records the request and executes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

from app.board.system import CommandRunner
from app.errors import Failed, InvalidArgument, NotFound
from app.paths import DeviceRoot, atomic_write

SCRIPTS = "/etc/kvm/scripts"
AUTOSTART = "/etc/kvm/autostart"
NAME_MAX = 128
FILE_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
SCRIPT_SUFFIXES = (".sh", ".py")
FOREGROUND_TIMEOUT = 120.0  # a foreground run answers the HTTP request; longer jobs belong in the background
MAX_SCRIPT_BYTES = 512 * 1024
MAX_AUTOSTART_BYTES = 256 * 1024


class Files(msgspec.Struct):
    files: list[str] | None  # NanoKVM answers null, not [], when there is nothing


def plain_name(name: str) -> bool:
    return len(name) <= NAME_MAX and FILE_NAME_RE.fullmatch(name) is not None


def script_name(name: str) -> bool:
    return plain_name(name) and name.lower().endswith(SCRIPT_SUFFIXES)


def _walk(directory: Path, scripts_only: bool = False) -> list[str] | None:
    """Base names of the files under ``directory`` (recursive, as NanoKVM's walk); OSError if it is missing."""
    if not directory.is_dir():
        raise FileNotFoundError(directory)
    names: list[str] = []
    for _, _, files in os.walk(directory):
        for name in files:
            if name.startswith("."):
                continue  # an atomic write in progress
            if scripts_only and not name.lower().endswith(SCRIPT_SUFFIXES):
                continue
            names.append(name)
    return sorted(names) or None


class Scripts:
    def __init__(self, root: DeviceRoot, runner: CommandRunner) -> None:
        self.root = root
        self.runner = runner

    # --- scripts ---------------------------------------------------------------------------

    def scripts(self) -> Files:
        try:
            return Files(_walk(self.root(SCRIPTS), scripts_only=True))
        except OSError:
            raise Failed("get scripts failed") from None

    def upload(self, name: str, data: bytes) -> str:
        if not script_name(name):
            raise InvalidArgument("invalid arguments: a script name is a plain file name ending in .sh or .py", code=-2)
        if len(data) > MAX_SCRIPT_BYTES:
            raise InvalidArgument(f"invalid arguments: a script is at most {MAX_SCRIPT_BYTES // 1024} kB", code=-2)
        try:
            atomic_write(self.root(f"{SCRIPTS}/{name}"), data, 0o744)  # NanoKVM adds the owner's exec bit
        except OSError:
            raise Failed("save failed", code=-2) from None
        return name

    def run(self, name: str, kind: str) -> str:
        if not script_name(name):
            raise InvalidArgument("invalid arguments: a script name is a plain file name ending in .sh or .py")
        if kind not in ("foreground", "background"):
            raise InvalidArgument("invalid arguments: type is foreground or background")
        if not self.root(f"{SCRIPTS}/{name}").is_file():
            raise NotFound("run script failed: no such script", code=-2)
        path = f"{SCRIPTS}/{name}"
        argv = ["python3", path] if name.lower().endswith(".py") else ["sh", path]
        try:
            if kind == "background":
                self.runner.spawn(argv)
                return ""
            result = self.runner.run(argv, timeout=FOREGROUND_TIMEOUT)
        except OSError as err:
            raise Failed(f"run script failed: {err.strerror or err}", code=-2) from None
        if not result.ok:
            raise Failed(f"run script failed: exit status {result.returncode}", code=-2)
        return result.output

    def delete(self, name: str) -> None:
        if not script_name(name):
            raise InvalidArgument("invalid arguments: a script name is a plain file name ending in .sh or .py")
        try:
            self.root(f"{SCRIPTS}/{name}").unlink()
        except OSError:
            raise Failed("delete failed", code=-3) from None

    # --- autostart -------------------------------------------------------------------------

    def autostart(self) -> Files:
        try:
            return Files(_walk(self.root(AUTOSTART)))
        except OSError:
            raise Failed("get autostart directory fail") from None

    def read_autostart(self, name: str) -> str:
        if not plain_name(name):
            raise InvalidArgument("read file fail: invalid name")
        try:
            return self.root(f"{AUTOSTART}/{name}").read_bytes().decode("utf-8", "replace")
        except OSError:
            raise Failed("read file fail") from None

    def write_autostart(self, name: str, content: str) -> str:
        if not plain_name(name):
            raise InvalidArgument("invalid arguments: a name is a plain file name")
        data = content.encode("utf-8")
        if len(data) > MAX_AUTOSTART_BYTES:
            raise InvalidArgument(f"invalid arguments: at most {MAX_AUTOSTART_BYTES // 1024} kB")
        try:
            atomic_write(self.root(f"{AUTOSTART}/{name}"), data, 0o755)
        except OSError:
            raise Failed("create file fail") from None
        return name

    def delete_autostart(self, name: str) -> None:
        if not plain_name(name):
            raise InvalidArgument("remove file fail: invalid name", code=-3)
        try:
            self.root(f"{AUTOSTART}/{name}").unlink()
        except OSError:
            raise Failed("remove file fail", code=-3) from None
