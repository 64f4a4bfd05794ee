"""The agent benchmark's results as markdown: one row per (pacing, system, N), the largest N each
system holds, and wasm-agent's ratios to the Python SDK at the same N and pacing."""

import os
import platform
import subprocess

import procs


def overhead(result, key):
    first = result.get("first_token_ms")
    return first[key] - result["model_delay_ms"] if first else None


def per_token_us(result):
    return 1e6 * result["cpu_s"] / result["tokens"] if result["tokens"] else None


def ms(value):
    if value is None:
        return "–"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"


def seconds(value):
    return "–" if value is None else f"{value / 1000:.2f}"


def summary(r):
    return (f"failed {r['failed']}/{r['invocations']}, first-token overhead p50 "
            f"{ms(overhead(r, 'p50'))} ms p99 {ms(overhead(r, 'p99'))} ms, /ping p99 "
            f"{ms((r['ping_ms'] or {}).get('p99'))} ms, RSS {r['rss_peak_kib'] / 1024:.0f} MiB")


def machine(venv_python):
    with open("/proc/cpuinfo") as f:
        cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    with open("/proc/meminfo") as f:
        mem_gib = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:")) / 2**20
    sdk = procs.output([str(venv_python), "-c",
                        "import importlib.metadata as m, platform; print(', '.join(f'{p} "
                        "{m.version(p)}' for p in ('bedrock-agentcore', 'uvicorn', 'httpx')) "
                        "+ ', Python ' + platform.python_version())"])
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                            text=True).stdout.strip() or "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_gib),
            "kernel": f"{platform.system()} {platform.release()}", "sdk": sdk, "commit": commit}


def holds_at(results, system, pacing, limit):
    held = [r["concurrency"] for r in results
            if r["system"] == system and r["pacing"] == pacing and r["failed"] == 0
            and overhead(r, "p99") is not None and overhead(r, "p99") < limit]
    return max(held, default=None)


def ratio(a, b):
    if a is None or b is None or a <= 0:
        return "–"
    return f"{b / a:,.0f}×" if b / a >= 10 else f"{b / a:.1f}×"


def render(meta, results):
    m = meta["machine"]
    lines = [
        "# Agent benchmark: concurrent streamed model calls, wasm-agent beside the Python SDK",
        "",
        f"`{meta['command']}` at {m['commit']}, {meta['minutes']} minutes. Machine: {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, {m['kernel']}; open files {meta['open_files']}. "
        f"Python side: {m['sdk']}.",
        "",
        "Every invocation streams a completion from a mock OpenAI-compatible model (Rust, "
        "`bench/src/bin/mock-model.rs`) and relays each token as an SSE event. The load "
        "generator (Rust, `bench/src/bin/agent-load.rs`) keeps N invocations in flight, each "
        "client on its own connection, ramped in over one invocation's length, three rounds "
        "with the first as warm-up; a probe asks `/ping` on a fresh connection every 20 ms "
        "meanwhile. Mock, load generator and server share the machine's cores.",
        "",
        "Pacings: " + "; ".join(
            f"**{name}**: first token after {p['first_token_ms']} ms, {p['tokens']} tokens "
            f"over {p['stream_ms']} ms" for name, p in meta["pacings"].items()) + ".",
        "",
        f"wasm-agent runs `model-agent.wasm` with `{meta['wasm_agent_flags']}` where N is "
        "above the flag's default (256 and 1,024), nothing else changed; *fresh* is "
        "`--instance-scope request` (a new instance per invocation), *sessions* gives each "
        "client a session id (its instance kept between its rounds). The Python SDK runs "
        "`bench/agents/sdk_agent.py` (async entrypoint, httpx streaming) with the SDK's "
        "defaults.",
        "",
        "First-token overhead is the time to the first relayed token minus the mock's own "
        "delay. RSS is the server process's peak; CPU is the server process's user + system "
        "time over the whole load divided by the tokens relayed.",
        "",
        "| pacing | system | N | failed | first-token overhead p50 / p99 (ms) | whole stream "
        "p50 / p99 (s) | /ping p99 / max (ms) | RSS peak (MiB) | CPU per token (µs) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        whole, ping = r.get("whole_ms") or {}, r.get("ping_ms") or {}
        failed = f"{r['failed']}/{r['invocations']}"
        if r["failures"]:
            failed += " (" + ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) + ")"
        lines.append(
            f"| {r['pacing']} | {r['system']} | {r['concurrency']:,} | {failed} | "
            f"{ms(overhead(r, 'p50'))} / {ms(overhead(r, 'p99'))} | "
            f"{seconds(whole.get('p50'))} / {seconds(whole.get('p99'))} | "
            f"{ms(ping.get('p99'))} / {ms(ping.get('max'))} | {r['rss_peak_kib'] / 1024:,.0f} | "
            f"{ms(per_token_us(r))} |")
    limit = meta["target_overhead_ms"]
    lines += ["", f"## Largest N with no failure and first-token overhead p99 under {limit} ms",
              "", "| pacing | system | largest N |", "|---|---|---:|"]
    seen = []
    for r in results:
        key = (r["pacing"], r["system"])
        if key not in seen:
            seen.append(key)
            held = holds_at(results, r["system"], r["pacing"], limit)
            lines.append(f"| {key[0]} | {key[1]} | {'none' if held is None else f'{held:,}'} |")
    lines += ["", "## Ratios to the Python SDK (SDK ÷ wasm-agent; higher is better for wasm-agent)",
              "", "| pacing | system | N | first-token overhead p99 | /ping p99 | RSS peak | "
              "CPU per token |", "|---|---|---:|---:|---:|---:|---:|"]
    sdk = {(r["pacing"], r["concurrency"]): r for r in results if r["system"] == "Python SDK"}
    for r in results:
        base = sdk.get((r["pacing"], r["concurrency"]))
        if base is None or r is base:
            continue
        lines.append(
            f"| {r['pacing']} | {r['system']} | {r['concurrency']:,} | "
            f"{ratio(overhead(r, 'p99'), overhead(base, 'p99'))} | "
            f"{ratio((r['ping_ms'] or {}).get('p99'), (base['ping_ms'] or {}).get('p99'))} | "
            f"{ratio(r['rss_peak_kib'], base['rss_peak_kib'])} | "
            f"{ratio(per_token_us(r), per_token_us(base))} |")
    return "\n".join(lines) + "\n"
