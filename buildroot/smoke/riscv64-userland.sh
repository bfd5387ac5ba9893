#!/bin/sh
# Occasional riscv64 smoke test (not in CI): does the app import, and does its pure logic pass, on a
# riscv64 userland? Debian trixie riscv64 under qemu-user, without binfmt_misc or a chroot:
#
#   buildroot/smoke/riscv64-userland.sh [WORKDIR]     # as root, from the repository; ~1 GB, ~15 min
#
# Needs qemu-user-static and debootstrap (Debian packages) and a built artifact (task dist). The
# native modules come from Debian (msgspec, uvloop, numpy, OpenCV, pycryptodome), the rest from
# dist/nanokvm-py.pyz; tests/unit runs with Debian's pytest. Debian has no granian (the server is
# not started) and ships pycryptodome as "Cryptodome" only, so a small import hook aliases "Crypto"
# to it. Tests that start sys.executable in a subprocess cannot run (no binfmt_misc: "Exec format
# error"), nor test_access.py (litestar.testing is not in the artifact).
set -eu

repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
work=${1:-/tmp/nanokvm-riscv64-smoke}
root=$work/root
pyz=$repo/dist/nanokvm-py.pyz
qemu=$(command -v qemu-riscv64-static) || {
	echo "needs qemu-user-static" >&2
	exit 1
}
[ -f "$pyz" ] || {
	echo "needs $pyz: run task dist" >&2
	exit 1
}

if [ ! -x "$root/usr/bin/python3" ]; then
	# First stage only: downloads and unpacks, runs nothing of riscv64. The --include packages stay
	# as .deb files in the apt cache; unpack them by hand (their maintainer scripts never run).
	debootstrap --foreign --arch=riscv64 --variant=minbase \
		--include=python3,python3-numpy,python3-opencv,python3-msgspec,python3-uvloop,python3-pycryptodome,python3-pytest,python3-pytest-asyncio,python3-httpx,python3-yaml \
		trixie "$root" http://deb.debian.org/debian
	for deb in "$root"/var/cache/apt/archives/*.deb; do
		dpkg-deb -x "$deb" "$root"
	done
	# What update-alternatives would have linked: numpy needs libblas.so.3 and liblapack.so.3.
	for lib in blas lapack; do
		ln -sf "$lib/lib$lib.so.3" "$root/usr/lib/riscv64-linux-gnu/lib$lib.so.3"
	done
fi

mkdir -p "$work/shim" "$work/repo"
cat >"$work/shim/sitecustomize.py" <<'EOF'
# Debian's pycryptodome is "Cryptodome": every Crypto.X is the very same Cryptodome.X module object.
import importlib
import importlib.abc
import importlib.util
import sys


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "Crypto" or name.startswith("Crypto."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module("Cryptodome" + spec.name[len("Crypto"):])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Alias())
EOF
# Copies of the artifact (a rebuild must not change it under the running test) and of the tests
# (nothing is written into the working tree).
rm -rf "$work/repo/tests"
cp "$pyz" "$work/nanokvm-py.pyz"
cp -R "$repo/tests" "$repo/pyproject.toml" "$repo/server.yaml" "$work/repo/"
pyz=$work/nanokvm-py.pyz

cd "$work/repo"
export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$work/shim:$pyz:$work/repo"
"$qemu" -L "$root" "$root/usr/bin/python3" -c '
import platform, time
start = time.monotonic()
import cv2, msgspec, numpy, uvloop, Crypto.Cipher.AES
import app.server
print(platform.machine(), platform.python_version(), "msgspec", msgspec.__version__, "uvloop", uvloop.__version__,
      "numpy", numpy.__version__, "cv2", cv2.__version__, "- app.server imported in %.1f s" % (time.monotonic() - start))
'
exec "$qemu" -L "$root" "$root/usr/bin/python3" -m pytest tests/unit -q -p no:cacheprovider -p no:anyio \
	-c pyproject.toml --rootdir=. -o addopts= -o asyncio_mode=auto --ignore=tests/unit/test_access.py
