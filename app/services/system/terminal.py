"""What ``/api/vm/terminal`` talks to (spec 5.3): a shell in a PTY on a board (the sim board's stand-in
is ``app.sim.shell.SimShell``).

On a board each connection gets ``/bin/sh`` in its own pseudo-terminal, in a new session with the PTY
as its controlling terminal (so Ctrl-C reaches the foreground job and job control works). Output is
read in chunks of at most 1024 bytes; when the client reads slower than the shell writes, reading
pauses (the shell then blocks on a full PTY) instead of queueing without bound. Closing hangs up the
session (SIGHUP to its process group, SIGKILL if it lingers).

The sim board must never open a shell on the machine running it, so its board gives ``SimShell``
instead: an in-process line editor that answers a handful of commands and executes nothing at all.
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
