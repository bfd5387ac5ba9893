"""The table of live sessions: one account logging in over and over ends its own oldest sessions,
never another account's."""

from __future__ import annotations

from pathlib import Path

from app.config import Jwt
from app.services.auth.accounts import AccountStore
from app.services.auth.sessions import SessionManager


def test_an_accounts_own_oldest_session_makes_room(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "pwd")
    store.refresh()
    store.create("other", "password-1", "user")
    sessions = SessionManager(store, Jwt())
    admin, other = store.get("admin"), store.get("other")
    assert admin is not None and other is not None
    ended: list[str] = []
    sessions.on_end(ended.append)
    bystander = sessions.issue(other, "bystander", "10.0.0.2")
    first = sessions.issue(admin, "first", "10.0.0.1")
    assert sessions.authenticate(first) is not None
    for n in range(300):
        sessions.issue(admin, f"tab {n}", "10.0.0.1")
    assert sessions.authenticate(first) is None  # pushed out by its own account's logins
    assert sessions.authenticate(bystander) is not None
    assert len([s for s in sessions.live() if s.username == "admin"]) <= 256
    assert len(ended) >= 45
