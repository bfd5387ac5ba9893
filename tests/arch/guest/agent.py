"""The architecture tier's guest agent: ``python3 agent.py PORT`` (standard library only).

The host's checks (tests/arch/run.py) reach it through a QEMU port forward. One JSON request per
connection, one JSON answer:

* ``{"op": "run", "argv": [...], "timeout": s}`` -> ``{"rc": int, "out": str}``
* ``{"op": "spawn", "argv": [...]}`` -> ``{"id": int}``; ``{"op": "wait", "id": int, "timeout": s}``
  -> ``{"rc": int | None, "out": str}`` (``rc`` None: still running)
* ``{"op": "uptime"}`` -> ``{"uptime": float}`` (the guest's clock, for start-up times)
* ``{"op": "poweroff"}`` -> ``{}``, then the agent exits and the guest's init powers off.

A root shell for whoever reaches the port: the forward listens on the host's 127.0.0.1 only, and the
guest is a throwaway test VM.
"""

from __future__ import annotations

import json
import pathlib
import socketserver
import subprocess
import sys
import threading
from typing import Any

SPAWNED: dict[int, subprocess.Popen[str]] = {}
SERVERS: list[socketserver.TCPServer] = []
LOCK = threading.Lock()


def uptime() -> float:
    return float(pathlib.Path("/proc/uptime").read_text().split()[0])


def handle(req: dict[str, Any]) -> dict[str, Any]:
    op = req.get("op")
    if op == "run":
        try:
            done = subprocess.run(
                req["argv"], capture_output=True, text=True, timeout=float(req.get("timeout", 120)), check=False
            )
        except subprocess.TimeoutExpired as exc:
            return {"rc": None, "out": f"timed out after {exc.timeout} s: {exc.output or ''}"}
        return {"rc": done.returncode, "out": done.stdout + done.stderr}
    if op == "spawn":
        proc = subprocess.Popen(req["argv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with LOCK:
            SPAWNED[proc.pid] = proc
        return {"id": proc.pid}
    if op == "wait":
        with LOCK:
            proc = SPAWNED[int(req["id"])]
        try:
            out, _ = proc.communicate(timeout=float(req.get("timeout", 60)))
        except subprocess.TimeoutExpired:
            return {"rc": None, "out": ""}
        return {"rc": proc.returncode, "out": out}
    if op == "uptime":
        return {"uptime": uptime()}
    if op == "poweroff":
        threading.Thread(target=SERVERS[0].shutdown).start()
        return {}
    return {"error": f"unknown op {op!r}"}


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline()
        try:
            answer = handle(json.loads(line))
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    SERVERS.append(Server(("0.0.0.0", int(sys.argv[1])), Handler))
    print(f"agent: listening on port {sys.argv[1]} at {uptime():.1f} s", flush=True)
    SERVERS[0].serve_forever()
