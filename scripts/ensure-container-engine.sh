#!/usr/bin/env bash
# Make sure a container engine answers, for `nox -s e2e`. Idempotent; needs root (or sudo).
#   - `docker info` already works: nothing to do.
#   - else install Debian's docker.io if dockerd is missing, start dockerd in the background
#     (log: /var/log/dockerd.log) and wait until `docker info` answers.
# Also installs debootstrap (the e2e session builds its base image with it when none exists)
# and shellcheck (the e2e session checks the shell scripts).
set -euo pipefail

log() { printf 'ensure-container-engine: %s\n' "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0

apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

if docker info >/dev/null 2>&1; then
    log "docker answers"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "installing docker.io"
    apt_install docker.io iptables
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/dockerd.log)"
    "${SUDO[@]}" bash -c 'nohup setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &'
fi

for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "docker answers"
        exit 0
    fi
    sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
exit 1
