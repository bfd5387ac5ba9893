"""Shared fixtures: the real app, started as ``python -m app`` on a free port with a temp device root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from app.services.auth.accounts import AccountStore
from app.services.auth.transport import encrypt

REPO = Path(__file__).resolve().parent.parent

# Fast failure pauses, so lock-out and bad-credential tests do not sleep for seconds.
BASE_CONFIG: dict[str, object] = {
    "host": "127.0.0.1",
    "board": "sim",
    "security": {"loginFailureDelay": 0.01},
    "logger": {"level": "warn"},
}


class ButtonWatch:
    """Polls a button's GPIO value file in a thread; ``pressed`` says whether it ever read 1."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pressed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if self.path.read_text().strip() == "1":
                self.pressed = True

    def __enter__(self) -> ButtonWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def merge(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)  # type: ignore[arg-type]
        else:
            out[key] = value
    return out


@dataclass
class RunningApp:
    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30)
        self._clients.append(client)
        return client

    def login(self, username: str = "admin", password: str = "admin") -> httpx.Client:
        """A client holding a session cookie."""
        client = self.client()
        answer = client.post("/api/auth/login", json={"username": username, "password": encrypt(password)}).json()
        assert answer["code"] == 0, answer
        return client

    def path(self, device_path: str) -> Path:
        return self.root / device_path.lstrip("/")

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def past_first_login(root: Path) -> None:
    """The account file of a device whose admin has been through the first login and kept ``admin``
    as the password (the server's policy would not take so short a new password; tests want one login
    for all). Without this the server allows nothing but the password change (issue 13, finding 5)."""
    store = root / "etc/kvm/pwd"
    if store.exists():
        return
    AccountStore(store).refresh()  # the first start's default: admin/admin, must change
    doc = json.loads(store.read_text())
    for user in doc["users"]:
        user["mustChangePassword"] = False
    store.write_text(json.dumps(doc))
    store.chmod(0o600)


def start_app(
    tmp: Path, extra: dict[str, object] | None = None, root: Path | None = None, first_boot: bool = False
) -> RunningApp:
    """``first_boot``: the device as shipped (admin/admin must be changed before anything else)."""
    port = free_port()
    root = root or tmp / "root"
    if not first_boot:
        past_first_login(root)
    config = tmp / "server.yaml"
    config.write_text(yaml.safe_dump(merge(BASE_CONFIG, extra or {})))
    log = tmp / "app.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--config", str(config), "--port", str(port), "--root", str(root)],
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{log.read_text()}")
        try:
            httpx.get(f"{url}/api/vm/hardware", timeout=1)
            return RunningApp(url, root, process, log)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"app did not start:\n{log.read_text()}")


@pytest.fixture
def app_factory(tmp_path: Path) -> Iterator[Callable[..., RunningApp]]:
    """Start apps with extra config; each gets its own directory under tmp_path."""
    started: list[RunningApp] = []

    def factory(extra: dict[str, object] | None = None, first_boot: bool = False) -> RunningApp:
        directory = tmp_path / f"app{len(started)}"
        directory.mkdir()
        app = start_app(directory, extra, first_boot=first_boot)
        started.append(app)
        return app

    yield factory
    for app in started:
        app.stop()


@pytest.fixture
def kvm(app_factory: Callable[..., RunningApp]) -> RunningApp:
    """A fresh sim board app with default settings."""
    return app_factory()
