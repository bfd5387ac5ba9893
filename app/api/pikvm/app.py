"""The kvmd app: kvmd's routes, envelope and credentials over the shared services."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from app.api.access import check_routes
from app.api.audit import audit_middleware
from app.api.hot import serve_kvmd_hot
from app.api.pikvm.access import enforce_kvmd_access
from app.api.pikvm.atx import KvmdAtxController
from app.api.pikvm.auth_routes import KvmdAuthController
from app.api.pikvm.envelope import EXCEPTION_HANDLERS
from app.api.pikvm.hid import KvmdHidController
from app.api.pikvm.metrics import KvmdMetricsController
from app.api.pikvm.mjpeg import kvmd_mjpeg
from app.api.pikvm.msd import KvmdMsdController
from app.api.pikvm.redfish import RedfishController
from app.api.pikvm.streamer import KvmdStreamerController, streamer_snapshot
from app.api.pikvm.switch import KvmdSwitchController
from app.api.pikvm.system import KvmdSystemController
from app.api.pikvm.ws import kvmd_ws
from app.services.logbook import logbook

MAX_BODY_BYTES = 1 << 20


def create_kvmd_app(services: Any) -> Litestar:
    logbook()  # /api/log shows what the app logs from now on
    app = Litestar(
        route_handlers=[
            KvmdAuthController,
            KvmdSystemController,
            KvmdAtxController,
            KvmdHidController,
            KvmdStreamerController,
            KvmdMsdController,
            KvmdMetricsController,
            RedfishController,
            KvmdSwitchController,
            kvmd_ws,
            kvmd_mjpeg,
            streamer_snapshot,
        ],
        # The same audit log as the NanoKVM side; inside it, the access check (which sets the session).
        middleware=[audit_middleware, enforce_kvmd_access],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=None,
        debug=False,
    )
    app.state.services = services
    check_routes(app)
    # What clients poll (/api/auth/check, /api/atx...), answered ahead of Litestar's pipeline when it can.
    app.asgi_handler = serve_kvmd_hot(app.asgi_handler, app, services)
    return app
