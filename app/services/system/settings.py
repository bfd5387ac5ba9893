"""Small device settings kept in files (spec 4.2, 4.7, 8): hostname, web title, SSH, mDNS, OLED, Wi-Fi."""

from __future__ import annotations

import re

import msgspec

from app.board.system import CommandRunner
from app.errors import ApiError
from app.paths import DeviceRoot, atomic_write, read_text

HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
TITLE_MAX = 64
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

    def _command(self, *argv: str) -> bool:
        try:
            return self.runner.run(argv).ok
        except OSError:
            return False

    # --- hostname --------------------------------------------------------------------------

    def hostname(self) -> str:
        path = self.root("/etc/hostname")
        if not path.exists():
            raise ApiError(-1, "read hostname failed")
        return read_text(path).replace("\n", "")

    def set_hostname(self, name: str) -> None:
        if not HOSTNAME_RE.fullmatch(name):
            raise ApiError(
                -1, "invalid arguments: a hostname is 1-63 letters, digits or '-', not starting or ending with '-'"
            )
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
            raise ApiError(-2, "write hostname failed") from None
        if not self._command("hostname", "-F", "/etc/hostname"):
            raise ApiError(-3, "set hostname failed")

    # --- web title -------------------------------------------------------------------------

    def web_title(self) -> str:
        path = self.root("/etc/kvm/web-title")
        if not path.exists():
            raise ApiError(-1, "read web title failed")  # NanoKVM's quirk: unset is an error
        return read_text(path)

    def set_web_title(self, title: str) -> None:
        if len(title) > TITLE_MAX or any(not char.isprintable() for char in title):
            raise ApiError(-1, f"invalid arguments: a title is at most {TITLE_MAX} printable characters")
        path = self.root("/etc/kvm/web-title")
        if title in ("", DEFAULT_TITLE):
            if not path.exists():
                raise ApiError(-2, "reset failed")  # NanoKVM's quirk: resetting an unset title fails
            path.unlink()
            return
        try:
            atomic_write(path, title.encode())
        except OSError:
            raise ApiError(-3, "write failed") from None

    # --- services --------------------------------------------------------------------------

    def ssh(self) -> Enabled:
        return Enabled(not self.root("/etc/kvm/ssh_stop").exists())

    def set_ssh(self, enabled: bool) -> None:
        if not self._command("/etc/init.d/S50sshd", "permanent_on" if enabled else "permanent_off"):
            raise ApiError(-1, "operation failed")

    def mdns(self) -> Enabled:
        return Enabled(self.root("/run/avahi-daemon/pid").exists())

    def set_mdns(self, enabled: bool) -> None:
        if not self._command("/etc/init.d/S50avahi-daemon", "start" if enabled else "stop"):
            raise ApiError(-1, "operation failed")

    # --- OLED and Wi-Fi --------------------------------------------------------------------

    def oled(self) -> Oled:
        text = read_text(self.root("/etc/kvm/oled_sleep"), "0") or "0"
        if not text.isdigit():
            raise ApiError(-1, "failed to parse OLED config")
        return Oled(self.root("/etc/kvm/oled_exist").exists(), int(text))

    def set_oled_sleep(self, seconds: int) -> None:
        if not 0 <= seconds <= MAX_OLED_SLEEP:
            raise ApiError(-1, "invalid arguments")
        try:
            atomic_write(self.root("/etc/kvm/oled_sleep"), f"{seconds}".encode())
        except OSError:
            raise ApiError(-2, "write failed") from None

    def wifi(self) -> Wifi:
        return Wifi(
            supported=self.root("/etc/kvm/wifi_exist").exists(),
            ap_mode=self.root("/tmp/wifiap").exists(),  # noqa: S108 - a device path under the root
            connected=read_text(self.root("/kvmapp/kvm/wifi_state")) == "1",
            ssid=read_text(self.root("/etc/kvm/wifi.ssid")) or "Wi-Fi",
        )
