"""kvmd's /api/ws: the state bundle then loop, pushed changes, ping/pong, key and mouse events in JSON
and kvmd's binary ops, stream=1 as a viewer, and revocation ending the socket."""

from __future__ import annotations

import json
import struct
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp
from tests.pikvm.conftest import ADMIN, power_on, sim_host, wait_until


def open_ws(board: RunningApp, query: str = "?stream=0", **headers: str) -> ClientConnection:
    return connect(
        board.url.replace("http", "ws") + "/api/ws" + query, additional_headers=headers or ADMIN, open_timeout=10
    )


def until_loop(socket: ClientConnection) -> dict[str, Any]:
    """Events up to ``loop``, by type."""
    seen: dict[str, Any] = {}
    while True:
        message = json.loads(socket.recv(timeout=10))
        seen[message["event_type"]] = message["event"]
        if message["event_type"] == "loop":
            return seen


def next_event(socket: ClientConnection, kind: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        message = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(message, str):
            decoded = json.loads(message)
            if decoded["event_type"] == kind:
                return decoded["event"]


def test_bundle_then_loop_and_ping(board: RunningApp) -> None:
    with open_ws(board) as socket:
        seen = until_loop(socket)
        for kind in ("atx", "hid", "msd", "gpio", "streamer", "info", "hid_keymaps"):
            assert kind in seen, kind
        assert "atx_state" in seen and "msd_state" in seen  # the published API's names too
        assert seen["hid"]["keyboard"]["connected"] is True
        assert seen["loop"]["version"]["major"] >= 4
        socket.send(json.dumps({"event_type": "ping", "event": {}}))
        assert next_event(socket, "pong") == {}
        socket.send(b"\x00")
        while (reply := socket.recv(timeout=10)) and not isinstance(reply, bytes):
            pass
        assert reply == b"\xff"


def test_state_change_pushed(board: RunningApp, kvmd: httpx.Client) -> None:
    with open_ws(board) as socket:
        until_loop(socket)
        kvmd.post("/api/hid/set_connected", params={"connected": 0}).raise_for_status()
        try:
            assert next_event(socket, "hid")["connected"] is False
        finally:
            kvmd.post("/api/hid/set_connected", params={"connected": 1}).raise_for_status()
        assert next_event(socket, "hid")["connected"] is True


def test_keys_json_and_binary(board: RunningApp, kvmd: httpx.Client) -> None:
    power_on(board, kvmd)
    board.login().post("/api/sim/host/clear").raise_for_status()
    with open_ws(board) as socket:
        until_loop(socket)
        for state in (True, False):
            socket.send(json.dumps({"event_type": "key", "event": {"key": "KeyK", "state": state}}))
        for flags in (1, 0):  # op 1: flags (bit 0 pressed), then the key name
            socket.send(bytes([1, flags]) + b"KeyV")
        socket.send(bytes([3]) + struct.pack(">hh", 32767, 0))  # op 3: absolute move to the right edge
        socket.send(json.dumps({"event_type": "mouse_button", "event": {"button": "left", "state": "true"}}))
        socket.send(json.dumps({"event_type": "mouse_button", "event": {"button": "left", "state": "false"}}))
        socket.send(json.dumps({"event_type": "mouse_wheel", "event": {"delta": -1}}))  # pikvm-lib's bare int
        wait_until(lambda: sim_host(board)["text"] == "kv" and sim_host(board)["clicks"] == 1)
        assert sim_host(board)["pointer"]["x"] >= 32760  # type: ignore[index]
        socket.send(json.dumps({"event_type": "key", "event": {"key": "ShiftLeft", "state": True}}))
    # The socket went with Shift held: it was released.
    wait_until(lambda: sim_host(board)["keysHeld"] is False)


def test_stream_1_is_a_viewer(board: RunningApp) -> None:
    with open_ws(board, "?stream=1") as socket:
        until_loop(socket)
        deadline = time.monotonic() + 15
        while True:
            streamer = next_event(socket, "streamer", max(0.1, deadline - time.monotonic()))
            if streamer["streamer"] is not None:
                break
        assert streamer["streamer"]["stream"]["clients"] >= 1
        assert "online" in streamer["streamer"]["source"]


def test_revocation_closes_within_a_second(app_factory: Any) -> None:
    app = app_factory()
    with httpx.Client(base_url=app.url, timeout=30) as client:
        client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"}).raise_for_status()
        token = client.cookies["auth_token"]
    with open_ws(app, Cookie=f"auth_token={token}") as socket:
        until_loop(socket)
        nano = app.login()
        assert nano.post("/api/auth/logout").json()["code"] == 0  # NanoKVM's logout revokes every session
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket.recv(timeout=5)
        assert time.monotonic() - started < 1.0
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_upgrade_needs_credentials(board: RunningApp) -> None:
    """Refused before the upgrade: no credentials, wrong ones, an unknown cookie."""
    for headers in (
        {"X-Probe": "none"},
        {"X-KVMD-User": "admin", "X-KVMD-Passwd": "wrong-password"},
        {"Cookie": "auth_token=" + "0" * 64},
    ):
        with pytest.raises(InvalidStatus) as refused:
            open_ws(board, **headers).close()
        assert refused.value.response.status_code == 403, headers


def test_cross_site_upgrade_refused(board: RunningApp) -> None:
    with pytest.raises(Exception):  # noqa: B017 (the handshake is refused: websockets raises InvalidStatus)
        open_ws(board, **ADMIN, Origin="https://evil.example").close()


def test_viewer_input_dropped(app_factory: Any) -> None:
    app = app_factory()
    nano = app.login()
    nano.post(
        "/api/auth/users", json={"username": "watch", "password": encrypt("Watch3r-pass"), "role": "viewer"}
    ).raise_for_status()
    nano.post("/api/vm/gpio", json={"type": "power", "duration": 50}).raise_for_status()
    wait_until(lambda: nano.get("/api/sim/host").json()["data"]["power"] == "on")
    with open_ws(app, **{"X-KVMD-User": "watch", "X-KVMD-Passwd": "Watch3r-pass"}) as socket:
        until_loop(socket)
        for state in (True, False):
            socket.send(json.dumps({"event_type": "key", "event": {"key": "KeyQ", "state": state}}))
        socket.send(json.dumps({"event_type": "ping", "event": {}}))
        next_event(socket, "pong")
    time.sleep(0.3)
    assert nano.get("/api/sim/host").json()["data"]["text"] == ""
