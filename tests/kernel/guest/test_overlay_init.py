"""The overlay's init scripts on a real kernel, run as a board runs them.

The overlay (``overlay/``) is installed onto the guest's own root (a tmpfs over the host's ``/``,
so nothing reaches the host) and the artifact at ``/usr/lib/kvm/nanokvm-py.pyz``, as the image
does; then ``/etc/init.d/S02kvm-firstboot start``, ``S03kvm-gadget start`` and ``S95nanokvm start``
run with the board's paths. Checked from the outside only: dummy_hcd's host side enumerates the
gadget's three HID devices and receives what the app pastes; the app answers HTTP on port 80 and
logs in; a killed app is started again by the supervisor; the HTTPS switch makes the app restart
itself through ``/etc/init.d/S95nanokvm`` and answer HTTPS on 443 with the certificate it made on
the device; stop leaves no process behind and the gadget goes away. Everything installed is
removed afterwards (more test modules run in this guest).

The only thing not as on a board: ``KVM_PYTHON`` is the venv's Python (the guest has no image
Python with the native packages); the archive is first on its ``sys.path`` all the same, and
``tests/packaging`` checks that it needs nothing else. ``dist/nanokvm-py.pyz`` comes from
``task dist`` (``task test:kernel`` runs it); if it is missing or older than the sources it is
built here (about a minute under TCG).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kt_usb
import pytest
from kt_app import ADMIN_WIRE_PASSWORD, COOKIE, KT_WIRE_PASSWORD, SRC
from kt_usb import EV_KEY, EvdevReader, read_attr, wait_for

OVERLAY = SRC / "overlay"
BUILT = SRC / "dist" / "nanokvm-py.pyz"
PYZ = pathlib.Path("/usr/lib/kvm/nanokvm-py.pyz")
INIT_D = pathlib.Path("/etc/init.d")
G0 = kt_usb.GADGETS / "g0"
STARTUP_TIMEOUT = 180.0  # the app under TCG: 10-35 s, more on a loaded machine
KEY_A, KEY_B = 30, 48

# A board's own paths: set aside while the test runs (earlier modules' apps leave /etc/kvm), then put back.
MADE = ("/etc/kvm", "/device_key", "/data", "/kvmapp", "/usr/lib/kvm", "/run/kvm", "/var/log/kvm.log")


def _stale(pyz: pathlib.Path) -> bool:
    if not pyz.exists():
        return True
    built = pyz.stat().st_mtime
    sources = [SRC / "tools/dist.py", *(SRC / "app").rglob("*"), *(SRC / "frontend/dist").rglob("*")]
    return any(p.is_file() and "__pycache__" not in p.parts and p.stat().st_mtime > built for p in sources)


def artifact(tmp: pathlib.Path) -> pathlib.Path:
    if not _stale(BUILT):
        return BUILT
    print(f"\n{BUILT} is missing or older than the sources: building it here (run `task dist` first to save this)")
    out = tmp / "nanokvm-py.pyz"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "tools/dist.py", "--output", str(out)], cwd=SRC, check=True, timeout=900)
    print(f"built in {time.monotonic() - t0:.0f} s")
    return out


def shell() -> list[str]:
    """BusyBox's sh when the guest has it (the board's shell), else the script's own /bin/sh."""
    busybox = shutil.which("busybox")
    return [busybox, "sh"] if busybox else []


def init(script: str, verb: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KVM_PYTHON": sys.executable}
    done = subprocess.run(
        [*shell(), str(INIT_D / script), verb], env=env, capture_output=True, text=True, timeout=timeout
    )
    print(f"{script} {verb}: exit {done.returncode} {done.stdout.strip()} {done.stderr.strip()}")
    return done


def alive(pid: int) -> bool:
    try:
        return (pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def app_processes() -> list[int]:
    """PIDs of live processes running the installed artifact."""
    found = []
    for cmdline in pathlib.Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(PYZ).encode() in cmdline.read_bytes():
                state = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def app_log() -> str:
    path = pathlib.Path("/var/log/kvm.log")
    return path.read_text()[-6000:] if path.exists() else "(no /var/log/kvm.log)"


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Client:
    port: int
    tls: bool = False
    cookie: str = ""

    def send(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the device's own self-signed certificate
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=context
            )
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            if self.cookie:
                headers["Cookie"] = self.cookie
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            if path == "/api/auth/login" and resp.status == 200:
                self.cookie = (resp.getheader("set-cookie") or "").split(";")[0]
            return resp.status, json.loads(payload) if payload[:1] in (b"{", b"[", b'"') else payload
        finally:
            conn.close()

    def wait(self, timeout: float = STARTUP_TIMEOUT) -> float:
        """Seconds until the app answers (any HTTP status)."""
        t0 = time.monotonic()
        while True:
            try:
                self.send("GET", "/api/vm/hardware", timeout=5)
                return time.monotonic() - t0
            except (OSError, http.client.HTTPException):
                if time.monotonic() - t0 > timeout:
                    raise AssertionError(f"no answer on port {self.port} in {timeout} s:\n{app_log()}") from None
                time.sleep(0.5)

    def login(self) -> None:
        """As admin; a device still on admin/admin gets the tier's password first (nothing else is
        allowed before)."""
        if not self._login(KT_WIRE_PASSWORD):
            assert self._login(ADMIN_WIRE_PASSWORD), "admin/admin refused"
            change = {"currentPassword": ADMIN_WIRE_PASSWORD, "password": KT_WIRE_PASSWORD}
            self.ok("POST", "/api/auth/password", change)
            assert self._login(KT_WIRE_PASSWORD), "the new password refused"
        assert self.cookie.startswith(f"{COOKIE}="), self.cookie

    def _login(self, wire_password: str) -> bool:
        status, answer = self.send("POST", "/api/auth/login", {"username": "admin", "password": wire_password})
        assert status == 200 and answer["code"] in (0, -2), (status, answer)
        return bool(answer["code"] == 0)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60) -> Any:
        status, answer = self.send(method, path, body, timeout)
        assert status == 200 and answer["code"] == 0, (method, path, status, answer)
        return answer["data"]


# --- the board ----------------------------------------------------------------------------------


@dataclass
class Installed:
    made: list[pathlib.Path]  # removed afterwards, last first
    saved: list[tuple[pathlib.Path, pathlib.Path]]  # (path, where it was moved aside): put back afterwards

    def set_aside(self, path: pathlib.Path) -> None:
        """A board starts without it: earlier test modules' apps leave /etc/kvm (accounts) behind."""
        if path.exists() or path.is_symlink():
            aside = path.with_name(f"{path.name}.kt-before-overlay")
            path.rename(aside)
            self.saved.append((path, aside))

    def undo(self) -> None:
        for path in reversed(self.made):
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        for path, aside in reversed(self.saved):
            aside.rename(path)


def _install(artifact_path: pathlib.Path) -> Installed:
    """The overlay onto /, the artifact to /usr/lib/kvm, on a root cleared of a board's own paths."""
    installed = Installed([], [])
    for name in (*MADE, "/var/log/kvm.log.1"):
        installed.set_aside(pathlib.Path(name))
        installed.made.append(pathlib.Path(name))
    for source in sorted(OVERLAY.rglob("*")):
        target = pathlib.Path("/") / source.relative_to(OVERLAY)
        if source.is_dir() and not source.is_symlink():
            if not target.exists():
                target.mkdir(parents=True)
                installed.made.append(target)
            continue
        installed.set_aside(target)
        if source.is_symlink():
            target.symlink_to(source.readlink())
        else:
            shutil.copy2(source, target)
        installed.made.append(target)
    PYZ.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(artifact_path, PYZ)
    return installed


def _board_config() -> None:
    """The shipped server.yaml, with the ATX lines on the gpio-sim chip (the guest has no NanoKVM pins)."""
    config = pathlib.Path("/etc/kvm/server.yaml")
    text = config.read_text()
    for old, new in (
        ("driver: sysfs", "driver: cdev"),
        ('powerButton: ""', 'powerButton: "kvm-atx:power_btn"'),
        ('resetButton: ""', 'resetButton: "kvm-atx:reset_btn"'),
        ('powerLed: ""', 'powerLed: "kvm-atx:power_led"'),
        ('hddLed: ""', 'hddLed: "kvm-atx:hdd_led"'),
    ):
        assert old in text, old
        text = text.replace(old, new)
    config.write_text(text)


def _remove_g0() -> None:
    for link in G0.glob("os_desc/*"):
        if link.is_symlink():
            link.unlink()
    kt_usb.remove_gadget(G0)


def nanokvm() -> pathlib.Path | None:
    """The host side's configured NanoKVM device (VID:PID 3346:1009), or None."""
    for dev in kt_usb.UsbHost.usb_devices():
        if (read_attr(dev / "idVendor"), read_attr(dev / "idProduct")) == ("3346", "1009") and read_attr(
            dev / "bConfigurationValue"
        ):
            return dev
    return None


@pytest.fixture(scope="module")
def board(atx: Any, gadget_modules: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    assert not G0.exists(), "a g0 gadget was left over"
    installed = _install(artifact(tmp_path_factory.mktemp("dist")))
    try:
        _board_config()
        atx.set_pull("power_led", "pull-up")  # LEDs off (active low)
        atx.set_pull("hdd_led", "pull-up")
        yield
    finally:
        if pathlib.Path("/run/kvm/kvm.pid").exists():
            init("S95nanokvm", "stop")
        for pid in app_processes():
            os.kill(pid, signal.SIGKILL)
        if G0.exists():
            init("S03kvm-gadget", "stop")
        if G0.exists():
            _remove_g0()
        wait_for("the NanoKVM gadget gone from the host side", lambda: True if nanokvm() is None else None, 20)
        installed.undo()


# --- tests (in order: each starts from where the one before left the board) ----------------------


def test_firstboot_and_the_gadget(board: None) -> None:
    assert init("S02kvm-firstboot", "start").returncode == 0
    key = pathlib.Path("/device_key")
    assert len(key.read_text().strip()) == 32 and key.stat().st_mode & 0o777 == 0o600
    done = init("S03kvm-gadget", "start")
    assert done.returncode == 0, done.stderr
    udc = kt_usb.UsbHost.udcs()[0]
    assert done.stdout.strip().endswith(f"bound to {udc}")
    assert init("S03kvm-gadget", "status").returncode == 0
    dev = wait_for("the NanoKVM gadget configured on the host side", nanokvm, 30)
    classes = [read_attr(intf / "bInterfaceClass") for intf in sorted(dev.glob(f"{dev.name}:*"))]
    assert classes.count("03") == 3, classes  # keyboard, mouse, absolute pointer
    assert [pathlib.Path(f"/dev/hidg{i}").exists() for i in range(3)] == [True] * 3


def test_the_app_starts_and_types_on_the_host(board: None) -> None:
    done = init("S95nanokvm", "start")
    assert done.returncode == 0, done.stderr
    api = Client(80)
    print(f"the app answered on port 80 after {api.wait():.1f} s")
    api.login()
    info = api.ok("GET", "/api/vm/info")
    assert info["deviceKey"] == pathlib.Path("/device_key").read_text().strip()
    status = init("S95nanokvm", "status")
    assert status.returncode == 0 and "running (app PID" in status.stdout
    assert len(app_processes()) == 1
    dev = nanokvm()
    assert dev is not None
    host = kt_usb.UsbHost()
    keyboard = host.event_device(interface=host.interface(0))
    with EvdevReader(keyboard) as reader:  # an open event device makes usbhid poll the keyboard
        reader.drain()
        assert api.ok("POST", "/api/hid/paste", {"content": "ab", "langue": ""}) is None
        events = reader.read(15, until=lambda ev: len(kt_usb.key_events(ev)) >= 4, types=(EV_KEY,))
    assert kt_usb.key_events(events) == [(KEY_A, 1), (KEY_A, 0), (KEY_B, 1), (KEY_B, 0)]


def test_a_killed_app_is_started_again(board: None) -> None:
    (app,) = app_processes()
    supervisor = int(pathlib.Path("/run/kvm/kvm.pid").read_text())
    os.kill(app, signal.SIGKILL)
    wait_for("the app gone", lambda: True if app not in app_processes() else None, 10)
    api = Client(80)
    t0 = time.monotonic()
    wait_for("a new app", lambda: app_processes() or None, 30)
    api.wait()
    print(f"killed app answering again after {time.monotonic() - t0:.1f} s")
    api.login()
    assert int(pathlib.Path("/run/kvm/kvm.pid").read_text()) == supervisor
    assert "the app exited (status 137)" in pathlib.Path("/var/log/kvm.log").read_text()


def test_the_https_switch_restarts_the_app_through_S95nanokvm(board: None) -> None:
    api = Client(80)
    api.login()
    (old,) = app_processes()
    assert api.ok("POST", "/api/vm/tls", {"enabled": True}) is None  # then S95nanokvm restart (spawned)
    wait_for("the old app gone", lambda: True if old not in app_processes() else None, 60)
    secure = Client(443, tls=True)
    print(f"HTTPS answered after {secure.wait():.1f} s")
    secure.login()
    assert secure.ok("GET", "/api/vm/info")["deviceKey"]
    crt, key = pathlib.Path("/etc/kvm/server.crt"), pathlib.Path("/etc/kvm/server.key")
    assert key.stat().st_mode & 0o777 == 0o600  # made on the device, now
    served = ssl.get_server_certificate(("127.0.0.1", 443))
    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(crt.read_text())
    assert "proto: https" in pathlib.Path("/etc/kvm/server.yaml").read_text()


def test_stop_leaves_nothing_and_the_gadget_goes(board: None) -> None:
    supervisor = int(pathlib.Path("/run/kvm/kvm.pid").read_text())
    done = init("S95nanokvm", "stop")
    assert done.returncode == 0 and done.stdout.strip() == "kvm: stopped", done.stderr
    assert app_processes() == []
    assert not alive(supervisor)
    assert init("S95nanokvm", "status").returncode == 3
    for port in (80, 443):
        with pytest.raises(OSError):
            Client(port).send("GET", "/", timeout=3)
    assert init("S03kvm-gadget", "stop").returncode == 0
    wait_for("the NanoKVM gadget gone from the host side", lambda: True if nanokvm() is None else None, 20)
    assert init("S03kvm-gadget", "status").returncode == 3
    assert "Traceback" not in app_log(), app_log()
