"""Which board module builds the ``Board`` for ``config.board``: the one place the kinds are listed."""

from __future__ import annotations

from collections.abc import Callable

from app.board import nanokvm, rpi4, sim
from app.board.base import Board
from app.config import Config
from app.paths import DeviceRoot

BUILDERS: dict[str, Callable[[Config, DeviceRoot], Board]] = {
    "sim": sim.build,
    "nanokvm": nanokvm.build,
    "rpi4": rpi4.build,
}


def build_board(config: Config, root: DeviceRoot) -> Board:
    return BUILDERS[config.board](config, root)
