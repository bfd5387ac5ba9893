#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT) for nanokvm-py images.
#
#   post-build.sh TARGET_DIR [ARGS...]
#
# Installs the repository's rootfs overlay (overlay/, beside this br2-external tree), makes the
# directories the app keeps its state in, keeps SSH off until the admin turns it on, and refuses
# an image with a secret baked in (keys, passwords and certificates are made on the device).
# Buildroot passes BR2_ROOTFS_POST_SCRIPT_ARGS after TARGET_DIR to every post-build script; the
# board's own script may want them, this one ignores them.
set -eu

fail() {
	echo "post-build.sh: $*" >&2
	exit 1
}

[ $# -ge 1 ] || fail "usage: post-build.sh TARGET_DIR"
target=$1
[ -d "$target" ] || fail "no target directory: $target"

# Buildroot exports the tree's path; without it (a manual run) it is this script's tree.
external=${BR2_EXTERNAL_NANOKVM_PY_PATH:-$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)}
overlay=${KVM_OVERLAY_DIR:-$external/../overlay}
[ -d "$overlay" ] || fail "no rootfs overlay at $overlay (the repository's overlay/)"

# 1. The overlay, modes kept (init scripts stay executable). -P copies symlinks as symlinks.
#    Ownership does not matter here: Buildroot makes every file root-owned in the image.
cp -R -P -p "$overlay/." "$target/"
find "$target" -name .gitkeep -type f -exec rm -f {} +

# 2. Where the app keeps its state: /data (disk images, world-readable like NanoKVM's),
#    /etc/kvm (accounts, JWT secret, TLS key: root only), /kvmapp (the app's runtime files).
mkdir -p "$target/data" "$target/etc/kvm" "$target/kvmapp"
chmod 0755 "$target/data" "$target/kvmapp"
chmod 0700 "$target/etc/kvm"
#    /kvmapp/version (installed by kvm-app, kept as it is) is the version the app reports; an update
#    through the app replaces /kvmapp, version included.
if [ ! -s "$target/kvmapp/version" ]; then
	echo "post-build.sh: warning: no /kvmapp/version (kvm-app installs it): the app will report 1.0.0" >&2
fi

# 3. SSH is off until the admin turns it on: the app's switch runs
#    /etc/init.d/S50sshd permanent_on|permanent_off, which removes or creates /etc/kvm/ssh_stop.
#    Buildroot's dropbear package installs S50dropbear, which would start it at every boot.
if [ -e "$target/etc/init.d/S50dropbear" ]; then
	if [ ! -e "$target/etc/init.d/S50sshd" ]; then
		echo "post-build.sh: warning: the overlay has no etc/init.d/S50sshd: SSH cannot be turned on" >&2
	fi
	rm -f "$target/etc/init.d/S50dropbear"
fi
: >"$target/etc/kvm/ssh_stop"
# Buildroot's dropbear links /etc/dropbear to /var/run/dropbear, where host keys would not survive a
# reboot (a new host key at every boot). A real, empty directory instead: dropbear -R makes the keys
# there on the device when SSH is first switched on.
if [ -L "$target/etc/dropbear" ]; then
	rm -f "$target/etc/dropbear"
	mkdir -m 0700 "$target/etc/dropbear"
fi

# 4. No secret of any kind in the image: each of these is made on the device at first boot.
secrets="
etc/kvm/pwd
etc/kvm/server.key
etc/kvm/server.crt
etc/kvm/wifi.pass
device_key
"
for path in $secrets; do
	[ ! -e "$target/$path" ] || fail "the image would ship /$path; it must be made on the device"
done
for key in "$target"/etc/ssh/ssh_host_*key "$target"/etc/dropbear/dropbear_*_host_key; do
	[ ! -e "$key" ] || fail "the image would ship the SSH host key ${key#"$target"}"
done
config=$target/etc/kvm/server.yaml
if [ -f "$config" ] && grep -Eiq '^[[:space:]]*secretkey:[[:space:]]*[^[:space:]#"'\'']' "$config"; then
	fail "/etc/kvm/server.yaml sets jwt.secretKey; leave it empty (the device makes its own)"
fi
if [ -f "$config" ] && grep -Eiq '^[[:space:]]*secretkey:[[:space:]]*("[^"]+"|'\''[^'\'']+'\'')' "$config"; then
	fail "/etc/kvm/server.yaml sets jwt.secretKey; leave it empty (the device makes its own)"
fi
