"""Deny by default: a route that states no role is refused, and the app will not start with one."""

from __future__ import annotations

import litestar
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from app.api import routing
from app.api.access import check_routes
from app.api.access_middleware import enforce_access
from app.api.envelope import EXCEPTION_HANDLERS
from app.services.auth.accounts import Role


@litestar.get("/forgotten", sync_to_thread=False)
def forgotten() -> str:
    return "should never be served"


@routing.get("/open", role=Role.PUBLIC)
def public() -> str:
    return "open"


def app_with(*handlers: object) -> Litestar:
    return Litestar(
        route_handlers=list(handlers),
        middleware=[enforce_access],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=None,
    )  # type: ignore[arg-type]


def test_unannotated_route_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="GET /forgotten"):
        check_routes(app_with(forgotten, public))
    check_routes(app_with(public))


def test_unannotated_route_is_refused_at_runtime() -> None:
    with TestClient(app_with(forgotten, public)) as client:
        assert client.get("/forgotten").status_code == 403
        assert client.get("/open").text == "open"


def test_role_is_required_by_our_decorators() -> None:
    with pytest.raises(TypeError):
        routing.get("/x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        routing.post("/x", role="admin")  # type: ignore[arg-type]
