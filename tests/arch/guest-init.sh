#!/bin/sh
# PID 1 of an architecture-tier guest (tests/arch/run.py), after the kernel tier's initramfs
# switch_root'ed into the rootfs built from Debian's packages for this architecture (read-only 9p
# + tmpfs overlay). It does what a board image's boot does before the overlay's init scripts, then
# runs them as BusyBox's rcS does (/etc/init.d/S??* start, in order), then serves the host's checks
# through tests/arch/guest/agent.py on port 7000 until the host asks it to power off.
#
# Shares: /out (this run: the artifact, the board's extra config, logs back to the host) and /src
# (the checkout, read-only: the overlay and the guest-side helpers).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

say() {
	echo "guest: $(cut -d' ' -f1 /proc/uptime) $*" >>/out/guest.log
}

poweroff_now() {
	dmesg >/out/dmesg.txt 2>&1
	sync
	echo o >/proc/sysrq-trigger
	sleep 30
}

fail() {
	say "FAILED: $*"
	echo "$*" >/out/failed
	poweroff_now
}

say "init (kernel $(uname -r), $(uname -m))"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname "arch-$(uname -m)"
# The booted kernel's modules (the rootfs's own, or for amd64 the kernel tier's, with gpio-sim).
mkdir -p "/lib/modules/$(uname -r)"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose modules "/lib/modules/$(uname -r)" \
	|| fail "cannot mount the modules"
modprobe configfs 2>/dev/null
mount -t configfs configfs /sys/kernel/config || fail "cannot mount configfs"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose src /src || fail "cannot mount /src"

# Network: QEMU's user networking (10.0.2.2 is the host; the host reaches us by port forwards).
modprobe virtio_net
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

# The board's hardware: dummy_hcd is the UDC (and the USB host the gadget plugs into), vivid the
# HDMI capture (input 3). The host side's drivers are what a PC would load.
modprobe -a dummy_hcd libcomposite usb_f_hid usb_f_mass_storage usbhid hid_generic evdev usb_storage sd_mod sr_mod \
	|| fail "cannot load the USB modules"
modprobe vivid n_devs=1 node_types=0x1 input_types=0xe4 || fail "cannot load vivid"
if modprobe gpio-sim 2>/dev/null; then # only the amd64 baseline's kernel has it (built by tests/kernel)
	sim=/sys/kernel/config/gpio-sim/kvm-atx
	mkdir -p "$sim/bank0" && echo 5 >"$sim/bank0/num_lines" && echo kvm-atx >"$sim/bank0/label" && echo 1 >"$sim/live"
fi
say "modules loaded"

# What the image holds: the overlay, the artifact, and the board's device files.
cp -a /src/overlay/. / || fail "cannot install the overlay"
mkdir -p /usr/lib/kvm /boot /data
cp /out/nanokvm-py.pyz /usr/lib/kvm/nanokvm-py.pyz || fail "no /out/nanokvm-py.pyz"
cat /out/server-extra.yaml >>/etc/kvm/server.yaml
# The ATX lines: the machine's own GPIO controller where it has one (arm64 virt: a PL061; line 3 is
# its power key). Debian's trixie kernels build no gpio-sim for any architecture (tests/arch/README.md).
chip=$(cat /sys/class/gpio/gpiochip*/label 2>/dev/null | head -n 1)
if [ -n "$chip" ]; then
	sed -i -e "s/powerButton: \"\"/powerButton: \"$chip:0\"/" -e "s/resetButton: \"\"/resetButton: \"$chip:1\"/" \
		-e "s/powerLed: \"\"/powerLed: \"$chip:2\"/" -e "s/hddLed: \"\"/hddLed: \"$chip:4\"/" /etc/kvm/server.yaml
	say "ATX lines on GPIO chip $chip"
else
	say "no GPIO chip: the ATX lines stay NanoKVM's (absent here)"
fi
: >/boot/usb.disk0                      # the mass-storage LUN (NanoKVM's default gadget has one)
dd if=/dev/zero of=/dev/mmcblk0p3 bs=64k count=4 2>/dev/null # the data partition's stand-in
python3 /src/tests/arch/guest/probe.py make-iso /data/arch-tier.iso ARCH-TIER || fail "cannot make the ISO"

# BusyBox's rcS: every /etc/init.d/S??* start, in order.
for script in /etc/init.d/S??*; do
	[ -x "$script" ] || continue
	case "$script" in */S95nanokvm) cut -d' ' -f1 /proc/uptime >/out/app-start ;; esac
	say "$script start"
	sh "$script" start >>/out/guest.log 2>&1 || say "$script start: exit $?"
done

say "agent starting"
python3 /src/tests/arch/guest/agent.py 7000 >>/out/guest.log 2>&1
say "agent ended: powering off"
cp /var/log/kvm.log /out/kvm.log 2>/dev/null
poweroff_now
