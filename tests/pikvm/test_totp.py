"""kvmd's credentials and per-user TOTP: the code appended to the password (PiKVM's convention),
the same header accepted on every request of a client that repeats it, nothing without the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.security_support import enrol_totp, make_user, ready_admin, totp
from tests.conftest import RunningApp, start_app


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    app = start_app(Path(tmp_path_factory.mktemp("kvmd-totp")))
    yield app
    app.stop()


def test_kvmd_headers_need_the_code_and_repeat_it(board: RunningApp) -> None:
    admin = ready_admin(board)
    make_user(admin, "tess", "user")
    secret, _ = enrol_totp(board.login("tess", "password-1"))
    with httpx.Client(base_url=board.url, timeout=30) as client:
        alone = client.get("/api/auth/check", headers={"X-KVMD-User": "tess", "X-KVMD-Passwd": "password-1"})
        assert alone.status_code == 403
        wrong = f"{(int(totp(secret, step_offset=1)) + 1) % 1_000_000:06d}"
        bad = client.get("/api/auth/check", headers={"X-KVMD-User": "tess", "X-KVMD-Passwd": "password-1" + wrong})
        assert bad.status_code == 403
        headers = {"X-KVMD-User": "tess", "X-KVMD-Passwd": "password-1" + totp(secret, step_offset=1)}
        for _ in range(3):  # the client sends the same header each time
            assert client.get("/api/auth/check", headers=headers).status_code == 200
        basic = client.get("/api/auth/check", auth=("tess", "password-1"))
        assert basic.status_code == 403
