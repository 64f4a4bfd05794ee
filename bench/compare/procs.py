"""Child processes of the comparison, and the plain HTTP client it checks servers with.

Every process goes through spawn() or run(), which register it; stop_all() ends whatever is
still registered, and run.py calls it on every way out (normal end, error, Ctrl-C, SIGTERM).
Each child leads a process group of its own, and stopping signals the whole group: run.sh's
server, hold.py and wrk are stopped with it even if run.sh dies before its trap runs. SIGTERM
first (the servers drain, run.sh's trap stops its children), SIGKILL after a grace period.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time


class BenchError(Exception):
    """A run that cannot produce an honest number: the benchmark stops and says why."""


_live = []


def log(message):
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def spawn(argv, *, log_path, env=None):
    """Starts a long-running process with its stdout and stderr in log_path."""
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    _live.append(proc)
    return proc


def _signal_group(proc, signum):
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop(proc, grace=5.0):
    if proc not in _live:  # stopped already: its group id may belong to someone else by now
        return
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # Also when the leader has exited: what it left behind in its group goes too. The group id
    # is the leader's pid, just reaped, which the kernel does not hand out again this soon.
    _signal_group(proc, signal.SIGKILL)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass
    _live.remove(proc)


def stop_all():
    for proc in reversed(list(_live)):
        stop(proc)


def run(argv, *, timeout, env=None, capture=True, grace=5.0):
    """Runs argv to completion within timeout seconds; returns (exit code, stdout+stderr text).

    Without capture the output goes to this process's stderr, for long steps worth watching.
    """
    out = subprocess.PIPE if capture else sys.stderr
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, env=env, text=True, start_new_session=True)
    _live.append(proc)
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{' '.join(argv[:3])} ...` took longer than {timeout:.0f} s") from None
    finally:
        stop(proc, grace)
    return proc.returncode, text or ""


def output(argv, timeout=60):
    """A short command's output, or "?" when it fails: for the versions in the header."""
    try:
        code, text = run(argv, timeout=timeout)
    except (OSError, BenchError):
        return "?"
    return text.strip() if code == 0 else "?"


def free_port():
    # For systems that do not say which port 0 gave them (and for start-up, where the poll
    # starts before any log line). The port is released before the server binds it; another
    # process taking it in between is unlikely, and the server then fails to start, loudly.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def cpu_seconds(pid):
    """User + system CPU time of a process so far, all its threads (live and exited) included."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def client_errors(what):
    """A client's socket or HTTP failure as a BenchError that says what it was doing."""
    try:
        yield
    except (OSError, http.client.HTTPException) as e:
        raise BenchError(f"{what}: {type(e).__name__}: {e}") from e


def post(conn, body, headers=None):
    """One POST /invocations on an open connection: (status, headers, body)."""
    conn.request("POST", "/invocations", body=body,
                 headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def connect(port, timeout=30):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def first_ok(proc, port, body, deadline, interval=0.002):
    """Polls POST /invocations until a 200; returns the perf_counter time of that reply.

    A refused connection means the server is not listening yet; anything else but a 200 is
    also retried, so a server that listens before it can serve is timed to when it serves.
    """
    while True:
        if proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited with {proc.returncode} before answering")
        conn = connect(port, timeout=max(1.0, deadline - time.monotonic()))
        try:
            status, _, _ = post(conn, body)
            if status == 200:
                return time.perf_counter()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.monotonic() > deadline:
            raise BenchError(f"{proc.args[0]} did not answer 200 in time")
        time.sleep(interval)


def wait_for_port(proc, log_path, prefix, deadline):
    """Reads the port from the `PREFIX...http://127.0.0.1:PORT` line a server prints once it
    listens (wasm-agent, the ceiling and wasmtime serve all print one)."""
    while True:
        with open(log_path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith(prefix) and "http://127.0.0.1:" in line:
                    return int(line.rsplit(":", 1)[1].rstrip("/"))
        if proc.poll() is not None:
            raise BenchError(f"{proc.args[0]} exited with {proc.returncode} before listening; "
                             f"see {log_path}")
        if time.monotonic() > deadline:
            raise BenchError(f"{proc.args[0]} printed no listening line in time; see {log_path}")
        time.sleep(0.002)


def clean_env(extra=None):
    """This process's environment without wasm-agent's WASM_AGENT_* settings: every server runs
    on its defaults plus what the benchmark sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WASM_AGENT_")}
    env.update(extra or {})
    return env
