"""kvmd's API on a listener of its own (``pikvm:`` in server.yaml): HTTPS with the device certificate,
kvmd's layout at the root with nothing of NanoKVM's, the same accounts as the main listener (which keeps
serving both APIs), and a start that fails loudly when its port is taken."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from websockets.sync.client import connect

from tests.conftest import BASE_CONFIG, REPO, RunningApp, free_port, merge, start_app
from tests.pikvm.conftest import ADMIN


@pytest.fixture(scope="module")
def dual(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, str, ssl.SSLContext]]:
    """The app with ``pikvm.enabled``: (the app, the kvmd listener's URL, a context trusting only the
    device certificate the app made)."""
    port = free_port()
    app = start_app(Path(tmp_path_factory.mktemp("listener")), {"pikvm": {"enabled": True, "port": port}})
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # the listener opens once the main app's services run
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert app.process.poll() is None and time.monotonic() < deadline, app.log.read_text()
            time.sleep(0.1)
    trust = ssl.create_default_context(cafile=str(app.path("/etc/kvm/server.crt")))
    yield app, url, trust
    app.stop()


def test_https_with_the_device_certificate(dual: tuple[RunningApp, str, ssl.SSLContext]) -> None:
    app, url, trust = dual
    with httpx.Client(base_url=url, verify=trust, timeout=30) as client:  # verified: 127.0.0.1 is in its names
        info = client.get("/api/info", headers=ADMIN)
        assert info.status_code == 200 and info.json()["ok"] is True
        assert info.json()["result"]["system"]["kvmd"]["version"]
        assert info.headers["x-content-type-options"] == "nosniff"  # the main listener's security headers
        anonymous = client.get("/api/atx")
        assert anonymous.status_code == 401
        expected = {"error": "UnauthorizedError", "error_msg": "No credentials"}
        assert anonymous.json() == {"ok": False, "result": expected}
    with pytest.raises(httpx.TransportError):  # plain HTTP is not served there
        httpx.get(url.replace("https", "http") + "/api/info", timeout=5)
    banner = app.log.read_text()
    assert f"PiKVM's API (kvmd) also at {url}" in banner, banner


def test_only_kvmd_there(dual: tuple[RunningApp, str, ssl.SSLContext]) -> None:
    """NanoKVM's routes do not exist on it, the shared ones are kvmd's without any signal; the main
    listener still answers both APIs on the same accounts."""
    app, url, trust = dual
    with httpx.Client(base_url=url, verify=trust, timeout=30) as client:
        missing = client.get("/api/vm/info", headers=ADMIN)
        assert missing.status_code == 404 and missing.json()["ok"] is False
        # NanoKVM's login body on the kvmd listener: kvmd's login answers (it wants user/passwd).
        nano = client.post("/api/auth/login", json={"username": "admin", "password": "admin"})
        assert nano.json()["ok"] is False, nano.text
        login = client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"})
        assert login.status_code == 200 and login.json() == {"ok": True, "result": {}}
        assert "auth_token" in login.cookies
        assert client.get("/api/auth/check").json()["ok"] is True  # the cookie alone
    ws_url = url.replace("https", "wss") + "/api/ws"  # no ``stream`` parameter needed here
    with connect(ws_url, additional_headers=ADMIN, ssl=trust, open_timeout=10) as ws:
        kinds = []
        while "loop" not in kinds:
            kinds.append(json.loads(ws.recv(timeout=10))["event_type"])
        assert {"atx", "hid", "msd"} <= set(kinds)
    main = httpx.get(f"{app.url}/api/info", headers=ADMIN, timeout=30)
    assert main.json()["ok"] is True
    assert app.login().get("/api/vm/info").json()["code"] == 0


def test_taken_port_stops_the_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "server.yaml"
        extra = {"pikvm": {"enabled": True, "port": port, "proto": "http", "host": "127.0.0.1"}}
        config.write_text(yaml.safe_dump(merge(BASE_CONFIG, extra)))
        argv = [sys.executable, "-m", "app", "--config", str(config), "--port", str(free_port())]
        done = subprocess.run(
            [*argv, "--root", str(tmp_path / "root")], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"PiKVM listener http://127.0.0.1:{port}" in done.stdout + done.stderr
