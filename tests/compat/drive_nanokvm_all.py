"""Every public call of the installed ``nanokvm`` client library (1.2.0 or 1.4.1) against our server.

Run by a venv that has one version of the library; prints one JSON object: for every public method of
``NanoKVMClient``, ``"ok"`` or the error it raised (type and text), plus ``checks`` (what the calls read
back) and ``untested`` (public methods this script has no call for, which the test refuses). The pytest
side (tests/compat/test_nanokvm_every_call.py) prepares the device root, the update server and the
files named in the settings argument, and asserts on the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from nanokvm.client import NanoKVMClient
from nanokvm.models import (
    GpioType,
    HidMode,
    MouseButton,
    MouseJigglerMode,
    RunScriptType,
    ScreenSettingType,
    ShortcutKey,
    VirtualDevice,
)

try:  # 1.4.x only
    from nanokvm.models import AIControlMode, InputRegionMode
except ImportError:
    AIControlMode = InputRegionMode = None  # type: ignore[assignment,misc]

NEW = version("nanokvm").startswith("1.4.")
Call = Callable[[NanoKVMClient], Awaitable[object]]


class Run:
    def __init__(self, client: NanoKVMClient, settings: dict[str, str]) -> None:
        self.client = client
        self.settings = settings
        self.outcome: dict[str, str] = {}
        self.checks: dict[str, object] = {}

    async def call(self, name: str, make: Call) -> object:
        """Run one library call; its outcome is ``ok`` or the error's type and text."""
        if not hasattr(self.client, name):
            return None  # not in this version of the library
        try:
            result = await make(self.client)
        except Exception as err:  # the outcome names the error; the test decides if it is expected
            said = getattr(err, "msg", None)  # NanoKVMApiError: the server's msg, which 1.4.1's text omits
            self.outcome[name] = f"{type(err).__name__}: {err}" + (f" [{said}]" if said else "")
            return None
        self.outcome[name] = "ok"
        return result


async def first_frame(client: NanoKVMClient, method: str) -> object:
    stream = getattr(client, method)()
    async with contextlib.aclosing(stream) as frames:
        async for frame in frames:
            return frame
    raise RuntimeError("the stream ended without a frame")


async def first_ws_message(client: NanoKVMClient) -> str:
    ws = await client.open_ws("stream/h264")
    try:
        message = await ws.receive(timeout=10)
        return str(json.loads(message.data)["event"])
    finally:
        await ws.close()


async def last_download_status(client: NanoKVMClient) -> str:
    status = ""
    async for step in client.watch_image_download(poll_interval=0.2):
        status = str(step.status)
    return status


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return False


async def session_and_system(run: Run, password: str, new_password: str) -> None:
    c = run.client
    await run.call("authenticate", lambda c: c.authenticate("admin", password))
    await run.call("detect_hardware", lambda c: c.detect_hardware())
    await run.call("detect_versions", lambda c: c.detect_versions())
    run.checks["properties"] = {
        "token": bool(c.token),
        "url": str(c.url) if hasattr(c, "url") else None,
        "hw_version": str(c.hw_version),
        "application_version": getattr(c, "application_version", None),
        "image_version": getattr(c, "image_version", None),
    }
    properties = ("token", "url", "hw_version", "application_version", "image_version")
    run.outcome.update({name: "ok" for name in properties if hasattr(NanoKVMClient, name)})
    info = await run.call("get_info", lambda c: c.get_info())
    run.checks["info"] = getattr(info, "application", None)
    await run.call("get_hardware", lambda c: c.get_hardware())
    account = await run.call("get_account", lambda c: c.get_account())
    run.checks["account"] = getattr(account, "username", None)
    await run.call("is_password_updated", lambda c: c.is_password_updated())
    if NEW:
        await run.call("change_password", lambda c: c.change_password("admin", new_password, current_password=password))
        await c.authenticate("admin", new_password)
    else:
        await run.call("change_password", lambda c: c.change_password("admin", new_password))

    await run.call("get_gpio", lambda c: c.get_gpio())
    await run.call("push_button", lambda c: c.push_button(GpioType.POWER, 200))
    run.checks["powered"] = await wait_for(lambda: _pwr(c))
    await asyncio.sleep(0.5)  # the PC's USB stack comes up with it

    await run.call("set_hostname", lambda c: c.set_hostname("every-call"))
    run.checks["hostname"] = getattr(await run.call("get_hostname", lambda c: c.get_hostname()), "hostname", None)
    await run.call("set_web_title", lambda c: c.set_web_title("Every call"))
    run.checks["web_title"] = getattr(await run.call("get_web_title", lambda c: c.get_web_title()), "title", None)
    await run.call("enable_ssh", lambda c: c.enable_ssh())
    ssh_on = await run.call("get_ssh_state", lambda c: c.get_ssh_state())
    await run.call("disable_ssh", lambda c: c.disable_ssh())
    ssh_off = await c.get_ssh_state()
    run.checks["ssh"] = [getattr(ssh_on, "enabled", None), ssh_off.enabled]
    await run.call("enable_mdns", lambda c: c.enable_mdns())
    mdns_on = await run.call("get_mdns_state", lambda c: c.get_mdns_state())
    await run.call("disable_mdns", lambda c: c.disable_mdns())
    run.checks["mdns"] = [getattr(mdns_on, "enabled", None), (await c.get_mdns_state()).enabled]
    await run.call("set_oled_sleep", lambda c: c.set_oled_sleep(60))
    await run.call("get_oled_info", lambda c: c.get_oled_info())
    before = await run.call("get_virtual_device_status", lambda c: c.get_virtual_device_status())
    await run.call("update_virtual_device", lambda c: c.update_virtual_device(VirtualDevice.NETWORK))
    after = await c.get_virtual_device_status()
    run.checks["virtual_network"] = [getattr(before, "network", None), after.network]
    await run.call("set_swap_size", lambda c: c.set_swap_size(64))
    run.checks["swap"] = await run.call("get_swap_size", lambda c: c.get_swap_size())
    await c.set_swap_size(0)
    await run.call("enable_swap", lambda c: c.enable_swap())
    await run.call("disable_swap", lambda c: c.disable_swap())
    await run.call("set_memory_limit", lambda c: c.set_memory_limit(True, 64))
    limit = await run.call("get_memory_limit", lambda c: c.get_memory_limit())
    run.checks["memory_limit"] = [getattr(limit, "enabled", None), getattr(limit, "limit", None)]
    await run.call("set_screen", lambda c: c.set_screen(ScreenSettingType.QUALITY, 80))


async def _pwr(client: NanoKVMClient) -> bool:
    return bool((await client.get_gpio()).pwr)


async def hid_and_video(run: Run) -> None:
    c = run.client
    await run.call("set_mouse_jiggler_state", lambda c: c.set_mouse_jiggler_state(True, MouseJigglerMode.RELATIVE))
    jiggler = await run.call("get_mouse_jiggler_state", lambda c: c.get_mouse_jiggler_state())
    run.checks["jiggler"] = [getattr(jiggler, "enabled", None), str(getattr(jiggler, "mode", None))]
    await c.set_mouse_jiggler_state(False, MouseJigglerMode.RELATIVE)
    run.checks["hid_mode"] = str(getattr(await run.call("get_hid_mode", lambda c: c.get_hid_mode()), "mode", None))
    await run.call("set_hid_mode", lambda c: c.set_hid_mode(HidMode.NORMAL))
    await run.call("get_keyboard_led_status", lambda c: c.get_keyboard_led_status())
    await run.call(
        "add_shortcut",
        lambda c: c.add_shortcut([ShortcutKey(code="ControlLeft", label="Ctrl"), ShortcutKey(code="KeyL", label="L")]),
    )
    shortcuts = await run.call("get_shortcuts", lambda c: c.get_shortcuts())
    listed = getattr(shortcuts, "shortcuts", None) or []
    run.checks["shortcuts"] = [[key.code for key in item.keys] for item in listed]
    if listed:
        await run.call("delete_shortcut", lambda c: c.delete_shortcut(listed[0].id))
    run.checks["shortcuts_after"] = len((await c.get_shortcuts()).shortcuts or [])
    await run.call("set_leader_key", lambda c: c.set_leader_key("ControlRight"))
    run.checks["leader_key"] = getattr(await run.call("get_leader_key", lambda c: c.get_leader_key()), "key", None)
    await c.set_leader_key("")
    await run.call("reset_hid", lambda c: c.reset_hid())
    await asyncio.sleep(0.5)
    await run.call("paste_text", lambda c: c.paste_text("Every call 42"))
    await run.call("mouse_move_abs", lambda c: c.mouse_move_abs(0.5, 0.5))
    await run.call("mouse_move_rel", lambda c: c.mouse_move_rel(0.1, 0.0))
    await run.call("mouse_down", lambda c: c.mouse_down(MouseButton.LEFT))
    await run.call("mouse_up", lambda c: c.mouse_up())
    await run.call("mouse_click", lambda c: c.mouse_click(MouseButton.RIGHT))
    await run.call("mouse_scroll", lambda c: c.mouse_scroll(0.0, -0.5))
    await asyncio.sleep(0.3)

    await run.call(
        "set_input_region",
        lambda c: c.set_input_region(
            InputRegionMode.MANUAL, frame_width=1920, frame_height=1080, left=0, top=0, width=1920, height=1080
        ),
    )
    region = await run.call("get_input_region", lambda c: c.get_input_region())
    run.checks["input_region"] = str(getattr(region, "mode", None))
    await run.call("get_input_resolution", lambda c: c.get_input_resolution())
    await hdmi_calls(run)
    frame = await run.call("mjpeg_stream_bytes", lambda c: first_frame(c, "mjpeg_stream_bytes"))
    run.checks["mjpeg_bytes"] = bytes(frame[:2]).hex() if isinstance(frame, (bytes, bytearray)) else None
    image = await run.call("mjpeg_stream", lambda c: first_frame(c, "mjpeg_stream"))
    run.checks["mjpeg_image"] = list(getattr(image, "size", ()))
    run.checks["h264_ws"] = await run.call("open_ws", first_ws_message)


async def hdmi_calls(run: Run) -> None:
    c = run.client
    await run.call("disable_hdmi", lambda c: c.disable_hdmi())
    state = await run.call("get_hdmi_state", lambda c: c.get_hdmi_state())
    await run.call("enable_hdmi", lambda c: c.enable_hdmi())
    await run.call("reset_hdmi", lambda c: c.reset_hdmi())
    await run.call("set_hdmi_idle_timeout", lambda c: c.set_hdmi_idle_timeout(30))
    again = await c.get_hdmi_state() if "get_hdmi_state" in run.outcome and state is not None else None
    run.checks["hdmi"] = [getattr(state, "enabled", None), getattr(again, "enabled", None)]
    if again is not None and hasattr(again, "idle_timeout"):
        run.checks["hdmi_timeout"] = again.idle_timeout


async def storage(run: Run) -> None:
    c, s = run.client, run.settings
    uploaded = await run.call("upload_script", lambda c: c.upload_script(s["script"]))
    name = getattr(uploaded, "file", "")
    run.checks["scripts"] = getattr(await run.call("get_scripts", lambda c: c.get_scripts()), "files", None)
    log = await run.call("run_script", lambda c: c.run_script(name, RunScriptType.FOREGROUND))
    run.checks["script_log"] = getattr(log, "log", None)
    await run.call("delete_script", lambda c: c.delete_script(name))

    status = await run.call("get_image_download_status", lambda c: c.get_image_download_status())
    run.checks["download_status_before"] = str(getattr(status, "status", None))
    enabled = await run.call("is_image_download_enabled", lambda c: c.is_image_download_enabled())
    run.checks["download_enabled"] = getattr(enabled, "enabled", None)
    await run.call("download_image", lambda c: c.download_image(s["download_url"]))
    if NEW:
        run.checks["download_done"] = await run.call("watch_image_download", last_download_status)
    else:  # 1.2.0 cannot read the finished state (see the test); the image list shows it
        await wait_for(lambda: _has_image(c, "/data/downloaded.iso"))
    try:
        run.checks["download_status"] = str((await c.get_image_download_status()).status)
    except Exception as err:  # 1.2.0's model knows only idle and in_progress
        run.checks["download_status"] = type(err).__name__
    run.checks["images_after_download"] = (await c.get_images()).files
    await run.call("delete_image", lambda c: c.delete_image("/data/downloaded.iso"))

    await run.call("upload_image", lambda c: c.upload_image(s["iso"], sha256=s["iso_sha256"]))
    if not NEW:  # 1.2.0 has no upload: the image comes by download
        await c.download_image(s["download_url"].replace("downloaded.iso", "every-call.iso"))
        await wait_for(lambda: _has_image(c, "/data/every-call.iso"))
    run.checks["images"] = getattr(await run.call("get_images", lambda c: c.get_images()), "files", None)
    image = "/data/every-call.iso"
    await run.call("mount_image", lambda c: c.mount_image(image, cdrom=True))
    mounted = await run.call("get_mounted_image", lambda c: c.get_mounted_image())
    cdrom = await run.call("get_cdrom_status", lambda c: c.get_cdrom_status())
    run.checks["mounted"] = [getattr(mounted, "file", None), getattr(cdrom, "cdrom", None)]
    await c.mount_image()
    run.checks["unmounted"] = (await c.get_mounted_image()).file
    await c.delete_image(image)
    run.checks["images_after_delete"] = (await c.get_images()).files

    if hasattr(c, "cancel_image_download"):  # a download that trickles, cancelled while it runs
        await c.download_image(s["slow_url"])
        run.checks["slow_download"] = await wait_for(lambda: _download_running(c))
        await run.call("cancel_image_download", lambda c: c.cancel_image_download())
        run.checks["after_cancel"] = str((await c.get_image_download_status()).status)
        run.checks["images_after_cancel"] = (await c.get_images()).files


async def _has_image(client: NanoKVMClient, path: str) -> bool:
    return path in ((await client.get_images()).files or [])


async def _download_running(client: NanoKVMClient) -> bool:
    return str((await client.get_image_download_status()).status).lower().endswith("in_progress")


async def network(run: Run) -> None:
    c, s = run.client, run.settings
    wifi = await run.call("get_wifi_status", lambda c: c.get_wifi_status())
    run.checks["wifi_ap_mode"] = getattr(wifi, "ap_mode", None)
    await run.call("verify_ap_login", lambda c: c.verify_ap_login(s["ap_key"]))
    await run.call("connect_wifi_no_auth", lambda c: c.connect_wifi_no_auth("Lab", "correct horse", s["ap_key"]))
    await run.call("connect_wifi", lambda c: c.connect_wifi("Lab 2", "battery staple"))
    run.checks["wifi_ssid"] = (await c.get_wifi_status()).ssid
    await run.call("disconnect_wifi", lambda c: c.disconnect_wifi())
    run.checks["wifi_connected_after"] = (await c.get_wifi_status()).connected
    await run.call("send_wake_on_lan", lambda c: c.send_wake_on_lan("52:54:00:12:34:56"))
    await run.call("set_wol_mac_name", lambda c: c.set_wol_mac_name("52:54:00:12:34:56", "lab pc"))
    macs = await run.call("get_wol_macs", lambda c: c.get_wol_macs())
    run.checks["wol_macs"] = [str(mac) for mac in getattr(macs, "macs", None) or []]
    await run.call("delete_wol_mac", lambda c: c.delete_wol_mac("52:54:00:12:34:56"))
    run.checks["wol_macs_after"] = [str(mac) for mac in (await c.get_wol_macs()).macs or []]
    await run.call("set_dns", lambda c: c.set_dns("manual", ["9.9.9.9", "1.1.1.1"]))
    dns = await run.call("get_dns", lambda c: c.get_dns())
    run.checks["dns"] = [str(getattr(dns, "mode", None)), list(getattr(dns, "servers", None) or [])]


async def services(run: Run) -> None:
    c, s = run.client, run.settings
    tailscale = await run.call("get_tailscale_status", lambda c: c.get_tailscale_status())
    run.checks["tailscale_before"] = str(getattr(tailscale, "state", None))
    for verb in ("install", "start", "login", "down", "up", "restart", "logout", "stop", "uninstall"):
        answer = await run.call(f"tailscale_{verb}", lambda c, verb=verb: getattr(c, f"tailscale_{verb}")())
        if verb == "login":
            run.checks["tailscale_login_url"] = bool(getattr(answer, "url", ""))
    run.checks["tailscale_after"] = str((await c.get_tailscale_status()).state)

    await run.call("set_update_server", lambda c: c.set_update_server(True, s["update_url"]))
    server = await run.call("get_update_server", lambda c: c.get_update_server())
    run.checks["update_server"] = [getattr(server, "enabled", None), getattr(server, "url", None)]
    await run.call("set_preview_state", lambda c: c.set_preview_state(False))
    preview = await run.call("get_preview_status", lambda c: c.get_preview_status())
    run.checks["preview"] = getattr(preview, "enabled", None)
    versions = await run.call("get_application_version", lambda c: c.get_application_version())
    run.checks["versions"] = [getattr(versions, "current", None), getattr(versions, "latest", None)]
    await run.call("update_application", lambda c: c.update_application())
    run.checks["version_after_update"] = (await c.get_application_version()).current
    await run.call("update_application_offline", lambda c: c.update_application_offline(s["offline_bundle"]))

    if NEW:
        enabled = await run.call("set_mcp_enabled", lambda c: c.set_mcp_enabled(True))
        run.checks["mcp_key_shown"] = bool(getattr(enabled, "api_key", ""))
        await run.call("get_mcp_config", lambda c: c.get_mcp_config())
        await run.call("regenerate_mcp_api_key", lambda c: c.regenerate_mcp_api_key())
        await run.call("get_ai_control_status", lambda c: c.get_ai_control_status())
        mode = await run.call("set_ai_control_mode", lambda c: c.set_ai_control_mode(AIControlMode.OFF))
        run.checks["ai_mode"] = str(getattr(mode, "mode", None))


async def users(run: Run) -> None:
    c = run.client
    if not NEW:
        return  # 1.2.0 has no user calls
    await run.call("create_user", lambda c: c.create_user("helper", "Helper-pass-42", "user"))
    await run.call("update_user", lambda c: c.update_user("helper", role="admin"))
    await run.call("set_user_password", lambda c: c.set_user_password("helper", "Helper-pass-43"))
    listed = await run.call("get_users", lambda c: c.get_users())
    run.checks["users"] = sorted(f"{u.username}:{u.role}" for u in getattr(listed, "users", None) or [])
    async with NanoKVMClient(str(c.url)) as helper:
        await helper.authenticate("helper", "Helper-pass-43")
        run.checks["helper_login"] = bool(helper.token)
    await run.call("delete_user", lambda c: c.delete_user("helper"))
    run.checks["users_after"] = sorted(u.username for u in (await c.get_users()).users)


# Pro-only calls (and PCIe-only ones on other hardware): the library refuses them itself on our
# hardware, before any request; each is called so the refusal is seen, not assumed.
PRO_ONLY: dict[str, Call] = {
    "switch_to_pikvm": lambda c: c.switch_to_pikvm(),
    "refresh_virtual_device": lambda c: c.refresh_virtual_device("emmc"),
    "get_lcd_time_format": lambda c: c.get_lcd_time_format(),
    "set_lcd_time_format": lambda c: c.set_lcd_time_format("24h"),
    "get_low_power": lambda c: c.get_low_power(),
    "set_low_power": lambda c: c.set_low_power(True),
    "get_led_strip": lambda c: c.get_led_strip(),
    "set_led_strip": lambda c: c.set_led_strip(on=True),
    "get_timezone": lambda c: c.get_timezone(),
    "set_timezone": lambda c: c.set_timezone("UTC"),
    "get_time_status": lambda c: c.get_time_status(),
    "sync_time": lambda c: c.sync_time(),
    "get_menubar_config": lambda c: c.get_menubar_config(),
    "set_menubar_config": lambda c: c.set_menubar_config([]),
    "get_hdmi_capture": lambda c: c.get_hdmi_capture(),
    "set_hdmi_capture": lambda c: c.set_hdmi_capture(True),
    "get_hdmi_passthrough": lambda c: c.get_hdmi_passthrough(),
    "set_hdmi_passthrough": lambda c: c.set_hdmi_passthrough(True),
    "get_edid": lambda c: c.get_edid(),
    "switch_edid": lambda c: c.switch_edid("E18-4K30FPS"),
    "get_custom_edid_list": lambda c: c.get_custom_edid_list(),
    "upload_edid": lambda c: c.upload_edid(__file__),
    "delete_edid": lambda c: c.delete_edid("custom.bin"),
    "get_static_ip": lambda c: c.get_static_ip(),
    "set_static_ip": lambda c: c.set_static_ip(True, "192.168.1.2/24"),
    "scan_wifi": lambda c: c.scan_wifi(),
    "set_rate_control_mode": lambda c: c.set_rate_control_mode("cbr"),
    "set_stream_mode": lambda c: c.set_stream_mode("mjpeg"),
    "set_stream_quality": lambda c: c.set_stream_quality(80),
    "set_gop": lambda c: c.set_gop(30),
    "set_fps": lambda c: c.set_fps(30),
    "assistant_install": lambda c: c.assistant_install(),
    "assistant_start": lambda c: c.assistant_start(),
    "kvmadmin_install": lambda c: c.kvmadmin_install(),
    "kvmadmin_uninstall": lambda c: c.kvmadmin_uninstall(),
    "kvmadmin_start": lambda c: c.kvmadmin_start(),
    "kvmadmin_stop": lambda c: c.kvmadmin_stop(),
    "kvmadmin_status": lambda c: c.kvmadmin_status(),
}


async def the_end(run: Run) -> None:
    for name, make in PRO_ONLY.items():
        await run.call(name, make)
    await run.call("reboot_system", lambda c: c.reboot_system())
    await run.call("logout", lambda c: c.logout())
    try:
        await run.client.get_info()
        run.checks["after_logout"] = "answered"
    except Exception as err:  # the library's own error type differs between versions
        run.checks["after_logout"] = type(err).__name__


async def main(url: str, settings: dict[str, str]) -> dict[str, Any]:
    async with NanoKVMClient(url) as client:
        run = Run(client, settings)
        if settings.get("only") == "hdmi":  # the PCIe board: only its HDMI calls
            await client.authenticate("admin", settings["password"])
            await hdmi_calls(run)
        else:
            await session_and_system(run, settings["password"], settings["new_password"])
            for section in (hid_and_video, storage, network, services, users, the_end):
                try:
                    await section(run)
                except Exception as err:  # a read-back failed: the test shows it, the other sections still run
                    run.checks[f"{section.__name__} stopped"] = f"{type(err).__name__}: {err}"
    public = {name for name, _ in inspect.getmembers(NanoKVMClient) if not name.startswith("_")}
    return {
        "version": version("nanokvm"),
        "outcome": run.outcome,
        "checks": run.checks,
        "untested": sorted(public - set(run.outcome)) if settings.get("only") is None else [],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))))
