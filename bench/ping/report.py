"""Turns bench/ping/raw/ into raw/runs.csv and results.md (stdlib only).

    python3 report.py RAW_DIR RESULTS_MD

Machine, versions and settings come from the BENCH_* variables run.sh exports.
"""

import csv
import json
import os
import statistics
import sys
from pathlib import Path

SYSTEMS = {"wasm_agent": "wasm-agent", "python": "Python SDK"}
SCENARIO_TEXT = {
    "sleep": "sleep: 64 handlers waiting (wasm `sleep` guest / `time.sleep`)",
    "spin": "spin: 64 handlers busy (wasm `spin` guest / Python busy loop)",
}
TARGET_P99_MS = 5.0


def env(name, default="?"):
    return os.environ.get("BENCH_" + name, default)


def parse_ping(path):
    for line in path.read_text().splitlines():
        if line.startswith("PING "):
            fields = dict(kv.split("=", 1) for kv in line[5:].split())
            return {k: (v if k == "clock" else float(v)) for k, v in fields.items()}
    raise SystemExit(f"{path}: no PING line")


def ms(us):
    """Microseconds as milliseconds with about three significant digits."""
    value = us / 1000
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def value(r, key):
    """A run's value in ms, with "≥" where pings left unanswered make it a lower bound."""
    return ("≥ " if r[key + "_at_least"] else "") + ms(r[key + "_us"])


def span(rs, key):
    lo = min(rs, key=lambda r: (r[key + "_us"], not r[key + "_at_least"]))
    hi = max(rs, key=lambda r: (r[key + "_us"], r[key + "_at_least"]))
    return value(lo, key) if lo is hi or value(lo, key) == value(hi, key) else f"{value(lo, key)} – {value(hi, key)}"


def ratio(python_rs, wasm_rs, key):
    a = statistics.median(r[key + "_us"] for r in python_rs)
    b = statistics.median(r[key + "_us"] for r in wasm_rs)
    if b <= 0 or a <= 0:
        return "n/a"
    r = a / b
    text = f"×{r:,.0f}" if r >= 100 else f"×{r:.1f}"
    return ("≥ " if any(r[key + "_at_least"] for r in python_rs) else "") + text


def unanswered(rs):
    n = sum(r["ping_unanswered_at_end"] for r in rs)
    if not n:
        return "0"
    oldest = max(r["ping_oldest_unanswered_us"] or 0 for r in rs)
    return f"{n} (oldest ≥ {ms(oldest)} ms)" if oldest >= 1000 else str(n)


def load_runs(raw):
    order = []
    for line in (raw / "order.txt").read_text().splitlines():
        started, scenario, system, run, busy = line.split()
        order.append((started, scenario, system, int(run), int(busy)))
    runs = []
    for seq, (started, scenario, system, run, busy) in enumerate(order, 1):
        base = raw / f"{scenario}-{system}-{run}"
        ping = parse_ping(base.with_name(base.name + ".wrk.txt"))
        hold = json.loads(base.with_name(base.name + ".hold.json").read_text())
        ready = json.loads(base.with_name(base.name + ".ready.json").read_text())
        window = hold["window"] or {}
        expected_status = "500" if (system, scenario) == ("wasm_agent", "spin") else "200"
        statuses = window.get("statuses", {})
        problems = []
        if ready["answered_before_all_sent"]:
            problems.append(f"{ready['answered_before_all_sent']} answered before all were sent")
        if window.get("inflight_at_close") != hold["conns"]:
            problems.append(f"{window.get('inflight_at_close')} in flight at the end of the window")
        if window.get("inflight_min_sampled") != hold["conns"]:
            problems.append(f"in flight dropped to {window.get('inflight_min_sampled')}")
        if window.get("errors"):
            problems.append(f"{window['errors']} invocation connection errors")
        if set(statuses) - {expected_status}:
            problems.append(f"invocation statuses {statuses}")
        ping_errors = sum(ping[k] for k in ping if k.startswith("errors_"))
        if ping_errors:
            problems.append(f"{ping_errors:.0f} /ping errors")
        # The pings still unanswered at the end had waited at least that long. Where the oldest
        # had waited longer than a measured value, and there are enough of them to fill the tail
        # above that percentile, the value is only a lower bound ("at least").
        n, k = ping["requests"], ping["unanswered_at_end"]
        age_us = ping["oldest_unanswered_us"] if k else 0
        bounds = {}
        for key, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            value = ping[key + "_us"]
            at_least = age_us > value and (n == 0 or k >= (1 - q) * (n + k))
            if at_least and (n == 0 or key == "max"):
                value = age_us
            bounds[key] = (int(value), at_least)
        runs.append({
            "seq": seq,
            "started": started,
            "scenario": scenario,
            "system": system,
            "run": run,
            "cpu_busy_before_pct": busy,
            "ping_requests": int(ping["requests"]),
            "ping_unanswered_at_end": int(ping["unanswered_at_end"]),
            "ping_oldest_unanswered_us": int(age_us) if k else None,
            "p50_us": bounds["p50"][0],
            "p50_at_least": bounds["p50"][1],
            "p90_us": int(ping["p90_us"]),
            "p99_us": bounds["p99"][0],
            "p99_at_least": bounds["p99"][1],
            "p999_us": int(ping["p999_us"]),
            "max_us": bounds["max"][0],
            "max_at_least": bounds["max"][1],
            "mean_us": ping["mean_us"],
            "ping_errors": int(ping_errors),
            "ping_timeouts": int(ping["errors_timeout"]),
            "inflight_at_close": window.get("inflight_at_close"),
            "inflight_min_sampled": window.get("inflight_min_sampled"),
            "inflight_samples": window.get("samples"),
            "invocations_completed_in_window": window.get("completed"),
            "invocation_statuses": " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
            "handler_ms_mean": window.get("handler_ms_mean"),
            "handler_ms_max": window.get("handler_ms_max"),
            "load_ok": not problems,
            "problems": "; ".join(problems),
        })
    return runs


def main():
    raw, out = Path(sys.argv[1]), Path(sys.argv[2])
    runs = load_runs(raw)
    with open(raw / "runs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(runs[0]))
        writer.writeheader()
        writer.writerows(runs)

    scenarios = [s for s in env("SCENARIOS", "sleep spin").split() if any(r["scenario"] == s for r in runs)]
    lines = []
    w = lines.append
    w("# `/ping` latency under full load: wasm-agent and the Python SDK")
    w("")
    w(f"Generated by `bench/ping/run.sh` on {env('DATE')}; the script took {env('SECONDS_TOTAL')} s "
      f"({env('SECONDS_MEASURE')} s after the build). Raw numbers: `raw/runs.csv`, and per run "
      "`raw/SCENARIO-SYSTEM-RUN.{wrk.txt,hold.json,server.log}`.")
    w("")
    w(f"- Machine: {env('NPROC')} CPUs, {env('CPU')}, {env('MEM')}, {env('KERNEL')}; the CPUs were "
      f"{env('CPU_BUSY_START')}% busy over 1 s before the first run, and the per-run table gives the same "
      "over 0.5 s before each run (anything above a few % is another process, which skews the numbers)")
    w(f"- wasm-agent: `{env('WASM_AGENT')}`, commit {env('GIT')}, release build")
    w(f"- Python side: {env('PY_SDK')} (all pins in `requirements.txt`); one uvicorn process, the SDK's defaults")
    w(f"- Load tool for `/ping`: {env('WRK')}")
    w(f"- Load: {env('CONCURRENCY')} `POST /invocations` always in flight (`hold.py`, one keep-alive "
      f"connection each, the next sent as soon as a reply is read); each handler runs {env('HANDLER_MS')} ms "
      f"(`{{\"ms\": {env('HANDLER_MS')}}}`); the first round is spread over {env('HANDLER_MS')} ms; "
      f"probing starts {env('SETTLE_MS')} ms after all {env('CONCURRENCY')} are sent")
    w(f"- wasm-agent flags: `--max-concurrency {env('CONCURRENCY')} --max-queue {env('CONCURRENCY')}`, "
      f"`--timeout {env('SLEEP_TIMEOUT')}` for sleep, `--timeout {env('HANDLER_MS')}ms` for spin (the guest "
      "spins until it is cut off, a 500); default log level")
    w(f"- Probe: `wrk -t1 -c{env('PING_CONNS')} -d{env('PING_SECONDS_SLEEP')}s` (sleep) / "
      f"`-d{env('PING_SECONDS_SPIN')}s` (spin) `--timeout {env('WRK_TIMEOUT')} -s ping.lua`, a "
      f"{env('PING_DELAY_MS')} ms pause between a reply and the next request on a connection; latency "
      "from request written to reply read")
    w(f"- Runs: {env('RUNS')} per system and scenario, alternating the systems (odd runs wasm-agent first, "
      "even runs Python first), a fresh server each run")
    w("")
    w("## Results")
    w("")
    w("| scenario | system | runs | pings | p50 min – max (ms) | p99 min – max (ms) | max (ms) "
      "| unanswered at end | Python / wasm-agent, median p50 | median p99 |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for scenario in scenarios:
        by = {s: [r for r in runs if r["scenario"] == scenario and r["system"] == s] for s in SYSTEMS}
        for system, name in SYSTEMS.items():
            rs = by[system]
            if not rs:
                continue
            if system == "python" and by["wasm_agent"]:
                r50 = ratio(rs, by["wasm_agent"], "p50")
                r99 = ratio(rs, by["wasm_agent"], "p99")
            else:
                r50 = r99 = ""
            w(f"| {scenario} | {name} | {len(rs)} | {sum(r['ping_requests'] for r in rs):,} "
              f"| {span(rs, 'p50')} | {span(rs, 'p99')} "
              f"| {value(max(rs, key=lambda r: r['max_us']), 'max')} | {unanswered(rs)} | {r50} | {r99} |")
        if by["wasm_agent"]:
            worst = max(r["p99_us"] for r in by["wasm_agent"]) / 1000
            verdicts.append(f"{scenario}: worst run p99 {worst:.2f} ms, "
                            f"{'met' if worst < TARGET_P99_MS else 'MISSED'}")
    w("")
    w(f"Target for wasm-agent, p99 under {TARGET_P99_MS:g} ms in every run: " + "; ".join(verdicts) + ".")
    w("")
    bad = [r for r in runs if not r["load_ok"]]
    if bad:
        w("**Load check FAILED in some runs** (their numbers are in the tables all the same):")
        for r in bad:
            w(f"- {r['scenario']} / {SYSTEMS[r['system']]} / run {r['run']}: {r['problems']}")
    else:
        w(f"Load check passed in every run: all {env('CONCURRENCY')} invocations were sent before any was "
          f"answered, and throughout each /ping window (sampled every 5 ms, and at its end) all "
          f"{env('CONCURRENCY')} were in flight, with no connection errors, only the expected invocation "
          "status, and no /ping error or timeout.")
    w("")
    w("`pings`: `/ping` replies measured, over all runs. `unanswered at end`: pings still waiting when "
      "wrk's window closed, over all runs, and how long the oldest had waited by then. wrk leaves them "
      "out of its latencies. Where they had waited longer than a value and are enough to fill the tail "
      "above it, the value is a lower bound (≥); a run with no ping answered at all counts the oldest "
      "wait as its p50, p99 and max. Ratios are of the medians over runs (≥ when a Python run is a lower "
      "bound). Invocations in the window: replies `hold.py` read "
      "while wrk ran (status: count), and their mean time from request to reply as the client saw it, "
      "queueing included.")
    w("")
    w("What the columns mean, and why Python's numbers grow with the handler length: `README.md`.")
    w("")
    w("## Per run")
    w("")
    w("| # | scenario | system | run | pings | p50 (ms) | p99 (ms) | max (ms) "
      "| unanswered at end | in flight: end / min | invocations in window | invocation mean (ms) "
      "| CPU busy before (%) |")
    w("|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|")
    for r in runs:
        w(f"| {r['seq']} | {r['scenario']} | {SYSTEMS[r['system']]} | {r['run']} | {r['ping_requests']:,} "
          f"| {value(r, 'p50')} | {value(r, 'p99')} | {value(r, 'max')} | {unanswered([r])} "
          f"| {r['inflight_at_close']} / {r['inflight_min_sampled']} "
          f"| {r['invocations_completed_in_window']} ({r['invocation_statuses'] or '-'}) "
          f"| {r['handler_ms_mean'] if r['handler_ms_mean'] is not None else '-'} "
          f"| {r['cpu_busy_before_pct']} |")
    w("")
    out.write_text("\n".join(lines))
    print("\n".join(lines[lines.index("## Results"):]), file=sys.stderr)


if __name__ == "__main__":
    main()
