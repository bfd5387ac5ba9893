"""The hot routes (app/api/hot.py) answer byte for byte what Litestar's handlers answer, and leave
every refusal to Litestar.

Each request goes once through the app's ASGI entry (hot layer first) and once straight to the
handler behind the hot layer (Litestar with its middleware, gin's wire and the kvmd dispatch); the
status, headers and body must be the same, and the spy on the inner handler shows which layer
answered (a hot layer that never answers would make the comparison say nothing).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app import server
from app.api import hot
from app.config import Config
from app.services.auth.transport import encrypt
from tests.conftest import past_first_login

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
HOT_PATHS = ("/api/vm/info", "/api/vm/hardware", "/api/vm/gpio", "/api/vm/gpio/led")


class Spy:
    """The handler behind the hot layer, counting the requests that reach it."""

    def __init__(self, inner: Asgi) -> None:
        self.inner = inner
        self.calls = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.calls += 1
        await self.inner(scope, receive, send)


async def call(
    asgi: Asgi, app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> Answer:
    raw_path, _, query = path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers if any(name == b"host" for name, _ in headers) else [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "extensions": {},
        # What Litestar.__call__ sets before its ASGI handler runs.
        "app": app,
        "litestar_app": app,
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asgi(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start.get("headers", [])), content


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipped: bool = False
) -> AsyncIterator[tuple[Any, Spy]]:
    """The app on a sim board (``shipped``: still on admin/admin), its lifespan entered."""
    spies: list[Spy] = []

    def spying(inner: Any, app: Any, services: Any) -> Any:
        spies.append(Spy(inner))
        return hot.serve_hot(spies[-1], app, services)

    monkeypatch.setattr(server, "serve_hot", spying)
    root = tmp_path / "root"
    if not shipped:
        past_first_login(root)
    app = server.create_app(Config(board="sim"), root)
    async with app.lifespan():
        yield app, spies[0]


async def login(app: Any, spy: Spy) -> bytes:
    body = msgspec.json.encode({"username": "admin", "password": encrypt("admin")})
    status, _headers, content = await call(
        app.asgi_handler, app, "POST", "/api/auth/login", [(b"content-type", b"application/json")], body
    )
    assert status == 200 and msgspec.json.decode(content)["code"] == 0, content
    return b"nano-kvm-token=" + msgspec.json.decode(content)["data"]["token"].encode()


async def both(app: Any, spy: Spy, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[Answer, Answer, bool]:
    """(the app's answer, Litestar's answer, whether the hot layer answered the first)."""
    before = spy.calls
    ours = await call(app.asgi_handler, app, "GET", path, headers)
    answered_hot = spy.calls == before
    litestar = await call(spy.inner, app, "GET", path, headers)
    return ours, litestar, answered_hot


async def test_hot_answers_equal_litestars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(tmp_path, monkeypatch) as (app, spy):
        await _hot_answers_equal_litestars(app, spy)


async def _hot_answers_equal_litestars(app: Any, spy: Spy) -> None:
    cookie = await login(app, spy)
    for path in HOT_PATHS:
        ours, litestar, answered_hot = await both(app, spy, path, [(b"cookie", cookie)])
        assert answered_hot, path
        assert ours == litestar, path
        assert ours[0] == 200 and msgspec.json.decode(ours[2])["code"] == 0
        assert dict(ours[1])[b"content-type"] == b"application/json; charset=utf-8"
    # A query string changes nothing; a login token as Bearer is a session like the cookie.
    token = cookie.split(b"=", 1)[1]
    for path, headers in (
        ("/api/vm/info?x=1", [(b"cookie", cookie)]),
        ("/api/vm/info", [(b"authorization", b"Bearer " + token)]),
    ):
        ours, litestar, answered_hot = await both(app, spy, path, headers)
        assert answered_hot and ours == litestar and ours[0] == 200, path


async def test_refusals_are_litestars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running(tmp_path, monkeypatch) as (app, spy):
        await _refusals_are_litestars(app, spy)


async def _refusals_are_litestars(app: Any, spy: Spy) -> None:
    cookie = await login(app, spy)
    refused = [
        ("/api/vm/info", [], 401),  # no session
        ("/api/vm/gpio", [(b"cookie", b"nano-kvm-token=forged")], 401),
        # Litestar's check of the Host header: its refusal, in NanoKVM's envelope
        ("/api/vm/info", [(b"cookie", cookie), (b"host", b"bad host\x01")], 200),
    ]
    for path, headers, status in refused:
        ours, litestar, answered_hot = await both(app, spy, path, headers)
        assert not answered_hot, path
        assert ours == litestar and ours[0] == status, (path, ours)
        assert status != 200 or b"invalid host header" in ours[2].lower()
    # Logging out revokes the session: the hot routes refuse it at once.
    await call(app.asgi_handler, app, "POST", "/api/auth/logout", [(b"cookie", cookie)])
    ours, litestar, answered_hot = await both(app, spy, "/api/vm/info", [(b"cookie", cookie)])
    assert not answered_hot and ours == litestar and ours[0] == 401


async def test_default_password_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Still on admin/admin: /api/vm/info and /hardware (read to log in) answer, the LEDs are refused."""
    async with running(tmp_path, monkeypatch, shipped=True) as (app, spy):
        await _default_password_account(app, spy)


async def _default_password_account(app: Any, spy: Spy) -> None:
    cookie = await login(app, spy)
    for path, hot_answer in (("/api/vm/info", True), ("/api/vm/hardware", True), ("/api/vm/gpio", False)):
        ours, litestar, answered_hot = await both(app, spy, path, [(b"cookie", cookie)])
        assert answered_hot == hot_answer, path
        assert ours == litestar, path
    assert ours[0] == 403 and b"password change required" in ours[2]
