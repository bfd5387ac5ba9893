"""The screen's text through Debian's tesseract (kvmd's ``/api/streamer/snapshot?ocr=1``).

tesseract runs as a separate process with an argument list, the JPEG on its stdin; languages are
only those its installation lists, so nothing from a request reaches its command line unchecked.
Blocking: call from a worker thread.
"""

from __future__ import annotations

import functools
import shutil
import subprocess

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


def recognize(jpeg: bytes, langs: list[str]) -> str:
    tool = shutil.which("tesseract")
    if tool is None:
        raise OcrError("tesseract is not installed")
    known = languages()
    unknown = [lang for lang in langs if lang not in known]
    if unknown or not langs:
        raise OcrError(f"Unknown OCR languages: {', '.join(unknown) or '(none)'}")
    try:
        out = subprocess.run(
            [tool, "stdin", "stdout", "-l", "+".join(langs)],
            input=jpeg,
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=True,
        )
    except subprocess.TimeoutExpired:
        raise OcrError("OCR took too long") from None
    except (OSError, subprocess.CalledProcessError) as err:
        raise OcrError(f"OCR failed: {err}") from None
    return out.stdout.decode("utf-8", "replace")
