#!/bin/sh
# PID 1 of the kernel-tier guest, after the initramfs switch_root'ed into the host's /
# (read-only 9p + tmpfs overlay). Sets up the usual mounts, makes the extracted Debian
# kernel's modules visible at /lib/modules/<kver>, runs ONE pytest over
# tests/kernel/guest, writes /out/{rc,dmesg.txt} and powers off.
#
# Parameters come on the kernel command line (kt.src kt.py kt.kdir kt.kver) and, for
# the extra pytest arguments, one per line in /out/pytest-args.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

poweroff_now() {
    sync
    echo o >/proc/sysrq-trigger
    sleep 30
}

fail() {
    echo "guest-init: $*" | tee -a /out/pytest.log >/dev/console
    echo 3 >/out/rc
    dmesg >/out/dmesg.txt 2>&1
    poweroff_now
}

KT_SRC='' KT_PY='' KT_KDIR='' KT_KVER=''
read -r CMDLINE </proc/cmdline
# shellcheck disable=SC2086 # word splitting of the command line is wanted
for arg in $CMDLINE; do
    case "$arg" in
        kt.src=*) KT_SRC="${arg#kt.src=}" ;;
        kt.py=*) KT_PY="${arg#kt.py=}" ;;
        kt.kdir=*) KT_KDIR="${arg#kt.kdir=}" ;;
        kt.kver=*) KT_KVER="${arg#kt.kver=}" ;;
    esac
done
if [ -z "$KT_SRC" ] || [ -z "$KT_PY" ] || [ -z "$KT_KDIR" ] || [ -z "$KT_KVER" ]; then
    fail "missing kt.* parameters on the kernel command line"
fi

mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# No tmpfs on /tmp: the checkout, venv or cache may live there (the overlay is writable anyway).
hostname kernel-tier-guest

# The host may have no /lib/modules/<kver>, or another one: bind the extracted tree.
mkdir -p "/lib/modules/$KT_KVER"
mount --bind "$KT_KDIR/lib/modules/$KT_KVER" "/lib/modules/$KT_KVER" || fail "cannot bind the modules"
modprobe configfs 2>/dev/null
mount -t configfs configfs /sys/kernel/config || fail "cannot mount configfs"
mount -t debugfs debugfs /sys/kernel/debug
ip link set lo up 2>/dev/null

cd "$KT_SRC" || fail "no checkout at $KT_SRC"
export KT_GUEST=1 KT_KVER KT_KDIR KT_SRC HOME=/root LANG=C.UTF-8
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONUNBUFFERED=1
set -- -c tests/kernel/guest/pytest.ini --rootdir "$KT_SRC" --junitxml=/out/junit.xml
if [ -f /out/pytest-args ]; then
    while IFS= read -r a; do
        set -- "$@" "$a"
    done </out/pytest-args
fi
echo "guest: booted in $(cut -d' ' -f1 /proc/uptime) s; running pytest" >>/out/pytest.log
"$KT_PY" -m pytest "$@" >>/out/pytest.log 2>&1
echo "$?" >/out/rc
dmesg >/out/dmesg.txt 2>&1
poweroff_now
