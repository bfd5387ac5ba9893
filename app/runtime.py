"""Assemble the services for one board from the config: the one place that picks drivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from app.board import network
from app.board.atx import Atx, hardware_version, pins_for
from app.board.gadget import Gadget
from app.board.gpio import sysfs_number
from app.board.hid import HidPaths
from app.board.system import BoardRunner, CommandRunner, SimRunner
from app.board.video import FrameSource, NoSignal
from app.config import Config
from app.paths import DeviceRoot
from app.services.auth.accounts import AccountStore
from app.services.auth.live import LiveConnections
from app.services.auth.service import AuthService
from app.services.device import DeviceService
from app.services.events import EventBus
from app.services.hid.jiggler import Jiggler
from app.services.hid.paste import Paster
from app.services.hid.service import HidService
from app.services.hid.shortcuts import ShortcutStore
from app.services.media.hostview import host_view
from app.services.media.images import ImageLibrary
from app.services.media.transfers import Transfers
from app.services.media.virtual import VirtualDevices
from app.services.power import PowerService
from app.services.system.scripts import Scripts
from app.services.system.settings import DeviceSettings
from app.services.system.swap import Swap
from app.services.system.tls import Tls
from app.services.video.capture import Capture
from app.services.video.hdmi import Hdmi
from app.services.video.screen import ScreenSettings
from app.sim.host import SimHost
from app.sim.input import SimInput
from app.sim.state import prepare_sim_root

log = logging.getLogger(__name__)

# How often outside edits of /etc/kvm/pwd are picked up (NanoKVM re-validates every 5 s).
ACCOUNT_REFRESH_SECONDS = 5.0

# The gadget's HID nodes; the sim board's are FIFOs, with a second one for the LED answers.
HID_PATHS_BOARD = HidPaths(Path("/dev/hidg0"), Path("/dev/hidg1"), Path("/dev/hidg2"), Path("/dev/hidg0"))
HID_PATHS_SIM = HidPaths(Path("/dev/hidg0"), Path("/dev/hidg1"), Path("/dev/hidg2"), Path("/dev/hidg0-leds"))


@dataclass
class Services:
    config: Config
    root: DeviceRoot
    auth: AuthService
    atx: Atx
    power: PowerService
    device: DeviceService
    sim_host: SimHost | None
    bus: EventBus
    screen: ScreenSettings
    capture: Capture
    hdmi: Hdmi
    hid: HidService
    paster: Paster
    shortcuts: ShortcutStore
    jiggler: Jiggler
    live: LiveConnections
    sim_input: SimInput | None
    runner: CommandRunner
    settings: DeviceSettings
    scripts: Scripts
    swap: Swap
    tls: Tls
    gadget: Gadget
    images: ImageLibrary
    virtual: VirtualDevices
    transfers: Transfers

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background work for the app's lifetime."""
        self.bus.bind(asyncio.get_running_loop())
        if self.sim_host is not None:
            self.sim_host.start()
        if self.sim_input is not None:
            self.sim_input.start()
        self.hid.start()
        refresher = asyncio.create_task(self._refresh_accounts())
        jiggler = asyncio.create_task(self.jiggler.run())
        try:
            yield
        finally:
            refresher.cancel()
            jiggler.cancel()
            await asyncio.to_thread(self.capture.stop)
            self.hid.stop()
            if self.sim_input is not None:
                self.sim_input.stop()
            if self.sim_host is not None:
                self.sim_host.stop()
            self.atx.close()

    async def _refresh_accounts(self) -> None:
        while True:
            await asyncio.sleep(ACCOUNT_REFRESH_SECONDS)
            try:
                await asyncio.to_thread(self.auth.store.refresh)
            except OSError:
                log.warning("cannot re-read the account store", exc_info=True)


def build_services(config: Config, root_path: Path, config_path: Path | None = None) -> Services:
    """``config_path``: the server.yaml the app was started with (``POST /api/vm/tls`` edits it); None =
    the device's own ``/etc/kvm/server.yaml`` under the root, as on a board."""
    root = DeviceRoot(root_path)
    sim = config.board == "sim"
    hardware = hardware_version(root)
    sim_host = None
    sim_input = None
    hid_paths = HID_PATHS_SIM if sim else HID_PATHS_BOARD
    hid_paths = HidPaths(*(root(str(path)) for path in hid_paths))
    if sim:
        pins = pins_for(config.gpio, hardware)
        prepare_sim_root(root, pins, hid_paths)
        hardware = hardware_version(root)

        def led(spec: str) -> Path | None:
            return root(f"/sys/class/gpio/gpio{sysfs_number(root, spec)}/value") if spec else None

        sim_host = SimHost(power_led=led(pins.power_led) or root("/dev/null"), hdd_led=led(pins.hdd_led))
        sim_input = SimInput(sim_host, hid_paths, usb_view=lambda: host_view(root))
    atx = Atx(root, config.gpio, hardware, on_button=sim_host.button if sim_host else None)
    bus = EventBus()
    screen = ScreenSettings(root)
    capture = Capture(_video_source(config, root, sim_input), screen, bus, now_fps=root("/kvmapp/kvm/now_fps"))
    store = AccountStore(root("/etc/kvm/pwd"))
    store.refresh()  # first start: writes admin/admin (must change password)
    auth = AuthService(config, store)
    hid = HidService(hid_paths, bus)
    gadget = Gadget(root, rebind_delay=0.1 if sim else 1.0)
    if sim:  # on a board the init script has built it (python -m app gadget start)
        gadget.start()
    images = ImageLibrary(root, gadget, hid.detached)
    runner: CommandRunner = BoardRunner() if sim_host is None else SimRunner(root, _power_cycle(sim_host))
    return Services(
        config=config,
        root=root,
        auth=auth,
        atx=atx,
        power=PowerService(atx, config.gpio.max_press_ms),
        device=DeviceService(root, hardware, network.sim_addresses if sim else network.board_addresses),
        sim_host=sim_host,
        bus=bus,
        screen=screen,
        capture=capture,
        hdmi=Hdmi(root, capture),
        hid=hid,
        paster=Paster(hid, config.hid.paste_delay_ms),
        shortcuts=ShortcutStore(root),
        jiggler=Jiggler(root, hid),
        live=LiveConnections(auth.sessions),
        sim_input=sim_input,
        runner=runner,
        settings=DeviceSettings(root, runner),
        scripts=Scripts(root, runner),
        swap=Swap(root, runner),
        tls=Tls(root, config_path),
        gadget=gadget,
        images=images,
        virtual=VirtualDevices(images),
        transfers=Transfers(root),
    )


def _power_cycle(host: SimHost) -> Callable[[], None]:
    """What ``reboot`` does on the sim board: the simulated PC restarts (the laptop does not)."""

    def reset() -> None:
        host.button("reset", True)
        host.button("reset", False)

    return reset


def _video_source(config: Config, root: DeviceRoot, sim: SimInput | None) -> Callable[[], FrameSource]:
    """How the capture loop opens its source; the drivers are imported only when it first does."""
    video = config.video
    kind = video.source or ("sim" if sim is not None else "v4l2")

    def open_source() -> FrameSource:
        if kind == "sim":
            if sim is None:
                raise NoSignal(-1, "video source sim needs board: sim")
            from app.sim.screen import SimScreenSource

            return SimScreenSource(sim.host, video.width, video.height, sim)
        if kind == "file":
            from app.board.video.file import FileSource

            return FileSource(Path(video.file))
        from app.board.video.v4l2 import V4l2Source

        return V4l2Source(root(video.device), video.format, video.width, video.height)

    return open_source
