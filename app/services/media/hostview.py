"""What the USB host (the sim PC) sees of the gadget: the medium in the drive and the network card.

Read from the gadget tree as a host would enumerate it: nothing while the gadget is unbound. The sim
host shows it on its screen (a line such as ``USB CD-ROM: UBUNTU_24_04`` / ``USB network: connected``).
"""

from __future__ import annotations

import msgspec

from app.board.gadget import GADGET, LUN, NO_IMAGE
from app.paths import DeviceRoot, read_text
from app.services.media import iso
from app.services.media.images import resolve_in_data


class HostUsbView(msgspec.Struct):
    bound: bool
    disk: str  # "" (no mass-storage function), "cdrom" or "flash"
    medium: str  # device path of the image, "" for none or the data partition
    label: str | None  # the ISO 9660 volume label of the medium, None if it is not an ISO
    network: str  # "" (none), "rndis" or "ncm"


def host_view(root: DeviceRoot) -> HostUsbView:
    g0 = root(GADGET)
    bound = bool(read_text(g0 / "UDC"))
    config = g0 / "configs/c.1"
    disk, medium, label, network = "", "", None, ""
    if bound and (config / "mass_storage.disk0").exists():
        disk = "cdrom" if read_text(root(f"{LUN}/cdrom")) == "1" else "flash"
        medium = read_text(root(f"{LUN}/file"))
        medium = "" if medium == NO_IMAGE else medium
        resolved = resolve_in_data(root, medium, ()) if medium else None
        label = iso.volume_label(resolved.real) if resolved is not None else None
    if bound:
        network = "ncm" if (config / "ncm.usb0").exists() else "rndis" if (config / "rndis.usb0").exists() else ""
    return HostUsbView(bound, disk, medium, label, network)
