"""The four routes both APIs have (pikvm-clients.md §3): each kvmd signal sends a request to kvmd, and
without one NanoKVM answers exactly as before; both envelopes side by side, and a browser with both cookies."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp
from tests.pikvm.conftest import ADMIN


def nanokvm(response: httpx.Response) -> dict[str, object]:
    body: dict[str, object] = response.json()
    assert set(body) == {"code", "msg", "data"}, body
    return body


def kvmd(response: httpx.Response) -> dict[str, object]:
    body: dict[str, object] = response.json()
    assert set(body) == {"ok", "result"}, body
    return body


@pytest.fixture
def tokens(board: RunningApp) -> Iterator[tuple[str, str]]:
    """A NanoKVM session token and a kvmd one, both for admin."""
    with httpx.Client(base_url=board.url, timeout=30) as client:
        nano = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})
        pikvm = client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"})
        yield nano.cookies["nano-kvm-token"], pikvm.cookies["auth_token"]


# --- POST /api/auth/login ----------------------------------------------------------------------


def test_login_by_body_keys(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as client:
        nano = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})
        assert nanokvm(nano)["code"] == 0 and "nano-kvm-token" in nano.cookies and "auth_token" not in nano.cookies
        form = client.post("/api/auth/login", data={"user": "admin", "passwd": "admin"})
        assert kvmd(form)["ok"] is True and "auth_token" in form.cookies and "nano-kvm-token" not in form.cookies
        as_json = client.post("/api/auth/login", json={"user": "admin", "passwd": "admin"})
        assert kvmd(as_json)["ok"] is True
        # NanoKVM's keys in a form (gin binds forms too) stay NanoKVM's.
        nano_form = client.post("/api/auth/login", data={"username": "admin", "password": encrypt("admin")})
        assert nanokvm(nano_form)["code"] == 0
        # A kvmd credential header on the login itself is a kvmd signal.
        header = client.post("/api/auth/login", headers=ADMIN)
        assert kvmd(header)["ok"] is True


def test_login_without_signal_stays_nanokvm(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as client:
        assert nanokvm(client.post("/api/auth/login", json={}))["code"] == -1
        assert nanokvm(client.post("/api/auth/login", content=b"garbage"))["code"] == -1


# --- POST /api/auth/logout and /api/hid/reset ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/hid/reset", "/api/auth/logout"])
def test_credentials_pick_the_api(board: RunningApp, path: str) -> None:
    def fresh() -> tuple[str, str]:  # a logout through either API ends every session of the user
        with httpx.Client(base_url=board.url, timeout=30) as login:
            nano = login.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})
            pikvm = login.post("/api/auth/login", data={"user": "admin", "passwd": "admin"})
            return nano.cookies["nano-kvm-token"], pikvm.cookies["auth_token"]

    with httpx.Client(base_url=board.url, timeout=30) as client:
        nano_token, _ = fresh()
        # Explicit kvmd credentials win even with NanoKVM's cookie present.
        assert kvmd(client.post(path, headers={**ADMIN, "Cookie": f"nano-kvm-token={nano_token}"}))["ok"] is True
        assert kvmd(client.post(path, auth=("admin", "admin")))["ok"] is True
        _, kvmd_token = fresh()
        assert kvmd(client.post(path, headers={"Cookie": f"auth_token={kvmd_token}"}))["ok"] is True
        # Both cookies (a browser with both pages open): NanoKVM's route, as before.
        nano_token, kvmd_token = fresh()
        both = client.post(path, headers={"Cookie": f"nano-kvm-token={nano_token}; auth_token={kvmd_token}"})
        assert nanokvm(both)["code"] == 0
        # No credential at all: NanoKVM's 401 text.
        bare = client.post(path, headers={"Cookie": ""})
        assert bare.status_code == 401 and bare.json() == "unauthorized"


# --- GET /api/ws ----------------------------------------------------------------------------------


def _first(url: str, headers: dict[str, str]) -> dict[str, object]:
    with connect(url, additional_headers=headers, open_timeout=10) as socket:
        message: dict[str, object] = json.loads(socket.recv(timeout=10))
        return message


def test_ws_by_stream_param_and_credentials(board: RunningApp, tokens: tuple[str, str]) -> None:
    nano_token, kvmd_token = tokens
    base = board.url.replace("http", "ws") + "/api/ws"
    both = {"Cookie": f"nano-kvm-token={nano_token}; auth_token={kvmd_token}"}
    assert set(_first(base, both)) == {"type", "data"}  # NanoKVM's page, both cookies
    assert set(_first(base, {"Cookie": f"nano-kvm-token={nano_token}"})) == {"type", "data"}
    assert set(_first(base + "?stream=0", both)) == {"event_type", "event"}  # kvmd's page sends stream=
    assert set(_first(base, ADMIN)) == {"event_type", "event"}
    assert set(_first(base, {"Cookie": f"auth_token={kvmd_token}"})) == {"event_type", "event"}
