"""Run by the kvmd client venv's Python 3.13: aiopikvm against our server. Prints what it saw as JSON.

argv: base URL, image path to upload.
"""

import asyncio
import json
import sys
from pathlib import Path

from aiopikvm import PiKVM


async def main(url: str, image: str) -> None:
    seen: dict[str, object] = {}
    async with PiKVM(url, user="admin", passwd="admin") as kvm:
        await kvm.auth.login("admin", "admin")
        seen["check"] = await kvm.auth.check() is not None
        info = await kvm.system.get_info("system", "hw")
        seen["info"] = sorted(info)
        atx = await kvm.atx.get_state()
        seen["atx_enabled"] = atx.enabled
        await kvm.atx.click_power(wait=True)
        await kvm.msd.upload("aio.iso", Path(image).read_bytes())
        await kvm.msd.set_params(cdrom=True)
        msd = await kvm.msd.get_state()
        seen["msd_images"] = sorted(msd.storage.images)
        hid = await kvm.hid.get_state()
        seen["hid_online"] = hid.online
        streamer = await kvm.streamer.get_state()
        seen["streamer_features"] = streamer.features is not None
        await asyncio.sleep(2.5)  # the sim PC boots after the power click
        await kvm.hid.send_key("KeyA")
        async with kvm.ws(stream=0) as ws:
            await ws.send_key("KeyB", state=True)
            await ws.send_key("KeyB", state=False)
            await ws.ping()
            kinds = set()
            async for event in ws.events():
                kinds.add(event.get("event_type"))
                if event.get("event_type") == "pong":
                    break
            seen["ws_events"] = sorted(k for k in kinds if k in ("atx", "hid", "msd", "loop", "pong"))
        jpeg = await kvm.streamer.snapshot(allow_offline=True)
        seen["snapshot"] = jpeg[:2].hex()
        metrics = await kvm.prometheus.get_metrics()
        seen["metrics"] = "pikvm_atx_led" in metrics
        switch = await kvm.switch.get_state()  # no PiKVM Switch attached: nothing active, no ports
        seen["switch"] = [switch.active, sorted(switch.ports)]
        await kvm.auth.logout()
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1], sys.argv[2]))
