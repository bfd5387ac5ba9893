"""kvmd's API writes the same audit log as the NanoKVM side: a power press, a failed login and a Redfish
reset are on record with who and from where, readable through GET /api/security/audit."""

from __future__ import annotations

import httpx

from tests.api.test_security_audit import find
from tests.conftest import RunningApp
from tests.pikvm.conftest import ADMIN


def test_kvmd_power_press_is_audited(board: RunningApp, kvmd: httpx.Client) -> None:
    assert kvmd.post("/api/atx/click", params={"button": "power", "wait": 1}).json()["ok"] is True
    entry = find(board.login(), "POST /api/atx/click", actor="admin", result="ok")
    assert entry["address"] == "127.0.0.1"


def test_kvmd_refusals_are_audited_without_flooding(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, timeout=30) as anonymous:
        wrong = {"X-KVMD-User": "admin", "X-KVMD-Passwd": "wrong-password"}
        assert anonymous.post("/api/atx/click", params={"button": "reset"}, headers=wrong).status_code == 403
        assert anonymous.post("/api/atx/click", params={"button": "reset"}).status_code == 401
    find(board.login(), "POST /api/atx/click", actor="", result="403")


def test_redfish_reset_is_audited(board: RunningApp) -> None:
    with httpx.Client(base_url=board.url, headers=ADMIN, timeout=30, auth=("admin", "admin")) as client:
        reset = client.post("/redfish/v1/Systems/0/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
    assert reset.status_code < 300, reset.text
    find(board.login(), "POST /redfish/v1/Systems/0/Actions/ComputerSystem.Reset", actor="admin")
