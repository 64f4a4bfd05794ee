#!/usr/bin/env bash
# /ping latency under full load, wasm-agent beside the Python bedrock-agentcore SDK.
#
#   bench/ping/run.sh            # from any directory; see README.md beside this file
#
# For each scenario (sleep, spin) and each run, alternating the two systems: start a fresh
# server on 127.0.0.1, keep CONCURRENCY invocations in flight (hold.py), wait for the load to
# settle, then probe GET /ping with wrk for PING_SECONDS_* while the load is still in place.
# Writes results.md and raw/ beside this script (or in PING_OUT). Settings come from the
# environment:
RUNS=${RUNS:-3}                     # runs per system and scenario (alternated)
SCENARIOS=${SCENARIOS:-"sleep spin"}
CONCURRENCY=${CONCURRENCY:-64}      # invocations held in flight
HANDLER_MS=${HANDLER_MS:-2000}      # how long one handler runs before the next replaces it
# Length of one /ping measurement window. The spin one is longer because the Python SDK's
# /ping then takes 7 to 13 s, and a much shorter window would only measure the window.
PING_SECONDS_SLEEP=${PING_SECONDS_SLEEP:-${PING_SECONDS:-10}}
PING_SECONDS_SPIN=${PING_SECONDS_SPIN:-${PING_SECONDS:-30}}
PING_CONNS=${PING_CONNS:-2}         # wrk connections probing /ping
PING_DELAY_MS=${PING_DELAY_MS:-10}  # pause between a /ping reply and the next on a connection
SETTLE_MS=${SETTLE_MS:-$HANDLER_MS} # wait after all CONCURRENCY requests are sent, before probing
WRK_TIMEOUT=${WRK_TIMEOUT:-30s}     # a /ping slower than this counts as a timeout
SLEEP_TIMEOUT=${SLEEP_TIMEOUT:-30s} # wasm-agent --timeout in the sleep scenario (not reached)
# The comparison benchmark (bench/compare) runs this script with short windows: it points PING_OUT
# elsewhere so the committed results stay, and sets PING_BUILD=0 and PING_BIN to its own copy of
# the binary, the one it measures in its other scenarios (a rebuild halfway would mix two).
PING_OUT=${PING_OUT:-}
PING_BUILD=${PING_BUILD:-1}
PING_BIN=${PING_BIN:-}
# In the spin scenario wasm-agent's --timeout is HANDLER_MS: the guest spins until it is cut
# off (a 500), just as the Python handler busy-waits HANDLER_MS and returns.

set -euo pipefail

for var in RUNS CONCURRENCY HANDLER_MS PING_SECONDS_SLEEP PING_SECONDS_SPIN PING_CONNS PING_DELAY_MS SETTLE_MS; do
    [[ ${!var} =~ ^[0-9]+$ && ${!var} -gt 0 ]] || { echo "error: $var must be a positive integer, not '${!var}'" >&2; exit 2; }
done
for scenario in $SCENARIOS; do
    [[ $scenario == sleep || $scenario == spin ]] || { echo "error: unknown scenario '$scenario' (sleep, spin)" >&2; exit 2; }
done

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd -- "$HERE/../.." && pwd)"
OUT="${PING_OUT:-$HERE}"
RAW="$OUT/raw"
T0=$(date +%s)

log() { printf '[ping-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Every process this script starts is listed here and ended on exit, whatever the exit.
PIDS=()
alive() { # running, and not a zombie waiting to be reaped
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}
stop_pid() {
    local pid=$1 i
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || true
        forget_pid "$pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}
forget_pid() { # a reaped id may be reused by another process: never signal it again
    local kept=() p
    for p in "${PIDS[@]}"; do
        if [[ $p != "$1" ]]; then kept+=("$p"); fi
    done
    PIDS=("${kept[@]}")
}
cleanup() {
    local pid pids=("${PIDS[@]}")
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$REPO"
# wasm-agent reads WASM_AGENT_* (log filter, workers, limits...): run it on its defaults.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^WASM_AGENT_' || true)

# --- tools --------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    [[ $(id -u) -eq 0 ]] || die "wrk is not installed; install it (Debian: apt-get install wrk) or run as root"
    command -v apt-get >/dev/null || die "wrk is not installed and there is no apt-get"
    log "installing wrk (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null || die "curl is needed"

# The Python SDK, pinned with everything it pulls in, in a venv cached across runs.
VPY="$(bash "$REPO/bench/venv.sh")"

# wasm-agent and the guests.
if [[ $PING_BUILD != 0 ]]; then
    log "cargo build --release --locked"
    cargo build --release --locked
fi
BIN="${PING_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/wasm-agent}"
[[ $BIN == /* ]] || BIN="$REPO/$BIN"
[[ -x $BIN ]] || die "no binary at $BIN after the build"
for guest in sleep spin; do
    if [[ ! -f $REPO/guest-examples/dist/$guest.wasm ]]; then
        log "guest-examples/dist/$guest.wasm is missing: make guests"
        make -C "$REPO" guests
        break
    fi
done
T_BUILT=$(date +%s)

rm -rf -- "$RAW"
mkdir -p -- "$RAW"

# Share of all CPU time that was busy over the next $1 seconds (from /proc/stat), in percent.
cpu_busy_pct() {
    local a b
    a=$(head -n1 /proc/stat)
    sleep "$1"
    b=$(head -n1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        na = split(a, x); split(b, y); total = 0
        for (i = 2; i <= na; i++) total += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%d", (total > 0 ? 100 * (total - idle) / total + 0.5 : 0) }'
}

# --- one run ------------------------------------------------------------------------------
SERVER_PID=
PORT=

start_wasm_agent() { # scenario logfile
    local scenario=$1 logfile=$2 timeout i
    if [[ $scenario == spin ]]; then timeout="${HANDLER_MS}ms"; else timeout=$SLEEP_TIMEOUT; fi
    # Created here, not by the background job's redirection, which may come after the first
    # read below on a busy machine.
    : >"$logfile"
    "$BIN" serve "$REPO/guest-examples/dist/$scenario.wasm" --host 127.0.0.1 --port 0 \
        --timeout "$timeout" --max-concurrency "$CONCURRENCY" --max-queue "$CONCURRENCY" \
        >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for ((i = 0; i < 600; i++)); do
        PORT=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$logfile" | head -n1)
        [[ -n $PORT ]] && return 0
        alive "$SERVER_PID" || { tail -n 20 "$logfile" >&2; die "wasm-agent exited before listening"; }
        sleep 0.1
    done
    die "wasm-agent did not print its listening line within 60 s"
}

start_python() { # scenario logfile
    local scenario=$1 logfile=$2 i
    PORT=$("$VPY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$VPY" "$HERE/agent_app.py" "$scenario" "$PORT" >"$logfile" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for ((i = 0; i < 300; i++)); do
        curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$PORT/ping" 2>/dev/null && return 0
        alive "$SERVER_PID" || { tail -n 20 "$logfile" >&2; die "the Python app exited before answering /ping"; }
        sleep 0.1
    done
    die "the Python app did not answer /ping within 30 s"
}

run_one() { # scenario system run
    local scenario=$1 system=$2 run=$3 base hold_pid i seconds busy started
    if [[ $scenario == spin ]]; then seconds=$PING_SECONDS_SPIN; else seconds=$PING_SECONDS_SLEEP; fi
    base="$RAW/$scenario-$system-$run"
    busy=$(cpu_busy_pct 0.5)
    started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    log "$scenario / $system / run $run (CPUs ${busy}% busy before it)"
    "start_$system" "$scenario" "$base.server.log"

    rm -f -- "$base.ready.json"
    "$VPY" "$HERE/hold.py" --port "$PORT" --conns "$CONCURRENCY" --payload "{\"ms\": $HANDLER_MS}" \
        --ready "$base.ready.json" --out "$base.hold.json" 2>"$base.hold.log" &
    hold_pid=$!
    PIDS+=("$hold_pid")
    for ((i = 0; i < HANDLER_MS / 100 + 300; i++)); do
        [[ -s $base.ready.json ]] && break
        alive "$hold_pid" || { cat "$base.hold.log" >&2; die "hold.py exited early"; }
        sleep 0.1
    done
    [[ -s $base.ready.json ]] || die "hold.py did not get $CONCURRENCY requests out"
    sleep "$(awk -v ms="$SETTLE_MS" 'BEGIN { printf "%.3f", ms / 1000 }')"

    kill -USR1 "$hold_pid"
    PING_DELAY_MS=$PING_DELAY_MS wrk -t1 -c"$PING_CONNS" -d"${seconds}s" --timeout "$WRK_TIMEOUT" \
        --latency -s "$HERE/ping.lua" "http://127.0.0.1:$PORT/ping" >"$base.wrk.txt" 2>&1 \
        || { cat "$base.wrk.txt" >&2; die "wrk failed"; }
    kill -USR2 "$hold_pid"
    kill -TERM "$hold_pid"
    for ((i = 0; i < 100; i++)); do
        alive "$hold_pid" || break
        sleep 0.1
    done
    stop_pid "$hold_pid"
    stop_pid "$SERVER_PID"
    [[ -s $base.hold.json ]] || { cat "$base.hold.log" >&2; die "hold.py wrote no summary"; }
    grep -q '^PING ' "$base.wrk.txt" || { cat "$base.wrk.txt" >&2; die "no PING line in wrk's output"; }
    printf '%s %s %s %s %s\n' "$started" "$scenario" "$system" "$run" "$busy" >>"$RAW/order.txt"
}

# --- versions and settings ------------------------------------------------------------------
pkg_version() { "$VPY" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1"; }
BENCH_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
BENCH_NPROC="$(nproc)"
BENCH_CPU_BUSY_START="$(cpu_busy_pct 1)"
export BENCH_DATE BENCH_NPROC BENCH_CPU_BUSY_START
if ((BENCH_CPU_BUSY_START > 20)); then
    log "warning: the CPUs are already ${BENCH_CPU_BUSY_START}% busy; something else is running and will skew the numbers"
fi
BENCH_CPU="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
BENCH_KERNEL="$(uname -sr)"
BENCH_MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
BENCH_WASM_AGENT="$("$BIN" --version)"
BENCH_GIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$REPO" status --porcelain -- . ':!bench/ping' 2>/dev/null)" ]]; then
    BENCH_GIT+=" (working tree with uncommitted changes)"
fi
BENCH_PY_SDK="bedrock-agentcore $(pkg_version bedrock-agentcore), uvicorn $(pkg_version uvicorn), starlette $(pkg_version starlette), anyio $(pkg_version anyio), Python $("$VPY" -c 'import platform; print(platform.python_version())')"
BENCH_WRK="$( (wrk -v 2>&1 || true) | head -n1 | sed 's/ Copyright.*//')"
if command -v dpkg-query >/dev/null; then
    BENCH_WRK+=" (Debian package $(dpkg-query -W -f='${Version}' wrk 2>/dev/null || echo '?'))"
fi
export BENCH_CPU BENCH_KERNEL BENCH_MEM BENCH_WASM_AGENT BENCH_GIT BENCH_PY_SDK BENCH_WRK
export BENCH_RUNS=$RUNS BENCH_SCENARIOS=$SCENARIOS BENCH_CONCURRENCY=$CONCURRENCY BENCH_HANDLER_MS=$HANDLER_MS
export BENCH_PING_SECONDS_SLEEP=$PING_SECONDS_SLEEP BENCH_PING_SECONDS_SPIN=$PING_SECONDS_SPIN BENCH_PING_CONNS=$PING_CONNS BENCH_PING_DELAY_MS=$PING_DELAY_MS
export BENCH_SETTLE_MS=$SETTLE_MS BENCH_WRK_TIMEOUT=$WRK_TIMEOUT BENCH_SLEEP_TIMEOUT=$SLEEP_TIMEOUT

# --- the runs, alternated -------------------------------------------------------------------
for scenario in $SCENARIOS; do
    for ((run = 1; run <= RUNS; run++)); do
        # Odd runs start with wasm-agent, even runs with Python, so drift hits both alike.
        if ((run % 2)); then order="wasm_agent python"; else order="python wasm_agent"; fi
        for system in $order; do run_one "$scenario" "$system" "$run"; done
    done
done

T_END=$(date +%s)
export BENCH_SECONDS_TOTAL=$((T_END - T0)) BENCH_SECONDS_MEASURE=$((T_END - T_BUILT))
"$VPY" "$HERE/report.py" "$RAW" "$OUT/results.md"
log "done in $((T_END - T0)) s ($((T_END - T_BUILT)) s after the build): $OUT/results.md"
