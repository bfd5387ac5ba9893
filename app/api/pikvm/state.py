"""kvmd's state documents (``/api/<subsystem>``, the WebSocket's ``<subsystem>_state`` events, metrics),
built from the shared services.

Shapes are kvmd's, widened where PiKVM's client libraries require more than current kvmd sends
(pikvm-clients.md §2): ``keyboard.connected``/``mouse.connected``, ``storage.size``/``free`` beside
``parts``, ``drive`` and ``storage`` never null.
"""

from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from app.errors import DomainError
from app.runtime import Services
from app.services.hid.keymap import LAYOUTS
from app.services.kvmd import KvmdState
from app.services.video import ocr as ocr_service

KVMD_VERSION = "4.49"  # the kvmd release whose API this follows
DATA = "/data"
GPIO_INPUTS = ("power_led", "hdd_led")
GPIO_OUTPUTS = {"power_button": "power", "reset_button": "reset"}
# kvmd's keymap names -> our layout names (ours are accepted as they are too).
KEYMAPS = {"en-us": "us", "en-gb": "uk", "de": "de", "fr": "fr", "es": "es", "it": "it", "de-ch": "ch-de"}


def kvmd_state(services: Services) -> KvmdState:
    return services.kvmd


# --- info ------------------------------------------------------------------------------------


def _cpu_temp(services: Services) -> float | None:
    try:
        return int(services.root("/sys/class/thermal/thermal_zone0/temp").read_text().strip()) / 1000
    except (OSError, ValueError):
        return None


LEGACY_CATEGORIES = ("system", "meta", "hw", "extras", "fan")
CATEGORIES = ("system", "auth", "meta", "extras", "health", "uptime", "node", "fan")


def _memory(services: Services) -> dict[str, Any]:
    """From /proc/meminfo (kB), as kvmd reports it: percent used, total and available in bytes."""
    try:
        fields = dict(
            line.split(":", 1) for line in services.root("/proc/meminfo").read_text().splitlines() if ":" in line
        )
        total = int(fields["MemTotal"].split()[0]) * 1024
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, ValueError, KeyError, IndexError):
        return {"percent": None, "total": None, "available": None}
    percent = round((total - available) / total * 100, 1) if total else None
    return {"percent": percent, "total": total, "available": available}


def _uptime(services: Services) -> int:
    try:
        return int(float(services.root("/proc/uptime").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return 0


def info(services: Services, legacy: bool = True) -> dict[str, Any]:
    """Every category. kvmd's current layout (``legacy=0``) has ``system.platform`` and ``health``;
    the older one (kvmd's default, and the published API's) has them under ``hw``."""
    device = services.device.info()
    uname = platform.uname()
    hostname = services.root("/etc/hostname")
    host = hostname.read_text().strip() if hostname.exists() else platform.node()
    platform_info = {
        "type": services.board.kind,
        "base": f"NanoKVM {services.device.hardware_info().version}",
        "serial": device.device_key,
    }
    health = {
        "temp": {"cpu": _cpu_temp(services)},
        "cpu": {"percent": None},  # not measured (kvmd's psutil sampling has no counterpart here)
        "mem": _memory(services),
        "throttling": None,
    }
    system: dict[str, Any] = {
        "kvmd": {"version": KVMD_VERSION},
        "streamer": {"app": "nanokvm-py", "version": device.application, "features": {}},
        "kernel": {
            "system": uname.system,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
        },
    }
    common = {
        "meta": {"server": {"host": host}, "kvm": {}},
        "extras": {},
        "fan": {"monitored": False, "state": None},
    }
    if legacy:
        return {"system": system, "hw": {"platform": platform_info, "health": health}, **common}
    return {
        "system": {**system, "platform": platform_info},
        "auth": {"enabled": services.auth.enabled},
        "health": health,
        "uptime": _uptime(services),
        "node": {"host": host},
        **common,
    }


# --- ATX and GPIO ------------------------------------------------------------------------------


def atx(services: Services) -> dict[str, Any]:
    power, hdd = services.power.leds()
    return {"enabled": True, "busy": services.power.busy, "leds": {"power": power, "hdd": hdd}}


def gpio(services: Services) -> dict[str, Any]:
    """The ATX lines as kvmd names them, then ``gpio.channels`` (blocking: reads input lines)."""
    power, hdd = services.power.leds()
    busy = services.power.busy
    extra = kvmd_state(services).channels.state()
    return {
        "inputs": {
            "power_led": {"online": True, "state": power},
            "hdd_led": {"online": True, "state": hdd},
            **extra["inputs"],
        },
        "outputs": {
            **{name: {"online": True, "state": False, "busy": busy} for name in GPIO_OUTPUTS},
            **extra["outputs"],
        },
    }


def gpio_model(services: Services) -> dict[str, Any]:
    pulse = {"delay": 0.1, "min_delay": 0.1, "max_delay": 10.0}
    extra = kvmd_state(services).channels.scheme()
    table: list[Any] = [
        [{"type": "label", "text": name}, _cell(name, name in extra["inputs"])] for name in _names(extra)
    ]
    return {
        "scheme": {
            "inputs": {**{name: {"hw": {"driver": "__atx__", "pin": name}} for name in GPIO_INPUTS}, **extra["inputs"]},
            "outputs": {
                **{
                    name: {"switch": False, "pulse": pulse, "hw": {"driver": "__atx__", "pin": name}}
                    for name in GPIO_OUTPUTS
                },
                **extra["outputs"],
            },
        },
        "view": {"header": {"title": "GPIO" if table else "ATX"}, "table": table},
    }


def _names(extra: dict[str, dict[str, Any]]) -> list[str]:
    return [*extra["inputs"], *extra["outputs"]]


def _cell(name: str, is_input: bool) -> dict[str, Any]:
    """kvmd's view cell: an LED for an input, a button for an output (kvmd's web page draws these)."""
    if is_input:
        return {"type": "input", "channel": name, "color": "green"}
    return {"type": "output", "channel": name, "text": "Click", "confirm": False}


# --- HID -----------------------------------------------------------------------------------------


def hid(services: Services) -> dict[str, Any]:
    state = kvmd_state(services)
    leds = services.hid.leds()
    jiggler, _ = services.jiggler.state()
    connected = state.hid_connected
    return {
        "enabled": True,
        "online": True,
        "busy": bool(services.paster.busy),
        "connected": connected,
        "keyboard": {
            "online": True,
            "connected": connected,
            "leds": {"caps": leds.caps_lock, "scroll": leds.scroll_lock, "num": leds.num_lock},
            "outputs": {"available": ["usb"], "active": "usb"},
        },
        "mouse": {
            "online": True,
            "connected": connected,
            "absolute": state.mouse_absolute,
            "outputs": {"available": ["usb", "usb_rel"], "active": "usb" if state.mouse_absolute else "usb_rel"},
        },
        "jiggler": {"enabled": jiggler, "active": jiggler, "interval": 15},
    }


def keymaps() -> dict[str, Any]:
    return {"keymaps": {"default": "en-us", "available": sorted(set(KEYMAPS) | set(LAYOUTS) - {"", "en", "ru"})}}


def layout(name: str) -> str | None:
    """Our layout for a kvmd keymap name (or one of ours), None if unknown."""
    if name in KEYMAPS:
        return KEYMAPS[name]
    return name if name in LAYOUTS and name else None


# --- streamer ------------------------------------------------------------------------------------


def streamer(services: Services) -> dict[str, Any]:
    width, height, quality, fps = services.screen.snapshot()
    capture = services.capture
    state = kvmd_state(services)
    saved = state.saved_snapshot[1] if state.saved_snapshot else None
    running: dict[str, Any] | None = None
    frame = capture.latest
    if frame is not None and capture.viewers:
        running = {
            "instance_id": "",
            "encoder": {"type": "CPU", "quality": quality},
            "h264": {"bitrate": 0, "fps": 0, "gop": 0, "online": False},
            "sinks": {"h264": {"has_clients": False}, "jpeg": {"has_clients": capture.viewers > 0}},
            "source": {
                "online": bool(capture.signal),
                "resolution": {"width": frame.width, "height": frame.height},
                "captured_fps": fps,
                "desired_fps": fps,
            },
            "stream": {"clients": capture.viewers, "clients_stat": {}, "queued_fps": fps},
        }
    return {
        "features": {"quality": True, "resolution": False, "h264": False},
        "limits": {
            "desired_fps": {"min": 1, "max": 60},
            "h264_bitrate": {"min": 25, "max": 20000},
            "h264_gop": {"min": 0, "max": 60},
        },
        "params": {
            "desired_fps": fps,
            "quality": quality,
            "h264_bitrate": 0,
            "h264_gop": 0,
            "resolution": f"{width}x{height}",
        },
        "snapshot": {"saved": saved},
        "streamer": running,
    }


def ocr() -> dict[str, Any]:
    """kvmd's OCR state: tesseract's languages, English by default."""
    known = list(ocr_service.languages()) if ocr_service.available() else []
    default = [lang for lang in ocr_service.DEFAULT_LANGS if lang in known]
    return {"ocr": {"enabled": bool(known), "langs": {"default": default, "available": known}}}


# --- MSD -----------------------------------------------------------------------------------------


def _image_entry(path: Path) -> dict[str, Any] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return {"complete": True, "removable": True, "size": stat.st_size, "mod_ts": stat.st_mtime}


def _transfer(services: Services, kind: str) -> dict[str, Any] | None:
    status = services.transfers.status()
    if status.status != "in_progress" or services.transfers.kind != kind:
        return None
    return {"name": status.file, "size": services.transfers.total or 0, "written": services.transfers.done}


def msd(services: Services) -> dict[str, Any]:
    state = kvmd_state(services)
    root = services.root
    data = root(DATA)
    try:
        usage = shutil.disk_usage(data)
        size, free = usage.total, usage.free
    except OSError:
        size = free = 0
    images: dict[str, Any] = {}
    try:
        listed = services.images.images() or []
    except DomainError:
        listed = []
    for device_path in listed:
        entry = _image_entry(root(device_path))
        if entry is not None:
            images[device_path[len(DATA) + 1 :]] = entry
    try:
        mounted = services.images.mounted()
    except DomainError:
        mounted = ""
    connected = bool(mounted)
    name = mounted[len(DATA) + 1 :] if mounted.startswith(DATA + "/") else state.drive.image
    image = None
    if name:
        entry = _image_entry(root(f"{DATA}/{name}"))
        if entry is not None:
            image = {"name": name, "in_storage": True, **entry}
    writable = os.access(data, os.W_OK)
    busy = services.transfers.status().status == "in_progress"
    return {
        "enabled": True,
        "online": True,
        "busy": busy,
        "features": {"multi": True, "cdrom": True, "rw": True},
        "drive": {"image": image, "connected": connected, "cdrom": state.drive.cdrom, "rw": state.drive.rw},
        "storage": {
            "size": size,
            "free": free,
            "images": images,
            "parts": {"": {"size": size, "free": free, "writable": writable}},
            "downloading": _transfer(services, "download"),
            "uploading": _transfer(services, "upload"),
        },
    }


def now() -> float:
    return time.time()
