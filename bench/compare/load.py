"""wrk runs, and the echo scenario: throughput at several connection counts, latency at a fixed
rate below saturation, and the idle memory of each server, all from one server start."""

import os
import time
from pathlib import Path

import machine
import procs
from systems import ECHO_BODY, SESSION_HEADER, Server, echo_reply_ok

LUA = Path(__file__).resolve().parent / "invoke.lua"
CONNECTIONS = (1, 16, 64)
RATE_CONNECTIONS = 16
WARMUP_SECONDS = 1
# Requests before the idle RSS is read: enough to have touched every code path of an echo,
# few enough that nothing has grown from load.
IDLE_REQUESTS = 100
# A reply slower than this is a wrk timeout error, which fails the run. Python's slowest echo at
# 64 connections is tens of ms, so only a stuck server gets near it.
WRK_TIMEOUT = "5s"
SESSIONS_PER_CONNECTION = 4
# Replies under load may differ from the warm-up's in size by this share at most: a stream cut
# short or an error body with a 2xx status is then a failed run, not throughput.
REPLY_SIZE_TOLERANCE = 0.10


def wrk(port, *, conns, seconds, body, sessions=False, pause_ms=0, log_path=None,
        count_events=False):
    """One wrk run against POST /invocations; fails loudly on any error or status >= 400."""
    threads = 1 if conns == 1 else 2
    env = dict(os.environ,
               COMPARE_BODY=body.decode(),
               COMPARE_SESSIONS=str(SESSIONS_PER_CONNECTION * conns // threads if sessions else 0),
               COMPARE_PAUSE_MS=str(pause_ms),
               COMPARE_EVENTS="1" if count_events else "0")
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", WRK_TIMEOUT,
            "-s", str(LUA), f"http://127.0.0.1:{port}/invocations"]
    code, text = procs.run(argv, timeout=seconds + 30, env=env)
    if log_path is not None:
        with open(log_path, "a") as f:
            f.write(f"$ {' '.join(argv)}\n{text}\n")
    line = next((l for l in text.splitlines() if l.startswith("COMPARE ")), None)
    if code != 0 or line is None:
        raise procs.BenchError(f"wrk failed (exit {code}):\n{text}")
    fields = {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:])}
    errors = {k[7:]: int(v) for k, v in fields.items() if k.startswith("errors_") and v}
    if errors or not fields["requests"]:
        raise procs.BenchError(f"wrk at {conns} connections: {int(fields['requests'])} replies, "
                               f"errors {errors} (status: replies >= 400):\n{text}")
    seconds_measured = fields["duration_us"] / 1e6
    return {
        "connections": conns,
        "threads": threads,
        "requests": int(fields["requests"]),
        "seconds": round(seconds_measured, 3),
        "rps": round(fields["requests"] / seconds_measured, 1),
        "bytes": int(fields["bytes"]),
        "bytes_per_reply": round(fields["bytes"] / fields["requests"], 1),
        **{k: int(fields[k]) for k in ("p50_us", "p90_us", "p99_us", "max_us")},
        "mean_us": fields["mean_us"],
        "events_per_reply_min": int(fields["events_min"]),
        "events_per_reply_max": int(fields["events_max"]),
    }


def verify_echo(system, port):
    """The reply is checked before anything is measured: a fast wrong answer is no result."""
    session = "bench-compare-verify-session-00000001" if system.sessions else None
    conn = procs.connect(port)
    try:
        with procs.client_errors(f"{system.name}: checking the echo reply"):
            status, _, body = procs.post(conn, ECHO_BODY,
                                         {SESSION_HEADER: session} if session else None)
            if status != 200 or not echo_reply_ok(system, body, session):
                raise procs.BenchError(
                    f"{system.name}: unexpected echo reply {status} {body[:300]!r}")
            for _ in range(IDLE_REQUESTS):
                status, _, body = procs.post(conn, ECHO_BODY)
                if status != 200:
                    raise procs.BenchError(f"{system.name}: status {status} {body[:300]!r}")
    finally:
        conn.close()


def echo_run(system, run, raw, settings):
    """One server start: verify, idle RSS, warm-up, each connection count, then the fixed rate."""
    log_path = raw / f"echo-{system.key}-{run}.wrk.txt"
    log_path.unlink(missing_ok=True)
    busy = machine.cpu_busy_pct(0.3)
    with Server(system, raw / f"echo-{system.key}-{run}.server.log") as server:
        verify_echo(system, server.port)
        # Let the server settle after the last reply before reading its memory.
        time.sleep(0.2)
        rss = server.rss_kib()
        # The warm-up runs at the most connections, so the warm session case creates every
        # session id any later measurement uses.
        warm = wrk(server.port, conns=max(CONNECTIONS), seconds=WARMUP_SECONDS, body=ECHO_BODY,
                   sessions=system.sessions, log_path=log_path)
        throughput = {}
        pid = server.proc.pid
        for conns in CONNECTIONS:
            # The server's own CPU time per request does not depend on how much of the shared
            # CPUs wrk took, unlike requests/s.
            cpu_before = procs.cpu_seconds(pid)
            t = wrk(server.port, conns=conns, seconds=settings.duration, body=ECHO_BODY,
                    sessions=system.sessions, log_path=log_path)
            t["server_cpu_us_per_req"] = round(
                (procs.cpu_seconds(pid) - cpu_before) * 1e6 / t["requests"], 2)
            same_replies(system, warm, t)
            throughput[str(conns)] = t
        pause_ms = rate_pause_ms(settings.rate)
        rate = wrk(server.port, conns=RATE_CONNECTIONS, seconds=settings.duration, body=ECHO_BODY,
                   sessions=system.sessions, pause_ms=pause_ms, log_path=log_path)
        same_replies(system, warm, rate)
        rate["pause_ms"] = pause_ms
        startup_ms = server.startup_ms
    return {"run": run, "cpu_busy_before_pct": busy, "startup_ms": round(startup_ms, 1),
            "rss_idle_kib": rss,
            "throughput": throughput, "rate": rate}


def same_replies(system, warm, measured):
    """Fails the run when replies under load are not the size of the warm-up's (checked by
    content before it): wrk counts a truncated or wrong 2xx reply like a good one."""
    expected, got = warm["bytes_per_reply"], measured["bytes_per_reply"]
    if abs(got - expected) > REPLY_SIZE_TOLERANCE * expected:
        raise procs.BenchError(
            f"{system.name} at {measured['connections']} connections: {got:.0f} bytes per reply "
            f"against {expected:.0f} in the warm-up; replies changed under load")


def rate_pause_ms(rate):
    """Each connection pauses this long before each request: RATE in total over all of them,
    less the replies' own time (wrk takes whole milliseconds)."""
    return max(1, round(RATE_CONNECTIONS * 1000 / rate))


def offered_rate(rate):
    return RATE_CONNECTIONS * 1000 / rate_pause_ms(rate)


def rate_warning(rate):
    """Why the offered rate is not RATE, or None: the pause is whole milliseconds, at least 1."""
    offered = offered_rate(rate)
    if abs(offered - rate) < 0.5:
        return None
    cause = ("capped by the 1 ms minimum pause" if rate > RATE_CONNECTIONS * 1000
             else f"the pause is rounded to {rate_pause_ms(rate)} ms")
    return (f"RATE={rate} req/s cannot be offered exactly over {RATE_CONNECTIONS} connections "
            f"({cause}): {offered:,.0f} req/s offered instead")


def echo_scenario(systems, raw, settings, results):
    """Fills results (system key -> runs) as it goes, so a later failure keeps the runs done."""
    for run in range(1, settings.runs + 1):
        # Odd runs in the listed order, even runs reversed, so drift hits every system alike.
        order = systems if run % 2 else systems[::-1]
        for system in order:
            procs.log(f"echo / {system.name} / run {run}")
            results.setdefault(system.key, []).append(echo_run(system, run, raw, settings))
            r = results[system.key][-1]
            procs.log("  " + ", ".join(f"{c} conn {t['rps']:,.0f} req/s"
                                       for c, t in r["throughput"].items())
                      + f"; at the fixed rate p99 {r['rate']['p99_us']} µs")
