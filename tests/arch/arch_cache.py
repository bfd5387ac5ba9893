"""Host-side set-up of the architecture tier (``tests/arch/run.py``), cached outside the checkout.

For each architecture (riscv64, arm64, and amd64 as the TCG baseline) everything comes from
Debian trixie's archive for that architecture (bookworm has no riscv64) and from PyPI:

* a private apt root (``apt/``: trixie's package lists for riscv64, arm64 and amd64; the host's
  own apt configuration is not touched) resolves the app's image packages for that architecture:
  ``apt-get install --download-only`` into an empty status, then every .deb is *extracted* into
  ``<arch>/rootfs`` (``dpkg-deb -x``: no maintainer script runs, so nothing of the foreign
  architecture is executed on the host);
* the kernel ``linux-image-<kver>`` (what ``linux-image-<arch>`` depends on) goes into the same
  rootfs, and ``depmod`` runs over it on the host;
* native Python packages Debian lacks or has too old come from PyPI wheels for that architecture,
  at the versions the project venv runs (``NATIVE_WHEELS``), unpacked into
  ``/usr/local/lib/python3.X/dist-packages``; where PyPI has no wheel the gap is reported
  (``Rootfs.missing``) and shows up in the app's start;
* the rootfs's Python modules are byte-compiled by a host Python of the same version (byte code
  is the same on every architecture) when the host has one: Debian's postinst would do that;
* an initramfs of that architecture's busybox plus the virtio/9p/overlay modules, with the kernel
  tier's ``initramfs-init.sh``.

Layout (``KVM_ARCH_CACHE``, default ``/var/cache/kvm-arch-tier``)::

    .lock                 flock: exclusive while setting up, shared while guests run
    apt/                  the private apt root (lists; debs/<arch>/ the downloaded packages)
    <arch>/rootfs/        the extracted image (9p root of the guest, read-only + tmpfs overlay)
    <arch>/kernel         the kernel QEMU boots (decompressed where QEMU needs it)
    <arch>/initramfs-<hash>.cpio
    <arch>/rootfs.done    stamp: redone when the recipe (package list, versions) changes

Nothing here is committed.
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import gzip
import hashlib
import importlib.metadata
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "kernel"))

import kernel_cache  # noqa: E402
from kernel_cache import SetupError, run  # noqa: E402

MIRROR = os.environ.get("KVM_ARCH_MIRROR", "http://deb.debian.org/debian")
SUITE = "trixie"
ROOTFS_RECIPE = "rootfs-v1"

# What the image carries (Debian's names); the app's native dependencies where Debian has them new enough.
IMAGE_PACKAGES = [
    "python3",
    "busybox-static",  # the board's shell and tools (BusyBox, as on a NanoKVM image)
    "kmod",  # modprobe for Debian's xz-compressed modules
    "python3-numpy",
    "python3-opencv",
    "python3-uvloop",  # 0.21 (the app needs >= 0.21)
]
# PyPI wheels, at the venv's versions: Debian trixie has msgspec 0.19 (the app needs >= 0.22), no granian,
# and its python3-pycryptodome is pycryptodomex (the ``Cryptodome`` package; the app imports ``Crypto``).
NATIVE_WHEELS = ["msgspec", "granian", "pycryptodome"]
HOST_PACKAGES = ["busybox-static", "cpio", "kmod"]  # plus the arch's QEMU package


@dataclass(frozen=True)
class Arch:
    name: str  # Debian's
    triplet: str
    wheel: str  # PyPI's platform tag suffix
    qemu: str
    qemu_package: str


ARCHES = {
    "riscv64": Arch("riscv64", "riscv64-linux-gnu", "riscv64", "qemu-system-riscv64", "qemu-system-misc"),
    "arm64": Arch("arm64", "aarch64-linux-gnu", "aarch64", "qemu-system-aarch64", "qemu-system-arm"),
    "amd64": Arch("amd64", "x86_64-linux-gnu", "x86_64", "qemu-system-x86_64", "qemu-system-x86"),
}


@dataclass
class Guest:
    arch: Arch
    kver: str
    dir: pathlib.Path
    rootfs: pathlib.Path
    kernel: pathlib.Path
    initramfs: pathlib.Path
    python: str  # "3.13"
    modules: pathlib.Path  # /lib/modules/<kver> of the kernel booted (shared into the guest)
    missing: list[str] = field(default_factory=list)  # native dependencies no source could provide


def log(msg: str) -> None:
    print(f"[arch-tier] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("KVM_ARCH_CACHE", "/var/cache/kvm-arch-tier"))


# --- the private apt root -------------------------------------------------------------------


def apt_root() -> pathlib.Path:
    return cache_dir() / "apt"


def apt_opts(arch: str, also: tuple[str, ...] = ()) -> list[str]:
    """apt-get/apt-cache options for the private root, resolving for ``arch`` (lists of ``also`` kept)."""
    root = apt_root()
    return [
        "-o", f"Dir={root}",
        "-o", f"Dir::State::status={root}/status",
        "-o", f"Dir::Cache::archives={root}/debs/{arch}",
        "-o", "Dir::Etc::trusted=/nonexistent",
        "-o", "Dir::Etc::TrustedParts=/usr/share/keyrings",
        "-o", f"APT::Architecture={arch}",
        "-o", f"APT::Architectures::={arch}",
        *[x for a in also if a != arch for x in ("-o", f"APT::Architectures::={a}")],
        "-o", "APT::Sandbox::User=root",
        "-o", "Acquire::Retries=3",
        "-o", "Debug::NoLocking=1",
    ]  # fmt: skip


def apt_update(force: bool = False) -> None:
    root = apt_root()
    lists = root / "var" / "lib" / "apt" / "lists"
    if not force and any(lists.glob("*_Packages*")):
        return
    for sub in ("etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "var/lib/apt/lists/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "status").touch()
    archs = ",".join(ARCHES)
    (root / "etc/apt/sources.list").write_text(
        f"deb [arch={archs} signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} {SUITE} main\n"
    )
    log(f"apt-get update (private root {root}: {SUITE} for {archs})")
    # apt keeps lists only for the configured architectures: name all three for the update.
    run(["apt-get", *apt_opts("amd64", tuple(ARCHES)), "update"])


def kernel_version(arch: Arch) -> str:
    forced = os.environ.get(f"KVM_ARCH_KERNEL_{arch.name.upper()}")
    if forced:
        return forced.removeprefix("linux-image-")
    out = run(["apt-cache", *apt_opts(arch.name), "depends", f"linux-image-{arch.name}"])
    found = re.findall(rf"Depends:\s*linux-image-(\d[\w.+-]*-{arch.name})\b", out)
    if not found:
        raise SetupError(f"'apt-cache depends linux-image-{arch.name}' names no linux-image-*")
    return str(found[0])


def download(arch: Arch, packages: list[str]) -> list[pathlib.Path]:
    """The .debs of ``packages`` and everything they depend on, for ``arch``; a fresh directory."""
    debs = apt_root() / "debs" / arch.name
    if debs.exists():
        shutil.rmtree(debs)
    (debs / "partial").mkdir(parents=True)
    argv = ["apt-get", *apt_opts(arch.name), "install", "-y", "--download-only", "--no-install-recommends", *packages]
    try:
        run(argv)
    except SetupError:
        apt_update(force=True)  # the lists name versions the mirror dropped
        run(argv)
    return sorted(debs.glob("*.deb"))


# --- the root file system ------------------------------------------------------------------


def venv_version(dist: str) -> str:
    return importlib.metadata.version(dist)


def fetch_wheel(arch: Arch, dist: str, version: str, python: str, dest: pathlib.Path) -> pathlib.Path | None:
    """The PyPI wheel of ``dist==version`` for ``arch`` and CPython ``python``, or None if PyPI has none."""
    dest.mkdir(parents=True, exist_ok=True)
    found = sorted(dest.glob(f"{dist}-{version}-*.whl"))
    if found:
        return found[-1]
    tag = python.replace(".", "")
    platforms = [f"manylinux_2_{n}_{arch.wheel}" for n in (17, 24, 26, 27, 28, 31, 34, 35, 36, 38, 39)]
    argv = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--dest", str(dest)]
    argv += [x for p in (*platforms, f"manylinux2014_{arch.wheel}") for x in ("--platform", p)]
    argv += ["--python-version", python, "--implementation", "cp", "--abi", f"cp{tag}", "--abi", "abi3"]
    proc = subprocess.run([*argv, f"{dist}=={version}"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    found = sorted(dest.glob(f"{dist}-{version}-*.whl"))
    if proc.returncode != 0 or not found:
        log(f"no {dist} {version} wheel for {arch.wheel} / cp{tag} on PyPI")
        return None
    return found[-1]


def host_python(version: str) -> str | None:
    """A host interpreter of the rootfs's Python version (byte code is architecture-independent)."""
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    candidates = [str(p / "bin" / f"python{version}") for p in sorted(pyenv.glob(f"{version}*"))]
    candidates.append(shutil.which(f"python{version}") or "")  # last: a pyenv shim may refuse to run
    for c in candidates:
        if not c or not os.access(c, os.X_OK):
            continue
        probe = subprocess.run(
            [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return c
    return None


def _links(rootfs: pathlib.Path) -> None:
    """What a Debian install would add beyond the files: merged-/usr links, a shell, library paths."""
    for name in ("bin", "sbin", "lib", "lib64"):
        target = rootfs / "usr" / name
        link = rootfs / name
        if target.is_dir() and not (link.exists() or link.is_symlink()):
            link.symlink_to(f"usr/{name}")
    sh = rootfs / "usr" / "bin" / "sh"
    if not (sh.exists() or sh.is_symlink()):
        sh.symlink_to("busybox")  # the board's shell
    for sub in ("proc", "sys", "dev", "run", "tmp", "root", "out", "src", "data", "boot"):
        (rootfs / sub).mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)


def _alternatives(rootfs: pathlib.Path, arch: Arch) -> None:
    """The links update-alternatives makes in BLAS's and LAPACK's postinst (numpy needs them)."""
    libdir = rootfs / "usr" / "lib" / arch.triplet
    for sub in ("blas", "lapack"):
        for lib in sorted((libdir / sub).glob("lib*.so.*")):
            link = libdir / lib.name
            if not (link.exists() or link.is_symlink()):
                link.symlink_to(f"{sub}/{lib.name}")


def _python_version(rootfs: pathlib.Path) -> str:
    found = sorted(p.name for p in (rootfs / "usr" / "lib").glob("python3.*") if (p / "os.py").is_file())
    if not found:
        raise SetupError(f"{rootfs}: no Python standard library in /usr/lib/python3.*")
    return found[-1].removeprefix("python")


def _compile(root: pathlib.Path, dirs: list[pathlib.Path], python: str) -> None:
    """Byte-compile the Python modules in ``dirs`` of the tree ``root`` (paths recorded as in the guest)."""
    host = host_python(python)
    if host is None:
        log(f"no host Python {python}: the guest compiles its modules at each start (slower)")
        return
    argv = [host, "-m", "compileall", "-q", "-j", "0", "-s", str(root), "-p", "/", "-x", r"/(test|tests|idlelib)/"]
    argv += ["--invalidation-mode", "unchecked-hash"]  # the rootfs is read-only in the guest
    t0 = time.monotonic()
    subprocess.run([*argv, *[str(d) for d in dirs if d.is_dir()]], stdin=subprocess.DEVNULL, capture_output=True)
    # A module that does not compile (Python 2 leftovers in a package) only stays uncompiled.
    log(f"byte-compiled {', '.join(d.name for d in dirs)} with {host} in {time.monotonic() - t0:.1f} s")


def setup_rootfs(arch: Arch, adir: pathlib.Path, kver: str) -> str:
    """Build ``adir/rootfs`` from Debian's packages unless its stamp matches; returns its Python version."""
    recipe = f"{ROOTFS_RECIPE} {SUITE} {kver} {' '.join(IMAGE_PACKAGES)}"
    stamp = adir / "rootfs.done"
    rootfs = adir / "rootfs"
    if stamp.is_file() and stamp.read_text().strip() == recipe and rootfs.is_dir():
        return _python_version(rootfs)
    t0 = time.monotonic()
    stamp.unlink(missing_ok=True)
    (adir / "wheels.done").unlink(missing_ok=True)
    debs = download(arch, [*IMAGE_PACKAGES, f"linux-image-{kver}"])
    log(f"{arch.name}: {len(debs)} packages, {sum(d.stat().st_size for d in debs) / 1e6:.0f} MB")
    new = adir / "rootfs.new"
    if new.exists():
        shutil.rmtree(new)
    new.mkdir(parents=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        # Files several packages ship are identical (shared docs, links): extraction order does not matter.
        list(pool.map(lambda deb: run(["dpkg-deb", "-x", str(deb), str(new)]), debs))
    _links(new)
    _alternatives(new, arch)
    run(["depmod", "-b", str(new), kver])
    python = _python_version(new)
    _compile(new, [new / "usr" / "lib" / f"python{python}", new / "usr" / "lib" / "python3" / "dist-packages"], python)
    if rootfs.exists():
        shutil.rmtree(rootfs)
    new.rename(rootfs)
    shutil.rmtree(apt_root() / "debs" / arch.name, ignore_errors=True)
    stamp.write_text(recipe + "\n")
    log(f"{arch.name}: rootfs ready in {time.monotonic() - t0:.1f} s (Python {python})")
    return python


def setup_wheels(arch: Arch, adir: pathlib.Path, python: str) -> list[str]:
    """``NATIVE_WHEELS`` into the rootfs's /usr/local site directory; returns what PyPI has no wheel of."""
    wheels = {dist: venv_version(dist) for dist in NATIVE_WHEELS}
    recipe = f"{ROOTFS_RECIPE} {wheels}"
    stamp = adir / "wheels.done"
    lines = stamp.read_text().splitlines() if stamp.is_file() else []
    if lines[:1] == [recipe]:  # line 1: the recipe; then what was missing
        return [m for m in lines[1:] if m]
    site = adir / "rootfs" / "usr" / "local" / "lib" / f"python{python}" / "dist-packages"
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    missing = []
    for dist, version in wheels.items():
        wheel = fetch_wheel(arch, dist, version, python, cache_dir() / "wheels" / arch.name)
        if wheel is None:
            missing.append(f"{dist}=={version}")
            continue
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
    _compile(adir / "rootfs", [site], python)
    stamp.write_text(recipe + "\n" + "".join(m + "\n" for m in missing))
    log(f"{arch.name}: wheels {wheels}; no wheel on PyPI for: {missing or 'none'}")
    return missing


# --- kernel and initramfs ------------------------------------------------------------------


def setup_kernel(arch: Arch, adir: pathlib.Path, kver: str) -> pathlib.Path:
    """The image QEMU's -kernel takes: arm64/riscv64 Image (gunzipped), amd64's ELF vmlinux (PVH)."""
    target = adir / "kernel"
    boot = adir / "rootfs" / "boot"
    vmlinuz = boot / f"vmlinuz-{kver}"
    if not vmlinuz.is_file():
        vmlinuz = boot / f"vmlinux-{kver}"  # riscv64: the plain Image (with its EFI stub)
    if target.is_file() and target.stat().st_mtime >= vmlinuz.stat().st_mtime:
        return target
    if arch.name == "amd64":
        try:
            kernel_cache.extract_vmlinux(vmlinuz, target)
        except SetupError:  # not XZ: QEMU boots the bzImage itself (slower decompression under TCG)
            shutil.copyfile(vmlinuz, target)
        return target
    data = vmlinuz.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def setup_initramfs(arch: Arch, adir: pathlib.Path, kver: str) -> pathlib.Path:
    rootfs = adir / "rootfs"
    return kernel_cache.setup_initramfs(kver, adir, kroot=rootfs, busybox=rootfs / "usr" / "bin" / "busybox")


def kernel_tier_kernel() -> kernel_cache.Kernel:
    """The kernel tier's cached kernel; set up (under its exclusive lock) only when not ready, so a
    kernel-tier run in progress (holding its lock shared) does not hold this one up."""
    kver = kernel_cache.kernel_version()
    kdir = kernel_cache.cache_dir() / kver
    ready = all(
        kernel_cache.stamp_ok(kdir / name, recipe)
        for name, recipe in (("kernel.done", kernel_cache.KERNEL_RECIPE), ("gpio.done", kernel_cache.GPIO_RECIPE))
    )
    initramfs = sorted(kdir.glob("initramfs-*.cpio"), key=lambda p: p.stat().st_mtime)
    if ready and initramfs and (kdir / "vmlinux").is_file():
        return kernel_cache.Kernel(kver, kdir, kdir / "kroot", kdir / "vmlinux", initramfs[-1])
    return kernel_cache.setup()


def _setup_locked(cache: pathlib.Path, names: list[str]) -> list[Guest]:
    kernel_cache.apt_install(HOST_PACKAGES + sorted({ARCHES[n].qemu_package for n in names}))
    apt_update()
    guests = []
    for name in names:
        arch = ARCHES[name]
        kver = kernel_version(arch)
        adir = cache / name
        adir.mkdir(exist_ok=True)
        python = setup_rootfs(arch, adir, kver)
        missing = setup_wheels(arch, adir, python)
        if name == "amd64":
            # The baseline boots the kernel tier's kernel: the one Debian kernel with gpio-sim built
            # for it here (tests/kernel), so the amd64 guest has ATX lines as well. Its userland is
            # this trixie rootfs, the same as the other architectures'.
            k = kernel_tier_kernel()
            modules = k.kroot / "lib" / "modules" / k.kver
            guests.append(Guest(arch, k.kver, adir, adir / "rootfs", k.vmlinux, k.initramfs, python, modules, missing))
            continue
        kernel = setup_kernel(arch, adir, kver)
        initramfs = setup_initramfs(arch, adir, kver)
        modules = adir / "rootfs" / "lib" / "modules" / kver
        guests.append(Guest(arch, kver, adir, adir / "rootfs", kernel, initramfs, python, modules, missing))
    return guests


@contextmanager
def session(names: list[str]) -> Iterator[list[Guest]]:
    """Set up (idempotent) under the exclusive cache lock, then hold it shared while guests run."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with kernel_cache.locked(cache / ".lock") as fd:
        guests = _setup_locked(cache, names)
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield guests


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:12]


def retarget_pyz(src: pathlib.Path, dest: pathlib.Path, python: str) -> bool:
    """Copy the artifact with its ``.pyc`` compiled by ``python`` (the image's version), as an image
    build for that Python does; False (and a plain copy) when the host has no such Python."""
    host = host_python(python)
    if host is None:
        shutil.copyfile(src, dest)
        return False
    script = (
        "import sys, zipfile, importlib.util as u, importlib._bootstrap_external as b\n"
        "src, dst = sys.argv[1:3]\n"
        "with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zout:\n"
        "    names = set(zin.namelist())\n"
        "    for info in zin.infolist():\n"
        "        data = zin.read(info)\n"
        "        if info.filename.endswith('.pyc') and info.filename[:-1] in names:\n"
        "            source = zin.read(info.filename[:-1])\n"
        "            code = compile(source, info.filename[:-1], 'exec', dont_inherit=True)\n"
        "            data = bytes(b._code_to_hash_pyc(code, u.source_hash(source), False))\n"
        "        out = zipfile.ZipInfo(info.filename, info.date_time)\n"  # writestr would move zin's offsets
        "        out.compress_type, out.external_attr = info.compress_type, info.external_attr\n"
        "        zout.writestr(out, data)\n"
    )
    head = src.read_bytes()
    shebang = head[: head.index(b"\n") + 1] if head[:2] == b"#!" else b""
    tmp = dest.with_suffix(".tmp")
    subprocess.run([host, "-c", script, str(src), str(tmp)], check=True, stdin=subprocess.DEVNULL)
    dest.write_bytes(shebang + tmp.read_bytes())
    tmp.unlink()
    return True
