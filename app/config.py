"""``server.yaml``: NanoKVM's keys (same names and defaults, spec section 3) plus ours.

Parsed once at start into msgspec Structs. A bad key or value stops the start with one line
naming the key and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
import yaml

from app import validators
from app.validation import InvalidInput, convert

PortNumber = Annotated[int, msgspec.Meta(ge=1, le=65535)]
LogLevel = Literal["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"]


class _Section(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    pass


class Port(_Section):
    http: PortNumber = 80
    https: PortNumber = 443


class Cert(_Section):
    crt: str = "server.crt"
    key: str = "server.key"


class Logger(_Section):
    level: LogLevel = "info"
    file: str = "stdout"


class Jwt(_Section):
    secret_key: str = ""
    refresh_token_duration: Annotated[int, msgspec.Meta(ge=0)] = 2_678_400
    revoke_tokens_on_logout: bool = True


class Turn(_Section):
    turn_addr: str = ""
    turn_user: str = ""
    turn_cred: str = ""


class Security(_Section):
    login_lockout_duration: Annotated[int, msgspec.Meta(ge=0)] = 0
    login_max_failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    # Ours: the pause after a failed login, in seconds (NanoKVM: 2 s; bad parameters and lock-outs 1.5x).
    login_failure_delay: Annotated[float, msgspec.Meta(ge=0, le=10)] = 2.0


class GpioChannel(_Section):
    """Ours: one more GPIO line for kvmd's ``/api/gpio`` (a relay, a second host's button, a sensor)."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    line: Annotated[str, msgspec.Meta(min_length=1)]  # the same specs as the ATX lines
    mode: Literal["input", "output"] = "output"
    inverted: bool = False  # active low: state true = level 0
    switch: bool = True  # an output may be switched on and off (else only pulsed)
    # An output's pulse length in seconds when the request names none; 0 = no pulses.
    pulse_delay: Annotated[float, msgspec.Meta(ge=0, le=600)] = 0.1
    max_pulse_delay: Annotated[float, msgspec.Meta(ge=0.1, le=600)] = 10.0


class Gpio(_Section):
    """Ours: how power/reset buttons and LEDs are reached. Empty line specs = NanoKVM pins (spec 7.2)."""

    driver: Literal["sysfs", "cdev"] = "sysfs"
    power_button: str = ""
    reset_button: str = ""
    power_led: str = ""
    hdd_led: str = ""
    # Longest press the API accepts, in milliseconds.
    max_press_ms: Annotated[int, msgspec.Meta(ge=100, le=120_000)] = 20_000
    # More lines for kvmd's GPIO API, by name (kvmd's own ATX channels' names are taken).
    channels: list[GpioChannel] = msgspec.field(default_factory=list)


class Video(_Section):
    """Ours: where the picture comes from."""

    # v4l2 (an HDMI capture device), sim (the sim host's screen), file (a looped MJPEG or video file),
    # libkvm (NanoKVM's vendor library, ``library``); "" = the board's own: sim on the sim board, v4l2 on a real one.
    source: Literal["", "v4l2", "sim", "file", "libkvm"] = ""
    device: str = "/dev/video0"
    format: Literal["auto", "mjpeg", "yuyv"] = "auto"
    file: str = ""
    # The native picture size: the sim screen's and the file source's; for a V4L2 device only when it
    # reports no DV timings (USB grabbers) — an HDMI receiver captures at the size it detects.
    width: Annotated[int, msgspec.Meta(ge=160, le=7680)] = 1920
    height: Annotated[int, msgspec.Meta(ge=120, le=4320)] = 1080
    # NanoKVM's vendor capture library (source libkvm: it captures and encodes MJPEG and H.264 itself).
    library: str = "/kvmapp/server/dl_lib/libkvm.so"
    # The H.264 encoder: x264 (software, PyAV), v4l2m2m (the V4L2 hardware encoder through PyAV, e.g.
    # a Raspberry Pi 4), libkvm (NanoKVM's); "" = libkvm with source libkvm, else x264.
    encoder: Literal["", "x264", "v4l2m2m", "libkvm"] = ""


class Hid(_Section):
    """Ours: typing on the host."""

    # Extra pause after each pasted character, in ms. 0 = as fast as the host polls the keyboard.
    paste_delay_ms: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    # /api/ws closes after this many seconds without a message (NanoKVM: 90; its page beats every 10).
    ws_idle_seconds: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 90.0


class Network(_Section):
    """Ours: the network features the app runs itself."""

    # Where Wake-on-LAN magic packets are sent (IPv4 host:port): the LAN's broadcast on a board; the
    # sim board and tests send them to a port on 127.0.0.1, so nothing leaves the machine.
    wol_address: Annotated[str, msgspec.Meta(pattern=r"^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$")] = "255.255.255.255:9"


class Update(_Section):
    """Ours: application updates (spec 4.8, 9). Only bundles signed by a trusted key are installed."""

    # The update server's base URL (latest.json and the bundles); "" = none, so the version check
    # answers "failed to query latest version" and nothing is fetched until an admin sets a server.
    url: Annotated[str, msgspec.Meta(pattern=r"^(https?://[^\s?#]+)?$", max_length=2048)] = ""
    # Directory of trusted Ed25519 public keys (PEM, *.pub); "" = the keys shipped with the firmware.
    keys: str = ""


class Vnc(_Section):
    """Ours: the VNC (RFB 3.8) server, for VNC clients; noVNC in the browser goes through HTTP instead."""

    enabled: bool = False
    port: PortNumber = 5900
    # Listen address; "" = the same as ``host``.
    host: str = ""
    # The host's keyboard layout, to turn a client's keysyms into keys (QEMU key events need none);
    # one of the paste layouts. Admins change it at run time (POST /api/vnc/settings).
    layout: Literal["us", "de", "fr", "uk", "es", "it", "ch-de", "nordic", "us-intl"] = "us"


class Pikvm(_Section):
    """Ours: PiKVM's kvmd API on a listener of its own as well (it is always on the main listener)."""

    enabled: bool = False
    # https uses the device certificate (/etc/kvm/server.crt, made on first use as for VNC).
    proto: Literal["http", "https"] = "https"
    port: PortNumber = 8443
    # Listen address; "" = the same as ``host``.
    host: str = ""


class Config(_Section):
    proto: Literal["http", "https"] = "http"
    host: str = ""
    port: Port = msgspec.field(default_factory=Port)
    cert: Cert = msgspec.field(default_factory=Cert)
    logger: Logger = msgspec.field(default_factory=Logger)
    authentication: Literal["enable", "disable"] = "enable"
    jwt: Jwt = msgspec.field(default_factory=Jwt)
    # NanoKVM ships Google's STUN server; ours contacts nothing unasked (a KVM is often on a LAN without
    # the internet, where WebRTC needs no STUN): set ``stun.l.google.com:19302`` to reach a KVM across NAT.
    stun: str = "disable"
    turn: Turn = msgspec.field(default_factory=Turn)
    security: Security = msgspec.field(default_factory=Security)
    # Ours.
    board: Literal["sim", "nanokvm", "rpi4"] = "nanokvm"
    root: str = "/"
    gpio: Gpio = msgspec.field(default_factory=Gpio)
    video: Video = msgspec.field(default_factory=Video)
    hid: Hid = msgspec.field(default_factory=Hid)
    network: Network = msgspec.field(default_factory=Network)
    update: Update = msgspec.field(default_factory=Update)
    vnc: Vnc = msgspec.field(default_factory=Vnc)
    pikvm: Pikvm = msgspec.field(default_factory=Pikvm)


class ConfigError(Exception):
    """One line for the operator: which key, what is wrong."""


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML") from None
    if raw is None:
        raw = {}
    try:
        config = convert(raw, Config, strict_keys=True)
    except InvalidInput as err:
        raise ConfigError(f"{path}: {err}") from None
    _check_channels(path, config.gpio.channels)
    try:  # the pattern lets 999.1.1.1:0 through: the start must not fail later with a traceback
        validators.wol_address(config.network.wol_address)
    except ValueError as err:
        raise ConfigError(f"{path}: network.wolAddress: {err}") from None
    return config


def _check_channels(path: Path, channels: list[GpioChannel]) -> None:
    taken = {"power_button", "reset_button", "power_led", "hdd_led"}  # the ATX lines' kvmd names
    for index, channel in enumerate(channels):
        if channel.name in taken:
            raise ConfigError(f"{path}: gpio.channels.{index}.name: {channel.name!r} is already a channel")
        taken.add(channel.name)


def resolve_root(config: Config, config_path: Path) -> Path:
    """A relative ``root`` is relative to the config file's directory."""
    root = Path(config.root)
    return root if root.is_absolute() else (config_path.parent / root)
