"""The account store: HEAD file format, invariants, and crash-safe writes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.errors import Conflict, InvalidArgument, NotFound
from app.services.auth.accounts import AccountStore, StoreError
from app.services.auth.transport import encrypt
from tests.conftest import REPO


@pytest.fixture
def store(tmp_path: Path) -> AccountStore:
    return AccountStore(tmp_path / "etc" / "kvm" / "pwd")


def test_first_start_writes_admin_admin_owner(store: AccountStore) -> None:
    store.refresh()
    doc = json.loads(store.path.read_text())
    assert doc["version"] == 1 and doc["username"] == "admin"
    (admin,) = doc["users"]
    assert admin["role"] == "admin" and admin["enabled"] is True
    assert admin["mustChangePassword"] is True and admin["systemAccount"] is True
    assert admin["password"].startswith("$2a$10$") and admin["tokenVersion"] != 0
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.path.read_text().endswith("}\n") and '\n  "users"' in store.path.read_text()
    assert store.authenticate("admin", "admin") is not None
    assert store.authenticate("admin", "Admin") is None


def test_invariants(store: AccountStore) -> None:
    store.create("ops", "ops-password", "admin")
    store.create("bob", "bob-password", "viewer")
    with pytest.raises(Conflict, match="already exists"):
        store.create("bob", "another-password", "user")
    with pytest.raises(InvalidArgument, match="between 8 and 72"):
        store.create("eve", "short", "user")
    with pytest.raises(InvalidArgument, match="invalid username"):
        store.create("../etc", "long-enough", "user")
    with pytest.raises(InvalidArgument, match="invalid role"):
        store.create("eve", "long-enough", "root")
    with pytest.raises(Conflict, match="cannot disable or demote themselves"):
        store.update("ops", "ops", "user", None)
    with pytest.raises(Conflict, match="device owner"):
        store.update("ops", "admin", None, False)
    with pytest.raises(Conflict, match="cannot be deleted"):
        store.delete("ops", "admin")
    with pytest.raises(NotFound, match="user not found"):
        store.update("admin", "nobody", "user", None)
    assert store.update("admin", "ops", "user", None) is True
    assert store.update("admin", "ops", "user", None) is False  # no change, no revocation
    store.delete("admin", "bob")
    assert [u.username for u in store.users()] == ["admin", "ops"]


def test_legacy_files_are_migrated(tmp_path: Path) -> None:
    legacy = tmp_path / "pwd"
    legacy.write_text(json.dumps({"username": "admin", "password": encrypt("old-secret")}))
    store = AccountStore(legacy)
    account = store.authenticate("admin", "old-secret")
    assert account is not None and account.system_account and account.role == "admin"
    # The AES string was accepted once and replaced by a bcrypt hash.
    assert json.loads(legacy.read_text())["users"][0]["password"].startswith("$2a$")


def test_corrupt_file_is_unavailable_not_overwritten(tmp_path: Path) -> None:
    broken = tmp_path / "pwd"
    broken.write_text('{"version": 1, "users": [')
    with pytest.raises(StoreError):
        AccountStore(broken).authenticate("admin", "admin")
    assert broken.read_text() == '{"version": 1, "users": ['


WRITER = """
import sys
from pathlib import Path
from app.services.auth.accounts import AccountStore
store = AccountStore(Path(sys.argv[1]))
store.refresh()
print("ready", flush=True)
while True:
    store.bump_token_version("admin")
"""


def test_kill_9_mid_write_never_corrupts(tmp_path: Path) -> None:
    path = tmp_path / "pwd"
    rng = random.Random(7)
    for _ in range(15):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE, env=os.environ
        )
        assert writer.stdout is not None and writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        doc = json.loads(path.read_text())
        assert doc["users"][0]["username"] == "admin"
        # No temp file may be left looking like the store either.
        assert AccountStore(path).authenticate("admin", "admin") is not None
