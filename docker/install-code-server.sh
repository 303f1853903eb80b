#!/usr/bin/env bash
# Install code-server (the open-source VS Code server Code Editor is built on) from npm into a
# folder on the host, for the editor image (docker/Dockerfile.editor copies it, with the host's
# node). Usage:
#   docker/install-code-server.sh DEST [VERSION]        (default version 4.100.3)
# Idempotent: DEST/.installed names the version once the install worked.
#
# Needs node 20 and npm, g++ and make (node-pty and kerberos compile), libkrb5-dev (kerberos),
# and ripgrep: @vscode/ripgrep downloads rg from GitHub in its postinstall, which cannot be
# reached here, so its download cache is seeded with Debian's /usr/bin/rg first.
# code-server 4.100.3 is the newest release that accepts node 20 (4.101 and later want node 22).
set -euo pipefail

DEST=${1:?usage: install-code-server.sh DEST [VERSION]}
VERSION=${2:-4.100.3}
RIPGREP_CACHE=vscode-ripgrep-cache-1.15.11
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz

log() { printf 'install-code-server: %s\n' "$*" >&2; }

if [ "$(cat "$DEST/.installed" 2>/dev/null)" = "$VERSION" ]; then
    log "code-server $VERSION already in $DEST"
    exit 0
fi
for tool in node npm g++ make rg; do
    command -v "$tool" >/dev/null || { log "$tool is missing (scripts/ensure-container-engine.sh installs it)"; exit 1; }
done
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
    log "node $(node -v) is too old for code-server $VERSION (needs 20)"
    exit 1
fi

started=$SECONDS
work=$(mktemp -d /var/tmp/autostop-code-server.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The seeded ripgrep download (the postinstall looks in $TMPDIR/<cache>/<asset>).
mkdir -p "$work/tmp/$RIPGREP_CACHE" "$work/rg"
cp "$(command -v rg)" "$work/rg/rg"
tar -C "$work/rg" -czf "$work/tmp/$RIPGREP_CACHE/$RIPGREP_ASSET" rg

rm -rf "$DEST.partial"
mkdir -p "$DEST.partial"
log "npm install code-server@$VERSION into $DEST (a minute or two)"
# unsafe_perm: the postinstall scripts also run as root; yes: node-pty's postinstall runs npx.
TMPDIR="$work/tmp" npm_config_yes=true npm_config_unsafe_perm=true npm_config_fund=false \
    npm_config_audit=false npm_config_update_notifier=false \
    npm install --prefix "$DEST.partial" --no-save --foreground-scripts \
    "code-server@$VERSION" >"$work/npm.log" 2>&1 || {
    tail -n 40 "$work/npm.log" >&2
    log "npm install failed"
    exit 1
}
"$DEST.partial/node_modules/.bin/code-server" --version >/dev/null
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "$VERSION" >"$DEST/.installed"
log "installed in $((SECONDS - started)) s"
