"""Image upload throughput against a plain copy on the same disk, and the server's RSS (``task bench``).

``.venv/bin/python bench/upload.py [--size-mib N] [--rounds N] [--drop-caches] [--profile]``

1. Starts the real app (``python -m app``, the repo's server.yaml with ``board: sim``, loopback, a temp
   device root ``<tmp>/root``) and the ceiling (below), both pinned to CPU 0, and logs in as admin/admin.
2. Writes the source image ``<tmp>/source.iso`` once: a valid ISO 9660 head (the primary volume
   descriptor, as app/services/media/iso.py checks it) and random padding up to ``--size-mib`` (1024 MiB),
   on the same file system as the device root's /data; its SHA-256 is computed once, untimed.
3. ``--rounds`` (3) rounds, each of five timed runs:
   * copy: a child process pinned to the server's CPU copies the source into /data the way the server
     writes an upload: read/write in 1 MiB blocks to a temp file, fsync, rename, fsync the directory.
   * upload: a client process pinned to CPU 1 sends ``POST /api/download/file`` over a real socket, the
     multipart body (a boundary shaped like Chrome's) streamed from disk (the part's bytes with
     sendfile, never held in memory), and reads the answer. Timed from connect to the last byte of the
     answer (the server's fsync and rename are in).
   * ceiling: the same upload to a bare ASGI app on granian, served as ours (embedded, uvloop, pinned
     like the app), that writes the raw body to a file with the same fsync and rename and checks
     nothing: what the server stack allows without the app.
   * copy + SHA-256 and upload + X-SHA256-Sum: the same, hashing in the same pass (the server checks
     the sum). The issue's reference is the plain copy; the hashed copy is the like-for-like one.
   While an upload runs this process samples the server's ``VmRSS`` (/proc/<pid>/status) every 20 ms.
   After each run the file is checked (size; SHA-256 of the upload without the header) and deleted,
   and ``sync`` runs, so every run starts with no dirty pages. Page caches are NOT dropped by default
   (the source is read from the page cache by every run alike; dropping them disturbs everything else
   on a shared machine); ``--drop-caches`` (root) drops them before every run instead, so each side
   reads the source from disk. One upload to each server before the rounds warms it up, not counted.
4. Prints MB/s (10^6 bytes/s) per run, the medians and the best rounds (the least disturbed by the rest
   of the machine), the ratios to the copy (goal >= 0.7, on the medians) and the upload's to the ceiling
   (issue 19's goal >= 0.9, on the medians), the CPU seconds (the copy's; the server's during an
   upload) and the same in µs per MiB of the image, and the RSS (start, max, end, growth over the
   start; goal: growth <= 16 MiB, i.e. flat: bounded by a few write batches, not by the file).
   ``--profile`` then samples the app with py-spy during one more upload (needs
   ``.venv/bin/pip install py-spy``).

A busy machine favours the upload: under contention the app's several threads (receive, write) get
more CPU time than the copy's one, and the client reads the source on the other CPU. Compare the CPU
seconds too, and run it on an idle machine.

Exits 0 whatever the figures are; 1 only if the measurement itself failed (the app did not start, an
upload was refused or the stored file differs from the source).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the checkout, for bench._common
from app.services.media import iso
from bench._common import (
    COOKIE,
    BenchError,
    Server,
    argument_parser,
    busy_note,
    cpu_seconds,
    find_py_spy,
    free_port,
    keep_log,
    pinned_cpus,
    print_stacks,
    run_bench,
    sample,
    serve_asgi,
    servers,
    spawn_pinned,
    stacks_file,
    start_app,
    start_server,
    verdict,
)

BLOCK = 1 << 20
# Shaped like Chrome's (22 + 16 characters): how long the boundary is decides how fast it is searched for.
BOUNDARY = "----WebKitFormBoundaryx7KpQ2mZ9vLs4TbN"
NAME = "bench.iso"
COPY, COPY_HASHED, UPLOAD, UPLOAD_SUM = "copy", "copy + SHA-256", "upload", "upload + X-SHA256-Sum"
CEILING = "ceiling (bare granian)"
CEILING_NAME = "ceiling.bin"
RSS_INTERVAL = 0.02  # s between RSS samples
# Goals
RATIO_GOAL = 0.7
CEILING_GOAL = 0.9  # issue 19: the app's upload against the bare server stack's, in the same run
RSS_GROWTH_GOAL_MIB = 16.0


# --- the source image ------------------------------------------------------------------------


def make_source(path: Path, size: int) -> str:
    """A valid ISO 9660 head and random padding to ``size`` bytes, written in 1 MiB blocks; its SHA-256."""
    digest = hashlib.sha256()
    head = iso.make_iso("BENCH_UPLOAD", iso.DESCRIPTOR + iso.SECTOR)
    with path.open("wb") as f:
        f.write(head)
        digest.update(head)
        left = size - len(head)
        while left > 0:
            block = os.urandom(min(BLOCK, left))  # random: nothing on the way can compress or skip it
            f.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as f:
        while block := f.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def settle(drop_caches: bool) -> None:
    """Before each timed run: no dirty pages left by the last one (and, when asked, no page cache)."""
    os.sync()
    if drop_caches:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


# --- the plain copy (a child process, pinned like the server) --------------------------------


def copy_main(source: Path, target: Path, hashed: bool) -> None:
    """What the server does with an upload's bytes, minus HTTP: 1 MiB blocks to a temp file in the target's
    directory (``hashed``: SHA-256 of each block in the same pass), fsync, rename, fsync the directory.
    Prints the seconds and the CPU seconds it took."""
    started, cpu0 = time.perf_counter(), os.times()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    digest = hashlib.sha256() if hashed else None
    fd, temp = tempfile.mkstemp(prefix=".bench-copy-", dir=target.parent)
    try:
        with source.open("rb", buffering=0) as src, os.fdopen(fd, "wb", buffering=0) as dst:
            while n := src.readinto(buf):
                if digest is not None:
                    digest.update(view[:n])
                dst.write(view[:n])
            os.fsync(dst.fileno())
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    seconds = time.perf_counter() - started
    cpu1 = os.times()
    cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system
    print(json.dumps({"seconds": seconds, "cpu": cpu}), flush=True)


# --- the upload client (a child process) -----------------------------------------------------


def upload_main(url: str, token: str, source: Path, sha256: str | None) -> None:
    """One ``POST /api/download/file``, the part's bytes sent from the file with sendfile; prints the
    seconds from connect to the end of the answer, the status and the answer's body."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{NAME}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    size = source.stat().st_size
    headers = [
        "POST /api/download/file HTTP/1.1",
        f"Host: {host}:{port}",
        f"Cookie: {COOKIE}={token}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {len(head) + size + len(tail)}",
    ]
    if sha256:
        headers.append(f"X-SHA256-Sum: {sha256}")
    started = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=120) as sock, source.open("rb") as f:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode() + head)
        sent = sock.sendfile(f)
        sock.sendall(tail)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "sent": sent, "framing": len(head) + len(tail), "status": response.status}
    print(json.dumps({**result, "body": body.decode()}), flush=True)


# --- the ceiling: granian without the app ----------------------------------------------------


def serve_ceiling(port: int, directory: Path) -> None:
    """A bare ASGI app served as ours is (``serve_asgi``): a POST's body goes as it comes to a temp file
    in ``directory`` (no parsing, no checks, written from the event loop), fsync, rename, fsync the
    directory; every request is answered ``{"code":0}``. What the server stack allows without the app."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["method"] == "POST":
            fd, temp = tempfile.mkstemp(prefix=".bench-ceiling-", dir=directory)
            try:
                more = True
                while more:
                    message = await receive()
                    view = memoryview(message.get("body", b""))
                    while view:
                        view = view[os.write(fd, view) :]
                    more = message.get("more_body", False)
                os.fsync(fd)
            finally:
                os.close(fd)
            Path(temp).replace(directory / CEILING_NAME)
            fsync_dir(directory)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"code":0}'})

    serve_asgi(app, port)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- RSS -------------------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


class RssSampler:
    """Samples a process's VmRSS every RSS_INTERVAL seconds in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            with contextlib.suppress(OSError):
                self.samples.append(rss_mib(self.pid))

    def __enter__(self) -> RssSampler:
        self.samples.append(rss_mib(self.pid))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(rss_mib(self.pid))


# --- runs ------------------------------------------------------------------------------------


@dataclass
class Run:
    kind: str
    seconds: float
    size: int
    rss: list[float] = field(default_factory=list)
    server_cpu_s: float = 0.0

    @property
    def mb_s(self) -> float:
        return self.size / self.seconds / 1e6

    @property
    def rss_growth(self) -> float:
        return max(self.rss) - self.rss[0] if self.rss else 0.0


def child_json(process: subprocess.Popen[str], err: Path, what: str, timeout: float) -> dict[str, object]:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise BenchError(f"{what} did not finish in {timeout:.0f} s") from None
    finally:
        message = err.read_text() if err.exists() else ""
        err.unlink(missing_ok=True)
    if process.returncode != 0 or not out.strip():
        raise BenchError(f"{what} failed ({process.returncode}): {message}{out}")
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def run_copy(source: Path, data: Path, hashed: bool, cpu: int | None, timeout: float) -> Run:
    target = data / "copy.iso"
    argv = ["--copy", str(source), str(target), *(["--hash"] if hashed else [])]
    process, err = spawn_pinned(__file__, argv, cpu, "bench-upload-copy-")
    result = child_json(process, err, "the copy", timeout)
    size = target.stat().st_size
    target.unlink()
    if size != source.stat().st_size:
        raise BenchError(f"the copy has {size} bytes, the source {source.stat().st_size}")
    kind = COPY_HASHED if hashed else COPY
    return Run(kind, float(str(result["seconds"])), size, server_cpu_s=float(str(result["cpu"])))


def run_upload(
    server: Server, token: str, source: Path, sha256: str, kind: str, cpu: int | None, timeout: float
) -> Run:
    """One upload of ``kind`` (UPLOAD, UPLOAD_SUM, or CEILING to the bare server), checked and deleted."""
    argv = ["--upload", server.url, "--token", token, "--source", str(source)]
    if kind == UPLOAD_SUM:
        argv += ["--sha256", sha256]
    pid = server.process.pid
    cpu_before = cpu_seconds(pid)
    with RssSampler(pid) as rss:
        process, err = spawn_pinned(__file__, argv, cpu, "bench-upload-client-")
        result = child_json(process, err, "the upload client", timeout)
    server_cpu = cpu_seconds(pid) - cpu_before
    answer = json.loads(str(result["body"])) if result["status"] == 200 else {}
    if answer.get("code") != 0:
        raise BenchError(f"{kind}: HTTP {result['status']} {str(result['body'])[:200]}")
    data = server.log.parent / "root" / "data"
    if kind == CEILING:  # the whole body, multipart framing and all
        stored, expected = data / CEILING_NAME, int(str(result["sent"])) + int(str(result["framing"]))
    else:
        stored, expected = data / NAME, source.stat().st_size
    size = stored.stat().st_size
    if size != expected or (kind == UPLOAD and sha256_of(stored) != sha256):
        raise BenchError(f"{kind}: the stored file differs from the source ({size} bytes)")
    stored.unlink()
    return Run(kind, float(str(result["seconds"])), source.stat().st_size, rss.samples, server_cpu)


# --- profile ---------------------------------------------------------------------------------


def profile(server: Server, token: str, source: Path, sha256: str, cpu: int | None, timeout: float) -> None:
    spy = find_py_spy()
    if spy is None:
        return
    rate = 250
    raw = stacks_file("bench-upload-profile-")
    seconds = 6

    def load() -> Run:
        return run_upload(server, token, source, sha256, UPLOAD, cpu, timeout)

    # Every thread (-t, idle ones too): the event loop and the write worker both matter here.
    sampled = sample(spy, server.process.pid, seconds, rate, raw, cpu, timeout, load, ["-t"])
    if sampled is None:
        return
    figures, stacks = sampled
    print(
        f"\nProfile of the app during one upload ({figures.mb_s:.0f} MB/s this run). py-spy --gil -t at {rate}/s"
        f" for {seconds} s: {stacks.total} samples of the GIL holder"
    )
    sections = (("thread", stacks.threads, 6), ("self time", stacks.own, 15), ("inclusive", stacks.inclusive, 25))
    print_stacks(stacks.total, sections)
    print(f"  raw stacks: {raw}")


# --- main ------------------------------------------------------------------------------------


def print_table(runs: list[Run], size: int, rounds: int, drop_caches: bool, placement: str) -> None:
    caches = "dropped before every run" if drop_caches else "not dropped (the source is in the page cache for all)"
    print(
        f"\nUpload of a {size / (1 << 20):.0f} MiB ISO image vs a plain copy on the same disk, {rounds} rounds;"
        f" page caches {caches}; {placement}"
    )
    kinds = [COPY, UPLOAD, CEILING, COPY_HASHED, UPLOAD_SUM]
    print(
        f"{'run':<24}{'median MB/s':>12}{'/ copy':>8}{'best':>7}{'/ copy':>8}{'CPU s':>7}{'CPU us/MiB':>11}"
        "  MB/s per round"
    )
    medians = {k: statistics.median(r.mb_s for r in runs if r.kind == k) for k in kinds}
    bests = {k: max(r.mb_s for r in runs if r.kind == k) for k in kinds}
    cpus = {k: statistics.median(r.server_cpu_s for r in runs if r.kind == k) for k in kinds}
    per_mib = {k: cpus[k] / (size / (1 << 20)) * 1e6 for k in kinds}
    for kind in kinds:
        rounds_text = " ".join(f"{r.mb_s:.0f}" for r in runs if r.kind == kind)
        print(
            f"{kind:<24}{medians[kind]:>12.0f}{medians[kind] / medians[COPY]:>8.2f}{bests[kind]:>7.0f}"
            f"{bests[kind] / bests[COPY]:>8.2f}{cpus[kind]:>7.2f}{per_mib[kind]:>11.0f}  {rounds_text}"
        )
    print(
        "(CPU s: the copy process's, or the server's during the upload (median); the client's is not counted;"
        " CPU us/MiB: the same per MiB of the image. Best: the fastest round of each, the least disturbed by the"
        " rest of the machine. The ceiling: a bare ASGI app on granian served as ours, writing the raw body"
        " with the same fsync and rename, checking nothing)"
    )
    uploads = [r for r in runs if r.kind in (UPLOAD, UPLOAD_SUM)]
    print(f"\nServer RSS during the uploads (VmRSS every {RSS_INTERVAL * 1000:.0f} ms), MiB")
    print(f"{'run':<24}{'start':>8}{'max':>8}{'end':>8}{'growth':>8}{'samples':>9}")
    for run in uploads:
        print(
            f"{run.kind:<24}{run.rss[0]:>8.1f}{max(run.rss):>8.1f}{run.rss[-1]:>8.1f}{run.rss_growth:>8.1f}"
            f"{len(run.rss):>9}"
        )
    growth = max(r.rss_growth for r in uploads)
    print(f"\n{'goal':<52}{'figure':>14}  verdict")
    ratio = medians[UPLOAD] / medians[CEILING]
    print(
        f"{f'{UPLOAD} / ceiling >= {CEILING_GOAL}':<52}{ratio:>14.2f}  {verdict(ratio >= CEILING_GOAL)}"
        f"  (server CPU per MiB: upload {per_mib[UPLOAD]:.0f} us, ceiling {per_mib[CEILING]:.0f} us,"
        f" {per_mib[UPLOAD] / per_mib[CEILING]:.2f}x)"
    )
    for kind, reference in ((UPLOAD, COPY), (UPLOAD_SUM, COPY), (UPLOAD_SUM, COPY_HASHED)):
        ratio = medians[kind] / medians[reference]
        print(f"{f'{kind} / {reference} >= {RATIO_GOAL}':<52}{ratio:>14.2f}  {verdict(ratio >= RATIO_GOAL)}")
    name = f"RSS growth during an upload <= {RSS_GROWTH_GOAL_MIB:.0f} MiB (max)"
    print(f"{name:<52}{growth:>10.1f} MiB  {verdict(growth <= RSS_GROWTH_GOAL_MIB)}")
    busy_note()


def bench(args: argparse.Namespace) -> None:
    if args.drop_caches and os.geteuid() != 0:
        raise BenchError("--drop-caches needs root")
    cpus = pinned_cpus()
    server_cpu, client_cpu = cpus if cpus else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})  # this process: the RSS sampler
    size = args.size_mib << 20
    timeout = 60 + size / 20e6  # at 20 MB/s something is broken
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        with servers() as started:
            app, token = start_app("app", tmp, server_cpu)
            started.append(app)
            data = tmp / "root" / "data"
            data.mkdir(parents=True, exist_ok=True)
            port = free_port()
            argv = [sys.executable, __file__, "--serve-ceiling", str(port), "--dir", str(data)]
            ceiling = start_server("ceiling", argv, port, tmp / "ceiling.log", server_cpu)
            started.append(ceiling)
            placement = (
                f"servers and copy pinned to CPU {server_cpu}, upload client to CPU {client_cpu}"
                if cpus
                else "one CPU: servers, copy and client share it"
            )
            print(f"app {app.url}, device root {tmp / 'root'}; {placement}", flush=True)
            source = tmp / "source.iso"
            sha256 = make_source(source, size)
            settle(args.drop_caches)
            for server, kind in ((app, UPLOAD), (ceiling, CEILING)):  # warm-ups, not counted
                run_upload(server, token, source, sha256, kind, client_cpu, timeout)
            runs: list[Run] = []
            for _ in range(max(1, args.rounds)):
                for kind in (COPY, UPLOAD, CEILING, COPY_HASHED, UPLOAD_SUM):
                    settle(args.drop_caches)
                    if kind in (COPY, COPY_HASHED):
                        runs.append(run_copy(source, data, kind == COPY_HASHED, server_cpu, timeout))
                    else:
                        server = ceiling if kind == CEILING else app
                        runs.append(run_upload(server, token, source, sha256, kind, client_cpu, timeout))
                print(".", end="", flush=True)
            print()
            print_table(runs, size, max(1, args.rounds), args.drop_caches, placement)
            if args.profile:
                settle(args.drop_caches)
                profile(app, token, source, sha256, client_cpu, timeout)
            keep_log(tmp / "app.log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="the image's size in MiB (1024)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of copy, upload, upload + checksum (3)")
    parser.add_argument("--drop-caches", action="store_true", help="drop the page caches before every run (root)")
    parser.add_argument("--profile", action="store_true", help="then sample the app with py-spy during an upload")
    # Internal: the copy and the upload client run as their own pinned processes.
    parser.add_argument("--copy", nargs=2, type=Path, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    parser.add_argument("--hash", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--upload", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling, args.dir)
        return 0
    if args.copy:
        source, target = args.copy
        copy_main(source, target, args.hash)
        return 0
    if args.upload:
        upload_main(args.upload, args.token, args.source, args.sha256)
        return 0
    return run_bench(bench, args, (BenchError, OSError), named=True)


if __name__ == "__main__":
    sys.exit(main())
