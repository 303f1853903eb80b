#!/bin/bash
# Entrypoint of the simulated Code Editor instance (runs as root, PID 1):
#   1. the fake SageMaker endpoint (moto + Studio app operations) on 127.0.0.1:5000, seeded with
#      this instance's app, and a container credentials endpoint on 127.0.0.1:8111;
#   2. optional fault injection before the daemon starts (SIM_FAULT: one JSON object for
#      POST /_fake/faults);
#   3. the editor, as sagemaker-user (SIM_EDITOR): "fake" (default; docker/sim/fake-editor.sh,
#      Code Editor's command line and its bookkeeping noise), "code-server" (a real VS Code
#      server, in the image docker/Dockerfile.editor builds) or "none";
#   4. the lifecycle configuration, as Studio runs it: as sagemaker-user, with the container's
#      environment; its output goes to /var/log/sim/lcc.out, "<exit code> <seconds>" to
#      /var/log/sim/lcc.rc;
#   5. then it stays up, reaping orphans, until the container is stopped.
set -u

SIM_LOG=/var/log/sim
mkdir -p "$SIM_LOG"

wait_for_line() {  # wait_for_line PHRASE FILE SECONDS
    local deadline=$((SECONDS + $3))
    until grep -q "$1" "$2" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "sim: '$1' did not appear in $2 within $3 s:" >&2
            cat "$2" >&2
            return 1
        fi
        sleep 0.1
    done
}

wait_for_file() {  # wait_for_file PATH SECONDS
    local deadline=$((SECONDS + $2))
    until [ -e "$1" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "sim: $1 did not appear within $2 s" >&2
            return 1
        fi
        sleep 0.1
    done
}

/opt/sim/venv/bin/python /opt/sim/fake_sagemaker.py --host 127.0.0.1 --port 5000 \
    --seed-app "${SIM_APP}" >"$SIM_LOG/fake.log" 2>&1 &
python3 /opt/sim/creds_server.py --host 127.0.0.1 --port 8111 --ttl "${SIM_CREDS_TTL:-60}" \
    >"$SIM_LOG/creds.log" 2>&1 &
wait_for_line "fake-sagemaker listening" "$SIM_LOG/fake.log" 120 || exit 1
wait_for_line "creds-server listening" "$SIM_LOG/creds.log" 30 || exit 1

if [ -n "${SIM_FAULT:-}" ]; then
    curl -fsS -X POST -H 'Content-Type: application/json' --data "$SIM_FAULT" \
        http://127.0.0.1:5000/_fake/faults >"$SIM_LOG/fault.out" 2>&1 || exit 1
fi

# The editor, started as Studio starts Code Editor (SageMaker Distribution's start-code-editor).
DATA=$(cat /opt/sim/server-data-dir)
EDITOR_ARGS=(--host 0.0.0.0 --port 8888 --without-connection-token --base-path /codeeditor/default
    --server-data-dir "$DATA" --extensions-dir "$DATA/extensions"
    --user-data-dir /opt/amazon/sagemaker/sagemaker-code-editor-user-data)
case "${SIM_EDITOR:-fake}" in
fake)
    # shellcheck disable=SC2024  # root keeps the editor's output
    sudo -H -u sagemaker-user /opt/sim/fake-editor.sh "${EDITOR_ARGS[@]}" \
        >"$SIM_LOG/editor.log" 2>&1 &
    wait_for_file "$DATA/data/User/workspaceStorage/5b4a3a2c1d0e9f8a7b6c5d4e3f2a1b0c/vscode.lock" 30 \
        || exit 1
    ;;
code-server)
    # code-server takes the user data folder itself (Code Editor: <server-data-dir>/data).
    # Settings given in SIM_EDITOR_SETTINGS (JSON) are in place before it starts: some, such
    # as files.autoSave, are only read then.
    if [ -n "${SIM_EDITOR_SETTINGS:-}" ]; then
        printf '%s\n' "$SIM_EDITOR_SETTINGS" >"$DATA/data/User/settings.json"
        chown sagemaker-user:sagemaker-user "$DATA/data/User/settings.json"
    fi
    # XDG_DATA_HOME and XDG_CONFIG_HOME lie outside the home folder: code-server writes
    # $XDG_DATA_HOME/code-server/heartbeat every 60 s while a browser is connected, and a
    # config.yaml on first start, files Code Editor does not have; in the home folder they would
    # be workspace activity that a real instance never shows.
    mkdir -p /var/tmp/code-server
    chown sagemaker-user:sagemaker-user /var/tmp/code-server
    # shellcheck disable=SC2024  # root keeps the editor's output
    sudo -H -u sagemaker-user env SHELL=/bin/bash XDG_DATA_HOME=/var/tmp/code-server/data \
        XDG_CONFIG_HOME=/var/tmp/code-server/config \
        /opt/code-server/node_modules/.bin/code-server --auth none --bind-addr 0.0.0.0:8888 \
        --disable-telemetry --disable-update-check --disable-workspace-trust \
        --user-data-dir "$DATA/data" --extensions-dir "$DATA/extensions" \
        /home/sagemaker-user >"$SIM_LOG/editor.log" 2>&1 &
    deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null http://127.0.0.1:8888/healthz; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "sim: code-server did not answer /healthz within 60 s:" >&2
            cat "$SIM_LOG/editor.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    ;;
none) ;;
*)
    echo "sim: SIM_EDITOR must be fake, code-server or none, not ${SIM_EDITOR}" >&2
    exit 1
    ;;
esac
touch "$SIM_LOG/ready"

if [ "${SIM_RUN_LCC:-1}" = 1 ]; then
    started=$(date +%s.%N)
    # shellcheck disable=SC2024  # root keeps the LCC output, like Studio does
    sudo -E -H -u sagemaker-user bash /opt/sim/lcc/on-start.sh >"$SIM_LOG/lcc.out" 2>&1
    rc=$?
    echo "$rc $(python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),2))" "$started")" \
        >"$SIM_LOG/lcc.rc"
fi

trap 'exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $!
done
