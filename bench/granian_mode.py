"""Granian embedded (how ``app/__main__.py`` serves) against granian's supported process mode, one worker.

``.venv/bin/python bench/granian_mode.py [--starts 3] [--seconds 12] [--viewers 10]``

granian's embedded Server (one process; granian logs "Embedded server is experimental!") against its
multi-process server with ``workers=1`` (a supervisor process and one forked worker, the mode granian
supports), both serving the same app the same way (ASGI, uvloop, the repo's server.yaml with the sim
board and a looped 1080p MJPEG file as the video source, loopback). Per mode:

* start-up: spawn to the first answer on /api/vm/hardware, ``--starts`` times with a fresh device root;
* memory: RSS and PSS of the whole process tree, after start and after the load below;
* API: an authenticated ``GET /api/vm/info`` under wrk ``-t1 -c50`` (api_info.py's machinery),
  requests/s and p99, in rounds alternating between the modes;
* stream: ``--viewers`` viewers of the MJPEG stream (video.py's viewer process), frames/s per viewer
  and server CPU per delivered frame (the process tree's ticks).

Each server is pinned to CPU 0 (its worker inherits it), wrk and the viewers to CPU 1. Prints a table;
exits 0 whatever the figures are, 1 only if the measurement itself failed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout, for bench._common
from bench import api_info, video
from bench._common import (
    BenchError,
    Server,
    api,
    app_config,
    argument_parser,
    cpu_seconds,
    free_port,
    login,
    pinned_cpus,
    process_tree,
    pss_mb,
    run_bench,
    start_server,
)

MODES = ("embedded", "process")
FPS = 60


def rss_mb(pid: int) -> float:
    """RSS of the process tree, in MB (MiB): what `ps` and top add up (shared pages counted per process)."""
    total_kb = 0
    for current in process_tree(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def serve_process(config_path: Path, port: int, root: Path) -> None:
    """granian's multi-process server, one worker: the supervisor forks the worker, which builds the app."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server as Granian

    from app.config import load_config

    config = load_config(config_path)

    def loader(_target: object) -> object:
        from app.server import create_app

        return create_app(config, root, config_path=config_path)

    server = Granian(
        "app.server:create_app",
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        log_level=LogLevels.warning,
    )
    server.serve(target_loader=loader)


def start(mode: str, tmp: Path, video_file: Path, cpu: int | None, n: int) -> tuple[Server, float]:
    """The app in ``mode`` with a fresh device root; (server, seconds from spawn to the first answer)."""
    config = app_config(tmp, video={"source": "file", "file": str(video_file)})
    root = tmp / f"root-{mode}-{n}"
    port = free_port()
    if mode == "embedded":
        argv = [sys.executable, "-m", "app", "--config", str(config), "--port", str(port), "--root", str(root)]
    else:
        argv = [sys.executable, __file__, "--serve-process", str(port), "--config", str(config), "--root", str(root)]
    began = time.monotonic()
    server = start_server(mode, argv, port, tmp / f"{mode}-{n}.log", cpu)
    return server, time.monotonic() - began


@dataclass
class Figures:
    mode: str
    starts: list[float] = field(default_factory=list)
    rss_start: float = 0.0
    pss_start: float = 0.0
    rss_load: float = 0.0
    pss_load: float = 0.0
    rps: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    frames: int = 0
    stream_cpu_s: float = 0.0


def stream_round(server: Server, cookie: str, into: Figures, viewers: int, seconds: float, cpu: int | None) -> None:
    argv = ["--client", server.url, "--cookie", cookie, "--count", str(viewers), "--seconds", str(seconds)]
    argv += ["--warm", "0.5"]
    process, err = video.spawn_pinned(video.__file__, argv, cpu, "bench-granian-mode-")
    assert process.stdout is not None
    marks: dict[str, float] = {}
    for line in process.stdout:
        if line.strip() in ("START", "STOP"):
            marks[line.strip()] = cpu_seconds(server.process.pid)
        if "STOP" in marks:
            break
    result = video._finish(process, err, f"{into.mode}, {viewers} viewers")
    if len(marks) != 2 or result["errors"]:
        raise BenchError(f"{into.mode}: the viewers failed: {result['errors'][:1]}")
    frames = [v["frames"] for v in result["viewers"]]
    into.fps += [f / result["seconds"] for f in frames]
    into.frames += sum(frames)
    into.stream_cpu_s += marks["STOP"] - marks["START"]


def bench(args: argparse.Namespace) -> None:
    cpus = pinned_cpus() or (None, None)
    wrk = api_info.find_wrk()
    if wrk is None:
        raise BenchError("wrk is missing (apt-get install wrk)")
    video_file = video.test_file(Path(tempfile.gettempdir()) / "bench-video-cache")
    figures = {mode: Figures(mode) for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="bench-granian-mode-") as tmp_name:
        tmp = Path(tmp_name)
        for n in range(args.starts):
            for mode in MODES:
                server, seconds = start(mode, tmp, video_file, cpus[0], n)
                server.stop()
                figures[mode].starts.append(seconds)
        running: dict[str, tuple[Server, str]] = {}
        try:
            for mode in MODES:
                server, _ = start(mode, tmp, video_file, cpus[0], args.starts)
                running[mode] = (server, login(server.url))
                api(server.url, running[mode][1], "POST", "/api/vm/screen", {"type": "fps", "value": FPS})
            time.sleep(2)
            for mode, (server, _) in running.items():
                figures[mode].rss_start = rss_mb(server.process.pid)
                figures[mode].pss_start = pss_mb(server.process.pid)
            for _ in range(args.rounds):
                for mode, (server, token) in running.items():
                    load = api_info.run_wrk(wrk, server.url, token, args.seconds / args.rounds, 50, cpus[1])
                    figures[mode].rps.append(load.rps)
                    figures[mode].p99.append(load.p99_ms)
                for mode, (server, token) in running.items():
                    stream_round(server, token, figures[mode], args.viewers, args.seconds / args.rounds, cpus[1])
            for mode, (server, _) in running.items():
                figures[mode].rss_load = rss_mb(server.process.pid)
                figures[mode].pss_load = pss_mb(server.process.pid)
        finally:
            for server, _ in running.values():
                server.stop()
    print_table(list(figures.values()), args)


def print_table(rows: list[Figures], args: argparse.Namespace) -> None:
    print(
        f"\ngranian embedded vs process mode (workers=1): {args.starts} starts each; API wrk -t1 -c50 and"
        f" {args.viewers} viewers of 1080p{FPS} MJPEG, {args.seconds:g} s each in {args.rounds} alternating rounds"
    )
    print(
        f"{'mode':<10} {'start s':>8} {'RSS MB':>13} {'PSS MB':>13} {'API req/s':>10} {'p99 ms':>7}"
        f" {'fps/viewer':>10} {'CPU us/frame':>12}"
    )
    for r in rows:
        print(
            f"{r.mode:<10} {statistics.median(r.starts):>8.2f} {r.rss_start:>6.0f}/{r.rss_load:<6.0f}"
            f" {r.pss_start:>6.0f}/{r.pss_load:<6.0f} {statistics.mean(r.rps):>10.0f}"
            f" {statistics.median(r.p99):>7.1f} {statistics.median(r.fps):>10.1f}"
            f" {r.stream_cpu_s / max(1, r.frames) * 1e6:>12.0f}"
        )
    print("(memory: after start / after the load; start: median seconds from spawn to the first answer)")


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--starts", type=int, default=3, help="start-up measurements per mode (3)")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured seconds of API and of stream (12)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds the seconds are split in (3)")
    parser.add_argument("--viewers", type=int, default=10, help="stream viewers (10)")
    parser.add_argument("--serve-process", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_process:
        serve_process(args.config, args.serve_process, args.root)
        return 0
    return run_bench(bench, args)


if __name__ == "__main__":
    sys.exit(main())
