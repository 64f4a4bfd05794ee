#!/usr/bin/env python3
"""The cost of logging, metrics and tracing: server CPU per echo invocation in each setting.

Every setting is the same release binary serving the echo guest, loaded by wrk (closed loop,
POST /invocations), and measured as the server's own CPU time (user + system, from /proc)
divided by the replies it sent. Settings run in turns, ROUNDS times each, so a change in the
machine's load touches them all alike; the median of each is reported.

  quiet      WASM_AGENT_LOG=warn: no line per invocation (the floor)
  text       the default: one text line per invocation
  json       --log-format json
  scraped    quiet, with /metrics scraped every 100 ms during the load
  traced     quiet, with OTEL_EXPORTER_OTLP_ENDPOINT at a local receiver that answers 200

`BASELINE=path/to/older/wasm-agent` adds `baseline`, that binary with WASM_AGENT_LOG=warn: the
difference from `quiet` is what the per-invocation metrics and usage accounting add.

Usage: make bench-observability (builds the release binary and the echo guest, installs wrk
with apt if it is missing, and runs this; ROUNDS and SECONDS_PER_RUN change the run's length).
"""

import http.server
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
BINARY = Path(os.environ.get("BINARY", TARGET / "release" / "wasm-agent"))
GUEST = ROOT / "guest-examples" / "dist" / "echo.wasm"
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "5"))
CONNECTIONS = 16
BODY = '{"prompt": "hello"}'
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes every export and counts the bytes."""

    received = 0

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        Receiver.received += len(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def start(binary, flags, env):
    port = free_port()
    # The log goes to a file, as it would to a container's log driver: a reader on a pipe
    # would take CPU beside the server and make the runs that log more look dearer still.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [str(binary), "serve", str(GUEST), "--port", str(port), *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        env={**os.environ, **env})
    deadline = time.monotonic() + 60
    while True:
        log.seek(0)
        if b"listening on " in log.read():
            return proc, port
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{binary} did not become ready")
        time.sleep(0.05)


def scrape(port, stop):
    while not stop.is_set():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            reply.read()
        stop.wait(0.1)


def measure(name, binary, flags, env, scraped=False):
    proc, port = start(binary, flags, env)
    try:
        subprocess.run(["wrk", "-t2", "-c4", "-d1s", "-s", str(ROOT / "bench/compare/invoke.lua"),
                        f"http://127.0.0.1:{port}/invocations"], env={**os.environ,
                       "COMPARE_BODY": BODY}, capture_output=True, check=True)
        stop = threading.Event()
        scraper = threading.Thread(target=scrape, args=(port, stop), daemon=True)
        if scraped:
            scraper.start()
        before = cpu_seconds(proc.pid)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s",
             str(ROOT / "bench/compare/invoke.lua"), f"http://127.0.0.1:{port}/invocations"],
            env={**os.environ, "COMPARE_BODY": BODY}, capture_output=True, text=True, check=True)
        cpu = cpu_seconds(proc.pid) - before
        stop.set()
        fields = dict(re.findall(r"(\w+)=([\d.]+)", out.stdout.split("COMPARE ", 1)[1]))
        errors = sum(int(v) for k, v in fields.items() if k.startswith("errors_"))
        if errors:
            raise SystemExit(f"{name}: wrk saw {errors} errors:\n{out.stdout}")
        requests = int(fields["requests"])
        return cpu / requests * 1e6, requests / SECONDS
    finally:
        proc.terminate()
        proc.wait(15)


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: tests/tools/install.sh wrk installs it")
    for path in (BINARY, GUEST):
        if not path.exists():
            raise SystemExit(f"missing {path}: build it first (make bench-observability does)")
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{receiver.server_address[1]}"
    quiet = {"WASM_AGENT_LOG": "warn"}
    settings = [
        ("quiet", BINARY, [], quiet, False),
        ("text", BINARY, [], {"WASM_AGENT_LOG": "info"}, False),
        ("json", BINARY, ["--log-format", "json"], {"WASM_AGENT_LOG": "info"}, False),
        ("scraped", BINARY, [], quiet, True),
        ("traced", BINARY, [], {**quiet, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}, False),
    ]
    if os.environ.get("BASELINE"):
        settings.insert(0, ("baseline", Path(os.environ["BASELINE"]), [], quiet, False))
    results = {name: [] for name, *_ in settings}
    rates = {name: [] for name, *_ in settings}
    for round_ in range(ROUNDS):
        for name, binary, flags, env, scraped in settings:
            cpu_us, rate = measure(name, binary, flags, env, scraped)
            results[name].append(cpu_us)
            rates[name].append(rate)
            print(f"round {round_ + 1} {name:9} {cpu_us:6.1f} µs/request  {rate:8.0f} req/s",
                  file=sys.stderr, flush=True)
    floor = statistics.median(results["quiet"])
    print(f"\nserver CPU per echo invocation, median of {ROUNDS} x {SECONDS} s, "
          f"wrk -t2 -c{CONNECTIONS}:")
    print("| setting | µs/request | vs quiet | req/s |\n|---|---|---|---|")
    for name in results:
        median = statistics.median(results[name])
        print(f"| {name} | {median:.1f} | {median - floor:+.1f} | "
              f"{statistics.median(rates[name]):.0f} |")
    print(f"\nOTLP bytes received while traced: {Receiver.received}")
    if Receiver.received == 0:
        raise SystemExit("the traced runs exported nothing: tracing is not measured")


if __name__ == "__main__":
    main()
