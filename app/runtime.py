"""Assemble the services for one board from the config: the one place that picks drivers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from app.board import network
from app.board.atx import Atx, hardware_version, pins_for
from app.board.gpio import sysfs_number
from app.config import Config
from app.paths import DeviceRoot
from app.services.auth.accounts import AccountStore
from app.services.auth.service import AuthService
from app.services.device import DeviceService
from app.services.power import PowerService
from app.sim.host import SimHost
from app.sim.state import prepare_sim_root

log = logging.getLogger(__name__)

# How often outside edits of /etc/kvm/pwd are picked up (NanoKVM re-validates every 5 s).
ACCOUNT_REFRESH_SECONDS = 5.0


@dataclass
class Services:
    config: Config
    root: DeviceRoot
    auth: AuthService
    atx: Atx
    power: PowerService
    device: DeviceService
    sim_host: SimHost | None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background work for the app's lifetime."""
        if self.sim_host is not None:
            self.sim_host.start()
        refresher = asyncio.create_task(self._refresh_accounts())
        try:
            yield
        finally:
            refresher.cancel()
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


def build_services(config: Config, root_path: Path) -> Services:
    root = DeviceRoot(root_path)
    sim = config.board == "sim"
    hardware = hardware_version(root)
    sim_host = None
    if sim:
        pins = pins_for(config.gpio, hardware)
        prepare_sim_root(root, pins)
        hardware = hardware_version(root)

        def led(spec: str) -> Path | None:
            return root(f"/sys/class/gpio/gpio{sysfs_number(root, spec)}/value") if spec else None

        sim_host = SimHost(power_led=led(pins.power_led) or root("/dev/null"), hdd_led=led(pins.hdd_led))
    atx = Atx(root, config.gpio, hardware, on_button=sim_host.button if sim_host else None)
    store = AccountStore(root("/etc/kvm/pwd"))
    store.refresh()  # first start: writes admin/admin (must change password)
    return Services(
        config=config,
        root=root,
        auth=AuthService(config, store),
        atx=atx,
        power=PowerService(atx, config.gpio.max_press_ms),
        device=DeviceService(root, hardware, network.sim_addresses if sim else network.board_addresses),
        sim_host=sim_host,
    )
