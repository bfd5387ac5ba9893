"""Per-user TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, as every authenticator app) with pyotp.

Each account has its own secret (PiKVM has one for everyone). Enrolment stores an unconfirmed
secret; one correct code confirms it and yields ten recovery codes, shown once and stored as
SHA-256 digests (random 40-bit codes: a slow hash would add nothing the lock-out does not). A code
is accepted one step early or late (clock drift) and never twice: the last step used is stored, so
a code seen by someone else cannot be replayed inside its 30 s (nor 90 s) window. A recovery code
works once.

The store is ``/etc/kvm/totp.json`` (0600, written atomically). Methods that write block: call
them in a thread. A lock makes check-and-consume one step, so two concurrent requests carrying
the same code cannot both pass.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import threading
import time
from pathlib import Path

import msgspec
import pyotp
import segno

from app.errors import InvalidArgument, Unavailable
from app.paths import atomic_write

log = logging.getLogger(__name__)

ISSUER = "NanoKVM"
DIGITS = 6
STEP = 30
DRIFT_STEPS = 1
RECOVERY_CODES = 10


class TotpRecord(msgspec.Struct, rename="camel", omit_defaults=True):
    secret: str
    confirmed: bool = False
    recovery: list[str] = []  # SHA-256 hex of each unused recovery code
    last_step: int = 0
    created: float = 0.0


class _TotpFile(msgspec.Struct):
    version: int = 1
    users: dict[str, TotpRecord] = {}


class TotpError(InvalidArgument):
    """A refused TOTP operation; the message is shown to the client."""


class TotpStoreUnavailable(Unavailable, TotpError):
    """The two-factor file cannot be read: logins of accounts with TOTP are refused meanwhile."""


class Enrolment(msgspec.Struct, rename="camel"):
    secret: str
    uri: str
    qr_svg: str


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise(code: str) -> str:
    """Codes as people type them: spaces and dashes dropped, letters lower-case."""
    return "".join(ch for ch in code if ch not in " -\t").lower()


def _recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, 10 hex digits: "ab12c-3de45"
    return f"{raw[:5]}-{raw[5:]}"


def qr_svg(uri: str) -> str:
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True)
    return out.getvalue().decode("ascii")


class TotpService:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._users: dict[str, TotpRecord] = {}
        self._error: str | None = None
        try:
            self._users = msgspec.json.decode(path.read_bytes(), type=_TotpFile).users
        except FileNotFoundError:
            pass
        except (OSError, msgspec.DecodeError) as err:
            # Fail closed: with the second factors unreadable nobody who might have one logs in.
            self._error = f"{path}: {err}"
            log.error("TOTP store unreadable, logins refused: %s", self._error)

    def _save(self) -> None:
        atomic_write(self.path, msgspec.json.encode(_TotpFile(users=self._users)), mode=0o600)

    def _check(self) -> None:
        if self._error is not None:
            raise TotpStoreUnavailable(f"two-factor store unreadable ({self._error})")

    # --- state -------------------------------------------------------------------------------

    def enabled(self, username: str) -> bool:
        """Whether ``username`` must give a code (True for everyone when the store is unreadable)."""
        if self._error is not None:
            return True
        record = self._users.get(username)
        return record is not None and record.confirmed

    def recovery_left(self, username: str) -> int:
        record = self._users.get(username)
        return len(record.recovery) if record is not None and record.confirmed else 0

    # --- enrolment ---------------------------------------------------------------------------

    def begin(self, username: str) -> Enrolment:
        """A new unconfirmed secret for ``username`` (replacing an earlier unconfirmed one)."""
        with self._lock:
            self._check()
            if self.enabled(username):
                raise TotpError("two-factor authentication is already on; turn it off first")
            secret = pyotp.random_base32()
            self._users[username] = TotpRecord(secret, created=time.time())
            self._save()
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=username, issuer_name=ISSUER)
        return Enrolment(secret, uri, qr_svg(uri))

    def confirm(self, username: str, code: str) -> list[str]:
        """Turn TOTP on with one correct code; the recovery codes (shown once)."""
        with self._lock:
            self._check()
            record = self._users.get(username)
            if record is None or record.confirmed:
                raise TotpError("no enrolment in progress")
            step = self._matching_step(record, normalise(code))
            if step is None:
                raise TotpError("invalid code")
            codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
            record.confirmed, record.last_step = True, step
            record.recovery = [_digest(normalise(c)) for c in codes]
            self._save()
        return codes

    # --- verification ------------------------------------------------------------------------

    def _matching_step(self, record: TotpRecord, code: str, now: float | None = None) -> int | None:
        """The step whose code is ``code`` (within the drift), if not already used."""
        if len(code) != DIGITS or not code.isdigit():
            return None
        totp = pyotp.TOTP(record.secret, digits=DIGITS, interval=STEP)
        current = totp.timecode(time.time() if now is None else now)
        for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
            if step > record.last_step and hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    def verify(self, username: str, code: str) -> bool:
        """Whether ``code`` (a current TOTP code or an unused recovery code) is good; consumes it."""
        code = normalise(code)
        with self._lock:
            self._check()
            record = self._users.get(username)
            if record is None or not record.confirmed or not code:
                return False
            step = self._matching_step(record, code)
            if step is not None:
                record.last_step = step
                self._save()
                return True
            digest = _digest(code)
            for stored in record.recovery:
                if hmac.compare_digest(stored, digest):
                    record.recovery.remove(stored)
                    self._save()
                    return True
        return False

    # --- turning off -------------------------------------------------------------------------

    def disable(self, username: str, code: str) -> None:
        """The user turns TOTP off, proving it with a code (or a recovery code)."""
        if not self.verify(username, code):
            raise TotpError("invalid code")
        self.remove(username)

    def remove(self, username: str) -> bool:
        """Turn TOTP off without a code (an admin; a deleted account; a cancelled enrolment)."""
        with self._lock:
            self._check()
            if self._users.pop(username, None) is None:
                return False
            self._save()
            return True
