"""Byte-exact HID reports (spec 7.3.1) and the /api/ws input translation (spec 5.1, 5.4)."""

from __future__ import annotations

import pytest

from app.services.hid import reports
from app.services.hid.input import InputSession


def test_keyboard_reports() -> None:
    assert reports.keyboard() == b"\x00" * 8
    assert reports.keyboard(0x02, [0x04]) == bytes([0x02, 0, 0x04, 0, 0, 0, 0, 0])  # Shift+A
    assert reports.keyboard(0x41, [0x1F, 0x20]) == bytes([0x41, 0, 0x1F, 0x20, 0, 0, 0, 0])
    assert reports.keyboard(0, [4, 5, 6, 7, 8, 9]) == bytes([0, 0, 4, 5, 6, 7, 8, 9])
    assert reports.keyboard(0, [4, 5, 6, 7, 8, 9, 10]) == bytes([0, 0, 1, 1, 1, 1, 1, 1])  # rollover
    assert reports.keyboard(0, [0xE8]) == bytes(8)  # beyond the descriptor's usage maximum
    assert reports.keyboard(0, [0x66], hid_only=True) == bytes(8)
    assert reports.keyboard(0, [0x65], hid_only=True) == bytes([0, 0, 0x65, 0, 0, 0, 0, 0])


def test_mouse_reports() -> None:
    assert reports.mouse() == b"\x00" * 4
    assert reports.mouse(1, 10, -10, 1) == bytes([0x01, 0x0A, 0xF6, 0x01])
    assert reports.mouse(7, 500, -500, -3) == bytes([0x07, 0x7F, 0x81, 0xFD])  # clamped to +-127


def test_touchpad_reports() -> None:
    assert reports.touchpad(0, 0x3F00, 0x3F00) == bytes([0, 0x00, 0x3F, 0x00, 0x3F, 0])
    assert reports.touchpad(0x1F, 32767, 1, -1) == bytes([0x1F, 0xFF, 0x7F, 0x01, 0x00, 0xFF])
    assert reports.touchpad(0x1F, 99999, -5) == bytes([0x1F, 0xFF, 0x7F, 0, 0, 0])
    assert reports.touchpad(0x1F, 1, 1, hid_only=True)[0] == 0x07
    assert reports.touchpad_release(bytes([3, 1, 2, 3, 4, 5])) == bytes([0, 1, 2, 3, 4, 0])


class Recorder:
    """Stands in for HidService: records what each gadget node would receive."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send_keyboard(self, report: bytes) -> None:
        self.sent.append(("keyboard", report))

    def send_mouse(self, report: bytes) -> None:
        self.sent.append(("mouse", report))

    def send_touchpad(self, report: bytes) -> None:
        self.sent.append(("touchpad", report))


@pytest.fixture
def session() -> tuple[InputSession, Recorder]:
    recorder = Recorder()
    return InputSession(recorder), recorder  # type: ignore[arg-type]


def test_binary_frames(session: tuple[InputSession, Recorder]) -> None:
    inputs, hid = session
    inputs.binary(bytes([1, 2, 0, 4, 0, 0, 0, 0, 0]))
    inputs.binary(bytes([2, 1, 5, 251, 0]))
    inputs.binary(bytes([2, 0, 0x10, 0, 0x20, 0, 0]))
    inputs.binary(bytes([0]))  # heartbeat
    inputs.binary(bytes([1, 2, 0, 4]))  # wrong length: ignored
    inputs.binary(bytes([2, 1, 2, 3]))  # neither 4 nor 6: ignored
    inputs.binary(b"")
    inputs.binary(bytes([9, 1, 2, 3, 4]))  # unknown type
    assert hid.sent == [
        ("keyboard", bytes([2, 0, 4, 0, 0, 0, 0, 0])),
        ("mouse", bytes([1, 5, 251, 0])),
        ("touchpad", bytes([0, 0x10, 0, 0x20, 0, 0])),
    ]


def test_switching_mice_releases_the_other(session: tuple[InputSession, Recorder]) -> None:
    inputs, hid = session
    inputs.binary(bytes([2, 1, 0, 0, 0]))  # relative, left held
    inputs.binary(bytes([2, 1, 0x10, 0, 0x20, 0, 0]))  # absolute, left held
    assert hid.sent == [
        ("mouse", bytes([1, 0, 0, 0])),
        ("mouse", bytes(4)),  # released before the absolute press
        ("touchpad", bytes([1, 0x10, 0, 0x20, 0, 0])),
    ]


def test_release_on_disconnect(session: tuple[InputSession, Recorder]) -> None:
    inputs, hid = session
    inputs.binary(bytes([1, 0x01, 0, 0x06, 0, 0, 0, 0, 0]))  # Ctrl+C held
    inputs.binary(bytes([2, 2, 0x34, 0x12, 0x78, 0x56, 0]))  # right button held at (0x1234, 0x5678)
    hid.sent.clear()
    inputs.release()
    assert hid.sent == [("keyboard", bytes(8)), ("touchpad", bytes([0, 0x34, 0x12, 0x78, 0x56, 0]))]
    hid.sent.clear()
    inputs.release()  # nothing held: nothing sent
    assert hid.sent == []


def test_legacy_json_protocol(session: tuple[InputSession, Recorder]) -> None:
    inputs, hid = session
    inputs.text("[1, 4, 1, 2, 0, 0]")  # a with Ctrl+Shift
    inputs.text("[1, 0, 0, 0, 0, 0]")  # release
    inputs.text("[2, 2, 0, 16384, 8192]")  # absolute move
    inputs.text("[2, 1, 1, 0, 0]")  # left down
    inputs.text("[2, 0, 1, 0, 0]")  # left up
    inputs.text("[2, 4, 0, 0, 5]")  # scroll down
    inputs.text("[2, 3, 2, -5, 7]")  # relative move with the right button
    inputs.text("not json")
    inputs.text("[1, 2]")
    assert hid.sent == [
        ("keyboard", bytes([3, 0, 4, 0, 0, 0, 0, 0])),
        ("keyboard", bytes(8)),
        ("touchpad", reports.touchpad(0, 16384, 8192)),
        ("touchpad", reports.touchpad(1, 16384, 8192)),
        ("touchpad", reports.touchpad(0, 16384, 8192)),
        ("touchpad", reports.touchpad(0, 16384, 8192, -1)),
        ("mouse", bytes([2, 0xFB, 7, 0])),
    ]
