"""The OpenAPI document tells the truth about error answers too (issue 13: its shapes are checked by
Schemathesis for every answer, errors included).

- NanoKVM's envelope carries ``data: null`` on every failure (``code`` < 0), so each ``Envelope[...]``
  says its ``data`` may be null.
- A route that needs a session answers 401 ``"unauthorized"`` without one and 403 ``"forbidden"``
  below its role (or for a cross-site request): both are JSON strings, documented as such.
"""

from __future__ import annotations

from typing import Any

_REFUSALS = {
    "401": ("No valid session (nano-kvm-token cookie or Bearer token)", "unauthorized"),
    "403": ("Below the route's role, the default password still unchanged, or a cross-site request", "forbidden"),
}


def _allows_null(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))


def document_error_answers(schema: dict[str, Any]) -> None:
    for component in schema.get("components", {}).get("schemas", {}).values():
        data = component.get("properties", {}).get("data")
        if str(component.get("title", "")).startswith("Envelope[") and data is not None and not _allows_null(data):
            component["properties"]["data"] = {"anyOf": [data, {"type": "null"}]}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or not operation.get("security"):
                continue
            responses = operation.setdefault("responses", {})
            for status, (description, word) in _REFUSALS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"type": "string", "enum": [word]}}},
                    },
                )
