"""ATX power and reset over the real socket (spec 4.2 ``/api/vm/gpio``, 7.2), checked on the board side.

The button's GPIO value file reads 1 while pressed and 0 otherwise; the sim host answers on its LED
files (active low: "0" = lit), which ``GET /api/vm/gpio`` reports as ``pwr``/``hdd``.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app

POWER_BUTTON = "/sys/class/gpio/gpio503/value"
RESET_BUTTON = "/sys/class/gpio/gpio507/value"  # Alpha, the sim board's default
POWER_LED = "/sys/class/gpio/gpio504/value"


class ButtonTrace:
    """Samples a button's value file in a thread: when it first and last read 1."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.first: float | None = None
        self.last: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            if self.path.read_text().strip() == "1":
                now = time.monotonic()
                self.first = self.first or now
                self.last = now

    @property
    def pressed(self) -> bool:
        return self.first is not None

    @property
    def held(self) -> float:
        assert self.first is not None and self.last is not None
        return self.last - self.first

    def __enter__(self) -> ButtonTrace:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def level(app: RunningApp, path: str) -> str:
    return app.path(path).read_text().strip()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition``; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.01)
    return time.monotonic() - started


def press(client: httpx.Client, button: str, duration: int | None = None) -> dict[str, object]:
    body: dict[str, object] = {"type": button}
    if duration is not None:
        body["duration"] = duration
    answer = client.post("/api/vm/gpio", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def pwr(client: httpx.Client) -> bool:
    return bool(client.get("/api/vm/gpio").json()["data"]["pwr"])


def in_background(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    return thread, result


# --- the press itself ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the tests of the button lines (they do not look at the host's power state)."""
    app = start_app(tmp_path_factory.mktemp("power"))
    yield app
    app.stop()


def test_press_holds_the_line_for_its_duration(board: RunningApp) -> None:
    admin = board.login()
    for duration, expected in ((300, 0.3), (None, 0.8), (0, 0.8)):  # absent or 0 = 800 ms
        with ButtonTrace(board.path(RESET_BUTTON)) as trace:
            started = time.monotonic()
            assert press(admin, "reset", duration) == {"code": 0, "msg": "success", "data": None}
            took = time.monotonic() - started
        assert took >= expected, (duration, took)  # the request lasts the press
        assert trace.pressed, duration
        assert expected - 0.1 <= trace.held <= expected + 0.3, (duration, trace.held)
        assert level(board, RESET_BUTTON) == "0"
    assert level(board, POWER_BUTTON) == "0"  # only the named button moved


def test_viewer_cannot_press(board: RunningApp) -> None:
    admin = board.login()
    body = {"username": "vera", "password": encrypt("password-1"), "role": "viewer"}
    assert admin.post("/api/auth/users", json=body).json()["code"] == 0
    viewer = board.login("vera", "password-1")
    with ButtonTrace(board.path(POWER_BUTTON)) as trace:
        answer = viewer.post("/api/vm/gpio", json={"type": "power", "duration": 200})
        time.sleep(0.1)
    assert answer.status_code == 403
    assert answer.content == b'"forbidden"'
    assert not trace.pressed  # the line never moved (the host's state is other tests' business here)


def test_second_press_while_one_runs_is_busy_at_once(board: RunningApp) -> None:
    admin, other = board.login(), board.login()
    thread, first = in_background(lambda: press(admin, "power", 1500))
    wait_for(lambda: level(board, POWER_BUTTON) == "1", 2, "the first press")

    with ButtonTrace(board.path(RESET_BUTTON)) as reset:
        for button in ("power", "reset"):
            started = time.monotonic()
            busy = press(other, button, 100)
            assert time.monotonic() - started < 0.5, "a busy answer must not wait for the running press"
            assert busy["code"] == -4, busy
            assert busy["data"] is None and busy["msg"]
    assert not reset.pressed  # the refused reset never touched its line
    assert level(board, POWER_BUTTON) == "1"  # and the running press was not cut short

    thread.join(timeout=5)
    assert first == [{"code": 0, "msg": "success", "data": None}]
    assert level(board, POWER_BUTTON) == "0"
    assert press(other, "reset", 100)["code"] == 0  # free again


def _abandon_with_timeout(app: RunningApp) -> None:
    client = httpx.Client(base_url=app.url, timeout=0.3, cookies=app.login().cookies)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/vm/gpio", json={"type": "power", "duration": 1500})
    client.close()


def _abandon_raw_socket(app: RunningApp) -> None:
    token = app.login().cookies["nano-kvm-token"]
    body = json.dumps({"type": "power", "duration": 1500}).encode()
    url = urlsplit(app.url)
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(
        b"POST /api/vm/gpio HTTP/1.1\r\nHost: kvm\r\nContent-Type: application/json\r\n"
        + f"Cookie: nano-kvm-token={token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    wait_for(lambda: level(app, POWER_BUTTON) == "1", 2, "the press to start")
    sock.close()  # mid-press


@pytest.mark.parametrize("abandon", [_abandon_with_timeout, _abandon_raw_socket], ids=["client-timeout", "raw-socket"])
def test_press_completes_when_the_client_goes_away(board: RunningApp, abandon: Callable[[RunningApp], None]) -> None:
    admin = board.login()
    started = time.monotonic()
    with ButtonTrace(board.path(POWER_BUTTON)) as trace:
        abandon(board)
        assert level(board, POWER_BUTTON) == "1", "the press ended with the client"
        assert press(admin, "reset", 100)["code"] == -4  # still running, still busy
        wait_for(lambda: level(board, POWER_BUTTON) == "0", 3, "the press to end")
    assert time.monotonic() - started >= 1.4
    assert 1.3 <= trace.held <= 1.9, trace.held  # held the full 1500 ms, then released
    # Accepted once the first press has ended: the line drops a moment before the press lets go of
    # the button's lock, so a press in that moment may still hear "busy" (-4) and none is made.
    wait_for(lambda: press(admin, "reset", 100)["code"] == 0, 2, "the button to be free again")
    assert board.process.poll() is None


def test_failed_write_is_operation_failed_and_frees_the_button(board: RunningApp) -> None:
    admin = board.login()
    value = board.path(RESET_BUTTON)
    value.unlink()
    value.mkdir()  # writing the line now fails with an OSError, as a vanished GPIO export would
    try:
        answer = press(admin, "reset", 100)
        assert answer["code"] == -3, answer
        assert str(answer["msg"]).startswith("operation failed:")
        assert answer["data"] is None
    finally:
        shutil.rmtree(value)
        value.write_text("0\n")
    assert press(admin, "reset", 100)["code"] == 0  # the failed press did not leave the lock held


# --- the sim host behind the buttons ---------------------------------------------------------------------


def test_sim_host_boots_reboots_and_shuts_down(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert admin.get("/api/vm/gpio").json()["data"] == {"pwr": False, "hdd": False}
    assert level(kvm, POWER_LED) == "1"  # active low: off

    assert press(admin, "reset", 100)["code"] == 0  # reset does nothing to a host that is off
    time.sleep(0.3)
    assert pwr(admin) is False

    booted_at = time.monotonic()
    assert press(admin, "power", 100)["code"] == 0
    wait_for(lambda: pwr(admin), 2.5, "the power LED after a press when off")
    assert level(kvm, POWER_LED) == "0"  # lit

    time.sleep(max(0.0, booted_at + 2.3 - time.monotonic()))  # booted (2 s)
    reset_at = time.monotonic()
    assert press(admin, "reset", 100)["code"] == 0
    hdd_seen = []
    while time.monotonic() - reset_at < 0.8:  # a reboot keeps the power LED on
        leds = admin.get("/api/vm/gpio").json()["data"]
        assert leds["pwr"] is True
        hdd_seen.append(leds["hdd"])
        time.sleep(0.03)
    assert any(hdd_seen), "the HDD LED never blinked while rebooting"

    time.sleep(max(0.0, reset_at + 2.3 - time.monotonic()))  # booted again
    assert press(admin, "power", 200)["code"] == 0
    released = time.monotonic()
    assert pwr(admin) is True  # a short press asks the OS to shut down: not off at once
    wait_for(lambda: not pwr(admin), 4, "the graceful shutdown")
    off_after = time.monotonic() - released
    assert 1.0 <= off_after <= 3.0, off_after  # the sim's OS takes 1.5 s
    assert level(kvm, POWER_LED) == "1"
    time.sleep(0.3)
    assert pwr(admin) is False  # and it stays off


def test_long_hold_forces_off_and_the_maximum_is_enforced(app_factory: Callable[..., RunningApp]) -> None:
    # The largest press the board allows, set just above the 5 s force-off so the test stays short.
    app = app_factory({"gpio": {"maxPressMs": 5300}})
    admin = app.login()
    over = press(admin, "power", 5301)
    assert over["code"] == -1 and "5300" in str(over["msg"]), over
    assert level(app, POWER_BUTTON) == "0"

    assert press(admin, "power", 100)["code"] == 0
    wait_for(lambda: pwr(admin), 2.5, "boot")
    held_at = time.monotonic()
    thread, result = in_background(lambda: press(admin, "power", 5300))  # exactly the maximum: accepted
    wait_for(lambda: level(app, POWER_BUTTON) == "1", 2, "the hold to start")
    time.sleep(max(0.0, held_at + 4.3 - time.monotonic()))
    assert pwr(admin) is True  # not yet: short of 5 s nothing happens while held
    wait_for(lambda: not pwr(admin), 2, "the forced off")
    off_after = time.monotonic() - held_at
    still_held = level(app, POWER_BUTTON) == "1"
    thread.join(timeout=5)
    assert result == [{"code": 0, "msg": "success", "data": None}]
    assert off_after >= 4.8, off_after
    assert still_held, "the host went off only at release: a hold of 5 s must force it off while held"
    assert level(app, POWER_LED) == "1"
