#!/bin/bash
# Entrypoint of the simulated Code Editor instance (runs as root, PID 1):
#   1. the fake SageMaker endpoint (moto + Studio app operations) on 127.0.0.1:5000, seeded with
#      this instance's app, and a container credentials endpoint on 127.0.0.1:8111;
#   2. optional fault injection before the daemon starts (SIM_FAULT: one JSON object for
#      POST /_fake/faults);
#   3. the lifecycle configuration, as Studio runs it: as sagemaker-user, with the container's
#      environment; its output goes to /var/log/sim/lcc.out, "<exit code> <seconds>" to
#      /var/log/sim/lcc.rc;
#   4. then it stays up, reaping orphans, until the container is stopped.
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
