"""System commands, behind one runner: argument vectors only, timeouts, output captured.

On a board the runner executes the command. The sim board's runner never executes anything: it
emulates each command's effect inside the device root (an SSH flag file, the mDNS pid file, a
power cycle of the sim host for ``reboot``) and records what was asked, so a laptop running the sim
board, and every test, is never touched.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.paths import DeviceRoot, atomic_write


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    def run(self, argv: Sequence[str], timeout: float = 30.0, stdin: bytes | None = None) -> Result:
        """Run ``argv`` (never a shell string). FileNotFoundError if the program does not exist."""
        ...

    def spawn(self, argv: Sequence[str]) -> None:
        """Start ``argv`` detached, output discarded, and return at once. FileNotFoundError as ``run``."""
        ...


class BoardRunner:
    def run(self, argv: Sequence[str], timeout: float = 30.0, stdin: bytes | None = None) -> Result:
        if isinstance(argv, str):
            raise TypeError("commands are argument lists, never strings")
        try:
            done = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"") + (err.stderr or b"")
            return Result(124, output.decode("utf-8", "replace") + "\ntimed out")
        return Result(done.returncode, (done.stdout + done.stderr).decode("utf-8", "replace"))

    def spawn(self, argv: Sequence[str]) -> None:
        if isinstance(argv, str):
            raise TypeError("commands are argument lists, never strings")
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not ended with the app's process group
        )
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


class SimRunner:
    """Emulates the board's commands in the device root; anything unknown is 'not installed'."""

    def __init__(self, root: DeviceRoot, on_reboot: Callable[[], None]) -> None:
        self.root = root
        self.on_reboot = on_reboot
        self.history: list[tuple[str, ...]] = []
        self._lock = threading.Lock()
        self._effects: dict[tuple[str, ...], Callable[[], None]] = {
            ("/etc/init.d/S50sshd", "permanent_on"): lambda: self._remove("/etc/kvm/ssh_stop"),
            ("/etc/init.d/S50sshd", "permanent_off"): lambda: self._touch("/etc/kvm/ssh_stop"),
            ("/etc/init.d/S50avahi-daemon", "start"): lambda: self._write("/run/avahi-daemon/pid", "4242\n"),
            ("/etc/init.d/S50avahi-daemon", "stop"): lambda: self._remove("/run/avahi-daemon/pid"),
            ("hostname", "-F", "/etc/hostname"): lambda: None,
            ("reboot",): self.on_reboot,
            ("chmod", "600", "/swapfile"): lambda: self.root("/swapfile").chmod(0o600),
            ("mkswap", "/swapfile"): lambda: None,
            ("swapon", "/swapfile"): lambda: self._swaps(True),
            ("swapoff", "/swapfile"): lambda: self._swaps(False),
            ("/etc/init.d/S95nanokvm", "restart"): lambda: None,  # the sim board does not restart the app
            ("/etc/init.d/S30wifi", "stop"): lambda: self._write("/kvmapp/kvm/wifi_state", "0\n"),
        }
        # Commands whose arguments vary: each answers a Result, or None when the command is not its own.
        self._patterns: list[Callable[[tuple[str, ...]], Result | None]] = [self._user_script, self._fallocate]

    def emulate(self, pattern: Callable[[tuple[str, ...]], Result | None]) -> None:
        """Emulate more commands: a feature's own stand-in answers the commands it knows (else None)."""
        self._patterns.append(pattern)

    def _touch(self, path: str) -> None:
        atomic_write(self.root(path), b"")

    def _write(self, path: str, text: str) -> None:
        atomic_write(self.root(path), text.encode())

    def _remove(self, path: str) -> None:
        self.root(path).unlink(missing_ok=True)

    def _swaps(self, on: bool) -> None:
        """The sim's /proc/swaps: a line for /swapfile while it is swapped on."""
        header = "Filename\tType\tSize\tUsed\tPriority\n"
        size = self.root("/swapfile").stat().st_size // 1024 if on else 0
        self._write("/proc/swaps", header + (f"/swapfile\tfile\t{size}\t0\t-2\n" if on else ""))

    def _fallocate(self, command: tuple[str, ...]) -> Result | None:
        """``fallocate -l <N>M /swapfile``: a sparse file of that size in the root."""
        if len(command) != 4 or command[:2] != ("fallocate", "-l") or command[3] != "/swapfile":
            return None
        megabytes = command[2].removesuffix("M")
        if not megabytes.isdigit():
            return Result(1, f"fallocate: invalid length value specified: {command[2]}\n")
        with self.root("/swapfile").open("wb") as swapfile:
            swapfile.truncate(int(megabytes) << 20)
        return Result(0, "")

    def run(self, argv: Sequence[str], timeout: float = 30.0, stdin: bytes | None = None) -> Result:
        if isinstance(argv, str):
            raise TypeError("commands are argument lists, never strings")
        command = tuple(argv)
        with self._lock:
            self.history.append(command)
        effect = self._effects.get(command)
        if effect is not None:
            effect()
            return Result(0, "")
        for pattern in self._patterns:
            result = pattern(command)
            if result is not None:
                return result
        raise FileNotFoundError(command[0])

    def spawn(self, argv: Sequence[str]) -> None:
        self.run(argv)

    def _user_script(self, command: tuple[str, ...]) -> Result | None:
        """``sh``/``python3`` on a file in /etc/kvm/scripts: recorded, never executed."""
        prefix = "/etc/kvm/scripts/"
        if len(command) != 2 or command[0] not in ("sh", "python3") or not command[1].startswith(prefix):
            return None
        if "/" in command[1][len(prefix) :]:
            return None
        return Result(0, f"[sim board] {command[1]} was not executed on the sim board (the request is recorded)\n")
