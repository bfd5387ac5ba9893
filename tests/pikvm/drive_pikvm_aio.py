"""Run by the kvmd client venv: pikvm-aio (aiohttp, HTTP Basic). Prints JSON. argv: base URL."""

import asyncio
import json
import sys

from pikvm_aio import PiKVMClient


async def main(url: str) -> None:
    seen: dict[str, object] = {}
    async with PiKVMClient(url, "admin", "admin", verify_ssl=False) as client:
        seen["auth"] = await client.get_raw_auth_check() == {}
        info = await client.get_info()
        seen["name"] = info.name
        seen["kvmd_version"] = info.kvmd_version
        seen["serial"] = info.serial
        diagnostics = await client.get_all_diagnostics()
        seen["diagnostics"] = sorted(k for k, v in diagnostics.items() if v)
        await client.power_action("click")  # pikvm-aio's action; kvmd's is a click of the power button
    print(json.dumps(seen, default=str))


asyncio.run(main(sys.argv[1]))
