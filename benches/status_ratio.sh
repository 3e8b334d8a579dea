#!/bin/sh
# The status lookup against the bare handler, over loopback with wrk, in alternating rounds so
# that both see the same machine (a shared two-core machine drifts by ±20% within minutes).
#
#   benches/status_ratio.sh SERVICE_PORT BARE_PORT NUMBERS_FILE [ROUNDS] [SECONDS]
#
# SERVICE_PORT: a `licreg serve` on 127.0.0.1 with `public_requests_per_second = 0` (else the
# public rate limit answers most requests 429 and the run measures that); BARE_PORT:
# `cargo run --release --example bare_status 127.0.0.1:PORT`; NUMBERS_FILE: licence numbers,
# one per line (for example the `number` fields of an import's `.issued.jsonl`). Both servers
# get the same wrk script cycling over those numbers' status routes. Per round it prints each
# server's requests/s, p99 and CPU time per request (from /proc/PID/stat), then the median
# ratio of the service to the bare handler over all rounds.
set -eu
service=$1 bare=$2 numbers=$3 rounds=${4:-8} seconds=${5:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
    echo "local paths = {"
    sed 's|.*|  "/v1/licences/&/status",|' "$numbers"
    echo "}"
    echo "local i = 0"
    echo "request = function() i = i % #paths + 1; return wrk.format('GET', paths[i]) end"
} > "$work/paths.lua"
pid_of() { ss -ltnp | grep "127.0.0.1:$1 " | sed 's/.*pid=\([0-9]*\).*/\1/'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
run() { # port -> "requests/s p99 cpu_us_per_request"
    pid=$(pid_of "$1")
    before=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c64 -d"${seconds}s" --latency -s "$work/paths.lua" "http://127.0.0.1:$1")
    after=$(cpu_ticks "$pid")
    echo "$out" | grep -q "Non-2xx" && { echo "port $1 answered errors:" >&2; echo "$out" >&2; exit 1; }
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    echo "$rps $p99 $(echo "$after $before $hz $n" | awk '{printf "%.1f", ($1 - $2) / $3 * 1e6 / $4}')"
}
for round in $(seq 1 "$rounds"); do
    s=$(run "$service")
    b=$(run "$bare")
    echo "round $round: service $s | bare $b" | tee -a "$work/rounds"
done
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio=$(awk '{printf "%.3f\n", $4 / $9}' "$work/rounds" | median)
cpu=$(awk '{printf "%.3f\n", $6 / $11}' "$work/rounds" | median)
echo "median over $rounds rounds: service/bare requests/s $ratio, CPU per request $cpu"
