"""The screen's text through Debian's tesseract (kvmd's ``/api/streamer/snapshot?ocr=1``).

tesseract runs as a separate process with an argument list, the JPEG on its stdin; languages are
only those its installation lists, so nothing from a request reaches its command line unchecked.
Blocking: call from a worker thread.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

import cv2
import numpy as np

DEFAULT_LANGS = ("eng",)
TIMEOUT_SECONDS = 30.0


class OcrError(Exception):
    """tesseract is missing, refused the languages, or failed."""


def available() -> bool:
    return shutil.which("tesseract") is not None


@functools.lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """What the installed tesseract reads ("osd" is layout detection, not a language)."""
    tool = shutil.which("tesseract")
    if tool is None:
        return ()
    try:
        out = subprocess.run([tool, "--list-langs"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ()
    lines = out.stdout.splitlines()[1:]  # the first line names the data directory
    return tuple(sorted(name.strip() for name in lines if name.strip() and name.strip() != "osd"))


Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels; a negative side = the frame's edge


def crop(jpeg: bytes, box: Box) -> bytes:
    """The part of the picture inside ``box`` as PNG (lossless, for tesseract), as kvmd crops: sides
    clamped to the frame; an empty box leaves the whole picture."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise OcrError("the snapshot is not a picture")
    height, width = image.shape[:2]
    left, top, right, bottom = box
    left = 0 if left < 0 else min(width, left)
    top = 0 if top < 0 else min(height, top)
    right = width if right < 0 else min(width, right)
    bottom = height if bottom < 0 else min(height, bottom)
    if left < right and top < bottom:
        image = image[top:bottom, left:right]
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise OcrError("cannot encode the cropped picture")
    return bytes(png)


def recognize(jpeg: bytes, langs: list[str], box: Box | None = None) -> str:
    """The text in the picture (or in ``box`` of it)."""
    tool = shutil.which("tesseract")
    if tool is None:
        raise OcrError("tesseract is not installed")
    known = languages()
    unknown = [lang for lang in langs if lang not in known]
    if unknown or not langs:
        raise OcrError(f"Unknown OCR languages: {', '.join(unknown) or '(none)'}")
    picture = crop(jpeg, box) if box is not None and max(box) >= 0 else jpeg
    try:
        out = subprocess.run(
            [tool, "stdin", "stdout", "-l", "+".join(langs)],
            input=picture,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=True,
        )
    except subprocess.TimeoutExpired:
        raise OcrError("OCR took too long") from None
    except (OSError, subprocess.CalledProcessError) as err:
        raise OcrError(f"OCR failed: {err}") from None
    return out.stdout.decode("utf-8", "replace")
