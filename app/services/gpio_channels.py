"""Extra GPIO channels (``gpio.channels`` in server.yaml) beside the ATX lines, for kvmd's ``/api/gpio``.

Each is one line opened with the ATX lines' driver and spec: an input reads its state, an output is
switched (held) or pulsed (on for a delay, then off). A line that cannot be opened at start leaves its
channel offline rather than stopping the app. One operation per output at a time: a second answers
busy, as kvmd's channels do. Line reads and writes are blocking I/O and run in threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from app.board.base import Board
from app.board.gpio import GpioLine, open_line
from app.config import Gpio, GpioChannel
from app.errors import Busy, Conflict, InvalidArgument, NotFound
from app.paths import DeviceRoot

log = logging.getLogger(__name__)

MIN_PULSE = 0.1  # kvmd's min_delay

Opener = Callable[[str, bool], GpioLine]  # (line spec, output) -> an open line


@dataclass
class Channel:
    settings: GpioChannel
    line: GpioLine | None  # None: offline (the line could not be opened)
    state: bool = False  # what an output was last set to
    busy: bool = False

    @property
    def output(self) -> bool:
        return self.settings.mode == "output"


class GpioChannels:
    def __init__(self, settings: list[GpioChannel], opener: Opener) -> None:
        self._channels: dict[str, Channel] = {}
        self._background: set[asyncio.Task[None]] = set()
        for setting in settings:
            try:
                line: GpioLine | None = opener(setting.line, setting.mode == "output")
            except (OSError, ValueError) as err:
                log.warning("GPIO channel %s (%s) is offline: %s", setting.name, setting.line, err)
                line = None
            self._channels[setting.name] = Channel(setting, line)
        for channel in self._channels.values():
            if channel.output and channel.line is not None:
                try:
                    self._write_now(channel, False)  # a known level from the start
                except OSError as err:
                    log.warning("GPIO channel %s is offline: %s", channel.settings.name, err)
                    channel.line = None

    def names(self) -> list[str]:
        return list(self._channels)

    def close(self) -> None:
        for channel in self._channels.values():
            if channel.line is not None:
                channel.line.close()

    # --- state ------------------------------------------------------------------------------

    def _read(self, channel: Channel) -> bool:
        if channel.line is None:
            return False
        try:
            return channel.line.read() != channel.settings.inverted
        except OSError:
            return False

    def state(self) -> dict[str, dict[str, Any]]:
        """kvmd's ``inputs``/``outputs`` entries (blocking: reads the input lines)."""
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for name, channel in self._channels.items():
            online = channel.line is not None
            if channel.output:
                outputs[name] = {"online": online, "state": channel.state, "busy": channel.busy}
            else:
                inputs[name] = {"online": online, "state": self._read(channel)}
        return {"inputs": inputs, "outputs": outputs}

    def scheme(self) -> dict[str, dict[str, Any]]:
        """kvmd's ``gpio_model`` scheme entries."""
        inputs: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        for name, channel in self._channels.items():
            hw = {"driver": "gpio", "pin": channel.settings.line}
            if not channel.output:
                inputs[name] = {"hw": hw}
                continue
            settings = channel.settings
            pulse = {"delay": settings.pulse_delay, "min_delay": MIN_PULSE, "max_delay": settings.max_pulse_delay}
            outputs[name] = {"switch": settings.switch, "pulse": pulse, "hw": hw}
        return {"inputs": inputs, "outputs": outputs}

    # --- operations -------------------------------------------------------------------------

    def _output(self, name: str) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            raise NotFound(f"Unknown GPIO channel {name!r}")
        if not channel.output:
            raise Conflict(f"GPIO channel {name!r} is an input")
        if channel.line is None:
            raise Conflict(f"GPIO channel {name!r} is offline")
        if channel.busy:
            raise Busy(f"GPIO channel {name!r} is busy")
        return channel

    def _write_now(self, channel: Channel, state: bool) -> None:
        assert channel.line is not None
        channel.line.write(state != channel.settings.inverted)
        channel.state = state

    async def _write(self, channel: Channel, state: bool) -> None:
        await asyncio.to_thread(self._write_now, channel, state)

    async def switch(self, name: str, state: bool, wait: bool) -> None:
        channel = self._output(name)
        if not channel.settings.switch:
            raise Conflict(f"GPIO channel {name!r} does not support switching")
        await self._run(channel, self._write(channel, state), wait)

    async def pulse(self, name: str, delay: float | None, wait: bool) -> None:
        """On for ``delay`` seconds (None or 0: the channel's own), then off."""
        channel = self._output(name)
        settings = channel.settings
        if not settings.pulse_delay:
            raise Conflict(f"GPIO channel {name!r} does not support pulses")
        seconds = delay or settings.pulse_delay
        if not MIN_PULSE <= seconds <= settings.max_pulse_delay:
            raise InvalidArgument(f"delay must be between {MIN_PULSE} and {settings.max_pulse_delay} s")
        await self._run(channel, self._pulse(channel, seconds), wait)

    async def _pulse(self, channel: Channel, seconds: float) -> None:
        await self._write(channel, True)
        try:
            await asyncio.sleep(seconds)
        finally:
            await asyncio.shield(self._write(channel, False))  # never left on, even if cancelled

    async def _run(self, channel: Channel, work: Coroutine[Any, Any, None], wait: bool) -> None:
        """The operation to its end, whether the client waits for it or not (then in the background)."""
        channel.busy = True

        async def guarded() -> None:
            try:
                await work
            finally:
                channel.busy = False

        task = asyncio.create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if wait:
            await asyncio.shield(task)  # a client that goes away does not cut a pulse short


def open_channels(settings: Gpio, root: DeviceRoot, board: Board) -> GpioChannels:
    """The configured channels on the ATX lines' driver, closed when the board stops."""
    channels = GpioChannels(settings.channels, lambda spec, output: open_line(settings.driver, root, spec, output))
    board.on_start(lambda: None, channels.close)
    return channels
