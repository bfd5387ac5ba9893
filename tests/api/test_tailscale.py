"""Tailscale controls on the sim board: argument vectors to the runner, answered by the sim's stand-in
(nothing runs on this machine); NanoKVM's codes when it is absent or a step fails."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import httpx
import pytest

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
