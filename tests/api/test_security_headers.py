"""Security headers on every answer (issue 13, finding 6): our page, both APIs' JSON, streams, static
files, redirects and every kind of error, each fetched over a real socket from the running app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.api.crosssite import same_origin
from tests.conftest import RunningApp, start_app

EVERY_ANSWER = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "same-origin"}


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        assert name not in parsed, f"{name} twice in {policy!r}"
        parsed[name] = values
    return parsed


def assert_every_answer_headers(response: httpx.Response) -> None:
    """The three headers once each; the CSP exactly on HTML (gin's redirect page is HTML too)."""
    for name, value in EVERY_ANSWER.items():
        assert response.headers.get_list(name) == [value], (response.request.url, name, dict(response.headers))
    html = response.headers.get("content-type", "text/html").startswith("text/html")
    assert ("content-security-policy" in response.headers) == html, (response.request.url, dict(response.headers))


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the module (nothing here changes its state that another case reads)."""
    app = start_app(Path(tmp_path_factory.mktemp("headers")))
    yield app
    app.stop()


@pytest.fixture
def admin(kvm: RunningApp) -> httpx.Client:
    return kvm.login()


def test_our_page_carries_a_strict_csp(kvm: RunningApp) -> None:
    page = httpx.get(kvm.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), page.text[:200]
    assert '<div id="root">' in page.text  # the built page, not an error
    assert_every_answer_headers(page)
    policy = directives(page.headers["content-security-policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    # No inline or evaluated script anywhere, and nothing loaded from another origin.
    assert policy["script-src"] == ["'self'"] and policy["default-src"] == ["'self'"]
    for values in policy.values():
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"} & set(values), policy
    # A deep link of the single-page app (html_mode) and a HEAD get the same.
    head = httpx.head(kvm.url + "/index.html")
    assert head.status_code == 200 and "content-security-policy" in head.headers
    assert_every_answer_headers(head)


def test_the_page_assets_are_same_origin_and_typed(kvm: RunningApp) -> None:
    """With nosniff, a script or style sheet served under the wrong type would not run: each asset the
    page names answers with its own type, from this origin."""
    page = httpx.get(kvm.url + "/").text
    assets = [part.split('"')[0] for part in page.split('src="')[1:] + page.split('href="')[1:]]
    assets = [a for a in assets if a.startswith("/")]
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        answer = httpx.get(kvm.url + asset)
        want = "text/javascript" if asset.endswith(".js") else "text/css"
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(want), asset
        assert_every_answer_headers(answer)
        assert same_origin(kvm.url + asset, kvm.url.removeprefix("http://"), "http")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/api/auth/login", 200),  # public JSON (an envelope with an error code)
        ("GET", "/api/auth/account", 401),  # no session
        ("GET", "/api/no/such/route", 404),  # gin's text 404
        ("GET", "/index.html/x", 404),  # the static router's 404
        ("GET", "/api/vm/info/", 301),  # gin's trailing-slash redirect
        ("PATCH", "/api/vm/hardware", 404),  # a method the route lacks (gin: 404)
        ("GET", "/api/info", 401),  # kvmd's API, no credentials
        ("GET", "/api/schema/openapi.json", 200),
    ],
)
def test_every_answer_without_a_session(kvm: RunningApp, method: str, path: str, status: int) -> None:
    answer = httpx.request(method, kvm.url + path)
    assert answer.status_code == status, answer.text[:200]
    assert_every_answer_headers(answer)


def test_answers_with_a_session(kvm: RunningApp, admin: httpx.Client) -> None:
    answers = [
        admin.get("/api/vm/info"),
        admin.post("/api/vm/gpio", json={"type": "power", "duration": 100}),
        admin.post("/api/vm/gpio", content=b"{not json", headers={"content-type": "application/json"}),
        # A cross-site POST refused by the guard, before any route.
        admin.post("/api/vm/gpio", json={"type": "power"}, headers={"Origin": "http://evil.example"}),
        # kvmd's own routes, its credentials.
        httpx.get(kvm.url + "/api/auth/check", headers={"X-KVMD-User": "admin", "X-KVMD-Passwd": "admin"}),
        httpx.get(kvm.url + "/api/auth/check", headers={"X-KVMD-User": "admin", "X-KVMD-Passwd": "wrong"}),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 403, 200, 403], [a.text[:100] for a in answers]
    for answer in answers:
        assert_every_answer_headers(answer)


@pytest.fixture
def streams(kvm: RunningApp, admin: httpx.Client) -> Iterator[Callable[[str], httpx.Response]]:
    opened: list[httpx.Response] = []

    def open_stream(path: str) -> httpx.Response:
        response = admin.send(admin.build_request("GET", path), stream=True)
        opened.append(response)
        return response

    yield open_stream
    for response in opened:
        response.close()


@pytest.mark.parametrize("path", ["/api/stream/mjpeg", "/streamer/stream"])
def test_streams(streams: Callable[[str], httpx.Response], path: str) -> None:
    """The MJPEG streams of both APIs (the second is kvmd's page's; the cookie picks NanoKVM's session
    and kvmd's route takes it as well, or answers 401 with the headers just the same)."""
    response = streams(path)
    assert response.status_code in (200, 401), path
    assert_every_answer_headers(response)
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
        assert next(response.iter_bytes()).startswith(b"--frame")


def test_a_refused_websocket_upgrade(kvm: RunningApp) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(kvm.url.replace("http", "ws") + "/api/ws", open_timeout=10).close()
    headers = refused.value.response.headers
    assert refused.value.response.status_code == 401
    for name, value in EVERY_ANSWER.items():
        assert headers.get_all(name) == [value], dict(headers)
