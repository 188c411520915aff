#!/usr/bin/env bash
# Adds conchd to a root filesystem directory: the bundle at /opt/conch, its config at
# /etc/conch/conchd.env, and a service for the image's init system.
#
#   guest-image/install.sh ROOTFS [--init systemd|openrc|inittab|none] [--bundle DIR]
#                                 [--inittab-style busybox|sysvinit]
#
# inittab syntax differs between busybox init and sysvinit; the style follows the rootfs's
# /sbin/init (a link to busybox, or not) unless --inittab-style names it.
#
# The rootfs needs Node >= 20 on PATH (or set CONCH_NODE in conchd.env). Build the repo first
# (`npm ci`), or pass --bundle with a tree made by `node guest-image/bundle.mjs DIR`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 ROOTFS [--init systemd|openrc|inittab|none] [--bundle DIR] [--inittab-style busybox|sysvinit]" >&2; exit 64; }

[ $# -ge 1 ] || usage
rootfs=$1; shift
init=systemd
bundle=""
inittab_style=""
while [ $# -gt 0 ]; do
  case "$1" in
    --init) init=${2:-}; shift 2 ;;
    --bundle) bundle=${2:-}; shift 2 ;;
    --inittab-style) inittab_style=${2:-}; shift 2 ;;
    *) usage ;;
  esac
done
[ -d "$rootfs" ] || { echo "install: $rootfs is not a directory" >&2; exit 66; }

if [ -z "$bundle" ]; then
  bundle=$(mktemp -d)
  trap 'rm -rf "$bundle"' EXIT
  node "$here/bundle.mjs" "$bundle" >/dev/null
fi
[ -x "$bundle/opt/conch/bin/conchd" ] || { echo "install: no bundle at $bundle/opt/conch" >&2; exit 66; }

mkdir -p "$rootfs/opt" "$rootfs/etc/conch"
rm -rf "$rootfs/opt/conch"
cp -a "$bundle/opt/conch" "$rootfs/opt/conch"
# Keep an existing config: the image builder may have set endpoints or a token already.
[ -f "$rootfs/etc/conch/conchd.env" ] || install -m 0644 "$here/units/conchd.env" "$rootfs/etc/conch/conchd.env"

case "$init" in
  systemd)
    install -D -m 0644 "$here/units/conchd.service" "$rootfs/etc/systemd/system/conchd.service"
    mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
    ln -sf ../conchd.service "$rootfs/etc/systemd/system/sysinit.target.wants/conchd.service"
    ;;
  openrc)
    install -D -m 0755 "$here/units/conchd.openrc" "$rootfs/etc/init.d/conchd"
    mkdir -p "$rootfs/etc/runlevels/sysinit"
    ln -sf /etc/init.d/conchd "$rootfs/etc/runlevels/sysinit/conchd"
    ;;
  inittab)
    if [ -z "$inittab_style" ]; then
      case "$(readlink "$rootfs/sbin/init" 2>/dev/null || true)" in
        *busybox*) inittab_style=busybox ;;
        *) if [ -e "$rootfs/sbin/init" ]; then inittab_style=sysvinit; else inittab_style=busybox; fi ;;
      esac
    fi
    case "$inittab_style" in busybox|sysvinit) ;; *) usage ;; esac
    # busybox init ignores its built-in defaults once /etc/inittab exists: keep them.
    if [ ! -f "$rootfs/etc/inittab" ] && [ "$inittab_style" = busybox ]; then
      install -m 0644 "$here/units/inittab.busybox-defaults" "$rootfs/etc/inittab"
    fi
    touch "$rootfs/etc/inittab"
    grep -q '/opt/conch/bin/conchd' "$rootfs/etc/inittab" || cat "$here/units/inittab.$inittab_style" >> "$rootfs/etc/inittab"
    init="inittab, $inittab_style syntax"
    ;;
  none) ;;
  *) usage ;;
esac
echo "install: conchd added to $rootfs (init: $init)"
