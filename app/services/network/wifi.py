"""Wi-Fi (spec 4.7): the file handshake with kvm_system, which owns the radio.

The server writes ``/etc/kvm/wifi.ssid`` and ``wifi.pass``, touches ``/kvmapp/kvm/wifi_try_connect``
and watches ``/kvmapp/kvm/wifi_state`` (``1`` = connected). In AP mode (``/tmp/wifiap``) an
unauthenticated page may do this with the AP password (``/kvmapp/kvm/ap.pass``, compared in constant
time). The sim board has no radio: its board gives a small stand-in for kvm_system
(``app.sim.wifi``), called after each hand-over, and shorter waits.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from app import validators
from app.board.system import CommandRunner
from app.errors import Conflict, Failed, Forbidden
from app.paths import DeviceRoot, atomic_write, read_text

EXIST = "/etc/kvm/wifi_exist"
AP_MODE = "/tmp/wifiap"  # noqa: S108 - a device path under the root
SSID = "/etc/kvm/wifi.ssid"
PASSWORD_FILE = "/etc/kvm/wifi.pass"  # noqa: S105 - a path, not a password
TRY_CONNECT = "/kvmapp/kvm/wifi_try_connect"
STATE = "/kvmapp/kvm/wifi_state"
AP_PASSWORD_FILE = "/kvmapp/kvm/ap.pass"  # noqa: S105 - a path
SCRIPT = "/etc/init.d/S30wifi"
SSID_MAX_BYTES = 32  # 802.11
AP_KEY_MAX = 256


@dataclass(frozen=True)
class Timing:
    """NanoKVM's waits on a board; the sim board's stand-in answers at once, so it waits briefly."""

    ap_settle: float = 5.0  # after an AP-mode request: kvm_system leaves AP mode and joins
    poll_interval: float = 2.0
    poll_tries: int = 7
    reconnect_settle: float = 12.0  # already connected: let the old connection drop first
    disconnect_settle: float = 5.0


def valid_credentials(ssid: str, password: str) -> None:
    """``app.validators.wifi_credentials``: raises InvalidArgument (a ValueError) with the reason."""
    validators.wifi_credentials(ssid, password)


class WifiService:
    def __init__(
        self,
        root: DeviceRoot,
        runner: CommandRunner,
        timing: Timing,
        kvm_system: Callable[[DeviceRoot], None] | None = None,
    ) -> None:
        self.root = root
        self.runner = runner
        self.timing = timing
        # What answers the hand-over besides the real kvm_system (the sim board's stand-in), if anything.
        self.kvm_system = kvm_system

    def supported(self) -> bool:
        return self.root(EXIST).exists()

    def ap_mode(self) -> bool:
        return self.root(AP_MODE).exists()

    def connected(self) -> bool:
        return read_text(self.root(STATE)) == "1"

    def check_ap_key(self, key: str | None) -> None:
        """AP mode and the AP password, as NanoKVM checks them (-1 then -4)."""
        if not self.supported() or not self.ap_mode():
            raise Conflict("invalid mode")
        expected = read_text(self.root(AP_PASSWORD_FILE)).replace("\n", "")
        given = (key or "")[:AP_KEY_MAX]
        if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise Forbidden("unauthorized", code=-4)

    def _hand_over(self, ssid: str, password: str) -> None:
        """Leave the network for kvm_system to join; OSError if the files cannot be written."""
        atomic_write(self.root(SSID), ssid.encode())
        atomic_write(self.root(PASSWORD_FILE), password.encode(), 0o600)
        atomic_write(self.root(TRY_CONNECT), b"")
        if self.kvm_system is not None:
            self.kvm_system(self.root)

    def connect_from_ap(self, ssid: str, password: str) -> None:
        """The AP-mode page's request (already authorised by ``check_ap_key``)."""
        try:
            self._hand_over(ssid, password)
        except OSError:
            raise Failed("failed to connect wifi", code=-3) from None
        time.sleep(self.timing.ap_settle)

    def connect(self, ssid: str, password: str) -> None:
        was_connected = self.connected()
        try:
            self._hand_over(ssid, password)
        except OSError:
            raise Failed("failed to connect wifi", code=-2) from None
        tries = self.timing.poll_tries
        if was_connected:
            tries = 3
            time.sleep(self.timing.reconnect_settle)
        for _ in range(tries):
            time.sleep(self.timing.poll_interval)
            if self.connected() and read_text(self.root(SSID)):
                return
        raise Failed("failed to get wifi status", code=-3)

    def disconnect(self) -> None:
        try:
            stopped = self.runner.run([SCRIPT, "stop"]).ok
        except OSError:
            stopped = False
        if not stopped:
            raise Failed("failed to stop wifi")
        time.sleep(self.timing.disconnect_settle)
        for path in (SSID, PASSWORD_FILE):
            with contextlib.suppress(OSError):
                self.root(path).unlink(missing_ok=True)
