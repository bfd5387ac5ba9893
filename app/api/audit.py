"""Every state-changing API request goes to the audit log: who, from where, what, and the outcome.

An ASGI middleware records each POST/PUT/PATCH/DELETE under ``/api/`` (and kvmd's ``/redfish/``) once
its answer has started, on the NanoKVM app and on the kvmd one (a power press is audited whichever API
pressed it):
the acting account (the session the access guard found), the client's IP, the route, and the
result (NanoKVM's envelope code and message, or the HTTP status). Handlers add what the route alone
does not say with ``audit_note`` (which button, which image, the name a login tried); bodies
themselves are never logged. Unauthenticated calls (401) and unknown paths (404) are left out, so
a scanner cannot push the real records out of the size-bounded log.
"""

from __future__ import annotations

import re
from typing import Any, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.services.audit import AuditEntry, now
from app.services.auth.sessions import Session

_RECORDED = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PREFIXES = ("/api/", "/redfish/")
_SKIPPED_STATUS = frozenset({401, 404})
_CODE = re.compile(rb'^\s*\{\s*"code"\s*:\s*(-?\d+)\s*,\s*"msg"\s*:\s*"((?:[^"\\]|\\.){0,160})"')
_NOTE_CHARS = 200


def audit_note(connection: Any, **detail: object) -> None:
    """Add ``detail`` to the audit record of this request (values shortened to text)."""
    notes: dict[str, str] = connection.scope.setdefault("state", {}).setdefault("audit", {})
    notes.update({k: str(v)[:_NOTE_CHARS] for k, v in detail.items()})


def _result(status: int, head: bytes) -> str:
    match = _CODE.match(head)
    if match is None:
        return "ok" if status < 400 else str(status)
    code = int(match.group(1))
    return "ok" if code == 0 else f"{code} {match.group(2).decode('utf-8', 'replace')}"


def audit_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        fields = cast("dict[str, Any]", scope)
        if fields["type"] != "http" or fields["method"] not in _RECORDED or not fields["path"].startswith(_PREFIXES):
            await app(scope, receive, send)
            return
        state: dict[str, Any] = fields.setdefault("state", {})
        answer: dict[str, Any] = {"status": 0, "head": b""}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body" and not answer["head"]:
                answer["head"] = bytes(message.get("body", b""))[:400]
            await send(message)

        try:
            await app(scope, receive, watch)
        finally:
            _record(fields, state, answer["status"], answer["head"])

    return middleware


def _record(scope: dict[str, Any], state: dict[str, Any], status: int, head: bytes) -> None:
    if status in _SKIPPED_STATUS:
        return
    services = scope["app"].state.services
    session: Session | None = state.get("session")
    notes: dict[str, str] = dict(state.get("audit", {}))
    actor = session.username if session is not None else notes.pop("username", "")
    client = scope.get("client")
    services.audit.write(
        AuditEntry(
            time=now(),
            action=f"{scope['method']} {scope['path']}",
            actor=actor,
            address=client[0] if client else "",
            result=_result(status, head) if status else "no answer",
            via=session.sid if session is not None and session.kind == "token" else "",
            detail=notes,
        )
    )
