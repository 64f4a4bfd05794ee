#!/usr/bin/env bash
# Where `wasm-agent serve` spends its CPU under echo load: perf samples of the server while wrk
# drives it, summarised by thread and by symbol, plus context switches and CPU per request.
#
#   bench/profile.sh [serve flags...]        # e.g. --instance-scope request
#
# Needs perf and wrk; builds nothing (make release rust-guests first). Writes perf.data and
# the summaries under ${PROFILE_OUT:-/tmp/wasm-agent-profile}. PROFILE_SECONDS (5) is the
# length of the sampled window; the load starts a second before it and ends a second after.
# Sampling itself costs the server CPU: compare the CPU per request between profiles, and take
# the absolute figure from bench/compare, which measures without perf.
set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -- "$HERE/.." && pwd)"
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/wasm-agent"
GUEST="${GUEST:-$REPO/guest-examples/dist/echo.wasm}"
OUT="${PROFILE_OUT:-/tmp/wasm-agent-profile}"
SECONDS_SAMPLED="${PROFILE_SECONDS:-5}"
for tool in perf wrk; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
[[ -x $BIN && -f $GUEST ]] || { echo "error: build first: make release rust-guests" >&2; exit 1; }
mkdir -p -- "$OUT"

WASM_AGENT_LOG=warn "$BIN" serve "$GUEST" --host 127.0.0.1 --port 0 "$@" 2>"$OUT/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    ADDRESS=$(sed -n 's|^listening on http://||p' "$OUT/server.log" | head -n1)
    [[ -n $ADDRESS ]] && break
    sleep 0.1
done
[[ -n ${ADDRESS:-} ]] || { cat "$OUT/server.log" >&2; exit 1; }

export COMPARE_BODY='{"prompt":"hello, benchmark"}'
URL="http://$ADDRESS/invocations"
wrk -t2 -c16 -d1s -s "$HERE/compare/invoke.lua" "$URL" >/dev/null
wrk -t2 -c16 -d"$((SECONDS_SAMPLED + 2))s" -s "$HERE/compare/invoke.lua" "$URL" >"$OUT/wrk.txt" &
LOAD=$!
sleep 1
perf stat -e context-switches,task-clock -x, -o "$OUT/stat.csv" -p "$SERVER" -- \
    perf record -F 2000 -g -o "$OUT/perf.data" -p "$SERVER" -- sleep "$SECONDS_SAMPLED" 2>/dev/null
wait "$LOAD"

requests=$(sed -n 's/^COMPARE .*requests=\([0-9]*\).*/\1/p' "$OUT/wrk.txt")
duration_us=$(sed -n 's/^COMPARE .*duration_us=\([0-9]*\).*/\1/p' "$OUT/wrk.txt")
switches=$(awk -F, '/context-switches/ { print $1 }' "$OUT/stat.csv")
cpu_ms=$(awk -F, '/task-clock/ { print $1 }' "$OUT/stat.csv")
# The window perf saw is SECONDS_SAMPLED of wrk's; scale wrk's count to it.
awk -v r="$requests" -v d="$duration_us" -v s="$SECONDS_SAMPLED" -v cs="$switches" -v cpu="$cpu_ms" 'BEGIN {
    rate = r / (d / 1e6); n = rate * s
    printf "%.0f req/s; per request in the sampled window: %.1f µs of server CPU, %.2f context switches\n",
        rate, cpu * 1000 / n, cs / n }' | tee "$OUT/summary.txt"
perf report -i "$OUT/perf.data" --no-children --sort comm,dso -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -n 12 | tee -a "$OUT/summary.txt"
perf report -i "$OUT/perf.data" --no-children --sort sym -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -n 40 | tee -a "$OUT/summary.txt"
echo "perf.data and summaries in $OUT"
