"""Keyboard and mouse through /api/ws with a real WebSocket client, into the sim host; paste; LEDs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

KEY_A, KEY_B, KEY_H, KEY_I, CAPS = 0x04, 0x05, 0x0B, 0x0C, 0x39


def key(usage: int, modifiers: int = 0) -> bytes:
    return bytes([1, modifiers, 0, usage, 0, 0, 0, 0, 0])


RELEASE = bytes([1, 0, 0, 0, 0, 0, 0, 0, 0])


def cookie(client: httpx.Client) -> str:
    return f"nano-kvm-token={client.cookies.get('nano-kvm-token')}"


def ws(kvm: RunningApp, client: httpx.Client, **headers: str) -> ClientConnection:
    return connect(
        kvm.url.replace("http", "ws") + "/api/ws",
        additional_headers={"Cookie": cookie(client), **headers},
        open_timeout=10,
    )


def host(client: httpx.Client) -> dict[str, Any]:
    answer = client.get("/api/sim/host").json()
    assert answer["code"] == 0
    return answer["data"]


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def powered(kvm: RunningApp) -> Iterator[httpx.Client]:
    """An admin session with the sim host switched on (a PC that is off polls no USB device)."""
    admin = kvm.login()
    assert admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
    wait_until(lambda: host(admin)["power"] != "off")
    time.sleep(0.2)  # the host opened its USB side
    yield admin


def messages(conn: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(str(conn.recv(timeout=5))) for _ in range(count)]


def test_typing_over_the_websocket(kvm: RunningApp, powered: httpx.Client) -> None:
    with ws(kvm, powered) as conn:
        snapshot = messages(conn, 2)
        assert [m["type"] for m in snapshot] == ["h264-mode-status", "hid-led-status"]
        assert isinstance(snapshot[1]["data"], str)  # double-encoded, as NanoKVM
        for usage, modifiers in ((KEY_H, 0x02), (KEY_I, 0)):
            conn.send(key(usage, modifiers))
            conn.send(RELEASE)
        wait_until(lambda: host(powered)["text"] == "Hi")
    assert host(powered)["keysHeld"] is False


def test_mice(kvm: RunningApp, powered: httpx.Client) -> None:
    with ws(kvm, powered) as conn:
        conn.send(bytes([2, 0, 0x00, 0x40, 0x00, 0x20, 0]))  # absolute (16384, 8192)
        wait_until(lambda: host(powered)["pointer"] == {"x": 16384, "y": 8192})
        conn.send(bytes([2, 1, 0x00, 0x40, 0x00, 0x20, 0]))  # left click there
        conn.send(bytes([2, 0, 0x00, 0x40, 0x00, 0x20, 0]))
        conn.send(bytes([2, 0, 10, 256 - 10, 0]))  # relative: right 10, up 10
        wait_until(lambda: host(powered)["pointer"] == {"x": 16384 + 640, "y": 8192 - 640})
        assert host(powered)["clicks"] == 1


def test_legacy_json_protocol(kvm: RunningApp, powered: httpx.Client) -> None:
    with ws(kvm, powered) as conn:
        conn.send(f"[1, {KEY_B}, 0, 2, 0, 0]")
        conn.send("[1, 0, 0, 0, 0, 0]")
        conn.send("[2, 2, 0, 100, 200]")
        wait_until(lambda: host(powered)["text"] == "B" and host(powered)["pointer"] == {"x": 100, "y": 200})


def test_release_on_disconnect(kvm: RunningApp, powered: httpx.Client) -> None:
    with ws(kvm, powered) as conn:
        conn.send(key(KEY_A, 0x01))  # Ctrl+A held...
        wait_until(lambda: host(powered)["keysHeld"] is True)
    wait_until(lambda: host(powered)["keysHeld"] is False)  # ...let go when the page went away


def test_caps_lock_led_reaches_the_api_and_the_socket(kvm: RunningApp, powered: httpx.Client) -> None:
    assert powered.get("/api/hid/leds").json()["data"]["capsLock"] is False
    with ws(kvm, powered) as conn:
        messages(conn, 2)
        conn.send(key(CAPS))
        conn.send(RELEASE)
        update = messages(conn, 1)[0]
        assert update["type"] == "hid-led-status"
        assert json.loads(update["data"])["capsLock"] is True
    leds = powered.get("/api/hid/leds").json()["data"]
    assert leds["capsLock"] is True and leds["known"] is True and leds["updatedAt"].endswith("Z")


def test_viewer_sees_status_but_cannot_type(kvm: RunningApp, powered: httpx.Client) -> None:
    assert (
        powered.post(
            "/api/auth/users", json={"username": "watcher", "password": encrypt("watcher-pass"), "role": "viewer"}
        ).json()["code"]
        == 0
    )
    viewer = kvm.login("watcher", "watcher-pass")
    with ws(kvm, viewer) as conn:
        assert len(messages(conn, 2)) == 2
        conn.send(key(KEY_A))
        conn.send(RELEASE)
        time.sleep(0.5)
    assert host(powered)["text"] == ""


def test_logout_closes_with_4401(kvm: RunningApp) -> None:
    admin = kvm.login()
    with ws(kvm, admin) as conn:
        messages(conn, 2)
        assert admin.post("/api/auth/logout").json()["code"] == 0
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                conn.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_idle_timeout(app_factory: Callable[..., RunningApp]) -> None:
    kvm = app_factory({"hid": {"wsIdleSeconds": 1}})
    admin = kvm.login()
    with ws(kvm, admin) as conn:
        messages(conn, 2)
        conn.send(bytes([0]))  # a heartbeat keeps it open...
        time.sleep(0.7)
        conn.send(bytes([0]))
        time.sleep(0.7)
        conn.send(bytes([0]))
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):  # ...silence does not
            while True:
                conn.recv(timeout=5)
        assert time.monotonic() - started < 3


def test_handshake_refusals(kvm: RunningApp) -> None:
    admin = kvm.login()
    url = kvm.url.replace("http", "ws") + "/api/ws"
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=5).close()  # no session
    with pytest.raises(InvalidStatus):
        ws(kvm, admin, Origin="http://evil.example").close()  # another site's page
    host_port = kvm.url.removeprefix("http://")
    with ws(kvm, admin, Origin=f"http://{host_port}") as conn:  # our own page
        assert len(messages(conn, 2)) == 2


def test_paste(kvm: RunningApp, powered: httpx.Client) -> None:
    text = "Hello, World! 0123456789 ~!@#$%^&*()_+{}|:\"<>? `-=[]\\;',./\n\tend"
    answer = powered.post("/api/hid/paste", json={"content": text}, timeout=60).json()
    assert answer == {"code": 0, "msg": "success", "data": None}
    assert host(powered)["text"] == text  # every character, in order
    assert host(powered)["keysHeld"] is False


def test_paste_errors(app_factory: Callable[..., RunningApp]) -> None:
    kvm = app_factory({"hid": {"pasteDelayMs": 3}})  # 833 characters take 2.5 s or more
    admin = kvm.login()
    assert admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
    wait_until(lambda: host(admin)["power"] != "off")
    time.sleep(0.2)
    assert admin.post("/api/hid/paste", json={"content": "x" * 834}).json()["code"] == -2
    assert admin.post("/api/hid/paste", json={"content": "x", "langue": "klingon"}).json()["code"] == -1
    assert admin.post("/api/hid/paste", json={"content": 5}).json()["code"] == -1
    results: list[int] = []

    def paste() -> None:
        results.append(admin.post("/api/hid/paste", json={"content": "a" * 833}, timeout=60).json()["code"])

    first = threading.Thread(target=paste)
    first.start()
    time.sleep(0.5)
    second = admin.post("/api/hid/paste", json={"content": "b"}).json()
    busy_reset = admin.post("/api/hid/reset").json()
    first.join()
    assert results == [0]
    assert second == {"code": -3, "msg": "HID control is busy", "data": None}
    assert busy_reset["code"] == -1


def test_a_host_that_is_off_does_not_stall_the_api(kvm: RunningApp) -> None:
    admin = kvm.login()  # the host is off: nobody reads the gadget nodes
    with ws(kvm, admin) as conn:
        for _ in range(2000):
            conn.send(key(KEY_A))
            conn.send(RELEASE)
        started = time.monotonic()
        for _ in range(20):
            assert admin.get("/api/vm/info").json()["code"] == 0
        assert time.monotonic() - started < 2
    started = time.monotonic()
    answer = admin.post("/api/hid/paste", json={"content": "lost" * 200}, timeout=30).json()
    assert answer == {"code": -3, "msg": "HID paste failed: the host is not reading the keyboard", "data": None}
    assert time.monotonic() - started < 5  # it gives up at the first dropped report, not per character


def test_shortcuts_leader_key_mode_and_jiggler(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/hid/shortcuts").json()["data"] == {"shortcuts": []}
    keys = [{"code": "ControlLeft", "label": "Ctrl"}, {"code": "Delete", "label": "Del"}]
    assert admin.post("/api/hid/shortcut", json={"keys": keys}).json()["code"] == 0
    (saved,) = admin.get("/api/hid/shortcuts").json()["data"]["shortcuts"]
    assert saved["keys"] == keys and len(saved["id"]) == 36
    assert admin.request("DELETE", "/api/hid/shortcut", json={"id": "nope"}).json()["code"] == -2
    assert admin.request("DELETE", "/api/hid/shortcut", json={"id": saved["id"]}).json()["code"] == 0
    assert admin.get("/api/hid/shortcut/leader-key").json()["data"] == {"key": ""}
    assert admin.post("/api/hid/shortcut/leader-key", json={"key": "ScrollLock"}).json()["code"] == 0
    assert admin.get("/api/hid/shortcut/leader-key").json()["data"] == {"key": "ScrollLock"}
    assert admin.get("/api/hid/mode").json()["data"] == {"mode": "normal"}
    assert admin.post("/api/hid/mode", json={"mode": "keyboard"}).json()["code"] == -1
    assert admin.post("/api/hid/mode", json={"mode": "hid-only"}).json()["code"] == 0
    assert admin.get("/api/hid/mode").json()["data"] == {"mode": "hid-only"}
    assert kvm.path("/sys/kernel/config/usb_gadget/g0/bcdDevice").read_text().strip() == "0x0623"
    assert not kvm.path("/sys/kernel/config/usb_gadget/g0/functions/mass_storage.disk0").exists()
    assert admin.post("/api/hid/mode", json={"mode": "normal"}).json()["code"] == 0
    assert admin.get("/api/hid/mode").json()["data"] == {"mode": "normal"}
    # The jiggler's trailing-slash quirk: POST only on the slash form, GET only on the bare one.
    moved = admin.post("/api/vm/mouse-jiggler", json={"enabled": True, "mode": "relative"})
    assert moved.status_code == 307 and moved.headers["location"] == "/api/vm/mouse-jiggler/"
    assert admin.post("/api/vm/mouse-jiggler/", json={"enabled": True, "mode": "relative"}).json()["code"] == 0
    assert kvm.path("/etc/kvm/mouse-jiggler").read_text() == "relative"
    moved = admin.get("/api/vm/mouse-jiggler/")
    assert moved.status_code == 301 and moved.headers["location"] == "/api/vm/mouse-jiggler"
    assert admin.get("/api/vm/mouse-jiggler").json()["data"] == {"enabled": True, "mode": "relative"}
    assert admin.post("/api/vm/mouse-jiggler/", json={"enabled": False, "mode": "relative"}).json()["code"] == 0
    assert admin.post("/api/vm/mouse-jiggler/", json={"enabled": False, "mode": "relative"}).json()["code"] == -2
