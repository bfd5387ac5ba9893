"""Run by the kvmd client venv: pikvm-lib (sync; its WebSocket is always wss://). Prints JSON.

argv: host:port (HTTPS), image path to upload, directory for its log and snapshot.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("PIKVM_LIB_LOG_FILE", str(Path(sys.argv[3]) / "pikvm.log"))

from pikvm_lib import PiKVM


def main(host: str, image: str, workdir: str) -> None:
    seen: dict[str, object] = {}
    kvm = PiKVM(host, "admin", "admin")  # opens /api/ws?stream=0 itself
    seen["info"] = sorted(kvm.get_system_info())
    seen["atx"] = kvm.get_atx_state().get("enabled")
    kvm.click_atx_button("power")
    kvm.upload_msd_image(image, "lib.iso")
    kvm.set_msd_parameters("lib.iso", cdrom=True)
    kvm.connect_msd()
    msd = kvm.get_msd_state()
    seen["msd_connected"] = msd["drive"]["connected"]
    seen["msd_image"] = msd["drive"]["image"]["name"]
    kvm.disconnect_msd()
    time.sleep(2.5)  # the sim PC boots after the power click
    kvm.press("c")
    image_object = kvm.get_streamer_image()  # waits for a streamer event with source.online first
    seen["snapshot_size"] = list(image_object.size)
    kvm.ws_client.close()
    print(json.dumps(seen))


main(*sys.argv[1:4])
