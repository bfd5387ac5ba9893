"""What the benchmarks share: starting the app and a login, CPU pinning, /proc readers, py-spy, tables.

* ``start_app(name, tmp, cpu)``: the real app (``python -m app``, the repo's server.yaml with
  ``board: sim``, loopback, quiet log, a temp device root ``tmp/root``) pinned to ``cpu``, logged in
  as admin/admin: ``(server, token)``. ``start_server`` starts any server the same way.
* ``pinned_cpus()`` / ``pin(cpu)``: keep the server and the load generator on cores of their own.
* ``cpu_seconds`` / ``cpu_times`` / ``pss_mb``: what a process (tree) costs, from /proc.
* ``find_py_spy()``, ``sample(...)``: py-spy over a load, ``print_stacks`` its top frames.
* ``percentile``, ``verdict``, ``busy_note``: the tables' figures and notes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

COOKIE = "nano-kvm-token"
STREAM = "/api/stream/mjpeg"
SERVER_CPU = 0
LOAD_CPU = 1

T = TypeVar("T")


class BenchError(Exception):
    """The measurement itself failed (not a slow figure)."""


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned_cpus() -> tuple[int, int] | None:
    """(server CPU, load CPU) when this machine lets us keep them apart; None on one core."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return cpus[SERVER_CPU], cpus[LOAD_CPU]


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu`` (None: no pinning)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_pinned(argv: list[str], timeout: float, cpu: int | None, what: str) -> subprocess.CompletedProcess[str]:
    """Run to the end on ``cpu``, output captured; a BenchError when it does not stop in ``timeout`` s."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, preexec_fn=pin(cpu))
    except subprocess.TimeoutExpired as err:
        raise BenchError(f"{what} did not stop: {err}") from None


def spawn_pinned(
    script: str, argv: list[str], cpu: int | None, prefix: str, stdin: int | None = None
) -> tuple[subprocess.Popen[str], Path]:
    """``python script *argv`` on ``cpu`` with stdout piped (text); its stderr goes to the returned file."""
    err = Path(tempfile.mkstemp(prefix=prefix, suffix=".log")[1])
    process = subprocess.Popen(
        [sys.executable, script, *argv],
        cwd=REPO,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=err.open("w"),
        text=True,
        preexec_fn=pin(cpu),
    )
    return process, err


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, argv: list[str], port: int, log: Path, cpu: int | None) -> Server:
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=pin(cpu),
    )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{name} exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            request(server.url, "GET", "/api/vm/hardware")  # any answer: listening, lifespan done
            return server
        time.sleep(0.05)
    server.stop()
    raise BenchError(f"{name} did not start within 30 s:\n{log.read_text()}")


@contextlib.contextmanager
def servers() -> Iterator[list[Server]]:
    """A list to append started servers to; all are stopped when the block ends."""
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.stop()


def app_config(tmp: Path, **extra: Any) -> Path:
    """The repo's server.yaml with the sim board, loopback and a quiet log (and ``extra`` sections)."""
    config: dict[str, Any] = yaml.safe_load((REPO / "server.yaml").read_text())
    config.update(host="127.0.0.1", board="sim", logger={"level": "warn", "file": "stdout"}, **extra)
    path = tmp / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def past_first_login(root: Path) -> None:
    """An account file whose admin went through the first login keeping ``admin`` (as the tests'):
    the server allows nothing else to an account still on the default password."""
    from app.services.auth.accounts import AccountStore

    store = root / "etc/kvm/pwd"
    if store.exists():
        return
    AccountStore(store).refresh()
    doc = json.loads(store.read_text())
    for user in doc["users"]:
        user["mustChangePassword"] = False
    store.write_text(json.dumps(doc))
    store.chmod(0o600)


def start_app(name: str, tmp: Path, cpu: int | None, **config: Any) -> tuple[Server, str]:
    """Our app (``app_config(tmp, **config)``, device root ``tmp/root``, log ``tmp/app.log``) on ``cpu``,
    logged in as admin/admin: (the server, the session token)."""
    port = free_port()
    past_first_login(tmp / "root")
    argv = [sys.executable, "-m", "app", "--config", str(app_config(tmp, **config)), "--port", str(port)]
    argv += ["--root", str(tmp / "root")]
    server = start_server(name, argv, port, tmp / "app.log", cpu)
    try:
        return server, login(server.url)
    except BaseException:
        server.stop()
        raise


# --- /proc -----------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


def pss_mb(pid: int) -> float:
    """PSS of the process tree, in MB (MiB)."""
    total_kb = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
    return total_kb / 1024


TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) in clock ticks: every thread of the process, living or exited."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]), int(fields[12])  # fields 14 and 15


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process, every thread living or exited; in clock ticks (10 ms)."""
    user, system = _ticks(pid)
    return user / TICK, system / TICK


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process tree (every thread, living or exited)."""
    total = 0
    for current in process_tree(pid):
        with contextlib.suppress(OSError):
            total += sum(_ticks(current))
    return total / TICK


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def api(url: str, token: str, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
    """``data`` of a JSON call with the session cookie; a BenchError unless 200 with ``code: 0``."""
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Cookie": f"{COOKIE}={token}", "Content-Type": "application/json"}
    answer = request(url, method, path, payload, headers, timeout)
    try:
        doc = json.loads(answer.body)
    except ValueError:
        raise BenchError(f"{method} {path}: {answer.status} {answer.body[:200]!r}") from None
    if answer.status != 200 or doc.get("code") != 0:
        raise BenchError(f"{method} {path}: {answer.status} {answer.body[:200]!r}")
    return doc.get("data")


def login(url: str) -> str:
    from app.services.auth.transport import encrypt

    payload = json.dumps({"username": "admin", "password": encrypt("admin")}).encode()
    answer = request(url, "POST", "/api/auth/login", payload, {"Content-Type": "application/json"})
    for name, value in answer.headers:
        if name.lower() == "set-cookie" and value.startswith(f"{COOKIE}="):
            token = value.split(";", 1)[0].split("=", 1)[1]
            if token:
                return token
    raise BenchError(f"login as admin/admin gave no {COOKIE} cookie: {answer.status} {answer.body[:200]!r}")


def stream_request(host: str, port: int | str, cookie: str) -> bytes:
    """``GET STREAM`` with the session cookie, as a viewer writes it to its socket."""
    return f"GET {STREAM} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {COOKIE}={cookie}\r\n\r\n".encode()


class StreamViewer(asyncio.BufferedProtocol):
    """A viewer of the stream over a raw socket: sends ``wire`` on connect; ``error`` says why it stopped.
    Subclasses provide ``get_buffer`` and ``buffer_updated``."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire
        self.error = ""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.wire)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.error:
            self.error = f"connection lost ({exc})" if exc else "connection closed"


# --- the ceilings ----------------------------------------------------------------------------


def serve_asgi(app: Any, port: int) -> None:
    """Serve the ASGI ``app`` as app/__main__.py serves ours: granian's embedded Server, ASGI, uvloop, one
    process. The lifespan scope is answered here: ``app`` sees the other scopes only."""

    async def with_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            kind = message["type"].removeprefix("lifespan.")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return

    async def serve() -> None:
        from granian.constants import Interfaces
        from granian.log import LogLevels
        from granian.server.embed import Server as Granian

        server = Granian(
            with_lifespan, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_level=LogLevels.warning
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            loop.add_signal_handler(sig, server.stop)
        await server.serve()

    import uvloop

    uvloop.run(serve())


# --- profile ---------------------------------------------------------------------------------


def _frame(raw: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``, merging the lines of one function."""
    match = re.fullmatch(r"(.*) \((.*?):\d+\)", raw)
    if not match:
        return raw or "<native/idle>"
    func, path = match[1], match[2]
    short = path.split("site-packages/")[-1] if "site-packages/" in path else path.removeprefix(f"{REPO}/")
    return f"{func} ({short.rsplit('/', 1)[-1] if short.startswith('/') else short})"


@dataclass
class Stacks:
    """py-spy's raw samples by frame: ``own`` (self time), ``inclusive``, ``threads`` (stack roots)."""

    total: int = 0
    own: collections.Counter[str] = field(default_factory=collections.Counter)
    inclusive: collections.Counter[str] = field(default_factory=collections.Counter)
    threads: collections.Counter[str] = field(default_factory=collections.Counter)


def find_py_spy() -> str | None:
    """py-spy's path, or None (said so: the profile is skipped)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("\nprofile: py-spy is not installed (.venv/bin/pip install py-spy); skipped")
        return None
    return spy


def stacks_file(prefix: str) -> Path:
    """Where py-spy writes its raw stacks: ``profile.txt`` in a new temp dir (kept, for flame graphs)."""
    return Path(tempfile.mkdtemp(prefix=prefix)) / "profile.txt"


def sample(
    spy: str,
    pid: int,
    seconds: int,
    rate: int,
    raw: Path,
    cpu: int | None,
    wait: float,
    run: Callable[[], T],
    flags: Sequence[str] = (),
) -> tuple[T, Stacks] | None:
    """``run()`` while py-spy (``--nonblocking --gil`` and ``flags``) samples ``pid`` for ``seconds`` at ``rate``/s
    into ``raw`` and is given ``wait`` s to finish: (what ``run`` returned, the samples); None, said why,
    when py-spy got nothing."""
    argv = [spy, "record", "-p", str(pid), "-d", str(seconds), "-r", str(rate)]
    # --gil: only the thread holding the GIL, i.e. where the one Python core's time goes.
    argv += ["--nonblocking", "--gil", *flags, "-f", "raw", "-o", str(raw)]
    spying = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=pin(cpu))
    try:
        time.sleep(0.5)
        result = run()
    finally:
        try:
            spying.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            spying.kill()
            spying.wait()
    if not raw.exists():
        print(f"\nprofile: py-spy wrote nothing: {spying.stdout.read().decode() if spying.stdout else ''}")
        return None
    stacks = Stacks()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")]
        stacks.total += int(count)
        stacks.own[frames[-1]] += int(count)
        stacks.threads[frames[0]] += int(count)
        for frame in set(frames):
            stacks.inclusive[frame] += int(count)
    if not stacks.total:
        print("\nprofile: no samples")
        return None
    return result, stacks


def print_stacks(
    total: int, sections: Iterable[tuple[str, collections.Counter[str], int]], extra: Callable[[int], str] | None = None
) -> None:
    """Per section (title, counter, how many), its top frames as shares of ``total`` (and ``extra(samples)``)."""
    for title, counter, limit in sections:
        print(f"  -- {title}")
        for frame, samples in counter.most_common(limit):
            middle = f" {extra(samples)}" if extra else ""
            print(f"  {100 * samples / total:5.1f}%{middle}  {frame}")


# --- main ----------------------------------------------------------------------------------


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser whose help is the bench's docstring, as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def keep_log(log: Path) -> None:
    """Print the app's log when BENCH_KEEP_LOG is set."""
    if os.environ.get("BENCH_KEEP_LOG"):
        print(log.read_text())


def run_bench(
    bench: Callable[[Any], None], args: Any, errors: tuple[type[Exception], ...] = (BenchError,), named: bool = False
) -> int:
    """``bench(args)``, then its total time; 1 with the reason (``named``: with the error's type) on ``errors``."""
    started = time.monotonic()
    try:
        bench(args)
    except errors as err:
        print(f"measurement failed: {f'{type(err).__name__}: ' if named else ''}{err}", file=sys.stderr)
        return 1
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    return 0


# --- tables ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The value ``p`` (0..1) of the way up the sorted values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def busy_note(figures: str = "figures") -> None:
    """A note when the machine was busy while it measured."""
    load1, load5, _ = os.getloadavg()
    if load1 > 1.5:
        print(f"note: the machine was busy (load average {load1:.1f}, {load5:.1f}): {figures} are noisy")
