"""The first path a newcomer takes: log in and press the power button."""

from __future__ import annotations

import time

from tests.conftest import RunningApp


def test_login_and_power_on(kvm: RunningApp) -> None:
    client = kvm.login()
    assert client.get("/api/vm/gpio").json()["data"] == {"pwr": False, "hdd": False}
    assert client.post("/api/vm/gpio", json={"type": "power", "duration": 200}).json()["code"] == 0
    deadline = time.monotonic() + 5
    while not client.get("/api/vm/gpio").json()["data"]["pwr"]:
        assert time.monotonic() < deadline, "the sim host did not power on"
        time.sleep(0.05)
