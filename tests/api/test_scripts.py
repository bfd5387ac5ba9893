"""User scripts and autostart files on the sim board: files land in the sandbox, scripts never run here."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import RunningApp

BAD_NAMES = [
    "../evil.sh",
    "../../etc/evil.sh",
    "/etc/evil.sh",
    "a/b.sh",
    "a\\b.sh",
    "bad\nname.sh",
    "x;reboot.sh",
    "$(reboot).sh",
    ".hidden.sh",
    "..sh",
    "x" * 10_000 + ".sh",
    "",
]


def answer(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def upload(client: httpx.Client, name: str, content: bytes) -> dict[str, object]:
    return answer(client.post("/api/vm/script/upload", files={"file": (name, content, "text/x-sh")}))


def tree(root: Path) -> set[str]:
    """Every path under the device root but the audit log, which records these attempts by design (in a
    thread, so it may appear between two listings)."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if not path.name.startswith("audit.jsonl")}


def test_script_lifecycle_never_executes(kvm: RunningApp, tmp_path: Path) -> None:
    admin = kvm.login()
    assert answer(admin.get("/api/vm/script")) == {"code": -1, "msg": "get scripts failed", "data": None}

    marker = tmp_path / "executed"
    script = f"#!/bin/sh\necho hi\ntouch {marker}\n".encode()
    assert upload(admin, "hello.sh", script) == {"code": 0, "msg": "success", "data": {"file": "hello.sh"}}
    assert upload(admin, "Tool.PY", b"print('x')\n")["code"] == 0
    saved = kvm.path("/etc/kvm/scripts/hello.sh")
    assert saved.read_bytes() == script
    assert saved.stat().st_mode & stat.S_IXUSR
    assert answer(admin.get("/api/vm/script"))["data"] == {"files": ["Tool.PY", "hello.sh"]}

    ran = answer(admin.post("/api/vm/script/run", json={"name": "hello.sh", "type": "foreground"}))
    assert ran["code"] == 0
    log = ran["data"]["log"]  # type: ignore[index]
    assert "not executed on the sim board" in log and "/etc/kvm/scripts/hello.sh" in log
    ran = answer(admin.post("/api/vm/script/run", json={"Name": "Tool.PY", "TYPE": "background"}))
    assert ran == {"code": 0, "msg": "success", "data": {"log": ""}}
    assert not marker.exists()  # nothing ran on this machine

    assert answer(admin.request("DELETE", "/api/vm/script", json={"name": "hello.sh"}))["code"] == 0
    assert not saved.exists()
    assert answer(admin.request("DELETE", "/api/vm/script", json={"name": "hello.sh"})) == {
        "code": -3,
        "msg": "delete failed",
        "data": None,
    }
    assert answer(admin.request("DELETE", "/api/vm/script", json={"name": "Tool.PY"}))["code"] == 0
    assert answer(admin.get("/api/vm/script"))["data"] == {"files": None}  # NanoKVM's null for none


def test_bad_script_input_is_refused(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert upload(admin, "keep.sh", b"echo keep\n")["code"] == 0
    before = tree(kvm.root)
    for name in [*BAD_NAMES, "notes.txt", "script.sh.txt"]:
        result = upload(admin, name, b"echo pwned\n")
        assert result["code"] in (-1, -2), (name, result)
    for name in BAD_NAMES:
        result = answer(admin.post("/api/vm/script/run", json={"name": name, "type": "foreground"}))
        assert result["code"] == -1, (name, result)
        result = answer(admin.request("DELETE", "/api/vm/script", json={"name": name}))
        assert result["code"] == -1, (name, result)
    assert tree(kvm.root) == before  # nothing written or removed anywhere
    assert kvm.path("/etc/kvm/scripts/keep.sh").exists()

    assert answer(admin.post("/api/vm/script/upload", files={"other": ("x.sh", b"x")}))["msg"] == "bad request"
    assert answer(admin.post("/api/vm/script/upload", json={"file": "x.sh"}))["code"] == -1
    run = "/api/vm/script/run"
    assert answer(admin.post(run, json={"name": "keep.sh", "type": "sideways"}))["code"] == -1
    assert answer(admin.post(run, json={"name": "keep.sh"}))["code"] == -1
    assert answer(admin.post(run, content=b"{not json", headers={"content-type": "application/json"}))["code"] == -1
    assert answer(admin.post(run, json={"name": "gone.sh", "type": "foreground"}))["code"] == -2


def test_autostart(kvm: RunningApp) -> None:
    admin = kvm.login()
    assert answer(admin.get("/api/vm/autostart"))["code"] == -1  # no directory yet
    content = "#!/bin/sh\n# start things\nexit 0\n"
    assert answer(admin.post("/api/vm/autostart/S99mine", json={"content": content})) == {
        "code": 0,
        "msg": "success",
        "data": "S99mine",
    }
    saved = kvm.path("/etc/kvm/autostart/S99mine")
    assert saved.read_text() == content
    assert stat.S_IMODE(saved.stat().st_mode) == 0o755
    assert answer(admin.get("/api/vm/autostart"))["data"] == {"files": ["S99mine"]}
    assert answer(admin.get("/api/vm/autostart/S99mine"))["data"] == content  # a JSON string
    assert answer(admin.get("/api/vm/autostart/nothing")) == {"code": -1, "msg": "read file fail", "data": None}
    assert answer(admin.delete("/api/vm/autostart/S99mine"))["code"] == 0
    assert answer(admin.delete("/api/vm/autostart/S99mine")) == {"code": -3, "msg": "remove file fail", "data": None}
    assert answer(admin.get("/api/vm/autostart"))["data"] == {"files": None}


@pytest.mark.parametrize(
    "name", ["..", "%2E%2E", "..%2Fpwd", "%2Fetc%2Fkvm%2Fpwd", "a%0Ab", ".hidden", "x" * 10_000, "a%00b", "a%20b"]
)
def test_bad_autostart_names_are_refused(kvm: RunningApp, name: str) -> None:
    admin = kvm.login()
    before = tree(kvm.root)
    pwd = kvm.path("/etc/kvm/pwd").read_bytes()
    url = f"{kvm.url}/api/vm/autostart/{name}"
    for response in (
        admin.post(url, json={"content": "echo pwned"}),
        admin.get(url),
        admin.delete(url),
    ):
        # Refused by the route (-1/-3) or not a route at all (404); never a 500, never a file.
        assert response.status_code in (200, 404), (name, response.status_code)
        if response.status_code == 200:
            assert response.json()["code"] in (-1, -3), (name, response.json())
    assert tree(kvm.root) == before
    assert kvm.path("/etc/kvm/pwd").read_bytes() == pwd


def test_scripts_and_autostart_need_admin(kvm: RunningApp) -> None:
    admin = kvm.login()
    created = admin.post("/api/auth/users", json={"username": "op", "password": encrypt("op-password"), "role": "user"})
    assert answer(created)["code"] == 0
    user = kvm.login("op", "op-password")
    assert user.get("/api/vm/script").status_code == 403
    assert user.post("/api/vm/script/upload", files={"file": ("x.sh", b"x")}).status_code == 403
    assert user.post("/api/vm/script/run", json={"name": "x.sh", "type": "foreground"}).status_code == 403
    assert user.request("DELETE", "/api/vm/script", json={"name": "x.sh"}).status_code == 403
    assert user.get("/api/vm/autostart").status_code == 403
    assert user.get("/api/vm/autostart/x").status_code == 403
    assert user.post("/api/vm/autostart/x", json={"content": "x"}).status_code == 403
    assert user.delete("/api/vm/autostart/x").status_code == 403
    assert kvm.client().get("/api/vm/script").status_code == 401
    assert not kvm.path("/etc/kvm/scripts").exists() and not kvm.path("/etc/kvm/autostart").exists()
