"""The MCP server at /api/mcp, driven by the official MCP Python client over streamable HTTP (spec 4.10)."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time

import cv2
import httpx
import numpy as np
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.api.h264 import power_on
from tests.conftest import RunningApp

INPUT_TOOLS = {"cube_type_text", "cube_press_keys", "cube_move_mouse", "cube_click_mouse", "cube_scroll_mouse"}


def enable(admin: httpx.Client, role: str = "user") -> str:
    answer = admin.post("/api/mcp/config", json={"enabled": True, "role": role}).json()
    assert answer["code"] == 0 and answer["data"]["controlMode"] == "mcp", answer
    key: str = answer["data"]["apiKey"]
    assert key.startswith("nag_mcp_")
    return key


def client(kvm: RunningApp, key: str) -> Client:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return Client(streamable_http_client(f"{kvm.url}/api/mcp", http_client=http))


def host(admin: httpx.Client) -> dict[str, object]:
    data: dict[str, object] = admin.get("/api/sim/host").json()["data"]
    return data


def text_of(result: object) -> str:
    return "".join(getattr(part, "text", "") for part in getattr(result, "content", []))


@pytest.fixture
def mcp_kvm(kvm: RunningApp) -> tuple[RunningApp, httpx.Client, str]:
    admin = kvm.login()
    return kvm, admin, enable(admin)


async def test_types_hello_and_reads_it_back(mcp_kvm: tuple[RunningApp, httpx.Client, str]) -> None:
    kvm, admin, key = mcp_kvm
    if shutil.which("tesseract") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tesseract missing (task test installs tesseract-ocr)")
        pytest.skip("tesseract missing: apt-get install tesseract-ocr")
    await asyncio.to_thread(power_on, admin)
    async with client(kvm, key) as mcp:
        tools = {tool.name for tool in (await mcp.list_tools()).tools}
        assert INPUT_TOOLS | {"cube_screenshot", "cube_screen_text", "cube_power_state", "cube_mount_image"} <= tools
        typed = await mcp.call_tool("cube_type_text", {"text": "hello"})
        assert not typed.is_error and typed.structured_content == {"typed": 5, "skipped": "", "skippedCount": 0}
        deadline = time.monotonic() + 10
        while "hello" not in str(host(admin)["text"]):
            assert time.monotonic() < deadline, host(admin)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # a frame painted after the last key
        shot = await mcp.call_tool("cube_screenshot", {})
        assert not shot.is_error and shot.content[0].type == "image" and shot.content[0].mime_type == "image/jpeg"
        picture = cv2.imdecode(np.frombuffer(base64.b64decode(shot.content[0].data), np.uint8), cv2.IMREAD_COLOR)
        assert picture is not None and picture.shape[:2] == (1080, 1920)
        # The screenshot itself shows what was typed: Debian's tesseract reads the JPEG the tool returned.
        seen = await asyncio.to_thread(
            subprocess.run,
            ["tesseract", "stdin", "stdout"],
            input=base64.b64decode(shot.content[0].data),
            capture_output=True,
            timeout=60,
            check=True,
        )
        assert "hello" in seen.stdout.decode(errors="replace").lower(), seen.stdout
        read = await mcp.call_tool("cube_screen_text", {})
        assert not read.is_error, text_of(read)
        assert "hello" in text_of(read).lower(), text_of(read)
        power = await mcp.call_tool("cube_power_state", {})
        assert power.structured_content is not None and power.structured_content["power"] is True


async def test_a_viewer_key_cannot_type_nor_mount(mcp_kvm: tuple[RunningApp, httpx.Client, str]) -> None:
    kvm, admin, key = mcp_kvm
    answer = admin.post("/api/mcp/config", json={"enabled": True, "role": "viewer"}).json()
    assert answer["data"] == {
        "enabled": True,
        "apiKey": "",
        "controlMode": "mcp",
        "transitioning": False,
        "role": "viewer",
    }
    before = host(admin)["reports"]
    async with client(kvm, key) as mcp:
        for name, args in (
            ("cube_type_text", {"text": "x"}),
            ("cube_press_keys", {"keys": ["Enter"]}),
            ("cube_click_mouse", {}),
            ("cube_press_power", {}),
            ("cube_mount_image", {"file": ""}),
        ):
            result = await mcp.call_tool(name, args)
            assert result.is_error and "role (viewer) cannot" in text_of(result), (name, text_of(result))
        assert not (await mcp.call_tool("cube_power_state", {})).is_error
    assert host(admin)["reports"] == before


def test_refusals_before_the_sdk(kvm: RunningApp) -> None:
    admin = kvm.login()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    off = kvm.client().post("/api/mcp", json=body, headers=headers)
    assert (off.status_code, off.json()) == (403, {"error": "MCP service is disabled"})
    key = enable(admin)
    for auth in ({}, {"Authorization": "Bearer nag_mcp_wrong"}, {"Authorization": key}):
        refused = kvm.client().post("/api/mcp", json=body, headers={**headers, **auth})
        assert (refused.status_code, refused.json()) == (401, {"error": "invalid MCP API key"})
    good = {**headers, "Authorization": f"Bearer {key}"}
    for browser in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = kvm.client().post("/api/mcp", json=body, headers={**good, **browser})
        assert refused.status_code == 403 and refused.text.startswith("cross-origin request detected"), refused.text
    host_header = kvm.url.removeprefix("http://")
    same = kvm.client().post("/api/mcp", json=body, headers={**good, "Origin": kvm.url, "Host": host_header})
    assert same.status_code == 200 and "cube_type_text" in same.text
    # The key is shown once: reading the config again does not reveal it.
    assert admin.get("/api/mcp/config").json()["data"]["apiKey"] == ""
    assert admin.get("/api/mcp/config").headers["cache-control"] == "no-store"
    assert key not in kvm.path("/etc/kvm/mcp.json").read_text()
    # A new key ends the old one; switching AI control off ends MCP.
    fresh = admin.post("/api/mcp/key/regenerate").json()["data"]["apiKey"]
    assert fresh != key and fresh.startswith("nag_mcp_")
    assert kvm.client().post("/api/mcp", json=body, headers=good).status_code == 401
    off_answer = admin.put("/api/ai/control/mode", json={"mode": "off"}).json()
    assert off_answer["code"] == 0 and off_answer["data"]["control"]["mode"] == "off"
    assert kvm.client().post("/api/mcp", json=body, headers={**good, "Authorization": f"Bearer {fresh}"}).json() == {
        "error": "MCP service is disabled"
    }


async def test_manual_input_preempts_and_delays_mcp(mcp_kvm: tuple[RunningApp, httpx.Client, str]) -> None:
    kvm, admin, key = mcp_kvm
    await asyncio.to_thread(power_on, admin)
    async with client(kvm, key) as mcp:
        # A slow MCP typing job; a person's paste meanwhile ends it.
        job = asyncio.create_task(mcp.call_tool("cube_type_text", {"text": "a" * 200, "delayMs": 50}))
        deadline = time.monotonic() + 10
        while "a" not in str(host(admin)["text"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        pasted = await asyncio.to_thread(admin.post, "/api/hid/paste", json={"content": "Z"})
        assert pasted.json()["code"] == 0
        result = await asyncio.wait_for(job, 20)
        assert result.is_error and "manual input" in text_of(result)
        assert str(host(admin)["text"]).count("a") < 200
        # Right after a person's input an MCP operation waits about two seconds before it starts.
        await asyncio.to_thread(admin.post, "/api/hid/paste", json={"content": "Y"})
        started = time.monotonic()
        assert not (await mcp.call_tool("cube_press_keys", {"keys": ["ShiftLeft"]})).is_error
        assert time.monotonic() - started >= 1.5


async def test_revoking_the_key_ends_a_running_request_within_a_second(
    mcp_kvm: tuple[RunningApp, httpx.Client, str],
) -> None:
    kvm, admin, key = mcp_kvm
    await asyncio.to_thread(power_on, admin)
    async with client(kvm, key) as mcp:
        job = asyncio.create_task(mcp.call_tool("cube_type_text", {"text": "b" * 400, "delayMs": 50}))
        deadline = time.monotonic() + 10
        while "b" not in str(host(admin)["text"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.to_thread(admin.post, "/api/mcp/key/regenerate")
        await asyncio.sleep(1.0)
        count = str(host(admin)["text"]).count("b")
        await asyncio.sleep(1.0)
        assert str(host(admin)["text"]).count("b") == count < 400  # typing ended within the second
        with pytest.raises(Exception):  # noqa: B017 - the request ended: the client sees an error
            result = await asyncio.wait_for(job, 10)
            if result.is_error:
                raise RuntimeError(text_of(result))
