#!/usr/bin/env python3
"""Memory per idle session and latency of a warm session versus a fresh instance, through the
real server over HTTP/1.1 keep-alive on loopback. Standard library only.

Usage: run.py BINARY GUEST [--sessions N] [--requests N] [--out DIR]
Writes DIR/results.md and DIR/raw.json.
"""

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start(binary, guest, sessions):
    server = subprocess.Popen(
        [binary, "serve", guest, "--port", "0", "--max-sessions", str(sessions + 16)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "WASM_AGENT_LOG": "warn"},
    )
    for line in server.stderr:
        if line.startswith("listening on http://"):
            host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
            return server, host, int(port)
    raise RuntimeError("the server did not start")


def invoke(conn, session=None):
    headers = {"Content-Type": "application/json"}
    if session:
        headers[SESSION_HEADER] = session
    started = time.perf_counter()
    conn.request("POST", "/invocations", body=b'{"prompt":"hello"}', headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"status {response.status}")
    return elapsed


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latencies(conn, requests, session):
    for _ in range(100):
        invoke(conn, session)
    return [invoke(conn, session) * 1e6 for _ in range(requests)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("guest")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    server, host, port = start(args.binary, args.guest, args.sessions)
    try:
        conn = http.client.HTTPConnection(host, port)
        for _ in range(200):
            invoke(conn)
        time.sleep(0.5)
        idle = rss_kib(server.pid)
        prefix = "bench-session-" + "0" * 24
        for i in range(args.sessions):
            invoke(conn, f"{prefix}{i:08d}")
        time.sleep(0.5)
        loaded = rss_kib(server.pid)
        per_session = (loaded - idle) / args.sessions

        # Alternate the two, three rounds each, so drift on a shared machine hits both.
        fresh, warm = [], []
        for _ in range(3):
            fresh += latencies(conn, args.requests // 3, None)
            warm += latencies(conn, args.requests // 3, prefix + "00000000")
    finally:
        server.terminate()
        server.wait(timeout=30)

    raw = {
        "sessions": args.sessions,
        "rss_idle_kib": idle,
        "rss_with_sessions_kib": loaded,
        "per_session_kib": per_session,
        "fresh_us": {"p50": statistics.median(fresh), "p99": percentile(fresh, 0.99)},
        "warm_us": {"p50": statistics.median(warm), "p99": percentile(warm, 0.99)},
    }
    with open(os.path.join(args.out, "raw.json"), "w") as out:
        json.dump(raw, out, indent=2)
    cpu = platform.processor() or platform.machine()
    lines = [
        "# Sessions: memory per idle session, warm session versus fresh instance",
        "",
        f"Machine: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}. Guest: "
        f"`{os.path.basename(args.guest)}`. Command: `make bench-sessions`.",
        "Through the release server over one HTTP/1.1 keep-alive connection on loopback, "
        "requests one at a time.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| RSS, server idle | {idle / 1024:.1f} MiB | |",
        f"| RSS with {args.sessions} idle sessions | {loaded / 1024:.1f} MiB | |",
        f"| per idle session | {per_session:.0f} KiB | under 200 KB: "
        f"{'met' if per_session * 1024 < 200_000 else 'missed'} |",
        f"| invocation, fresh instance (p50 / p99) | {raw['fresh_us']['p50']:.0f} / "
        f"{raw['fresh_us']['p99']:.0f} µs | |",
        f"| invocation, warm session (p50 / p99) | {raw['warm_us']['p50']:.0f} / "
        f"{raw['warm_us']['p99']:.0f} µs | |",
        "",
    ]
    with open(os.path.join(args.out, "results.md"), "w") as out:
        out.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
