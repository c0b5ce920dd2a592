#!/bin/sh
# bench/upgrade/run.sh: connections refused or reset across an upgrade, by method.
# Open-loop new connections (levee-load, one user = one connection, no retries) through a
# levee that is upgraded in the middle of the run, either by handing the sockets over
# (--upgrade-from) or by the older --takeover + SIGTERM. Prints each run's errors.
# STALL (seconds, default 0): the old levee is frozen (SIGSTOP) that long just as it is told
# to stop (when the new one has received the sockets, or just before SIGTERM), as a busy old
# process would be: connections then wait in its sockets' accept queues.
# METHODS (default "handover takeover"); LEVEE: the levee binary (default BUILD_DIR/levee;
# an older one for the takeover method alone, whose config has no upgrade_socket).
# Usage: [STALL=0.5] [METHODS=...] [LEVEE=...] bench/upgrade/run.sh [BUILD_DIR] [RATE] [RUNS]
set -eu
BUILD=${1:-build/dev}
RATE=${2:-3000}
RUNS=${3:-3}
STALL=${STALL:-0}
METHODS=${METHODS:-handover takeover}
LEVEE=${LEVEE:-$BUILD/levee}
DIR=$(mktemp -d)
trap 'kill $SIM 2>/dev/null; kill $(cat "$DIR"/*.pid 2>/dev/null) 2>/dev/null; true' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIMPORT=$(free_port)
"$BUILD/levee-sim" --listen 127.0.0.1:$SIMPORT --workers 256 --service-ms 1 --log-level error &
SIM=$!
wait_ready() { # file
    for _ in $(seq 100); do grep -q 'msg=ready' "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "not ready: $1" >&2; cat "$1" >&2; exit 1
}
for method in $METHODS; do
    for run in $(seq "$RUNS"); do
        PORT=$(free_port); APORT=$(free_port)
        cat > "$DIR/levee.yaml" <<YAML
workers: 2
listen: ["127.0.0.1:$PORT"]
admin: {listen: "127.0.0.1:$APORT"}
$([ $method = handover ] && echo "upgrade_socket: \"$DIR/upgrade.sock\"")
log_level: info
services:
  - name: web
    guard: false
    upstreams: ["127.0.0.1:$SIMPORT"]
routes:
  - {path: /, service: web}
YAML

        "$LEVEE" -c "$DIR/levee.yaml" 2> "$DIR/a.log" & A=$!
        wait_ready "$DIR/a.log"
        "$BUILD/levee-load" --target "http://127.0.0.1:$PORT/" --rate "$RATE" --duration 6 \
            --max-tries 1 --patience-ms 5000 --drain 5 --quiet --json "$DIR/run.json" &
        LOAD=$!
        sleep 3
        if [ $method = handover ]; then
            "$LEVEE" -c "$DIR/levee.yaml" --upgrade-from "$DIR/upgrade.sock" 2> "$DIR/b.log" &
            B=$!
            if [ "$STALL" != 0 ]; then
                until grep -q 'received the listening sockets' "$DIR/b.log"; do sleep 0.01; done
                kill -STOP $A; sleep "$STALL"; kill -CONT $A
            fi
            wait_ready "$DIR/b.log"
        else
            "$LEVEE" -c "$DIR/levee.yaml" --takeover 2> "$DIR/b.log" & B=$!
            wait_ready "$DIR/b.log"
            if [ "$STALL" != 0 ]; then kill -STOP $A; sleep "$STALL"; fi
            kill -TERM $A
            kill -CONT $A
        fi
        wait $A; ARC=$?
        wait $LOAD || true
        kill -TERM $B; wait $B || true
        python3 - "$DIR/run.json" "$method" "$run" "$ARC" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = d.get("errors", {})
print("%-9s run %s: users %s ok %s errors %s (old levee exit %s)" % (
    sys.argv[2], sys.argv[3], d["offered_users"], d["users_ok"],
    json.dumps(e, sort_keys=True), sys.argv[4]))
PY
    done
done
