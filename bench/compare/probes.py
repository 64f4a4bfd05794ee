"""The scenarios that are not a wrk flood: cold start, memory per live session, /ping under load
(bench/ping/run.sh with short windows) and criterion's micro-benchmark medians."""

import datetime
import importlib.util
import json
import os
import shutil
import tempfile
import time

import procs
from systems import ECHO_BODY, SESSION_HEADER, Server, cold_start_systems, echo_systems

# Sessions created to measure one's memory: enough that the allocator's slack is spread thin,
# well under wasm-agent's default --max-sessions (1024), so none is evicted.
SESSIONS = 200


def cold_start_scenario(paths, raw, settings):
    """Process start to the first 200 from POST /invocations, polled every 2 ms."""
    probe = cold_start_systems(paths, "unused")
    results = {s.key: [] for s in probe}
    names = {s.key: s.name for s in probe}
    # wasmtime's own compile cache is on by default; one start first makes sure the component
    # is in it, so its row is what a user sees on every start after the first.
    wasmtime = next(s for s in probe if s.key == "wasmtime")
    with Server(wasmtime, raw / "cold-wasmtime-fill.server.log"):
        pass
    for run in range(1, settings.cold_runs + 1):
        cache = tempfile.mkdtemp(prefix="wasm-agent-bench-compile-")
        try:
            os.chmod(cache, 0o700)
            systems = {s.key: s for s in cold_start_systems(paths, cache)}
            # wasm-agent's two starts stay a pair in this order: the second needs the first's cache.
            groups = [["ceiling"], ["wa_compile", "wa_cached"], ["wasmtime"], ["wasmtime_nocache"],
                      ["python"]]
            if run % 2 == 0:
                groups.reverse()
            for key in (k for g in groups for k in g):
                log_path = raw / f"cold-{key}-{run}.server.log"
                with Server(systems[key], log_path, ready_timeout=300) as s:
                    results[key].append(round(s.startup_ms, 2))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        procs.log(f"cold start run {run}: " + ", ".join(f"{k} {v[-1]:.0f} ms"
                                                        for k, v in results.items()))
    return {"names": names, "ms": results}


def session_memory_scenario(paths, raw, settings):
    """RSS added per live session: SESSIONS sessions invoked once each, RSS after minus before."""
    system = next(s for s in echo_systems(paths) if s.key == "wa_session")
    runs = []
    for run in range(1, settings.runs + 1):
        with Server(system, raw / f"sessions-{run}.server.log") as server:
            conn = procs.connect(server.port)
            try:
                with procs.client_errors(f"{system.name}: creating sessions"):
                    for _ in range(100):
                        expect_ok(procs.post(conn, ECHO_BODY))
                    time.sleep(0.5)
                    before = server.rss_kib()
                    for i in range(SESSIONS):
                        session = f"bench-compare-memory-session-{run:02d}-{i:08d}"
                        expect_ok(procs.post(conn, ECHO_BODY, {SESSION_HEADER: session}))
                    time.sleep(0.5)
                    after = server.rss_kib()
            finally:
                conn.close()
        runs.append({"run": run, "sessions": SESSIONS, "rss_before_kib": before,
                     "rss_after_kib": after, "per_session_kib": round((after - before) / SESSIONS, 1)})
        procs.log(f"sessions run {run}: {runs[-1]['per_session_kib']} KiB per session")
    return runs


def expect_ok(reply):
    status, _, body = reply
    if status != 200:
        raise procs.BenchError(f"status {status}: {body[:300]!r}")


def ping_settings(settings):
    """Every setting run.sh reads, set here, so the caller's environment (a SCENARIOS or
    CONCURRENCY exported for something else) cannot change what is measured."""
    return {"RUNS": settings.runs, "SCENARIOS": "sleep spin", "CONCURRENCY": 64,
            "HANDLER_MS": settings.ping_handler_ms, "PING_SECONDS_SLEEP": settings.ping_sleep,
            "PING_SECONDS_SPIN": settings.ping_spin, "PING_CONNS": 2, "PING_DELAY_MS": 10,
            "SETTLE_MS": settings.ping_handler_ms, "WRK_TIMEOUT": "30s", "SLEEP_TIMEOUT": "30s"}


def ping_estimate_s(settings):
    """run.sh's own length: per run and system, start, the first round spread over HANDLER_MS,
    as long again to settle, the window, and the stop."""
    handler = settings.ping_handler_ms / 1000
    per_system = 2 * (3 + 2 * handler) + settings.ping_sleep + settings.ping_spin
    return settings.runs * 2 * per_system


def ping_scenario(paths, raw, settings):
    out = raw / "ping"
    env = dict(os.environ, PING_OUT=str(out), PING_BUILD="0", PING_BIN=str(paths.wasm_agent),
               **{k: str(v) for k, v in ping_settings(settings).items()})
    # run.sh falls back on PING_SECONDS for both windows; both are set, but leave no doubt.
    env.pop("PING_SECONDS", None)
    timeout = 2 * ping_estimate_s(settings) + 300
    procs.log(f"/ping under load: bench/ping/run.sh, {ping_settings(settings)}")
    code, _ = procs.run(["bash", str(paths.repo / "bench" / "ping" / "run.sh")], timeout=timeout,
                        env=env, capture=False, grace=20)
    if code != 0:
        raise procs.BenchError(f"bench/ping/run.sh failed with exit code {code}")
    # bench/ping/report.py decides which values are lower bounds; reuse it rather than redo it.
    spec = importlib.util.spec_from_file_location(
        "ping_report", paths.repo / "bench" / "ping" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    keep = ("scenario", "system", "run", "ping_requests", "ping_unanswered_at_end", "p50_us",
            "p50_at_least", "p99_us", "p99_at_least", "max_us", "max_at_least", "load_ok",
            "problems", "cpu_busy_before_pct")
    return {"settings": ping_settings(settings),
            "runs": [{k: r[k] for k in keep} for r in report.load_runs(out / "raw")]}


def criterion_medians(paths):
    """The medians of invoke.rs's benchmarks from criterion's last run, if there was one."""
    found = {}
    for estimates in sorted((paths.target / "criterion").glob("**/new/estimates.json")):
        try:
            meta = json.loads((estimates.parent / "benchmark.json").read_text())
            median = json.loads(estimates.read_text())["median"]
        except (OSError, ValueError, KeyError):
            continue
        if not meta.get("full_id", "").startswith("echo: "):
            continue
        when = datetime.datetime.fromtimestamp(estimates.stat().st_mtime, datetime.timezone.utc)
        found[meta["full_id"]] = {
            "median_ns": round(median["point_estimate"], 1),
            "ci95_ns": [round(median["confidence_interval"]["lower_bound"], 1),
                        round(median["confidence_interval"]["upper_bound"], 1)],
            "measured_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    return found
