"""Tailscale controls on the sim board: argument vectors to the runner, answered by the sim's stand-in
(nothing runs on this machine); NanoKVM's codes when it is absent or a step fails."""

from __future__ import annotations

import io
import stat
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.paths import DeviceRoot
from app.services.system.tailscale_control import board_installer
from tests.conftest import RunningApp, start_app

VERBS = ("up", "down", "login", "logout", "start", "stop", "restart")


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("tailscale"))
    yield app
    app.stop()


def call(client: httpx.Client, verb: str) -> tuple[int, str, object]:
    response = client.post(f"/api/extensions/tailscale/{verb}")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["code"], body["msg"], body["data"]


def state(client: httpx.Client) -> str:
    body = client.get("/api/extensions/tailscale/status").json()
    assert body["code"] == 0, body
    return str(body["data"]["state"])


def test_absent_tailscale_answers_as_nanokvm(board: RunningApp) -> None:
    admin = board.login()
    assert state(admin) == "notInstall"
    expected = {
        "up": (-1, "tailscale up failed"),
        "down": (-1, "tailscale down failed"),
        "login": (-1, "unknown status"),
        "logout": (-1, "logout failed"),
        "start": (-1, "start failed"),
        "stop": (-1, "stop failed"),
        "restart": (-1, "restart failed"),
    }
    for verb, (code, msg) in expected.items():
        assert call(admin, verb)[:2] == (code, msg), verb
    assert call(admin, "uninstall") == (0, "success", None)  # always succeeds
    assert state(admin) == "notInstall"


def test_the_whole_flow_on_the_sim_board(board: RunningApp) -> None:
    admin = board.login()
    assert call(admin, "install") == (0, "success", None)
    for path in ("/usr/bin/tailscale", "/usr/sbin/tailscaled", "/etc/init.d/S98tailscaled"):
        mode = board.path(path).stat().st_mode
        assert not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH), f"{path} must not be executable"
    assert board.path("/etc/kvm/enable-tailscale").exists()
    assert state(admin) == "notLogin"
    code, _, data = call(admin, "login")
    assert code == 0 and data == {"url": "https://login.tailscale.com/a/sim-0123456789"}
    assert board.path("/etc/kvm/GOMEMLIMIT").read_text() == "75"
    status = admin.get("/api/extensions/tailscale/status").json()["data"]
    assert status == {"state": "running", "name": "kvm-sim", "ip": "100.100.7.7", "account": "sim@example.com"}
    assert call(admin, "login") == (0, "success", {"url": ""})  # already running: no URL
    assert call(admin, "down")[0] == 0
    assert state(admin) == "stopped"
    assert call(admin, "up")[0] == 0
    assert state(admin) == "running"
    assert call(admin, "stop")[0] == 0
    assert state(admin) == "notRunning"
    assert not board.path("/etc/kvm/enable-tailscale").exists()
    assert not board.path("/etc/kvm/GOMEMLIMIT").exists()
    assert call(admin, "up")[:2] == (-1, "tailscale up failed")  # the daemon is not running
    assert call(admin, "start")[0] == 0
    assert call(admin, "restart")[0] == 0
    assert state(admin) == "running"
    assert call(admin, "logout")[0] == 0
    assert state(admin) == "notLogin"
    assert call(admin, "up")[:2] == (-1, "tailscale up failed")  # not logged in
    assert call(admin, "uninstall") == (0, "success", None)
    assert state(admin) == "notInstall"
    assert not board.path("/usr/bin/tailscale").exists()
    assert board.process.poll() is None


def test_admin_only(board: RunningApp) -> None:
    anonymous = board.client()
    for verb in (*VERBS, "install", "uninstall"):
        assert anonymous.post(f"/api/extensions/tailscale/{verb}").status_code == 401
    assert anonymous.get("/api/extensions/tailscale/status").status_code == 401
    # GET on a POST route is unknown, as gin answers it
    assert board.login().get("/api/extensions/tailscale/up").status_code == 404


# --- the board's installer, against a local server -------------------------------------------


def tgz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    directory = tmp_path / "site"
    directory.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield directory, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_board_installer_keeps_only_the_two_binaries(tmp_path: Path, site: tuple[Path, str]) -> None:
    directory, url = site
    (directory / "ok.tgz").write_bytes(
        tgz(
            {
                "tailscale_1.90.0_riscv64/tailscale": b"cli",
                "tailscale_1.90.0_riscv64/tailscaled": b"daemon",
                "tailscale_1.90.0_riscv64/systemd/tailscaled.service": b"unit",
                "../tailscale": b"evil",
                "/usr/bin/evil": b"evil",
            }
        )
    )
    root = DeviceRoot(tmp_path / "root")
    board_installer(root, f"{url}/ok.tgz")
    assert root("/usr/bin/tailscale").read_bytes() == b"cli"
    assert root("/usr/sbin/tailscaled").read_bytes() == b"daemon"
    assert root("/usr/bin/tailscale").stat().st_mode & 0o777 == 0o755
    written = sorted(str(p.relative_to(root.root)) for p in root.root.rglob("*") if p.is_file())
    assert written == ["usr/bin/tailscale", "usr/sbin/tailscaled"]  # the download itself is gone too
    assert not (tmp_path / "tailscale").exists()


def test_board_installer_refuses_a_package_without_both_binaries(tmp_path: Path, site: tuple[Path, str]) -> None:
    directory, url = site
    (directory / "half.tgz").write_bytes(tgz({"tailscale_1.90.0_riscv64/tailscale": b"cli"}))
    (directory / "junk.tgz").write_bytes(b"not gzip")
    root = DeviceRoot(tmp_path / "root")
    for name in ("half.tgz", "junk.tgz", "missing.tgz"):
        with pytest.raises((ValueError, OSError, tarfile.TarError)):
            board_installer(root, f"{url}/{name}")
    assert [p for p in root.root.rglob("*") if p.is_file()] == []
