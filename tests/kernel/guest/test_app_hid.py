"""End to end: the app's HID path on a real kernel, seen from the USB host's side.

The fixture builds NanoKVM's HID gadget in configfs (until the app has its own gadget manager):
hid.usb0 boot keyboard (8-byte report, LED output report), hid.usb1 relative mouse (4 bytes),
hid.usb2 absolute touchpad (6 bytes), in that order so they are /dev/hidg0..2, bound to
dummy_hcd. The same kernel's usbhid enumerates them as three event devices, read here with
``kt_usb.EvdevReader``. The app (``python -m app``, ``board: nanokvm``, authentication on) is
started once for the module, logged into with admin/admin, and driven over ``/api/ws`` and
``/api/hid/*``.
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import kt_usb
import pytest
from kt_app import KT_PASSWORD, App
from kt_usb import ABS_X, ABS_Y, BTN_LEFT, EV_ABS, EV_KEY, EV_REL, LED_CAPSL, REL_WHEEL, EvdevReader, UsbHost

PORT = 8091
VNC_PORT = 5991

# --- NanoKVM's report layouts --------------------------------------------------------------

# Relative mouse, 4 bytes: buttons (3 bits + 5 padding), X, Y, wheel, all int8 relative.
REL_MOUSE_DESC = bytes.fromhex(
    "05010902a101"  # Usage Page (Generic Desktop), Usage (Mouse), Collection (Application)
    "0901a100"  # Usage (Pointer), Collection (Physical)
    "05091901290315002501950375018102"  # buttons 1..3
    "950175058103"  # padding
    "05010930093109381581257f750895038106"  # X, Y, wheel: -127..127, Data,Var,Rel
    "c0c0"
)

# Absolute touchpad, 6 bytes: buttons (5 bits + 3 padding), X LE16 and Y LE16 in 0..32767,
# wheel int8 relative. (kt_usb.ABS_POINTER_DESC has only 3 buttons; the app sends 5.)
ABS_TOUCHPAD_DESC = bytes.fromhex(
    "05010902a101"
    "0901a100"
    "05091901290515002501950575018102"  # buttons 1..5
    "950175038103"  # padding
    "050109300931150026ff7f751095028102"  # X, Y: 0..32767, 16 bit, Data,Var,Abs
    "0938158125 7f750895018106"  # wheel
    "c0c0"
)

# /api/ws binary frames: byte 0 = kind, then the raw report.
WS_KEYBOARD, WS_MOUSE = 1, 2

# --- linux/input-event-codes.h and a US decoding table -------------------------------------

KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
KEY_A, KEY_B, KEY_X = 30, 48, 45
EV_SYN, SYN_DROPPED = 0x00, 3
REL_X, REL_Y = 0x00, 0x01
BTN_RIGHT = 0x111


def _us_table() -> dict[int, tuple[str, str]]:
    """Linux key code -> (unshifted, shifted) character on a US layout (independent of the app's keymap)."""
    rows = [
        (2, "1234567890-=", "!@#$%^&*()_+"),
        (16, "qwertyuiop[]", "QWERTYUIOP{}"),
        (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
        (43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
    ]
    table = {code + i: (lo, hi) for code, los, his in rows for i, (lo, hi) in enumerate(zip(los, his, strict=True))}
    table[15] = ("\t", "\t")  # KEY_TAB
    table[28] = ("\n", "\n")  # KEY_ENTER
    table[57] = (" ", " ")  # KEY_SPACE
    return table


US = _us_table()


def decode_keys(keys: list[tuple[int, int]], table: dict[int, tuple[str, str]] = US) -> str:
    """EV_KEY (code, value) events back to text; unknown keys as ``<code>``."""
    shift = 0
    out = []
    for code, value in keys:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            shift += 1 if value else -1
            continue
        if value != 1:
            continue
        pair = table.get(code)
        out.append(pair[1 if shift else 0] if pair else f"<{code}>")
    return "".join(out)


def assert_all_released(keys: list[tuple[int, int]]) -> None:
    down: set[int] = set()
    for code, value in keys:
        if value == 1:
            assert code not in down, f"key {code} pressed twice without a release: {keys}"
            down.add(code)
        elif value == 0:
            assert code in down, f"key {code} released without a press: {keys}"
            down.discard(code)
    assert not down, f"keys left pressed: {sorted(down)}"


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Rig:
    host: UsbHost
    gadget: kt_usb.Gadget
    kbd_intf: str
    kbd: EvdevReader
    mouse: EvdevReader
    touchpad: EvdevReader
    api: App
    ws_connect: Any

    def ws(self) -> Any:
        return self.ws_connect(
            f"ws://127.0.0.1:{self.api.port}/api/ws",
            additional_headers={"Cookie": self.api.cookie},
            open_timeout=30,
            ping_interval=None,
        )

    def drain(self) -> None:
        for reader in (self.kbd, self.mouse, self.touchpad):
            reader.drain()


@pytest.fixture(scope="module")
def hid_gadget(gadget_modules: list[str]) -> Iterator[tuple[UsbHost, kt_usb.Gadget]]:
    """NanoKVM's three HID functions as hidg0/1/2, bound; removed afterwards."""
    assert list(kt_usb.GADGETS.iterdir()) == [], "a gadget was left over"
    host = UsbHost()
    try:
        gadget = host.gadget("g0", vendor=0x3346, product=0x1009, product_name="NanoKVM", serial="kt-nanokvm")
        (gadget.dir / "bcdDevice").write_text("0x0510")  # NanoKVM's "normal" HID mode
        gadget.add_function(
            "hid", "usb0", protocol=1, subclass=1, report_length=8, report_desc=kt_usb.BOOT_KEYBOARD_DESC
        )
        gadget.add_function("hid", "usb1", protocol=2, subclass=1, report_length=4, report_desc=REL_MOUSE_DESC)
        gadget.add_function("hid", "usb2", protocol=2, subclass=0, report_length=6, report_desc=ABS_TOUCHPAD_DESC)
        took = host.bind(gadget)
        nodes = [gadget.hidg(f"hid.usb{i}") for i in range(3)]  # the nodes appear on bind
        assert nodes == ["/dev/hidg0", "/dev/hidg1", "/dev/hidg2"], nodes
        print(f"\nNanoKVM HID gadget configured after {took:.1f} s")
        yield host, gadget
    finally:
        host.cleanup()


@pytest.fixture(scope="module")
def rig(start_app: Callable[..., App], hid_gadget: tuple[UsbHost, kt_usb.Gadget]) -> Iterator[Rig]:
    host, gadget = hid_gadget
    intfs = [host.interface(i) for i in range(3)]
    # Opening the event devices makes usbhid poll the interrupt endpoints (a host that reads input).
    readers = [EvdevReader(host.event_device(interface=intf)) for intf in intfs]
    print(f"event devices: {[r.path for r in readers]} for interfaces {intfs}")
    rig = None
    try:
        # A paste at the host's full polling rate outruns evdev's 64-event client buffer whenever this
        # reader is starved for a moment (TCG on a loaded machine); 50 ms per character still tests order.
        with start_app(PORT, f"hid:\n  pasteDelayMs: 50\nvnc:\n  enabled: true\n  port: {VNC_PORT}\n") as app:
            app.login()
            t1 = time.monotonic()
            from websockets.sync.client import connect

            print(f"import websockets.sync.client: {time.monotonic() - t1:.1f} s")
            rig = Rig(host, gadget, intfs[0], *readers, app, connect)
            yield rig
    finally:
        for reader in (*readers, *((rig.kbd,) if rig else ())):
            reader.close()


# --- tests ----------------------------------------------------------------------------------


def send_keys(ws: Any, *reports: bytes, gap: float = 0.1) -> None:
    for report in reports:
        assert len(report) == 8
        ws.send(bytes([WS_KEYBOARD]) + report)
        time.sleep(gap)


def kbd(modifiers: int = 0, *usages: int) -> bytes:
    return bytes([modifiers, 0, *usages, *([0] * (6 - len(usages)))])


def test_hid_mode_and_nodes(rig: Rig) -> None:
    assert rig.api.ok("GET", "/api/hid/mode") == {"mode": "normal"}


def test_ws_keystrokes_arrive_as_key_events(rig: Rig) -> None:
    rig.drain()
    with rig.ws() as ws:
        send_keys(
            ws,
            kbd(0x02, 0x04),  # Shift+a
            kbd(),
            kbd(0, 0x05),  # b
            kbd(0, 0x05, 0x1B),  # b held, x too
            kbd(0, 0x1B),  # b up
            kbd(),  # x up
        )
        events = rig.kbd.read(10, until=lambda ev: len(kt_usb.key_events(ev)) >= 8, types=(EV_KEY,))
    keys = kt_usb.key_events(events)
    print(f"keyboard evdev: {keys}")
    assert keys == [
        (KEY_LEFTSHIFT, 1),
        (KEY_A, 1),
        (KEY_LEFTSHIFT, 0),
        (KEY_A, 0),
        (KEY_B, 1),
        (KEY_X, 1),
        (KEY_B, 0),
        (KEY_X, 0),
    ], keys
    assert decode_keys(keys) == "Abx"


def paste_and_read(rig: Rig, text: str, timeout: float = 60) -> tuple[list[tuple[int, int]], float]:
    """POST the paste from a thread while reading the keyboard: evdev's per-client buffer holds
    only 64 events (about 20 key strokes with their MSC_SCAN and SYN), then drops them all."""
    rig.drain()
    result: dict[str, Any] = {}

    def paste() -> None:
        t0 = time.monotonic()
        try:
            result["data"] = rig.api.ok("POST", "/api/hid/paste", {"content": text, "langue": ""}, timeout=timeout)
        except BaseException as exc:
            result["error"] = exc
        result["took"] = time.monotonic() - t0

    paster = threading.Thread(target=paste)
    paster.start()
    events = rig.kbd.read(timeout + 5, until=lambda ev: not paster.is_alive())

    def complete(more: list[kt_usb.InputEvent]) -> bool:
        keys = kt_usb.key_events(events + more)
        return len(decode_keys(keys)) >= len(text) and not _held(keys)

    events += rig.kbd.read(5, until=complete)  # what the host polls after the request returned
    paster.join()
    if "error" in result:
        raise result["error"]
    dropped = [e for e in events if e.tcv == (EV_SYN, SYN_DROPPED, 0)]
    assert not dropped, "evdev buffer overrun (SYN_DROPPED): the test read too slowly"
    return kt_usb.key_events(events), result["took"]


def _held(keys: list[tuple[int, int]]) -> bool:
    down: set[int] = set()
    for code, value in keys:
        (down.add if value else down.discard)(code)
    return bool(down)


def test_paste_types_every_character_in_order(rig: Rig) -> None:
    text = "Hello, KVM 123!\n"
    keys, took = paste_and_read(rig, text)
    typed = decode_keys(keys)
    presses = sum(1 for _, v in keys if v == 1)
    print(f"paste {text!r}: HTTP returned after {took:.2f} s; {len(keys)} key events, {presses} presses")
    print(f"evdev: {keys}")
    print(f"decoded: {typed!r}")
    assert typed == text
    assert_all_released(keys)


def test_absolute_reports_arrive_as_abs_and_buttons(rig: Rig) -> None:
    rig.drain()
    with rig.ws() as ws:
        for report in (
            struct.pack("<BHHb", 0, 16384, 8192, 0),  # move
            struct.pack("<BHHb", 1, 16384, 8192, 0),  # left down
            struct.pack("<BHHb", 1, 32767, 0, 0),  # drag to the top right corner
            struct.pack("<BHHb", 0, 32767, 0, 0),  # left up
            struct.pack("<BHHb", 0, 32767, 0, -1),  # wheel
        ):
            ws.send(bytes([WS_MOUSE]) + report)
            time.sleep(0.1)
        events = rig.touchpad.read(10, until=lambda ev: any(e.tcv == (EV_REL, REL_WHEEL, -1) for e in ev))
    seen = [e.tcv for e in events if e.type in (EV_ABS, EV_KEY) or (e.type == EV_REL and e.code == REL_WHEEL)]
    print(f"touchpad evdev: {seen}")
    assert seen == [
        (EV_ABS, ABS_X, 16384),
        (EV_ABS, ABS_Y, 8192),
        (EV_KEY, BTN_LEFT, 1),
        (EV_ABS, ABS_X, 32767),
        (EV_ABS, ABS_Y, 0),
        (EV_KEY, BTN_LEFT, 0),
        (EV_REL, REL_WHEEL, -1),
    ], seen


def test_relative_reports_arrive_as_rel(rig: Rig) -> None:
    rig.drain()
    with rig.ws() as ws:
        for report in (
            bytes([0, 10, (-5) & 0xFF, 0]),
            bytes([2, 0, 0, 0]),  # right down
            bytes([0, 0, 0, 0]),  # right up
            bytes([0, 0, 0, 1]),  # wheel up
        ):
            ws.send(bytes([WS_MOUSE]) + report)
            time.sleep(0.1)
        events = rig.mouse.read(10, until=lambda ev: any(e.tcv == (EV_REL, REL_WHEEL, 1) for e in ev))
    seen = [e.tcv for e in events if e.type == EV_KEY or (e.type == EV_REL and e.code in (REL_X, REL_Y, REL_WHEEL))]
    print(f"mouse evdev: {seen}")
    assert seen == [
        (EV_REL, REL_X, 10),
        (EV_REL, REL_Y, -5),
        (EV_KEY, BTN_RIGHT, 1),
        (EV_KEY, BTN_RIGHT, 0),
        (EV_REL, REL_WHEEL, 1),
    ], seen


def test_caps_lock_led_reaches_the_api(rig: Rig) -> None:
    before = rig.api.ok("GET", "/api/hid/leds")
    print(f"/api/hid/leds before: {before}")
    assert before["capsLock"] is False
    with rig.ws() as ws:
        t0 = time.monotonic()
        rig.kbd.set_led(LED_CAPSL, True)
        try:
            while True:
                leds = rig.api.ok("GET", "/api/hid/leds")
                if leds["capsLock"]:
                    break
                assert time.monotonic() - t0 < 2.0, f"capsLock not seen within 2 s: {leds}"
                time.sleep(0.05)
            took = time.monotonic() - t0
            print(f"/api/hid/leds after {took:.2f} s: {leds}")
            assert leds["known"] is True and leds["numLock"] is False and leds["scrollLock"] is False
            assert leds["updatedAt"]
            # The WebSocket pushes it too (after its snapshot).
            pushed = None
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                doc = json.loads(ws.recv(timeout=deadline - time.monotonic()))
                if doc["type"] == "hid-led-status" and json.loads(doc["data"])["capsLock"]:
                    pushed = json.loads(doc["data"])
                    break
            print(f"/api/ws hid-led-status: {pushed}")
            assert pushed is not None and pushed["known"] is True
        finally:
            rig.kbd.set_led(LED_CAPSL, False)
    deadline = time.monotonic() + 2
    while rig.api.ok("GET", "/api/hid/leds")["capsLock"]:
        assert time.monotonic() < deadline, "capsLock did not go off again"
        time.sleep(0.05)


def test_paste_to_a_host_that_does_not_poll_returns_and_typing_recovers(rig: Rig) -> None:
    text = "abc"
    result: dict[str, Any] = {}

    def paste() -> None:
        t0 = time.monotonic()
        try:
            result["reply"] = rig.api.call("POST", "/api/hid/paste", {"content": text, "langue": ""}, timeout=60)[1]
        except Exception as exc:
            result["error"] = repr(exc)
        result["took"] = time.monotonic() - t0

    info_times: list[float] = []
    busy: tuple[float, Any] | None = None
    with rig.host.usbhid_unbound(rig.kbd_intf):
        paster = threading.Thread(target=paste)
        paster.start()
        time.sleep(0.5)
        while paster.is_alive():
            if busy is None:  # a second paste meanwhile is refused at once, not queued
                t0 = time.monotonic()
                doc = rig.api.call("POST", "/api/hid/paste", {"content": "z", "langue": ""}, timeout=60)[1]
                busy = (time.monotonic() - t0, doc)
            t0 = time.monotonic()
            rig.api.ok("GET", "/api/vm/info", timeout=10)
            info_times.append(time.monotonic() - t0)
            time.sleep(0.1)
        paster.join()
    print(
        f"paste {text!r} with usbhid unbound: {result}; /api/vm/info meanwhile: {len(info_times)} calls, "
        f"max {max(info_times, default=0) * 1000:.0f} ms; a second paste meanwhile: {busy}"
    )
    assert "error" not in result, result
    assert result["took"] < 10.0, f"paste to a host that does not poll took {result['took']:.1f} s"
    assert info_times and max(info_times) < 1.0, info_times
    assert busy is not None and busy[1]["code"] == -3 and busy[0] < 1.0, busy

    # Rebound: the host polls again (it may first get what the gadget still had queued).
    kbd_dev = rig.host.event_device(interface=rig.kbd_intf)
    rig.kbd.close()
    rig.kbd = EvdevReader(kbd_dev)
    stale = kt_usb.key_events(rig.kbd.read(1.5, types=(EV_KEY,)))
    print(f"after rebinding usbhid ({kbd_dev}): stale key events {stale}")
    with rig.ws() as ws:
        send_keys(ws, kbd(0, 0x1B), kbd())  # x
        keys = kt_usb.key_events(rig.kbd.read(10, until=lambda ev: len(kt_usb.key_events(ev)) >= 2, types=(EV_KEY,)))
    print(f"typing after rebind: {keys}")
    assert keys == [(KEY_X, 1), (KEY_X, 0)], keys
    keys, took = paste_and_read(rig, "ok\n")
    print(f"paste after rebind: {decode_keys(keys)!r} in {took:.2f} s")
    assert decode_keys(keys) == "ok\n"


# --- VNC: a client's key events reach the USB host ------------------------------------------


def test_vnc_keys_arrive_as_key_events(rig: Rig) -> None:
    import socket
    import ssl

    rig.drain()
    sock: Any = socket.create_connection(("127.0.0.1", VNC_PORT), timeout=30)

    def recv(size: int) -> bytes:
        out = b""
        while len(out) < size:
            chunk = sock.recv(size - len(out))
            assert chunk, "the VNC server closed the connection"
            out += chunk
        return out

    # RFB 3.8, VeNCrypt 0.2, X509Plain (written from RFC 6143 and the VeNCrypt extension).
    assert recv(12) == b"RFB 003.008\n"
    sock.sendall(b"RFB 003.008\n")
    assert 19 in recv(recv(1)[0])
    sock.sendall(bytes([19]))
    assert recv(2) == b"\x00\x02"
    sock.sendall(b"\x00\x02")
    assert recv(1) == b"\x00"
    count = recv(1)[0]
    assert 262 in struct.unpack(f">{count}I", recv(4 * count))
    sock.sendall(struct.pack(">I", 262))
    assert recv(1) == b"\x01"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the certificate is checked by the API-level tests
    sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    password = KT_PASSWORD.encode()  # the rig's login replaced admin/admin (the server demands it)
    sock.sendall(struct.pack(">II", 5, len(password)) + b"admin" + password)
    assert recv(4) == b"\x00\x00\x00\x00", "VeNCrypt Plain login refused"
    sock.sendall(b"\x01")  # ClientInit
    recv(20)
    recv(struct.unpack(">I", recv(4))[0])
    try:
        # QEMU extended key events (scancodes): Shift+a, then b; then keysym events: x.
        for down, code in ((1, 0x2A), (1, 0x1E), (0, 0x1E), (0, 0x2A), (1, 0x30), (0, 0x30)):
            sock.sendall(struct.pack(">BBHII", 255, 0, down, 0, code))
            time.sleep(0.1)
        for down in (1, 0):
            sock.sendall(struct.pack(">BBxxI", 4, down, ord("x")))
            time.sleep(0.1)
        events = rig.kbd.read(10, until=lambda ev: len(kt_usb.key_events(ev)) >= 8, types=(EV_KEY,))
    finally:
        sock.close()
    keys = kt_usb.key_events(events)
    print(f"keyboard evdev from VNC: {keys}")
    assert decode_keys(keys) == "Abx", keys
    assert_all_released(keys)
