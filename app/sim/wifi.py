"""The sim board's stand-in for kvm_system's Wi-Fi side (the sim board has no radio)."""

from __future__ import annotations

from app.paths import DeviceRoot, atomic_write
from app.services.network.wifi import AP_MODE, EXIST, STATE, TRY_CONNECT, Timing

# kvm_system's stand-in answers at once, so the waits are short.
SIM_TIMING = Timing(ap_settle=0.0, poll_interval=0.05, poll_tries=7, reconnect_settle=0.0, disconnect_settle=0.0)


def sim_kvm_system(root: DeviceRoot) -> None:
    """What kvm_system would do with a hand-over when the sim device has Wi-Fi (``/etc/kvm/wifi_exist``):
    join (any network). Without it nothing happens, so ``connect`` fails as NanoKVM's does when the
    connection does not come up."""
    if not root(EXIST).exists():
        return
    root(TRY_CONNECT).unlink(missing_ok=True)
    root(AP_MODE).unlink(missing_ok=True)
    atomic_write(root(STATE), b"1\n")
