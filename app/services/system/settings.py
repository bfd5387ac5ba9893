"""Small device settings kept in files (spec 4.2, 4.7, 8): hostname, web title, SSH, mDNS, OLED, Wi-Fi."""

from __future__ import annotations

import re
import threading

import msgspec

from app import validators
from app.board.system import CommandRunner
from app.errors import Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text

HOSTNAME_RE = validators.net.HOSTNAME_RE
DEFAULT_TITLE = "NanoKVM"
MAX_OLED_SLEEP = 86_400


class Enabled(msgspec.Struct):
    enabled: bool


class Oled(msgspec.Struct):
    exist: bool
    sleep: int


class Wifi(msgspec.Struct, rename="camel"):
    supported: bool
    ap_mode: bool
    connected: bool
    ssid: str


class DeviceSettings:
    def __init__(self, root: DeviceRoot, runner: CommandRunner) -> None:
        self.root = root
        self.runner = runner
        # The setters run in worker threads (they fsync): one at a time, as /etc/hosts is read and rewritten.
        self._writing = threading.Lock()

    def _command(self, *argv: str) -> bool:
        try:
            return self.runner.run(argv).ok
        except OSError:
            return False

    # --- hostname --------------------------------------------------------------------------

    def hostname(self) -> str:
        path = self.root("/etc/hostname")
        if not path.exists():
            raise Failed("read hostname failed")
        return read_text(path).replace("\n", "")

    def set_hostname(self, name: str) -> None:
        name = validators.hostname(name)
        with self._writing:
            self._set_hostname(name)

    def _set_hostname(self, name: str) -> None:
        old = read_text(self.root("/etc/hostname"))
        hosts = self.root("/etc/hosts")
        try:
            if old and hosts.exists():
                # Whole whitespace-separated names only: "kvm" must not rewrite "kvm-backup".
                text = re.sub(rf"(?<!\S){re.escape(old)}(?!\S)", name, hosts.read_text())
                atomic_write(hosts, text.encode())
            atomic_write(self.root("/boot/hostname"), f"{name}\n".encode())
            atomic_write(self.root("/etc/hostname"), f"{name}\n".encode())
        except OSError:
            raise Failed("write hostname failed", code=-2) from None
        if not self._command("hostname", "-F", "/etc/hostname"):
            raise Failed("set hostname failed", code=-3)

    # --- web title -------------------------------------------------------------------------

    def web_title(self) -> str:
        path = self.root("/etc/kvm/web-title")
        if not path.exists():
            raise Failed("read web title failed")  # NanoKVM's quirk: unset is an error
        return read_text(path)

    def set_web_title(self, title: str) -> None:
        title = validators.web_title(title)
        path = self.root("/etc/kvm/web-title")
        if title in ("", DEFAULT_TITLE):
            if not path.exists():
                raise Failed("reset failed", code=-2)  # NanoKVM's quirk: resetting an unset title fails
            path.unlink()
            return
        try:
            atomic_write(path, title.encode())
        except OSError:
            raise Failed("write failed", code=-3) from None

    # --- services --------------------------------------------------------------------------

    def ssh(self) -> Enabled:
        return Enabled(not self.root("/etc/kvm/ssh_stop").exists())

    def set_ssh(self, enabled: bool) -> None:
        if not self._command("/etc/init.d/S50sshd", "permanent_on" if enabled else "permanent_off"):
            raise Failed("operation failed")

    def mdns(self) -> Enabled:
        return Enabled(self.root("/run/avahi-daemon/pid").exists())

    def set_mdns(self, enabled: bool) -> None:
        if not self._command("/etc/init.d/S50avahi-daemon", "start" if enabled else "stop"):
            raise Failed("operation failed")

    # --- OLED and Wi-Fi --------------------------------------------------------------------

    def oled(self) -> Oled:
        text = read_text(self.root("/etc/kvm/oled_sleep"), "0") or "0"
        if not text.isdigit():
            raise Failed("failed to parse OLED config")
        return Oled(self.root("/etc/kvm/oled_exist").exists(), int(text))

    def set_oled_sleep(self, seconds: int) -> None:
        if not 0 <= seconds <= MAX_OLED_SLEEP:
            raise InvalidArgument("invalid arguments")
        try:
            atomic_write(self.root("/etc/kvm/oled_sleep"), f"{seconds}".encode())
        except OSError:
            raise Failed("write failed", code=-2) from None

    def wifi(self) -> Wifi:
        return Wifi(
            supported=self.root("/etc/kvm/wifi_exist").exists(),
            ap_mode=self.root("/tmp/wifiap").exists(),  # noqa: S108 - a device path under the root
            connected=read_text(self.root("/kvmapp/kvm/wifi_state")) == "1",
            ssid=read_text(self.root("/etc/kvm/wifi.ssid")) or "Wi-Fi",
        )
