"""Drive our server with the real ``nanokvm`` client library; run by a venv that has one version of it.

Prints one JSON object with what the client saw, for the pytest side to assert on. It uses only
the library's public methods, as Home Assistant does.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from importlib.metadata import version

import aiohttp
from nanokvm.client import NanoKVMAuthenticationFailure, NanoKVMClient
from nanokvm.models import GpioType, MouseButton
from nanokvm.utils import obfuscate_password


async def change_default_password(client: NanoKVMClient, url: str, new: str) -> None:
    """What the server demands first. 1.4.x has the call (current password included); 1.2.0 sends no
    current password, so the script posts the request itself, as a curl script would."""
    if version("nanokvm").startswith("1.2."):
        body = {"currentPassword": obfuscate_password("admin"), "password": obfuscate_password(new)}
        cookies = {"nano-kvm-token": client.token or ""}
        change = f"{url}auth/password"
        async with aiohttp.ClientSession(cookies=cookies) as http, http.post(change, json=body) as answer:
            assert (await answer.json())["code"] == 0
    else:
        await client.change_password("admin", new, current_password="admin")


async def main(url: str, password: str) -> dict[str, object]:
    seen: dict[str, object] = {"version": version("nanokvm")}
    async with NanoKVMClient(url) as client:
        try:
            await client.authenticate("admin", "wrong-password")
            seen["wrong_password"] = "accepted"
        except NanoKVMAuthenticationFailure:
            seen["wrong_password"] = "refused"
        # A fresh device: admin/admin logs in, but nothing else works until the password is changed.
        await client.authenticate("admin", "admin")
        try:
            await client.get_gpio()
            seen["before_change"] = "answered"
        except Exception as err:  # the library's own error type differs between versions
            seen["before_change"] = type(err).__name__
        await change_default_password(client, url, password)
        await client.authenticate("admin", password)
        seen["token"] = bool(client.token)
        info = await client.get_info()
        seen["info"] = {"application": info.application, "image": info.image, "device_key": info.device_key}
        seen["ips"] = [ip.addr for ip in info.ips or []]
        seen["hardware"] = str((await client.get_hardware()).version)
        gpio = await client.get_gpio()
        seen["gpio_before"] = {"pwr": gpio.pwr, "hdd": gpio.hdd}
        # Home Assistant's 30 s poll: every one of these must answer, or the whole poll fails.
        seen["poll"] = {
            "hostname": (await client.get_hostname()).hostname,
            "ssh": (await client.get_ssh_state()).enabled,
            "mdns": (await client.get_mdns_state()).enabled,
            "hid_mode": str((await client.get_hid_mode()).mode),
            "oled": (await client.get_oled_info()).exist,
            "wifi": (await client.get_wifi_status()).supported,
            "jiggler": (await client.get_mouse_jiggler_state()).enabled,
            "tailscale": str((await client.get_tailscale_status()).state),
        }
        await client.push_button(GpioType.POWER, 200)
        deadline = time.monotonic() + 10
        while not (await client.get_gpio()).pwr and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        seen["gpio_after"] = (await client.get_gpio()).pwr
        await asyncio.sleep(0.5)  # the PC's USB stack comes up with it
        # Home Assistant's paste service and the library's WebSocket mouse.
        await client.paste_text("Hello from HA 42")
        await client.mouse_move_abs(0.5, 0.25)
        await client.mouse_click(MouseButton.LEFT)
        await asyncio.sleep(0.3)
        await client.logout()
        try:
            await client.get_info()
            seen["after_logout"] = "answered"
        except Exception as err:  # the library's own error type differs between versions
            seen["after_logout"] = type(err).__name__
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
