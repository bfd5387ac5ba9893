"""Each board kind builds from its config into one ``Board`` holding its drivers (app/board/)."""

from __future__ import annotations

import asyncio
import typing
from pathlib import Path

import msgspec
import pytest

from app.board.select import BUILDERS, build_board
from app.board.video import NoSignal
from app.config import Config, Gpio, Video, load_config
from app.paths import DeviceRoot
from tests.conftest import REPO


def _gpio_files(root: Path, numbers: list[int], base: int = 0, label: str = "") -> None:
    """Exported sysfs lines as plain files (buttons released, LEDs off: active low)."""
    if label:
        chip = root / f"sys/class/gpio/gpiochip{base}"
        chip.mkdir(parents=True)
        (chip / "label").write_text(f"{label}\n")
        (chip / "base").write_text(f"{base}\n")
        (chip / "ngpio").write_text("58\n")
    for number in numbers:
        line = root / f"sys/class/gpio/gpio{number}"
        line.mkdir(parents=True)
        (line / "value").write_text("1\n")


def _udcs(root: Path, *names: str) -> None:
    for name in names:
        (root / "sys/class/udc" / name).mkdir(parents=True)


def test_every_configurable_board_has_a_module() -> None:
    kinds = typing.get_args(typing.get_type_hints(Config)["board"])
    assert set(kinds) == set(BUILDERS)


def test_sim_board(tmp_path: Path) -> None:
    board = build_board(Config(board="sim"), DeviceRoot(tmp_path))
    board.start()  # the sim PC's threads, as the app starts them
    try:
        assert board.kind == "sim"
        assert board.sim_host is not None and board.sim_input is not None
        assert board.hid_paths.keyboard_out == tmp_path / "dev/hidg0-leds"
        assert board.gadget.bound() == "sim-udc"  # built at start, on the sim root's fake UDC
        assert [a.addr for a in board.addresses() or []] == ["127.0.0.1"]  # never the laptop's interfaces
        assert board.interface_info("eth0") == ("127.0.0.1/8", "255.0.0.0")
        assert not board.restarts_itself
        # The runner emulates, it never runs: an unknown program is "not installed" even if the laptop has it.
        with pytest.raises(FileNotFoundError):
            board.runner.run(["ls"])
        board.atx.set_button("power", True)  # the sim PC hears its button
        board.atx.set_button("power", False)

        async def greeting() -> bytes:
            shell = board.shell()
            await shell.start()
            return await shell.read()

        assert b"sim board terminal" in asyncio.run(greeting())
    finally:
        board.stop()


def test_nanokvm_board(tmp_path: Path) -> None:
    (tmp_path / "etc/kvm").mkdir(parents=True)
    (tmp_path / "etc/kvm/hw").write_text("beta\n")
    _gpio_files(tmp_path, [503, 504, 505])
    _udcs(tmp_path, "4340000.usb")
    config = Config(board="nanokvm", video=Video(source="sim"))
    board = build_board(config, DeviceRoot(tmp_path))
    try:
        assert (board.kind, board.hardware, board.sim_host, board.restarts_itself) == ("nanokvm", "beta", None, True)
        assert board.hid_paths.keyboard_out == board.hid_paths.keyboard == tmp_path / "dev/hidg0"
        board.atx.set_button("reset", True)  # Beta: reset is sysfs 505
        assert (tmp_path / "sys/class/gpio/gpio505/value").read_text() == "1"
        assert board.gadget.udc() == "4340000.usb"
        with pytest.raises(NoSignal, match="needs board: sim"):
            board.video()
    finally:
        board.stop()


def test_rpi4_board_from_its_config_example(tmp_path: Path) -> None:
    example = load_config(REPO / "boards/rpi4.server.yaml")
    assert (example.board, example.gpio.driver, example.video.device) == ("rpi4", "cdev", "/dev/video0")
    # The example's cdev lines need a kernel (tests/kernel); the same CHIP:OFFSET specs resolve on sysfs.
    config = msgspec.structs.replace(example, gpio=Gpio(driver="sysfs"))
    _gpio_files(tmp_path, [512 + offset for offset in (22, 23, 24, 27)], base=512, label="pinctrl-bcm2711")
    _udcs(tmp_path, "dummy_udc.0", "fe980000.usb")
    board = build_board(config, DeviceRoot(tmp_path))
    try:
        assert board.kind == "rpi4"
        board.atx.set_button("power", True)  # GPIO23
        board.atx.set_button("reset", True)  # GPIO27
        assert (tmp_path / "sys/class/gpio/gpio535/value").read_text() == "1"
        assert (tmp_path / "sys/class/gpio/gpio539/value").read_text() == "1"
        (tmp_path / "sys/class/gpio/gpio536/value").write_text("0\n")  # GPIO24 low: the power LED is lit
        assert board.atx.power_led() and not board.atx.hdd_led()
        assert board.gadget.udc() == "fe980000.usb"  # dwc2, not the first UDC by name
        assert board.h264_encoder == "h264_v4l2m2m"
        assert board.hid_paths.mouse == tmp_path / "dev/hidg1"
    finally:
        board.stop()
