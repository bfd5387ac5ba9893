"""The deployable artifact: ``tools/dist.py`` builds ``nanokvm-py.pyz``, and it runs the app on the sim board.

The archive is started as a board starts it (``python3 nanokvm-py.pyz --config ...``) by the
conftest's ``image_python``: standard library, the archive, and only the native packages the image
provides. It runs in an empty working directory and must serve the API, the frontend and the HID
layouts from inside the zip. Start-up time (spawn to the first 200) and RSS are measured and
printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
import yaml

from app.services.auth.transport import encrypt
from tests.conftest import free_port, past_first_login
from tests.packaging.conftest import Artifact

PURE = ("litestar", "anyio", "sniffio", "multidict", "multipart", "yaml", "jwt", "periphery", "typing_extensions")
NATIVE = ("msgspec", "uvloop", "granian", "cv2", "numpy", "Crypto")
GERMAN = "Grüße aus Köln: Äpfel, Öl & Übermaß für 10 €! {[]}\\ @ ~|"


def sim_config(directory: Path, port: int) -> Path:
    config = directory / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "host": "127.0.0.1",
                "port": {"http": port},
                "board": "sim",
                "root": "root",  # relative to the config file, as on a laptop
                "logger": {"level": "info"},
                "security": {"loginFailureDelay": 0.01},
            }
        )
    )
    return config


# --- the archive itself -----------------------------------------------------------------------------


def test_the_archive_holds_the_app_its_pure_dependencies_and_the_frontend(pyz: Artifact) -> None:
    with zipfile.ZipFile(pyz.path) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("BUILD-INFO.json"))
    assert pyz.path.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(pyz.path, os.X_OK)
    for name in ("__main__.py", "app/__main__.py", "app/api/__init__.py", "app/web/index.html"):
        assert name in names
    assert {f"app/services/hid/layouts/{n}.json" for n in ("us", "de", "fr", "nordic")} <= names
    assert "app/services/update/keys/README.md" in names
    for module in PURE:
        assert f"{module}/__init__.py" in names or f"{module}.py" in names, module
    # every module compiled beside its source (zipimport's place for it)
    assert "litestar/app.pyc" in names and "app/server.pyc" in names
    # native code comes from the image; pure fallbacks are used where a dependency has a C extension
    assert not [n for n in names if re.search(r"\.(so|pyd)$", n)]
    assert "multidict/_multidict_py.py" in names and "yaml/cyaml.py" in names
    for top in NATIVE:
        assert not any(n.startswith(f"{top}/") for n in names), top
    # pruned: what the running app never imports
    for gone in ("click/", "rich/", "httpx/", "polyfactory/", "idna/", "litestar/cli/", "litestar/testing/"):
        assert not any(n.startswith(gone) for n in names), gone
    assert not [n for n in names if re.search(r"(^|/)(_?tests?|__pycache__)/|\.pyi$", n)]
    assert set(info["bundled"]) >= {"litestar", "anyio", "multidict", "pyyaml", "pyjwt", "python-periphery"}
    assert set(info["fallbacks"]) == {"multidict", "pyyaml"}
    assert {row["module"] for row in info["native"]} == set(NATIVE)
    assert re.search(r"nanokvm-py\.pyz: \d+ KiB \(\d+ bytes\)", pyz.build_output)


def test_the_build_is_reproducible(tmp_path: Path) -> None:
    """Same inputs, same bytes (sorted entries, fixed dates); sources only, so it is quick."""
    outputs = [tmp_path / "a.pyz", tmp_path / "b.pyz"]
    for output in outputs:
        subprocess.run(
            [sys.executable, "tools/dist.py", "--no-pyc", "--output", str(output)],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            timeout=120,
            check=True,
        )
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


def test_native_deps_lists_what_the_image_must_provide() -> None:
    done = subprocess.run(
        [sys.executable, "tools/dist.py", "--native-deps"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = {line.split()[1]: line.split() for line in done.stdout.splitlines() if line and line[0] != "#"}
    assert set(rows) == {"-", *NATIVE}  # "-" is python3 itself
    assert rows["-"][:3] == ["python3", "-", "3.11"]
    assert rows["msgspec"][2] == "0.22" and rows["granian"][3] == ">=2.8,<3"
    assert "zlib" in done.stdout  # the archive is deflated


PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])  # where `python3 nanokvm-py.pyz` puts the archive
from pathlib import Path
from app.config import load_config
from app.server import create_app
config = Path(sys.argv[2])
create_app(load_config(config), config.parent / "root", config_path=config)
# what a board imports later: GPIO lines by character device, V4L2 capture, the sim screen, the terminal
import app.board.gpio_cdev, app.board.video.v4l2, app.board.video.file, app.sim.screen, app.api.terminal
import multidict, yaml
print(json.dumps({
    "files": {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())},
    "libyaml": yaml.__with_libyaml__,
    "multidict": multidict.MultiDict.__module__,
}))
"""


@pytest.mark.parametrize("python", ["image", "venv"])
def test_pure_dependencies_are_imported_from_the_archive(
    python: str, pyz: Artifact, image_python: Path, image_site: Path, tmp_path: Path
) -> None:
    """With the image's Python nothing else is importable; with the venv's (which has every dependency
    installed, as an image with more packages would) the archive still comes first."""
    interpreter = [str(image_python)] if python == "image" else [sys.executable, "-P"]
    config = sim_config(tmp_path, free_port())
    done = subprocess.run(
        [*interpreter, "-c", PROBE, str(pyz.path), str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    files: dict[str, str | None] = probe["files"]
    inside = f"{pyz.path}{os.sep}"
    for module in ("app", "app.server", "app.api.frontend", *PURE):
        assert (files[module] or "").startswith(inside), (module, files[module])
    assert probe["libyaml"] is False
    assert probe["multidict"] == "multidict._multidict_py"
    if python == "image":
        stdlib = str(Path(os.__file__).parent)
        elsewhere = {
            name: path
            for name, path in files.items()
            if path and not path.startswith((inside, str(image_site), stdlib)) and path != "<frozen>"
        }
        assert elsewhere == {}
        for module in NATIVE:
            assert (files.get(module) or str(image_site)).startswith(str(image_site)), module


# --- the artifact running on the sim board -----------------------------------------------------------


@dataclass
class Served:
    url: str
    directory: Path
    config: Path
    process: subprocess.Popen[bytes]
    log: Path
    startup: float  # seconds from spawn to the first 200
    startup_cpu: float  # CPU seconds the process used until then (what a loaded machine does not inflate)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def served(pyz: Artifact, image_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("board")
    port = free_port()
    config = sim_config(directory, port)
    past_first_login(directory / "root")  # these tests use the API, which the default password does not open
    log = directory / "app.log"
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(image_python), str(pyz.path), "--config", str(config)],
            cwd=directory,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            assert process.poll() is None, f"exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() - started < 60, f"no answer in 60 s:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.02)
        startup = time.monotonic() - started
        ticks = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]  # utime, stime
        cpu = sum(map(int, ticks)) / os.sysconf("SC_CLK_TCK")
        yield Served(url, directory, config, process, log, startup, cpu)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_api_smoke(served: Served, figures: list[str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert client.get("/api/vm/info").status_code == 401
        login = client.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")}).json()
        assert login["code"] == 0 and login["data"]["token"]
        info = client.get("/api/vm/info").json()
        assert info["code"] == 0
        assert re.fullmatch(r"[0-9a-f]{32}", info["data"]["deviceKey"])  # the sim board made its device
        assert client.get("/api/vm/hardware").json()["code"] == 0
        schema = client.get("/api/schema/openapi.json")
        assert schema.status_code == 200 and "/api/vm/info" in schema.json()["paths"]
        assert client.post("/api/vm/gpio", json={"type": "bogus"}).json()["code"] < 0  # bad input: envelope
    figures.append(
        f"artifact start-up on the sim board: {served.startup:.2f} s from spawn to the first 200"
        f" ({served.startup_cpu:.2f} s of CPU; load average {os.getloadavg()[0]:.1f})"
    )


def test_mcp_without_the_sdk_is_a_clear_refusal(served: Served) -> None:
    """The archive has no MCP SDK (its pydantic-core, rpds-py and cryptography are compiled and not in
    the image): /api/mcp says so with 503, and the rest of the app runs on."""
    with httpx.Client(base_url=served.url, timeout=30) as admin:
        admin.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})
        key = admin.post("/api/mcp/config", json={"enabled": True}).json()["data"]["apiKey"]
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
        for _ in range(2):  # and again: nothing is left half-started
            answer = admin.post("/api/mcp", json=body, headers=headers)
            assert (answer.status_code, answer.json()) == (
                503,
                {"error": "MCP server unavailable: the Python package mcp is not installed on this firmware"},
            )
        assert admin.get("/api/vm/info").json()["code"] == 0
        assert admin.put("/api/ai/control/mode", json={"mode": "off"}).json()["code"] == 0


def test_the_frontend_is_served_from_the_archive(served: Served, pyz: Artifact) -> None:
    with zipfile.ZipFile(pyz.path) as archive:
        index_in_zip = archive.read("app/web/index.html")
        page = httpx.get(f"{served.url}/", timeout=10)
        assert page.status_code == 200 and page.content == index_in_zip
        # Last-Modified is the archive's own mtime: the bytes came out of the zip, not from a directory
        assert page.headers["last-modified"] == formatdate(pyz.path.stat().st_mtime, usegmt=True)
        asset = re.search(r'src="/(assets/[^"]+\.js)"', page.text)
        assert asset, page.text
        script = httpx.get(f"{served.url}/{asset.group(1)}", timeout=10)
        assert script.status_code == 200 and script.content == archive.read(f"app/web/{asset.group(1)}")
        assert "javascript" in script.headers["content-type"]
        assert httpx.head(f"{served.url}/{asset.group(1)}", timeout=10).status_code == 200
    for outside in ("/assets/../../server.pyc", "/%2e%2e/app/config.py", "/nothing-here.js"):
        answer = httpx.get(f"{served.url}{outside}", timeout=10)
        assert answer.status_code == 404, outside
        assert b"import" not in answer.content


def test_paste_uses_a_layout_from_the_archive(served: Served, figures: list[str]) -> None:
    with httpx.Client(base_url=served.url, timeout=60) as admin:
        admin.post("/api/auth/login", json={"username": "admin", "password": encrypt("admin")})
        assert admin.post("/api/vm/gpio", json={"type": "power", "duration": 50}).json()["code"] == 0
        deadline = time.monotonic() + 10
        while admin.get("/api/sim/host").json()["data"]["power"] == "off":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)  # the host opened its USB side
        assert admin.post("/api/sim/host/layout", json={"layout": "de"}).json()["code"] == 0
        answer = admin.post("/api/hid/paste", json={"content": GERMAN, "langue": "de"}).json()
        assert answer == {"code": 0, "msg": "success", "data": None}
        assert admin.get("/api/sim/host").json()["data"]["text"] == GERMAN
    figures.append(f"artifact RSS on the sim board after the smoke tests: {served.rss_kib() / 1024:.1f} MiB")


def test_stops_cleanly(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=20) == 0
    log = served.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log


def test_the_gadget_command(served: Served, pyz: Artifact, image_python: Path) -> None:
    """``python3 nanokvm-py.pyz gadget stop|start`` on the sim board's root (left by the app above)."""
    udc = served.directory / "root" / "sys/kernel/config/usb_gadget/g0/UDC"
    assert udc.read_text().strip()  # the sim board built and bound it at start
    for verb, bound in (("stop", False), ("start", True), ("restart", True)):
        done = subprocess.run(
            [str(image_python), str(pyz.path), "gadget", verb, "--config", str(served.config)],
            cwd=served.directory,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (udc.exists() and bool(udc.read_text().strip())) == bound, verb


def test_a_bad_config_is_one_line_and_status_2(pyz: Artifact, image_python: Path, tmp_path: Path) -> None:
    (tmp_path / "server.yaml").write_text("port:\n  http: 0\n")
    done = subprocess.run(
        [str(image_python), str(pyz.path), "--config", "server.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("config error: server.yaml") and done.stderr.count("\n") == 1, done.stderr
