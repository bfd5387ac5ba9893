"""The br2-external tree in ``buildroot/`` is consistent, the way Buildroot's own tree is.

Pure Python, no network, no Buildroot checkout: every package directory is sourced, included,
named, versioned and hashed by Buildroot's conventions (``check_*`` functions return problems as
sentences); every Kconfig symbol it selects exists; the pinned versions fit pyproject.toml's ranges;
the defconfigs point at files that exist and select the app; and the app package selects a package
for every native dependency ``tools/dist.py --native-deps`` says the image must provide. Negative
tests break a copy of the tree and check that the problem is reported.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
TREE = REPO / "buildroot"
APP_PACKAGE = "kvm-app"
APP_PYZ = "nanokvm-py.pyz"  # tools/dist.py writes dist/nanokvm-py.pyz; the image runs /usr/lib/kvm/nanokvm-py.pyz

# Buildroot release the tree targets (README, "Building a firmware image"), and the name of the
# archive its cargo download post-process makes (package/pkg-download.mk BR_FMT_VERSION_cargo).
BUILDROOT_RELEASE = "2026.08"
CARGO_FORMAT = "-cargo4"

# Kconfig symbols of Buildroot itself that our Config.in files select or depend on, each with the
# Buildroot file that defines it. Each was seen in Buildroot's own tree (its package Config.in
# files, autumn 2026, for the 2026.08 pin); a symbol missing here and in our tree is a typo or a
# package Buildroot does not have.
BUILDROOT_SYMBOLS: dict[str, str] = {
    "BR2_USE_MMU": "arch/Config.in",
    "BR2_USE_WCHAR": "toolchain/toolchain-common.in",
    "BR2_STATIC_LIBS": "Config.in",
    "BR2_INSTALL_LIBSTDCPP": "toolchain/toolchain-common.in",
    "BR2_TOOLCHAIN_HAS_ATOMIC": "toolchain/toolchain-common.in",
    "BR2_TOOLCHAIN_HAS_SYNC_4": "toolchain/toolchain-common.in",
    "BR2_TOOLCHAIN_HAS_THREADS_NPTL": "toolchain/toolchain-common.in",
    "BR2_TOOLCHAIN_GCC_AT_LEAST_4_9": "toolchain/toolchain-common.in",
    "BR2_TOOLCHAIN_USES_GLIBC": "toolchain/Config.in",
    "BR2_TOOLCHAIN_USES_MUSL": "toolchain/Config.in",
    "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS": "package/rustc/Config.in.host",
    "BR2_PACKAGE_PYTHON3": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_BZIP2": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_CURSES": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_DECIMAL": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_PYEXPAT": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_READLINE": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_SQLITE": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_SSL": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_UNICODEDATA": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_XZ": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON3_ZLIB": "package/python3/Config.in",
    "BR2_PACKAGE_PYTHON_CLICK": "package/python-click/Config.in",
    "BR2_PACKAGE_PYTHON_MULTIDICT": "package/python-multidict/Config.in",
    "BR2_PACKAGE_PYTHON_NUMPY": "package/python-numpy/Config.in",
    "BR2_PACKAGE_PYTHON_NUMPY_ARCH_SUPPORTS": "package/python-numpy/Config.in",
    "BR2_PACKAGE_PYTHON_PERIPHERY": "package/python-periphery/Config.in",
    "BR2_PACKAGE_PYTHON_PYYAML": "package/python-pyyaml/Config.in",
    "BR2_PACKAGE_PYTHON_UVLOOP": "package/python-uvloop/Config.in",
    "BR2_PACKAGE_OPENCV4": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_LIB_IMGCODECS": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_LIB_IMGPROC": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_LIB_PYTHON": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_LIB_VIDEOIO": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_WITH_JPEG": "package/opencv4/Config.in",
    "BR2_PACKAGE_OPENCV4_WITH_V4L": "package/opencv4/Config.in",
    "BR2_PACKAGE_DROPBEAR": "package/dropbear/Config.in",
}

# A native distribution (tools/dist.py --native-deps) -> the Buildroot option that provides it.
# Any other name maps to BR2_PACKAGE_PYTHON_<NAME>, Buildroot's naming policy for Python modules.
NATIVE_SYMBOLS: dict[str, str] = {
    "python3": "BR2_PACKAGE_PYTHON3",
    "opencv-python-headless": "BR2_PACKAGE_OPENCV4_LIB_PYTHON",
    "opencv-python": "BR2_PACKAGE_OPENCV4_LIB_PYTHON",
}
# A stdlib extension module the app needs -> the python3 option that builds it (None: always built;
# ctypes comes with python3's mandatory libffi).
STDLIB_SYMBOLS: dict[str, str | None] = {
    "zlib": "BR2_PACKAGE_PYTHON3_ZLIB",
    "ssl": "BR2_PACKAGE_PYTHON3_SSL",
    "hashlib": "BR2_PACKAGE_PYTHON3_SSL",
    "unicodedata": "BR2_PACKAGE_PYTHON3_UNICODEDATA",
    "lzma": "BR2_PACKAGE_PYTHON3_XZ",
    "bz2": "BR2_PACKAGE_PYTHON3_BZIP2",
    "sqlite3": "BR2_PACKAGE_PYTHON3_SQLITE",
    "decimal": "BR2_PACKAGE_PYTHON3_DECIMAL",
    "pyexpat": "BR2_PACKAGE_PYTHON3_PYEXPAT",
    "readline": "BR2_PACKAGE_PYTHON3_READLINE",
    "curses": "BR2_PACKAGE_PYTHON3_CURSES",
    "ctypes": None,
}

BUSYBOX_FRAGMENT = "board/kvm/busybox.fragment"
# BusyBox applets an init script may call, by the BusyBox option that builds each (shell builtins
# such as echo, read, test and printf need none).
APPLETS: dict[str, str] = {
    name: f"CONFIG_{name.upper()}"
    for name in [
        "awk",
        "basename",
        "cat",
        "chmod",
        "chown",
        "cp",
        "cut",
        "date",
        "dd",
        "dirname",
        "dmesg",
        "env",
        "expr",
        "find",
        "flock",
        "grep",
        "head",
        "hostname",
        "ifconfig",
        "insmod",
        "ip",
        "kill",
        "killall",
        "ln",
        "logger",
        "ls",
        "lsmod",
        "md5sum",
        "mkdir",
        "mknod",
        "mktemp",
        "modprobe",
        "mount",
        "mv",
        "nohup",
        "od",
        "pidof",
        "ps",
        "readlink",
        "realpath",
        "reboot",
        "rm",
        "rmdir",
        "rmmod",
        "sed",
        "seq",
        "setsid",
        "sha256sum",
        "sleep",
        "sort",
        "stat",
        "sync",
        "tail",
        "tee",
        "timeout",
        "touch",
        "tr",
        "udhcpc",
        "umount",
        "uniq",
        "usleep",
        "wc",
        "xargs",
    ]
} | {"start-stop-daemon": "CONFIG_START_STOP_DAEMON"}

INFRAS = ("generic-package", "python-package", "cargo-package", "cmake-package", "autotools-package")
PYTHON_SETUP_TYPES = ("setuptools", "setuptools-rust", "pep517", "flit", "maturin")
HASH_ALGOS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
PENDING = "pending-vendored"


# --- readers -------------------------------------------------------------------------------------


def upper(name: str) -> str:
    """Buildroot's package-name-to-variable rule: python-foo-bar -> PYTHON_FOO_BAR."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(text: str) -> Iterator[str]:
    """Lines with backslash continuations joined, comments dropped."""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].strip() + " "
            continue
        pending = ""
        if line and not line.startswith("#"):
            yield line


def make_vars(text: str) -> dict[str, str]:
    """Top-level assignments of a .mk file (outside define blocks), ``$(VAR)`` references expanded."""
    raw: dict[str, str] = {}
    in_define = False
    for line in logical_lines(text):
        if line.startswith("define "):
            in_define = True
        elif line.startswith("endef"):
            in_define = False
        elif not in_define and (match := re.match(r"([A-Z0-9_]+)\s*(\+=|\?=|:=|=)\s*(.*)$", line)):
            name, op, value = match.groups()
            raw[name] = f"{raw[name]} {value}".strip() if op == "+=" and name in raw else value

    def expand(value: str, depth: int = 0) -> str:
        if depth > 10:
            return value
        return re.sub(r"\$\(([A-Z0-9_]+)\)", lambda m: expand(raw.get(m.group(1), m.group(0)), depth + 1), value)

    return {name: expand(value) for name, value in raw.items()}


@dataclass(frozen=True)
class HashFile:
    lines: dict[str, list[tuple[str, str]]]  # file name -> [(algo, hex)]
    pending: set[str]
    malformed: list[str]


def read_hash(path: Path) -> HashFile:
    lines: dict[str, list[tuple[str, str]]] = {}
    pending: set[str] = set()
    malformed: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        text = raw.strip()
        if text.startswith(f"# {PENDING}"):
            pending.update(text.split()[2:3])
        if not text or text.startswith("#"):
            continue
        fields = text.split()
        size = HASH_ALGOS.get(fields[0], 0) if len(fields) == 3 else 0
        if not size or not re.fullmatch(rf"[0-9a-f]{{{size}}}", fields[1]):
            malformed.append(raw)
        else:
            lines.setdefault(fields[2], []).append((fields[0], fields[1]))
    return HashFile(lines, pending, malformed)


@dataclass(frozen=True)
class Kconfig:
    defined: set[str]
    selects: dict[str, set[str]]  # config symbol -> symbols it selects
    depends: set[str]  # every symbol named in a "depends on"
    sources: list[str]


def read_kconfig(text: str) -> Kconfig:
    defined: set[str] = set()
    selects: dict[str, set[str]] = {}
    depends: set[str] = set()
    sources: list[str] = []
    current = ""
    for line in logical_lines(text):
        words = line.split()
        if words[0] in ("config", "menuconfig"):
            current = words[1]
            defined.add(current)
            selects.setdefault(current, set())
        elif words[0] == "select" and current:
            selects[current].add(words[1])
        elif words[:2] == ["depends", "on"]:
            depends.update(re.findall(r"\bBR2_[A-Z0-9_]+", line.split("#")[0]))
        elif words[0] == "source":
            sources.append(line.split('"')[1])
        elif words[0] == "comment":
            current = ""
    return Kconfig(defined, selects, depends, sources)


def read_defconfig(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"# (BR2_[A-Z0-9_]+) is not set$", raw):
            values[match.group(1)] = "n"
        elif match := re.match(r"(BR2_[A-Za-z0-9_]+)=(.*)$", raw):
            values[match.group(1)] = match.group(2).strip('"')
    return values


def external_name(tree: Path) -> str:
    fields = dict(line.split(":", 1) for line in (tree / "external.desc").read_text().splitlines() if ":" in line)
    return fields.get("name", "").strip()


def packages(tree: Path) -> list[str]:
    return sorted(p.name for p in (tree / "package").iterdir() if p.is_dir())


def tree_kconfig(tree: Path) -> Kconfig:
    """Every Config.in of the tree, merged."""
    merged = Kconfig(set(), {}, set(), [])
    for path in [tree / "Config.in", *sorted((tree / "package").glob("*/Config.in"))]:
        one = read_kconfig(path.read_text(encoding="utf-8"))
        merged.defined.update(one.defined)
        merged.selects.update(one.selects)
        merged.depends.update(one.depends)
        merged.sources.extend(one.sources)
    return merged


# --- checks: each returns the problems it finds, as sentences --------------------------------------


def check_external(tree: Path) -> list[str]:
    problems = []
    lines = (line.partition(":") for line in (tree / "external.desc").read_text().splitlines())
    desc = {key.strip(): value.strip() for key, _, value in lines}
    name = desc.get("name", "")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        problems.append(f"external.desc: name {name!r} must be [A-Za-z0-9_]+")
    if not desc.get("desc"):
        problems.append("external.desc: no desc")
    sources = read_kconfig((tree / "Config.in").read_text(encoding="utf-8")).sources
    mk = (tree / "external.mk").read_text(encoding="utf-8")
    glob = f"include $(sort $(wildcard $(BR2_EXTERNAL_{name}_PATH)/package/*/*.mk))"
    for package in packages(tree):
        if f"$BR2_EXTERNAL_{name}_PATH/package/{package}/Config.in" not in sources:
            problems.append(f"Config.in does not source package/{package}/Config.in")
        if glob not in mk and f"$(BR2_EXTERNAL_{name}_PATH)/package/{package}/{package}.mk" not in mk:
            problems.append(f"external.mk does not include package/{package}/{package}.mk")
    for source in sources:
        path = source.replace(f"$BR2_EXTERNAL_{name}_PATH", str(tree))
        if not Path(path).is_file():
            problems.append(f"Config.in sources {source}, which does not exist")
    return problems


def source_file(package: str, values: dict[str, str]) -> str | None:
    """The file name Buildroot stores in DL_DIR and checks against the .hash (None: a local package)."""
    key = upper(package)
    if values.get(f"{key}_SITE_METHOD") == "local":
        return None
    version = values.get(f"{key}_VERSION", "")
    vendored = values.get(f"{key}_SETUP_TYPE") in ("maturin", "setuptools-rust") or (
        values.get(f"{key}_DOWNLOAD_POST_PROCESS") == "cargo"
    )
    if vendored:
        return f"{package}-{version}{CARGO_FORMAT}.tar.gz"
    return values.get(f"{key}_SOURCE") or f"{package}-{version}.tar.gz"


def check_package(tree: Path, package: str) -> list[str]:
    where = f"package/{package}"
    directory = tree / "package" / package
    key = upper(package)
    mk_path, config_path, hash_path = (
        directory / f"{package}.mk",
        directory / "Config.in",
        directory / f"{package}.hash",
    )
    if not mk_path.is_file() or not config_path.is_file():
        return [f"{where}: needs Config.in and {package}.mk"]
    problems = []
    config = read_kconfig(config_path.read_text(encoding="utf-8"))
    if f"BR2_PACKAGE_{key}" not in config.defined:
        problems.append(f"{where}/Config.in: no 'config BR2_PACKAGE_{key}'")
    text = mk_path.read_text(encoding="utf-8")
    if text.splitlines()[:5] != ["#" * 80, "#", f"# {package}", "#", "#" * 80]:
        problems.append(f"{where}/{package}.mk: does not start with Buildroot's header naming {package}")
    values = make_vars(text)
    infra = re.findall(r"^\$\(eval \$\(([a-z-]+)\)\)$", text, re.MULTILINE)
    for name in ("VERSION", "SITE", "LICENSE"):
        if not values.get(f"{key}_{name}"):
            problems.append(f"{where}/{package}.mk: no {key}_{name}")
    if not infra or infra[0] not in INFRAS:
        problems.append(f"{where}/{package}.mk: no $(eval $(<infra>)) call of {', '.join(INFRAS)}")
    if "python-package" in infra:
        if not package.startswith("python-"):
            problems.append(f"{where}: a Python module package must be named python-<name>")
        if values.get(f"{key}_SETUP_TYPE") not in PYTHON_SETUP_TYPES:
            problems.append(f"{where}/{package}.mk: {key}_SETUP_TYPE must be one of {', '.join(PYTHON_SETUP_TYPES)}")
    source = source_file(package, values)
    if source is None:
        return problems
    licenses = values.get(f"{key}_LICENSE_FILES", "").split()
    if not licenses:
        problems.append(f"{where}/{package}.mk: no {key}_LICENSE_FILES")
    if not hash_path.is_file():
        return [*problems, f"{where}: no {package}.hash"]
    hashes = read_hash(hash_path)
    problems += [f"{where}/{package}.hash: malformed line {line!r}" for line in hashes.malformed]
    for name in [source, *licenses]:
        has_sha256 = any(algo == "sha256" for algo, _ in hashes.lines.get(name, []))
        if not has_sha256 and not (
            name == source and source.endswith(f"{CARGO_FORMAT}.tar.gz") and name in hashes.pending
        ):
            problems.append(f"{where}/{package}.hash: no sha256 line for {name}")
    for name in hashes.pending - {source}:
        problems.append(f"{where}/{package}.hash: pending hash for {name}, but the .mk makes {source}")
    upstream = values.get(f"{key}_SOURCE_PYPI")
    if source in hashes.pending and upstream and upstream not in hashes.lines:
        problems.append(
            f"{where}/{package}.hash: the vendored hash is pending, so the sdist {upstream} needs its sha256"
        )
    return problems


def check_symbols(tree: Path) -> list[str]:
    kconfig = tree_kconfig(tree)
    known = kconfig.defined | set(BUILDROOT_SYMBOLS)
    problems = []
    for symbol, selected in sorted(kconfig.selects.items()):
        problems += [
            f"{symbol} selects {s}, which neither this tree nor Buildroot defines" for s in sorted(selected - known)
        ]
    problems += [
        f"'depends on {s}': neither this tree nor Buildroot defines it" for s in sorted(kconfig.depends - known)
    ]
    return problems


def pinned_dist(package: str, values: dict[str, str]) -> tuple[str, str] | None:
    """(canonical PyPI name, version) of a python-* package downloaded from PyPI."""
    key = upper(package)
    archive = values.get(f"{key}_SOURCE_PYPI") or values.get(f"{key}_SOURCE") or ""
    match = re.fullmatch(r"(.+)-([0-9][^-]*)\.(tar\.gz|tar\.bz2|tar\.xz|zip)", archive)
    return (canonical(match.group(1)), match.group(2)) if package.startswith("python-") and match else None


def project_specifiers(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    found = {}
    for requirement in project["dependencies"]:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^]]*\])?\s*([^;]*)", requirement)
        if match:
            found[canonical(match.group(1))] = match.group(2).strip()
    return found


def check_versions(tree: Path, pyproject: Path, native: NativeDeps) -> list[str]:
    """Each pinned PyPI package fits pyproject.toml's range and the range tools/dist.py reports."""
    specifiers = project_specifiers(pyproject)
    problems = []
    for package in packages(tree):
        mk = tree / "package" / package / f"{package}.mk"
        pin = pinned_dist(package, make_vars(mk.read_text(encoding="utf-8"))) if mk.is_file() else None
        if pin is None:
            continue  # not a PyPI package, or no .mk (check_package reports that)
        values = make_vars(mk.read_text(encoding="utf-8"))
        name, version = pin
        if values.get(f"{upper(package)}_VERSION") != version:
            problems.append(f"package/{package}: the archive's version {version} is not {upper(package)}_VERSION")
        for origin, spec in (("pyproject.toml", specifiers.get(name)), ("tools/dist.py", native.specifiers.get(name))):
            if spec and Version(version) not in SpecifierSet(spec):
                problems.append(f"package/{package}: {name} {version} is outside {origin}'s {spec}")
    app_values = make_vars((tree / "package" / APP_PACKAGE / f"{APP_PACKAGE}.mk").read_text(encoding="utf-8"))
    project_version = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    if app_values.get(f"{upper(APP_PACKAGE)}_VERSION") != project_version:
        problems.append(
            f"package/{APP_PACKAGE}: {upper(APP_PACKAGE)}_VERSION is not pyproject.toml's {project_version}"
        )
    return problems


def selected_by(kconfig: Kconfig, symbol: str) -> set[str]:
    """What a symbol selects, followed through the selects of this tree's own packages."""
    seen: set[str] = set()
    todo = [symbol]
    while todo:
        for target in kconfig.selects.get(todo.pop(), set()) - seen:
            seen.add(target)
            todo.append(target)
    return seen


def check_native_coverage(tree: Path, native: NativeDeps) -> list[str]:
    kconfig = tree_kconfig(tree)
    app = f"BR2_PACKAGE_{upper(APP_PACKAGE)}"
    selected = selected_by(kconfig, app)
    problems = []
    for dist in native.distributions:
        symbol = NATIVE_SYMBOLS.get(dist, f"BR2_PACKAGE_PYTHON_{upper(dist)}")
        if symbol not in selected:
            problems.append(f"{app} does not select {symbol}, which provides the native dependency {dist}")
    for module in native.stdlib:
        if module not in STDLIB_SYMBOLS:
            problems.append(f"no python3 option known for the stdlib module {module}: add it to STDLIB_SYMBOLS")
        elif (symbol := STDLIB_SYMBOLS[module]) and symbol not in selected:
            problems.append(f"{app} does not select {symbol}, which builds the stdlib module {module}")
    return problems


def check_defconfig(tree: Path, path: Path) -> list[str]:
    name = external_name(tree)
    values = read_defconfig(path)
    where = f"configs/{path.name}"
    problems = []
    if values.get(f"BR2_PACKAGE_{upper(APP_PACKAGE)}") != "y":
        problems.append(f"{where}: does not select BR2_PACKAGE_{upper(APP_PACKAGE)}")
    for symbol, value in values.items():
        for other in re.findall(r"\$\(BR2_EXTERNAL_([A-Za-z0-9_]+)_PATH\)", value):
            if other != name:
                problems.append(f"{where}: {symbol} names BR2_EXTERNAL_{other}_PATH; this tree is {name}")
        for word in value.split():
            if word.startswith(f"$(BR2_EXTERNAL_{name}_PATH)/"):
                relative = word.removeprefix(f"$(BR2_EXTERNAL_{name}_PATH)/")
                if not (tree / relative).exists():
                    problems.append(f"{where}: {symbol} points at {relative}, which is not in the tree")
    if f"$(BR2_EXTERNAL_{name}_PATH)/board/kvm/post-build.sh" not in values.get("BR2_ROOTFS_POST_BUILD_SCRIPT", ""):
        problems.append(f"{where}: BR2_ROOTFS_POST_BUILD_SCRIPT does not run board/kvm/post-build.sh")
    if f"$(BR2_EXTERNAL_{name}_PATH)/{BUSYBOX_FRAGMENT}" not in values.get(
        "BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES", ""
    ):
        problems.append(f"{where}: BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES does not name {BUSYBOX_FRAGMENT}")
    if values.get("BR2_TARGET_GENERIC_ROOT_PASSWD", ""):
        problems.append(f"{where}: bakes a root password into the image (BR2_TARGET_GENERIC_ROOT_PASSWD)")
    if values.get("BR2_DOWNLOAD_FORCE_CHECK_HASHES") != "y":
        problems.append(f"{where}: BR2_DOWNLOAD_FORCE_CHECK_HASHES is not set: downloads would go unchecked")
    return problems


def defconfigs(tree: Path) -> list[Path]:
    return sorted((tree / "configs").glob("*_defconfig"))


def tree_problems(tree: Path, pyproject: Path, native: NativeDeps) -> list[str]:
    problems = check_external(tree) + check_symbols(tree)
    for package in packages(tree):
        problems += check_package(tree, package)
    problems += check_versions(tree, pyproject, native) + check_native_coverage(tree, native)
    for path in defconfigs(tree):
        problems += check_defconfig(tree, path)
    return problems


# --- tools/dist.py --native-deps -----------------------------------------------------------------


@dataclass(frozen=True)
class NativeDeps:
    distributions: list[str]
    specifiers: dict[str, str]
    stdlib: list[str]


def parse_native_deps(text: str) -> NativeDeps:
    """``distribution import-name minimum specifier tested  # why`` lines, then ``#   module: why``
    lines under the stdlib heading."""
    distributions, specifiers, stdlib = [], {}, []
    in_stdlib = False
    for line in text.splitlines():
        if line.startswith("#"):
            in_stdlib = in_stdlib or "stdlib" in line
            if in_stdlib and (match := re.match(r"#\s+([A-Za-z_][A-Za-z0-9_]*):", line)):
                stdlib.append(match.group(1))
            continue
        fields = line.split("#")[0].split()
        if fields:
            name = canonical(fields[0])
            distributions.append(name)
            if len(fields) > 3 and fields[3] != "-" and name != "python3":
                specifiers[name] = fields[3]
    return NativeDeps(distributions, specifiers, stdlib)


@cache
def native_deps() -> NativeDeps:
    dist = REPO / "tools" / "dist.py"
    if not dist.is_file():
        pytest.skip("tools/dist.py is not in this checkout: no native dependency list to compare with")
    done = subprocess.run(
        [sys.executable, str(dist), "--native-deps"], capture_output=True, text=True, timeout=60, check=True
    )
    return parse_native_deps(done.stdout)


# --- the real tree --------------------------------------------------------------------------------


def test_external_desc_config_in_and_external_mk_list_every_package() -> None:
    assert external_name(TREE) == "NANOKVM_PY"
    assert check_external(TREE) == []


@pytest.mark.parametrize("package", packages(TREE))
def test_package_is_named_versioned_and_hashed_the_buildroot_way(package: str) -> None:
    assert check_package(TREE, package) == []


def test_every_selected_or_depended_symbol_exists() -> None:
    assert check_symbols(TREE) == []


def test_pinned_versions_fit_pyproject_and_the_app_version_matches() -> None:
    assert check_versions(TREE, REPO / "pyproject.toml", native_deps()) == []


def test_app_package_selects_every_native_dependency_dist_py_reports() -> None:
    native = native_deps()
    assert {"msgspec", "uvloop", "granian", "pycryptodome"} <= set(native.distributions)
    assert check_native_coverage(TREE, native) == []


@pytest.mark.parametrize("path", defconfigs(TREE), ids=lambda p: p.name)
def test_defconfig_selects_the_app_and_points_at_files_in_the_tree(path: Path) -> None:
    assert check_defconfig(TREE, path) == []


def test_readme_builds_with_the_pinned_buildroot_release() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"buildroot-{BUILDROOT_RELEASE}.tar.xz" in readme
    assert f"make -C ../buildroot-{BUILDROOT_RELEASE} " in readme
    for path in defconfigs(TREE):
        assert f"`{path.name}`" in readme or f" {path.name}" in readme, f"README does not name {path.name}"


def test_two_boards_one_riscv64_one_arm() -> None:
    arches = {path.name: read_defconfig(path) for path in defconfigs(TREE)}
    assert any(v.get("BR2_riscv") == "y" and v.get("BR2_RISCV_64") == "y" for v in arches.values())
    assert any(v.get("BR2_aarch64") == "y" for v in arches.values())


def test_app_package_installs_the_artifact_from_dist() -> None:
    key = upper(APP_PACKAGE)
    values = make_vars((TREE / "package" / APP_PACKAGE / f"{APP_PACKAGE}.mk").read_text(encoding="utf-8"))
    assert values[f"{key}_SITE_METHOD"] == "local"
    site = values[f"{key}_SITE"].replace(f"$(BR2_EXTERNAL_{external_name(TREE)}_PATH)", str(TREE))
    assert Path(os.path.normpath(site)) == REPO / "dist"
    assert values[f"{key}_PYZ"] == APP_PYZ
    assert (
        f"$(TARGET_DIR)/usr/lib/kvm/$({key}_PYZ)" in (TREE / "package" / APP_PACKAGE / f"{APP_PACKAGE}.mk").read_text()
    )
    dist = REPO / "tools" / "dist.py"
    if dist.is_file():
        assert f'"dist" / "{APP_PYZ}"' in dist.read_text(encoding="utf-8")


def test_vendored_hashes_still_to_generate_are_only_cargo_archives() -> None:
    """A maintainer generates these on a connected machine (README); nothing else may be pending."""
    for package in packages(TREE):
        path = TREE / "package" / package / f"{package}.hash"
        if path.is_file():
            assert all(name.endswith(f"{CARGO_FORMAT}.tar.gz") for name in read_hash(path).pending), package


def applets_used(script: str) -> set[str]:
    """The BusyBox applets a shell script names as words (comments left out; a word in a message
    counts too, which can only ask for one applet more)."""
    code = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in script.splitlines())
    return {name for name in APPLETS if re.search(rf"(?<![\w$/.-]){re.escape(name)}(?![\w/.-])", code)}


def test_busybox_fragment_has_every_applet_the_init_scripts_use() -> None:
    scripts = sorted((REPO / "overlay" / "etc" / "init.d").glob("S*"))
    if not scripts:
        pytest.skip("overlay/etc/init.d is not in this checkout")
    fragment = (TREE / BUSYBOX_FRAGMENT).read_text(encoding="utf-8")
    enabled = set(re.findall(r"^(CONFIG_[A-Z0-9_]+)=y$", fragment, re.MULTILINE))
    for script in scripts:
        missing = {name for name in applets_used(script.read_text(encoding="utf-8")) if APPLETS[name] not in enabled}
        assert not missing, f"{script.name} uses {sorted(missing)}, not enabled in {BUSYBOX_FRAGMENT}"


def test_applets_used_reads_commands_not_comments() -> None:
    script = (
        '#!/bin/sh\n# sed and awk are only mentioned here\nkey=$(od -An -N16 /dev/urandom | tr -d " ")\nsleep 1 # wc\n'
    )
    assert applets_used(script) == {"od", "tr", "sleep"}


# --- post-build.sh, run for real ------------------------------------------------------------------


POST_BUILD = TREE / "board" / "kvm" / "post-build.sh"


def run_post_build(target: Path, overlay: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KVM_OVERLAY_DIR": str(overlay),
        "BR2_EXTERNAL_NANOKVM_PY_PATH": str(TREE),
    }
    return subprocess.run(
        ["/bin/sh", str(POST_BUILD), str(target), "--board-arg"], capture_output=True, text=True, timeout=60, env=env
    )


def fake_overlay(root: Path) -> Path:
    overlay = root / "overlay"
    (overlay / "etc" / "init.d").mkdir(parents=True)
    (overlay / "etc" / "kvm").mkdir()
    script = overlay / "etc" / "init.d" / "S95nanokvm"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (overlay / "etc" / "init.d" / "S50sshd").write_text("#!/bin/sh\n")
    (overlay / "etc" / "kvm" / "server.yaml").write_text('jwt:\n  secretKey: ""\n')
    return overlay


def test_post_build_is_posix_sh_and_executable() -> None:
    assert POST_BUILD.read_text().startswith("#!/bin/sh\n")
    assert POST_BUILD.stat().st_mode & stat.S_IXUSR


def test_post_build_installs_overlay_makes_state_dirs_and_keeps_ssh_off(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "etc" / "init.d").mkdir(parents=True)
    (target / "etc" / "init.d" / "S50dropbear").write_text("#!/bin/sh\n")  # what Buildroot's dropbear installs
    (target / "etc" / "dropbear").symlink_to("/var/run/dropbear")  # ditto: host keys lost at each reboot
    (target / "kvmapp").mkdir()
    (target / "kvmapp" / "version").write_text("0.1.0\n")  # what kvm-app installs
    done = run_post_build(target, fake_overlay(tmp_path))
    assert done.returncode == 0, done.stderr
    assert (target / "kvmapp" / "version").read_text() == "0.1.0\n"  # kept: the version the image reports
    assert "warning" not in done.stderr
    assert (target / "etc" / "init.d" / "S95nanokvm").stat().st_mode & 0o777 == 0o755
    assert stat.S_IMODE((target / "etc" / "kvm").stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "data").stat().st_mode) == 0o755
    assert (target / "kvmapp").is_dir()
    assert not (target / "etc" / "init.d" / "S50dropbear").exists()
    assert (target / "etc" / "kvm" / "ssh_stop").is_file()
    dropbear = target / "etc" / "dropbear"
    assert dropbear.is_dir() and not dropbear.is_symlink() and not any(dropbear.iterdir())


def test_kvm_app_installs_the_version_dist_wrote() -> None:
    """/kvmapp/version comes from the same `task dist` run as the archive (dist/version)."""
    mk = (TREE / "package" / APP_PACKAGE / f"{APP_PACKAGE}.mk").read_text(encoding="utf-8")
    assert "$(INSTALL) -D -m 0644 $(@D)/version $(TARGET_DIR)/kvmapp/version" in mk
    assert "$(wildcard $(KVM_APP_SITE)/version)" in mk  # a missing one stops the build at its start


def test_post_build_warns_when_the_image_has_no_app_version(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    done = run_post_build(target, fake_overlay(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "no /kvmapp/version" in done.stderr


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("etc/kvm/pwd", '{"admin": "x"}'),
        ("etc/kvm/server.key", "-----BEGIN PRIVATE KEY-----"),
        ("device_key", "0123"),
        ("etc/ssh/ssh_host_ed25519_key", "key"),
        ("etc/kvm/server.yaml", "jwt:\n  secretKey: hunter2\n"),
        ("etc/kvm/server.yaml", 'JWT:\n  SecretKey: "hunter2"\n'),
    ],
)
def test_post_build_refuses_an_image_with_a_secret(tmp_path: Path, path: str, content: str) -> None:
    overlay = fake_overlay(tmp_path)
    (overlay / path).parent.mkdir(parents=True, exist_ok=True)
    (overlay / path).write_text(content)
    (tmp_path / "target").mkdir()
    done = run_post_build(tmp_path / "target", overlay)
    assert done.returncode != 0
    assert "post-build.sh:" in done.stderr


def test_post_build_accepts_the_repository_overlay(tmp_path: Path) -> None:
    overlay = REPO / "overlay"
    if not overlay.is_dir():
        pytest.skip("overlay/ is not in this checkout")
    (tmp_path / "target").mkdir()
    done = run_post_build(tmp_path / "target", overlay)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "target" / "etc" / "kvm").is_dir()


# --- a broken copy of the tree is reported --------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def unsource_msgspec(tree: Path) -> None:
    edit(tree / "Config.in", 'source "$BR2_EXTERNAL_NANOKVM_PY_PATH/package/python-msgspec/Config.in"\n', "")


def bump_msgspec_without_hash(tree: Path) -> None:
    edit(tree / "package/python-msgspec/python-msgspec.mk", "VERSION = 0.23.0", "VERSION = 0.23.1")


def drop_license_hash(tree: Path) -> None:
    path = tree / "package/python-pycryptodome/python-pycryptodome.hash"
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "mlkem-native/LICENSE" not in line))


def bump_granian_past_pyproject(tree: Path) -> None:
    edit(tree / "package/python-granian/python-granian.mk", "VERSION = 2.8.9", "VERSION = 3.0.0")
    hash_path = tree / "package/python-granian/python-granian.hash"
    hash_path.write_text(hash_path.read_text().replace("2.8.9", "3.0.0"))


def forget_msgspec_in_app(tree: Path) -> None:
    edit(tree / "package/kvm-app/Config.in", "\tselect BR2_PACKAGE_PYTHON_MSGSPEC\n", "")


def select_a_typo(tree: Path) -> None:
    edit(tree / "package/kvm-app/Config.in", "BR2_PACKAGE_PYTHON_UVLOOP", "BR2_PACKAGE_PYTHON_UVLOOOP")


def add_unlisted_package(tree: Path) -> None:
    shutil.copytree(tree / "package/python-msgspec", tree / "package/python-extra")


def point_defconfig_nowhere(tree: Path) -> None:
    edit(tree / "configs/nanokvm_sg2002_defconfig", "board/kvm/post-build.sh", "board/kvm/postbuild.sh")


def drop_app_from_defconfig(tree: Path) -> None:
    edit(tree / "configs/nanokvm_rpi4_64_defconfig", "BR2_PACKAGE_KVM_APP=y\n", "")


def malform_hash(tree: Path) -> None:
    edit(tree / "package/python-msgspec/python-msgspec.hash", "sha256  a0d57d3c", "sha256  a0d57d3")


def pend_the_wrong_archive(tree: Path) -> None:
    edit(tree / "package/python-granian/python-granian.hash", "granian-2.8.9-cargo4", "granian-2.8.8-cargo4")


def drop_external_desc(tree: Path) -> None:
    (tree / "external.desc").write_text("name: NANOKVM_PY\n")


def drop_busybox_fragment(tree: Path) -> None:
    edit(tree / "configs/nanokvm_sg2002_defconfig", "BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES", "# no fragment")


def drift_app_version(tree: Path) -> None:
    edit(tree / "package/kvm-app/kvm-app.mk", "KVM_APP_VERSION = 0.1.0", "KVM_APP_VERSION = 0.0.9")


BREAKAGES: list[tuple[Callable[[Path], None], str]] = [
    (unsource_msgspec, "does not source package/python-msgspec/Config.in"),
    (bump_msgspec_without_hash, "no sha256 line for msgspec-0.23.1.tar.gz"),
    (drop_license_hash, "no sha256 line for src/mlkem-native/LICENSE"),
    (bump_granian_past_pyproject, "granian 3.0.0 is outside pyproject.toml's >=2.8,<3"),
    (forget_msgspec_in_app, "does not select BR2_PACKAGE_PYTHON_MSGSPEC"),
    (select_a_typo, "selects BR2_PACKAGE_PYTHON_UVLOOOP, which neither"),
    (add_unlisted_package, "does not source package/python-extra/Config.in"),
    (point_defconfig_nowhere, "points at board/kvm/postbuild.sh, which is not in the tree"),
    (drop_app_from_defconfig, "nanokvm_rpi4_64_defconfig: does not select BR2_PACKAGE_KVM_APP"),
    (malform_hash, "malformed line"),
    (pend_the_wrong_archive, "pending hash for python-granian-2.8.8-cargo4.tar.gz"),
    (drop_external_desc, "external.desc: no desc"),
    (drift_app_version, "KVM_APP_VERSION is not pyproject.toml's"),
    (drop_busybox_fragment, "nanokvm_sg2002_defconfig: BR2_PACKAGE_BUSYBOX_CONFIG_FRAGMENT_FILES does not name"),
]


@pytest.mark.parametrize(("breakage", "expected"), BREAKAGES, ids=[b.__name__ for b, _ in BREAKAGES])
def test_a_broken_copy_of_the_tree_is_reported(tmp_path: Path, breakage: Callable[[Path], None], expected: str) -> None:
    tree = tmp_path / "buildroot"
    shutil.copytree(TREE, tree)
    native = native_deps()
    assert tree_problems(tree, REPO / "pyproject.toml", native) == []  # the copy starts clean
    breakage(tree)
    problems = tree_problems(tree, REPO / "pyproject.toml", native)
    assert any(expected in problem for problem in problems), problems


def test_parse_native_deps_reads_distributions_specifiers_and_stdlib() -> None:
    text = (
        "# header\n# distribution import minimum specifier tested # why\n"
        "python3 - 3.11 >=3.11 3.11.7  # the interpreter\n"
        "msgspec msgspec 0.22 >=0.22,>=0.18.2 0.23.0  # structs\n"
        "numpy numpy - - 2.4.6  # frames\n"
        "# Python stdlib modules that must be built (Buildroot python3 options):\n"
        "#   zlib: the archive\n#   ssl: HTTPS\n"
    )
    parsed = parse_native_deps(text)
    assert parsed.distributions == ["python3", "msgspec", "numpy"]
    assert parsed.specifiers == {"msgspec": ">=0.22,>=0.18.2"}
    assert parsed.stdlib == ["zlib", "ssl"]
