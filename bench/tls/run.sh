#!/usr/bin/env bash
# bench/tls/run.sh: TLS termination, levee vs nginx 1.22 vs HAProxy 2.6, one worker each, the
# same RSA-2048 certificate, the same nginx backend (bench/proxy/conf/backend-nginx.conf.in).
#
# Parts (PARTS, default all):
#   hs      TLS 1.3 full handshakes/s: P parallel `openssl s_time -new -tls1_3` for DUR s
#   resume  TLS 1.3 resumed handshakes/s: P parallel `openssl s_time -reuse -www /tiny`
#           (each resumption carries one GET /tiny: s_time reads the ticket only so)
#   rps     keep-alive requests/s over TLS: wrk -t1 -cCONNS https://.../tiny and /16k
#   mem     KiB per idle TLS keep-alive connection (bench/proxy/idle.py ... tls), IDLE of them
#   flood   levee only: a keep-alive TLS client's requests/s (wrk, CONNS) while hello_flood.py
#           sends canned ClientHellos (full handshakes for the server, next to nothing for the
#           client), with tls.handshake_cpu_percent 50 (default) and 100 (off), and alone
# The proxy runs on CPU 0, the load (and the backend) on CPU 1 (PIN=1). Prints TSV rows
# "part proxy metric value" and writes them to $OUT, then the medians per proxy and metric.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DUR=${DUR:-10}
P=${P:-4}
CONNS=${CONNS:-50}
IDLE=${IDLE:-2000}
R=${R:-3}                 # interleaved rounds of hs, resume and rps
PARTS=${PARTS:-hs,resume,rps,mem,flood}
PROXIES=${PROXIES:-levee,nginx,haproxy}
LEVEE=${LEVEE:-$ROOT/build/release/levee}
OUT=${OUT:-$HERE/results/latest.tsv}
PIN=${PIN:-1}

has() { [[ ",$1," == *",$2,"* ]]; }
log() { echo "# $*" >&2; }
for tool in nginx haproxy wrk openssl python3 taskset curl; do
    command -v "$tool" >/dev/null || { echo "missing: $tool (run scripts/deps.sh)" >&2; exit 1; }
done
[[ -x $LEVEE ]] || { echo "no levee at $LEVEE (scripts/build.sh)" >&2; exit 1; }
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d /tmp/levee-bench-tls.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [[ $PIN == 1 ]]; then PIN_PROXY=(taskset -c 0); PIN_LOAD=(taskset -c 1); else PIN_PROXY=(); PIN_LOAD=(); fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
row() { printf '%s\t%s\t%s\t%s\n' "$@" | tee -a "$OUT"; }

mkdir -p "$(dirname "$OUT")"
{
    echo "# bench/tls/run.sh $(date -u +%FT%TZ) levee $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo +dirty)"
    echo "# $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# $(nginx -v 2>&1), $(haproxy -v | head -1), $(openssl version), DUR=$DUR P=$P CONNS=$CONNS IDLE=$IDLE"
} | tee "$OUT"

# One certificate for all: RSA-2048, the common case (the server's signature dominates a full
# handshake's cost, so the handshake figures measure the proxies, not the client).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -days 2 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
cat "$WORK/cert.pem" "$WORK/key.pem" >"$WORK/both.pem"

BPORT=$(free_port)
mkdir -p "$WORK/www"
head -c 16384 /dev/zero | tr '\0' 'x' >"$WORK/www/16k"
chmod -R a+rX "$WORK/www"
sed -e "s|@DIR@|$WORK|g" -e "s|@BACKEND_PORT@|$BPORT|g" "$ROOT/bench/proxy/conf/backend-nginx.conf.in" >"$WORK/backend.conf"
"${PIN_LOAD[@]}" nginx -p "$WORK" -c "$WORK/backend.conf" >"$WORK/backend.out" 2>&1 &
PIDS+=($!)
wait_port "$BPORT"

# start NAME [handshake_cpu_percent]: starts the proxy on a fresh port; sets PORT and PID.
start() {
    PORT=$(free_port)
    case $1 in
        levee)
            cat >"$WORK/levee.yaml" <<EOF
workers: 1
admin: {listen: "127.0.0.1:0"}
tls: {handshake_cpu_percent: ${2:-50}}
listeners:
  - listen: "127.0.0.1:$PORT"
    tls: {certificates: [{cert: "$WORK/cert.pem", key: "$WORK/key.pem"}]}
services:
  - {name: default, guard: false, upstreams: ["127.0.0.1:$BPORT"]}
EOF
            "${PIN_PROXY[@]}" "$LEVEE" -c "$WORK/levee.yaml" >"$WORK/levee.out" 2>&1 & ;;
        nginx)
            sed -e "s|@DIR@|$WORK|g" -e "s|@PROXY_PORT@|$PORT|g" -e "s|@BACKEND_PORT@|$BPORT|g" \
                -e "s|@CERT@|$WORK/cert.pem|g" -e "s|@KEY@|$WORK/key.pem|g" \
                "$HERE/conf/nginx-tls.conf.in" >"$WORK/nginx.conf"
            "${PIN_PROXY[@]}" nginx -p "$WORK" -c "$WORK/nginx.conf" -g "daemon off;" >"$WORK/nginx.out" 2>&1 & ;;
        haproxy)
            sed -e "s|@PROXY_PORT@|$PORT|g" -e "s|@BACKEND_PORT@|$BPORT|g" -e "s|@PEM@|$WORK/both.pem|g" \
                "$HERE/conf/haproxy-tls.cfg.in" >"$WORK/haproxy.cfg"
            "${PIN_PROXY[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.out" 2>&1 & ;;
    esac
    PID=$!
    PIDS+=("$PID")
    wait_port "$PORT"
    curl -skf "https://127.0.0.1:$PORT/tiny" >/dev/null
}
stop() { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
# The pid that does the work: nginx's worker (its master's child).
worker_pid() { local c; c=$(pgrep -P "$PID" | head -1 || true); echo "${c:-$PID}"; }

# s_time_sum ARGS...: P parallel s_time runs for DUR s; prints connections per second.
s_time_sum() {
    local i total=0 n
    for ((i = 0; i < P; i++)); do
        "${PIN_LOAD[@]}" openssl s_time -connect "127.0.0.1:$PORT" -time "$DUR" "$@" >"$WORK/st.$i" 2>&1 &
    done
    wait_s_time
    for ((i = 0; i < P; i++)); do
        n=$(awk '/connections in .* real seconds/ {print $1}' "$WORK/st.$i" | tail -1)
        total=$((total + ${n:-0}))
    done
    echo $((total / DUR))
}
wait_s_time() { local j; for j in $(jobs -p); do [[ " ${PIDS[*]} " == *" $j "* ]] || wait "$j" || true; done; }

wrk_rps() { # PATH: requests/s of wrk -t1 -cCONNS over TLS
    "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DUR}s" "https://127.0.0.1:$PORT$1" 2>&1 |
        awk '/Requests\/sec/ {printf "%d\n", $2}'
}

# Rounds interleave the proxies (levee, nginx, HAProxy, levee, ...), so that other load on the
# machine falls on all of them alike; the summary takes each one's median.
for ((round = 1; round <= R; round++)); do
    for proxy in ${PROXIES//,/ }; do
        start "$proxy"
        log "round $round: $proxy on $PORT"
        if has "$PARTS" hs; then row hs "$proxy" full_handshakes_per_s "$(s_time_sum -new -tls1_3)"; fi
        if has "$PARTS" resume; then row resume "$proxy" resumed_handshakes_per_s "$(s_time_sum -reuse -tls1_3 -www /tiny)"; fi
        if has "$PARTS" rps; then
            "${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d1s "https://127.0.0.1:$PORT/tiny" >/dev/null 2>&1
            row rps "$proxy" tiny_rps "$(wrk_rps /tiny)"
            row rps "$proxy" 16k_rps "$(wrk_rps /16k)"
        fi
        stop
    done
done

for proxy in ${PROXIES//,/ }; do
    if has "$PARTS" mem; then
        start "$proxy"
        res=$(python3 "$ROOT/bench/proxy/idle.py" 127.0.0.1 "$PORT" /tiny "$IDLE" "$(worker_pid)" tls)
        row mem "$proxy" kib_per_idle_tls_conn "$(sed -n 's/.*kib_per_conn=\([0-9.]*\).*/\1/p' <<<"$res")"
        log "$res"
        stop
    fi
done

if has "$PARTS" flood && has "$PROXIES" levee; then
    for pct in alone 50 100 alone 50 100; do
        start levee "$([[ $pct == alone ]] && echo 50 || echo "$pct")"
        admin=$(sed -n 's/.*proto=admin addr=\([0-9.:]*\).*/\1/p' "$WORK/levee.out" | head -1)
        if [[ $pct != alone ]]; then
            "${PIN_LOAD[@]}" python3 "$HERE/hello_flood.py" 127.0.0.1 "$PORT" $((DUR + 2)) 64 >"$WORK/flood.out" 2>&1 &
            sleep 1
        fi
        hs0=$(curl -s "http://$admin/metrics" | awk '/^levee_tls_handshake_seconds_total / {print $2}')
        cpu0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
        rps=$(wrk_rps /tiny)
        cpu1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
        hs1=$(curl -s "http://$admin/metrics" | awk '/^levee_tls_handshake_seconds_total / {print $2}')
        wait_s_time
        [[ $pct == alone ]] || log "flood: $(cat "$WORK/flood.out")"
        row flood "levee-cpu$pct" levee_cpu_percent "$(( (cpu1 - cpu0) * 100 / ($(getconf CLK_TCK) * DUR) ))"
        row flood "levee-cpu$pct" handshake_cpu_percent "$(awk -v a="$hs0" -v b="$hs1" -v d="$DUR" 'BEGIN {printf "%d", (b - a) * 100 / d}')"
        m=$(curl -s "http://$admin/metrics")
        ok=$(awk '/^levee_tls_handshakes_total\{result="ok",reason="full"\}/ {print $2}' <<<"$m")
        lim=$(awk '/^levee_tls_handshakes_total\{result="limited"/ {print $2}' <<<"$m")
        row flood "levee-cpu$pct" keepalive_tiny_rps "$rps"
        row flood "levee-cpu$pct" full_handshakes_ok "$ok"
        row flood "levee-cpu$pct" handshakes_limited "$lim"
        stop
    done
fi

echo "# medians" | tee -a "$OUT"
grep -v '^#' "$OUT" | sort -k1,1 -k2,2 -k3,3 -k4,4n |
    awk -F'\t' '{k = $1 "\t" $2 "\t" $3; v[k, ++n[k]] = $4; if (!(k in seen)) {seen[k] = 1; order[++m] = k}}
        END {for (i = 1; i <= m; i++) {k = order[i]; printf "median\t%s\t%s\n", k, v[k, int((n[k] + 1) / 2)]}}' |
    tee -a "$OUT"
