"""What ``/api/vm/terminal`` talks to (spec 5.3): a shell in a PTY on a board, a stand-in on the sim board.

On a board each connection gets ``/bin/sh`` in its own pseudo-terminal, in a new session with the PTY
as its controlling terminal (so Ctrl-C reaches the foreground job and job control works). Output is
read in chunks of at most 1024 bytes; when the client reads slower than the shell writes, reading
pauses (the shell then blocks on a full PTY) instead of queueing without bound. Closing hangs up the
session (SIGHUP to its process group, SIGKILL if it lingers).

The sim board must never open a shell on the machine running it, so it gets ``SimShell``: an
in-process line editor that answers a handful of commands and executes nothing at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

CHUNK = 1024
QUEUE_CHUNKS = 64
HANGUP_GRACE = 1.0
MAX_SIZE = 1000  # rows or columns
SHELL = ("/bin/sh",)


class Terminal(Protocol):
    async def start(self) -> None: ...

    async def write(self, data: bytes) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    async def read(self) -> bytes:
        """The next output, at most 1024 bytes; b"" once the shell has ended."""
        ...

    async def close(self) -> None: ...


def _controlling_tty() -> None:  # pragma: no cover - runs in the child between fork and exec
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class PtyShell:
    def __init__(self, argv: Sequence[str] = SHELL, env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.env = env if env is not None else {**os.environ, "TERM": "xterm-256color"}
        self._master = -1
        self._process: subprocess.Popen[bytes] | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._paused = False
        self._ended = False

    async def start(self) -> None:
        self._master = await asyncio.to_thread(self._spawn)
        asyncio.get_running_loop().add_reader(self._master, self._readable)

    def _spawn(self) -> int:
        home = self.env.get("HOME", "/")
        master, slave = os.openpty()
        try:
            self._process = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=self.env,
                cwd=home if Path(home).is_dir() else "/",
                start_new_session=True,
                preexec_fn=_controlling_tty,  # one ioctl: the PTY becomes the session's controlling terminal
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return master

    def _readable(self) -> None:
        try:
            data = os.read(self._master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the shell and everything on its terminal have gone
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._master)
            self._ended = True
        self._queue.put_nowait(data)
        if self._queue.qsize() >= QUEUE_CHUNKS and not self._ended:
            asyncio.get_running_loop().remove_reader(self._master)  # the client is slow: let the PTY fill
            self._paused = True

    async def read(self) -> bytes:
        data = await self._queue.get()
        if self._paused and self._queue.qsize() < QUEUE_CHUNKS // 2:
            self._paused = False
            asyncio.get_running_loop().add_reader(self._master, self._readable)
        return data

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view and not self._ended:
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self._master, ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_writer(self._master)
            except OSError:
                return

    def resize(self, rows: int, cols: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    async def close(self) -> None:
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGHUP)
            try:
                await asyncio.to_thread(process.wait, HANGUP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1


class SimShell:
    """The sim board's terminal: echoes, edits a line, answers a few commands, runs nothing."""

    PROMPT = "sim$ "
    MAX_LINE = 4096
    HELP = (
        "This is the sim board's stand-in for the device shell: nothing typed here runs anywhere.\r\n"
        "Commands: help, uptime, size (or stty size), echo TEXT, hostname, clear, exit.\r\n"
    )

    def __init__(self, hostname: str = "kvm-sim") -> None:
        self.hostname = hostname
        self.rows, self.cols = 24, 80
        self._started = time.monotonic()
        self._line: list[str] = []
        self._escape = ""
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._ended = False

    def _out(self, text: str) -> None:
        data = text.encode()
        for start in range(0, len(data), CHUNK):
            self._queue.put_nowait(data[start : start + CHUNK])

    def _end(self) -> None:
        self._ended = True
        self._queue.put_nowait(b"")

    async def start(self) -> None:
        self._out(f"NanoKVM sim board terminal. Type 'help'.\r\n{self.PROMPT}")

    async def read(self) -> bytes:
        return await self._queue.get()

    def resize(self, rows: int, cols: int) -> None:
        self.rows, self.cols = rows, cols

    async def close(self) -> None:
        self._ended = True

    async def write(self, data: bytes) -> None:
        for char in data.decode("utf-8", "replace"):
            if self._ended:
                return
            self._key(char)

    def _key(self, char: str) -> None:
        if self._escape:  # skip ESC [ ... final byte (arrow keys and the like)
            self._escape += char
            if len(self._escape) > 1 and (char.isalpha() or char == "~" or len(self._escape) > 16):
                self._escape = ""
            return
        if char == "\x1b":
            self._escape = char
        elif char in "\r\n":
            line = "".join(self._line)
            self._line.clear()
            self._out("\r\n")
            self._command(line.strip())
            if not self._ended:
                self._out(self.PROMPT)
        elif char in "\x7f\b":
            if self._line:
                self._line.pop()
                self._out("\b \b")
        elif char == "\x03":
            self._line.clear()
            self._out(f"^C\r\n{self.PROMPT}")
        elif char == "\x04":
            if not self._line:
                self._out("exit\r\n")
                self._end()
        elif char.isprintable() and len(self._line) < self.MAX_LINE:
            self._line.append(char)
            self._out(char)

    def _command(self, line: str) -> None:
        name, _, rest = line.partition(" ")
        if not name:
            return
        if name == "help":
            self._out(self.HELP)
        elif name == "uptime":
            self._out(f"up {int(time.monotonic() - self._started)} s (this terminal)\r\n")
        elif line in ("size", "stty size"):
            self._out(f"{self.rows} {self.cols}\r\n")
        elif name == "echo":
            self._out(f"{rest}\r\n")
        elif name == "hostname":
            self._out(f"{self.hostname}\r\n")
        elif name == "clear":
            self._out("\x1b[2J\x1b[H")
        elif name in ("exit", "logout"):
            self._end()
        else:
            self._out(f"sim: {name[:64]}: not available on the sim board (nothing runs here)\r\n")
