"""vncrecordingserver's ``/recording`` on the real app: the seed's curl examples, files checked with
ffprobe and decoded with PyAV (the sim PC's painted frame counter advances), a kill -9 that still
leaves a playable file, quotas, escapes refused, our list/download/delete."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from app.services.auth.transport import encrypt
from tests.api.h264 import power_on, screen
from tests.conftest import RunningApp, free_port, start_app
from tests.kasm.curl import curl

CREDS = "admin:admin"
# The seed's full example body, byte for byte (tabs and spaces as printed); its host and port are this
# KVM's own VNC screen.
SEED_BODY = (Path(__file__).parent / "seed-recording-body.json").read_text()


def ffprobe(path: Path) -> dict[str, Any]:
    binary = shutil.which("ffprobe")
    if binary is None:
        missing = "ffprobe is missing (apt-get install ffmpeg; Taskfile setup:debs installs it as root)"
        assert os.environ.get("CI") != "true", missing
        pytest.skip(missing)
    done = subprocess.run(
        [binary, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames,r_frame_rate:format=duration", "-of", "json", str(path)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    probed = json.loads(done.stdout)
    assert probed["streams"], f"no video stream in {path}"
    # The container's own duration: what a player shows and seeks by (timestamps in the wrong time base
    # give the right frame count and a wrong length).
    return {**probed["streams"][0], "duration": float(probed.get("format", {}).get("duration", "nan"))}


def assert_plays_for(probe: dict[str, Any], framerate: int) -> None:
    """The file lasts as long as its frames at the recording's frame rate (within a frame or 5 %)."""
    expected = int(probe["nb_read_frames"]) / framerate
    assert abs(probe["duration"] - expected) <= max(1 / framerate, 0.05 * expected), (probe, expected)


def frame_numbers(path: Path, limit: int = 400, screen_height: int = 720) -> list[int]:
    """The sim PC's frame counter, read from the bottom row of squares of each decoded frame (their
    side is 1/60 of the screen's height, at least 8 px)."""
    numbers = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="gray")
            height = image.shape[0]
            cell = max(8, screen_height // 60)
            row = image[height - cell // 2]
            bits = [int(row[bit * cell + cell // 2] > 128) for bit in range(32)]
            numbers.append(int("".join(map(str, bits)), 2))
            if len(numbers) >= limit:
                break
    return numbers


@pytest.fixture(scope="module")
def kvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """One app for the tests that end their recordings (each starts a KVM in seconds; CI's budget)."""
    app = start_app(tmp_path_factory.mktemp("recording"))
    yield app
    app.stop()


@pytest.fixture(scope="module")
def powered(kvm: RunningApp) -> httpx.Client:
    admin = kvm.login()
    screen(admin, "resolution", 720)  # 1280x720: a lighter load for a loaded CI machine
    power_on(admin)
    return admin


def recordings(kvm: RunningApp) -> Path:
    return kvm.path("/data/recordings")


def test_the_seed_examples_record_this_kvms_screen(kvm: RunningApp, powered: httpx.Client) -> None:
    url = f"{kvm.url}/recording"
    # As written in the seed, plus our credentials (a KVM does not record for anyone who asks).
    assert curl("-X", "GET", url).status == 401
    idle = curl("-u", CREDS, "-X", "GET", url)
    assert idle.status == 200 and idle.json()["active"] is False
    assert idle.json()["config"]["filename"] == "out%Y%m%d%H%M.flv"

    started = curl("-u", CREDS, "-X", "POST", url, "-H", "Content-Type: application/json", "-d", SEED_BODY)
    began = time.monotonic()
    assert started.status == 200, started.body
    status = started.json()
    assert status["active"] is True and status["source"] == "screen"
    assert status["config"]["password"] == "********"
    assert status["file"] == "recording-name.flv"
    # The misspelt path of the seed's prose is the same resource.
    assert curl("-u", CREDS, "-X", "GET", f"{kvm.url}/recodring").json()["active"] is True
    time.sleep(5)
    progress = curl("-u", CREDS, "-X", "GET", url).json()
    assert progress["frames"] > 0 and progress["bytes"] > 0 and progress["duration"] > 3
    stopped = curl("-u", CREDS, "-X", "DELETE", url)
    ended = time.monotonic()
    assert stopped.status == 200 and stopped.json()["active"] is False, stopped.body

    path = recordings(kvm) / "recording-name.flv"
    probe = ffprobe(path)
    assert probe["codec_name"] == "h264" and (probe["width"], probe["height"]) == (1280, 720)
    frames = int(probe["nb_read_frames"])
    expected = 12 * (ended - began)
    assert abs(frames - expected) <= 0.05 * expected + 1, (frames, expected)
    assert_plays_for(probe, 12)
    numbers = frame_numbers(path)
    assert numbers[-1] - numbers[0] > 50, numbers  # the sim PC painted ~30 frames a second meanwhile
    assert all(b >= a for a, b in itertools.pairwise(numbers)), numbers


@pytest.mark.parametrize("name", ["pass.avi", "clip.mp4", "clip.mkv"])
def test_containers_clipping_and_the_frame_counter(kvm: RunningApp, powered: httpx.Client, name: str) -> None:
    clipping = None if name.endswith(".avi") else "400x300+0+420"  # the bottom-left: the counter's squares
    body = {"filename": name, "framerate": 10, "clipping": clipping, "output_path": "sub"}
    started = powered.post("/recording", json=body)
    began = time.monotonic()
    assert started.status_code == 200, started.text
    time.sleep(4)
    assert powered.delete("/recording").json()["active"] is False
    ended = time.monotonic()
    path = recordings(kvm) / "sub" / name
    probe = ffprobe(path)
    size = (1280, 720) if clipping is None else (400, 300)
    assert (probe["width"], probe["height"]) == size
    assert probe["codec_name"] == ("mjpeg" if name.endswith(".avi") else "h264")
    expected = 10 * (ended - began)
    assert abs(int(probe["nb_read_frames"]) - expected) <= 0.05 * expected + 1, (probe, expected)
    assert_plays_for(probe, 10)
    numbers = frame_numbers(path)
    assert numbers[-1] > numbers[0] and len(set(numbers)) > 20, numbers


def test_a_recording_killed_with_kill_9_still_plays(app_factory: Callable[..., RunningApp]) -> None:
    kvm = app_factory()
    admin = kvm.login()
    screen(admin, "resolution", 720)
    power_on(admin)
    for name in ("killed.mp4", "killed.avi"):
        assert admin.post("/recording", json={"filename": name, "framerate": 10}).status_code == 200
        time.sleep(3.5)
        if name == "killed.avi":
            os.kill(kvm.process.pid, signal.SIGKILL)
            kvm.process.wait(10)
        else:
            assert admin.delete("/recording").status_code == 200
    for name in ("killed.mp4", "killed.avi"):
        probe = ffprobe(recordings(kvm) / name)
        assert int(probe["nb_read_frames"]) >= 20, (name, probe)  # all but the last second or so
        numbers = frame_numbers(recordings(kvm) / name)
        assert numbers[-1] > numbers[0], (name, numbers)


def test_a_size_quota_stops_the_recording_cleanly(kvm: RunningApp, powered: httpx.Client) -> None:
    body = {"filename": "small.mkv", "framerate": 10, "max_size": 100_000}
    assert powered.post("/recording", json=body).status_code == 200
    deadline = time.monotonic() + 30
    while (status := powered.get("/recording").json())["active"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["stopped"] == "size quota reached (100000 bytes)"
    assert int(ffprobe(recordings(kvm) / "small.mkv")["nb_read_frames"]) > 0
    # Stopped: the next one may start.
    assert powered.post("/recording", json={"filename": "next.avi"}).status_code == 200
    assert powered.post("/recording", json={"filename": "again.avi"}).status_code == 409  # one at a time
    assert powered.delete("/recording").json()["active"] is False


def test_bad_options_and_escapes_are_refused(kvm: RunningApp, powered: httpx.Client) -> None:
    cases = [
        {"output_path": "../../etc"},
        {"output_path": "/tmp"},
        {"filename": "../x.mp4"},
        {"filename": "x.mov"},
        {"clipping": "400x300"},
        {"framerate": 0},
        {"framerate": "fast"},
        {"max_size": -1},
    ]
    for body in cases:
        answer = powered.post("/recording", json=body)
        assert answer.status_code == 400 and answer.json()["error"], (body, answer.text)
    assert powered.post("/recording", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    plain = powered.post("/recording", content=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 400
    other_site = powered.post("/recording", json={}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert not (kvm.path("/etc/x.mp4")).exists()
    assert powered.get("/recording").json()["active"] is False
    viewer = httpx.get(f"{kvm.url}/recording", auth=("admin", "wrong"))
    assert viewer.status_code == 401


def test_list_download_with_ranges_and_delete(kvm: RunningApp, powered: httpx.Client) -> None:
    form = {"filename": "form.avi", "framerate": "5", "output_path": "listing"}  # a form body, as curl -d
    assert powered.post("/recording", data=form).status_code == 200
    name = "listing/form.avi"
    listed = {f["name"]: f for f in powered.get("/api/recordings").json()["data"]["files"]}
    assert listed[name]["active"] is True
    refused = powered.delete("/api/recordings", params={"name": name}).json()
    assert refused["code"] != 0  # being written
    time.sleep(1)
    assert powered.delete("/recording").status_code == 200
    data = (recordings(kvm) / name).read_bytes()
    assert powered.get("/api/recordings").json()["data"]["files"][0] == {
        "name": name, "size": len(data), "modified": pytest.approx(time.time(), abs=30), "active": False
    }  # fmt: skip
    whole = powered.get("/api/recordings/download", params={"name": name})
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/x-msvideo"
    part = powered.get("/api/recordings/download", params={"name": name}, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = powered.get("/api/recordings/download", params={"name": name}, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]
    beyond = powered.get("/api/recordings/download", params={"name": name}, headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    for bad in ("../etc/kvm/pwd", "/etc/passwd", "nothing.avi", "listing"):
        answer = powered.get("/api/recordings/download", params={"name": bad})
        assert answer.json()["code"] != 0, bad
    assert powered.delete("/api/recordings", params={"name": name}).json()["code"] == 0
    assert not (recordings(kvm) / name).exists()
    assert name not in {f["name"] for f in powered.get("/api/recordings").json()["data"]["files"]}


def test_recording_another_vnc_server(
    kvm: RunningApp, powered: httpx.Client, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second KVM (this app again, its VNC server on with a classic VNC password) recorded over RFB."""
    port = free_port()
    other = start_app(tmp_path_factory.mktemp("vnc-server"), {"vnc": {"enabled": True, "port": port}})
    try:
        admin = other.login()
        assert admin.post("/api/vnc/settings", json={"password": encrypt("secret")}).json()["code"] == 0
        power_on(admin)
        wrong = {"host": "127.0.0.1", "port": port, "password": "wrong", "filename": "remote.mp4"}
        refused = powered.post("/recording", json=wrong)
        assert refused.status_code == 502 and "refused the login" in refused.json()["error"], refused.text
        body = {**wrong, "password": "secret", "framerate": 5}
        started = powered.post("/recording", json=body)
        assert started.status_code == 200, started.text
        assert started.json()["source"] == f"vnc://127.0.0.1:{port}"
        time.sleep(4)
        assert powered.delete("/recording").json()["active"] is False
    finally:
        other.stop()
    path = recordings(kvm) / "remote.mp4"
    probe = ffprobe(path)
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 1920, 1080)
    numbers = frame_numbers(path, screen_height=1080)
    assert numbers[-1] > numbers[0] > 0, numbers
    nowhere = powered.post("/recording", json={"host": "127.0.0.1", "port": free_port(), "filename": "x.mp4"})
    assert nowhere.status_code == 502 and "cannot record" in nowhere.json()["error"]


def test_ending_the_session_ends_a_download(kvm: RunningApp, powered: httpx.Client) -> None:
    assert powered.get("/api/create_user?name=archivist&password=archive123&owner=true").status_code == 200
    big = recordings(kvm) / "big.avi"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(os.urandom(64 << 20))
    archivist = kvm.login("archivist", "archive123")
    received = 0
    with archivist.stream("GET", "/api/recordings/download", params={"name": "big.avi"}) as download:
        assert download.status_code == 200
        chunks = download.iter_raw(64 << 10)
        received += len(next(chunks))
        time.sleep(1)  # the server is now blocked on a client that does not read
        assert archivist.post("/api/auth/logout").json()["code"] == 0
        ended = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError):  # cut short: fewer bytes than Content-Length
            for chunk in chunks:
                received += len(chunk)
    assert time.monotonic() - ended < 10
    assert received < 64 << 20
    big.unlink()
