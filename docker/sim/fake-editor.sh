#!/bin/bash
# A stand-in for Code Editor's server in the simulated instance, without the real editor: it is
# started with Code Editor's command line (so a daemon can read --server-data-dir from /proc),
# lays out the server data folder as the server does at start, and then makes the editor's
# bookkeeping noise: the extension host touches data/User/workspaceStorage/<id>/vscode.lock every
# second for as long as it lives (measured with a real VS Code server; see docs/reference.md,
# "What a real VS Code server does"). None of it is a person's activity.
set -u

data=""
while [ $# -gt 0 ]; do
    case $1 in
    --server-data-dir) data=$2; shift ;;
    esac
    shift
done
[ -n "$data" ] || { echo "fake-editor: --server-data-dir is missing" >&2; exit 2; }

user=$data/data/User
session=$(date -u +%Y%m%dT%H%M%S)
lock=$user/workspaceStorage/5b4a3a2c1d0e9f8a7b6c5d4e3f2a1b0c/vscode.lock
mkdir -p "$(dirname "$lock")" "$user/globalStorage" "$user/caches/CachedConfigurations/default" \
    "$data/data/logs/$session/exthost1" "$data/data/Machine" \
    "$data/data/CachedProfilesData/__default__profile__" "$data/extensions"
echo '{}' >"$user/globalStorage/storage.json"
echo '{}' >"$data/data/Machine/.installExtensionsMarker"
echo '{}' >"$data/data/CachedProfilesData/__default__profile__/extensions.user.cache"
[ -e "$data/extensions/extensions.json" ] || echo '[]' >"$data/extensions/extensions.json"
echo "$(date -u +%FT%T) [info] extension host started" >"$data/data/logs/$session/exthost1/remoteexthost.log"
echo "{\"pid\":$$,\"willReleaseOn\":0}" >"$lock"

trap 'exit 0' TERM INT
while :; do
    sleep 1
    touch "$lock"
done
