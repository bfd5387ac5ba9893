"""kvmd's query parameters: every route reads ``req.query``; booleans as kvmd's ``valid_bool``."""

from __future__ import annotations

import math
from typing import Any

from litestar.connection import ASGIConnection

from app.api.pikvm.envelope import bad_request

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")

Conn = ASGIConnection[Any, Any, Any, Any]


def text(connection: Conn, name: str, default: str | None = None) -> str:
    value = connection.query_params.get(name)
    if value is None:
        if default is None:
            raise bad_request(f"Missing parameter {name!r}")
        return default
    return str(value)


def as_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    lowered = str(value).strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise bad_request(f"Invalid boolean for {name!r}: {value!r}")


def flag(connection: Conn, name: str, default: bool | None = None) -> bool:
    value = connection.query_params.get(name)
    if value is None:
        if default is None:
            raise bad_request(f"Missing parameter {name!r}")
        return default
    return as_bool(name, value)


def optional_flag(connection: Conn, name: str) -> bool | None:
    value = connection.query_params.get(name)
    return None if value is None else as_bool(name, value)


def number(connection: Conn, name: str, default: float | None, low: float, high: float) -> float:
    raw = connection.query_params.get(name)
    if raw is None:
        if default is None:
            raise bad_request(f"Missing parameter {name!r}")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise bad_request(f"Invalid number for {name!r}: {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise bad_request(f"{name!r} must be within {low:g}..{high:g}")
    return value


def listed(connection: Conn, name: str) -> list[str]:
    """kvmd takes one comma list; some clients repeat the parameter instead: both are read."""
    items: list[str] = []
    for value in connection.query_params.getall(name, []):
        items.extend(part.strip() for part in value.split(",") if part.strip())
    return items
