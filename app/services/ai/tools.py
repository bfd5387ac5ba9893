"""The MCP server "nanokvm-cube-remote-control" (official ``mcp`` SDK, streamable HTTP).

NanoKVM's six tools (same names and arguments: type text, press keys, move, click and scroll the mouse,
screenshot) plus ours: the screen's text (tesseract), the power LEDs, the ATX buttons, and the image
library. Each tool states the role it needs; the bearer's role (``grant``: the MCP key's, or an API
token's scope) must reach it. Input waits for
and yields to people (``arbiter``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from app.errors import DomainError
from app.services.ai import keycodes
from app.services.ai.arbiter import InputArbiter, Preempted
from app.services.auth.accounts import Role
from app.services.hid import reports
from app.services.hid.keymap import LAYOUTS, Keymap
from app.services.hid.service import HidService
from app.services.media.images import ImageLibrary
from app.services.power import PowerService
from app.services.video import ocr
from app.services.video.capture import Capture
from app.services.video.snapshot import take

NAME = "nanokvm-cube-remote-control"
DEFAULT_TYPE_DELAY_MS, DEFAULT_HOLD_MS, CLICK_MS = 30, 50, 50
MAX_TYPE_RUNES = 1000  # NanoKVM's: 30 s at its 30 ms per character
BUTTONS = {"left": 1, "right": 2, "middle": 4}


@dataclass
class Devices:
    hid: HidService
    capture: Capture
    power: PowerService
    images: ImageLibrary
    grant: Callable[[str], Role | None]  # the bearer's role, None if it is no key or token
    arbiter: InputArbiter


def bearer(headers: object) -> str:
    value = headers.get("authorization", "") if isinstance(headers, dict) else ""
    if not value and hasattr(headers, "get"):
        value = headers.get("authorization") or ""  # a case-insensitive Mapping
    scheme, _, token = str(value).partition(" ")
    return token.strip() if scheme == "Bearer" else ""


def _need(ctx: Context, grant: Callable[[str], Role | None], role: Role, what: str) -> None:
    """Refuse a tool the bearer's role does not reach (checked again at call time: a role change counts)."""
    granted = grant(bearer(ctx.headers or {}))
    if granted is None:
        raise ToolError("invalid MCP API key")
    if granted < role:
        raise ToolError(f"this key's role ({granted.wire}) cannot {what}; it needs {role.wire}")


def build_server(dev: Devices) -> MCPServer:
    server = MCPServer(
        NAME,
        version="1.0.0",
        log_level="WARNING",
        instructions="Drive the keyboard, mouse and power of a KVM-attached PC.",
    )
    hid, grant = dev.hid, dev.grant

    async def as_input(run: Callable[[], object]) -> None:
        try:
            async with dev.arbiter.mcp_input():
                result = run()
                if asyncio.iscoroutine(result):
                    await result
        except Preempted as err:
            hid.send_keyboard(reports.KEYBOARD_RELEASE, manual=False)
            raise ToolError(str(err)) from None

    @server.tool(name="cube_type_text", description="Type short text into the remote host")
    async def type_text(
        text: Annotated[str, Field(description="Text to type on the remote host", max_length=MAX_TYPE_RUNES)],
        ctx: Context,
        delayMs: Annotated[int, Field(ge=0, le=1000, description="Delay between characters (ms)")] = (
            DEFAULT_TYPE_DELAY_MS
        ),
    ) -> dict[str, object]:
        _need(ctx, grant, Role.USER, "type")
        keymap = Keymap.load(LAYOUTS[""])
        skipped: list[str] = []

        async def run() -> None:
            try:
                for char in text:
                    strokes = keymap.strokes(char)
                    if not strokes:
                        skipped.append(char)
                        continue
                    for modifiers, usage in strokes:
                        hid.send_keyboard(reports.keyboard(modifiers, [usage]), manual=False)
                        hid.send_keyboard(reports.KEYBOARD_RELEASE, manual=False)
                    await asyncio.sleep(delayMs / 1000)
            finally:
                hid.send_keyboard(reports.KEYBOARD_RELEASE, manual=False)

        await as_input(run)
        return {"typed": len(text) - len(skipped), "skipped": "".join(skipped), "skippedCount": len(skipped)}

    @server.tool(name="cube_press_keys", description="Press one keyboard shortcut on the remote host")
    async def press_keys(
        keys: Annotated[list[str], Field(min_length=1, max_length=14, description="KeyboardEvent.code key names")],
        ctx: Context,
        holdMs: Annotated[int, Field(ge=0, le=1000)] = DEFAULT_HOLD_MS,
    ) -> dict[str, bool]:
        _need(ctx, grant, Role.USER, "press keys")
        try:
            modifiers, usages = keycodes.combo(keys)
        except ValueError as err:
            raise ToolError(str(err)) from None

        async def run() -> None:
            try:
                hid.send_keyboard(reports.keyboard(modifiers, usages), manual=False)
                await asyncio.sleep(holdMs / 1000)
            finally:
                hid.send_keyboard(reports.KEYBOARD_RELEASE, manual=False)

        await as_input(run)
        return {"ok": True}

    def absolute(x: float | None, y: float | None) -> tuple[int, int]:
        if x is None or y is None or not (0 <= x <= 1 and 0 <= y <= 1):
            raise ToolError("absolute mode requires x and y between 0 and 1")
        return round(x * reports.ABS_MAX), round(y * reports.ABS_MAX)

    @server.tool(name="cube_move_mouse", description="Move the remote mouse pointer")
    async def move_mouse(
        ctx: Context,
        mode: Literal["absolute", "relative"] = "absolute",
        x: Annotated[float | None, Field(ge=0, le=1, description="Absolute normalized x")] = None,
        y: Annotated[float | None, Field(ge=0, le=1, description="Absolute normalized y")] = None,
        deltaX: Annotated[int, Field(ge=-4096, le=4096)] = 0,
        deltaY: Annotated[int, Field(ge=-4096, le=4096)] = 0,
    ) -> dict[str, bool]:
        _need(ctx, grant, Role.USER, "move the mouse")
        if mode == "absolute":
            ax, ay = absolute(x, y)
            await as_input(lambda: hid.send_touchpad(reports.touchpad(0, ax, ay), manual=False))
        else:
            if deltaX == 0 and deltaY == 0:
                raise ToolError("relative mode requires deltaX or deltaY")

            def steps() -> None:
                dx, dy = deltaX, deltaY
                while dx or dy:
                    sx, sy = max(-127, min(127, dx)), max(-127, min(127, dy))
                    hid.send_mouse(reports.mouse(0, sx, sy), manual=False)
                    dx, dy = dx - sx, dy - sy

            await as_input(steps)
        return {"ok": True}

    @server.tool(name="cube_click_mouse", description="Click a remote mouse button")
    async def click_mouse(
        ctx: Context,
        button: Literal["left", "right", "middle"] = "left",
        clicks: Annotated[int, Field(ge=1, le=5)] = 1,
        mode: Literal["absolute", "relative"] = "relative",
        x: Annotated[float | None, Field(ge=0, le=1)] = None,
        y: Annotated[float | None, Field(ge=0, le=1)] = None,
    ) -> dict[str, bool]:
        _need(ctx, grant, Role.USER, "click")
        bit = BUTTONS[button]
        where = absolute(x, y) if mode == "absolute" else None

        async def run() -> None:
            for i in range(clicks):
                if where is None:
                    hid.send_mouse(reports.mouse(bit), manual=False)
                    await asyncio.sleep(CLICK_MS / 1000)
                    hid.send_mouse(reports.MOUSE_RELEASE, manual=False)
                else:
                    hid.send_touchpad(reports.touchpad(bit, *where), manual=False)
                    await asyncio.sleep(CLICK_MS / 1000)
                    hid.send_touchpad(reports.touchpad(0, *where), manual=False)
                if i + 1 < clicks:
                    await asyncio.sleep(CLICK_MS / 1000)

        await as_input(run)
        return {"ok": True}

    @server.tool(name="cube_scroll_mouse", description="Scroll the remote mouse wheel")
    async def scroll_mouse(
        deltaY: Annotated[int, Field(ge=-1270, le=1270, description="Wheel steps, negative = down")],
        ctx: Context,
    ) -> dict[str, bool]:
        _need(ctx, grant, Role.USER, "scroll")

        def run() -> None:
            left = deltaY
            while left:
                step = max(-127, min(127, left))
                hid.send_mouse(reports.mouse(0, 0, 0, step), manual=False)
                left -= step

        await as_input(run)
        return {"ok": True}

    @server.tool(name="cube_screenshot", description="Capture a JPEG screenshot from the remote display")
    async def screenshot(
        ctx: Context, quality: int = 0, timeoutMs: Annotated[int, Field(ge=100, le=30000)] = 5000
    ) -> Image:
        _need(ctx, grant, Role.VIEWER, "see the screen")
        del quality  # the capture loop's quality (screen settings) applies
        try:
            shot = await take(dev.capture, timeoutMs / 1000)
        except TimeoutError:
            raise ToolError("no picture from the capture source") from None
        return Image(data=shot.jpeg, format="jpeg")

    @server.tool(name="cube_screen_text", description="Read the text on the remote display (OCR, tesseract)")
    async def screen_text(ctx: Context, language: str = "eng") -> str:
        _need(ctx, grant, Role.VIEWER, "see the screen")
        try:
            shot = await take(dev.capture, 5.0)
            text: str = await asyncio.to_thread(ocr.recognize, shot.jpeg, language.split("+"))
        except TimeoutError:
            raise ToolError("no picture from the capture source") from None
        except ocr.OcrError as err:
            raise ToolError(str(err)) from None
        return text

    @server.tool(name="cube_power_state", description="The host's power and disk activity LEDs")
    async def power_state(ctx: Context) -> dict[str, bool]:
        _need(ctx, grant, Role.VIEWER, "read the power state")
        try:
            pwr, hdd = await asyncio.to_thread(dev.power.leds)
        except DomainError as err:
            raise ToolError(err.msg) from None
        return {"power": pwr, "hdd": hdd}

    @server.tool(name="cube_press_power", description="Press the host's ATX power or reset button")
    async def press_power(
        ctx: Context,
        button: Literal["power", "reset"] = "power",
        durationMs: Annotated[int, Field(ge=1, le=20000, description="800 = a press, 5000 = force off")] = 800,
    ) -> dict[str, bool]:
        _need(ctx, grant, Role.USER, "press power buttons")
        try:
            await dev.power.press(button, durationMs)
        except DomainError as err:
            raise ToolError(err.msg) from None
        return {"ok": True}

    @server.tool(name="cube_list_images", description="The disk images the KVM can lend the host")
    async def list_images(ctx: Context) -> dict[str, object]:
        _need(ctx, grant, Role.ADMIN, "list images")
        files = await asyncio.to_thread(dev.images.images)
        mounted = await asyncio.to_thread(dev.images.mounted)
        return {"files": files or [], "mounted": mounted}

    @server.tool(name="cube_mount_image", description="Lend the host an image as a USB CD-ROM or disk ('' unmounts)")
    async def mount_image(ctx: Context, file: str, cdrom: bool = True) -> dict[str, bool]:
        _need(ctx, grant, Role.ADMIN, "mount images")
        try:
            await asyncio.to_thread(dev.images.mount, file, cdrom)
        except DomainError as err:
            raise ToolError(err.msg) from None
        return {"ok": True}

    del type_text, press_keys, move_mouse, click_mouse, scroll_mouse, screenshot, screen_text
    del power_state, press_power, list_images, mount_image
    return server
