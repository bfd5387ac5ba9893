#!/usr/bin/env python3
"""Run the real-kernel test tier: ``python tests/kernel/run.py [pytest args]``.

Boots one QEMU/TCG guest running Debian 12's own kernel, with the host's ``/`` as its
root (read-only 9p + tmpfs overlay), and runs ONE pytest process over
``tests/kernel/guest/`` in it with the Python that runs this script (the project venv).
Exits with pytest's status. See tests/kernel/README.md.

Environment:
  KVM_TIER_CACHE    cache directory (default /var/cache/kvm-kernel-tier)
  KVM_TIER_KERNEL   kernel flavour, e.g. 6.1.0-56-amd64 (default: linux-image-amd64's)
  KVM_TIER_TIMEOUT  seconds before the guest is killed (default 900)
  KVM_TIER_JUNIT    copy the guest's junit xml here
  KVM_TIER_KEEP=1   keep the /out directory (console log, dmesg) even on success
  CI=true           a tier that cannot run is a failure instead of a skip

``run.py --setup-only`` only fills the cache.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
CHECKOUT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import kernel_cache  # noqa: E402

BANNER = "!" * 78


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def cannot_run(reason: str) -> int:
    """Loud skip; a failure under CI."""
    verdict = "FAILING (CI=true)" if in_ci() else "SKIPPED"
    print(f"{BANNER}\nkernel tier {verdict}: {reason}\n{BANNER}", flush=True)
    return 1 if in_ci() else 0


def preflight() -> str | None:
    """Why the tier cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root (apt-get installs and a cache under /var/cache)"
    try:
        if not stat.S_ISCHR(pathlib.Path("/dev/null").stat().st_mode):
            return "/dev/null is not a character device; /dev is not usable"
    except OSError as exc:
        return f"/dev is not usable: {exc}"
    if shutil.which("qemu-system-x86_64") is None and shutil.which("apt-get") is None:
        return "no qemu-system-x86_64 and no apt-get to install it"
    for path in (CHECKOUT, pathlib.Path(sys.executable), kernel_cache.cache_dir()):
        if any(c.isspace() for c in str(path)):
            return f"path {path} contains white space (it goes on the kernel command line)"
    return None


class LogFollower:
    """Print what the guest appends to /out/pytest.log while it runs."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.pos = 0

    def pump(self) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            self.pos += len(chunk)
            sys.stdout.write(chunk.decode("utf-8", "replace"))
            sys.stdout.flush()


def qemu_argv(kernel: kernel_cache.Kernel, out: pathlib.Path) -> list[str]:
    cmdline = " ".join(
        [
            "console=ttyS0",
            "quiet",
            "panic=-1",
            "rdinit=/init",
            f"kt.init={HERE / 'guest-init.sh'}",
            f"kt.src={CHECKOUT}",
            f"kt.py={sys.executable}",
            f"kt.kdir={kernel.kroot}",
            f"kt.kver={kernel.kver}",
        ]
    )
    accel = os.environ.get("KVM_TIER_ACCEL", "tcg")
    return [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-cpu",
        "max" if accel == "tcg" else "host",
        "-smp",
        "2",
        "-m",
        "2048",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        f"file:{out / 'console.log'}",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(kernel.vmlinux),
        "-initrd",
        str(kernel.initramfs),
        "-append",
        cmdline,
        "-virtfs",
        "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs",
        f"local,path={out},mount_tag=out,security_model=none",
    ]


def junit_counts(path: pathlib.Path) -> dict[str, int] | None:
    try:
        root = ET.parse(path).getroot()  # noqa: S314 -- written by our own guest pytest
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, "0"))
    return counts


def tail(path: pathlib.Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(none)"
    return "\n".join(text.splitlines()[-lines:])


def boot(kernel: kernel_cache.Kernel, out: pathlib.Path, pytest_args: list[str]) -> tuple[int | None, bool]:
    """Run the guest; returns (pytest status or None, timed out)."""
    (out / "pytest-args").write_text("".join(a + "\n" for a in pytest_args))
    timeout = float(os.environ.get("KVM_TIER_TIMEOUT", "900"))
    follower = LogFollower(out / "pytest.log")
    argv = qemu_argv(kernel, out)
    (out / "qemu-argv").write_text("\n".join(argv) + "\n")
    deadline = time.monotonic() + timeout
    timed_out = False
    with (out / "qemu.log").open("wb") as qlog:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                follower.pump()
                if time.monotonic() > deadline:
                    timed_out = True
                    proc.kill()
                    break
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    follower.pump()
    try:
        rc: int | None = int((out / "rc").read_text().strip())
    except (OSError, ValueError):
        rc = None
    if rc is None and proc.returncode not in (0, None):
        print(f"qemu exited with status {proc.returncode}:\n{tail(out / 'qemu.log', 20)}")
    return rc, timed_out


def main(argv: list[str]) -> int:
    t_start = time.monotonic()
    setup_only = bool(argv) and argv[0] == "--setup-only"
    pytest_args = argv[1:] if setup_only else argv
    reason = preflight()
    if reason:
        return cannot_run(reason)
    with contextlib.ExitStack() as stack:
        try:
            kernel = stack.enter_context(kernel_cache.session())
        except (kernel_cache.SetupError, OSError) as exc:
            return cannot_run(f"set-up failed: {exc}")
        if shutil.which("qemu-system-x86_64") is None:
            return cannot_run("qemu-system-x86_64 is still missing after set-up")
        t_setup = time.monotonic() - t_start
        if setup_only:
            print(f"kernel tier: cache ready for {kernel.kver} in {t_setup:.1f} s ({kernel.dir})")
            return 0

        out = pathlib.Path(tempfile.mkdtemp(prefix="kernel-tier-"))
        print(f"kernel tier: booting {kernel.kver} under TCG (out: {out})", flush=True)
        t_boot = time.monotonic()
        rc, timed_out = boot(kernel, out, pytest_args)
    t_run = time.monotonic() - t_boot
    t_total = time.monotonic() - t_start

    if rc is None:
        what = "timed out" if timed_out else "ended without a test status"
        print(f"\nkernel tier: the guest {what}. Console tail:\n{tail(out / 'console.log', 40)}")
        status = 1
    else:
        status = rc
    if status != 0:
        print(f"\n--- guest dmesg (tail) ---\n{tail(out / 'dmesg.txt', 40)}\n--- end of dmesg ---")
    junit_dest = os.environ.get("KVM_TIER_JUNIT")
    if junit_dest and (out / "junit.xml").is_file():
        shutil.copyfile(out / "junit.xml", junit_dest)

    counts = junit_counts(out / "junit.xml")
    if counts is None:
        summary = "no test results"
    else:
        failed = counts["failures"] + counts["errors"]
        passed = counts["tests"] - failed - counts["skipped"]
        summary = f"{passed} passed, {failed} failed, {counts['skipped']} skipped"
    print(
        f"kernel tier: {summary} (exit {status}) in {t_total:.1f} s (setup {t_setup:.1f} s, boot+tests {t_run:.1f} s)",
        flush=True,
    )
    if status == 0 and os.environ.get("KVM_TIER_KEEP") != "1":
        shutil.rmtree(out, ignore_errors=True)
    else:
        print(f"kernel tier: guest logs kept in {out}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
