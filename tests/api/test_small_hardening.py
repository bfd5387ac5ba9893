"""The smaller findings of issue 13 (finding 6): each one a clean answer where there was a 500, a
200 or a leftover."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import RunningApp, past_first_login, start_app


@pytest.mark.parametrize("path", ["/index.html/x", "/index.html/x/y"])
def test_a_path_through_a_file_is_not_found(kvm: RunningApp, path: str) -> None:
    answer = httpx.get(kvm.url + path)
    assert (answer.status_code, answer.text) == (404, "404 page not found")


@pytest.mark.parametrize("path", ["/api/ws", "/api/vm/terminal"])
def test_a_websocket_upgrade_without_a_cookie_answers_401(kvm: RunningApp, path: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(kvm.url.replace("http", "ws") + path, open_timeout=10).close()
    assert refused.value.response.status_code == 401
    assert bytes(refused.value.response.body or b"") == b'"unauthorized"'


def test_stale_account_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "root"
    past_first_login(root)
    stale = root / "etc/kvm/.pwd-k9x2"  # what a kill -9 during an account write leaves
    stale.write_text('{"version": 1, "users": [')
    unrelated = root / "etc/kvm/.pwdx"
    unrelated.write_text("not ours")
    app = start_app(tmp_path, root=root)
    try:
        assert not stale.exists() and unrelated.exists()
        assert app.login().get("/api/auth/account").json()["code"] == 0
    finally:
        app.stop()


def test_a_mount_name_part_over_255_bytes_is_a_clear_error(kvm: RunningApp) -> None:
    admin = kvm.login()
    for name in ("/data/" + "a" * 300 + ".iso", "/data/" + "d" * 256 + "/x.iso", "/data/" + "é" * 128 + ".iso"):
        answer = admin.post("/api/storage/image/mount", json={"file": name, "cdrom": True})
        assert answer.status_code == 200, answer.text[:200]
        assert answer.json()["code"] < 0 and "255 bytes" in answer.json()["msg"], answer.json()
        deleted = admin.post("/api/storage/image/delete", json={"file": name})
        assert deleted.status_code == 200 and deleted.json()["code"] < 0
