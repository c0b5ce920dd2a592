#!/usr/bin/env bash
# bench/overload/tls.sh: the kickoff rehearsal (bench/overload/rehearsal.yaml: 0.5x to 5x
# C = 400 requests/s, F5 users) through levee in quick mode, once over plain HTTP and once
# over HTTPS (a self-signed P-256 certificate made with the openssl command; every levee-load
# user does its own full handshake), each against a fresh levee-sim 4 workers x 10 ms
# (exponential service times, thrash 0.001), 20 users per address as in the matrix.
# levee's handshake counters go to OUTDIR/handshakes-tls.txt.
# Prints goodput over the 5x plateau (t = 7..16 s) as % of C for both.
# Usage: BIN=build/release bench/overload/tls.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN=${BIN:-build/release}
OUT=${1:-$(mktemp -d /tmp/levee-tls-bench.XXXXXX)}
mkdir -p "$OUT"
CAP=400
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/key.pem" \
    -out "$OUT/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # PORT PID
    local i
    for i in $(seq 1 100); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "process $2 exited" >&2; exit 1; }
        sleep 0.1
    done
    echo "nothing listens on $1" >&2; exit 1
}
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done' EXIT
for mode in plain tls; do
    sp=$(free_port); lp=$(free_port); ap=$(free_port)
    "$BIN/levee-sim" --listen 127.0.0.1:$sp --workers 4 --service-ms 10 --dist exp \
        --thrash 0.001 --log-level warn 2>>"$OUT/sim-$mode.log" &
    sim=$!; PIDS+=("$sim")
    wait_port "$sp" "$sim"
    tls=(); ca=(); scheme=http
    if [ $mode = tls ]; then
        tls=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem"); ca=(--tls-ca "$OUT/cert.pem")
        scheme=https
    fi
    "$BIN/levee" proxy --listen 127.0.0.1:$lp --admin 127.0.0.1:$ap --to 127.0.0.1:$sp \
        "${tls[@]}" 2>"$OUT/levee-$mode.log" &
    lv=$!; PIDS+=("$lv")
    wait_port "$lp" "$lv"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg) before $mode" >&2
    "$BIN/levee-load" bench/overload/rehearsal.yaml --target "$scheme://127.0.0.1:$lp/" \
        "${ca[@]}" --users-per-address 20 --label "$mode" \
        --json "$OUT/$mode.json" >"$OUT/$mode.txt"
    curl -fsS --max-time 3 "http://127.0.0.1:$ap/metrics" | grep '^levee_tls_handshakes' \
        >"$OUT/handshakes-$mode.txt" || true
    kill "$lv" "$sim"; wait "$lv" "$sim" 2>/dev/null || true
    PIDS=()
done
python3 - "$OUT" "$CAP" <<'PY'
import json, sys
out, cap = sys.argv[1], int(sys.argv[2])
for mode in ("plain", "tls"):
    d = json.load(open("%s/%s.json" % (out, mode)))
    peak = [p for p in d["per_second"] if 7 <= p["t"] < 16]
    gp = sum(p["goodput_per_s"] for p in peak) / len(peak)
    print("%-5s goodput at the 5x peak %.0f/s = %.1f %% of C; users served %.1f %%; p99 %.0f ms;"
          " errors %s" % (mode, gp, 100.0 * gp / cap, 100.0 * (d["user_success_rate"] or 0),
                          d["latency_ms"]["p99"],
                          {k: v for k, v in d["errors"].items() if v}))
PY
echo "files: $OUT" >&2
