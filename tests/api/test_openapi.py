"""The API is documented: the OpenAPI document lists every route with its role and request schema."""

from __future__ import annotations

from tests.conftest import RunningApp


def test_openapi_document(kvm: RunningApp) -> None:
    answer = kvm.client().get("/api/schema/openapi.json")
    assert answer.status_code == 200
    doc = answer.json()
    press = doc["paths"]["/api/vm/gpio"]["post"]
    assert press["x-minimum-role"] == "user" and press["security"] == [{"session": []}]
    body = doc["components"]["schemas"]["GpioRequest"]
    assert body["required"] == ["type"] and set(body["properties"]) == {"type", "duration"}
    login = doc["paths"]["/api/auth/login"]["post"]
    assert login["x-minimum-role"] == "public" and "security" not in login
    assert doc["components"]["securitySchemes"]["session"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "nano-kvm-token",
    }
    # Every route in the document states its role.
    roles = {op["x-minimum-role"] for path in doc["paths"].values() for op in path.values()}
    assert roles <= {"public", "viewer", "user", "admin"}
