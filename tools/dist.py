#!/usr/bin/env python3
"""Build the one deployable artifact: ``dist/nanokvm-py.pyz``, a zipapp that runs the firmware app.

    .venv/bin/python tools/dist.py [--output FILE] [--no-pyc] [--version X.Y.Z]   # what `task dist` runs
    .venv/bin/python tools/dist.py --native-deps                                 # what the image must provide

Beside the archive go ``version`` (one line, X.Y.Z: the image installs it as ``/kvmapp/version``)
and the update bundle ``nanokvm_X.Y.Z.tar.gz``, what the app's own update installs into ``/kvmapp``
(spec 9; app/services/update/bundle.py): one directory ``nanokvm_X.Y.Z/`` with ``version``,
``server/nanokvm-py.pyz`` (this archive, which the init script runs in preference to the image's)
and ``system/init.d/S95nanokvm`` (the overlay's init script). The version is pyproject.toml's
``[project] version`` unless ``--version`` gives one. The bundle is not signed here: signing is the
release maintainer's step, with a key that never enters the repository (app/services/update/keys/).

The archive holds the app (``app/``), the built frontend (``app/web/``, from ``frontend/dist``), and
the app's pure-Python dependencies, copied from the distributions installed in the Python that runs
this script (the project venv): the exact versions the tests ran against, no network needed. Native
dependencies (msgspec, uvloop, granian, OpenCV, numpy, pycryptodome) are not inside: they come from
the image (``--native-deps`` lists them; the build also writes ``native-deps.txt`` beside the
archive). Two dependencies have an optional C extension with a pure-Python fallback, and the archive
carries only the fallback: multidict (``multidict._multidict_py``) and PyYAML (its pure loader and
dumper; ``yaml.__with_libyaml__`` is False). What the app never imports at run time is left out (see
PRUNED_DISTS and PRUNED_PATHS).

Each module is stored as source plus a ``.pyc`` compiled by this Python (unchecked-hash, so valid in
a zip without timestamps): if the image's Python is another version, zipimport ignores the ``.pyc``
and compiles the sources at each start instead (slower, same behaviour); build with the image's
Python version to avoid that. Entries are sorted and dated ``SOURCE_DATE_EPOCH`` (default 1980-01-01),
so the same inputs give the same bytes.

It runs with ``python3 nanokvm-py.pyz --config /etc/kvm/server.yaml`` (the same arguments as
``python -m app``, including ``gadget start|stop|restart``). Standard library only.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata as metadata
import io
import json
import os
import py_compile
import re
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "dist" / "nanokvm-py.pyz"
FRONTEND = REPO / "frontend" / "dist"
WEB_IN_ZIP = "app/web"  # app/api/frontend.py serves it from here when the app runs from the archive
INIT_SCRIPT = REPO / "overlay" / "etc" / "init.d" / "S95nanokvm"
# The update service takes only nanokvm_X.Y.Z.tar.gz, each part 1-5 digits (bundle.NAME_RE).
VERSION_RE = re.compile(r"\d{1,5}\.\d{1,5}\.\d{1,5}")

# Provided by the image (compiled for the board): distribution -> (import name, why the app needs it).
NATIVE: dict[str, tuple[str, str]] = {
    "msgspec": ("msgspec", "config, request and response structs (C extension)"),
    "uvloop": ("uvloop", "the event loop (C extension)"),
    "granian": ("granian", "the HTTP server, embedded (Rust extension)"),
    "opencv-python-headless": ("cv2", "video capture and JPEG encoding"),
    "numpy": ("numpy", "frames from cv2; the app imports it directly"),
    "pycryptodome": ("Crypto", "login transport (AES), update signatures, TLS certificates"),
}

# Optional C extension, pure-Python fallback used: only the pure files go into the archive.
FALLBACK: dict[str, str] = {
    "multidict": "multidict._multidict_py (the C extension is left out)",
    "pyyaml": "PyYAML's pure loader/dumper (no libyaml; yaml.__with_libyaml__ is False)",
}

# Required by a dependency's metadata, never imported by the running app: left out with their own deps.
PRUNED_DISTS: dict[str, str] = {
    "click": "litestar's and granian's command lines, not used (the app embeds granian)",
    "rich": "litestar's command line",
    "rich-click": "litestar's command line",
    "polyfactory": "litestar's test data factories",
    "httpx": "litestar.testing's client",
    "litestar-htmx": "litestar's HTMX plugin, not used",
    "idna": "anyio's TCP connect helpers, not used (granian owns the sockets)",
}

# Parts of bundled distributions the app never imports (tests/packaging/test_artifact.py runs it without them).
PRUNED_PATHS: dict[str, str] = {
    "litestar/cli/": "command line (needs click, rich)",
    "litestar/testing/": "test client (needs httpx)",
    "litestar/contrib/": "third-party integrations (jinja, mako, sqlalchemy, pydantic, ...)",
    "litestar/channels/": "pub/sub channels, not used",
    "litestar/repository/": "repository pattern helpers, not used",
    "litestar/__main__.py": "the litestar command",
    "litestar/security/jwt/": "litestar's JWT auth (the app checks its tokens with pyjwt itself)",
    "litestar/plugins/prometheus/": "metrics plugin, not used",
    "litestar/plugins/flash.py": "flash messages for templates, not used",
    "litestar/plugins/htmx.py": "HTMX, not used",
    "litestar/plugins/jinja.py": "Jinja templates, not used",
    "litestar/plugins/mako.py": "Mako templates, not used",
    "litestar/plugins/minijinja.py": "MiniJinja templates, not used",
    "litestar/plugins/problem_details.py": "RFC 9457 problem details, not used (the app answers NanoKVM's envelope)",
    "litestar/plugins/sqlalchemy.py": "SQLAlchemy, not used",
    "litestar/plugins/structlog.py": "structlog, not used",
    "anyio/_backends/_trio.py": "anyio's trio backend (the app runs on asyncio/uvloop)",
    "anyio/pytest_plugin.py": "anyio's pytest plugin",
    "anyio/to_interpreter.py": "sub-interpreter workers, not used",
    "_yaml/": "shim for PyYAML's C extension, which is left out",
}

# File name patterns never needed at run time: compiled extensions, caches, type stubs, C headers.
SKIPPED = re.compile(r"(^|/)__pycache__/|\.(so|pyd|dll|dylib|pyc|pyo|pyi|pxd|pyx|h|c)$|(^|/)py\.typed$")
TESTS = re.compile(r"(^|/)_?tests?/")  # dependencies' own test suites
KEPT_METADATA = re.compile(r"\.dist-info/(METADATA|licenses/.+|LICEN[CS]E.*|COPYING.*|NOTICE.*)$", re.IGNORECASE)

# Stdlib modules the app needs from the image's Python beyond the always-built core (Buildroot options).
STDLIB: dict[str, str] = {
    "zlib": "the archive is deflated; .tar.gz update bundles",
    "ssl": "HTTPS, image and update downloads",
    "hashlib": "SHA-256/512 (image checksums, update manifests)",
    "ctypes": "renameat2 when an update is swapped in",
    "unicodedata": "DNS names (network settings)",
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requires(dist: metadata.Distribution) -> Iterator[tuple[str, str]]:
    """(name, specifier) of each run-time requirement, extras left out. Environment markers are not
    evaluated here: pip did that at install time, and plan() skips what is not installed."""
    for line in dist.requires or []:
        requirement, _, marker = line.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^]]*\])?\s*\(?([^)]*)\)?", requirement)
        if match:
            yield canonical(match.group(1)), match.group(2).replace(" ", "")


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


@dataclass
class Plan:
    bundled: dict[str, metadata.Distribution]  # canonical name -> distribution
    native: dict[str, list[str]]  # canonical name -> specifiers asked by the project and bundled deps
    pruned: set[str]


def plan() -> Plan:
    """Walk the project's requirements through the installed distributions.

    A requirement whose distribution is not installed is one whose environment marker did not match
    here (pip evaluated it at install time): skipped. Native and pruned distributions end the walk.
    """
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    top = [(canonical(m.group(1)), m.group(2)) for m in map(_split, project["dependencies"])]
    result = Plan({}, {canonical(name): [] for name in NATIVE}, set())
    todo = list(top)
    while todo:
        name, spec = todo.pop()
        if name in result.native:
            result.native[name].extend(s for s in spec.split(",") if s and s not in result.native[name])
            continue
        if name in PRUNED_DISTS:
            result.pruned.add(name)
            continue
        if name in result.bundled:
            continue
        dist = _installed(name)
        if dist is None:
            continue
        result.bundled[name] = dist
        todo.extend(_requires(dist))
    for name, dist in result.bundled.items():
        native = [str(f) for f in dist.files or [] if re.search(r"\.(so|pyd)$", str(f))]
        if native and name not in FALLBACK:
            raise SystemExit(
                f"{name} has a compiled extension ({native[0]}) and no declared pure fallback: "
                "add it to NATIVE (the image provides it) or FALLBACK in tools/dist.py"
            )
    return result


def _split(requirement: str) -> re.Match[str]:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^]]*\])?\s*([^;]*)", requirement)
    if match is None:
        raise SystemExit(f"pyproject.toml: cannot read the requirement {requirement!r}")
    return match


def _pruned(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PRUNED_PATHS)


def dependency_files(dist: metadata.Distribution) -> Iterator[tuple[str, Path]]:
    """(path in the archive, file on disk): a bundled distribution's run-time files, metadata and licences."""
    for entry in dist.files or []:
        path = entry.as_posix()
        if path.startswith("../") or _pruned(path):
            continue  # scripts in bin/, or a part the app never imports
        if ".dist-info/" in path:
            if KEPT_METADATA.search(path):  # importlib.metadata reads them from the zip (litestar asks its version)
                yield path, Path(str(entry.locate()))
            continue
        if not SKIPPED.search(path) and not TESTS.search(path):
            yield path, Path(str(entry.locate()))


def app_files() -> Iterator[tuple[str, Path]]:
    """The app package from the working tree, and the frontend build as its ``web`` data."""
    for path in sorted((REPO / "app").rglob("*")):
        relative = path.relative_to(REPO).as_posix()
        if path.is_file() and not SKIPPED.search(relative):
            yield relative, path
    if not (FRONTEND / "index.html").is_file():
        raise SystemExit(f"{FRONTEND}/index.html is missing: build the frontend first (task setup)")
    for path in sorted(FRONTEND.rglob("*")):
        if path.is_file():
            yield f"{WEB_IN_ZIP}/{path.relative_to(FRONTEND).as_posix()}", path


MAIN = b"""\
# nanokvm-py as one file: python3 nanokvm-py.pyz --config /etc/kvm/server.yaml (same CLI as python -m app).
import sys

from app.__main__ import main

sys.exit(main())
"""


def _add_package_markers(entries: dict[str, bytes]) -> None:
    """zipimport cannot import namespace packages (``app/api`` is one): give each such directory an
    empty ``__init__.py`` inside the archive."""
    for arcname in list(entries):
        parent = PurePosixPath(arcname).parent
        if arcname.endswith(".py") and parent.parts and parent.name.isidentifier():
            for package in [parent, *parent.parents][:-1]:
                entries.setdefault(f"{package}/__init__.py", b"")


def _compile_all(entries: dict[str, bytes]) -> None:
    """Add ``x.pyc`` beside each ``x.py`` (where zipimport looks), compiled by this Python."""
    with tempfile.TemporaryDirectory() as work:
        source, target = Path(work) / "source.py", Path(work) / "module.pyc"
        for arcname in sorted(name for name in entries if name.endswith(".py")):
            source.write_bytes(entries[arcname])
            py_compile.compile(
                str(source),
                cfile=str(target),
                dfile=arcname,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            entries[arcname[:-3] + ".pyc"] = target.read_bytes()


def build(output: Path, pyc: bool, version: str) -> tuple[Plan, dict[str, object]]:
    """Write the archive; returns the plan and what BUILD-INFO.json inside it says."""
    the_plan = plan()
    entries: dict[str, bytes] = {"__main__.py": MAIN}
    for _name, dist in sorted(the_plan.bundled.items()):
        for arcname, path in dependency_files(dist):
            entries[arcname] = path.read_bytes()
    for arcname, path in app_files():
        entries[arcname] = path.read_bytes()
    info: dict[str, object] = {
        "app": version,
        "built_with": sys.version.split()[0],
        "bundled": {name: dist.version for name, dist in sorted(the_plan.bundled.items())},
        "fallbacks": {name: why for name, why in FALLBACK.items() if name in the_plan.bundled},
        "pruned": {name: PRUNED_DISTS[name] for name in sorted(the_plan.pruned)},
        "pruned_paths": PRUNED_PATHS,
        "native": native_table(the_plan),
    }
    _add_package_markers(entries)
    entries["BUILD-INFO.json"] = json.dumps(info, indent=1).encode() + b"\n"
    if pyc:
        _compile_all(entries)
    _write_zip(output, entries)
    return the_plan, info


def _epoch() -> int:
    """The date every entry carries: SOURCE_DATE_EPOCH, not before 1980-01-01 (the zip format's first day)."""
    return max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)


def _write_zip(output: Path, entries: dict[str, bytes]) -> None:
    """Shebang + deflated zip, written to a temp file and renamed, so a half archive is never left."""
    stamp = time.gmtime(_epoch())[:6]
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for arcname in sorted(entries):
            item = zipfile.ZipInfo(arcname, date_time=stamp)  # type: ignore[arg-type]
            item.compress_type = zipfile.ZIP_DEFLATED
            item.external_attr = 0o644 << 16
            archive.writestr(item, entries[arcname])
    _publish(output, buffer.getvalue(), 0o755)  # an executable (shebang line) anyone may run


def _publish(output: Path, data: bytes, mode: int) -> None:
    """Write to a temp file beside ``output`` and rename it over, so a half file is never left."""
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}-", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        Path(tmp).chmod(mode)
        Path(tmp).replace(output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def project_version() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(project["version"])


def checked_version(version: str) -> str:
    """``version`` if the update service would take a bundle of it (X.Y.Z, digits only); exits otherwise."""
    if not VERSION_RE.fullmatch(version):
        raise SystemExit(
            f"version {version!r} cannot name an update bundle: it must be X.Y.Z, 1-5 digits each "
            "(nanokvm_X.Y.Z.tar.gz); give one with --version"
        )
    return version


def bundle_bytes(pyz: bytes, version: str, init_script: bytes) -> bytes:
    """``nanokvm_<version>.tar.gz`` as the update service unpacks it: plain files and directories only,
    owned by root, dated SOURCE_DATE_EPOCH, sorted, so the same inputs give the same bytes."""
    top = f"nanokvm_{version}"
    files = {
        "version": (f"{version}\n".encode(), 0o644),
        "server/nanokvm-py.pyz": (pyz, 0o755),
        "system/init.d/S95nanokvm": (init_script, 0o755),
    }
    directories = sorted({str(d) for name in files for d in PurePosixPath(name).parents if str(d) != "."})
    members: list[tuple[str, bytes | None, int]] = [(top, None, 0o755)]
    members += [(f"{top}/{d}", None, 0o755) for d in directories]
    members += [(f"{top}/{name}", data, mode) for name, (data, mode) in sorted(files.items())]
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data, mode in members:
            item = tarfile.TarInfo(name)
            item.mtime, item.mode, item.uname, item.gname = _epoch(), mode, "root", "root"
            if data is None:
                item.type = tarfile.DIRTYPE
                archive.addfile(item)
            else:
                item.size = len(data)
                archive.addfile(item, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=_epoch()) as out:
        out.write(tar_buffer.getvalue())
    return packed.getvalue()


def write_bundle(pyz: Path, version: str) -> Path:
    """Write ``nanokvm_<version>.tar.gz`` beside ``pyz``; returns its path."""
    output = pyz.with_name(f"nanokvm_{version}.tar.gz")
    _publish(output, bundle_bytes(pyz.read_bytes(), version, INIT_SCRIPT.read_bytes()), 0o644)
    return output


def _minimum(specifiers: list[str]) -> str:
    """The highest ``>=`` bound (what the image's version must at least be), or ``-``."""
    bounds = [s[2:] for s in specifiers if s.startswith(">=")]

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", version))

    return max(bounds, key=key) if bounds else "-"


def native_table(the_plan: Plan | None = None) -> list[dict[str, str]]:
    the_plan = the_plan or plan()
    rows = []
    for name, (module, why) in NATIVE.items():
        specs = the_plan.native[canonical(name)]
        dist = _installed(name)
        rows.append(
            {
                "distribution": name,
                "module": module,
                "minimum": _minimum(specs),
                "specifier": ",".join(specs) or "-",
                "tested": dist.version if dist else "-",
                "why": why,
            }
        )
    return rows


def native_text(rows: list[dict[str, str]]) -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    python_min = project["requires-python"].removeprefix(">=")
    lines = [
        "# What nanokvm-py.pyz needs from the image (tools/dist.py --native-deps).",
        "# distribution  import-name  minimum  specifier  tested-version  # why",
        f"python3 - {python_min} >={python_min} {sys.version.split()[0]}  # the interpreter",
    ]
    lines += [
        f"{r['distribution']} {r['module']} {r['minimum']} {r['specifier']} {r['tested']}  # {r['why']}" for r in rows
    ]
    lines.append("# Python stdlib modules that must be built (Buildroot python3 options):")
    lines += [f"#   {module}: {why}" for module, why in STDLIB.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument("--no-pyc", action="store_true", help="sources only (smaller, slower first imports)")
    parser.add_argument("--native-deps", action="store_true", help="print what the image must provide, build nothing")
    parser.add_argument("--version", help="X.Y.Z of the build and its update bundle; default: pyproject.toml's")
    args = parser.parse_args(argv)
    if args.native_deps:
        sys.stdout.write(native_text(native_table()))
        return 0
    version = checked_version(args.version or project_version())
    started = time.monotonic()
    the_plan, _info = build(args.output, pyc=not args.no_pyc, version=version)
    native = args.output.with_name("native-deps.txt")
    native.write_text(native_text(native_table(the_plan)), encoding="utf-8")
    _publish(args.output.with_name("version"), f"{version}\n".encode(), 0o644)
    bundle = write_bundle(args.output, version)
    size = args.output.stat().st_size
    print("bundled: " + ", ".join(f"{name} {dist.version}" for name, dist in sorted(the_plan.bundled.items())))
    print(f"pure fallbacks: {', '.join(sorted(FALLBACK))}; left out: {', '.join(sorted(the_plan.pruned))}")
    print(f"what the image must provide: {native}")
    print(f"update bundle (sign it before publishing): {bundle}, {bundle.stat().st_size} bytes; version {version}")
    print(f"{args.output}: {size / 1024:.0f} KiB ({size} bytes), built in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
