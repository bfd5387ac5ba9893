#!/bin/busybox sh
# /init of the kernel tier's initramfs (busybox only). It mounts the host's / (9p,
# read-only) with a tmpfs overlay on top, mounts the /out share, and switch_roots into
# it, running the guest-init script named by kt.init= from the host's filesystem.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
    echo "initramfs: $*" >/dev/console
    echo o >/proc/sysrq-trigger
    sleep 10
}

while read -r mod; do
    insmod "/modules/$mod" || die "insmod $mod failed"
done </modules/order

KT_INIT=
read -r CMDLINE </proc/cmdline
# shellcheck disable=SC2086 # word splitting of the command line is wanted
for arg in $CMDLINE; do
    case "$arg" in
        kt.init=*) KT_INIT="${arg#kt.init=}" ;;
    esac
done
[ -n "$KT_INIT" ] || die "no kt.init= on the kernel command line"

mkdir -p /mnt/lower /mnt/rw
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /mnt/lower \
    || die "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /newroot \
    || die "cannot mount the overlay"
mkdir -p /newroot/out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /newroot/out || die "cannot mount /out"
for fs in proc sys dev; do
    mount --move "/$fs" "/newroot/$fs"
done
exec switch_root /newroot /bin/sh "$KT_INIT"
