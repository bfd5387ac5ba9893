"""Host-side set-up of the kernel test tier, cached outside the checkout.

Everything comes from Debian's apt repositories:

* apt packages: qemu-system-x86, busybox-static, cpio, kmod, and for the GPIO
  simulator build gcc/make plus linux-headers-<kver>;
* the kernel: ``apt-get download linux-image-<kver>``, extracted, ``depmod``-ed, and an
  uncompressed ``vmlinux`` cut out of ``vmlinuz`` (QEMU boots it through the PVH entry
  point, which saves the XZ decompression under TCG);
* gpio-sim, irq_sim and gpio-mockup built out of tree from ``linux-source-6.1`` (Debian
  builds neither) and installed into the extracted tree's ``extra/`` directory;
* an initramfs: busybox plus the virtio/9p/overlay modules and ``initramfs-init.sh``.

Layout (``KVM_TIER_CACHE``, default ``/var/cache/kvm-kernel-tier``)::

    .lock                    flock: exclusive while setting up, shared while a guest runs
    <kver>/kroot/            the extracted kernel package (modules, /boot/config-*)
    <kver>/vmlinux
    <kver>/initramfs-<hash>.cpio
    <kver>/*.done            stamps: a step is redone when its recipe string changes

Nothing here is committed; the GPL kernel sources are only ever built here.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

HERE = pathlib.Path(__file__).resolve().parent

# Bump a recipe string to force that step to be redone on every machine.
KERNEL_RECIPE = "kernel-v1"
GPIO_RECIPE = "gpio-v1"

HOST_PACKAGES = ["qemu-system-x86", "busybox-static", "cpio", "kmod"]
BUILD_PACKAGES = ["gcc", "make"]  # plus linux-headers-<kver>, added at run time
INITRAMFS_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]
GPIO_SOURCES = {
    "drivers/gpio/gpio-sim.c": "gpio-sim.c",
    "drivers/gpio/gpio-mockup.c": "gpio-mockup.c",
    "drivers/gpio/gpiolib.h": "gpiolib.h",
    "kernel/irq/irq_sim.c": "irq_sim.c",
}
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_OPTS = ["-o", "DPkg::Lock::Timeout=300", "-o", "Acquire::Retries=3"]


class SetupError(RuntimeError):
    """Set-up could not be done; the message says why."""


@dataclass
class Kernel:
    kver: str
    dir: pathlib.Path
    kroot: pathlib.Path
    vmlinux: pathlib.Path
    initramfs: pathlib.Path


def log(msg: str) -> None:
    print(f"[kernel-tier] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("KVM_TIER_CACHE", "/var/cache/kvm-kernel-tier"))


def run(argv: list[str], *, cwd: pathlib.Path | None = None) -> str:
    """Run a command (argument list, never a shell string); return stdout; SetupError on failure."""
    env = dict(os.environ, **APT_ENV, LC_ALL="C")
    proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SetupError(f"command failed ({proc.returncode}): {' '.join(argv)}\n{tail}")
    return proc.stdout


@contextmanager
def locked(path: pathlib.Path) -> Iterator[int]:
    """Hold an exclusive flock on ``path``; yields the fd so the caller may downgrade it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for the cache lock {path} (another run is setting up)")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


# --- apt ------------------------------------------------------------------------------

_apt_updated = False


def apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        run(["apt-get", *APT_OPTS, "update"])
        _apt_updated = True


def missing_packages(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}", name],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0 or not proc.stdout.startswith("ii"):
            missing.append(name)
    return missing


def apt_install(names: list[str]) -> None:
    missing = missing_packages(names)
    if not missing:
        return
    log(f"apt-get install {' '.join(missing)}")
    argv = ["apt-get", *APT_OPTS, "install", "-y", "--no-install-recommends", *missing]
    try:
        run(argv)
    except SetupError:
        apt_update()  # stale or absent package lists are the usual cause
        run(argv)


def apt_download(name: str, dest: pathlib.Path) -> pathlib.Path:
    """``apt-get download`` one package into ``dest``; returns the .deb path."""
    dest.mkdir(parents=True, exist_ok=True)
    log(f"apt-get download {name}")
    try:
        run(["apt-get", *APT_OPTS, "download", name], cwd=dest)
    except SetupError:
        apt_update()
        run(["apt-get", *APT_OPTS, "download", name], cwd=dest)
    debs = sorted(dest.glob(f"{name}_*.deb"))
    if not debs:
        raise SetupError(f"apt-get download {name} left no .deb in {dest}")
    return debs[-1]


def kernel_version() -> str:
    """The kernel flavour to use: $KVM_TIER_KERNEL, else what linux-image-amd64 depends on."""
    forced = os.environ.get("KVM_TIER_KERNEL")
    if forced:
        return forced.removeprefix("linux-image-")
    for attempt in range(2):
        out = subprocess.run(
            ["apt-cache", "depends", "linux-image-amd64"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        ).stdout
        found = re.findall(r"Depends:\s*linux-image-(\d[\w.+-]*-amd64)\b", out)
        if found:
            return str(found[0])
        if attempt == 0:
            apt_update()
    raise SetupError("cannot tell the kernel version: 'apt-cache depends linux-image-amd64' names no linux-image-*")


# --- steps ----------------------------------------------------------------------------


def stamp_ok(stamp: pathlib.Path, recipe: str) -> bool:
    return stamp.is_file() and stamp.read_text().strip() == recipe


def extract_vmlinux(vmlinuz: pathlib.Path, out: pathlib.Path) -> None:
    """Cut the XZ stream out of a bzImage and decompress it to the ELF ``vmlinux``."""
    data = vmlinuz.read_bytes()
    offset = data.find(b"\xfd7zXZ\x00")
    if offset < 0:
        raise SetupError(f"{vmlinuz}: no XZ stream found (kernel not XZ-compressed?)")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[offset:])
    if not elf.startswith(b"\x7fELF"):
        raise SetupError(f"{vmlinuz}: decompressed payload is not an ELF image")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.replace(out)


def setup_kernel(kver: str, kdir: pathlib.Path) -> None:
    stamp = kdir / "kernel.done"
    if stamp_ok(stamp, KERNEL_RECIPE):
        return
    t0 = time.monotonic()
    for stale in (kdir / "kroot", kdir / "gpio.done"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    with tempfile.TemporaryDirectory(dir=kdir, prefix="dl-") as tmp:
        deb = apt_download(f"linux-image-{kver}", pathlib.Path(tmp))
        log(f"extracting {deb.name}")
        run(["dpkg-deb", "-x", str(deb), str(kdir / "kroot")])
    run(["depmod", "-b", str(kdir / "kroot"), kver])
    extract_vmlinux(kdir / "kroot" / "boot" / f"vmlinuz-{kver}", kdir / "vmlinux")
    stamp.write_text(KERNEL_RECIPE + "\n")
    log(f"kernel {kver} ready in {time.monotonic() - t0:.1f} s")


def _extract_gpio_sources(deb: pathlib.Path, dest: pathlib.Path) -> None:
    """Stream the four source files out of linux-source-*.deb without unpacking it all."""
    wanted = dict(GPIO_SOURCES)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as outer:
            for member in outer:
                if not re.fullmatch(r"\./usr/src/linux-source-[\d.]+\.tar\.xz", member.name):
                    continue
                inner_file = outer.extractfile(member)
                assert inner_file is not None
                with tarfile.open(fileobj=inner_file, mode="r|xz") as inner:
                    for item in inner:
                        rel = item.name.split("/", 1)[-1]
                        if rel in wanted and item.isfile():
                            src = inner.extractfile(item)
                            assert src is not None
                            (dest / wanted.pop(rel)).write_bytes(src.read())
                            if not wanted:
                                break
                break
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()
    if wanted:
        raise SetupError(f"{deb.name}: did not find {', '.join(sorted(wanted))}")


def setup_gpio_modules(kver: str, kdir: pathlib.Path) -> None:
    """Build gpio-sim, irq_sim and gpio-mockup out of tree, install them into kroot/.../extra."""
    stamp = kdir / "gpio.done"
    if stamp_ok(stamp, GPIO_RECIPE):
        return
    t0 = time.monotonic()
    headers = pathlib.Path(f"/usr/src/linux-headers-{kver}")
    apt_install([*BUILD_PACKAGES, f"linux-headers-{kver}"])
    if not headers.is_dir():
        raise SetupError(f"{headers} missing after installing linux-headers-{kver}")
    series = ".".join(kver.split(".")[:2])  # "6.1"
    with tempfile.TemporaryDirectory(dir=kdir, prefix="gpio-") as tmp_s:
        tmp = pathlib.Path(tmp_s)
        deb = apt_download(f"linux-source-{series}", tmp / "dl")
        build = tmp / "build"
        build.mkdir()
        log(f"extracting gpio-sim sources from {deb.name}")
        _extract_gpio_sources(deb, build)
        deb.unlink()
        irq_sim = build / "irq_sim.c"
        text = irq_sim.read_text()
        # irq_to_desc() is not exported to modules; generic_handle_irq() does the same here.
        patched = text.replace("handle_simple_irq(irq_to_desc(irqnum));", "generic_handle_irq(irqnum);")
        if patched == text and "irq_to_desc(" in text:
            raise SetupError("irq_sim.c: the irq_to_desc() edit no longer applies; update kernel_cache.py")
        if "MODULE_LICENSE" not in patched:
            patched += '\nMODULE_LICENSE("GPL");\n'
        irq_sim.write_text(patched)
        (build / "Kbuild").write_text("obj-m := irq_sim.o gpio-mockup.o gpio-sim.o\n")
        log("building irq_sim, gpio-sim, gpio-mockup")
        jobs = str(os.cpu_count() or 2)
        run(["make", "-s", "-j", jobs, "-C", str(headers), f"M={build}", "modules"])
        extra = kdir / "kroot" / "lib" / "modules" / kver / "extra"
        extra.mkdir(parents=True, exist_ok=True)
        for ko in ("irq_sim.ko", "gpio-sim.ko", "gpio-mockup.ko"):
            shutil.copy2(build / ko, extra / ko)
    run(["depmod", "-b", str(kdir / "kroot"), kver])
    stamp.write_text(GPIO_RECIPE + "\n")
    log(f"gpio modules ready in {time.monotonic() - t0:.1f} s")


def _module_files(kroot: pathlib.Path, kver: str) -> list[pathlib.Path]:
    """The .ko files (dependencies first) needed to mount 9p and overlay in the initramfs."""
    out = "".join(run(["modprobe", "-d", str(kroot), "-S", kver, "--show-depends", m]) for m in INITRAMFS_MODULES)
    files: list[pathlib.Path] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "insmod":
            path = pathlib.Path(parts[1])
            if path not in files:
                files.append(path)
    return files


def setup_initramfs(
    kver: str,
    kdir: pathlib.Path,
    kroot: pathlib.Path | None = None,
    busybox: pathlib.Path = pathlib.Path("/bin/busybox"),
) -> pathlib.Path:
    """busybox (the host's, or another architecture's for tests/arch) + the 9p/overlay modules from
    ``kroot`` (default ``kdir/kroot``) + ``initramfs-init.sh``, cached in ``kdir`` by content."""
    init = (HERE / "initramfs-init.sh").read_bytes()
    modules = _module_files(kroot or kdir / "kroot", kver)
    digest = hashlib.sha256(init)
    if busybox != pathlib.Path("/bin/busybox"):  # the kernel tier's own key stays as it was
        digest.update(str(busybox).encode())
    for mod in modules:
        digest.update(mod.name.encode())
    key = digest.hexdigest()[:12]
    target = kdir / f"initramfs-{key}.cpio"
    if target.is_file():
        return target
    for old in kdir.glob("initramfs-*.cpio"):
        old.unlink()
    with tempfile.TemporaryDirectory(dir=kdir, prefix="initramfs-") as tmp_s:
        tmp = pathlib.Path(tmp_s)
        for sub in ("bin", "dev", "proc", "sys", "mnt", "newroot", "modules"):
            (tmp / sub).mkdir()
        shutil.copy2(busybox, tmp / "bin" / "busybox")
        (tmp / "init").write_bytes(init)
        (tmp / "init").chmod(0o755)
        order = []
        for mod in modules:
            data = mod.read_bytes()
            name = mod.name
            if name.endswith(".xz"):
                data, name = lzma.decompress(data), name[: -len(".xz")]
            (tmp / "modules" / name).write_bytes(data)
            order.append(name)
        (tmp / "modules" / "order").write_text("\n".join(order) + "\n")
        names = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))
        with target.with_suffix(".tmp").open("wb") as out:
            subprocess.run(
                ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                cwd=tmp,
                input=("\n".join(names) + "\n").encode(),
                stdout=out,
                check=True,
            )
        target.with_suffix(".tmp").replace(target)
    log(f"initramfs {target.name}: busybox + {len(modules)} modules")
    return target


def _prune_other_kernels(cache: pathlib.Path, keep: str) -> None:
    """Drop cached kernels other than ``keep`` (called under the exclusive lock)."""
    for old in cache.iterdir():
        if old.is_dir() and old.name != keep and (old / "kernel.done").exists():
            log(f"removing the cached kernel {old.name}")
            shutil.rmtree(old, ignore_errors=True)


def _setup_locked(cache: pathlib.Path) -> Kernel:
    apt_install(HOST_PACKAGES)
    kver = kernel_version()
    if not re.fullmatch(r"[\w.+-]+", kver):
        raise SetupError(f"odd kernel version {kver!r}")
    kdir = cache / kver
    kdir.mkdir(exist_ok=True)
    setup_kernel(kver, kdir)
    setup_gpio_modules(kver, kdir)
    initramfs = setup_initramfs(kver, kdir)
    _prune_other_kernels(cache, kver)
    return Kernel(kver, kdir, kdir / "kroot", kdir / "vmlinux", initramfs)


@contextmanager
def session() -> Iterator[Kernel]:
    """Set up (idempotent) under the exclusive cache lock, then hold the lock shared while the
    caller boots the guest, so no other run rebuilds or prunes what the guest reads."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with locked(cache / ".lock") as fd:
        kernel = _setup_locked(cache)
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield kernel


def setup() -> Kernel:
    """Make sure everything is in the cache (idempotent, under the cache lock)."""
    with session() as kernel:
        return kernel


if __name__ == "__main__":
    try:
        k = setup()
    except SetupError as exc:
        log(f"set-up failed: {exc}")
        sys.exit(1)
    print(k)
