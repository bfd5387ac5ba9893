"""What ``python -m app`` tells the person who started it: where to go, how to log in, where state lives.

Also keeps granian's "Embedded server is experimental!" warning out of that output: this firmware runs
granian embedded on purpose (one process on a 256 MB board; the figures are in README "Benchmarks"),
so the line at every start tells a user nothing they can act on. Every other granian record passes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from app import __version__
from app.config import Config
from app.services.auth.accounts import AccountStore, check_password

if TYPE_CHECKING:
    from app.runtime import Services

EMBEDDED_WARNING = "Embedded server is experimental!"


class _DropEmbeddedWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and record.getMessage() == EMBEDDED_WARNING)


def quiet_embedded_warning() -> None:
    """Drop granian's embedded-mode warning (call after granian configured its ``_granian`` logger)."""
    logging.getLogger("_granian").addFilter(_DropEmbeddedWarning())


def admin_password_unchanged(store: AccountStore) -> bool:
    admin = store.get("admin")
    return admin is not None and admin.must_change_password and check_password(admin, "admin")


def start_lines(config: Config, services: Services, port: int, https: bool) -> list[str]:
    root, store = services.root.root, services.auth.store
    host = config.host or "0.0.0.0"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"{'https' if https else 'http'}://{f'[{shown}]' if ':' in shown else shown}:{port}"
    where = "every address of this machine" if host in ("0.0.0.0", "::") else host
    lines = [f"nanokvm-py {__version__} ({config.board} board) at {url}  (listening on {where}, port {port})"]
    if admin_password_unchanged(store):
        lines.append("  first login: admin / admin (you are then asked to choose a new password)")
    else:
        lines.append(f"  log in with your account (accounts: {store.path.resolve()})")
    if services.board.sandbox:
        lines.append(f"  state: {root.resolve()} (the sim board's device tree; delete it to start afresh)")
    else:
        lines.append(f"  device root: {root.resolve()}")
    lines.append("  stop with Ctrl+C")
    return lines
