"""The image's app and the app's own update path agree.

``tools/dist.py`` writes, beside the archive, ``version`` (what the image installs as
``/kvmapp/version``) and the update bundle ``nanokvm_X.Y.Z.tar.gz``. Here a board is laid out as the
image lays it out under a temp root (the archive in ``usr/lib/kvm``, ``kvmapp/version``, the overlay's
``server.yaml`` on the sim board), started by ``S95nanokvm`` with the board's defaults (no
``KVM_APP``), and updated through the running app's HTTP route with a bundle of the next version,
built by ``tools/dist.py --version`` and signed with a throwaway Ed25519 key the board is told to
trust. After the restart, ``S95nanokvm`` runs the bundle's archive from ``kvmapp/server/``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from Crypto.PublicKey import ECC

from app.services.auth.transport import encrypt
from app.services.update import bundle
from app.services.update.signing import sign_file
from tests.conftest import past_first_login
from tests.packaging.conftest import DIST, Artifact
from tests.packaging.test_overlay_scripts import INIT, Board, alive, sim_config, wait_for

REPO = Path(__file__).resolve().parents[2]


def project_version() -> str:
    return str(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def next_version(version: str) -> str:
    major, minor, patch = version.split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def dist(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DIST), "--output", str(output), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_bundle_is_laid_out_as_the_update_service_takes_it(pyz: Artifact) -> None:
    assert pyz.version == project_version()
    assert pyz.path.with_name("version").read_text() == f"{pyz.version}\n"
    assert "update bundle (sign it before publishing)" in pyz.build_output
    top = f"nanokvm_{pyz.version}"
    members = bundle.check(pyz.bundle, bundle.version_of(pyz.bundle.name))  # what the app checks before unpacking
    assert {(m.name, m.type, m.mode) for m in members} == {
        (top, tarfile.DIRTYPE, 0o755),
        (f"{top}/server", tarfile.DIRTYPE, 0o755),
        (f"{top}/system", tarfile.DIRTYPE, 0o755),
        (f"{top}/system/init.d", tarfile.DIRTYPE, 0o755),
        (f"{top}/version", tarfile.REGTYPE, 0o644),
        (f"{top}/server/nanokvm-py.pyz", tarfile.REGTYPE, 0o755),
        (f"{top}/system/init.d/S95nanokvm", tarfile.REGTYPE, 0o755),
    }
    with tarfile.open(pyz.bundle) as archive:

        def content(name: str) -> bytes:
            file = archive.extractfile(f"{top}/{name}")
            assert file is not None
            return file.read()

        assert content("version") == f"{pyz.version}\n".encode()
        assert content("server/nanokvm-py.pyz") == pyz.path.read_bytes()
        assert content("system/init.d/S95nanokvm") == (INIT / "S95nanokvm").read_bytes()
        assert {m.uname for m in archive.getmembers()} == {"root"}


def test_a_version_no_bundle_can_carry_is_refused(tmp_path: Path) -> None:
    for bad in ("1.2", "1.2.3rc1", "1.2.3.4", "v1.2.3", "123456.0.0"):
        done = dist(tmp_path / "nanokvm-py.pyz", "--version", bad)
        assert done.returncode != 0 and "must be X.Y.Z" in done.stderr, (bad, done.stderr)
        assert list(tmp_path.iterdir()) == []  # refused before anything is written


@pytest.fixture
def board(tmp_path: Path, pyz: Artifact, image_python: Path) -> Iterator[Board]:
    """The image's layout under a temp root: its archive, its /kvmapp/version, the shipped config."""
    root = tmp_path / "root"
    (root / "etc/kvm").mkdir(parents=True)
    past_first_login(root)  # the update routes are closed while the default password is unchanged
    (root / "usr/lib/kvm").mkdir(parents=True)
    (root / "usr/lib/kvm/nanokvm-py.pyz").write_bytes(pyz.path.read_bytes())
    (root / "kvmapp").mkdir()
    (root / "kvmapp/version").write_bytes(pyz.path.with_name("version").read_bytes())  # as kvm-app installs it
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KVM_ROOT": str(root), "KVM_PYTHON": str(image_python)}
    board = Board(["/bin/sh"], root, env)  # no KVM_APP: the script picks the app as on a board
    yield board
    board.shut_down()


def running_app(board: Board) -> str:
    """The command line of the app the supervisor runs now."""
    pid = board.pid("kvm-app.pid")
    assert alive(pid)
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@contextlib.contextmanager
def login(url: str) -> Iterator[httpx.Client]:
    """A client holding the admin's session cookie."""
    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")}).json()
        assert answer["code"] == 0, answer
        yield client


def test_an_update_built_by_dist_is_installed_by_the_app_and_run_by_the_init_script(
    board: Board, pyz: Artifact, tmp_path: Path
) -> None:
    # the release: the next version, built and signed with a key the board trusts
    new = next_version(pyz.version)
    built = dist(tmp_path / "release" / "nanokvm-py.pyz", "--version", new)
    assert built.returncode == 0, built.stdout + built.stderr
    package = tmp_path / "release" / f"nanokvm_{new}.tar.gz"
    key = ECC.generate(curve="ed25519")
    signature = sign_file(key, package)
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "release.pub").write_text(key.public_key().export_key(format="PEM"))

    url = sim_config(board)
    config_path = board.root / "etc/kvm/server.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["update"]["keys"] = str(keys)
    config_path.write_text(yaml.safe_dump(config))

    image_app, updated_app = board.root / "usr/lib/kvm/nanokvm-py.pyz", board.root / "kvmapp/server/nanokvm-py.pyz"
    done = board.run("S95nanokvm", "start")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: httpx.get(f"{url}/", timeout=1).status_code == 200, 60, "the image's app", board)
    assert str(image_app) in running_app(board)
    with login(url) as admin:
        assert admin.get("/api/vm/info").json()["data"]["application"] == pyz.version  # the image says its version
        files = {
            "file": (package.name, package.read_bytes(), "application/gzip"),
            "signature": (f"{package.name}.sig", signature, "application/octet-stream"),
        }
        answer = admin.post("/api/application/update/offline", files=files).json()
        assert answer == {"code": 0, "msg": "success", "data": None}, answer
    assert (board.root / "kvmapp/version").read_text() == f"{new}\n"
    assert updated_app.read_bytes() == (tmp_path / "release" / "nanokvm-py.pyz").read_bytes()
    assert (board.root / "root/old/version").read_text() == f"{pyz.version}\n"  # the image's /kvmapp, kept

    # The app then runs "/etc/init.d/S95nanokvm restart"; the sim board's runner leaves that out, so
    # the test runs it (from outside the app, so synchronously).
    done = board.run("S95nanokvm", "restart")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: httpx.get(f"{url}/", timeout=1).status_code == 200, 60, "the updated app", board)
    command = running_app(board)
    assert str(updated_app) in command and str(image_app) not in command, command
    assert f"starting: {board.env['KVM_PYTHON']} {updated_app}" in board.log()
    with login(url) as admin:
        assert admin.get("/api/vm/info").json()["data"]["application"] == new

    done = board.run("S95nanokvm", "stop")
    assert done.returncode == 0, done.stderr
    assert board.leftovers() == []
    assert "Traceback" not in board.log()


def test_without_an_update_the_image_app_runs_and_a_missing_one_is_a_clear_error(board: Board) -> None:
    (board.root / "kvmapp/server").mkdir()  # an update tree without the archive does not count
    (board.root / "usr/lib/kvm/nanokvm-py.pyz").unlink()
    done = board.run("S95nanokvm", "start")
    assert done.returncode == 1
    assert done.stderr.strip() == f"kvm: {board.root}/usr/lib/kvm/nanokvm-py.pyz is missing"
