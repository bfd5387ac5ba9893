#!/bin/sh
# Print the path of a Python 3.13 for PiKVM's client venv (aiopikvm 0.2.1 requires >= 3.13), making one
# when the machine has none. Exit 1 (with the reason on stderr) when there is none and none can be made.
#
# In order: one built here before (the cache), python3.13 on PATH, pyenv's 3.13.x, Debian's own package
# where apt offers it (Debian 13, newer Ubuntu), else (root, apt) CPython built from the upstream tarball
# in Debian's python3.13 source package (trixie's): no registry but Debian's is needed. The build takes
# a few minutes once and is cached outside the checkout (like the kernel tier's kernel):
# ${KVM_PY313_PREFIX:-/var/cache/kvm-python3.13} as root, else ~/.cache/kvm-python3.13.
set -eu

if [ "$(id -u)" = 0 ]; then
    prefix="${KVM_PY313_PREFIX:-/var/cache/kvm-python3.13}"
else
    prefix="${KVM_PY313_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-python3.13}"
fi

usable() {  # a 3.13 that can make a venv with pip and speak TLS (the clients' https)
    [ -x "$1" ] && "$1" -c 'import sys, venv, ensurepip, ssl; assert sys.version_info[:2] == (3, 13)' 2>/dev/null
}

for candidate in "$prefix/bin/python3.13" "$(command -v python3.13 || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
    if [ -n "$candidate" ] && usable "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "no Python 3.13 here, and making one needs root and apt-get (Debian's source package)" >&2
    exit 1
fi

if apt-cache show python3.13-venv >/dev/null 2>&1 && apt-get install -y -qq python3.13-venv >&2 \
    && usable /usr/bin/python3.13; then
    echo /usr/bin/python3.13
    exit 0
fi

# Build it. Debian's trixie source index goes into a private apt state directory: the system's own
# sources and package lists stay as they are.
echo "building Python 3.13 from Debian's python3.13 source package into $prefix (once; a few minutes)" >&2
started=$(date +%s)
work=$(mktemp -d)
chmod 755 "$work" # apt fetches as _apt
trap 'rm -rf "$work"' EXIT
apt-get install -y -qq build-essential libssl-dev libffi-dev zlib1g-dev libbz2-dev liblzma-dev \
    libsqlite3-dev libreadline-dev xz-utils >/dev/null
mkdir -p "$work/lists/partial" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${KVM_DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie main" \
    >"$work/sources.list"
apt_private="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists"
# shellcheck disable=SC2086 # the options are words on purpose
apt-get -qq $apt_private update >&2
# shellcheck disable=SC2086
(cd "$work/src" && apt-get -qq $apt_private source --download-only python3.13 >&2)
set -- "$work"/src/python3.13_3.13.*.orig.tar.xz
tar -xJf "$1" -C "$work"
set -- "$work"/Python-3.13.*
tree=$1
(
    cd "$tree"
    ./configure -q --prefix="$prefix" >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log" >&2; exit 1; }
    make -s -j"$(nproc)" >"$work/make.log" 2>&1 || { tail -30 "$work/make.log" >&2; exit 1; }
    make -s altinstall DESTDIR="$work/stage" >"$work/install.log" 2>&1 || { tail -30 "$work/install.log" >&2; exit 1; }
)
# Staged, then moved into place whole: a build cut short never looks like a Python here.
rm -rf "$prefix"
mkdir -p "$(dirname "$prefix")"
mv "$work/stage$prefix" "$prefix"
if ! usable "$prefix/bin/python3.13"; then
    echo "the Python 3.13 built in $prefix is not usable (no ssl or venv?)" >&2
    exit 1
fi
echo "Python 3.13 built in $(($(date +%s) - started)) s" >&2
echo "$prefix/bin/python3.13"
