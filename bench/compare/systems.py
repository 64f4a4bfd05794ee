"""The systems under comparison: where their files are, how each is started, what its echo
reply looks like, and a Server handle that starts one fresh and always stops it."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import procs

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
ECHO_PAYLOAD = {"prompt": "hello, benchmark"}
ECHO_BODY = json.dumps(ECHO_PAYLOAD, separators=(",", ":")).encode()
STREAM_EVENTS = 100
STREAM_BODY = json.dumps({"count": STREAM_EVENTS, "stamp": True}, separators=(",", ":")).encode()
WASMTIME_VERSION = "48.0.8"


def cache_home():
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


@dataclass
class Paths:
    """Everything the benchmark runs or reads, resolved at run time (nothing machine-specific
    is written into the repository)."""

    repo: Path
    target: Path = field(init=False)
    wasm_agent: Path = field(init=False)
    ceiling: Path = field(init=False)
    echo_wasm: Path = field(init=False)
    stream_wasm: Path = field(init=False)
    http_echo: Path = field(init=False)
    tools: Path = field(init=False)
    wasmtime: Path = field(init=False)
    python_app: Path = field(init=False)
    venv_python: Path | None = None

    def __post_init__(self):
        # Relative CARGO_TARGET_DIRs are relative to where cargo ran: the repository root for
        # the server's workspace, bench/http-echo for the wasi:http echo.
        custom = os.environ.get("CARGO_TARGET_DIR")
        self.target = self.repo / (custom or "target")
        self.wasm_agent = self.target / "release" / "wasm-agent"
        self.ceiling = self.target / "release" / "ceiling"
        dist = self.repo / "guest-examples" / "dist"
        self.echo_wasm = dist / "echo.wasm"
        self.stream_wasm = dist / "stream.wasm"
        http_echo_target = self.repo / "bench" / "http-echo" / (custom or "target")
        self.http_echo = http_echo_target / "wasm32-wasip2" / "release" / "http_echo.wasm"
        self.tools = cache_home() / "wasm-agent" / "tools"
        self.wasmtime = self.tools / "bin" / "wasmtime"
        self.python_app = self.repo / "bench" / "compare" / "python_app.py"


@dataclass(frozen=True)
class System:
    key: str
    name: str
    argv: object  # port -> argv list; port 0 where the system prints the port it got
    announces: str | None  # start of the line that carries the port, or None: pick one
    wraps_payload: bool = False  # the echo guest answers {"payload": ..., "context": ...}
    sessions: bool = False
    env: dict = field(default_factory=dict)


def _wasm_agent(paths, guest, *flags):
    return lambda port: [str(paths.wasm_agent), "serve", str(guest), "--host", "127.0.0.1",
                         "--port", str(port), *flags]


def _wasmtime(paths, *flags):
    return lambda port: [str(paths.wasmtime), "serve", "-S", "cli", *flags,
                         "--addr", f"127.0.0.1:{port}", str(paths.http_echo)]


def _python(paths, mode):
    return lambda port: [str(paths.venv_python), str(paths.python_app), mode, str(port)]


WASM_AGENT_ENV = {"WASM_AGENT_LOG": "warn"}


def echo_systems(paths):
    """The echo throughput and latency line-up, in the order of odd runs."""
    return [
        System("ceiling", "ceiling (axum, no wasm)", lambda port: [str(paths.ceiling), str(port)],
               "listening on"),
        System("wa_request", "wasm-agent (per request)",
               _wasm_agent(paths, paths.echo_wasm, "--instance-scope", "request"),
               "listening on", wraps_payload=True, env=WASM_AGENT_ENV),
        System("wa_session", "wasm-agent (warm session)", _wasm_agent(paths, paths.echo_wasm),
               "listening on", wraps_payload=True, sessions=True, env=WASM_AGENT_ENV),
        System("wasmtime", "wasmtime serve", _wasmtime(paths), "Serving HTTP on"),
        System("python", "Python SDK", _python(paths, "echo"), None),
    ]


def stream_systems(paths):
    return [
        System("wasm_agent", "wasm-agent", _wasm_agent(paths, paths.stream_wasm), "listening on",
               env=WASM_AGENT_ENV),
        System("python", "Python SDK", _python(paths, "stream"), None),
    ]


def cold_start_systems(paths, cache_dir):
    """Start-up line-up. wasm-agent appears twice with one cache directory: its first start
    compiles into the empty directory, its second loads what the first left."""
    cache = ("--cache-dir", str(cache_dir))
    return [
        System("ceiling", "ceiling (axum, no wasm)", lambda port: [str(paths.ceiling), str(port)],
               None),
        System("wa_compile", "wasm-agent, empty compile cache (compiles)",
               _wasm_agent(paths, paths.echo_wasm, *cache), None, env=WASM_AGENT_ENV),
        System("wa_cached", "wasm-agent, warm compile cache",
               _wasm_agent(paths, paths.echo_wasm, *cache), None, env=WASM_AGENT_ENV),
        System("wasmtime", "wasmtime serve, its default cache (warm)", _wasmtime(paths), None),
        System("wasmtime_nocache", "wasmtime serve -C cache=n (compiles)",
               _wasmtime(paths, "-C", "cache=n"), None),
        System("python", "Python SDK", _python(paths, "echo"), None),
    ]


def echo_reply_ok(system, body, session=None):
    """Whether an echo reply is the payload echoed (inside the guest's envelope for
    wasm-agent, whose echo guest also returns the context it saw, session id included)."""
    try:
        reply = json.loads(body)
    except ValueError:
        return False
    if not system.wraps_payload:
        return reply == ECHO_PAYLOAD
    if not isinstance(reply, dict) or reply.get("payload") != ECHO_PAYLOAD:
        return False
    return session is None or reply.get("context", {}).get("session_id") == session


class Server:
    """One fresh server process on 127.0.0.1, stopped when the `with` block ends."""

    def __init__(self, system, log_path, ready_timeout=120.0):
        self.system = system
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.proc = None
        self.port = None
        self.started = None
        self.ready = None

    def __enter__(self):
        s = self.system
        deadline = time.monotonic() + self.ready_timeout
        port = 0 if s.announces else procs.free_port()
        self.started = time.perf_counter()
        self.proc = procs.spawn(s.argv(port), log_path=self.log_path, env=procs.clean_env(s.env))
        try:
            self.port = port or procs.wait_for_port(self.proc, self.log_path, s.announces, deadline)
            # The stream handlers take the echo payload too (three events by default).
            self.ready = procs.first_ok(self.proc, self.port, ECHO_BODY, deadline)
        except BaseException:
            procs.stop(self.proc)
            raise
        return self

    def __exit__(self, *exc):
        procs.stop(self.proc)
        return False

    @property
    def startup_ms(self):
        return (self.ready - self.started) * 1000

    def rss_kib(self):
        return procs.rss_kib(self.proc.pid)
