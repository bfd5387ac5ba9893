"""Authenticated ``GET /api/vm/info`` against a bare granian ceiling, side by side (``task bench``).

``.venv/bin/python bench/api_info.py [--kvmd] [--path P] [--duration S] [--warmup S] [--connections N] [--profile]``

``--kvmd``: the same measurement for PiKVM's API instead, ``GET /api/info`` with kvmd's per-request
credentials (``X-KVMD-User``/``X-KVMD-Passwd``, as its client libraries send them with every request).
``--path``: another GET route of the same API (``/api/vm/gpio``; ``--kvmd --path /api/auth/check``).

1. Starts the real app (``python -m app``, the repo's server.yaml with ``board: sim``, loopback, a temp
   device root), logs in as admin/admin and takes the ``nano-kvm-token`` cookie.
2. Captures the exact status, headers and body our app answers for /api/vm/info, then starts the
   ceiling: a bare ASGI app answering every request with those bytes, served by granian the way
   ``app/__main__.py`` serves ours (embedded Server, ASGI interface, uvloop, one process).
3. Loads them with wrk (``-t1 -c50``, loopback only): a 2 s warm-up each, then 10 s each in 5 rounds
   that alternate between the two servers, so background work on a shared machine hits both alike.
   The machine has 2 cores: each server is pinned to CPU 0 and wrk (one thread) to CPU 1, so the load
   generator never competes with the server it measures. Without wrk a Python load generator stands
   in, and the table says so (on 2 cores it is the bottleneck, not the server).
4. Prints requests/s, p50, p99, the ratio ours/ceiling (goal >= 0.3), each server's CPU time per
   request (from /proc/<pid>/stat; the steadier figure when the machine is busy or wrk, not the
   server, is the limit) and the servers' memory as PSS (process tree, /proc/<pid>/smaps_rollup)
   after start and after the load (goal <= 60 MB).
5. ``--profile``: afterwards loads our app once more while py-spy samples it, and prints where the time
   goes (needs ``.venv/bin/pip install py-spy``).

Exits 0 whatever the figures are; 1 only if the measurement itself failed (a server did not start,
the load saw errors or non-200 answers, wrk missing output).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout, for bench._common
from bench._common import (
    COOKIE,
    Answer,
    BenchError,
    Server,
    argument_parser,
    busy_note,
    cpu_seconds,
    find_py_spy,
    free_port,
    keep_log,
    percentile,
    pinned_cpus,
    print_stacks,
    pss_mb,
    request,
    run_bench,
    run_pinned,
    sample,
    serve_asgi,
    servers,
    start_app,
    start_server,
    verdict,
)

PATH = "/api/vm/info"
KVMD_PATH = "/api/info"
# Headers granian adds itself: the ceiling must not send them twice.
GRANIAN_HEADERS = {"server", "date"}
RATIO_GOAL = 0.3
PSS_GOAL_MB = 60.0
SATURATED = 0.9  # a server whose core is busier than this is the bottleneck, not the load generator


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the load asks for: a path, with the credentials as headers."""

    path: str
    headers: tuple[tuple[str, str], ...]
    credentials: str  # what they are, for the table

    def succeeded(self, body: bytes) -> bool:
        doc = json.loads(body)
        return doc.get("ok") is True if "ok" in doc else doc.get("code") == 0


def target(kvmd: bool, path: str | None, token: str) -> Target:
    if kvmd:
        pair = (("X-KVMD-User", "admin"), ("X-KVMD-Passwd", "admin"))
        return Target(path or KVMD_PATH, pair, "kvmd's X-KVMD-User/Passwd")
    return Target(path or PATH, (("Cookie", f"{COOKIE}={token}"),), "the session cookie")


def capture(url: str, goal: Target) -> Answer:
    answer = request(url, "GET", goal.path, headers=dict(goal.headers))
    if answer.status != 200 or not goal.succeeded(answer.body):
        raise BenchError(f"GET {goal.path} with {goal.credentials}: {answer.status} {answer.body[:200]!r}")
    return answer


def comparable(answer: Answer) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k.lower(), v) for k, v in answer.headers if k.lower() != "date")
    return answer.status, headers, answer.body


# --- the ceiling -----------------------------------------------------------------------------


def serve_ceiling(port: int, response_file: Path) -> None:
    """A bare ASGI app answering every request with the captured bytes, served as app/__main__.py serves."""
    spec = json.loads(response_file.read_text())
    status: int = spec["status"]
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in spec["headers"]]
    body = base64.b64decode(spec["body"])

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    serve_asgi(app, port)


# --- load ------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    server_cpu_s: float = 0.0  # the server's CPU time during the run (measured rounds only)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise BenchError(f"cannot read wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> Load:
    def find(pattern: str) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise BenchError(f"wrk output lacks {pattern!r}:\n{output}")
        return match[1]

    if errors := re.search(r"^\s*Socket errors: (.*)$", output, re.MULTILINE):
        raise BenchError(f"wrk saw socket errors ({errors[1]}):\n{output}")
    if bad := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise BenchError(f"wrk saw {bad[1]} non-2xx answers (session rejected?):\n{output}")
    requests = int(find(r"^\s*(\d+) requests in"))
    if requests == 0:
        raise BenchError(f"wrk completed no request:\n{output}")
    rps = float(find(r"^Requests/sec:\s*([\d.]+)"))
    return Load(rps, _ms(find(r"^\s*50%\s+(\S+)")), _ms(find(r"^\s*99%\s+(\S+)")), requests)


def find_wrk() -> str | None:
    wrk = shutil.which("wrk")
    if wrk or os.geteuid() != 0 or not shutil.which("apt-get"):
        return wrk
    print("wrk is missing: apt-get install -y wrk (Debian's package) ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    for argv in (install, ["apt-get", "update", "-q"], install):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180, check=True)
        if wrk := shutil.which("wrk"):
            return wrk
    return None


def run_wrk(wrk: str, url: str, goal: Target, seconds: float, connections: int, cpu: int | None) -> Load:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "--latency"]
    for name, value in goal.headers:
        argv += ["-H", f"{name}: {value}"]
    argv.append(url + goal.path)
    done = run_pinned(argv, seconds + 20, cpu, "wrk")
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


async def _python_load(url: str, goal: Target, seconds: float, connections: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    lines = "".join(f"{name}: {value}\r\n" for name, value in goal.headers)
    wire = f"GET {goal.path} HTTP/1.1\r\nHost: {host}:{port}\r\n{lines}\r\n".encode()
    latencies: list[float] = []
    bad = 0
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                writer.write(wire)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head)[1])  # type: ignore[index]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                bad += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.monotonic() - started
    return {"elapsed": elapsed, "latencies": latencies, "bad": bad}


def run_python_load(url: str, goal: Target, seconds: float, connections: int, cpu: int | None) -> Load:
    argv = [sys.executable, __file__, "--python-load", url, "--target", json.dumps([goal.path, goal.headers])]
    argv += ["--duration", str(seconds)]
    argv += ["--connections", str(connections)]
    done = run_pinned(argv, seconds + 30, cpu, "the Python load generator")
    if done.returncode != 0:
        raise BenchError(f"the Python load generator failed: {done.stderr}")
    result = json.loads(done.stdout)
    latencies: list[float] = sorted(result["latencies"])
    if result["bad"] or not latencies:
        raise BenchError(f"the Python load generator saw {result['bad']} non-200 answers of {len(latencies)}")
    p50, p99 = percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000
    return Load(len(latencies) / result["elapsed"], p50, p99, len(latencies))


# --- profile ---------------------------------------------------------------------------------


def profile(
    server: Server, load: Callable[[float | None], Load], seconds: float, cpu: int | None, out: Path, keep: bool
) -> None:
    spy = find_py_spy()
    if spy is None:
        return
    raw = out / "profile.txt"
    sampled = sample(
        spy, server.process.pid, max(1, round(seconds)), 250, raw, cpu, seconds + 20, lambda: load(seconds)
    )
    if sampled is None:
        return
    figures, stacks = sampled
    print(
        f"\nProfile of our app under the same load ({figures.rps:.0f} req/s while sampled; py-spy,"
        f" {stacks.total} samples)"
    )
    if keep:
        print(f"raw stacks: {raw} (flamegraph.pl or speedscope.app read them)")
    print_stacks(stacks.total, (("self time", stacks.own, 15), ("inclusive time", stacks.inclusive, 30)))


# --- main ------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    rounds: list[Load]
    pss_start: float
    pss_after: float

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.rounds)

    @property
    def seconds(self) -> float:
        return sum(r.requests / r.rps for r in self.rounds)

    @property
    def rps(self) -> float:
        """All requests over all measured time."""
        return self.requests / self.seconds

    @property
    def cpu_us(self) -> float:
        """Server CPU time per request, in microseconds (all threads)."""
        return sum(r.server_cpu_s for r in self.rounds) / self.requests * 1e6

    @property
    def cpu_load(self) -> float:
        """Server CPU time over wall time: 1.0 = one core busy throughout."""
        return sum(r.server_cpu_s for r in self.rounds) / self.seconds


def measure(servers: list[tuple[Server, Callable[[float | None], Load]]], warmup: float, rounds: int) -> list[Row]:
    """Warm each server up, then measure them in alternating rounds.

    Other work on the machine (CI, a browser) comes and goes; alternating short rounds exposes both
    servers to the same background, so the ratio stays meaningful when the absolute figures do not.
    """
    pss = [pss_mb(server.process.pid) for server, _ in servers]
    if warmup > 0:
        for _, run in servers:
            run(warmup)
    loads: list[list[Load]] = [[] for _ in servers]
    for _ in range(rounds):
        for figures, (server, run) in zip(loads, servers, strict=True):
            before = cpu_seconds(server.process.pid)
            figures.append(run(None))
            figures[-1].server_cpu_s = cpu_seconds(server.process.pid) - before
    return [
        Row(server.name, figures, start, pss_mb(server.process.pid))
        for (server, _), figures, start in zip(servers, loads, pss, strict=True)
    ]


def print_table(rows: list[Row], generator: str, goal: Target) -> None:
    print(f"\nGET {goal.path} (ours authenticated by {goal.credentials}) - {generator}")
    print(
        f"{'server':<24}{'req/s':>8}{'rounds min-max':>16}{'p50 ms':>8}{'p99 ms':>8}{'requests':>10}"
        f"{'CPU/req':>10}{'CPU':>6}{'PSS start':>11}{'PSS after':>11}"
    )
    for row in rows:
        rates = [r.rps for r in row.rounds]
        p50 = statistics.median(r.p50_ms for r in row.rounds)
        p99 = statistics.median(r.p99_ms for r in row.rounds)
        print(
            f"{row.name:<24}{row.rps:>8.0f}{f'{min(rates):.0f}-{max(rates):.0f}':>16}{p50:>8.2f}{p99:>8.2f}"
            f"{row.requests:>10}{row.cpu_us:>8.0f}us{row.cpu_load:>5.0%} {row.pss_start:>8.1f}MB{row.pss_after:>9.1f}MB"
        )
    print(
        "(req/s: all requests / all measured time; p50, p99: the median of the rounds' figures;"
        " CPU/req: the server's CPU time per request, all threads; CPU: of one core)"
    )
    ours, ceiling = rows
    ratio = ours.rps / ceiling.rps
    per_round = [o.rps / c.rps for o, c in zip(ours.rounds, ceiling.rounds, strict=True)]
    print(
        f"ratio ours/ceiling: {ratio:.3f} (goal >= {RATIO_GOAL}: {verdict(ratio >= RATIO_GOAL)}); "
        f"per round {', '.join(f'{r:.2f}' for r in per_round)}"
    )
    print(
        f"CPU cost ratio ceiling/ours: {ceiling.cpu_us / ours.cpu_us:.3f} "
        "(steadier than req/s on a busy machine; equals the req/s ratio when both servers saturate a core)"
    )
    if ceiling.cpu_load < SATURATED:
        print(
            f"note: the ceiling kept its core only {ceiling.cpu_load:.0%} busy: the load generator, not granian,"
            " limited it, so its req/s is a lower bound and the req/s ratio flatters us; trust the CPU cost ratio"
        )
    pss = max(ours.pss_start, ours.pss_after)
    print(f"our app's PSS: {pss:.1f} MB at most (goal <= {PSS_GOAL_MB:.0f} MB: {verdict(pss <= PSS_GOAL_MB)})")
    busy_note("absolute figures")


def bench(args: argparse.Namespace) -> None:
    cpus = pinned_cpus()
    server_cpu, load_cpu = cpus if cpus else (None, None)
    rounds = max(1, min(args.rounds, int(args.duration)))
    wrk = find_wrk()
    if wrk:
        generator = (
            f"wrk -t1 -c{args.connections}; per server {args.warmup:g} s warm-up, then {args.duration:g} s"
            f" in {rounds} rounds alternating with the other server"
        )
    else:
        generator = (
            f"PYTHON LOAD GENERATOR (wrk missing: apt-get install wrk), -c{args.connections}, {args.duration:g} s;"
            " on 2 cores it is the bottleneck, so both figures understate the servers"
        )
        print(f"warning: {generator}", file=sys.stderr)
    if cpus:
        generator += f"; servers pinned to CPU {server_cpu}, load generator to CPU {load_cpu}"
    else:
        generator += "; one CPU: server and load generator share it"

    def runner(url: str, goal: Target) -> Callable[[float | None], Load]:
        def run(seconds: float | None) -> Load:
            """One load run: ``seconds`` long, or the measured duration when None."""
            seconds = args.duration / rounds if seconds is None else seconds
            if wrk:
                return run_wrk(wrk, url, goal, seconds, args.connections, load_cpu)
            return run_python_load(url, goal, seconds, args.connections, load_cpu)

        return run

    with tempfile.TemporaryDirectory(prefix="bench-api-info-") as tmp_name, servers() as started:
        tmp = Path(tmp_name)
        out = Path(args.out) if args.out else tmp
        ours, token = start_app("ours (litestar, auth)", tmp, server_cpu)
        started.append(ours)
        goal = target(args.kvmd, args.path, token)
        answer = capture(ours.url, goal)
        headers = [(k, v) for k, v in answer.headers if k.lower() not in GRANIAN_HEADERS]
        spec = {"status": answer.status, "headers": headers, "body": base64.b64encode(answer.body).decode()}
        (tmp / "response.json").write_text(json.dumps(spec))

        port = free_port()
        ceiling = start_server(
            "ceiling (bare ASGI)",
            [sys.executable, __file__, "--serve-ceiling", str(port), "--response", str(tmp / "response.json")],
            port,
            tmp / "ceiling.log",
            server_cpu,
        )
        started.append(ceiling)
        if comparable(capture(ceiling.url, goal)) != comparable(answer):
            raise BenchError(f"the ceiling does not answer what ours does: {capture(ceiling.url, goal)} vs {answer}")
        print(f"response under test: {answer.status}, {len(answer.body)} body bytes, headers {headers}")

        rows = measure([(ours, runner(ours.url, goal)), (ceiling, runner(ceiling.url, goal))], args.warmup, rounds)
        ceiling.stop()
        print_table(rows, generator, goal)

        if args.profile:
            out.mkdir(parents=True, exist_ok=True)
            profile(ours, runner(ours.url, goal), args.profile_seconds, load_cpu, out, keep=bool(args.out))
        keep_log(tmp / "app.log")


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--kvmd", action="store_true", help=f"PiKVM's GET {KVMD_PATH} with X-KVMD-* headers")
    parser.add_argument("--path", help=f"another GET route (default {PATH}, or {KVMD_PATH} with --kvmd)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per server (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per server (2)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent connections (50)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds the duration is split in (5)")
    parser.add_argument("--profile", action="store_true", help="then sample our app with py-spy under the load")
    parser.add_argument("--profile-seconds", type=float, default=8.0, help="how long to sample (8)")
    parser.add_argument("--out", help="directory for the profile's raw stacks (default: a temp dir)")
    # Internal: the ceiling server and the fallback load generator run as their own pinned processes.
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--response", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--python-load", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling, args.response)
        return 0
    if args.python_load:
        import uvloop

        path, headers = json.loads(args.target)
        goal = Target(path, tuple((name, value) for name, value in headers), "")
        result = uvloop.run(_python_load(args.python_load, goal, args.duration, args.connections))
        print(json.dumps(result))
        return 0
    return run_bench(bench, args)


if __name__ == "__main__":
    sys.exit(main())
