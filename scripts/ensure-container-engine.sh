#!/usr/bin/env bash
# Make sure a container engine answers, for `nox -s e2e`. Idempotent; needs root (or sudo).
#   - `docker info` already works: nothing to do.
#   - else install Debian's docker.io if dockerd is missing, start dockerd in the background
#     (log: /var/log/dockerd.log) and wait until `docker info` answers.
# Also installs debootstrap (the e2e session builds its base image with it when none exists),
# ShellCheck (the e2e session checks the shell scripts), and what the real-editor scenarios need:
# chromium (the browser Playwright drives), and for `npm install code-server` (run by the e2e
# session, docker/install-code-server.sh) ripgrep, libkrb5-dev, g++ and make. code-server needs
# node 20 and npm, which Debian bookworm does not have (its nodejs is 18): these machines come with
# NodeSource's nodejs 20; without it the script says so (the editor scenarios then fail).
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
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/krb5/krb5.h ] || missing+=(libkrb5-dev)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
    log "node 20 and npm are missing (NodeSource's nodejs 20); the real-editor e2e scenarios need them"
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
