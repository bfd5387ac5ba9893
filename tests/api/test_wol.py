"""Wake-on-LAN through HTTP: the app itself sends the 102-byte magic packet (here to a UDP port on
127.0.0.1 instead of the LAN broadcast) and keeps the saved MAC list in the device root."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.conftest import REPO, RunningApp, start_app

MAC = "AA:BB:CC:0D:0E:0F"
PACKET = b"\xff" * 6 + bytes.fromhex("AABBCC0D0E0F") * 16


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, listener: socket.socket) -> Iterator[RunningApp]:
    port = listener.getsockname()[1]
    app = start_app(tmp_path_factory.mktemp("wol"), {"network": {"wolAddress": f"127.0.0.1:{port}"}})
    yield app
    app.stop()


@pytest.fixture
def admin(board: RunningApp) -> httpx.Client:
    board.path("/etc/kvm/cache/wol").unlink(missing_ok=True)
    return board.login()


def drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)
        sock.settimeout(5)


def answer(response: httpx.Response) -> tuple[int, object]:
    assert response.status_code == 200, response.text
    body = response.json()
    return body["code"], body["data"]


@pytest.mark.parametrize(
    "form",
    [
        "aa:bb:cc:0d:0e:0f",
        "AA-BB-CC-0D-0E-0F",
        "aabb.cc0d.0e0f",
        "AABBCC0D0E0F",
        "aa:bb-cc.0d0e:0f",
        "aA:Bb:cC:0d:0E:0f",
    ],
)
def test_magic_packet_is_sent_for_every_mac_form(
    board: RunningApp, admin: httpx.Client, listener: socket.socket, form: str
) -> None:
    drain(listener)
    assert answer(admin.post("/api/network/wol", json={"mac": form})) == (0, None)
    data, _ = listener.recvfrom(1024)
    assert data == PACKET and len(data) == 102
    assert answer(admin.get("/api/network/wol/mac")) == (0, {"macs": [MAC]})  # saved once, normalised


@pytest.mark.parametrize(
    "form",
    [
        "",
        "AA:BB:CC:DD:EE",
        "AA:BB:CC:DD:EE:FF:00",
        "GG:BB:CC:DD:EE:FF",
        "AA BB CC DD EE FF",
        "AA:BB:CC:DD:EE:FF\n",
        "AA:BB:CC:DD:EE:FF; reboot",
        "$(reboot)",
        "\uff21\uff21:BB:CC:DD:EE:FF",  # full-width letters are not hex digits
        "\u0660\u0661:BB:CC:DD:EE:FF",  # nor are Arabic-Indic digits
        "A" * 10_000,
    ],
)
def test_bad_macs_are_refused_and_nothing_is_sent(
    board: RunningApp, admin: httpx.Client, listener: socket.socket, form: str
) -> None:
    drain(listener)
    assert answer(admin.post("/api/network/wol", json={"mac": form})) == (-2, None)
    assert admin.post("/api/network/wol", json={"mac": form}).json()["msg"] == "invalid MAC address"
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.recvfrom(1024)
    assert not board.path("/etc/kvm/cache/wol").exists()


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"mac": 5}', b'{"mac": null}', b'{"other": "x"}'])
def test_bad_bodies_are_invalid_arguments(admin: httpx.Client, body: bytes) -> None:
    response = admin.post("/api/network/wol", content=body, headers={"content-type": "application/json"})
    assert answer(response)[0] == -1


def test_the_saved_list(board: RunningApp, admin: httpx.Client, listener: socket.socket) -> None:
    assert answer(admin.get("/api/network/wol/mac")) == (0, {"macs": []})  # no file yet: an empty list
    for mac in ("11:22:33:44:55:66", "aa-bb-cc-0d-0e-0f", "112233445566"):
        assert answer(admin.post("/api/network/wol", json={"MAC": mac}))[0] == 0  # keys case-insensitive
    assert answer(admin.get("/api/network/wol/mac")) == (0, {"macs": ["11:22:33:44:55:66", MAC]})

    assert answer(admin.post("/api/network/wol/mac/name", json={"mac": "aabbcc0d0e0f", "name": "  NAS \t box  "})) == (
        0,
        None,
    )
    assert answer(admin.get("/api/network/wol/mac"))[1] == {"macs": ["11:22:33:44:55:66", f"{MAC} NAS box"]}
    assert board.path("/etc/kvm/cache/wol").read_text() == f"11:22:33:44:55:66\n{MAC} NAS box\n"

    before = board.path("/etc/kvm/cache/wol").read_bytes()
    for name in ("two\nlines", "nul\x00", "cr\r", "x" * 33, "y" * 10_000, "sep\u2028arator"):
        assert answer(admin.post("/api/network/wol/mac/name", json={"mac": MAC, "name": name}))[0] == -1, name
    assert answer(admin.post("/api/network/wol/mac/name", json={"mac": "bad", "name": "x"}))[0] == -2
    assert answer(admin.post("/api/network/wol/mac/name", json={"mac": "00:00:00:00:00:01", "name": "x"}))[0] == -3
    assert board.path("/etc/kvm/cache/wol").read_bytes() == before

    assert answer(admin.request("DELETE", "/api/network/wol/mac", json={"mac": "11-22-33-44-55-66"})) == (0, None)
    assert answer(admin.request("DELETE", "/api/network/wol/mac", json={"mac": "x" * 10_000}))[0] == -2
    assert answer(admin.get("/api/network/wol/mac"))[1] == {"macs": [f"{MAC} NAS box"]}
    assert answer(admin.post("/api/network/wol/mac/name", json={"mac": MAC, "name": ""})) == (0, None)
    assert answer(admin.get("/api/network/wol/mac"))[1] == {"macs": [MAC]}
    drain(listener)


def test_an_unreadable_list_is_open_file_error(board: RunningApp, admin: httpx.Client) -> None:
    path: Path = board.path("/etc/kvm/cache/wol")
    path.mkdir(parents=True)
    try:
        assert admin.get("/api/network/wol/mac").json() == {"code": -2, "msg": "open file error", "data": None}
    finally:
        path.rmdir()


def test_roles(board: RunningApp, admin: httpx.Client, listener: socket.socket) -> None:
    user_form = {"username": "wol-op", "password": encrypt("op-password"), "role": "user"}
    if answer(admin.post("/api/auth/users", json=user_form))[0] != 0:
        pytest.fail("could not create the user")
    user = board.login("wol-op", "op-password")
    drain(listener)
    assert answer(user.post("/api/network/wol", json={"mac": MAC}))[0] == 0  # users may wake machines
    assert listener.recvfrom(1024)[0] == PACKET
    assert answer(user.get("/api/network/wol/mac"))[1] == {"macs": [MAC]}
    assert user.request("DELETE", "/api/network/wol/mac", json={"mac": MAC}).status_code == 403
    assert user.post("/api/network/wol/mac/name", json={"mac": MAC, "name": "x"}).status_code == 403
    assert board.client().post("/api/network/wol", json={"mac": MAC}).status_code == 401


CLIENT_SCRIPT = """
import asyncio, json, sys
from nanokvm.client import NanoKVMClient

async def main(url):
    async with NanoKVMClient(url) as client:
        await client.authenticate("admin", "admin")
        seen = {"empty": (await client.get_wol_macs()).macs}
        await client.send_wake_on_lan("aa-bb-cc-0d-0e-0f")
        await client.set_wol_mac_name("AA:BB:CC:0D:0E:0F", "NAS")
        seen["named"] = (await client.get_wol_macs()).macs
        await client.delete_wol_mac("AA:BB:CC:0D:0E:0F")
        seen["deleted"] = (await client.get_wol_macs()).macs
        return seen

print(json.dumps(asyncio.run(main(sys.argv[1]))))
"""


@pytest.mark.parametrize("client_version", ["1.4.1", "1.2.0"])
def test_home_assistant_client(
    board: RunningApp, admin: httpx.Client, listener: socket.socket, client_version: str, tmp_path: Path
) -> None:
    python = REPO / ".venv-clients" / client_version / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run `task test` (it creates the client venvs)")
    script = tmp_path / "drive.py"
    script.write_text(CLIENT_SCRIPT)
    drain(listener)
    out = subprocess.run(
        [str(python), str(script), f"{board.url}/api/"], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"empty": [], "named": [f"{MAC} NAS"], "deleted": []}
    assert listener.recvfrom(1024)[0] == PACKET
