#!/bin/bash
# autostop-async: lifecycle configuration (LCC) for SageMaker Studio Code Editor apps.
# At every app start it installs the autostop-async daemon into its own virtual environment
# and starts it, detached, under a small supervisor. The daemon deletes this app (DeleteApp)
# once nothing has happened for IDLE_TIME. Its log lines go to /var/log/apps/app_container.log,
# which reaches CloudWatch. Safe to run again: it leaves one daemon.
set -euo pipefail

# ------------------------------------------------------------------ settings: edit these
# Idle time before the app is deleted: seconds (3600), or 90m, 2h.
IDLE_TIME=3600
# Where the package comes from (`autostop-async deploy` sets it to the wheelhouse it uploaded):
#   an S3 URI           s3://bucket/wheelhouse/  (a folder with the package and all its dependencies;
#                       installs with no index: VPC-only domains without internet)
#                       or s3://bucket/autostop_async-0.1.0-py3-none-any.whl
#   a local folder      /home/sagemaker-user/wheelhouse  (a wheelhouse; no index either)
#   a URL               https://example.com/autostop_async-0.1.0-py3-none-any.whl
#   a pip requirement   only from an index you control (the name is not published on PyPI)
PACKAGE=
# More daemon flags, e.g. EXTRA_ARGS=(--exclude '*.log' --exclude '*/.cache/*')
EXTRA_ARGS=()
# ----------------------------------------------------------------------------------------
# AUTOSTOP_IDLE_TIME and AUTOSTOP_PACKAGE in the environment win over the settings above (tests).
IDLE_TIME=${AUTOSTOP_IDLE_TIME:-$IDLE_TIME}
PACKAGE=${AUTOSTOP_PACKAGE:-$PACKAGE}

STATE_DIR=/var/tmp/autostop-async   # supervisor, pid files, the venv's link; not the home folder
# The installed environment is kept on the space's own volume, one per package source and Python,
# so that a restart of the app finds it (a start in seconds). The daemon never counts it.
CACHE_ROOT=/home/sagemaker-user/.cache/autostop-async
LOG=/var/log/apps/app_container.log
INSTALL_TIMEOUT=180                 # seconds for pip (and 60 for S3): the LCC has 5 minutes

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() {
    local line
    line="$(now) autostop-async lcc: $*"
    echo "$line" >&2
    echo "$line" >>"$LOG" 2>/dev/null || true
}

# The line `autostop-async report` reads when auto-stop cannot run (docs/events.md): REASON is
# one of error, no-python, no-package, install (never user input: the line is JSON as written).
install_failed() {
    say "autostop-async-event {\"schema\":1,\"event\":\"install-failed\",\"time\":\"$(now)\",\"reason\":\"$1\"}"
}

# Whatever fails, the app must still start: say so in the log and exit 0 (fail open).
trap 'say "ERROR: line $LINENO failed (exit $?); the app will NOT stop by itself"; install_failed error; exit 0' ERR

# The log file must be writable by this user: the daemon appends to it.
if [ ! -w "$LOG" ]; then
    if ! { [ -w "$(dirname "$LOG")" ] && touch "$LOG"; } 2>/dev/null; then
        "${SUDO[@]}" mkdir -p "$(dirname "$LOG")"
        "${SUDO[@]}" touch "$LOG"
        "${SUDO[@]}" chown "$(id -u):$(id -g)" "$LOG"
    fi
fi

# State folder: ours, even if a root run made it before.
if [ ! -d "$STATE_DIR" ]; then
    mkdir -p "$STATE_DIR" 2>/dev/null || "${SUDO[@]}" mkdir -p "$STATE_DIR"
fi
if [ ! -O "$STATE_DIR" ]; then
    "${SUDO[@]}" chown -R "$(id -u):$(id -g)" "$STATE_DIR"
fi
chmod 0755 "$STATE_DIR"

# Credentials: the daemon uses the container credentials provider, which refreshes. If this
# shell did not get its variables, take them from the container's first process (in memory only).
if [ -z "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ]; then
    while IFS= read -r -d '' kv; do
        case $kv in
        AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=* | AWS_CONTAINER_CREDENTIALS_FULL_URI=* | \
            AWS_CONTAINER_AUTHORIZATION_TOKEN=* | AWS_REGION=* | AWS_DEFAULT_REGION=*)
            name=${kv%%=*}
            if [ -z "${!name:-}" ]; then export "${kv?}"; fi
            ;;
        esac
    done < <("${SUDO[@]}" cat /proc/1/environ 2>/dev/null || true)
fi

# ---------------------------------------------------------------------------- install
PYTHON=/opt/conda/bin/python
if [ ! -x "$PYTHON" ]; then PYTHON=$(command -v python3 || true); fi
if [ -z "$PYTHON" ]; then
    say "ERROR: no Python found (/opt/conda/bin/python, python3); the app will NOT stop by itself"
    install_failed no-python
    exit 0
fi
if [ -z "$PACKAGE" ]; then
    say "ERROR: PACKAGE is not set (autostop-async deploy sets it); the app will NOT stop by itself"
    install_failed no-package
    exit 0
fi
# One environment per package source and Python: a new wheelhouse or image gets a new one.
key=$(printf '%s\n' "$PACKAGE" "$(readlink -f "$PYTHON")" \
    "$("$PYTHON" -c 'import sys; print(sys.version)' 2>&1)" | sha256sum | cut -c1-16)
VENV=$STATE_DIR/venv
if mkdir -p "$CACHE_ROOT" 2>/dev/null && [ -w "$CACHE_ROOT" ]; then
    VENV=$CACHE_ROOT/env-$key
    EXTRA_ARGS+=(--exclude "$CACHE_ROOT")
fi

fetch_s3() {  # fetch_s3 S3_URI FOLDER: a single object, or every object under a prefix
    if command -v aws >/dev/null 2>&1; then
        case $1 in
        */) timeout 60 aws s3 cp --quiet --recursive "$1" "$2" ;;
        *) timeout 60 aws s3 cp --quiet "$1" "$2/" ;;
        esac
    else
        timeout 60 "$PYTHON" - "$1" "$2" <<'PY'
import os, sys, boto3
bucket, _, prefix = sys.argv[1][5:].partition("/")
s3 = boto3.client("s3")
keys = [prefix] if not prefix.endswith("/") else [
    o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for o in page.get("Contents", []) if not o["Key"].endswith("/")]
for key in keys:
    s3.download_file(bucket, key, os.path.join(sys.argv[2], os.path.basename(key)))
PY
    fi
}

install_package() {
    local pip=(timeout "$INSTALL_TIMEOUT" "$VENV/bin/python" -m pip install --quiet
        --disable-pip-version-check --no-cache-dir --no-warn-script-location)
    local wheelhouse
    rm -rf "$VENV" && "$PYTHON" -m venv "$VENV" || return 1
    # Nothing from the user's pip settings that would install outside the venv.
    export PIP_USER=0
    unset PIP_TARGET PIP_PREFIX
    case $PACKAGE in
    s3://*)
        wheelhouse=$STATE_DIR/wheelhouse
        rm -rf "$wheelhouse" && mkdir -p "$wheelhouse" || return 1
        fetch_s3 "$PACKAGE" "$wheelhouse" || return 1
        case $PACKAGE in
        */) "${pip[@]}" --no-index --find-links "$wheelhouse" autostop-async ;;
        *) "${pip[@]}" --find-links "$wheelhouse" "$wheelhouse/${PACKAGE##*/}" ;;
        esac
        ;;
    /* | ./*)
        if [ -d "$PACKAGE" ]; then
            "${pip[@]}" --no-index --find-links "$PACKAGE" autostop-async
        else
            "${pip[@]}" --find-links "$(dirname "$PACKAGE")" "$PACKAGE"
        fi
        ;;
    *) "${pip[@]}" "$PACKAGE" ;;
    esac
}

# One install at a time; skip it when this environment is complete (its mark is written last)
# and imports.
exec 8>"$STATE_DIR/install.lock"
flock -w "$INSTALL_TIMEOUT" 8
if [ "$(cat "$VENV/.autostop-installed" 2>/dev/null)" = "$key $PACKAGE" ] &&
    "$VENV/bin/python" -I -c 'import autostop_async.__main__' 2>/dev/null; then
    say "already installed from $PACKAGE ($VENV)"
else
    started=$SECONDS
    say "installing from $PACKAGE with $PYTHON into $VENV"
    if ! install_output=$(install_package 2>&1); then
        say "ERROR: install from $PACKAGE failed; the app will NOT stop by itself: $(tail -n 5 <<<"$install_output" | tr '\n' ' ')"
        install_failed install
        exit 0
    fi
    echo "$key $PACKAGE" >"$VENV/.autostop-installed"
    say "installed autostop-async $("$VENV/bin/python" -c \
        'import importlib.metadata as m; print(m.version("autostop-async"))') in $((SECONDS - started))s"
fi
exec 8>&-
if [ "$VENV" != "$STATE_DIR/venv" ]; then  # the supervisor and users find it there
    if [ -d "$STATE_DIR/venv" ] && [ ! -L "$STATE_DIR/venv" ]; then rm -rf "$STATE_DIR/venv"; fi
    ln -sfn "$VENV" "$STATE_DIR/venv"
fi

# ---------------------------------------------------------------------- supervisor
# Restarts the daemon after a crash with growing backoff; stops after exit 0 (app deleted,
# or stopped by a signal) or 2 (bad configuration: restarting will not help). The lock on
# supervisor.lock is held by the supervisor and the daemon: while either lives, no second one.
SUPERVISOR=$STATE_DIR/supervise.sh
cat >"$SUPERVISOR.new" <<'SUPERVISOR_EOF'
#!/bin/bash
# autostop-async supervisor, written by the lifecycle configuration. Usage: supervise.sh STATE_DIR LOG [daemon flags]
STATE_DIR=$1 LOG=$2
shift 2
exec 9>>"$STATE_DIR/supervisor.lock"
flock -n 9 || exit 0
echo $$ >"$STATE_DIR/supervisor.pid"
say() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) autostop-async supervisor[$$]: $*" >>"$LOG"; }
child=""
stop() {
    say "stopping on SIGTERM; stopping the daemon"
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi
    rm -f "$STATE_DIR/supervisor.pid" "$STATE_DIR/daemon.pid"
    exit 0
}
trap stop TERM INT
trap '' HUP
delay=1
while :; do
    started=$SECONDS
    # shellcheck disable=SC2094  # the daemon only appends to the log
    "$STATE_DIR/venv/bin/python" -m autostop_async --log-file "$LOG" "$@" >>"$LOG" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$STATE_DIR/daemon.pid"
    wait "$child"
    rc=$?
    child=""
    ran=$((SECONDS - started))
    if [ "$rc" -eq 0 ]; then
        say "daemon exited 0 after ${ran}s (app deleted, or stopped); not restarting"
        break
    elif [ "$rc" -eq 2 ]; then
        say "daemon exited 2: bad configuration (see the error line above); not restarting"
        break
    fi
    if [ "$ran" -ge 600 ]; then delay=1; fi
    say "daemon exited with code $rc after ${ran}s; restarting in ${delay}s"
    sleep "$delay" &
    wait $!
    delay=$((delay * 2 > 300 ? 300 : delay * 2))
done
rm -f "$STATE_DIR/supervisor.pid" "$STATE_DIR/daemon.pid"
SUPERVISOR_EOF
chmod 0755 "$SUPERVISOR.new"
mv -f "$SUPERVISOR.new" "$SUPERVISOR"   # a new file: a running supervisor keeps reading its own

if ! flock -n "$STATE_DIR/supervisor.lock" true; then
    say "already running (supervisor $(cat "$STATE_DIR/supervisor.pid" 2>/dev/null || echo '?'), daemon $(cat "$STATE_DIR/daemon.pid" 2>/dev/null || echo '?')); leaving it"
    exit 0
fi
rm -f "$STATE_DIR/daemon.pid"
unset AUTOSTOP_PACKAGE
# shellcheck disable=SC2094  # the supervisor only appends to the log
AUTOSTOP_IDLE_TIME=$IDLE_TIME setsid "$SUPERVISOR" "$STATE_DIR" "$LOG" "${EXTRA_ARGS[@]}" \
    </dev/null >>"$LOG" 2>&1 &

# Report what happened, without waiting long: the daemon logs its own start line.
for _ in $(seq 1 50); do
    if [ -s "$STATE_DIR/daemon.pid" ]; then break; fi
    sleep 0.1
done
if [ -s "$STATE_DIR/daemon.pid" ]; then
    say "started: supervisor $(cat "$STATE_DIR/supervisor.pid" 2>/dev/null), daemon $(cat "$STATE_DIR/daemon.pid"); idle time $IDLE_TIME; log $LOG"
else
    say "WARNING: the daemon did not start within 5 s; see $LOG"
fi
