"""Assemble the services for one board from the config: the one place that picks drivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from app.board.atx import Atx
from app.board.base import Board
from app.board.gadget import Gadget
from app.board.select import build_board
from app.board.system import CommandRunner
from app.board.video.h264 import EncoderKind
from app.config import Config
from app.paths import DeviceRoot, remove_stale_temp_files
from app.services.ai.service import AiControl
from app.services.audit import AuditLog
from app.services.auth.accounts import AccountStore
from app.services.auth.live import LiveConnections
from app.services.auth.service import AuthService
from app.services.device import DeviceService
from app.services.events import EventBus
from app.services.gpio_channels import open_channels
from app.services.hid.jiggler import Jiggler
from app.services.hid.paste import Paster
from app.services.hid.service import HidService
from app.services.hid.shortcuts import ShortcutStore
from app.services.kasm.screenshots import Screenshots
from app.services.kasm.users import KasmUsers
from app.services.kvmd import KvmdState
from app.services.media.images import ImageLibrary
from app.services.media.transfers import Transfers
from app.services.media.virtual import VirtualDevices
from app.services.network.dns import DnsService
from app.services.network.wifi import WifiService
from app.services.network.wol import WakeOnLan
from app.services.power import PowerService
from app.services.recording.recorder import Recorder
from app.services.system.input_region import InputRegions
from app.services.system.internal_token import InternalToken
from app.services.system.scripts import Scripts
from app.services.system.settings import DeviceSettings
from app.services.system.swap import Swap
from app.services.system.tailscale_control import TailscaleControl
from app.services.system.tls import Tls
from app.services.update import signing
from app.services.update.service import UpdateService
from app.services.video.capture import Capture
from app.services.video.h264 import H264Pipeline
from app.services.video.hdmi import Hdmi
from app.services.video.screen import ScreenSettings
from app.services.vnc.server import VncService
from app.sim.host import SimHost
from app.sim.input import SimInput

log = logging.getLogger(__name__)

# How often outside edits of /etc/kvm/pwd are picked up (NanoKVM re-validates every 5 s).
ACCOUNT_REFRESH_SECONDS = 5.0


@dataclass
class Services:
    config: Config
    root: DeviceRoot
    board: Board
    auth: AuthService
    atx: Atx
    power: PowerService
    device: DeviceService
    sim_host: SimHost | None
    bus: EventBus
    screen: ScreenSettings
    capture: Capture
    h264: H264Pipeline
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
    wol: WakeOnLan
    wifi: WifiService
    dns: DnsService
    tailscale: TailscaleControl
    updates: UpdateService
    vnc: VncService
    kvmd: KvmdState
    audit: AuditLog
    input_regions: InputRegions
    internal_token: InternalToken
    ai: AiControl
    screenshots: Screenshots
    kasm_users: KasmUsers
    recorder: Recorder

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background work for the app's lifetime."""
        self.bus.bind(asyncio.get_running_loop())
        self.board.start()
        self.hid.start()
        self.internal_token.ensure()
        refresher = asyncio.create_task(self._refresh_accounts())
        jiggler = asyncio.create_task(self.jiggler.run())
        await self.vnc.start()
        try:
            async with self.ai.running():
                yield
        finally:
            await self.recorder.shutdown()
            await self.vnc.stop()
            refresher.cancel()
            jiggler.cancel()
            self.h264.stop()
            await asyncio.to_thread(self.capture.stop)
            self.hid.stop()
            self.board.stop()
            await asyncio.to_thread(self.audit.close)

    async def _refresh_accounts(self) -> None:
        while True:
            await asyncio.sleep(ACCOUNT_REFRESH_SECONDS)
            try:
                await asyncio.to_thread(self.auth.store.refresh)
            except OSError:
                log.warning("cannot re-read the account store", exc_info=True)


def build_services(config: Config, root_path: Path, config_path: Path | None = None) -> Services:
    """``config_path``: the server.yaml the app was started with (on a board ``POST /api/vm/tls`` edits it;
    the sim board and None: the device's own ``/etc/kvm/server.yaml`` under the root)."""
    root = DeviceRoot(root_path)
    board = build_board(config, root)
    bus = EventBus()
    screen = ScreenSettings(root)
    capture = Capture(board.video, screen, bus, now_fps=root("/kvmapp/kvm/now_fps"))
    store = AccountStore(root("/etc/kvm/pwd"))
    for stale in remove_stale_temp_files(store.path):  # a kill -9 during an account write
        log.warning("removed %s, left by an interrupted account write", stale)
    store.refresh()  # first start: writes admin/admin (must change password)
    auth = AuthService(config, store)
    hid = HidService(board.hid_paths, bus)
    images = ImageLibrary(root, board.gadget, hid.detached)
    runner = board.runner
    paster = Paster(hid, config.hid.paste_delay_ms)
    live = LiveConnections(auth.sessions)
    power = PowerService(board.atx, config.gpio.max_press_ms)
    # A sandboxed board (sim) edits its device root's server.yaml, never the checkout's it was started with.
    tls = Tls(root, None if board.sandbox else config_path)
    h264 = _h264_pipeline(config, board, capture, screen, bus)
    vnc_port = config.vnc.port if config.vnc.enabled else None
    return Services(
        config=config,
        root=root,
        board=board,
        auth=auth,
        atx=board.atx,
        power=power,
        device=DeviceService(root, board.hardware, board.addresses),
        sim_host=board.sim_host,
        bus=bus,
        screen=screen,
        capture=capture,
        h264=h264,
        hdmi=Hdmi(root, capture),
        hid=hid,
        paster=paster,
        shortcuts=ShortcutStore(root),
        jiggler=Jiggler(root, hid),
        live=live,
        sim_input=board.sim_input,
        runner=runner,
        settings=DeviceSettings(root, runner),
        scripts=Scripts(root, runner),
        swap=Swap(root, runner),
        tls=tls,
        gadget=board.gadget,
        images=images,
        virtual=VirtualDevices(images),
        transfers=Transfers(root, board.own_address),
        wol=WakeOnLan(root, config.network.wol_address),
        wifi=WifiService(root, runner, board.wifi_timing, board.kvm_system),
        dns=DnsService(root, board.interface_info, board.fallback_interface),
        tailscale=TailscaleControl(root, runner, board.tailscale_installer),
        updates=_updates(config, root, runner),
        vnc=VncService(config, root, auth, capture, hid, paster, live, tls),
        kvmd=KvmdState.create(hid, power, open_channels(config.gpio, root, board)),
        audit=AuditLog(root("/etc/kvm/audit.jsonl")),
        input_regions=InputRegions(root),
        internal_token=InternalToken(root),
        ai=AiControl(root, hid, paster, capture, power, images, auth.tokens.authenticate),
        screenshots=Screenshots(capture),
        kasm_users=KasmUsers(auth),
        recorder=Recorder(root, capture, screen, h264.encoder_kind, vnc_port),
    )


def _h264_pipeline(
    config: Config, board: Board, capture: Capture, screen: ScreenSettings, bus: EventBus
) -> H264Pipeline:
    """The H.264 encoder: the config's, else NanoKVM's library when it is the source, else the board's
    hardware encoder (``h264_v4l2m2m`` on a Raspberry Pi 4), else libx264."""
    video = config.video
    default: EncoderKind = "v4l2m2m" if board.h264_encoder == "h264_v4l2m2m" else "x264"
    encoder: EncoderKind = video.encoder or ("libkvm" if video.source == "libkvm" else default)
    library = board.root(video.library) if encoder == "libkvm" else None
    return H264Pipeline(capture, screen, bus, encoder, library)


def _updates(config: Config, root: DeviceRoot, runner: CommandRunner) -> UpdateService:
    def restart() -> None:
        with contextlib.suppress(OSError):
            runner.run(["/etc/init.d/S95nanokvm", "restart"])

    keys = Path(config.update.keys) if config.update.keys else signing.SHIPPED_KEYS
    return UpdateService(root, config.update.url, keys, restart)
