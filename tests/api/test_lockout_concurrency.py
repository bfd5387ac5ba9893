"""The lock-out holds under concurrency (issue 13, finding 2): every attempt is counted before its
password is checked, so a burst of guesses from one address gets at most ``loginMaxFailures`` checks.

Answers tell checks apart: -2 ("invalid username or password") comes after a password check, -5
("locked") comes without one. Every burst has all its requests in flight at once (one connection
each, started together).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

LIMIT = 5
BURST = 200
LOCKOUT = {"security": {"loginLockoutDuration": 120, "loginMaxFailures": LIMIT}}


async def burst(url: str, requests: list[tuple[str, dict[str, object]]]) -> list[int]:
    """Send every (path, kwargs) request at once, each on its own connection; their answers' codes."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        gate = asyncio.Event()
        in_flight = 0

        async def one(path: str, kwargs: dict[str, object]) -> int:
            nonlocal in_flight
            in_flight += 1
            await gate.wait()
            response = await client.post(path, **kwargs)  # type: ignore[arg-type]
            code: int = response.json()["code"]
            return code

        tasks = [asyncio.create_task(one(path, kwargs)) for path, kwargs in requests]
        while in_flight < len(requests):
            await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*tasks)


def login(password: str) -> tuple[str, dict[str, object]]:
    return "/api/auth/login", {"json": {"username": "admin", "password": encrypt(password)}}


def test_concurrent_wrong_guesses_get_at_most_the_limit_of_checks(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory(LOCKOUT)
    codes = Counter(asyncio.run(burst(app.url, [login(f"wrong-{n}") for n in range(BURST)])))
    print(f"{BURST} concurrent wrong guesses, limit {LIMIT}: {codes[-2]} password checks, {codes[-5]} refused locked")
    assert codes[-2] <= LIMIT and codes[-2] + codes[-5] == BURST, codes
    # Locked now: the right password is refused too.
    right = {"username": "admin", "password": encrypt("admin")}
    assert app.client().post("/api/auth/login", json=right).json()["code"] == -5


def test_the_right_password_in_a_burst_of_guesses_is_refused(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory(LOCKOUT)
    requests = [login(f"wrong-{n}") for n in range(BURST - 1)] + [login("admin")]
    codes = Counter(asyncio.run(burst(app.url, requests)))
    print(f"{BURST - 1} wrong guesses and the right one last: {codes[0]} successes, {codes[-2]} checks")
    assert codes[0] == 0 and codes[-2] <= LIMIT, codes


AP_KEY = "Ap-Pass1"


def ap_mode(app: RunningApp) -> None:
    for path, text in (("/etc/kvm/wifi_exist", ""), ("/tmp/wifiap", ""), ("/kvmapp/kvm/ap.pass", AP_KEY + "\n")):
        target: Path = app.path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def test_the_ap_key_is_locked_out_too(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory(LOCKOUT)
    ap_mode(app)
    guesses = [("/api/network/wifi/verify", {"headers": {"X-AP-Key": f"guess-{n}"}}) for n in range(BURST)]
    codes = Counter(asyncio.run(burst(app.url, guesses)))
    print(f"{BURST} concurrent X-AP-Key guesses: {codes[-4]} checked, {codes[-5]} refused locked")
    assert codes[-4] <= LIMIT and codes[-4] + codes[-5] == BURST, codes
    right = app.client().post("/api/network/wifi/verify", headers={"X-AP-Key": AP_KEY}).json()
    assert right["code"] == -5, right
