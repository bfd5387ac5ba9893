"""The README's two commands, run as a newcomer runs them (issue #21).

The commands are read from README "Start" itself. A fresh ``git clone`` of the committed HEAD, owned by
a non-root user this test creates, runs them as that user with the machine's distribution Python
(``/usr/bin/python3``: Debian's, externally managed, PEP 668) first on a minimal ``PATH``
(``/usr/bin:/bin``) and an empty home:

* the run command must serve the app's page on http://127.0.0.1:8000 and take the first login
  admin/admin; its output must say where to go and must not carry granian's embedded-mode warning;
* the test command, with ``TESTS`` (README "Start") selecting a short subset, must get as far as
  running those tests and pass them.

Everything installs from scratch into the clone (its own .venv, node_modules, frontend build). To keep
the cost down, pip and npm keep a download cache for that user in ``/var/cache/kvm-frontdoor`` across
runs (the npm one seeded from root's on first use); ``FRONTDOOR_CACHE=cold`` gives it empty caches
instead, to measure a first install. It prints the time from ``git clone`` to the login page.

Needs root (useradd, chown); without root it skips, and under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.services.auth.transport import encrypt

REPO = Path(__file__).resolve().parent.parent.parent
README = REPO / "README.md"
USER = "kvm-newcomer"
CACHE = Path("/var/cache/kvm-frontdoor")
SYSTEM_PYTHON = Path("/usr/bin/python3")
PORT = 8000  # what README "Start" promises
SUBSET = "tests/unit/test_config.py"  # the short subset the test command runs (TESTS, README "Start")
START_DEADLINE_S = 900.0  # a cold install on a loaded 2-core machine
TEST_DEADLINE_S = 600.0
# The machine's network set-up (proxies, CA bundles, package indexes) a user's shell would have too.
PASS_THROUGH = re.compile(
    r"(?i)^((https?|no|all)_proxy|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE|NODE_EXTRA_CA_CERTS"
    r"|PIP_(CERT|INDEX_URL|EXTRA_INDEX_URL|FIND_LINKS|DEFAULT_TIMEOUT|TRUSTED_HOST)|npm_config_(registry|cafile))$"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def readme_commands() -> dict[str, str]:
    """The shell lines of README "Start"'s first ``sh`` block, comments dropped, keyed by their last word."""
    text = README.read_text()
    start = text.split("\n## Start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", start, re.DOTALL)
    assert block, "README 'Start' has no sh block"
    lines = [line.split(" #", 1)[0].strip() for line in block[1].splitlines()]
    commands = {line.split()[-1]: line for line in lines if line}
    assert set(commands) == {"run", "test"}, f"README 'Start' should hold a run and a test command: {lines}"
    return commands


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert readme_commands()["test"] in lines, f".ci/run does not run the README's test command:\n{ci}"


# --- the newcomer --------------------------------------------------------------------------------


def cannot_run(reason: str) -> None:
    if in_ci():
        pytest.fail(f"README commands as a normal user cannot run (CI=true): {reason}")
    pytest.skip(f"README commands as a normal user: {reason}")


def preflight() -> None:
    if os.geteuid() != 0:
        cannot_run("needs root to create the user and hand it a clone (useradd, chown)")
    for tool in ("useradd", "git"):
        if shutil.which(tool) is None:
            cannot_run(f"no {tool}")
    if not SYSTEM_PYTHON.exists():
        cannot_run(f"no {SYSTEM_PYTHON} (the distribution's Python)")
    # The machine's prep, as a user follows the launcher's one-line hint: Debian's venv module.
    if subprocess.run([SYSTEM_PYTHON, "-c", "import ensurepip, venv"], capture_output=True).returncode != 0:
        apt = ["apt-get", "install", "-y", "-qq", "python3-venv"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(apt, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            subprocess.run(apt, env=env, capture_output=True, check=True)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            cannot_run(f"something already listens on 127.0.0.1:{PORT}, where the run command serves")


def newcomer() -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(USER)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(USER)


def chown_tree(path: Path, user: pwd.struct_passwd) -> None:
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(path)], check=True)


@contextlib.contextmanager
def caches(user: pwd.struct_passwd, work: Path) -> Iterator[dict[str, str]]:
    """pip's and npm's cache directories for the user: kept across runs, or empty (FRONTDOOR_CACHE=cold)."""
    base = work / "cold-cache" if os.environ.get("FRONTDOOR_CACHE") == "cold" else CACHE
    npm = base / "npm"
    if not npm.exists() and base == CACHE and (Path.home() / ".npm" / "_cacache").is_dir():
        npm.mkdir(parents=True)
        shutil.copytree(Path.home() / ".npm" / "_cacache", npm / "_cacache")  # root's downloads, once
    (base / "pip").mkdir(parents=True, exist_ok=True)
    npm.mkdir(parents=True, exist_ok=True)
    chown_tree(base, user)
    yield {"PIP_CACHE_DIR": str(base / "pip"), "npm_config_cache": str(npm)}


def user_env(home: Path, cache_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "USER": USER, "LOGNAME": USER}
    env.update({k: v for k, v in os.environ.items() if PASS_THROUGH.match(k)})
    return {**env, **cache_env, **extra}


def as_user(
    user: pwd.struct_passwd, command: str, cwd: Path, env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the whole tree is stopped at the end
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything of its group still left


def get(path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


STEP = re.compile(r"^(nanokvm-py: \w+|task: \[[^\]]+\])", re.MULTILINE)


def wait_for_page(
    process: subprocess.Popen[bytes], log: Path, deadline_s: float, started: float
) -> tuple[bytes, dict[str, float]]:
    """The page once served, and when (seconds since ``started``) each launcher/task step first showed."""
    steps: dict[str, float] = {}
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for step in STEP.findall(log.read_text(errors="replace")):
            steps.setdefault(step, time.monotonic() - started)
        if process.poll() is not None:
            pytest.fail(f"the run command ended ({process.returncode}) before serving:\n{tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, kind, body = get("/")
            if status == 200 and kind.startswith("text/html"):
                return body, steps
        time.sleep(0.5)
    pytest.fail(f"no page on 127.0.0.1:{PORT} within {deadline_s:.0f} s:\n{tail(log)}")


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def check_login_page(page: bytes) -> None:
    html = page.decode(errors="replace")
    assert '<div id="root">' in html, html[:500]
    scripts = re.findall(r'<script[^>]+src="(/assets/[^"]+\.js)"', html)
    assert scripts, f"the page loads no built script: {html[:500]}"
    status, kind, body = get(scripts[0])
    assert status == 200 and "javascript" in kind and len(body) > 10_000, (status, kind, len(body))
    payload = json.dumps({"username": "admin", "password": encrypt("admin")}).encode()
    status, _, body = get("/api/auth/login", "POST", payload)
    assert status == 200 and json.loads(body)["code"] == 0, f"first login admin/admin: {status} {body[:300]!r}"


def test_readme_commands_as_a_normal_user(capsys: pytest.CaptureFixture[str]) -> None:
    commands = readme_commands()
    preflight()
    user = newcomer()
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    work = Path(tempfile.mkdtemp(prefix="kvm-frontdoor-"))
    try:
        home, clone = work / "home", work / "nanokvm-py"
        home.mkdir()
        chown_tree(work, user)
        with caches(user, work) as cache_env:
            started = time.monotonic()
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", head.stdout.strip()], check=True)
            chown_tree(clone, user)

            run_log = work / "run.log"
            server = as_user(user, commands["run"], clone, user_env(home, cache_env), run_log)
            try:
                page, steps = wait_for_page(server, run_log, START_DEADLINE_S, started)
                to_page = time.monotonic() - started
                check_login_page(page)
            finally:
                stop(server)
            output = run_log.read_text(errors="replace")
            assert f"http://127.0.0.1:{PORT}" in output and "admin / admin" in output, tail(run_log)
            assert "Embedded server is experimental" not in output, tail(run_log)

            test_log = work / "test.log"
            test_started = time.monotonic()
            runner = as_user(user, commands["test"], clone, user_env(home, cache_env, TESTS=SUBSET), test_log)
            try:
                runner.wait(TEST_DEADLINE_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the test command did not end within {TEST_DEADLINE_S:.0f} s:\n{tail(test_log)}")
            finally:
                stop(runner)
            assert runner.returncode == 0, tail(test_log)
            assert re.search(r"^\d+ passed", test_log.read_text(), re.MULTILINE), tail(test_log)
            test_s = time.monotonic() - test_started
            with capsys.disabled():
                print(
                    f"\nREADME commands as {USER} ({os.environ.get('FRONTDOOR_CACHE', 'warm')} caches): "
                    f"git clone -> login page {to_page:.0f} s; then the test command {test_s:.0f} s\n"
                    "  steps began at: " + ", ".join(f"{name} {at:.0f} s" for name, at in steps.items())
                )
    finally:
        remove_later(work)


def remove_later(path: Path) -> None:
    """Delete the clone (two venvs, node_modules: tens of thousands of files) without the suite waiting."""
    subprocess.Popen(
        ["rm", "-rf", "--one-file-system", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
