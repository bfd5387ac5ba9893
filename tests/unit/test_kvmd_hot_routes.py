"""kvmd's hot routes (app/api/hot.py, ``serve_kvmd_hot``) answer byte for byte what Litestar's handlers
answer, leave every refusal to Litestar, and never check a password themselves (so a wrong one is
counted once towards the lock-out, and paused once).

Each request goes through the whole app (NanoKVM's hot layer, security headers, the kvmd dispatch, the
kvmd app) twice: once with kvmd's hot layer, once with it bypassed; the status, headers and body must
be the same, and a count of the requests reaching Litestar shows which layer answered.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app import server
from app.api import hot
from app.api.pikvm import app as kvmd_app
from app.config import Config, Security
from tests.conftest import past_first_login
from tests.unit.test_hot_routes import Answer, Asgi, call

HOT_PATHS = ("/api/auth/check", "/api/info", "/api/atx", "/api/hid", "/api/streamer")
ADMIN = [(b"x-kvmd-user", b"admin"), (b"x-kvmd-passwd", b"admin")]
WRONG = [(b"x-kvmd-user", b"admin"), (b"x-kvmd-passwd", b"wrong-password")]


class Bypass:
    """The kvmd app's handler with its hot layer, which a test can bypass (Litestar answers alone)."""

    def __init__(self, inner: Asgi, app: Any, services: Any) -> None:
        self.inner = inner
        self.hot = hot.serve_kvmd_hot(self.litestar, app, services)
        self.bypass = False
        self.calls = 0  # requests that reached Litestar

    async def litestar(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await (self.litestar if self.bypass else self.hot)(scope, receive, send)


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: bool = False, **config: Any
) -> AsyncIterator[tuple[Any, Bypass]]:
    layers: list[Bypass] = []

    def bypassable(inner: Any, app: Any, services: Any) -> Any:
        layers.append(Bypass(inner, app, services))
        return layers[-1]

    monkeypatch.setattr(kvmd_app, "serve_kvmd_hot", bypassable)
    root = tmp_path / "root"
    if not shipped:
        past_first_login(root)
    app = server.create_app(Config(board="sim", **config), root)
    async with app.lifespan():
        yield app, layers[0]


async def both(app: Any, layer: Bypass, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[Answer, Answer, bool]:
    """(the app's answer, Litestar's answer, whether the hot layer answered the first)."""
    before = layer.calls
    ours = await call(app.asgi_handler, app, "GET", path, headers)
    answered_hot = layer.calls == before
    layer.bypass = True
    try:
        litestar = await call(app.asgi_handler, app, "GET", path, headers)
    finally:
        layer.bypass = False
    assert layer.calls == before + (1 if answered_hot else 2)
    return ours, litestar, answered_hot


def basic(user: bytes, password: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", b"Basic " + base64.b64encode(user + b":" + password))]


async def test_hot_answers_equal_litestars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(tmp_path, monkeypatch) as (app, layer):
        # A password is checked by Litestar's side first (bcrypt, the lock-out); then it is remembered.
        ours, litestar, answered_hot = await both(app, layer, "/api/auth/check", ADMIN)
        assert not answered_hot and ours == litestar and ours[0] == 200
        login = b'{"user": "admin", "passwd": "admin"}'
        status, headers, _ = await call(
            app.asgi_handler, app, "POST", "/api/auth/login", [(b"content-type", b"application/json")], login
        )
        assert status == 200
        token = dict(headers)[b"set-cookie"].split(b";")[0]
        for credentials in (ADMIN, basic(b"admin", b"admin"), [(b"cookie", token)]):
            for path in HOT_PATHS:
                ours, litestar, answered_hot = await both(app, layer, path, credentials)
                assert answered_hot, (path, credentials)
                assert ours == litestar, (path, credentials)
                assert ours[0] == 200 and msgspec.json.decode(ours[2])["ok"] is True
        # kvmd's routes read their query (fields=, legacy=): with one, Litestar answers.
        for path in ("/api/info?fields=system", "/api/info?legacy=0", "/api/atx?x=1"):
            ours, litestar, answered_hot = await both(app, layer, path, ADMIN)
            assert not answered_hot and ours == litestar and ours[0] == 200, path
        assert list(msgspec.json.decode(ours[2])["result"]) == ["enabled", "busy", "leds"]
        # kvmd's own listener serves the same kvmd app, hot layer included.
        listener = app.state.kvmd_app
        before = layer.calls
        alone = await call(listener, app, "GET", "/api/atx", ADMIN)
        assert layer.calls == before and alone[0] == 200
        layer.bypass = True
        assert await call(listener, app, "GET", "/api/atx", ADMIN) == alone


async def test_refusals_are_litestars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(tmp_path, monkeypatch) as (app, layer):
        await both(app, layer, "/api/auth/check", ADMIN)  # remembered from here on
        refused = [
            ([], 401),
            ([(b"cookie", b"auth_token=" + b"0" * 64)], 403),
            ([*ADMIN, (b"host", b"bad host\x01")], 400),  # Litestar's check of the Host header
        ]
        for headers, status in refused:
            for path in HOT_PATHS:
                ours, litestar, answered_hot = await both(app, layer, path, headers)
                assert not answered_hot, (path, headers)
                assert ours == litestar and ours[0] == status, (path, ours)
                assert msgspec.json.decode(ours[2])["ok"] is False


async def test_wrong_password_counted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three failures lock the address: two wrong requests to a hot route count two, not four."""
    security = Security(login_lockout_duration=60, login_max_failures=3, login_failure_delay=0)
    async with running(tmp_path, monkeypatch, security=security) as (app, layer):
        for _ in range(2):
            status, _, body = await call(app.asgi_handler, app, "GET", "/api/atx", WRONG)
            assert status == 403 and b"Invalid credentials" in body
        status, _, body = await call(app.asgi_handler, app, "GET", "/api/atx", ADMIN)
        assert status == 200, body
        # A locked address is refused even with a remembered password: the hot layer leaves it to Litestar.
        for _ in range(3):
            await call(app.asgi_handler, app, "GET", "/api/atx", WRONG)
        ours, litestar, answered_hot = await both(app, layer, "/api/atx", ADMIN)
        assert not answered_hot and ours == litestar and b"Locked out" in ours[2]


async def test_default_password_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still on admin/admin: kvmd's routes are refused until the password is changed, hot ones too."""
    async with running(tmp_path, monkeypatch, shipped=True) as (app, layer):
        for path in HOT_PATHS:
            ours, litestar, answered_hot = await both(app, layer, path, ADMIN)
            assert not answered_hot and ours == litestar, path
            assert ours[0] == 403 and b"password change required" in ours[2]
