"""DNS servers (spec 4.7): manual servers or the DHCP server's, kept across leases by a udhcpc hook.

Files (all under the device root): ``/etc/kvm/network/dns.mode`` and ``dns.servers`` (ours to keep),
``/boot/resolv.conf`` (manual servers that survive an image's boot; moved to ``.manual.bak`` in DHCP
mode), ``/etc/resolv.conf`` (in effect), ``/etc/resolv.conf.dhcp`` (the last lease's servers, kept by
the hook). Every server is checked with ``ipaddress`` and written back in its canonical form, so no
input ever reaches a file unparsed.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from app import validators
from app.errors import Failed, InvalidArgument, Unavailable
from app.paths import DeviceRoot, atomic_write, read_text

MODE_FILE = "/etc/kvm/network/dns.mode"
SERVERS_FILE = "/etc/kvm/network/dns.servers"
BOOT_RESOLV = "/boot/resolv.conf"
BOOT_BACKUP = "/boot/resolv.conf.manual.bak"
ETC_RESOLV = "/etc/resolv.conf"
DHCP_RESOLV = "/etc/resolv.conf.dhcp"
TMP_RESOLV = "/tmp/resolv.conf"  # noqa: S108 - a device path under the root
HOOK = "/usr/share/udhcpc/default.script.d/99-nanokvm-dns"
ROUTES = "/proc/net/route"
MAX_SERVERS = 6
MAX_ENTRIES = 64  # entries in one request, before de-duplication
MAX_ENTRY = 64  # characters in one entry
MAX_FILE = 64 << 10

HOOK_SCRIPT = """#!/bin/sh
# Installed by the KVM app: keeps the DNS servers chosen in its settings across DHCP leases.
# udhcpc runs it after its default script, with $dns and $domain from the lease.
case "$1" in
    bound|renew)
        if [ -n "$dns" ]; then
            {
                [ -n "$domain" ] && echo "search $domain"
                for server in $dns; do echo "nameserver $server"; done
            } > /etc/resolv.conf.dhcp.new && mv /etc/resolv.conf.dhcp.new /etc/resolv.conf.dhcp
        fi
        if [ "$(cat /etc/kvm/network/dns.mode 2>/dev/null)" = manual ] && [ -s /etc/kvm/network/dns.servers ]; then
            while read -r server; do
                [ -n "$server" ] && echo "nameserver $server"
            done < /etc/kvm/network/dns.servers > /etc/resolv.conf.new && mv /etc/resolv.conf.new /etc/resolv.conf
        fi
        ;;
esac
exit 0
"""


class DnsInfo(msgspec.Struct, rename="camel"):
    interface: str = ""
    type: str = ""
    address: str = ""
    subnet_mask: str = ""
    gateway: str = ""
    search_domains: list[str] | None = None


class Dns(msgspec.Struct):
    mode: str
    servers: list[str] | None  # Go's nil slices: null when there are none
    effective: list[str] | None
    dhcp: list[str] | None
    info: DnsInfo


class Resolv(msgspec.Struct):
    servers: list[str]
    search: list[str]


def canonical_server(entry: str) -> str:
    """One DNS server address in canonical form (``app.validators.dns_server``); ValueError otherwise."""
    return validators.dns_server(entry)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_resolv(path: Path) -> Resolv | None:
    """``nameserver`` and ``search``/``domain`` lines; unusable servers are skipped. None if unreadable."""
    try:
        with path.open("rb") as file:
            text = file.read(MAX_FILE).decode("utf-8", "replace")
    except OSError:
        return None
    servers: list[str] = []
    search: list[str] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            with contextlib.suppress(ValueError):
                servers.append(canonical_server(fields[1]))
        elif fields[0] == "search":
            search.extend(fields[1:])
        elif fields[0] == "domain":
            search.append(fields[1])
    return Resolv(_dedupe(servers), _dedupe(search))


def render_resolv(servers: list[str], search: list[str]) -> bytes:
    lines = [f"search {' '.join(search)}"] if search else []
    lines += [f"nameserver {server}" for server in servers]
    return "".join(f"{line}\n" for line in lines).encode()


def _interface_type(name: str) -> str:
    if name.startswith(("eth", "en")):
        return "Wired"
    if name.startswith(("wlan", "wl")):
        return "Wireless"
    return ""


# (interface name) -> ("address/prefix", "subnet mask"), or ("", "") when it has no IPv4 address.
InterfaceInfo = Callable[[str], tuple[str, str]]


class DnsService:
    def __init__(self, root: DeviceRoot, interface_info: InterfaceInfo, fallback_interface: Callable[[], str]) -> None:
        self.root = root
        self.interface_info = interface_info
        self.fallback_interface = fallback_interface

    # --- reading ---------------------------------------------------------------------------

    def _raw_mode(self) -> str:
        mode = read_text(self.root(MODE_FILE))
        return mode if mode in ("manual", "dhcp") else ""

    def mode(self) -> str:
        return self._raw_mode() or ("manual" if self.root(BOOT_RESOLV).exists() else "dhcp")

    def _may_use_effective_for_dhcp(self) -> bool:
        mode = self._raw_mode()
        return mode == "dhcp" or (mode == "" and not self.root(BOOT_RESOLV).exists())

    def _manual_servers(self) -> list[str]:
        text = read_text(self.root(SERVERS_FILE))
        found: list[str] = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                found.append(canonical_server(line))
        return _dedupe(found)

    def _dhcp(self) -> Resolv:
        candidates = [DHCP_RESOLV, TMP_RESOLV]
        if self._may_use_effective_for_dhcp():
            candidates.append(ETC_RESOLV)
        for path in candidates:
            parsed = parse_resolv(self.root(path))
            if parsed is not None and parsed.servers:
                return parsed
        return Resolv([], [])

    def _default_route(self) -> tuple[str, str]:
        try:
            lines = self.root(ROUTES).read_text(errors="replace").splitlines()[1:]
        except OSError:
            return "", ""
        for line in lines:
            fields = line.split()
            if len(fields) >= 8 and fields[1] == "00000000":
                try:
                    gateway = int(fields[2], 16)
                except ValueError:
                    gateway = 0
                return fields[0], str(ipaddress.IPv4Address(gateway.to_bytes(4, "little"))) if gateway else ""
        return "", ""

    def get(self) -> Dns:
        servers = self._manual_servers()
        for path in (BOOT_RESOLV, BOOT_BACKUP):
            if not servers:
                parsed = parse_resolv(self.root(path))
                servers = parsed.servers if parsed else []
        effective = parse_resolv(self.root(ETC_RESOLV))
        dhcp = self._dhcp()
        interface, gateway = self._default_route()
        interface = interface or self.fallback_interface()
        info = DnsInfo(interface=interface, gateway=gateway, search_domains=dhcp.search or None)
        if interface:
            info.type = _interface_type(interface)
            info.address, info.subnet_mask = self.interface_info(interface)
        return Dns(
            mode=self.mode(),
            servers=servers or None,
            effective=(effective.servers or None) if effective else None,
            dhcp=dhcp.servers or None,
            info=info,
        )

    # --- changing --------------------------------------------------------------------------

    def set(self, mode: str, entries: list[str] | None) -> None:
        if mode == "manual":
            servers = self._valid(entries or [])
            try:
                self._set_manual(servers)
            except OSError as err:
                raise Failed(f"failed to write dns settings: {err.strerror or err}", code=-2) from None
        elif mode == "dhcp":
            self._set_dhcp()
        else:
            raise InvalidArgument("invalid dns mode")

    @staticmethod
    def _valid(entries: list[str]) -> list[str]:
        if len(entries) > MAX_ENTRIES:
            raise InvalidArgument("too many dns servers", code=-2)
        servers: list[str] = []
        for entry in entries:
            if not entry.strip():
                continue
            servers.append(validators.dns_server(entry, code=-2))
        servers = _dedupe(servers)
        if not servers:
            raise InvalidArgument("dns servers are required", code=-2)
        if len(servers) > MAX_SERVERS:
            raise InvalidArgument("too many dns servers", code=-2)
        return servers

    def _set_manual(self, servers: list[str]) -> None:
        if self.mode() == "dhcp":  # remember the lease's servers before ours replace them
            effective = parse_resolv(self.root(ETC_RESOLV))
            if effective is not None and effective.servers:
                cached = parse_resolv(self.root(DHCP_RESOLV))
                search = effective.search or (cached.search if cached else [])
                atomic_write(self.root(DHCP_RESOLV), render_resolv(effective.servers, search))
        atomic_write(self.root(MODE_FILE), b"manual\n")
        atomic_write(self.root(SERVERS_FILE), "".join(f"{s}\n" for s in servers).encode())
        atomic_write(self.root(BOOT_RESOLV), render_resolv(servers, []))
        atomic_write(self.root(ETC_RESOLV), render_resolv(servers, []))
        atomic_write(self.root(HOOK), HOOK_SCRIPT.encode(), 0o755)

    def _set_dhcp(self) -> None:
        dhcp = self._dhcp()
        if not dhcp.servers:
            raise Unavailable("no dhcp dns is currently available", code=-3)
        try:
            atomic_write(self.root(DHCP_RESOLV), render_resolv(dhcp.servers, dhcp.search))
            atomic_write(self.root(MODE_FILE), b"dhcp\n")
            if not self._manual_servers():  # keep the manual list for a later switch back
                for path in (BOOT_RESOLV, BOOT_BACKUP):
                    parsed = parse_resolv(self.root(path))
                    if parsed is not None and parsed.servers:
                        atomic_write(self.root(SERVERS_FILE), "".join(f"{s}\n" for s in parsed.servers).encode())
                        break
            boot = self.root(BOOT_RESOLV)
            if boot.exists():
                atomic_write(self.root(BOOT_BACKUP), boot.read_bytes())
                boot.unlink()
            atomic_write(self.root(ETC_RESOLV), render_resolv(dhcp.servers, dhcp.search))
            atomic_write(self.root(HOOK), HOOK_SCRIPT.encode(), 0o755)
        except OSError as err:
            raise Failed(f"failed to write dns settings: {err.strerror or err}", code=-3) from None
