"""The lock-out table (issue 13, finding 2): bounded, and a full table never forgets a lock."""

from __future__ import annotations

from pathlib import Path

from app.config import load_config
from app.services.auth.lockout import TABLE_LIMIT, Lockout

REPO = Path(__file__).resolve().parents[2]


def lock(lockout: Lockout, ip: str) -> None:
    for _ in range(lockout.max_failures):
        assert lockout.reserve(ip)
    assert not lockout.reserve(ip) and lockout.is_locked(ip)


def test_the_nth_reservation_locks_before_any_check_ends() -> None:
    lockout = Lockout(300, 5)
    allowed = sum(lockout.reserve("192.0.2.1") for _ in range(200))
    assert allowed == 5 and lockout.is_locked("192.0.2.1")
    assert lockout.reserve("192.0.2.2")  # per address


def test_a_full_table_keeps_its_locks() -> None:
    lockout = Lockout(300, 5)
    lock(lockout, "10.0.0.1")
    for n in range(TABLE_LIMIT + 1000):  # one failure each from many more addresses than the table holds
        lockout.reserve(f"10.1.{n // 256}.{n % 256}")
    assert lockout.is_locked("10.0.0.1")
    assert len(lockout) <= TABLE_LIMIT


def test_a_table_full_of_locks_refuses_newcomers() -> None:
    lockout = Lockout(300, 2, limit=50)
    for n in range(50):
        lock(lockout, f"10.2.0.{n}")
    assert not lockout.reserve("10.3.0.1")  # failing closed: no unchecked guesses from new addresses
    assert all(lockout.is_locked(f"10.2.0.{n}") for n in range(50))


def test_success_forgets_the_count() -> None:
    lockout = Lockout(300, 3)
    assert lockout.reserve("a") and lockout.reserve("a")
    lockout.success("a")
    assert lockout.reserve("a") and lockout.reserve("a") and not lockout.is_locked("a")


def test_lockout_is_on_in_the_sim_and_shipped_configs() -> None:
    for path in (REPO / "server.yaml", REPO / "overlay/etc/kvm/server.yaml"):
        config = load_config(path)
        assert config.security.login_lockout_duration > 0 and config.security.login_max_failures <= 5, path
