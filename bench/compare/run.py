#!/usr/bin/env python3
"""wasm-agent side by side with its peers on this machine, in one run: the ceiling (axum with
no wasm), wasm-agent per request and in a warm session, `wasmtime serve`, and the Python
bedrock-agentcore SDK. Standard library only. See README.md beside this file.

    python3 bench/compare/run.py [--quick] [--check] [--scenarios echo,stream,...]
    python3 bench/compare/run.py --check-only     # the targets of the last results.json

Writes bench/results.md and bench/results.json (quick mode: bench/compare/raw/quick-results.*),
and per-run logs in bench/compare/raw/. Numbers come from the environment (defaults, and in
quick mode): RUNS (3, 1), DURATION seconds per measurement (3, 1), RATE req/s for the latency
(1000), STREAM_REQUESTS (100, 20), COLD_RUNS (5, 2), PING_SECONDS_SLEEP (4, 2),
PING_SECONDS_SPIN (12, 3), PING_HANDLER_MS (2000, 1000); QUICK=1 is --quick.
"""

import argparse
import datetime
import json
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import load
import machine
import probes
import procs
import report
import stream
from systems import Paths, echo_systems, stream_systems

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCENARIOS = report.ALL_SCENARIOS
ENV_SETTINGS = {  # name: (default, quick)
    "RUNS": (3, 1), "DURATION": (3, 1), "RATE": (1000, 1000), "STREAM_REQUESTS": (100, 20),
    "COLD_RUNS": (5, 2), "PING_SECONDS_SLEEP": (4, 2), "PING_SECONDS_SPIN": (12, 3),
    "PING_HANDLER_MS": (2000, 1000),
}


@dataclass
class Settings:
    quick: bool
    runs: int
    duration: int
    rate: int
    stream_requests: int
    cold_runs: int
    ping_sleep: int
    ping_spin: int
    ping_handler_ms: int
    warmup_s: int = load.WARMUP_SECONDS


def settings_from_env(quick):
    values = {}
    for name, (default, quick_default) in ENV_SETTINGS.items():
        raw = os.environ.get(name, str(quick_default if quick else default))
        if not raw.isdigit() or int(raw) <= 0:
            sys.exit(f"error: {name} must be a positive integer, not {raw!r}")
        values[name] = int(raw)
    return Settings(quick, values["RUNS"], values["DURATION"], values["RATE"],
                    values["STREAM_REQUESTS"], values["COLD_RUNS"], values["PING_SECONDS_SLEEP"],
                    values["PING_SECONDS_SPIN"], values["PING_HANDLER_MS"])


def estimate_s(settings, scenarios):
    """A rough length of each scenario on a 2-core machine, printed before and kept beside the
    measured one, so a default run that grows past its budget is noticed."""
    d, runs, warm = settings.duration, settings.runs, settings.warmup_s
    per_echo = 1.5 + warm + (len(load.CONNECTIONS) + 1) * (d + 0.15)
    parts = {
        # Five systems; the Python app takes about 1 s more to start.
        "echo": runs * (5 * per_echo + 1),
        # The SDK streams 100 events in about 15 ms, wasm-agent in well under 1 ms.
        "stream": runs * (4 + 2 * (warm + d) + 0.016 * (settings.stream_requests + 11)),
        "sessions": runs * 1.5,
        "cold": 1 + settings.cold_runs * 1.5,
        "ping": probes.ping_estimate_s(settings),
        "criterion": 0,
    }
    return {k: v for k, v in parts.items() if k in scenarios}


def command_line(argv):
    overrides = [f"{k}={shlex.quote(os.environ[k])}" for k in (*ENV_SETTINGS, "QUICK", "CARGO_TARGET_DIR")
                 if k in os.environ]
    text = " ".join(overrides + ["python3", "bench/compare/run.py"] + [shlex.quote(a) for a in argv])
    return text + (" (run by make)" if "MAKELEVEL" in os.environ else "")


def check(res):
    """Prints every target; returns whether all were met. Aims are printed and never fail, nor
    do targets of scenarios left out with --scenarios."""
    ok = True
    rows = report.targets(res)
    for t in rows:
        status = report.verdict(t)
        ok &= status in ("met", "not run") or t["aim"]
        print(f"{status.upper() if status == 'missed' else status:>10}  {t['what']}: "
              f"{t['measured'] if t['ran'] else '(scenario not run)'}")
    skipped = sorted({t["scenario"] for t in rows if not t["ran"]})
    if skipped:
        print(f"skipped the targets of scenarios not run: {', '.join(skipped)}")
    return ok


class Stopped(BaseException):
    """SIGTERM or SIGHUP: unwinds through every `with Server` like Ctrl-C, not caught by any
    `except Exception`."""


def on_signal(signum, _frame):
    raise Stopped(signum)


def measure(paths, settings, scenarios, raw, res, took):
    """Fills res scenario by scenario (echo and stream run by run), so what was measured before
    a failure is still there to be written."""
    plan = [
        ("echo", lambda: load.echo_scenario(echo_systems(paths), raw, settings,
                                            res.setdefault("echo", {}))),
        ("stream", lambda: stream.stream_scenario(stream_systems(paths), raw, settings,
                                                  res.setdefault("stream", {}))),
        ("sessions", lambda: probes.session_memory_scenario(paths, raw, settings)),
        ("cold", lambda: probes.cold_start_scenario(paths, raw, settings)),
        ("ping", lambda: probes.ping_scenario(paths, raw, settings)),
        ("criterion", lambda: probes.criterion_medians(paths)),
    ]
    for name, step in plan:
        if name not in scenarios:
            continue
        started = time.monotonic()
        value = step()
        if value is not None:
            res["cold_start" if name == "cold" else name] = value
        took[name] = round(time.monotonic() - started, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke test (also QUICK=1)")
    parser.add_argument("--check", action="store_true",
                        help="exit non-zero if a target is missed (after the run)")
    parser.add_argument("--check-only", action="store_true",
                        help="no run: check the targets of the last results.json")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--out", type=Path, help="directory for results.md and results.json")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("QUICK", "") not in ("", "0")
    raw = HERE / "raw"
    out = args.out or (raw if quick else REPO / "bench")
    stem = "quick-results" if quick and not args.out else "results"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"

    if args.check_only:
        res = json.loads(json_path.read_text())
        return 0 if check(res) else 1

    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {','.join(SCENARIOS)}")
    settings = settings_from_env(quick)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    paths = Paths(REPO)
    meta, res, took, error, code = None, {}, {}, None, 1
    try:
        machine.check_builds(paths)
        machine.ensure_tools(paths)
        raw.mkdir(parents=True, exist_ok=True)
        for old in (*raw.glob("*.log"), *raw.glob("*.wrk.txt")):
            old.unlink()
        artifacts = machine.snapshot(paths, raw / "bin")
        estimate = estimate_s(settings, scenarios)
        procs.log(f"measuring {', '.join(scenarios)}: about {sum(estimate.values()) / 60:.1f} min "
                  f"({', '.join(f'{k} {v:.0f} s' for k, v in estimate.items())})")
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command_line(sys.argv[1:]),
            "settings": asdict(settings),
            "scenarios": scenarios,
            "cpu_busy_before_pct": machine.cpu_busy_pct(),
            "versions": machine.describe(paths),
            "artifacts": artifacts,
            "names": {"echo": {s.key: s.name for s in echo_systems(paths)}},
            "rate_warning": load.rate_warning(settings.rate) if "echo" in scenarios else None,
            "seconds_estimated": round(sum(estimate.values()), 1),
        }
        if meta["cpu_busy_before_pct"] > 20:
            procs.log(f"warning: the CPUs are already {meta['cpu_busy_before_pct']}% busy; "
                      "something else is running and will skew the numbers")
        if meta["rate_warning"]:
            procs.log(f"warning: {meta['rate_warning']}")
        started = time.monotonic()
        try:
            measure(paths, settings, scenarios, raw, res, took)
        finally:
            meta["seconds_measuring"] = round(time.monotonic() - started, 1)
            meta["seconds_per_scenario"] = {k: {"measured": took.get(k), "estimated": round(v, 1)}
                                            for k, v in estimate.items()}
    except procs.BenchError as e:
        error = str(e)
    except KeyboardInterrupt:
        error, code = "interrupted (Ctrl-C)", 130
    except Stopped as e:
        error, code = f"stopped by signal {e.args[0]}", 128 + e.args[0]
    finally:
        procs.stop_all()

    if error:
        procs.log(f"error: {error}")
    if meta is None:  # nothing was measured: there is nothing to write
        return code
    # Scenarios that failed before their first run leave an empty entry.
    res = {"meta": {**meta, "error": error}, **{k: v for k, v in res.items() if v}}
    out.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
    md_path.write_text(report.render(res, md_path))
    procs.log(f"measuring took {meta['seconds_measuring']:.0f} s (estimated "
              f"{meta['seconds_estimated']:.0f} s); wrote {md_path} and {json_path}")
    if error:
        procs.log("the results hold what was measured before the error, and the error")
        return code
    met = check(res)
    return 0 if met or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
