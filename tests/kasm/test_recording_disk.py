"""A recording on a real full disk (a small tmpfs, so the kernel's own ENOSPC, no simulation): it
stops by itself, GET /recording says why, the partial file plays (ffprobe, the sim PC's frame
counter), and the app goes on serving and streaming. Needs root for ``mount`` (CI runs as root;
under ``CI=true`` not being able to mount is a failure, not a skip)."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.h264 import power_on, screen
from tests.api.mjpeg import MjpegReader
from tests.conftest import start_app
from tests.kasm.test_recording import ffprobe, frame_numbers

RESERVE = 64 << 20  # app/services/recording/recorder.py's FREE_RESERVE, as documented in the README
DISK_FULL = "disk full: a write found no space"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` for the block (lazily unmounted after it)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        why = "not root"
    else:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
        )
        why = mounted.stderr.decode().strip() if mounted.returncode else ""
    if why:
        message = f"a real full disk needs a tmpfs mounted (as root): {why}"
        assert os.environ.get("CI") != "true", message
        pytest.skip(message)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def record_until_it_stops(admin: httpx.Client, name: str) -> dict[str, Any]:
    started = admin.post("/recording", json={"filename": name, "framerate": 30})
    assert started.status_code == 200, started.text
    deadline = time.monotonic() + 60
    while (status := admin.get("/recording").json())["active"]:
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return dict(status)


def plays(path: Path, frames: int) -> None:
    """``path`` has a video stream ffprobe reads at least ``frames`` frames of, and the sim PC's
    counter painted in them never goes back."""
    probe = ffprobe(path)
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("mjpeg", 1280, 720)
    assert int(probe["nb_read_frames"]) >= frames, probe
    numbers = frame_numbers(path)
    assert numbers[-1] > numbers[0] and all(b >= a for a, b in itertools.pairwise(numbers)), numbers


def test_a_full_disk_stops_the_recording_cleanly(tmp_path: Path) -> None:
    # The device root on a tmpfs with room for the reserve and ~4 MiB more, its recordings directory
    # on a 2 MiB disk of its own (a USB stick, say): that one may fill to the last byte.
    with tmpfs(tmp_path / "root", f"{(RESERVE >> 20) + 4}m") as root, tmpfs(root / "data/recordings", "2m") as disk:
        kvm = start_app(tmp_path, root=root)
        try:
            admin = kvm.login()
            screen(admin, "resolution", 720)
            power_on(admin)
            viewer = MjpegReader(kvm.url, admin.cookies["nano-kvm-token"])
            viewer.next_part()

            status = record_until_it_stops(admin, "full.avi")
            assert status["stopped"] == DISK_FULL, status
            assert status["file"] == "full.avi" and status["frames"] >= 10, status
            # Filled: the file takes the disk but for less than the frame the disk had no room for.
            assert (disk / "full.avi").stat().st_size > (2 << 20) - 256_000
            plays(disk / "full.avi", 10)
            # The app goes on: the viewer still gets new pictures, the list answers, and a new
            # recording is refused with the reason.
            viewer.next_part()
            viewer.next_part()
            listed = admin.get("/api/recordings").json()["data"]["files"]
            assert [(f["name"], f["active"]) for f in listed] == [("full.avi", False)]
            refused = admin.post("/recording", json={"filename": "more.avi"})
            assert refused.status_code == 502 and DISK_FULL in refused.json()["error"], refused.text
            assert not (disk / "more.avi").exists()  # not a single frame: no file
            # Deleting the recording makes room: recording works again.
            assert admin.delete("/api/recordings", params={"name": "full.avi"}).json()["code"] == 0
            assert admin.post("/recording", json={"filename": "again.avi"}).status_code == 200
            time.sleep(1)
            assert admin.delete("/recording").json()["stopped"] == "stopped"
            plays(disk / "again.avi", 3)

            # Without that disk the recordings share the device's: the recording stops while the
            # reserve is still free, so the device's own state stays writable.
            subprocess.run(["umount", "-l", str(disk)], check=True)
            status = record_until_it_stops(admin, "shared.avi")
            assert status["stopped"] == "disk full: stopped to keep 64 MiB free for the device", status
            assert os.statvfs(root).f_bavail * os.statvfs(root).f_frsize >= RESERVE
            plays(disk / "shared.avi", 10)
            renamed = admin.post("/api/vm/web-title", json={"title": "still writable"}).json()
            assert renamed["code"] == 0, renamed
            viewer.next_part()
        finally:
            kvm.stop()
