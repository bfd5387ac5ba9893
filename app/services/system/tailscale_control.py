"""Tailscale controls (spec 4.9): install, start/stop, up/down, login/logout through its CLI and init script.

Every command is an argument vector given to the board's runner; nothing is built from a string. On a
board, ``install`` fetches Tailscale's own static riscv64 package (as NanoKVM does) and copies just its
two binaries. The installer and the runner are the board's: the sim board's (``app.sim.tailscale``)
lays down inert stand-in files and answers the CLI in the device root, so the whole flow can be
clicked through without running anything.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tarfile
import urllib.request
from collections.abc import Callable
from typing import Any

import msgspec

from app.board.system import CommandRunner, Result
from app.errors import Failed
from app.paths import DeviceRoot, atomic_write

log = logging.getLogger(__name__)

TAILSCALE = "/usr/bin/tailscale"
TAILSCALED = "/usr/sbin/tailscaled"
SCRIPT = "/etc/init.d/S98tailscaled"
SCRIPT_SHIPPED = "/kvmapp/system/init.d/S98tailscaled"
ENABLE_FLAG = "/etc/kvm/enable-tailscale"
GOMEMLIMIT = "/etc/kvm/GOMEMLIMIT"
GOMEMLIMIT_MB = 75
PACKAGE_URL = "https://pkgs.tailscale.com/stable/tailscale_latest_riscv64.tgz"
PACKAGE_MAX = 100 << 20
DOWNLOAD_DIR = "/root/.tailscale"
LOGIN_WAIT = 15.0  # the CLI prints the URL at once, then waits for the browser: stop it after this
_URL = re.compile(r"https://\S+")


class Login(msgspec.Struct):
    url: str


class TailscaleControl:
    def __init__(self, root: DeviceRoot, runner: CommandRunner, installer: Callable[[DeviceRoot], None]) -> None:
        self.root = root
        self.runner = runner
        self.installer = installer

    def _run(self, *argv: str, timeout: float = 30.0) -> Result | None:
        """The command's result, or None when its program is not there."""
        try:
            return self.runner.run(argv, timeout=timeout)
        except OSError:
            return None

    def _ok(self, *argv: str) -> bool:
        result = self._run(*argv)
        return result is not None and result.ok

    def installed(self) -> bool:
        return self.root(TAILSCALE).exists() and self.root(TAILSCALED).exists()

    def _set_memory_limit(self) -> None:
        if not self.root(GOMEMLIMIT).exists():
            with contextlib.suppress(OSError):
                atomic_write(self.root(GOMEMLIMIT), f"{GOMEMLIMIT_MB}".encode())

    def _drop_memory_limit(self) -> None:
        with contextlib.suppress(OSError):
            self.root(GOMEMLIMIT).unlink(missing_ok=True)

    def _service(self, verb: str) -> bool:
        """The init script (refreshed from the application's copy) with the enable flag set."""
        try:
            shipped = self.root(SCRIPT_SHIPPED)
            if shipped.exists():
                atomic_write(self.root(SCRIPT), shipped.read_bytes(), shipped.stat().st_mode & 0o755)
            atomic_write(self.root(ENABLE_FLAG), b"")
        except OSError:
            return False
        return self._ok(SCRIPT, verb)

    # --- the routes ------------------------------------------------------------------------

    def install(self) -> None:
        if self.installed():
            return
        try:
            self.installer(self.root)
        except Exception:
            log.warning("Tailscale install failed", exc_info=True)
            raise Failed("install failed") from None
        self._service("start")

    def uninstall(self) -> None:
        self.stop_quietly()
        self._drop_memory_limit()
        for path in (TAILSCALE, TAILSCALED):
            with contextlib.suppress(OSError):
                self.root(path).unlink(missing_ok=True)

    def start(self) -> None:
        if not self._service("start"):
            raise Failed("start failed")
        self._set_memory_limit()

    def restart(self) -> None:
        if not self._service("restart"):
            raise Failed("restart failed")

    def stop_quietly(self) -> bool:
        if not self._ok(SCRIPT, "stop"):
            return False
        for path in (ENABLE_FLAG, SCRIPT):
            with contextlib.suppress(OSError):
                self.root(path).unlink(missing_ok=True)
        return True

    def stop(self) -> None:
        if not self.stop_quietly():
            raise Failed("stop failed")
        self._drop_memory_limit()

    def up(self) -> None:
        if not self._ok("tailscale", "up", "--accept-dns=false"):
            raise Failed("tailscale up failed")

    def down(self) -> None:
        if not self._ok("tailscale", "down"):
            raise Failed("tailscale down failed")

    def logout(self) -> None:
        if not self._ok("tailscale", "logout"):
            raise Failed("logout failed")

    def _backend_state(self) -> str | None:
        result = self._run("tailscale", "status", "--json", timeout=10)
        if result is None or not result.ok or "{" not in result.output:
            return None
        try:
            doc: dict[str, Any] = msgspec.json.decode(result.output[result.output.index("{") :])
        except msgspec.DecodeError:
            return None
        return str(doc.get("BackendState", ""))

    def login(self) -> Login:
        state = self._backend_state()
        if state is None:
            self._service("start")
            state = self._backend_state()
        if state is None:
            raise Failed("unknown status")
        if state == "Running":
            return Login("")
        # The CLI prints the URL, then waits for the browser; the runner stops it after LOGIN_WAIT and
        # keeps what it printed (tailscaled keeps the pending login).
        result = self._run("tailscale", "login", "--accept-dns=false", "--timeout=10m", timeout=LOGIN_WAIT)
        found = _URL.search(result.output) if result is not None else None
        if found is None:
            raise Failed("login failed", code=-2)
        self._set_memory_limit()
        return Login(found.group(0))


# --- the board's installer ----------------------------------------------------------------------


def board_installer(root: DeviceRoot, url: str = PACKAGE_URL) -> None:
    """Tailscale's static package from its own server (HTTPS), downloaded to ``/root/.tailscale``;
    only its two binaries are kept, written to fixed paths whatever the archive's names say."""
    work = root(DOWNLOAD_DIR)
    work.mkdir(parents=True, exist_ok=True)
    package = work / "tailscale.tgz"
    try:
        size = 0
        with urllib.request.urlopen(url, timeout=60) as answer, package.open("wb") as out:  # noqa: S310 - https
            while chunk := answer.read(1 << 20):
                size += len(chunk)
                if size > PACKAGE_MAX:
                    raise ValueError("package too large")
                out.write(chunk)
        wanted = {"tailscale": TAILSCALE, "tailscaled": TAILSCALED}
        found: set[str] = set()
        with tarfile.open(package, mode="r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                ours = len(parts) == 2 and parts[0].startswith("tailscale_") and parts[1] in wanted
                if ours and member.isfile() and member.size <= PACKAGE_MAX:
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        atomic_write(root(wanted[parts[1]]), extracted.read(), 0o755)
                        found.add(parts[1])
        if found != set(wanted):
            for name in found:
                root(wanted[name]).unlink(missing_ok=True)
            raise ValueError("package without the tailscale binaries")
    finally:
        package.unlink(missing_ok=True)
