"""kvmd's API denies by default too: its access check is the shared ASGI middleware (no Litestar guard),
a route that states no role is refused in kvmd's envelope, and the kvmd app will not start with one."""

from __future__ import annotations

from types import SimpleNamespace

import litestar
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from app.api import routing
from app.api.pikvm import app as kvmd_app
from app.api.pikvm.access import enforce_kvmd_access
from app.api.pikvm.envelope import EXCEPTION_HANDLERS
from app.services.auth.accounts import Role


@litestar.get("/api/forgotten", sync_to_thread=False)
def forgotten() -> str:
    return "should never be served"


@routing.get("/api/open", role=Role.PUBLIC, sync_to_thread=False)
def public() -> str:
    return "open"


def test_kvmd_app_will_not_start_with_an_unannotated_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvmd_app, "streamer_snapshot", forgotten)  # one of the handlers the app lists
    with pytest.raises(RuntimeError, match="GET /api/forgotten"):
        kvmd_app.create_kvmd_app(SimpleNamespace())


def test_kvmd_routes_all_state_a_role_and_no_guard_runs() -> None:
    app = kvmd_app.create_kvmd_app(SimpleNamespace())
    handlers = [handler for route in app.routes for handler in getattr(route, "route_handlers", ())]
    assert len(handlers) > 40
    assert not [handler for handler in handlers if handler.resolve_guards()]
    assert enforce_kvmd_access in handlers[0].resolve_middleware()


def test_unannotated_route_is_refused_in_kvmd_envelope() -> None:
    app = Litestar(
        route_handlers=[forgotten, public],
        middleware=[enforce_kvmd_access],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=None,
    )
    with TestClient(app) as client:
        refused = client.get("/api/forgotten")
        assert refused.status_code == 403
        assert refused.json() == {"ok": False, "result": {"error": "ForbiddenError", "error_msg": "Forbidden"}}
        assert client.get("/api/open").text == "open"
