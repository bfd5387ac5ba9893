"""The app (``python -m app``) as the end-to-end guest tests run it, and its HTTP API.

``App.start(tmp_path, port, extra_config)`` writes a ``board: nanokvm`` config with the gpio-sim
ATX lines (``kvm-atx:<line name>``, see conftest's ``atx``) plus ``extra_config`` (more top-level
YAML: ``video:``, ``authentication:``...), starts the app from the checkout and waits until it
answers HTTP. ``app.request()`` / ``app.ok()`` / ``app.call()`` talk JSON to it over loopback,
``app.login()`` logs in as admin (changing the default admin/admin first, as the server demands) and
keeps the session cookie for every later call,
``app.kvmd()`` talks to PiKVM's API (kvmd's ``X-KVMD-User``/``X-KVMD-Passwd`` with the tier's admin
password once ``login()`` set it), ``app.stop()`` (or leaving ``with app:``) terminates it and prints its log.

Standard library only (Python runs ~20x slower under TCG; the login sends a fixed wire password
instead of importing pycryptodome).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

SRC = pathlib.Path(os.environ.get("KT_SRC", str(pathlib.Path.cwd())))
# importing litestar/granian under TCG: 10-35 s, ~20x slower than natively; several minutes on a host
# loaded by other work (seen: over 180 s at load average 18 on 2 cores)
STARTUP_TIMEOUT = 360.0
COOKIE = "nano-kvm-token"

# "admin" as the web client sends it (app.services.auth.transport.encrypt with salt b"kt-tier!"):
# a fixed test vector, so the guest does not import pycryptodome (~5 s under TCG).
ADMIN_WIRE_PASSWORD = "U2FsdGVkX19rdC10aWVyITE3SczOdTTsZ9P9Q4e6Osg%3D"
# "kernel-tier-42", encrypted the same way: the password the tier gives a device still on admin/admin
# (the server allows nothing but the change until then).
KT_PASSWORD = "kernel-tier-42"
KT_WIRE_PASSWORD = "U2FsdGVkX19rdC10aWVyIfcMoh%2BQjax7eAvh%2B54JqQE%3D"

CONFIG = """\
board: nanokvm
logger:
  level: warn
port:
  http: {port}
gpio:
  driver: cdev
  powerButton: "kvm-atx:power_btn"
  resetButton: "kvm-atx:reset_btn"
  powerLed: "kvm-atx:power_led"
  hddLed: "kvm-atx:hdd_led"
"""


class AppFailed(AssertionError):
    """The app exited or did not answer in time (the message has its log)."""


class App:
    """A running app on ``127.0.0.1:port``; ``cookie`` is the session after ``login()``."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: pathlib.Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.cookie = ""
        self.token = ""

    @classmethod
    def start(cls, tmp_path: pathlib.Path, port: int, extra_config: str = "") -> App:
        config = tmp_path / "server.yaml"
        config.write_text(CONFIG.format(port=port) + extra_config)
        log_path = tmp_path / "app.log"
        t0 = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "--config", str(config), "--root", "/"],
                cwd=SRC,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        app = cls(proc, port, log_path)
        try:
            while True:
                if proc.poll() is not None:
                    raise AppFailed(f"app exited with {proc.returncode}:\n{app.log()}")
                try:
                    app._send("GET", "/api/vm/info", None, 5)  # any answer (401 too): it serves
                    break
                except (OSError, http.client.HTTPException):
                    if time.monotonic() - t0 > STARTUP_TIMEOUT:
                        raise AppFailed(f"app did not answer within {STARTUP_TIMEOUT} s:\n{app.log()}") from None
                    time.sleep(0.5)
        except BaseException:
            app.stop()
            raise
        print(f"\napp answered after {time.monotonic() - t0:.1f} s")
        return app

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        """Terminate (idempotent); prints the exit status and the end of a non-empty log."""
        if self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        print(f"app exit status {self.proc.returncode}")
        text = self.log()
        if text.strip():
            print(f"--- app log ---\n{text[-4000:]}")

    # --- HTTP -------------------------------------------------------------------------

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None, timeout: float
    ) -> tuple[int, bytes, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Cookie": self.cookie} if self.cookie else {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), resp
        finally:
            conn.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> tuple[int, Any]:
        """(HTTP status, the JSON answer or None when the body is empty), whatever the status."""
        status, payload, _ = self._send(method, path, body, timeout)
        return status, (json.loads(payload) if payload else None)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """The JSON answer of a 200 response (anything else fails the test)."""
        status, payload, _ = self._send(method, path, body, timeout)
        assert status == 200, f"{method} {path}: HTTP {status} {payload[:300]!r}"
        return json.loads(payload)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """``data`` of a 200 answer with ``code: 0`` (anything else fails the test)."""
        doc = self.request(method, path, body, timeout)
        assert doc["code"] == 0, f"{method} {path}: {doc!r}"
        return doc["data"]

    def kvmd(self, method: str, path: str, body: bytes | None = None, timeout: float = 60) -> tuple[int, Any]:
        """PiKVM's API: (HTTP status, the ``{ok, result}`` answer), with kvmd's credential headers and
        ``body`` sent raw (``/api/msd/write``); without ``login()`` first, as no one (auth disabled)."""
        headers = {"X-KVMD-User": "admin", "X-KVMD-Passwd": KT_PASSWORD} if self.cookie else {}
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            status, payload = resp.status, resp.read()
        finally:
            conn.close()
        return status, (json.loads(payload) if payload else None)

    def kvmd_ok(self, method: str, path: str, body: bytes | None = None, timeout: float = 60) -> Any:
        """``result`` of a 200 ``{ok: true}`` kvmd answer (anything else fails the test)."""
        status, doc = self.kvmd(method, path, body, timeout)
        assert status == 200 and doc is not None and doc["ok"] is True, f"{method} {path}: HTTP {status} {doc!r}"
        return doc["result"]

    def login(self) -> str:
        """Log in as admin: later calls send the session cookie; returns the token. A device still on
        admin/admin gets the tier's password first (the server allows nothing else before)."""
        if not self._login(KT_WIRE_PASSWORD):
            assert self._login(ADMIN_WIRE_PASSWORD), "admin/admin refused"
            change = {"currentPassword": ADMIN_WIRE_PASSWORD, "password": KT_WIRE_PASSWORD}
            assert self.request("POST", "/api/auth/password", change)["code"] == 0
            assert self._login(KT_WIRE_PASSWORD), "the new password refused"
        return self.token

    def _login(self, wire_password: str) -> bool:
        """False for a wrong password; the session cookie kept on success."""
        body = {"username": "admin", "password": wire_password}
        status, payload, resp = self._send("POST", "/api/auth/login", body, 30)
        doc = json.loads(payload) if payload else None
        assert status == 200 and doc is not None, f"login: HTTP {status} {payload[:300]!r}"
        if doc["code"] == -2:
            return False
        assert doc["code"] == 0, f"login: {doc!r}"
        cookie = resp.getheader("set-cookie") or ""
        assert cookie.startswith(f"{COOKIE}="), cookie
        self.cookie = cookie.split(";")[0]
        self.token = self.cookie.split("=", 1)[1]
        return True
