"""results.json -> results.md, and the targets, which `run.py --check` also reads.

Every figure is the median over runs with the min–max spread over runs beside it; a ratio or a
share of the ceiling is taken within each run first (the two systems measured minutes apart on
the same machine state), then its median over runs.
"""

import os
import statistics
from pathlib import Path

import stream as stream_scenario
from systems import ECHO_BODY, STREAM_EVENTS

ALL_SCENARIOS = ("echo", "stream", "sessions", "cold", "ping", "criterion")

HERE = Path(__file__).resolve().parent

CRITERION_ID = "echo: instantiate + invoke (caller's thread)"
CEILING = "ceiling"


def med(values):
    return statistics.median(values) if values else None


def us(value):
    """Microseconds in the unit that keeps about three significant digits."""
    if value is None:
        return "–"
    if value >= 100_000:
        return f"{value / 1e6:.2f} s" if value >= 1e6 else f"{value / 1e3:.0f} ms"
    if value >= 1000:
        return f"{value / 1e3:.2f} ms" if value < 10_000 else f"{value / 1e3:.1f} ms"
    return f"{value:.0f} µs"


def spread(values, fmt):
    """`median (min – max)`; just the value when there is one run."""
    if not values:
        return "–"
    lo, mid, hi = fmt(min(values)), fmt(med(values)), fmt(max(values))
    return mid if lo == hi else f"{mid} ({lo} – {hi})"


def rps(v):
    return f"{v:,.0f}"


def times(v):
    return f"×{v:,.0f}" if v >= 100 else f"×{v:.1f}"


def per_run(results, key, pick):
    return [pick(r) for r in results.get(key, [])]


def paired(results, a, b, pick):
    """pick(run of a) / pick(run of b), for the runs both have."""
    by_run = {r["run"]: pick(r) for r in results.get(b, [])}
    return [pick(r) / by_run[r["run"]] for r in results.get(a, []) if by_run.get(r["run"])]


def ping_side(ping, scenario, system, key):
    rs = [r for r in ping["runs"] if r["scenario"] == scenario and r["system"] == system]
    return [r[key + "_us"] for r in rs], any(r[key + "_at_least"] for r in rs)


def ping_pairs(ping, scenario):
    """(wasm-agent's run, Python's run) for each run number both have in one scenario."""
    rs = {(r["system"], r["run"]): r for r in ping["runs"] if r["scenario"] == scenario}
    return [(wa, rs["python", n]) for (system, n), wa in sorted(rs.items())
            if system == "wasm_agent" and ("python", n) in rs]


def ping_ratios(ping, scenario, key="p99"):
    """Python / wasm-agent within each run; whether Python's side was only a lower bound."""
    pairs = [(wa, py) for wa, py in ping_pairs(ping, scenario) if wa[key + "_us"]]
    return ([py[key + "_us"] / wa[key + "_us"] for wa, py in pairs],
            any(py[key + "_at_least"] for _, py in pairs))


def criterion_stale(res, c):
    """Criterion's result predates the wasm-agent binary measured: another build's number."""
    built = (res["meta"].get("artifacts") or {}).get("wasm-agent", {}).get("built")
    return bool(built and c["measured_at"] < built)


def targets(res):
    """Rows of what, measured, met, aim (reported, never failing --check) and ran (whether the
    target's scenario was measured in this run; a target not run neither passes nor fails)."""
    rows = []
    echo = res.get("echo") or {}
    # Results without the list (an older file) were meant whole: judge every target.
    ran = set(res["meta"].get("scenarios") or ALL_SCENARIOS)

    def share(key):
        return med(paired(echo, key, CEILING, lambda r: r["throughput"]["16"]["rps"]))

    def target(scenario, what, value, text, ok, aim=False):
        rows.append({"what": what, "measured": text if value is not None else "not measured",
                     "met": bool(value is not None and ok(value)), "aim": aim,
                     "scenario": scenario, "ran": scenario in ran})

    # One decimal: a 59.6% must not read as a 60% that missed.
    pct = lambda v: f"{v:.1%}" if v is not None else ""
    v = share("wa_request")
    target("echo", "Echo at 16 connections, per-request instances, ≥ 60% of the ceiling", v,
           pct(v), lambda x: x >= 0.60)
    v = med(paired(echo, "wa_request", "wasmtime", lambda r: r["throughput"]["16"]["rps"]))
    target("echo", "… and 3× wasmtime serve", v, times(v) if v else "", lambda x: x >= 3, True)
    v = share("wa_session")
    target("echo", "Echo at 16 connections, warm session, ≥ 80% of the ceiling", v, pct(v),
           lambda x: x >= 0.80)
    v = med(paired(echo, "wa_session", "python", lambda r: r["throughput"]["16"]["rps"]))
    target("echo", "… and 20× the Python SDK", v, times(v) if v else "", lambda x: x >= 20, True)
    v = share("wa_request")
    target("echo", "Echo at 16 connections, per-request instances, ≥ 45% of the ceiling (this "
           "step on the way to 60%)", v, pct(v), lambda x: x >= 0.45)
    for key, label, limit in (("wa_request", "per-request instances", 35),
                              ("wa_session", "warm session", 26)):
        v = med(per_run(echo, key, lambda r: r["throughput"]["16"]["server_cpu_us_per_req"]))
        target("echo", f"Server CPU per request at 16 connections, {label}, ≤ {limit} µs", v,
               f"{v:.1f} µs" if v is not None else "", lambda x, limit=limit: x <= limit)
    v = med(per_run(echo, "wa_request", lambda r: r["rate"]["p99_us"]))
    target("echo", "Echo p99 at 16 connections, fixed rate, per-request instances, < 2 ms", v,
           us(v), lambda x: x < 2000)

    # A /ping figure counts only from runs whose load held, and only when wasm-agent's own
    # value is measured, not a lower bound (which could hide any p99 above it).
    ping = res.get("ping") or {"runs": []}
    wa_runs = [r for r in ping["runs"] if r["scenario"] == "spin" and r["system"] == "wasm_agent"]
    wa, wa_bound = ping_side(ping, "spin", "wasm_agent", "p99")
    wa_bad = any(not r["load_ok"] for r in wa_runs)
    notes = (" (load check failed)" if wa_bad else "") + (" (a lower bound)" if wa_bound else "")
    v = med(wa)
    target("ping", "/ping p99 under the spinning load < 5 ms", v,
           ("≥ " if wa_bound else "") + us(v) + notes,
           lambda x: x < 5000 and not wa_bad and not wa_bound)
    ratios, py_bound = ping_ratios(ping, "spin")
    pairs_bad = any(not r["load_ok"] for pair in ping_pairs(ping, "spin") for r in pair)
    notes = (" (load check failed)" if pairs_bad else "") + (
        " (wasm-agent's p99 a lower bound)" if wa_bound else "")
    v = med(ratios)
    target("ping", "/ping p99 under the spinning load ≥ 100× better than the Python SDK's", v,
           ("≥ " if py_bound else "") + spread(ratios, times) + notes,
           lambda x: x >= 100 and not pairs_bad and not wa_bound)

    crit = (res.get("criterion") or {}).get(CRITERION_ID)
    v = crit["median_ns"] / 1000 if crit else None
    stale = bool(crit) and criterion_stale(res, crit)
    target("criterion", "Instantiate + invoke of the Rust echo guest < 20 µs median (criterion)",
           v, f"{v:.1f} µs" + (" (stale: older than the binary)" if stale else "")
           if v is not None else "", lambda x: x < 20 and not stale)
    cold = ((res.get("cold_start") or {}).get("ms") or {}).get("wa_cached")
    v = med(cold) * 1000 if cold else None
    target("cold", "Cold start with a warm compile cache < 50 ms", v, us(v), lambda x: x < 50_000)
    v = med(per_run(res.get("stream") or {}, "wasm_agent", lambda r: r["emit_to_client_us"]["p99"]))
    target("stream", "Emit → client p99 < 1 ms (streaming)", v, us(v), lambda x: x < 1000)
    return rows


def verdict(t):
    if not t["ran"]:
        return "not run"
    if t["aim"]:
        return "aim met" if t["met"] else "aim missed"
    return "met" if t["met"] else "missed"


def render(res, md_path=None):
    """results.md for md_path (bench/results.md by default): its links are relative to it."""
    lines = []
    w = lines.append
    m, s = res["meta"], res["meta"]["settings"]
    where = Path(md_path).resolve().parent if md_path else HERE.parent
    link = lambda path: Path(os.path.relpath(path, where)).as_posix()
    readme, app = link(HERE / "README.md"), link(HERE / "python_app.py")
    json_name = Path(md_path).with_suffix(".json").name if md_path else "results.json"
    w("# wasm-agent beside its peers: echo, streaming, `/ping`, start-up, memory")
    w("")
    if s["quick"]:
        w("> **Quick mode (a smoke test): one short run of each; these numbers are not for citing.**\n")
    if m.get("error"):
        w(f"> **The run stopped early: {m['error']}** What was measured before that is below; "
          "the rest is not measured.\n")
    took = m.get("seconds_measuring")
    w(f"Generated on {m['date']} by `{m['command']}`. "
      + (f"Measuring took {took:.0f} s (estimated {m['seconds_estimated']:.0f} s). "
         if took is not None else "")
      + f"Raw numbers: [`{json_name}`]({json_name}); method and caveats: [`compare/README.md`]({readme}).")
    w("")
    v = m["versions"]
    w(f"- Machine: {v['nproc']} CPUs, {v['cpu']}, {v['memory_gib']} GiB, {v['kernel']}; the CPUs were "
      f"{m['cpu_busy_before_pct']}% busy over 1 s before the first run. Servers and load generators "
      "share these CPUs.")
    w(f"- wasm-agent: `{v['wasm_agent']}`, commit {v['git']}, {v['rustc']}, release build, "
      "`WASM_AGENT_LOG=warn`, no other `WASM_AGENT_*`: one HTTP thread per four cores (at least "
      "one) and one worker per core for guest code. Its `echo` guest parses the JSON and returns "
      "the payload with the invocation context (about 400 bytes).")
    files = ", ".join(f"`{name}` {a['sha256']} (built {a['built']})"
                      for name, a in m.get("artifacts", {}).items())
    w(f"- Files measured, copied aside at the start so a rebuild cannot swap them mid-run "
      f"(sha256 prefix): {files}.")
    w(f"- wasmtime serve: `{v['wasmtime']}`, `wasmtime serve -S cli` running `bench/http-echo`. "
      "wasmtime parses HTTP in the host (hyper) and hands the guest wasi:http request and "
      "response resources; the guest streams the body through wasi:io, copying the bytes "
      "without parsing JSON, in a fresh instance per request (pooling allocator on by default). "
      "Its compile cache is on by default (`-C cache`, in the user's cache directory); see the "
      "start-up table for both states.")
    w(f"- Python SDK: {v['python_sdk']}; [`compare/python_app.py`]({app}): an `async def` "
      "entrypoint (the SDK's fastest) that parses the JSON and serialises it again, a single "
      "uvicorn worker (the SDK's default), the SDK's logger at WARNING.")
    w("- ceiling: `bench/src/bin/ceiling.rs`, axum copying the body back without parsing JSON, no "
      "wasm, on one tokio worker per core: the most this machine's HTTP stack can do.")
    w(f"- Load: {v['wrk']}, `-t2` (`-t1` at 1 connection), {s['duration']} s per measurement after "
      f"a {s['warmup_s']} s warm-up per server start; runs: {s['runs']}, the systems' order "
      "reversed every other run; a fresh server per run. Request: `POST /invocations` "
      f"`{ECHO_BODY.decode()}`. Runner: {v['python_runner']}.")
    if m.get("rate_warning"):
        w(f"- **Warning:** {m['rate_warning']}.")
    busy = [f"{scenario} / {key} / run {r['run']}: {r['cpu_busy_before_pct']}%"
            for scenario in ("echo", "stream") for key, rs in (res.get(scenario) or {}).items()
            for r in rs if r.get("cpu_busy_before_pct", 0) > 20]
    if busy:
        w("- **Something else was using the CPUs** (busy over 0.3 s before a server start; these "
          "runs are skewed): " + "; ".join(busy) + ".")
    w("")
    w("## Targets\n")
    w("| target | measured (median over runs) | |")
    w("|---|---:|---|")
    for t in targets(res):
        status = verdict(t)
        w(f"| {t['what']} | {t['measured']} | {'**missed**' if status == 'missed' else status} |")
    w("")
    echo = res.get("echo")
    if echo:
        render_echo(w, echo, m)
    if res.get("stream"):
        render_stream(w, res["stream"], s)
    if res.get("ping"):
        render_ping(w, res["ping"])
    if res.get("cold_start"):
        render_cold(w, res["cold_start"], m)
    if echo or res.get("sessions"):
        render_memory(w, echo or {}, res.get("sessions"), m)
    render_criterion(w, res.get("criterion"), res)
    return "\n".join(lines) + "\n"


def render_echo(w, echo, meta):
    names = meta["names"]["echo"]
    conns = list(next(iter(echo.values()))[0]["throughput"])
    w("## 1. Echo throughput (requests/s)\n")
    w("Server CPU: the server process's user + system time (`/proc/PID/stat`, all threads) over "
      "the 16-connection window, per request: the work per request, whatever share of the CPUs "
      "wrk took.")
    w("")
    w("| system | " + " | ".join(f"{c} conn | % of ceiling" for c in conns)
      + " | server CPU per request (16 conn) |")
    w("|---|" + "---:|---:|" * len(conns) + "---:|")
    for key, rs in echo.items():
        cells = []
        for c in conns:
            cells.append(spread([r["throughput"][c]["rps"] for r in rs], rps))
            shares = paired(echo, key, CEILING, lambda r: r["throughput"][c]["rps"])
            cells.append(spread(shares, lambda x: f"{x:.0%}") if key != CEILING else "")
        cpu = [r["throughput"]["16"]["server_cpu_us_per_req"] for r in rs
               if "server_cpu_us_per_req" in r["throughput"].get("16", {})]
        cells.append(spread(cpu, lambda x: f"{x:.1f} µs"))
        w(f"| {names[key]} | " + " | ".join(cells) + " |")
    w("")
    w("| ratio (within each run) | " + " | ".join(f"{c} conn" for c in conns) + " |")
    w("|---|" + "---:|" * len(conns))
    for a, b in (("wa_request", "wasmtime"), ("wa_session", "wasmtime"),
                 ("wa_request", "python"), ("wa_session", "python")):
        if a in echo and b in echo:
            cells = [spread(paired(echo, a, b, lambda r: r["throughput"][c]["rps"]), times)
                     for c in conns]
            w(f"| {names[a]} / {names[b]} | " + " | ".join(cells) + " |")
    w("")
    first = next(iter(echo.values()))[0]["rate"]
    target = first["connections"] * 1000 / first["pause_ms"]
    w(f"## 2. Echo latency at a fixed rate ({first['connections']} connections, "
      f"{target:,.0f} req/s offered)")
    w("")
    if meta.get("rate_warning"):
        w(f"**Warning:** {meta['rate_warning']}.\n")
    w(f"Each connection pauses {first['pause_ms']} ms before each request (wrk's `delay()`); "
      "latency is from the request written to the reply read, so the pause is not in it. The "
      "pause comes after the reply, so a slower system is offered somewhat fewer requests: "
      "see the achieved rate.")
    w("")
    w("| system | achieved req/s | p50 | p99 | max |")
    w("|---|---:|---:|---:|---:|")
    for key, rs in echo.items():
        cells = [spread([r["rate"][k] for r in rs], rps if k == "rps" else us)
                 for k in ("rps", "p50_us", "p99_us", "max_us")]
        w(f"| {names[key]} | " + " | ".join(cells) + " |")
    w("")


def render_stream(w, stream, s):
    names = {"wasm_agent": "wasm-agent (`stream` guest)", "python": "Python SDK (async generator)"}
    w(f"## 3. Streaming ({STREAM_EVENTS} events per invocation)\n")
    w(f"One keep-alive connection, {s['stream_requests']} invocations one after another per run; "
      "first event: request written → first `data:` line read; emit → client: the client's wall "
      "clock at the read minus the event's `t_us`, over every event. Events/s: wrk, "
      f"{stream_scenario.EVENTS_CONNECTIONS} connections, × {STREAM_EVENTS}.")
    w("")
    w("| system | first event p50 | first event p99 | whole reply p50 | emit → client p50 "
      "| p99 | max | events/s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, rs in stream.items():
        cells = [spread([r["first_event_us"]["p50"] for r in rs], us),
                 spread([r["first_event_us"]["p99"] for r in rs], us),
                 spread([r["total_us"]["p50"] for r in rs], us)]
        cells += [spread([r["emit_to_client_us"][k] for r in rs], us) for k in ("p50", "p99", "max")]
        cells.append(spread([r["events_per_s"] for r in rs], rps))
        w(f"| {names.get(key, key)} | " + " | ".join(cells) + " |")
    w("")


def render_ping(w, ping):
    st = ping["settings"]
    w("## 4. `/ping` under load\n")
    w("`bench/ping/run.sh` with `" + " ".join(f"{k}={v}" for k, v in st.items()) + "`: "
      f"{st.get('CONCURRENCY', 64)} invocations held in flight (sleeping or spinning handlers), "
      "`GET /ping` probed by wrk. `≥`: pings still unanswered when the window closed make the "
      "value a lower bound. Under spin the Python SDK may answer no ping within the window: its "
      "figure is then the window's length, and the ratio only a lower bound (`≥`) that a longer "
      "window would raise. Ratios are taken within each run, then the median.")
    w("")
    w("| load | system | p50 | p99 | max | Python / wasm-agent (p99) |")
    w("|---|---|---:|---:|---:|---:|")
    for scenario in ("sleep", "spin"):
        for system, name in (("wasm_agent", "wasm-agent"), ("python", "Python SDK")):
            cells = []
            for key in ("p50", "p99", "max"):
                values, bound = ping_side(ping, scenario, system, key)
                cells.append(("≥ " if bound else "") + spread(values, us))
            ratios, bound = ping_ratios(ping, scenario)
            ratio = ("≥ " if bound else "") + spread(ratios, times) if system == "python" else ""
            w(f"| {scenario} | {name} | " + " | ".join(cells) + f" | {ratio} |")
        w(f"| {scenario} | wasmtime serve | n/a | n/a | n/a | |")
    w("")
    w("wasmtime serve: n/a, it has no health endpoint of its own; `GET /ping` reaches the guest "
      "like any request, so it would measure the guest's queue, not the server's liveness.")
    for r in (r for r in ping["runs"] if not r["load_ok"]):
        w(f"- load check failed: {r['scenario']} / {r['system']} / run {r['run']}: {r['problems']}")
    w("")


def render_cold(w, cold, meta):
    w("## 5. Start-up: process start → first 200 from `POST /invocations`\n")
    w("Polled every 2 ms with a fresh connection. wasm-agent's two rows share one new, empty "
      "`--cache-dir` per run: the first start compiles into it, the second loads from it. "
      "wasmtime serve's own cache (on by default) was filled by a start before the first run; "
      "`-C cache=n` makes it compile at every start. The component each one compiles or loads "
      "differs in size, which weighs on the compile rows.")
    w("")
    files = meta.get("artifacts", {})
    component = {"wa_compile": "echo.wasm", "wa_cached": "echo.wasm",
                 "wasmtime": "http_echo.wasm", "wasmtime_nocache": "http_echo.wasm"}
    w("| start | component | median (min – max) |")
    w("|---|---|---:|")
    for key, values in cold["ms"].items():
        name = component.get(key)
        size = files.get(name, {}).get("bytes")
        what = f"`{name}` {size / 1024:,.0f} KiB" if size else (f"`{name}`" if name else "–")
        w(f"| {cold['names'][key]} | {what} | {spread([v * 1000 for v in values], us)} |")
    w("")


def render_memory(w, echo, sessions, meta):
    names = meta["names"]["echo"]
    w("## 6. Memory (RSS, `VmRSS`)\n")
    w("| system | idle after start + 100 echoes |")
    w("|---|---:|")
    for key, rs in echo.items():
        w(f"| {names[key]} | {spread([r['rss_idle_kib'] / 1024 for r in rs], lambda x: f'{x:.1f} MiB')} |")
    if sessions:
        n = sessions[0]["sessions"]
        w(f"| wasm-agent, per live session ({n} sessions invoked once each: RSS after − before, / {n}) "
          f"| {spread([r['per_session_kib'] for r in sessions], lambda x: f'{x:.0f} KiB')} |")
    w("")


def render_criterion(w, crit, res):
    w("## 7. Micro-benchmarks (criterion, `bench/benches/invoke.rs`)\n")
    if not crit:
        w("Not measured: no criterion results in the target directory (`make bench-check` and "
          "`make bench` run them before this comparison).")
        w("")
        return
    built = res["meta"].get("artifacts", {}).get("wasm-agent", {}).get("built", "")
    w("A result older than the wasm-agent binary measured above"
      + (f" (built {built})" if built else "") + " comes from criterion's run on an earlier "
      "build: it is marked stale and its target counts as missed.")
    w("")
    w("| benchmark | median | 95% CI | measured at |")
    w("|---|---:|---:|---|")
    for name, c in crit.items():
        lo, hi = c["ci95_ns"]
        stale = " (stale: older than the binary)" if criterion_stale(res, c) else ""
        w(f"| {name} | {c['median_ns'] / 1000:.1f} µs | {lo / 1000:.1f} – {hi / 1000:.1f} µs "
          f"| {c['measured_at']}{stale} |")
    w("")
