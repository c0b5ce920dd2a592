#!/bin/sh
# scripts/quickstart.sh: the README's first command. Installs what is missing, builds, runs a
# short kickoff rehearsal (scripts/rehearsal.sh: levee-sim directly, then through levee, side
# by side, HTML report in out/rehearsal.html), then keeps levee running with the shipped
# config (conf/levee.yaml) in front of levee-sim so you can send it requests. Stops with
# Ctrl-C. QUICKSTART_SECONDS=N stops by itself after N seconds; QUICKSTART_SECONDS=0 stops
# right after the rehearsal.
set -eu
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/rehearsal.sh
[ "${QUICKSTART_SECONDS:-}" = 0 ] && exit 0
BIN=build/release
RUN=$(mktemp -d /tmp/levee-quickstart.XXXXXX)
cleanup() {
    [ -n "${LEVEE_PID:-}" ] && kill -TERM "$LEVEE_PID" 2>/dev/null || true
    [ -n "${SIM_PID:-}" ] && kill -TERM "$SIM_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# The demo backend: 4 workers, 10 ms per request, so a capacity of 400 requests/s.
"$BIN/levee-sim" --listen 127.0.0.1:9000 --workers 4 --service-ms 10 2>"$RUN/sim.log" &
SIM_PID=$!
"$BIN/levee" -c conf/levee.yaml 2>"$RUN/levee.log" &
LEVEE_PID=$!

i=0
until curl -fsS -o /dev/null http://127.0.0.1:9901/health 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 50 ] || ! kill -0 "$LEVEE_PID" 2>/dev/null; then
        echo "quickstart: levee did not start; its log:" >&2
        cat "$RUN/levee.log" >&2
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

levee is running with conf/levee.yaml, in front of levee-sim (capacity 400 requests/s).

  send requests to   http://127.0.0.1:8080/          e.g. curl -i http://127.0.0.1:8080/hello
  metrics            http://127.0.0.1:9901/metrics
  status             http://127.0.0.1:9901/status
  logs               $RUN/levee.log and $RUN/sim.log

MSG
curl -si http://127.0.0.1:8080/hello | head -n 12
echo
if [ -n "${QUICKSTART_SECONDS:-}" ]; then
    sleep "$QUICKSTART_SECONDS"
else
    echo "Ctrl-C stops both."
    wait "$LEVEE_PID"
fi
