"""Unpacking an update bundle safely and swapping it in for ``/kvmapp``.

A bundle is ``nanokvm_X.Y.Z.tar.gz`` holding exactly one directory ``nanokvm_X.Y.Z/`` with a
``version`` file (``X.Y.Z``) and ``system/init.d/S95nanokvm`` (what restarts it). Only plain files and
directories are accepted: a member that is absolute, climbs with ``..``, is a link or a device, or
that would exceed the size limits refuses the whole bundle before anything is written. The new tree
is unpacked next to ``/kvmapp`` and exchanged with it in one rename (``renameat2(RENAME_EXCHANGE)``
where the kernel has it); the old tree is kept as ``/root/old``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
import shutil
import tarfile
import uuid
from pathlib import Path, PurePosixPath

PACKED_MAX = 1 << 30
UNPACKED_MAX = 2 << 30
MEMBERS_MAX = 100_000
NAME_RE = re.compile(r"nanokvm_(\d{1,5}\.\d{1,5}\.\d{1,5})\.tar\.gz")
REQUIRED = ("version", "system/init.d/S95nanokvm")
RUNTIME_DIR = "kvm"  # kvm_system's state files live in /kvmapp/kvm: kept when a bundle has none
CHUNK = 1 << 20


class BundleError(Exception):
    """Why a bundle was refused, in words for the API's answer."""


def version_of(name: str) -> str:
    match = NAME_RE.fullmatch(name)
    if match is None:
        raise BundleError("the bundle's name is not nanokvm_X.Y.Z.tar.gz")
    return match.group(1)


def _relative(member: tarfile.TarInfo, top: str) -> PurePosixPath | None:
    """The member's path inside the top directory (None for the top directory itself)."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    path = PurePosixPath(name)
    if not name or path.is_absolute() or "\\" in name or "\x00" in name:
        raise BundleError(f"unsafe path in the bundle: {member.name[:100]!r}")
    if any(part in ("..", "") for part in name.rstrip("/").split("/")):
        raise BundleError(f"unsafe path in the bundle: {member.name[:100]!r}")
    if path.parts[0] != top:
        raise BundleError(f"the bundle must hold only {top}/")
    return PurePosixPath(*path.parts[1:]) if len(path.parts) > 1 else None


def check(bundle: Path, version: str) -> list[tarfile.TarInfo]:
    """Every member of a well-formed bundle for ``version``; BundleError otherwise. Reads, writes nothing."""
    if bundle.stat().st_size > PACKED_MAX:
        raise BundleError("the bundle is larger than 1 GiB")
    top = f"nanokvm_{version}"
    members: list[tarfile.TarInfo] = []
    total = 0
    files: set[PurePosixPath] = set()
    seen: set[PurePosixPath] = set()
    try:
        with tarfile.open(bundle, mode="r:gz") as archive:
            for member in archive:
                if len(members) >= MEMBERS_MAX:
                    raise BundleError("the bundle has too many files")
                if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE):
                    raise BundleError(f"only files and directories may be in the bundle: {member.name[:100]!r}")
                inner = _relative(member, top)
                if inner is not None:
                    if inner in seen:
                        raise BundleError(f"the bundle holds {member.name[:100]!r} twice")
                    seen.add(inner)
                total += member.size
                if total > UNPACKED_MAX:
                    raise BundleError("the bundle unpacks to more than 2 GiB")
                if inner is not None and member.isfile():
                    files.add(inner)
                members.append(member)
            version_member = archive.getmember(f"{top}/version") if f"{top}/version" in archive.getnames() else None
            content = archive.extractfile(version_member) if version_member is not None else None
            found_version = content.read(64).decode("utf-8", "replace").strip() if content is not None else ""
    except (tarfile.TarError, OSError, EOFError) as err:
        raise BundleError(f"the bundle is not a tar.gz archive: {err}") from None
    missing = [name for name in REQUIRED if PurePosixPath(name) not in files]
    if missing:
        raise BundleError(f"the bundle lacks {', '.join(missing)}")
    if found_version != version:
        raise BundleError(f"the bundle's version file says {found_version[:20]!r}, its name {version}")
    return members


def unpack(bundle: Path, version: str, members: list[tarfile.TarInfo], target: Path) -> None:
    """Write the checked members under ``target`` (which must not exist), files only by their content."""
    top = f"nanokvm_{version}"
    wanted = {member.name: member for member in members}
    target.mkdir(mode=0o755)
    with tarfile.open(bundle, mode="r:gz") as archive:
        for member in archive:
            checked = wanted.get(member.name)
            if checked is None or checked.type != member.type or checked.size != member.size:
                raise BundleError("the bundle changed while it was installed")
            inner = _relative(member, top)
            if inner is None:
                continue
            path = target.joinpath(*inner.parts)
            if member.isdir():
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                raise BundleError(f"cannot read {member.name[:100]!r}")
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                left = member.size
                while left > 0:
                    chunk = source.read(min(CHUNK, left))
                    if not chunk:
                        raise BundleError(f"{member.name[:100]!r} is truncated")
                    out.write(chunk)
                    left -= len(chunk)
                out.flush()
                os.fsync(out.fileno())


def _not_plain(directory: str, names: list[str]) -> list[str]:
    """Copy only plain files and directories (a FIFO would block the copy)."""
    return [name for name in names if not (Path(directory, name).is_file() or Path(directory, name).is_dir())]


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where that is not available."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return int(result) == 0


def install(bundle: Path, version: str, app_dir: Path, old_dir: Path) -> None:
    """Check, unpack next to ``app_dir`` and swap it in; ``app_dir``'s old tree ends up at ``old_dir``.

    On any error before the swap, the staging directory is removed and ``app_dir`` is untouched.
    """
    members = check(bundle, version)
    staging = app_dir.parent / f".{app_dir.name}-update-{uuid.uuid4().hex[:8]}"
    try:
        unpack(bundle, version, members, staging)
        runtime = app_dir / RUNTIME_DIR
        if runtime.is_dir() and not (staging / RUNTIME_DIR).exists():
            shutil.copytree(runtime, staging / RUNTIME_DIR, symlinks=True, ignore=_not_plain)
        os.sync()
        if app_dir.exists():
            if not _exchange(staging, app_dir):
                # No atomic exchange here: two renames, the gap between them as short as it gets.
                aside = app_dir.parent / f".{app_dir.name}-old-{uuid.uuid4().hex[:8]}"
                app_dir.rename(aside)
                try:
                    staging.rename(app_dir)
                except OSError:
                    aside.rename(app_dir)
                    raise
                aside.rename(staging)
            old_dir.parent.mkdir(parents=True, exist_ok=True)
            if old_dir.exists():
                shutil.rmtree(old_dir)
            shutil.move(str(staging), str(old_dir))
        else:
            staging.rename(app_dir)
    finally:
        if staging.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(staging)
