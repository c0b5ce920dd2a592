#!/usr/bin/env bash
# scripts/rehearsal.sh: what levee is for, in under a minute.
#
# Starts levee-sim on 127.0.0.1:9000 (4 workers x 10 ms: capacity 400 requests/s, slows
# down when backlogged) and levee with the shipped config (conf/levee.yaml: listens on
# 127.0.0.1:8080, admin on 127.0.0.1:9901, proxies to 127.0.0.1:9000), then runs the same
# ~20 s "kickoff" twice with levee-load (bench/overload/rehearsal.yaml: 0.5x to 5x the
# capacity; users with a 2 s patience, 80 % press F5, half obey Retry-After):
#   1. directly against levee-sim,   2. through levee.
# Prints goodput, user success and p99 side by side and writes the HTML report to
# out/rehearsal.html. Stops everything it started. Fails at once if 8080, 9000 or 9901
# is taken.
#
# Binaries come from build/release (built with scripts/build.sh if missing);
# LEVEE_BIN_DIR=DIR uses another build.
#
# --tls: the second run goes over HTTPS: levee gets the shipped config with its listener on
# 127.0.0.1:8443 with TLS (a self-signed P-256 certificate made with the openssl command for
# this run), and every levee-load user verifies it and does its own full handshake. The first
# run stays plain (levee-sim speaks HTTP only).
set -euo pipefail
TLS=0
case "${1:-}" in
--tls) TLS=1 ;;
"") ;;
*) echo "usage: scripts/rehearsal.sh [--tls]" >&2; exit 2 ;;
esac
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=${LEVEE_BIN_DIR:-build/release}
SCEN=bench/overload/rehearsal.yaml
CONF=conf/levee.yaml
OUT=out
CAP=400

say() { echo "rehearsal: $*" >&2; }
die() { say "$*"; exit 1; }

TOOLS="curl python3"
[ $TLS = 0 ] || TOOLS="$TOOLS openssl"
for tool in $TOOLS; do
    command -v $tool >/dev/null || die "missing $tool (run scripts/deps.sh)"
done

# The ports of the shipped config must be free: say which one is not, and by whom.
port_taken() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}
busy=""
LPORT=8080
[ $TLS = 0 ] || LPORT=8443
for p in $LPORT 9000 9901; do
    if port_taken $p; then
        who=$(ss -ltnpH "sport = :$p" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 | sed 's/users:(("//; s/",pid=/ pid /')
        busy="$busy 127.0.0.1:$p${who:+ (used by $who)}"
    fi
done
[ -z "$busy" ] || die "port(s) already in use:$busy. The rehearsal needs $LPORT (levee), 9000 (levee-sim) and 9901 (levee admin); stop what uses them and run again."

if [ ! -x "$BIN/levee" ] || [ ! -x "$BIN/levee-sim" ] || [ ! -x "$BIN/levee-load" ]; then
    [ "$BIN" = build/release ] || die "no levee, levee-sim and levee-load in $BIN"
    say "building the release binaries (scripts/build.sh) ..."
    ./scripts/build.sh >/dev/null
fi

RUN=$(mktemp -d /tmp/levee-rehearsal.XXXXXX)
PIDS=()
stop_pid() {
    local p=$1 i q keep=()
    # Forget it first: once reaped, its PID may be reused by someone else's process.
    for q in "${PIDS[@]:-}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]:-}")
    kill -TERM "$p" 2>/dev/null || return 0
    for i in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
    rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # URL PID NAME LOG
    local i
    for i in $(seq 1 50); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { say "$3 exited; its log:"; cat "$4" >&2; exit 1; }
        sleep 0.1
    done
    say "$3 does not answer on $1; its log:"; cat "$4" >&2; exit 1
}
SIM_PID=""
start_sim() {
    # thrash 0.001: each request slows by 0.1 % per request queued per worker (a backlog of
    # 4,000 doubles the service time), like a server busy with GC and lock contention.
    "$BIN/levee-sim" --listen 127.0.0.1:9000 --workers 4 --service-ms 10 --dist exp \
        --thrash 0.001 --log-level warn 2>>"$RUN/sim.log" &
    SIM_PID=$!; PIDS+=("$SIM_PID")
    wait_http http://127.0.0.1:9000/health "$SIM_PID" levee-sim "$RUN/sim.log"
}
run_load() { # LABEL TARGET [levee-load flags]
    "$BIN/levee-load" "$SCEN" --target "$2" --label "$1" --json "$RUN/$1.json" "${@:3}" \
        >"$RUN/$1.txt" || { say "levee-load failed:"; cat "$RUN/$1.txt" >&2; exit 1; }
    curl -fsS --max-time 3 http://127.0.0.1:9000/stats >"$RUN/$1.sim.json"
}

say "load average $(cut -d' ' -f1-3 /proc/loadavg) (the figures move with other load)"
say "1/2: 20 s kickoff (0.5x -> 5x capacity) straight at levee-sim, 127.0.0.1:9000"
start_sim
run_load direct http://127.0.0.1:9000/
stop_pid "$SIM_PID"     # a fresh backend for the second run: the first left a backlog

LCONF=$CONF SCHEME=http TLS_FLAGS=()
if [ $TLS = 1 ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/key.pem" \
        -out "$RUN/cert.pem" -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
    # The shipped config with its one listen line replaced by a TLS listener.
    LCONF=$RUN/levee-tls.yaml SCHEME=https TLS_FLAGS=(--tls-ca "$RUN/cert.pem")
    grep -q '^listen: \[ "127.0.0.1:8080" \]' "$CONF" || die "$CONF: no 'listen: [ \"127.0.0.1:8080\" ]' line to replace"
    sed 's|^listen: \[ "127.0.0.1:8080" \].*|listeners:\n  - listen: 127.0.0.1:8443\n    tls: { certificates: [ { cert: '"$RUN/cert.pem"', key: '"$RUN/key.pem"' } ] }|' \
        "$CONF" >"$LCONF"
fi
say "2/2: the same kickoff through levee (levee -c $LCONF, $SCHEME://127.0.0.1:$LPORT)"
start_sim
"$BIN/levee" -c "$LCONF" 2>"$RUN/levee.log" &
LEVEE_PID=$!; PIDS+=("$LEVEE_PID")
wait_http http://127.0.0.1:9901/health "$LEVEE_PID" levee "$RUN/levee.log"
curl -fsS -o /dev/null -X POST http://127.0.0.1:9000/control/reset
run_load levee "$SCHEME://127.0.0.1:$LPORT/" "${TLS_FLAGS[@]}"

mkdir -p "$OUT"
"$BIN/levee-load" report --out "$OUT/rehearsal.html" "$RUN/direct.json" "$RUN/levee.json" >/dev/null

python3 - "$RUN" "$CAP" "$TLS" <<'EOF'
import json, sys
run, cap = sys.argv[1], int(sys.argv[2])
rows = []
for label in ("direct", "levee"):
    d = json.load(open("%s/%s.json" % (run, label)))
    s = json.load(open("%s/%s.sim.json" % (run, label)))
    peak = [p for p in d["per_second"] if 7 <= p["t"] < 16]      # the 5x plateau
    gp = sum(p["goodput_per_s"] for p in peak) / len(peak)
    p99 = d["latency_ms"]["p99"] if d["goodput"] else None
    rows.append((label, gp, 100.0 * gp / cap, 100.0 * (d["user_success_rate"] or 0), p99,
                 s["wasted"], s["queue"] + s["in_flight"]))
print()
print("kickoff rehearsal: backend capacity %d requests/s, peak 5x (t = 7..16 s)" % cap)
if sys.argv[3] == "1":
    print("through levee over HTTPS: a full TLS handshake per user, verified")
print("%-34s %14s %14s" % ("", "direct", "through levee"))
fmt = lambda r: "%.0f/s (%.0f %%)" % (r[1], r[2])
print("%-34s %14s %14s" % ("goodput at the peak (% of capacity)", fmt(rows[0]), fmt(rows[1])))
print("%-34s %13.1f%% %13.1f%%" % ("users served", rows[0][3], rows[1][3]))
p = lambda v: "—" if v is None else "%.0f ms" % v
print("%-34s %14s %14s" % ("p99 of successful requests", p(rows[0][4]), p(rows[1][4])))
print("%-34s %14s %14s" % ("backend work for users who left", "{:,}".format(rows[0][5] + rows[0][6]),
                           "{:,}".format(rows[1][5] + rows[1][6])))
print()
EOF
say "HTML report (charts of both runs): $ROOT/$OUT/rehearsal.html"
say "levee for real: $BIN/levee -c $CONF   (docs/config.md)"
