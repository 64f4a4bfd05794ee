"""Keeps N invocations in flight against POST /invocations until told to stop (stdlib only).

    python3 hold.py --port P --conns 64 --payload '{"ms": 2000}' --ready FILE --out FILE.json

Each of the N connections (HTTP/1.1 keep-alive) sends one invocation, waits for the whole
reply, and sends the next at once, so N handlers are always running or queued on the server.
Connection i starts i/N of a handler's length after the first, so replies spread out over time
instead of arriving in waves. Once all N requests of the first round are sent and none has
been answered yet, FILE is written: the load is in place.

Signals mark the measurement window: SIGUSR1 opens it, SIGUSR2 closes it, SIGTERM (or
SIGINT) writes the JSON summary to --out and exits. While the window is open the number of
requests in flight (sent, whole reply not yet read) is sampled every 5 ms.
"""

import argparse
import asyncio
import json
import signal
import sys
import time


class Stats:
    def __init__(self):
        self.inflight = 0
        self.sent = 0
        self.completed = 0
        self.errors = 0
        self.ready_at = None
        self.window = None  # per-window counters, set while the window is open
        self.window_report = None


def new_window():
    return {
        "opened": time.monotonic(),
        "samples": 0,
        "samples_full": 0,
        "min_inflight": None,
        "max_inflight": 0,
        "completed": 0,
        "statuses": {},
        "handler_ms_total": 0.0,
        "handler_ms_max": 0.0,
        "errors": 0,
    }


async def read_response(reader):
    """Reads one HTTP/1.1 response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()  # body ends with the connection
        return status, False
    return status, headers.get("connection", "").lower() != "close"


async def connection(i, args, stats, request, stagger):
    await asyncio.sleep(i * stagger)
    reader = writer = None
    while True:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(args.host, args.port)
            start = time.monotonic()
            writer.write(request)
            stats.inflight += 1
            stats.sent += 1
            try:
                status, keep_alive = await read_response(reader)
            finally:
                stats.inflight -= 1
            elapsed_ms = (time.monotonic() - start) * 1000
            stats.completed += 1
            w = stats.window
            if w is not None:
                w["completed"] += 1
                w["statuses"][str(status)] = w["statuses"].get(str(status), 0) + 1
                w["handler_ms_total"] += elapsed_ms
                w["handler_ms_max"] = max(w["handler_ms_max"], elapsed_ms)
            if not keep_alive:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            stats.errors += 1
            if stats.window is not None:
                stats.window["errors"] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.05)


async def sampler(stats, target):
    while True:
        w = stats.window
        if w is not None:
            n = stats.inflight
            w["samples"] += 1
            w["samples_full"] += n >= target
            w["min_inflight"] = n if w["min_inflight"] is None else min(w["min_inflight"], n)
            w["max_inflight"] = max(w["max_inflight"], n)
        await asyncio.sleep(0.005)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--payload", default='{"ms": 2000}')
    p.add_argument("--stagger-ms", type=float, default=None,
                   help="total spread of the first round (default: the payload's ms)")
    p.add_argument("--ready", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()

    body = args.payload.encode()
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    spread_ms = args.stagger_ms
    if spread_ms is None:
        spread_ms = float(json.loads(args.payload).get("ms", 1000))
    stagger = spread_ms / 1000 / args.conns

    stats = Stats()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def open_window():
        stats.window = new_window()

    def close_window():
        w = stats.window
        if w is None:
            return
        stats.window = None
        completed = w["completed"]
        stats.window_report = {
            "seconds": round(time.monotonic() - w["opened"], 3),
            "inflight_at_close": stats.inflight,
            "inflight_min_sampled": w["min_inflight"],
            "inflight_max_sampled": w["max_inflight"],
            "samples": w["samples"],
            "share_of_samples_fully_loaded": round(w["samples_full"] / max(1, w["samples"]), 4),
            "completed": completed,
            "statuses": w["statuses"],
            "errors": w["errors"],
            "handler_ms_mean": round(w["handler_ms_total"] / completed, 1) if completed else None,
            "handler_ms_max": round(w["handler_ms_max"], 1),
        }

    loop.add_signal_handler(signal.SIGUSR1, open_window)
    loop.add_signal_handler(signal.SIGUSR2, close_window)
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)

    tasks = [asyncio.create_task(connection(i, args, stats, request, stagger))
             for i in range(args.conns)]
    tasks.append(asyncio.create_task(sampler(stats, args.conns)))
    started = time.monotonic()

    async def announce_ready():
        while stats.sent < args.conns:
            await asyncio.sleep(0.005)
        stats.ready_at = time.monotonic()
        with open(args.ready, "w") as f:
            f.write(json.dumps({
                "sent": stats.sent,
                "inflight": stats.inflight,
                "answered_before_all_sent": stats.completed,
            }) + "\n")

    tasks.append(asyncio.create_task(announce_ready()))
    await done.wait()
    close_window()
    summary = {
        "conns": args.conns,
        "payload": json.loads(args.payload),
        "first_round_spread_ms": spread_ms,
        "seconds_to_all_sent": round(stats.ready_at - started, 3) if stats.ready_at else None,
        "sent": stats.sent,
        "completed": stats.completed,
        "errors": stats.errors,
        "inflight_at_exit": stats.inflight,
        "window": stats.window_report,
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
