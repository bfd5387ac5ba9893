"""Application version and signed updates through HTTP on the sim board.

The update server is a local ``http.server`` on 127.0.0.1; the trusted key is a test key written to a
directory the app is pointed at (``update.keys``). A bundle installs only with a good signature; bad
or missing signatures and unsafe archives are refused and ``<root>/kvmapp`` stays as it was.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import pytest
from Crypto.PublicKey import ECC

from app.services.auth.transport import encrypt
from app.services.update.signing import sign_file
from tests.conftest import REPO, RunningApp, start_app

NEW = "2.6.0"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[ECC.EccKey, ECC.EccKey, Path]:
    trusted, stranger = ECC.generate(curve="ed25519"), ECC.generate(curve="ed25519")
    directory = tmp_path_factory.mktemp("keys")
    (directory / "test.pub").write_text(trusted.public_key().export_key(format="PEM"))
    (directory / "junk.pub").write_text("not a key\n")  # ignored, with a warning
    return trusted, stranger, directory


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    site = tmp_path_factory.mktemp("site")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def board(
    tmp_path_factory: pytest.TempPathFactory, keys: tuple[ECC.EccKey, ECC.EccKey, Path], server: tuple[Path, str]
) -> Iterator[RunningApp]:
    app = start_app(tmp_path_factory.mktemp("update"), {"update": {"url": server[1], "keys": str(keys[2])}})
    yield app
    app.stop()


def member(archive: tarfile.TarFile, name: str, data: bytes = b"", mode: int = 0o644, **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data) if data else None)


def make_bundle(
    version: str = NEW,
    extra: Callable[[tarfile.TarFile], None] | None = None,
    files: dict[str, bytes | None] | None = None,
) -> bytes:
    """A bundle for ``version``; ``files`` replaces (or, with None, drops) members of the stock layout."""
    top = f"nanokvm_{version}"
    contents: dict[str, bytes | None] = {
        "version": f"{version}\n".encode(),
        "system/init.d/S95nanokvm": b"#!/bin/sh\n",
        "web/index.html": b"<p>",
    }
    contents.update(files or {})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        member(archive, top, type=tarfile.DIRTYPE, mode=0o755)
        for name, data in contents.items():
            if data is not None:
                member(archive, f"{top}/{name}", data, 0o755 if name.endswith("S95nanokvm") else 0o644)
        if extra is not None:
            extra(archive)
    return out.getvalue()


def signature(key: ECC.EccKey, data: bytes, tmp: Path) -> bytes:
    path = tmp / "to-sign"
    path.write_bytes(data)
    return sign_file(key, path)


def tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(path.rglob("*"))}


def answer(response: httpx.Response) -> tuple[int, str]:
    assert response.status_code == 200, response.text
    return response.json()["code"], response.json()["msg"]


def publish(
    site: Path, data: bytes, sig: bytes | None, version: str = NEW, channel: str = "", **manifest: object
) -> None:
    directory = site / channel if channel else site
    directory.mkdir(parents=True, exist_ok=True)
    name = f"nanokvm_{version}.tar.gz"
    (directory / name).write_bytes(data)
    (directory / f"{name}.sig").unlink(missing_ok=True)
    if sig is not None:
        (directory / f"{name}.sig").write_bytes(base64.b64encode(sig) + b"\n")
    doc = {"manifest_version": 2, "version": version, "name": name, "size": len(data), **manifest}
    (directory / "latest.json").write_bytes(msgspec.json.encode(doc))


@pytest.fixture
def fresh(board: RunningApp) -> RunningApp:
    """/kvmapp as the sim board lays it out, every test starting from the same tree."""
    app_dir = board.path("/kvmapp")
    for path in (app_dir, board.path("/root/old")):
        if path.exists():
            shutil.rmtree(path)
    (app_dir / "kvm").mkdir(parents=True)
    (app_dir / "version").write_text("2.5.1\n")
    (app_dir / "kvm" / "now_fps").write_text("30")
    board.path("/etc/kvm/application-update.json").unlink(missing_ok=True)
    board.path("/etc/kvm/preview_updates").unlink(missing_ok=True)
    return board


def no_leftovers(board: RunningApp) -> None:
    assert [p.name for p in board.root.iterdir() if p.name.startswith(".kvmapp")] == []
    cache = board.path("/root/.kvmcache")
    assert not cache.exists() or list(cache.iterdir()) == []
    assert not board.path("/run/nanokvm-transfer-in-progress").exists()


# --- version and settings ---------------------------------------------------------------------


def test_version_preview_and_update_server(fresh: RunningApp, server: tuple[Path, str], tmp_path: Path) -> None:
    site, url = server
    admin = fresh.login()
    publish(site, b"x", None)
    assert admin.get("/api/application/version").json() == {
        "code": 0,
        "msg": "success",
        "data": {"current": "2.5.1", "latest": NEW},
    }
    assert admin.get("/api/application/preview").json()["data"] == {"enabled": False}
    assert answer(admin.post("/api/application/preview", json={"enable": True})) == (0, "success")
    assert fresh.path("/etc/kvm/preview_updates").read_text() == "1"
    assert answer(admin.get("/api/application/version"))[0] == -1  # nothing on the preview channel yet
    publish(site, b"x", None, version="2.7.0", channel="preview")
    assert admin.get("/api/application/version").json()["data"]["latest"] == "2.7.0"
    assert answer(admin.post("/api/application/preview", json={"enable": False}))[0] == 0
    assert admin.get("/api/application/preview").json()["data"] == {"enabled": False}
    assert answer(admin.post("/api/application/preview", json={"enable": "yes"}))[0] == -1

    assert admin.get("/api/application/update-server").json()["data"] == {"enabled": False, "url": url}
    for bad in (
        "ftp://example.com/x",
        "file:///etc/passwd",
        f"{url}/latest.json",
        f"{url}/?x=1",
        f"{url}/#x",
        f"{url}/a b",
        f"{url}/\nx",
        "http://",
        "http://" + "a" * 3000,
        "x" * 10_000,
    ):
        assert answer(admin.post("/api/application/update-server", json={"enabled": True, "url": bad}))[0] == -2, bad
    assert not fresh.path("/etc/kvm/application-update.json").exists()
    for body in ({"url": url}, {"enabled": "yes", "url": url}, {"enabled": True, "url": 5}):
        assert answer(admin.post("/api/application/update-server", json=body))[0] == -1
    assert answer(admin.post("/api/application/update-server", json={"enabled": True, "url": ""}))[0] == -2
    custom = f"{url}/custom/"
    response = admin.post("/api/application/update-server", json={"enabled": True, "url": custom})
    assert response.json() == {"code": 0, "msg": "success", "data": {"enabled": True, "url": f"{url}/custom"}}
    assert fresh.path("/etc/kvm/application-update.json").stat().st_mode & 0o077 == 0
    publish(site, b"x", None, version="3.0.0", channel="custom")
    assert admin.get("/api/application/version").json()["data"] == {"current": "2.5.1", "latest": "3.0.0"}
    assert answer(admin.post("/api/application/update-server", json={"enabled": False, "url": custom}))[0] == 0
    assert admin.get("/api/application/version").json()["data"]["latest"] == NEW


def test_no_update_server_means_no_connection(app_factory: Callable[..., RunningApp]) -> None:
    app = app_factory()
    admin = app.login()
    assert admin.get("/api/application/version").json() == {
        "code": -1,
        "msg": "failed to query latest version",
        "data": None,
    }
    # NanoKVM's answer on a fresh device (its page reads anything else as a custom server), shown only:
    # nothing was fetched above, and an update is refused.
    upstream = {"enabled": False, "url": "https://cdn.sipeed.com/nanokvm"}
    assert admin.get("/api/application/update-server").json()["data"] == upstream
    assert answer(admin.post("/api/application/update"))[0] == -1
    saved = admin.post("/api/application/update-server", json={"enabled": False, "url": ""})
    assert saved.json() == {"code": 0, "msg": "success", "data": upstream}
    assert admin.get("/api/application/update-server").json()["data"] == upstream
    assert answer(admin.get("/api/application/version"))[0] == -1


def test_admin_only(board: RunningApp) -> None:
    admin = board.login()
    form = {"username": "upd-op", "password": encrypt("op-password"), "role": "user"}
    assert answer(admin.post("/api/auth/users", json=form))[0] == 0
    user = board.login("upd-op", "op-password")
    for path in ("/api/application/version", "/api/application/preview", "/api/application/update-server"):
        assert user.get(path).status_code == 403
    for path in ("/api/application/update", "/api/application/update/offline", "/api/application/preview"):
        assert user.post(path).status_code == 403
    assert board.client().post("/api/application/update").status_code == 401


# --- online update ----------------------------------------------------------------------------


def test_online_update_installs_a_signed_bundle(
    fresh: RunningApp, server: tuple[Path, str], keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path
) -> None:
    site, _ = server
    data = make_bundle()
    sha512 = base64.b64encode(hashlib.sha512(data).digest()).decode()
    publish(site, data, signature(keys[0], data, tmp_path), sha512=sha512)
    admin = fresh.login()
    assert answer(admin.post("/api/application/update")) == (0, "success")
    assert fresh.path("/kvmapp/version").read_text() == f"{NEW}\n"
    assert fresh.path("/kvmapp/web/index.html").read_bytes() == b"<p>"
    assert fresh.path("/kvmapp/system/init.d/S95nanokvm").stat().st_mode & 0o111
    assert fresh.path("/kvmapp/kvm/now_fps").read_text() == "30"  # kvm_system's runtime files kept
    assert fresh.path("/root/old/version").read_text() == "2.5.1\n"
    assert admin.get("/api/vm/info").json()["data"]["application"] == NEW
    no_leftovers(fresh)
    time.sleep(1.2)  # the restart that follows runs through the sim runner: this app goes on
    assert fresh.process.poll() is None


@pytest.mark.parametrize("case", ["missing", "stranger", "tampered", "garbage", "sha512"])
def test_online_update_refuses_untrusted_bundles(
    fresh: RunningApp, server: tuple[Path, str], keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path, case: str
) -> None:
    site, _ = server
    data = make_bundle()
    good = signature(keys[0], data, tmp_path)
    sig = {
        "missing": None,
        "stranger": signature(keys[1], data, tmp_path),
        "tampered": good,
        "garbage": b"\x00" * 64,
        "sha512": good,
    }[case]
    served = make_bundle(files={"web/index.html": b"<p>evil"}) if case == "tampered" else data
    manifest = {"sha512": base64.b64encode(hashlib.sha512(b"other").digest()).decode()} if case == "sha512" else {}
    publish(site, served, sig, **manifest)
    before = tree(fresh.path("/kvmapp"))
    code, msg = answer(fresh.login().post("/api/application/update"))
    assert code == -1 and msg.startswith("update failed: "), msg
    expected = {
        "missing": "the bundle is not signed",
        "stranger": "the signature does not verify against a trusted key",
        "tampered": "the signature does not verify against a trusted key",
        "garbage": "the signature does not verify against a trusted key",
        "sha512": "the bundle does not match latest.json's sha512",
    }[case]
    assert msg == f"update failed: {expected}"
    assert tree(fresh.path("/kvmapp")) == before
    assert not fresh.path("/root/old").exists()
    no_leftovers(fresh)


# --- offline update ---------------------------------------------------------------------------


def upload(client: httpx.Client, data: bytes, sig: bytes | None, name: str = f"nanokvm_{NEW}.tar.gz", **headers: str):  # type: ignore[no-untyped-def]
    files: dict[str, tuple[str, bytes, str]] = {"file": (name, data, "application/gzip")}
    if sig is not None:
        files["signature"] = (f"{name}.sig", sig, "application/octet-stream")
    return client.post("/api/application/update/offline", files=files, headers=headers)


def test_offline_update_installs_a_signed_bundle(
    fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path
) -> None:
    data = make_bundle()
    sig = signature(keys[0], data, tmp_path)
    admin = fresh.login()
    checksum = hashlib.sha256(data).hexdigest()
    assert answer(upload(admin, data, sig, **{"X-SHA256-Checksum": "0" * 64})) == (-1, "checksum mismatch")
    assert fresh.path("/kvmapp/version").read_text() == "2.5.1\n"
    assert answer(upload(admin, data, sig, **{"X-SHA256-Checksum": checksum})) == (0, "success")
    assert fresh.path("/kvmapp/version").read_text() == f"{NEW}\n"
    no_leftovers(fresh)


def test_offline_update_streams_a_large_bundle(
    fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path
) -> None:
    """Over the app's 1 MiB body limit for JSON: the upload route has its own (1 GiB) and streams."""
    payload = os.urandom(3 << 20)
    data = make_bundle(files={"server/blob.bin": payload})
    assert len(data) > 3 << 20
    assert answer(upload(fresh.login(), data, signature(keys[0], data, tmp_path))) == (0, "success")
    assert fresh.path("/kvmapp/server/blob.bin").read_bytes() == payload
    no_leftovers(fresh)


def test_one_update_at_a_time(fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path) -> None:
    fresh.path("/run/nanokvm-transfer-in-progress").write_text("")  # an image transfer is running
    try:
        data = make_bundle()
        assert answer(upload(fresh.login(), data, signature(keys[0], data, tmp_path))) == (
            -1,
            "another transfer is in progress",
        )
        assert fresh.path("/kvmapp/version").read_text() == "2.5.1\n"
    finally:
        fresh.path("/run/nanokvm-transfer-in-progress").unlink()


def symlink(archive: tarfile.TarFile, target: str) -> None:
    member(archive, f"nanokvm_{NEW}/link", type=tarfile.SYMTYPE, linkname=target)


UNSAFE: dict[str, Callable[[tarfile.TarFile], None]] = {
    "parent": lambda a: member(a, "../x", b"x"),
    "nested parent": lambda a: member(a, f"nanokvm_{NEW}/../../x", b"x"),
    "absolute": lambda a: member(a, "/tmp/x", b"x"),
    "symlink": lambda a: symlink(a, "/etc/passwd"),
    "relative symlink": lambda a: symlink(a, "../../x"),
    "hard link": lambda a: member(a, f"nanokvm_{NEW}/hard", type=tarfile.LNKTYPE, linkname="/etc/passwd"),
    "device": lambda a: member(a, f"nanokvm_{NEW}/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
    "fifo": lambda a: member(a, f"nanokvm_{NEW}/fifo", type=tarfile.FIFOTYPE),
    "second top": lambda a: member(a, "other/x", b"x"),
    "duplicate": lambda a: member(a, f"nanokvm_{NEW}/version", b"9.9.9\n"),
}


REASONS = {
    "parent": "unsafe path",
    "nested parent": "unsafe path",
    "absolute": "unsafe path",
    "second top": f"must hold only nanokvm_{NEW}/",
    "duplicate": "twice",
    "no version": "lacks version",
    "wrong version": "version file says '2.9.9'",
    "no init script": "lacks system/init.d/S95nanokvm",
    "not gzip": "not a tar.gz archive",
}


@pytest.mark.parametrize("case", [*UNSAFE, "no version", "wrong version", "no init script", "not gzip"])
def test_offline_update_refuses_unsafe_archives_even_when_signed(
    fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path, case: str
) -> None:
    if case in UNSAFE:
        data = make_bundle(extra=UNSAFE[case])
    elif case == "no version":
        data = make_bundle(files={"version": None})
    elif case == "wrong version":
        data = make_bundle(files={"version": b"2.9.9\n"})
    elif case == "no init script":
        data = make_bundle(files={"system/init.d/S95nanokvm": None})
    else:
        data = b"not a tar.gz at all"
    before = tree(fresh.path("/kvmapp"))
    code, msg = answer(upload(fresh.login(), data, signature(keys[0], data, tmp_path)))
    assert code == -1 and msg.startswith("update failed: "), msg
    assert REASONS.get(case, "only files and directories may be in the bundle") in msg, msg
    assert tree(fresh.path("/kvmapp")) == before
    assert not fresh.path("/root/old").exists()
    assert not (fresh.root.parent / "x").exists() and not Path("/tmp/x").exists()
    no_leftovers(fresh)


@pytest.mark.parametrize("case", ["missing", "stranger", "tampered", "empty", "huge", "bad name", "no file"])
def test_offline_update_refuses_bad_signatures_and_uploads(
    fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path, case: str
) -> None:
    data = make_bundle()
    good = signature(keys[0], data, tmp_path)
    admin = fresh.login()
    before = tree(fresh.path("/kvmapp"))
    if case == "missing":
        result = answer(upload(admin, data, None))
        assert result == (-1, "update failed: the bundle is not signed")
    elif case == "stranger":
        result = answer(upload(admin, data, signature(keys[1], data, tmp_path)))
        assert result == (-1, "update failed: the signature does not verify against a trusted key")
    elif case == "tampered":
        result = answer(upload(admin, data[:-1] + bytes([data[-1] ^ 1]), good))
        assert result[0] == -1
    elif case == "empty":
        assert answer(upload(admin, data, b""))[0] == -1
    elif case == "huge":
        assert answer(upload(admin, data, b"A" * 10_000)) == (-1, "the signature is too large")
    elif case == "bad name":
        for name in ("update.tar.gz", "nanokvm_2.6.0.tar.gz\n", "nanokvm_2.6.tar.gz", "x" * 5000):
            assert answer(upload(admin, data, good, name=name)) == (-1, "the file must be named nanokvm_X.Y.Z.tar.gz")
        # a client's directories are dropped from the file name: only the base name is used
        assert answer(upload(admin, data, good, name="../../nanokvm_2.6.0.tar.gz")) == (0, "success")
        assert fresh.path("/kvmapp/version").read_text() == f"{NEW}\n"
        no_leftovers(fresh)
        return
    else:
        response = admin.post("/api/application/update/offline", files={"other": ("x", b"x")})
        assert answer(response) == (-1, "no file uploaded")
        assert answer(admin.post("/api/application/update/offline", json={"x": 1}))[0] == -1
    assert tree(fresh.path("/kvmapp")) == before
    no_leftovers(fresh)


CLIENT_SCRIPT = """
import asyncio, json, sys
from nanokvm.client import NanoKVMClient

async def main(url):
    async with NanoKVMClient(url) as client:
        await client.authenticate("admin", "admin")
        version = await client.get_application_version()
        return {"current": version.current, "latest": version.latest}

print(json.dumps(asyncio.run(main(sys.argv[1]))))
"""


@pytest.mark.parametrize("client_version", ["1.4.1", "1.2.0"])
def test_home_assistant_update_entity_reads_the_version(
    fresh: RunningApp, server: tuple[Path, str], client_version: str, tmp_path: Path
) -> None:
    python = REPO / ".venv-clients" / client_version / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} missing: run `task test` (it creates the client venvs)")
    publish(server[0], b"x", None)
    script = tmp_path / "drive.py"
    script.write_text(CLIENT_SCRIPT)
    out = subprocess.run(
        [str(python), str(script), f"{fresh.url}/api/"], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"current": "2.5.1", "latest": NEW}


def test_runtime_fifos_are_not_copied(
    fresh: RunningApp, keys: tuple[ECC.EccKey, ECC.EccKey, Path], tmp_path: Path
) -> None:
    os.mkfifo(fresh.path("/kvmapp/kvm/pipe"))
    data = make_bundle()
    assert answer(upload(fresh.login(), data, signature(keys[0], data, tmp_path))) == (0, "success")
    assert fresh.path("/kvmapp/kvm/now_fps").read_text() == "30"
    assert not fresh.path("/kvmapp/kvm/pipe").exists()
