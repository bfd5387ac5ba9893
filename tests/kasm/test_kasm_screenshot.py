"""``/api/get_screenshot`` on the sim PC's real captured screen: sizes keep the aspect ratio, quality
is KasmVNC's 0-9, and ``deduplicate`` answers nothing until the screen changes (per client)."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import httpx
import numpy as np
import pytest

from tests.api.h264 import power_on
from tests.conftest import RunningApp
from tests.kasm.curl import curl


@pytest.fixture
def kvm(app_factory: Callable[..., RunningApp]) -> RunningApp:
    return app_factory()


def size(jpeg: bytes) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image.shape[1], image.shape[0]


def test_sizes_and_quality(kvm: RunningApp) -> None:
    admin = kvm.login()
    power_on(admin)
    full = curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot")
    assert full.status == 200 and size(full.body) == (1920, 1080)
    # A width and a height of another aspect ratio: the width wins, the height follows.
    assert size(curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot?width=640&height=100").body) == (640, 360)
    assert size(curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot?height=540").body) == (960, 540)
    low = curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot?quality=0").body
    high = curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot?quality=9").body
    assert len(low) * 2 < len(high), (len(low), len(high))
    for bad in ("quality=10", "width=-1", "width=abc", "deduplicate=perhaps"):
        answer = curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot?{bad}")
        assert answer.status == 400 and answer.json()["error"], bad


def test_deduplicate_answers_nothing_until_the_screen_changes(kvm: RunningApp) -> None:
    admin = kvm.login()
    # A still console (no clock): the screen changes only when typed on.
    assert admin.post("/api/sim/host/clock", json={"enabled": False}).json()["code"] == 0
    power_on(admin)
    time.sleep(0.5)  # the boot's last BIOS line has gone
    url = f"{kvm.url}/api/get_screenshot?deduplicate=true"
    first = curl("-u", "admin:admin", url)
    assert first.status == 200 and size(first.body) == (1920, 1080)
    second = curl("-u", "admin:admin", url)
    assert second.status == 200 and second.body == b""
    # Another client (our session cookie) has not seen it yet.
    assert len(admin.get("/api/get_screenshot?deduplicate=true").content) > 0
    # Without deduplicate, always a picture.
    assert len(curl("-u", "admin:admin", f"{kvm.url}/api/get_screenshot").body) > 0
    assert curl("-u", "admin:admin", url).body == b""

    assert admin.post("/api/hid/paste", json={"content": "x"}).json()["code"] == 0
    deadline = time.monotonic() + 10
    while admin.get("/api/sim/host").json()["data"]["text"] != "x":
        assert time.monotonic() < deadline, "the keystroke did not arrive"
        time.sleep(0.05)
    time.sleep(0.3)  # a capture after the keystroke
    changed = curl("-u", "admin:admin", url)
    assert changed.status == 200 and size(changed.body) == (1920, 1080)
    assert curl("-u", "admin:admin", url).body == b""


def test_a_viewer_is_refused(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/create_user?name=watcher&password=watching1").status_code == 200
    answer = httpx.get(f"{kvm.url}/api/get_screenshot", auth=("watcher", "watching1"))
    assert answer.status_code == 403
