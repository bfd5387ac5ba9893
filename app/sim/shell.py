"""The sim board's terminal (spec 5.3): never a shell on the machine running the sim board."""

from __future__ import annotations

import asyncio
import time

from app.services.system.terminal import CHUNK


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
