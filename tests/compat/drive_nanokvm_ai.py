"""The ``nanokvm`` 1.4.1 client's newer calls (NanoKVM >= 2.5.0/2.5.1) against our server: input region
and resolution, MCP config and key, AI control mode. Prints what it saw as JSON."""

from __future__ import annotations

import asyncio
import json
import sys

from nanokvm.client import NanoKVMClient
from nanokvm.models import AIControlMode, InputRegionMode


async def main(url: str) -> dict[str, object]:
    seen: dict[str, object] = {}
    async with NanoKVMClient(url) as client:
        await client.authenticate("admin", "admin")
        seen["region"] = str((await client.get_input_region()).mode)
        await client.set_input_region(
            InputRegionMode.MANUAL, frame_width=1920, frame_height=1080, left=0, top=60, width=1920, height=960
        )
        region = await client.get_input_region()
        seen["region_after"] = [str(region.mode), region.top, region.height]
        size = await client.get_input_resolution()
        seen["resolution"] = [size.width, size.height]
        seen["ai"] = str((await client.get_ai_control_status()).mode)
        enabled = await client.set_mcp_enabled(True)
        seen["mcp"] = [enabled.enabled, enabled.api_key.startswith("nag_mcp_"), str(enabled.control_mode)]
        seen["mcp_read"] = (await client.get_mcp_config()).api_key  # shown once: empty now
        seen["regenerated"] = (await client.regenerate_mcp_api_key()).api_key.startswith("nag_mcp_")
        seen["mode_off"] = str((await client.set_ai_control_mode(AIControlMode.OFF)).mode)
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
