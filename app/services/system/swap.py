"""Swap file and memory limit (spec 4.2, 8).

Swap: ``/swapfile`` of N MB made with ``fallocate``/``chmod``/``mkswap``/``swapon`` (argument vectors
through the board's runner; on the sim board the runner creates a sparse file and a ``/proc/swaps``
line in the device root), plus NanoKVM's ``si11::sysinit:/sbin/swapon /swapfile`` line in
``/etc/inittab`` so it comes back after a reboot. 0 MB turns it off and removes both.

Memory limit: NanoKVM stores a Go soft memory limit (GOMEMLIMIT, MB) in ``/etc/kvm/GOMEMLIMIT``. A
Python process has no equivalent: a hard ``RLIMIT_AS`` would make the app fail allocations (and die)
instead of collecting harder, and its address space (thread stacks, OpenCV, mmap'd buffers) is far
larger than its resident memory. So the value is kept in the same file, in the same format, for the
settings page and for a Go server sharing the image, and this app does not apply it.
"""

from __future__ import annotations

import threading

import msgspec

from app.board.system import CommandRunner
from app.errors import Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text

SWAPFILE = "/swapfile"
INITTAB = "/etc/inittab"
INITTAB_LINE = f"si11::sysinit:/sbin/swapon {SWAPFILE}"
PROC_SWAPS = "/proc/swaps"
MAX_SWAP_MB = 8192
MIB = 1 << 20
SWAP_COMMAND_TIMEOUT = 300.0  # fallocate/mkswap of a large file on an SD card

MEMORY_LIMIT_FILE = "/etc/kvm/GOMEMLIMIT"
MAX_MEMORY_LIMIT_MB = 1 << 20


class SwapSize(msgspec.Struct):
    size: int


class MemoryLimit(msgspec.Struct):
    enabled: bool
    limit: int = 0


class Swap:
    def __init__(self, root: DeviceRoot, runner: CommandRunner) -> None:
        self.root = root
        self.runner = runner
        self._lock = threading.Lock()  # one change at a time: two requests must not interleave commands

    def size(self) -> int:
        try:
            return self.root(SWAPFILE).stat().st_size // MIB
        except OSError:
            return 0

    def set_size(self, size: int) -> None:
        if not 0 <= size <= MAX_SWAP_MB:
            raise InvalidArgument(f"invalid arguments: size is 0 (off) to {MAX_SWAP_MB} MB")
        with self._lock:
            if size == self.size():
                return
            if size == 0:
                if not self._disable():
                    raise Failed("disable swap failed", code=-2)
                if not self._inittab(False):
                    raise Failed("disable inittab failed", code=-3)
                return
            if not self._enable(size):
                raise Failed("enable swap failed", code=-4)
            if not self._inittab(True):
                raise Failed("enable inittab failed", code=-5)

    def _run(self, *argv: str) -> bool:
        try:
            return self.runner.run(argv, timeout=SWAP_COMMAND_TIMEOUT).ok
        except OSError:
            return False

    def _active(self) -> bool:
        lines = read_text(self.root(PROC_SWAPS)).splitlines()[1:]
        return any(line.split()[:1] == [SWAPFILE] for line in lines)

    def _disable(self) -> bool:
        path = self.root(SWAPFILE)
        if not path.exists():
            return True
        # swapoff fails on a file that is not in use (after a reboot without the inittab line); deleting
        # it is still right.
        if self._active() and not self._run("swapoff", SWAPFILE):
            return False
        try:
            path.unlink()
        except OSError:
            return False
        return True

    def _enable(self, size: int) -> bool:
        if not self._disable():
            return False
        steps = (
            ("fallocate", "-l", f"{size}M", SWAPFILE),
            ("chmod", "600", SWAPFILE),
            ("mkswap", SWAPFILE),
            ("swapon", SWAPFILE),
        )
        for argv in steps:
            if not self._run(*argv):
                if not self._active():  # leave no half-made file behind
                    self.root(SWAPFILE).unlink(missing_ok=True)
                return False
        return True

    def _inittab(self, enabled: bool) -> bool:
        path = self.root(INITTAB)
        try:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            lines = [line for line in text.splitlines() if not line.rstrip().endswith(f" {SWAPFILE}")]
            if enabled:
                lines.append(INITTAB_LINE)
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            atomic_write(path, ("\n".join(lines) + "\n").encode(), mode)
        except (OSError, UnicodeDecodeError):
            return False
        return True

    # --- memory limit ----------------------------------------------------------------------

    def memory_limit(self) -> MemoryLimit:
        path = self.root(MEMORY_LIMIT_FILE)
        if not path.exists():
            return MemoryLimit(False, 0)
        text = read_text(path)
        if not text.isdigit():
            raise Failed("failed to get memory limit")
        return MemoryLimit(True, int(text))

    def set_memory_limit(self, limit: MemoryLimit) -> None:
        path = self.root(MEMORY_LIMIT_FILE)
        if limit.enabled and not 1 <= limit.limit <= MAX_MEMORY_LIMIT_MB:
            raise InvalidArgument(f"invalid arguments: limit is 1 to {MAX_MEMORY_LIMIT_MB} MB")
        try:
            if limit.enabled:
                atomic_write(path, f"{limit.limit}".encode())
            else:
                path.unlink(missing_ok=True)
        except OSError:
            raise Failed("failed to set memory limit", code=-2) from None
