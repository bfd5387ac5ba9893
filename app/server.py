"""The Litestar application: controllers, deny-by-default access, NanoKVM's error mapping."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar.config.cors import CORSConfig

from app import loopguard
from app.api.access import check_routes
from app.api.access_middleware import enforce_access
from app.api.ai import AiController, mcp_endpoint
from app.api.application import ApplicationController
from app.api.audit import audit_middleware
from app.api.auth import AuthController
from app.api.board_settings import BoardSettingsController
from app.api.crosssite import refuse_cross_site
from app.api.download import DownloadController
from app.api.envelope import EXCEPTION_HANDLERS
from app.api.frontend import FRONTEND_DIST, frontend_router
from app.api.gin_wire import gin_wire
from app.api.h264 import h264_direct, h264_webrtc
from app.api.headers import security_headers
from app.api.hid import HidController, JigglerController
from app.api.hot import serve_hot
from app.api.input_region import InputRegionController
from app.api.internal import InternalController
from app.api.kasm.recording import HANDLERS as RECORDING_HANDLERS
from app.api.kasm.routes import HANDLERS as KASM_HANDLERS
from app.api.network import NetworkController
from app.api.openapi import openapi_config
from app.api.picoclaw import PicoclawController
from app.api.pikvm.app import create_kvmd_app
from app.api.pikvm.dispatch import kvmd_dispatch
from app.api.screen import ScreenController
from app.api.scripts import ScriptsController
from app.api.security import SecurityController
from app.api.sim import SimController
from app.api.storage import StorageController
from app.api.stream import StreamController, mjpeg_stream
from app.api.system import SystemController
from app.api.tailscale import TailscaleController
from app.api.terminal import terminal
from app.api.virtual import VirtualController
from app.api.vm import VmController
from app.api.vnc import VncController, vnc_socket
from app.api.ws import input_channel
from app.api.wsdeny import deny_websockets_plainly
from app.api.wslimit import cap_websocket_messages
from app.config import Config
from app.loopguard import LoopGuard
from app.runtime import build_services

# JSON bodies are small; uploads (a later feature) set their own limit per route.
MAX_BODY_BYTES = 1 << 20


def create_app(config: Config, root: Path, frontend: Path = FRONTEND_DIST, config_path: Path | None = None) -> Litestar:
    services = build_services(config, root, config_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with services.running():
            guard = LoopGuard() if loopguard.enabled() else None  # KVM_LOOP_GUARD=1: report blocking calls
            if guard is not None:
                guard.install()
            try:
                yield
            finally:
                if guard is not None:
                    guard.uninstall()

    handlers: list[object] = [
        AuthController,
        SecurityController,
        VmController,
        ScreenController,
        StreamController,
        mjpeg_stream,
        h264_direct,
        h264_webrtc,
        HidController,
        JigglerController,
        SystemController,
        NetworkController,
        TailscaleController,
        ApplicationController,
        ScriptsController,
        BoardSettingsController,
        StorageController,
        VirtualController,
        DownloadController,
        input_channel,
        terminal,
        VncController,
        InputRegionController,
        InternalController,
        AiController,
        mcp_endpoint,
        PicoclawController,
        vnc_socket,
        *KASM_HANDLERS,
        *RECORDING_HANDLERS,
    ]
    if services.sim_input is not None:
        handlers.append(SimController)
    # Our frontend at /: the checkout's build on disk, or the one inside the zipapp (tools/dist.py).
    static = frontend_router(frontend)
    if static is not None:
        handlers.append(static)
    app = Litestar(
        route_handlers=handlers,  # type: ignore[arg-type]
        # Access is checked innermost, where guards ran: after the cross-site refusal, inside the audit.
        middleware=[
            audit_middleware,
            refuse_cross_site,
            cap_websocket_messages,
            deny_websockets_plainly,
            enforce_access,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        # As NanoKVM: permissive CORS only when authentication is off (then nothing is protected anyway).
        cors_config=CORSConfig(allow_origins=["*"], allow_headers=["*"]) if not services.auth.enabled else None,
        lifespan=[lifespan],
        debug=False,
    )
    app.state.services = services
    check_routes(app)
    # Before Litestar's routing (its middleware runs after it): gin's slash redirects and JSON bytes.
    app.asgi_handler = gin_wire(app.asgi_handler, app.asgi_router.handle_routing)
    # PiKVM's kvmd API on the same listener: its own paths, and the four shared ones on a kvmd signal.
    kvmd_app = create_kvmd_app(services)
    app.asgi_handler = kvmd_dispatch(app.asgi_handler, kvmd_app)
    # Outermost: every answer of both APIs, redirects and 404s included, carries the security headers.
    app.asgi_handler = security_headers(app.asgi_handler)
    app.state.kvmd_app = security_headers(kvmd_app)  # also served alone on ``pikvm:``'s own listener
    # What clients poll (/api/vm/info...), answered ahead of it all (with the same headers) when it can.
    app.asgi_handler = serve_hot(app.asgi_handler, app, services)
    return app
