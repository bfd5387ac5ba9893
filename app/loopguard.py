"""A debugging guard: report blocking calls made on the event loop's thread (``KVM_LOOP_GUARD=1``).

Blocking work belongs in threads. Timing the loop cannot tell a blocking call from a busy machine,
so the guard watches the calls themselves: ``os.fsync``/``os.fdatasync`` (every atomic write),
``subprocess.Popen`` (every command the runner starts), ``time.sleep`` and opening a file for
writing. Each one made on the loop's thread logs one ERROR line naming the call and where it came
from; the tests run the app with the guard on and fail on any such line. Off by default: the
wrappers cost a thread check per call.
"""

from __future__ import annotations

import builtins
import io
import logging
import os
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ENV = "KVM_LOOP_GUARD"
MARK = "blocking call on the event loop"
_WRITE_MODES = frozenset("wax+")


def enabled() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def _caller() -> str:
    """The innermost frame of the app itself that led to the call."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        if "/app/" in frame.filename and not frame.filename.endswith("loopguard.py"):
            return f"{frame.filename.rsplit('/app/', 1)[-1]}:{frame.lineno} in {frame.name}"
    return "?"


class LoopGuard:
    def __init__(self, report: Callable[[str], None] | None = None) -> None:
        self.loop_thread: int | None = None
        self.report = report or (lambda text: log.error("%s", text))
        self._originals: list[tuple[Any, str, Any]] = []

    def _on_loop(self) -> bool:
        return threading.get_ident() == self.loop_thread

    def _check(self, name: str) -> None:
        if self._on_loop():
            self.report(f"{MARK}: {name} from app/{_caller()}")

    def _wrap(self, owner: Any, attribute: str, check: Callable[..., str | None]) -> None:
        original = getattr(owner, attribute)

        def guarded(*args: Any, **kwargs: Any) -> Any:
            name = check(*args, **kwargs)
            if name is not None:
                self._check(name)
            return original(*args, **kwargs)

        self._originals.append((owner, attribute, original))
        setattr(owner, attribute, guarded)

    def install(self) -> None:
        """Watch from the calling thread, which must be the event loop's."""
        self.loop_thread = threading.get_ident()
        self._wrap(os, "fsync", lambda *a, **k: "os.fsync")
        if hasattr(os, "fdatasync"):
            self._wrap(os, "fdatasync", lambda *a, **k: "os.fdatasync")
        self._wrap(time, "sleep", lambda *a, **k: "time.sleep")
        self._wrap(subprocess.Popen, "__init__", lambda *a, **k: f"subprocess {_argv(a[1] if len(a) > 1 else k)}")

        def opening(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> str | None:
            return f"open({file!s}, {mode!r})" if _WRITE_MODES & set(mode) else None

        self._wrap(io, "open", opening)
        self._wrap(builtins, "open", opening)

    def uninstall(self) -> None:
        for owner, attribute, original in reversed(self._originals):
            setattr(owner, attribute, original)
        self._originals.clear()


def _argv(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("args", "?")
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
