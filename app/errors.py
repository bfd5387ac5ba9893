"""The one failure type services raise for the API to answer: NanoKVM's negative code and message."""

from __future__ import annotations


class ApiError(Exception):
    """A failure answered as HTTP 200 with a negative code, as NanoKVM does."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
