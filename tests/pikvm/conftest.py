"""One sim board app per module for the kvmd API tests (each start costs seconds on a loaded machine)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningApp, start_app

ADMIN = {"X-KVMD-User": "admin", "X-KVMD-Passwd": "admin"}
_nano: dict[str, httpx.Client] = {}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(Path(tmp_path_factory.mktemp("kvmd")))
    yield app
    app.stop()


@pytest.fixture
def kvmd(board: RunningApp) -> Iterator[httpx.Client]:
    """A client sending kvmd's per-request credentials."""
    with httpx.Client(base_url=board.url, headers=ADMIN, timeout=30) as client:
        yield client


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def sim_host(board: RunningApp) -> dict[str, object]:
    nano = _nano.get(board.url) or _nano.setdefault(board.url, board.login())  # /api/sim/host is NanoKVM's
    response = nano.get("/api/sim/host")
    if response.status_code == 401:  # a test logged admin out (every admin session ends)
        nano = _nano[board.url] = board.login()
        response = nano.get("/api/sim/host")
    answer = response.json()
    assert answer["code"] == 0
    data: dict[str, object] = answer["data"]
    return data


def power_on(board: RunningApp, client: httpx.Client) -> None:
    if client.get("/api/atx").json()["result"]["leds"]["power"]:
        return
    assert client.post("/api/atx/power", params={"action": "on", "wait": 1}).json()["ok"]
    wait_until(lambda: sim_host(board)["power"] == "on")
    time.sleep(0.2)  # the host opened its USB side
