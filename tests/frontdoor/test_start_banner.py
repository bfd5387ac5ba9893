"""What ``python -m app`` prints at start: where to go, the first login while it holds, where state lives;
granian's embedded-mode warning dropped and every other granian record kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.banner import EMBEDDED_WARNING, quiet_embedded_warning
from app.services.auth.transport import encrypt
from tests.conftest import RunningApp, start_app


def banner(app: RunningApp) -> str:
    """The app's output once it printed its start lines."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = app.log.read_text(errors="replace")
        if "stop with Ctrl+C" in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"no start banner:\n{app.log.read_text()}")


def test_start_says_where_to_go_how_to_log_in_and_where_state_lives(
    app_factory: Callable[..., RunningApp], tmp_path: Path
) -> None:
    kvm = app_factory(first_boot=True)  # the device as shipped: admin/admin to change
    text = banner(kvm)
    assert f"at {kvm.url} " in text
    assert "first login: admin / admin" in text
    assert f"state: {kvm.root.resolve()} " in text
    assert "experimental" not in text.lower()

    admin = kvm.login()
    body = {"password": encrypt("a-new-password"), "currentPassword": encrypt("admin")}
    assert admin.post("/api/auth/password", json=body).json()["code"] == 0
    kvm.stop()

    again_dir = tmp_path / "again"
    again_dir.mkdir()
    again = start_app(again_dir, root=kvm.root)  # the same device root: the password is no longer admin
    try:
        text = banner(again)
        assert "admin / admin" not in text
        assert f"log in with your account (accounts: {kvm.path('/etc/kvm/pwd').resolve()})" in text
    finally:
        again.stop()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def granian_log() -> Iterator[tuple[logging.Logger, _Records]]:
    logger = logging.getLogger("_granian")
    records = _Records()
    filters, level = list(logger.filters), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    yield logger, records
    logger.removeHandler(records)
    logger.filters[:] = filters
    logger.setLevel(level)


def test_only_the_embedded_warning_is_dropped(granian_log: tuple[logging.Logger, _Records]) -> None:
    logger, records = granian_log
    quiet_embedded_warning()
    logger.warning(EMBEDDED_WARNING)
    logger.warning("Rust task implementation is experimental!")
    logger.error(EMBEDDED_WARNING)  # the same words at another level are not the known notice
    logger.warning("Killing worker-1 after it refused to gracefully stop")
    logger.info("Listening at: http://127.0.0.1:8000")
    assert records.messages == [
        "Rust task implementation is experimental!",
        EMBEDDED_WARNING,
        "Killing worker-1 after it refused to gracefully stop",
        "Listening at: http://127.0.0.1:8000",
    ]
