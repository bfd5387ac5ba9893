"""``/api/hid`` and its parameters, keymaps, ``print`` and ``events/*`` (kvmd's key names, as the DOM's)."""

from __future__ import annotations

from litestar import Controller, Response
from litestar.exceptions import HTTPException

from app.api.pikvm import state
from app.api.pikvm.envelope import KvmdError, answer, bad_request
from app.api.pikvm.params import Conn, flag, listed, number, optional_flag, text
from app.api.routing import Req, get, post, services
from app.api.routing import services as app_services
from app.services.auth.accounts import Role
from app.services.hid.events import EventInput, UnknownInput
from app.services.hid.paste import MAX_RUNES

PRINT_BODY_LIMIT = 64 << 10


def _input(request: Conn) -> EventInput:
    kvmd = state.kvmd_state(app_services(request))
    if not kvmd.hid_connected:
        raise KvmdError(400, "HidDisconnectedError", "The HID is disconnected from the host")
    return kvmd.http_input


def _int(request: Conn, name: str, low: int, high: int, default: int | None = None) -> int:
    return int(number(request, name, default, low, high))


class KvmdHidController(Controller):
    path = "/api/hid"

    @get(["", "/"], role=Role.VIEWER, hot=state.hid)  # polled (app/api/hot.py answers ahead)
    async def hid(self, request: Req) -> Response[bytes]:
        return answer(state.hid(services(request)))

    @post("/set_params", role=Role.USER)
    async def set_params(self, request: Req) -> Response[bytes]:
        kvmd = state.kvmd_state(services(request))
        keyboard = request.query_params.get("keyboard_output")
        mouse = request.query_params.get("mouse_output")
        if keyboard is not None and keyboard != "usb":
            raise bad_request(f"Unknown keyboard output {keyboard!r}")
        if mouse is not None:
            if mouse not in ("usb", "usb_rel"):
                raise bad_request(f"Unknown mouse output {mouse!r}")
            kvmd.http_input.release()
            kvmd.mouse_absolute = mouse == "usb"
            kvmd.http_input.absolute = kvmd.mouse_absolute
        jiggler = optional_flag(request, "jiggler")
        if jiggler is not None:
            _, mode = services(request).jiggler.state()
            services(request).jiggler.set(jiggler, mode)
        return answer()

    @post("/set_connected", role=Role.USER)
    async def set_connected(self, request: Req) -> Response[bytes]:
        kvmd = state.kvmd_state(services(request))
        connected = flag(request, "connected")
        if not connected:
            kvmd.http_input.release()
        kvmd.hid_connected = connected
        return answer()

    @post("/reset", role=Role.ADMIN)
    async def reset(self, request: Req) -> Response[bytes]:
        svc = services(request)
        if svc.paster.busy:
            raise KvmdError(409, "IsBusyError", "HID is busy typing")
        state.kvmd_state(svc).http_input.release()
        svc.hid.reset()
        return answer()

    @get("/keymaps", role=Role.VIEWER)
    async def keymaps(self, request: Req) -> Response[bytes]:
        return answer(state.keymaps())

    @post("/print", role=Role.USER, request_max_body_size=PRINT_BODY_LIMIT)
    async def print_text(self, request: Req) -> Response[bytes]:
        _input(request)
        limit = _int(request, "limit", 0, MAX_RUNES, MAX_RUNES) or MAX_RUNES
        name = text(request, "keymap", "en-us")
        layout = state.layout(name)
        if layout is None:
            raise bad_request(f"Unknown keymap {name!r}")
        try:
            body = await request.body()
        except HTTPException:
            raise KvmdError(413, "RequestTooLarge", "Text too long") from None
        content = body.decode("utf-8", "replace")[:limit]
        await services(request).paster.paste(content, layout)
        return answer()

    @post("/events/send_key", role=Role.USER)
    async def send_key(self, request: Req) -> Response[bytes]:
        events = _input(request)
        key = text(request, "key")
        pressed = optional_flag(request, "state")
        try:
            if pressed is None:
                events.tap([key])
            else:
                events.key(key, pressed)
        except UnknownInput as err:
            raise bad_request(str(err)) from None
        return answer()

    @post("/events/send_shortcut", role=Role.USER)
    async def send_shortcut(self, request: Req) -> Response[bytes]:
        events = _input(request)
        keys = listed(request, "keys")
        if not keys:
            raise bad_request("Missing parameter 'keys'")
        try:
            events.tap(keys)
        except UnknownInput as err:
            raise bad_request(str(err)) from None
        return answer()

    @post("/events/send_mouse_button", role=Role.USER)
    async def send_mouse_button(self, request: Req) -> Response[bytes]:
        events = _input(request)
        button = text(request, "button")
        pressed = optional_flag(request, "state")
        try:
            if pressed is None:
                events.button(button, True)
                events.button(button, False)
            else:
                events.button(button, pressed)
        except UnknownInput as err:
            raise bad_request(str(err)) from None
        return answer()

    @post("/events/send_mouse_move", role=Role.USER)
    async def send_mouse_move(self, request: Req) -> Response[bytes]:
        events = _input(request)
        events.move(_int(request, "to_x", -32768, 32767), _int(request, "to_y", -32768, 32767))
        return answer()

    @post("/events/send_mouse_relative", role=Role.USER)
    async def send_mouse_relative(self, request: Req) -> Response[bytes]:
        events = _input(request)
        events.relative(_int(request, "delta_x", -127, 127, 0), _int(request, "delta_y", -127, 127, 0))
        return answer()

    @post("/events/send_mouse_wheel", role=Role.USER)
    async def send_mouse_wheel(self, request: Req) -> Response[bytes]:
        events = _input(request)
        events.wheel(_int(request, "delta_x", -127, 127, 0), _int(request, "delta_y", -127, 127, 0))
        return answer()
