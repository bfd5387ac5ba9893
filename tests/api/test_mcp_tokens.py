"""API tokens as MCP keys: an agent sends one of our tokens (``/api/security/tokens``) as its Bearer key
and its tools are gated by the token's scope; revoking the token ends its MCP requests within a second.
Driven by the official MCP Python client over streamable HTTP, as tests/api/test_mcp.py."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.api.h264 import power_on
from tests.api.test_mcp import client, enable, host, text_of
from tests.conftest import RunningApp

LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def token(admin: httpx.Client, role: str) -> tuple[str, str]:
    answer = admin.post("/api/security/tokens", json={"name": f"agent ({role})", "role": role}).json()
    assert answer["code"] == 0, answer
    return answer["data"]["token"], answer["data"]["info"]["id"]


async def wait_for_text(admin: httpx.Client, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in str(host(admin)["text"]):
        assert time.monotonic() < deadline, host(admin)
        await asyncio.sleep(0.1)


async def test_a_token_acts_with_its_scope(kvm: RunningApp) -> None:
    admin = kvm.login()
    enable(admin, role="viewer")  # the MCP key's own role does not matter to a token
    await asyncio.to_thread(power_on, admin)
    viewer, _ = token(admin, "viewer")
    user, _ = token(admin, "user")
    before = host(admin)["reports"]
    async with client(kvm, viewer) as mcp:
        assert "cube_type_text" in {tool.name for tool in (await mcp.list_tools()).tools}
        refused = await mcp.call_tool("cube_type_text", {"text": "nope"})
        assert refused.is_error and "role (viewer) cannot type" in text_of(refused), text_of(refused)
        assert not (await mcp.call_tool("cube_power_state", {})).is_error
        shot = await mcp.call_tool("cube_screenshot", {})
        assert not shot.is_error and shot.content[0].type == "image"
    assert host(admin)["reports"] == before  # nothing reached the PC
    async with client(kvm, user) as mcp:
        typed = await mcp.call_tool("cube_type_text", {"text": "agent"})
        assert not typed.is_error, text_of(typed)
        mount = await mcp.call_tool("cube_mount_image", {"file": ""})
        assert mount.is_error and "role (user) cannot mount images" in text_of(mount)
    await wait_for_text(admin, "agent")


def test_what_is_not_an_mcp_credential(kvm: RunningApp) -> None:
    admin = kvm.login()
    enable(admin)
    session = admin.cookies.get("nano-kvm-token")  # a login's token: for people, not agents
    assert session
    for bearer in (session, "nkt_" + "A" * 43, "nkt_"):
        refused = kvm.client().post("/api/mcp", json=LIST, headers={**ACCEPT, "Authorization": f"Bearer {bearer}"})
        assert (refused.status_code, refused.json()) == (401, {"error": "invalid MCP API key"}), bearer
    # Outside mcp mode a token is refused like the key.
    user, _ = token(admin, "user")
    assert admin.put("/api/ai/control/mode", json={"mode": "off"}).json()["code"] == 0
    off = kvm.client().post("/api/mcp", json=LIST, headers={**ACCEPT, "Authorization": f"Bearer {user}"})
    assert (off.status_code, off.json()) == (403, {"error": "MCP service is disabled"})


async def test_revoking_a_token_ends_its_requests_within_a_second(kvm: RunningApp) -> None:
    admin = kvm.login()
    key = enable(admin)
    await asyncio.to_thread(power_on, admin)
    secret, token_id = token(admin, "user")
    async with client(kvm, secret) as mcp, client(kvm, key) as other:
        job = asyncio.create_task(mcp.call_tool("cube_type_text", {"text": "c" * 400, "delayMs": 50}))
        await wait_for_text(admin, "c")
        assert (await asyncio.to_thread(admin.delete, f"/api/security/tokens/{token_id}")).json()["code"] == 0
        await asyncio.sleep(1.0)
        count = str(host(admin)["text"]).count("c")
        await asyncio.sleep(1.0)
        assert str(host(admin)["text"]).count("c") == count < 400  # typing ended within the second
        with pytest.raises(Exception):  # noqa: B017 - the request ended: the client sees an error
            result = await asyncio.wait_for(job, 10)
            if result.is_error:
                raise RuntimeError(text_of(result))
        # The MCP key and other agents are untouched.
        assert not (await other.call_tool("cube_power_state", {})).is_error
    refused = kvm.client().post("/api/mcp", json=LIST, headers={**ACCEPT, "Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
