#!/usr/bin/env python3
"""The agent benchmark: thousands of concurrent invocations that each stream a completion from a
mock model and relay its tokens as SSE, through wasm-agent (the model-agent guest, in fresh
instances and in sessions) and through the Python SDK (bench/agents/sdk_agent.py), in one run.

    make bench-agents                  # or: python3 bench/agents/run.py [--quick] [--steps ...]

Every (pacing, system, N) gets a fresh server and a fresh mock model; the Rust load generator
(bench/src/bin/agent-load.rs) keeps N invocations in flight for three rounds, clients ramped in
over one invocation's length, and counts the first round as warm-up. This script only starts,
samples and writes: RSS peak (VmHWM) and CPU time of the server process, from /proc.
Writes bench/agents/results.md and bench/agents/raw.json.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "compare"))
import procs  # noqa: E402
import table  # noqa: E402

# The pacing (1 s to the first token, 50 tokens over 2 s) and the gentler one the target
# row uses on this 2-core machine, where mock and load generator share the cores with the server.
PACINGS = {
    "standard": {"first_token_ms": 1000, "tokens": 50, "stream_ms": 2000},
    "gentle": {"first_token_ms": 1000, "tokens": 20, "stream_ms": 4000},
}
STEPS = [100, 500, 1000, 2000]
# Past the last step, N doubles while a system holds (no failure, overhead p99 under target).
MORE = [4000, 8000]
TARGET_OVERHEAD_MS = 50
# The flags an operator raises for N in flight (README, "Many invocations at once"), with their
# defaults: each is raised to N when N is above it, and nothing else is changed.
RAISED_FLAGS = {"--max-concurrency": 256, "--max-sessions": 1024}
START_TIMEOUT = 60


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")


def raise_open_files():
    """Every child inherits this: N clients need N descriptors in the load generator and two
    in the server (client and model); the usual soft limit of 1,024 would be what binds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def start_mock(paths, pacing, log_path):
    argv = [str(paths["mock"]), "--port", "0",
            *(f"--{key.replace('_', '-')}={value}" for key, value in pacing.items())]
    proc = procs.spawn(argv, log_path=log_path)
    return proc, procs.wait_for_port(proc, log_path, "listening on", time.monotonic() + 30)


def start_system(system, n, paths, model_port, log_path):
    model = f"http://127.0.0.1:{model_port}"
    if system["kind"] == "python-sdk":
        port = procs.free_port()
        proc = procs.spawn([str(paths["python"]), str(HERE / "sdk_agent.py"), str(port),
                            f"{model}/v1"], log_path=log_path, env=procs.clean_env())
    else:
        flags = [part for flag, default in RAISED_FLAGS.items() if n > default
                 for part in (flag, str(n))]
        argv = [str(paths["wasm_agent"]), "serve", str(paths["guest"]), "--port", "0",
                "--instance-scope", system["scope"], *flags,
                "--allow-outbound", model,
                "--env", f"MODEL_ENDPOINT={model}/v1", "--env", "MODEL_ID=mock"]
        proc = procs.spawn(argv, log_path=log_path,
                           env=procs.clean_env({"WASM_AGENT_LOG": "warn"}))
        port = procs.wait_for_port(proc, log_path, "listening on",
                                   time.monotonic() + START_TIMEOUT)
    deadline = time.monotonic() + START_TIMEOUT
    procs.first_ok(proc, port, b'{"prompt": "warm up"}', deadline, interval=0.05)
    return proc, port


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise procs.BenchError(f"no VmHWM for process {pid}")


def one_run(paths, pacing_name, system, n, logs):
    pacing = PACINGS[pacing_name]
    tag = f"{pacing_name}-{system['name']}-{n}"
    procs.log(f"{tag}: starting")
    mock, model_port = start_mock(paths, pacing, logs / f"{tag}-mock.log")
    try:
        server, port = start_system(system, n, paths, model_port, logs / f"{tag}-server.log")
        try:
            length_ms = pacing["first_token_ms"] + pacing["stream_ms"]
            argv = [str(paths["load"]), "--server", f"127.0.0.1:{port}", "--concurrency", str(n),
                    "--tokens", str(pacing["tokens"]), "--ramp-ms", str(length_ms),
                    "--timeout-s", "120"]
            if system.get("sessions"):
                argv.append("--sessions")
            cpu_before = procs.cpu_seconds(server.pid)
            code, text = procs.run(argv, timeout=900)
            cpu = procs.cpu_seconds(server.pid) - cpu_before
            if code:
                raise procs.BenchError(f"agent-load failed ({code}):\n{text}")
            result = json.loads(text.strip().splitlines()[-1])
            result.update(system=system["name"], pacing=pacing_name,
                          model_delay_ms=pacing["first_token_ms"], cpu_s=cpu,
                          rss_peak_kib=peak_rss_kib(server.pid))
        finally:
            procs.stop(server)
    finally:
        procs.stop(mock)
    procs.log(f"{tag}: {table.summary(result)}")
    return result


def holds(result):
    first = result.get("first_token_ms") or {}
    return (result["failed"] == 0 and first
            and first["p99"] - result["model_delay_ms"] < TARGET_OVERHEAD_MS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: N = 50 and 200, standard pacing only")
    parser.add_argument("--steps", type=int, nargs="+", help="N to run (no doubling past them)")
    parser.add_argument("--systems", nargs="+", help="only these systems")
    parser.add_argument("--out", type=Path,
                        help="where results.md and raw.json go (default: bench/agents, or "
                        "bench/agents/logs for --quick and --steps, so a partial run does not "
                        "replace the full one)")
    args = parser.parse_args()
    partial = args.quick or args.steps or args.systems
    args.out = args.out or (HERE / "logs" if partial else HERE)

    tdir = target_dir()
    paths = {
        "wasm_agent": tdir / "release" / "wasm-agent",
        "mock": tdir / "release" / "mock-model",
        "load": tdir / "release" / "agent-load",
        "guest": REPO / "guest-examples" / "dist" / "model-agent.wasm",
    }
    for name, path in paths.items():
        if not path.exists():
            raise procs.BenchError(f"{path} is missing: run `make bench-agents`")
    venv = subprocess.run(["bash", str(REPO / "bench" / "venv.sh")], check=True,
                          capture_output=True, text=True).stdout.strip()
    paths["python"] = Path(venv)
    open_files = raise_open_files()

    systems = [
        {"name": "wasm-agent fresh", "kind": "wasm-agent", "scope": "request"},
        {"name": "wasm-agent sessions", "kind": "wasm-agent", "scope": "session",
         "sessions": True},
        {"name": "Python SDK", "kind": "python-sdk"},
    ]
    if args.systems:
        systems = [s for s in systems if s["name"] in args.systems]
    steps = args.steps or ([50, 200] if args.quick else STEPS)
    more = [] if (args.steps or args.quick) else MORE
    plan = [("standard", steps, more)]
    if not (args.quick or args.steps):
        plan.append(("gentle", [2000], MORE))

    logs = HERE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = []
    try:
        for pacing_name, pacing_steps, pacing_more in plan:
            for system in systems:
                for n in pacing_steps:
                    results.append(one_run(paths, pacing_name, system, n, logs))
                for n in pacing_more:
                    if not holds(results[-1]):
                        break
                    results.append(one_run(paths, pacing_name, system, n, logs))
    finally:
        procs.stop_all()
    meta = {
        "command": "make bench-agents",
        "machine": table.machine(paths["python"]),
        "open_files": open_files,
        "pacings": PACINGS,
        "target_overhead_ms": TARGET_OVERHEAD_MS,
        "wasm_agent_flags": " ".join(f"{flag} N" for flag in RAISED_FLAGS),
        "minutes": round((time.time() - started) / 60, 1),
    }
    (args.out / "raw.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (args.out / "results.md").write_text(table.render(meta, results))
    procs.log(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    try:
        main()
    except procs.BenchError as error:
        procs.stop_all()
        sys.exit(f"bench-agents: {error}")
