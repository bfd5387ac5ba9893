"""One board: every driver and runner the app uses on it, built once from the config.

Each board kind is one module (``sim``, ``nanokvm``, ``rpi4``) with a ``build(config, root)`` that
fills a ``Board``; ``app.board.select`` picks the module by ``config.board``. Nothing outside those
modules asks which board it runs on: a difference between boards is a field here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.board.atx import Atx
from app.board.gadget import Gadget
from app.board.hid import HidPaths
from app.board.network import Address, is_own_address
from app.board.system import CommandRunner
from app.board.video import FrameSource, NoSignal
from app.config import Video
from app.paths import DeviceRoot

if TYPE_CHECKING:  # the services' own types, named here only for the checker
    from app.services.network.wifi import Timing
    from app.services.system.terminal import Terminal
    from app.sim.host import SimHost
    from app.sim.input import SimInput

# The USB gadget's HID nodes on a board (the keyboard's LED answers come back on /dev/hidg0 itself).
HID_PATHS = HidPaths(Path("/dev/hidg0"), Path("/dev/hidg1"), Path("/dev/hidg2"), Path("/dev/hidg0"))


@dataclass
class Board:
    kind: str
    root: DeviceRoot
    hardware: str  # NanoKVM's hardware version (/etc/kvm/hw), as /api/vm/info reports it
    atx: Atx
    hid_paths: HidPaths  # already resolved under the root
    gadget: Gadget
    runner: CommandRunner
    addresses: Callable[[], list[Address] | None]  # the IPv4 addresses /api/vm/info lists
    interface_info: Callable[[str], tuple[str, str]]  # (address/prefix, netmask) of an interface
    fallback_interface: Callable[[], str]  # the interface DNS reports when no default route says
    video: Callable[[], FrameSource]  # opens the configured video source (on the capture thread)
    shell: Callable[[], Terminal]  # what /api/vm/terminal talks to
    tailscale_installer: Callable[[DeviceRoot], None]
    wifi_timing: Timing
    kvm_system: Callable[[DeviceRoot], None] | None = None  # a stand-in for kvm_system's Wi-Fi side
    restarts_itself: bool = True  # whether "S95nanokvm restart" restarts this app
    sandbox: bool = False  # the device root is a tree the app filled itself (deleting it starts afresh)
    h264_encoder: str = ""  # the FFmpeg/PyAV encoder a hardware H.264 stream would use ("" = software)
    sim_host: SimHost | None = None  # the simulated PC, on the sim board only
    sim_input: SimInput | None = None
    own_address: Callable[[str], bool] = is_own_address  # an address of the board's (downloads refuse them)
    _start: list[Callable[[], None]] = field(default_factory=list)
    _stop: list[Callable[[], None]] = field(default_factory=list)

    def on_start(self, start: Callable[[], None], stop: Callable[[], None]) -> None:
        """Background work of the board's own (the sim PC), started with the app, stopped in reverse."""
        self._start.append(start)
        self._stop.insert(0, stop)

    def start(self) -> None:
        for start in self._start:
            start()

    def stop(self) -> None:
        for stop in self._stop:
            stop()
        self.atx.close()


def hardware_video(video: Video, root: DeviceRoot) -> Callable[[], FrameSource]:
    """How the capture loop opens a real board's source; the drivers are imported only when it first does."""
    kind = video.source or "v4l2"

    def open_source() -> FrameSource:
        if kind == "file":
            from app.board.video.file import FileSource

            return FileSource(Path(video.file))
        if kind == "libkvm":
            from app.board.video.libkvm import LibKvmSource

            return LibKvmSource(root(video.library))
        if kind != "v4l2":
            raise NoSignal(-1, f"video source {kind} needs board: {kind}")
        from app.board.video.v4l2 import V4l2Source

        return V4l2Source(root(video.device), video.format, video.width, video.height)

    return open_source


def pty_shell() -> Terminal:
    from app.services.system.terminal import PtyShell

    return PtyShell()
