"""The streaming scenario: time to the first event, the time each event takes from its emit to
the client, and events per second under load, for wasm-agent's `stream` guest and the SDK's
async generator, both emitting the same stamped events."""

import json
import math
import socket
import statistics
import time

import load
import machine
import procs
from systems import STREAM_BODY, STREAM_EVENTS, Server

WARM_INVOCATIONS = 10
EVENTS_CONNECTIONS = 16


def percentile(values, p):
    """Nearest-rank percentile: a value that was measured, never an interpolation."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


class StreamClient:
    """A minimal HTTP/1.1 client over one keep-alive socket, for streamed replies only.

    Not http.client: it hands out one chunk (one event) per read, so a clock read per read
    would include the client's own backlog of events already received. Here each recv() takes
    one wall-clock stamp, and every event whose last byte came in that recv gets it; parsing
    waits until the reply is complete. What is left is the time between the bytes' arrival and
    recv() returning, plus the loop's own few µs.
    """

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = (
            f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(STREAM_BODY)}\r\n\r\n"
        ).encode() + STREAM_BODY
        self.buf = b""
        self.stamp = (0, 0.0)

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(1 << 18)
        if not data:
            raise procs.BenchError("the server closed the connection mid-reply")
        self.stamp = (time.time_ns() // 1000, time.perf_counter())
        self.buf += data

    def _line(self):
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        line, self.buf = self.buf[:end], self.buf[end + 2:]
        return line

    def invoke(self):
        self.sock.sendall(self.request)
        written = time.perf_counter()
        status = int(self._line().split(b" ", 2)[1])
        headers = {}
        while line := self._line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() != "chunked":
            raise procs.BenchError(f"a streamed reply that is not chunked: {status} {headers}")
        events, pending = [], b""
        while size := int(self._line().split(b";")[0], 16):
            while size:
                if not self.buf:
                    self._fill()
                piece, self.buf = self.buf[:size], self.buf[size:]
                size -= len(piece)
                lines = (pending + piece).split(b"\n")
                pending = lines.pop()
                events += [(line, *self.stamp) for line in lines if line.startswith(b"data:")]
            if self._line():
                raise procs.BenchError("a chunk that does not end with CRLF")
        while self._line():  # trailers, if any, up to the blank line
            pass
        done = time.perf_counter()
        latencies = []
        for line, wall_us, _ in events:
            event = json.loads(line[5:])
            # wasm-agent ends with the handler's return value as one more event, unstamped.
            if isinstance(event, dict) and "t_us" in event:
                latencies.append(wall_us - event["t_us"])
        return {
            "status": status,
            "content_type": headers.get("content-type", ""),
            "events": len(events),
            "stamped": len(latencies),
            "first_event_us": (events[0][2] - written) * 1e6 if events else None,
            "total_us": (done - written) * 1e6,
            "latencies_us": latencies,
        }


def frames(system):
    """`data:` frames in a whole reply: wasm-agent sends the handler's return value as a last
    event after the 100, the SDK sends nothing after them. An error frame is a `data:` frame too,
    so a stream that failed after 99 events must not be mistaken for a whole one."""
    return STREAM_EVENTS + 1 if system.key == "wasm_agent" else STREAM_EVENTS


def check(system, reply):
    if (reply["status"] != 200 or not reply["content_type"].startswith("text/event-stream")
            or reply["stamped"] != STREAM_EVENTS or reply["events"] != frames(system)):
        raise procs.BenchError(
            f"{system.name}: a streamed reply had status {reply['status']}, content type "
            f"{reply['content_type']!r}, {reply['stamped']} stamped events of {STREAM_EVENTS} "
            f"and {reply['events']} frames of {frames(system)}")


def stream_run(system, run, raw, settings):
    busy = machine.cpu_busy_pct(0.3)
    with Server(system, raw / f"stream-{system.key}-{run}.server.log") as server:
        with procs.client_errors(f"{system.name}: the streaming client"):
            client = StreamClient(server.port)
            try:
                check(system, client.invoke())
                for _ in range(WARM_INVOCATIONS):
                    check(system, client.invoke())
                first, total, latencies = [], [], []
                for _ in range(settings.stream_requests):
                    reply = client.invoke()
                    check(system, reply)
                    first.append(reply["first_event_us"])
                    total.append(reply["total_us"])
                    latencies += reply["latencies_us"]
            finally:
                client.close()
        log_path = raw / f"stream-{system.key}-{run}.wrk.txt"
        log_path.unlink(missing_ok=True)
        for seconds in (load.WARMUP_SECONDS, settings.duration):
            flood = load.wrk(server.port, conns=EVENTS_CONNECTIONS, seconds=seconds,
                             body=STREAM_BODY, log_path=log_path, count_events=True)
            whole_streams(system, flood)
    return {
        "run": run,
        "cpu_busy_before_pct": busy,
        "invocations": settings.stream_requests,
        "first_event_us": summary(first),
        "total_us": summary(total),
        "emit_to_client_us": summary(latencies),
        "events_measured": len(latencies),
        "wrk": flood,
        "events_per_s": round(flood["rps"] * STREAM_EVENTS),
    }


def whole_streams(system, measured):
    """Fails the run unless every reply under load was whole: a stream cut short or ended by an
    error frame cannot count as events per second."""
    fewest, most = measured["events_per_reply_min"], measured["events_per_reply_max"]
    if fewest != frames(system) or most != frames(system):
        raise procs.BenchError(
            f"{system.name} at {EVENTS_CONNECTIONS} connections: replies held {fewest} to {most} "
            f"frames, not {frames(system)}; streams were cut short or failed under load")


def summary(values):
    return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1),
            "max": round(max(values), 1), "mean": round(statistics.fmean(values), 1)}


def stream_scenario(systems, raw, settings, results):
    """Fills results (system key -> runs) as it goes, so a later failure keeps the runs done."""
    for run in range(1, settings.runs + 1):
        order = systems if run % 2 else systems[::-1]
        for system in order:
            procs.log(f"stream / {system.name} / run {run}")
            r = stream_run(system, run, raw, settings)
            results.setdefault(system.key, []).append(r)
            procs.log(f"  first event p50 {r['first_event_us']['p50']:.0f} µs, emit→client p99 "
                      f"{r['emit_to_client_us']['p99']:.0f} µs, {r['events_per_s']:,} events/s")
