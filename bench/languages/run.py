#!/usr/bin/env python3
"""The example agent in each guest language: component size, start-up with a cold and a warm
compile cache (process start to the first successful /invocations), and the latency of an echo
through the server (one keep-alive connection, requests one at a time). Standard library only.

Usage: run.py BINARY DIST [--requests N] [--out DIR]   (DIST: guest-examples/dist)
Writes DIR/results.md and DIR/raw.json.
"""

import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time

LANGUAGES = [("Rust", "agent"), ("Python", "python-agent"), ("JavaScript", "js-agent"), ("C", "c-agent")]


def start(binary, wasm, cache):
    started = time.perf_counter()
    server = subprocess.Popen(
        [binary, "serve", wasm, "--port", "0", "--cache-dir", cache],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "WASM_AGENT_LOG": "warn"},
    )
    for line in server.stderr:
        if line.startswith("listening on http://"):
            host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port))
            invoke(conn)
            return server, conn, time.perf_counter() - started
    raise RuntimeError(f"{wasm}: the server did not start")


def invoke(conn):
    conn.request("POST", "/invocations", body=b'{"echo": "hello"}',
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}")


def stop(server):
    server.terminate()
    server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("dist")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    rows = []
    for language, name in LANGUAGES:
        wasm = os.path.join(args.dist, f"{name}.wasm")
        cache = tempfile.mkdtemp(prefix="wasm-agent-bench-cache-")
        os.chmod(cache, 0o700)
        try:
            server, _, cold = start(args.binary, wasm, cache)
            stop(server)
            server, conn, warm = start(args.binary, wasm, cache)
            try:
                for _ in range(100):
                    invoke(conn)
                latencies = []
                for _ in range(args.requests):
                    began = time.perf_counter()
                    invoke(conn)
                    latencies.append((time.perf_counter() - began) * 1e6)
            finally:
                stop(server)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        rows.append({
            "language": language,
            "component_bytes": os.path.getsize(wasm),
            "cold_start_s": cold,
            "cached_start_ms": warm * 1e3,
            "echo_p50_us": statistics.median(latencies),
        })

    with open(os.path.join(args.out, "raw.json"), "w") as out:
        json.dump(rows, out, indent=2)
    lines = [
        "# The example agent in each guest language",
        "",
        f"Machine: {os.cpu_count()} CPUs ({platform.machine()}), Linux {platform.release()}; "
        "release build. Command: `make bench-languages`. Start-up is process start to the "
        "first successful `/invocations`, with an empty compile cache (cold: Cranelift "
        "compiles the component) and then with the cache filled (cached). The echo latency is "
        f"the median of {args.requests} requests, one at a time on one keep-alive connection "
        "(it includes the Python client's own time, about 0.2 ms).",
        "",
        "| language | component | cold start | cached start | echo p50 |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['language']} | {row['component_bytes'] / 1e6:.2f} MB "
            f"| {row['cold_start_s']:.2f} s | {row['cached_start_ms']:.0f} ms "
            f"| {row['echo_p50_us'] / 1e3:.2f} ms |"
        )
    lines.append("")
    with open(os.path.join(args.out, "results.md"), "w") as out:
        out.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
