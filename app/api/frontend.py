"""Our frontend's build, served at ``/``: from ``frontend/dist`` in a checkout, from inside the zipapp otherwise.

``tools/dist.py`` puts the build at ``app/web`` in ``nanokvm-py.pyz``; it is read through
importlib.resources, so nothing is unpacked to disk. Litestar's static files router does the HTTP
part (HTML mode, 404s, ETag, HEAD) in both cases; for the archive it gets a read-only file system
over the package data.
"""

from __future__ import annotations

import os
import posixpath
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO, Any

from litestar.file_system import BaseLocalFileSystem
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.types import FileInfo, PathType

from app.services.auth.accounts import Role

# The checkout's build output (`task setup` builds it).
FRONTEND_DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
# The same build inside the zipapp.
PACKAGED = "web"


class PackageFiles:
    """Litestar's file system protocol (``info``, ``open``) over a read-only importlib.resources tree.

    Paths arrive as ``<mount>/<relative path>``, already normalised and checked against the mount by
    Litestar; anything else is "not found". The tree cannot change while the process runs, so file
    sizes are cached (one entry per file in the build) and every file carries the archive's mtime,
    which changes with each new build (ETag, Last-Modified).
    """

    def __init__(self, tree: Traversable, mount: str, mtime: float) -> None:
        self.tree = tree
        self.mount = mount.rstrip("/")
        self.mtime = mtime
        self._sizes: dict[str, int] = {}

    def _node(self, path: str) -> Traversable:
        path = posixpath.normpath(os.fspath(path))
        if path != self.mount and not path.startswith(self.mount + "/"):
            raise FileNotFoundError(path)
        parts = [part for part in path[len(self.mount) :].split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise FileNotFoundError(path)
        return self.tree.joinpath(*parts) if parts else self.tree

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        node = self._node(path)
        if node.is_dir():
            return {"name": path, "type": "directory", "size": 0, "mtime": self.mtime}
        if not node.is_file():
            raise FileNotFoundError(path)
        size = self._sizes.get(path)
        if size is None:
            size = self._sizes[path] = len(node.read_bytes())
        return {"name": path, "type": "file", "size": size, "mtime": self.mtime}

    def open(self, file: str, mode: str = "rb", buffering: int = -1) -> IO[bytes]:
        if mode != "rb":
            raise PermissionError(f"{file}: read-only")
        return self._node(file).open("rb")


class DistFiles(BaseLocalFileSystem):
    """The checkout's build on disk; a path through a file (``/index.html/x``) is "not found", where
    the operating system says "not a directory" and Litestar would answer 500."""

    async def info(self, path: PathType, **kwargs: Any) -> FileInfo:
        try:
            return await super().info(path, **kwargs)
        except NotADirectoryError:
            raise FileNotFoundError(path) from None


def _archive_mtime() -> float:
    """The zipapp's own modification time (the first existing parent of this module's path)."""
    for parent in Path(__file__).parents:
        if parent.is_file():
            return parent.stat().st_mtime
    return 0.0


def frontend_router(dist: Path = FRONTEND_DIST) -> Router | None:
    """The static router for the checkout's build, else the packaged one, else None (API only)."""
    options: dict[str, Any] = {"path": "/", "html_mode": True, "opt": {"role": Role.PUBLIC}, "include_in_schema": False}
    if dist.is_dir():
        return create_static_files_router(directories=[dist], file_system=DistFiles(), **options)
    tree = files("app") / PACKAGED
    if not tree.is_dir():
        return None
    mount = f"/{PACKAGED}"  # a name only: PackageFiles maps it to the tree, nothing on disk is read
    return create_static_files_router(
        directories=[mount],
        file_system=PackageFiles(tree, mount, _archive_mtime()),
        resolve_symlinks=False,
        **options,
    )
