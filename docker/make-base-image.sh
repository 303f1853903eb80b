#!/usr/bin/env bash
# Make the local base image for Dockerfile.sim when no registry can be reached:
# debootstrap a minimal Debian bookworm and import it.  Usage:
#   docker/make-base-image.sh [IMAGE]          (default autostop-sim-base)
# Env: ENGINE (docker|podman, default docker), MIRROR (default: the host's apt sources, else
# http://deb.debian.org/debian), FORCE=1 to rebuild an existing image.  Needs root and debootstrap.
set -euo pipefail

IMAGE=${1:-autostop-sim-base}
ENGINE=${ENGINE:-docker}
PACKAGES=python3,python3-venv,sudo,git,procps,ca-certificates,curl,util-linux

log() { printf 'make-base-image: %s\n' "$*" >&2; }

if [ "${FORCE:-0}" != 1 ] && "$ENGINE" image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE exists"
    exit 0
fi

host_mirror() {
    # First http(s) Debian mirror named in the host's apt sources (deb822 or one-line style).
    local files=() f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && files+=("$f")
    done
    [ "${#files[@]}" -gt 0 ] || return 0
    grep -hoE 'https?://[^ ]+/debian/?( |$)' "${files[@]}" 2>/dev/null | head -n1 | tr -d ' '
}

MIRROR=${MIRROR:-$(host_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || { log "debootstrap is missing (apt-get install debootstrap)"; exit 1; }

ROOTFS=$(mktemp -d /var/tmp/autostop-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
log "debootstrap bookworm from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" >/dev/null
# Smaller image: no apt lists or caches.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
log "importing as $IMAGE"
tar -C "$ROOTFS" -c . | "$ENGINE" import - "$IMAGE" >/dev/null
log "done"
