"""``/api/hid/*`` and the mouse jiggler (spec 4.3)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Controller

from app.api.envelope import Envelope, ok, parse_body
from app.api.routing import Req, delete, get, post, services
from app.board.gadget import MODE_FILE, Gadget, GadgetError, read_mode
from app.errors import Busy, Failed, InvalidArgument
from app.paths import atomic_write, read_text
from app.services.auth.accounts import Role
from app.services.hid.service import HidService, LedState
from app.services.hid.shortcuts import Key, Shortcuts

GADGET = "/sys/kernel/config/usb_gadget/g0"
HID_MODES = {"0x0510": "normal", "0x0623": "hid-only"}


class PasteRequest(msgspec.Struct):
    content: str
    langue: str = ""


class ShortcutRequest(msgspec.Struct):
    keys: list[Key]


class ShortcutId(msgspec.Struct):
    id: str


class LeaderKey(msgspec.Struct):
    key: str


class HidMode(msgspec.Struct):
    mode: str


class JigglerState(msgspec.Struct):
    enabled: bool
    mode: str


def _rebuild(gadget: Gadget, hid: HidService) -> None:
    with hid.detached():
        gadget.stop()
        gadget.start()


class HidController(Controller):
    path = "/api/hid"

    @get("/leds", role=Role.VIEWER)
    async def leds(self, request: Req) -> Envelope[LedState]:
        return ok(services(request).hid.leds())

    @post("/paste", role=Role.USER, body=PasteRequest)
    async def paste(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, PasteRequest)
        services(request).hid.note_manual()  # a person's paste goes before an agent's input
        await services(request).paster.paste(body.content, body.langue)
        return ok()

    @get("/shortcuts", role=Role.VIEWER)
    async def shortcuts(self, request: Req) -> Envelope[Shortcuts]:
        return ok(services(request).shortcuts.all())

    @post("/shortcut", role=Role.ADMIN, body=ShortcutRequest)
    async def add_shortcut(self, request: Req) -> Envelope[None]:
        keys = (await parse_body(request, ShortcutRequest)).keys
        await asyncio.to_thread(services(request).shortcuts.add, keys)
        return ok()

    @delete("/shortcut", role=Role.ADMIN, body=ShortcutId)
    async def delete_shortcut(self, request: Req) -> Envelope[None]:
        shortcut_id = (await parse_body(request, ShortcutId)).id
        await asyncio.to_thread(services(request).shortcuts.delete, shortcut_id)
        return ok()

    @get("/shortcut/leader-key", role=Role.VIEWER)
    async def leader_key(self, request: Req) -> Envelope[LeaderKey]:
        return ok(LeaderKey(services(request).shortcuts.leader_key()))

    @post("/shortcut/leader-key", role=Role.ADMIN, body=LeaderKey)
    async def set_leader_key(self, request: Req) -> Envelope[None]:
        key = (await parse_body(request, LeaderKey)).key
        await asyncio.to_thread(services(request).shortcuts.set_leader_key, key)
        return ok()

    @get("/mode", role=Role.VIEWER)
    async def mode(self, request: Req) -> Envelope[HidMode]:
        """Inferred from the gadget's bcdDevice, as NanoKVM does (spec 4.3, quirk 21)."""
        bcd = read_text(services(request).root(f"{GADGET}/bcdDevice")).lower()
        if bcd not in HID_MODES:
            raise Failed("get HID mode failed")
        return ok(HidMode(HID_MODES[bcd]))

    @post("/mode", role=Role.ADMIN, body=HidMode)
    async def set_mode(self, request: Req) -> Envelope[None]:
        """Switch between the full composite gadget and the keyboard-and-mouse-only one.

        NanoKVM swaps its init script and reboots; we rebuild the gadget in place, no reboot."""
        mode = (await parse_body(request, HidMode)).mode
        if mode not in HID_MODES.values():
            raise InvalidArgument("invalid arguments: mode must be normal or hid-only")
        svc = services(request)
        if svc.paster.busy:
            raise Busy("HID control is busy", code=-3)
        if read_mode(svc.root) == mode:
            return ok()
        try:
            atomic_write(svc.root(MODE_FILE), mode.encode())
            await asyncio.to_thread(_rebuild, svc.gadget, svc.hid)
        except (OSError, GadgetError) as err:
            raise Failed(f"switch HID mode failed: {err}", code=-2) from None
        return ok()

    @post("/reset", role=Role.ADMIN)
    async def reset(self, request: Req) -> Envelope[None]:
        if services(request).paster.busy:
            raise Busy("HID control is busy")
        services(request).hid.reset()
        return ok()


class JigglerController(Controller):
    path = "/api/vm"

    @get("/mouse-jiggler", role=Role.ADMIN)
    async def jiggler(self, request: Req) -> Envelope[JigglerState]:
        enabled, mode = services(request).jiggler.state()
        return ok(JigglerState(enabled, mode))

    # NanoKVM's POST route is /api/vm/mouse-jiggler/ (gin_wire redirects the bare form to it).
    @post("/mouse-jiggler", role=Role.ADMIN, body=JigglerState)
    async def set_jiggler(self, request: Req) -> Envelope[None]:
        body = await parse_body(request, JigglerState)
        await asyncio.to_thread(services(request).jiggler.set, body.enabled, body.mode)  # writes a file
        return ok(None)
