"""What services raise when they refuse or fail: one small hierarchy that every API surface maps.

The class says what went wrong (a PiKVM or MCP surface answers by it: 400, 404, 409...); ``msg`` is
for people (NanoKVM's own text where NanoKVM has one). ``code`` is NanoKVM's answer code at that
step: NanoKVM numbers a handler's failures in order (-1, -2, -3...) rather than by kind, so the same
kind has different codes in different handlers, and the number is kept beside the message where the
failure happens. Only the NanoKVM layer (``app.api.envelope``) reads it.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal or failure a service reports to whichever API called it."""

    def __init__(self, msg: str, *, code: int = -1) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class InvalidArgument(DomainError, ValueError):
    """The request's input breaks a rule (``app.validators``); nothing was changed. A ValueError too,
    as a parser's refusal is."""


class NotFound(DomainError):
    """What the request names does not exist."""


class Forbidden(DomainError):
    """Refused whoever asks: a wrong key or a protected object (roles are the API layer's own)."""


class Busy(DomainError):
    """Something else is in progress (a press, a transfer, an update); try again later."""


class Conflict(DomainError):
    """The state does not allow it (already there, in use, not in the mode it needs)."""


class Unavailable(DomainError):
    """Not on this device: no such hardware, not installed, not configured."""


class Failed(DomainError):
    """The operation was tried and did not succeed (a command, a write, the network)."""


def recoded(err: DomainError, code: int) -> DomainError:
    """``err`` with NanoKVM's code of the step that re-raises it (a service passing on a lower
    layer's refusal: the kind and message stay, the number is the handler's)."""
    err.code = code
    return err
