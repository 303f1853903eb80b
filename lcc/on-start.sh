#!/bin/bash
# autostop-async: lifecycle configuration (LCC) for SageMaker Studio Code Editor apps. It
# starts a supervisor, detached, and returns in seconds; the supervisor installs and runs the
# daemon, which deletes this app once idle for IDLE_TIME. Logs: /var/log/apps/app_container.log.
set -euo pipefail

# ------------------------------------------------------------------ settings: edit these
# Idle time before the app is deleted: seconds (3600), or 90m, 2h.
IDLE_TIME=3600
# The package (deploy sets it): a wheelhouse, installed with no index (s3://bucket/wheelhouse/
# or a folder), a wheel (s3://…/x.whl, a path, a URL), or a requirement from your own index.
PACKAGE=
# More daemon flags, e.g. EXTRA_ARGS=(--exclude '*.log' --exclude '*/.cache/*')
EXTRA_ARGS=()
# ----------------------------------------------------------------------------------------
# AUTOSTOP_IDLE_TIME and AUTOSTOP_PACKAGE in the environment win over the settings above (tests).
IDLE_TIME=${AUTOSTOP_IDLE_TIME:-$IDLE_TIME}
PACKAGE=${AUTOSTOP_PACKAGE:-$PACKAGE}

S=/var/tmp/autostop-async # the daemon's environment (venv), supervisor, pid files
# Kept on the space's volume for the next start; the daemon runs from its copy in $S.
CACHE=/home/sagemaker-user/.cache/autostop-async
LOG=/var/log/apps/app_container.log
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

say() {
    local line
    line="$(date -u +%FT%TZ) autostop-async lcc: $*"
    echo "$line" >&2
    echo "$line" >>"$LOG" 2>/dev/null || true
}
# The line `autostop-async report` reads when auto-stop cannot run (docs/events.md): the reason
# is printable ASCII without quotes or backslashes, so the line is JSON as written.
install_failed() {
    local reason
    reason=$(printf %s "$1" | LC_ALL=C tr -d '\\"' | LC_ALL=C tr -c '[:print:]' ' ')
    say "autostop-async-event {\"schema\":1,\"event\":\"install-failed\",\"time\":\"$(date -u +%FT%TZ)\",\"reason\":\"$reason\"}"
}
# The app starts whatever fails: a line, the install-failed event, exit 0.
fail() {
    say "ERROR: $1; the app will NOT stop by itself"
    install_failed "$1"
    exit 0
}
trap 'fail "line $LINENO of the LCC failed (exit $?)"' ERR

if [ ! -w "$LOG" ] && ! { [ -w "${LOG%/*}" ] && touch "$LOG"; } 2>/dev/null; then
    "${SUDO[@]}" mkdir -p "${LOG%/*}"
    "${SUDO[@]}" touch "$LOG"
    "${SUDO[@]}" chown "$(id -u):$(id -g)" "$LOG"
fi
if [ ! -d "$S" ]; then mkdir -p "$S" 2>/dev/null || "${SUDO[@]}" mkdir -p "$S"; fi
if [ ! -O "$S" ]; then "${SUDO[@]}" chown -R "$(id -u):$(id -g)" "$S"; fi
chmod 0755 "$S"

# The container credentials provider's variables, from PID 1 if this shell lacks them.
if [ -z "${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI:-}${AWS_CONTAINER_CREDENTIALS_FULL_URI:-}" ]; then
    while IFS= read -r -d '' kv; do
        case $kv in
        AWS_CONTAINER_CREDENTIALS_*=* | AWS_CONTAINER_AUTHORIZATION_TOKEN=* | AWS_REGION=* | AWS_DEFAULT_REGION=*)
            name=${kv%%=*}
            if [ -z "${!name:-}" ]; then export "${kv?}"; fi
            ;;
        esac
    done < <("${SUDO[@]}" cat /proc/1/environ 2>/dev/null || true)
fi

PYTHON=/opt/conda/bin/python
if [ ! -x "$PYTHON" ]; then PYTHON=$(command -v python3 || true); fi
if [ -z "$PYTHON" ]; then fail "no Python found (/opt/conda/bin/python, python3)"; fi
if [ -z "$PACKAGE" ]; then fail "PACKAGE is not set (autostop-async deploy sets it)"; fi
if mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; then
    EXTRA_ARGS+=(--exclude "$CACHE")
else
    CACHE=
fi

# The user's command: /usr/local/bin is on every shell's PATH.
mkdir -p "$S/bin"
cat >"$S/bin/a.new" <<EOF
#!/bin/bash
if [ -f $S/venv/.autostop-installed ]; then exec $S/venv/bin/python -I -m autostop_async "\$@"; fi
echo "autostop-async: not installed yet (it installs in the background); see $LOG" >&2
exit 2
EOF
chmod 0755 "$S/bin/a.new"
mv -f "$S/bin/a.new" "$S/bin/autostop-async"
if ! "${SUDO[@]}" ln -sfn "$S/bin/autostop-async" /usr/local/bin/ 2>/dev/null; then
    for dir in /opt/conda/bin /home/sagemaker-user/.local/bin ''; do
        if [ -n "$dir" ] && { mkdir -p "$dir" && ln -sfn "$S/bin/autostop-async" "$dir/"; } 2>/dev/null; then break; fi
    done
    say "WARNING: no sudo for /usr/local/bin; the command is ${dir:-$S/bin}/autostop-async"
fi

# --- the supervisor
cat >"$S/supervise.sh.new" <<'SUPERVISOR_EOF'
#!/bin/bash
# autostop-async supervisor (from the LCC): supervise.sh S LOG PYTHON PACKAGE CACHE [flags]
# Makes S/venv, runs the daemon, restarts it after a crash, rebuilds S/venv when it breaks;
# stops after exit 0 (app deleted) or 2 (bad configuration). It and the daemon hold the lock.
S=$1 LOG=$2 PYTHON=$3 PACKAGE=$4 CACHE=$5
shift 5
exec 9>>"$S/supervisor.lock"
flock -n 9 || exit 0
echo $$ >"$S/supervisor.pid"
rm -f "$S/daemon.pid"
cd "$S" || exit 1
VENV=$S/venv TRIES=3 REBUILDS=3 T=180 # T: seconds for pip (60 for S3)
# What the daemon imports, and the service model DeleteApp reads.
CHECK='import autostop_async.__main__, autostop_async.launch, aioboto3, aiobotocore.session, aiofiles, git, botocore.session
botocore.session.get_session().get_service_model("sagemaker")'
say() { echo "$(date -u +%FT%TZ) autostop-async supervisor[$$]: $*" >>"$LOG"; }
give_up() {
    say "ERROR: $1; the app will NOT stop by itself"
    printf '%s autostop-async[%s] INFO autostop-async-event {"schema":1,"event":"install-failed","time":"%s","reason":"%s"}\n' \
        "$(date -u +%FT%TZ)" $$ "$(date -u +%FT%TZ)" "$(printf %s "$1" | LC_ALL=C tr -d '\\"' | LC_ALL=C tr -c '[:print:]' ' ')" >>"$LOG"
    rm -f "$S/supervisor.pid" "$S/daemon.pid"
    exit 1
}
child=""
stop() {
    say "stopping on SIGTERM; stopping the daemon"
    if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi
    rm -f "$S/supervisor.pid" "$S/daemon.pid"
    exit 0
}
trap stop TERM INT
trap '' HUP
pause() { sleep "$1" & wait $!; }

# One environment per source and Python.
key=$(printf '%s\n' "$PACKAGE" "$(readlink -f "$PYTHON")" \
    "$("$PYTHON" -c 'import sys; print(sys.version)' 2>&1)" | sha256sum | cut -c1-16)
MARK="2 $key $PACKAGE" # written last
ENV=${CACHE:+$CACHE/env-$key}

works() { # works DIR: its mark, and the daemon's imports; else $broken says why
    broken="no mark of a complete install of $PACKAGE"
    [ "$(cat "$1/.autostop-installed" 2>/dev/null)" = "$MARK" ] || return 1
    broken=$(GIT_PYTHON_REFRESH=quiet timeout 120 "$1/bin/python" -I -c "$CHECK" 2>&1) && return
    broken=$(tail -n 1 <<<"$broken")
    return 1
}

fetch_s3() { # fetch_s3 S3_URI FOLDER: one object, or every object under a prefix
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

install() { # into $VENV, from PACKAGE; an S3 wheelhouse is fetched once, kept for a rebuild
    local w=$S/wheelhouse pip=(timeout "$T" "$VENV/bin/python" -m pip install --quiet
        --disable-pip-version-check --no-cache-dir --no-warn-script-location)
    rm -rf "$VENV" && "$PYTHON" -m venv "$VENV" || return 1
    export PIP_USER=0 # the user's pip settings install nothing outside the venv
    unset PIP_TARGET PIP_PREFIX
    case $PACKAGE in
    s3://*)
        if [ "$(cat "$w/.fetched" 2>/dev/null)" != "$PACKAGE" ]; then
            rm -rf "$w" "$w.part" && mkdir -p "$w.part" && fetch_s3 "$PACKAGE" "$w.part" &&
                echo "$PACKAGE" >"$w.part/.fetched" && mv "$w.part" "$w" || return 1
        fi
        case $PACKAGE in */) ;; *) w=$w/${PACKAGE##*/} ;; esac
        ;;
    *) w=$PACKAGE ;;
    esac
    if [ -d "$w" ] && [ -f "$w/requirements.txt" ]; then # pinned, with hashes
        "${pip[@]}" --no-index --find-links "$w" --require-hashes -r "$w/requirements.txt"
    elif [ -d "$w" ]; then
        "${pip[@]}" --no-index --find-links "$w" autostop-async
    elif [ -f "$w" ]; then
        "${pip[@]}" --find-links "${w%/*}" "$w"
    else
        "${pip[@]}" "$w"
    fi
}

ensure_env() { # a working $VENV: kept, copied from the cache, or installed; else $failure
    local t=$SECONDS out old
    works "$VENV" && return
    if [ -n "$ENV" ] && [ -e "$ENV" ]; then
        rm -rf "$VENV" && cp -a "$ENV" "$VENV" 2>/dev/null
        if works "$VENV"; then
            say "already installed from $PACKAGE (cached in $ENV); copied in $((SECONDS - t))s"
            return
        fi
        say "the cached environment $ENV is not usable ($broken); installing again"
        rm -rf "$ENV"
    fi
    say "installing from $PACKAGE with $PYTHON into $VENV"
    if ! out=$(install 2>&1); then
        failure="install from $PACKAGE failed: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
        return 1
    fi
    echo "$MARK" >"$VENV/.autostop-installed"
    if ! works "$VENV"; then
        failure="install from $PACKAGE cannot run the daemon: $broken"
        return 1
    fi
    say "installed autostop-async $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("autostop-async"))') in $((SECONDS - t))s"
    if [ -n "$ENV" ] && [ -d "$CACHE" ]; then # not made again if a user removed it
        if rm -rf "$ENV.part" && cp -a "$VENV" "$ENV.part" && rm -rf "$ENV" && mv "$ENV.part" "$ENV"; then
            for old in "$CACHE"/env-*; do if [ "$old" != "$ENV" ]; then rm -rf "$old"; fi; done
        else
            say "WARNING: could not keep the environment in $ENV"
            rm -rf "$ENV.part"
        fi
    fi
}

prepare() { # ensure_env, TRIES times, 15 s then 60 s apart; else give up
    local try wait=15
    for try in $(seq "$TRIES"); do
        ensure_env && return
        [ "$try" -lt "$TRIES" ] || break
        say "$failure; trying again in ${wait}s (try $try of $TRIES)"
        pause "$wait"
        wait=$((wait * 4))
    done
    give_up "$failure (tried $TRIES times)"
}

prepare
rebuilds=0 delay=1
while :; do
    started=$SECONDS
    # shellcheck disable=SC2094  # the daemon only appends to the log
    "$VENV/bin/python" -m autostop_async --log-file "$LOG" "$@" >>"$LOG" 2>&1 </dev/null &
    child=$!
    echo "$child" >"$S/daemon.pid"
    wait "$child"
    rc=$? child=""
    ran=$((SECONDS - started))
    if [ "$rc" -eq 0 ]; then
        say "daemon exited 0 after ${ran}s (app deleted, or stopped); not restarting"
        break
    fi
    # A broken environment (no interpreter: 127; an import fails) is rebuilt; S keeps the clock.
    if ! works "$VENV"; then
        if [ "$rebuilds" -ge "$REBUILDS" ]; then
            give_up "the daemon's environment broke again after $REBUILDS rebuilds ($broken)"
        fi
        rebuilds=$((rebuilds + 1))
        say "daemon exited $rc after ${ran}s and its environment is broken ($broken); rebuilding it from $PACKAGE (rebuild $rebuilds of $REBUILDS)"
        rm -rf "$VENV"
        prepare
        continue
    fi
    if [ "$rc" -eq 2 ]; then
        say "daemon exited 2: bad configuration (see the error line above); not restarting"
        break
    fi
    if [ "$ran" -ge 600 ]; then delay=1; fi
    say "daemon exited with code $rc after ${ran}s; restarting in ${delay}s"
    pause "$delay"
    delay=$((delay * 2 > 300 ? 300 : delay * 2))
done
rm -f "$S/supervisor.pid" "$S/daemon.pid"
SUPERVISOR_EOF
chmod 0755 "$S/supervise.sh.new"
mv -f "$S/supervise.sh.new" "$S/supervise.sh"

if ! flock -n "$S/supervisor.lock" true; then
    say "already running (supervisor $(cat "$S/supervisor.pid" 2>/dev/null || echo '?'), daemon $(cat "$S/daemon.pid" 2>/dev/null || echo '?')); leaving it"
    exit 0
fi
unset AUTOSTOP_PACKAGE
# Detached: this script returns at once.
# shellcheck disable=SC2094  # the supervisor only appends to the log
AUTOSTOP_IDLE_TIME=$IDLE_TIME setsid nohup "$S/supervise.sh" "$S" "$LOG" "$PYTHON" "$PACKAGE" \
    "$CACHE" "${EXTRA_ARGS[@]}" </dev/null >>"$LOG" 2>&1 &
say "started the supervisor (pid $!) to install from $PACKAGE and run the daemon; idle time $IDLE_TIME"
