#!/usr/bin/env python3
"""The test of the runtime image (deploy/container), in a real container engine.

    python3 tests/image/run.py IMAGE [--fetch-image IMAGE] [--engine podman] [--starts 5]

IMAGE is the example agent's image (guest-examples/agent) as deploy/container/build.sh makes
it. The test checks what a deployment relies on: the image runs as 65532:65532; in a container
with a read-only root it answers /ping with the contract's body and an invocation with the
agent's echo; the handler was loaded precompiled, not compiled at start; SIGTERM ends it with
status 0 well within the stop timeout; under a memory limit, the guest memory budget follows
the limit. It measures the image's size and the start time (from
`run -d` to the first 200 from /ping, median of --starts runs).

--fetch-image names the fetch guest's image (guest-examples/fetch) built the same way: then
outbound calls from inside scratch (static glibc, no /etc/nsswitch.conf) are tried too, by
name: `localhost` (the engine's /etc/hosts) and, on a network of the test's own, another
container's name (the engine's DNS server).

Every failure prints what was expected and what came, and the exit status is 1; every
container and network the test made is removed, whatever happens. Standard library only.
"""

import argparse
import json
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

# What `run` is given on top of the image. runc rather than the engine's default (crun on
# Debian's podman, which fails on hosts with hybrid cgroups), and descriptor and process limits
# no higher than an unprivileged sandbox lets a container raise them to. IMAGE_TEST_RUN_FLAGS
# replaces them.
RUN_FLAGS = shlex.split(
    os.environ.get(
        "IMAGE_TEST_RUN_FLAGS",
        "--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024",
    )
)
# The user the image must run as (deploy/container/Dockerfile).
USER = "65532:65532"
# The session header of the AgentCore contract, which the agent's echo reports back.
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
# Longest wait for a container's first 200 from /ping: a precompiled handler starts in well
# under a second; this only bounds a hang.
READY_TIMEOUT = 30.0
# `stop -t`: seconds from SIGTERM to SIGKILL, as the engine's default.
STOP_TIMEOUT = 10
# A clean stop is a drain of nothing: it must take a fraction of the stop timeout, or the
# engine had to kill the server.
CLEAN_STOP_LIMIT = 3.0
# Bound on any one engine command, so a wedged engine fails the test instead of hanging it.
COMMAND_TIMEOUT = 120


class Failure(Exception):
    """A check that did not hold, with what was expected and what came."""


def check(condition, message):
    if not condition:
        raise Failure(message)


class Engine:
    """The container engine's command line, and what this test made with it."""

    def __init__(self, name):
        self.name = name
        self.containers = []
        self.networks = []
        self.serial = 0

    def __call__(self, *args, check_status=True):
        try:
            done = subprocess.run(
                [self.name, *args],
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise Failure(f"`{self.name} {shlex.join(args)}` took over {COMMAND_TIMEOUT}s")
        if check_status and done.returncode != 0:
            raise Failure(
                f"`{self.name} {shlex.join(args)}` exited {done.returncode}: "
                f"{done.stderr.strip()}"
            )
        return done

    def unique(self, what):
        self.serial += 1
        return f"wasm-agent-image-test-{os.getpid()}-{what}-{self.serial}"

    def run(self, image, port, *extra, network=None, name=None, memory=None):
        """Starts `image` detached, its 8080 published on 127.0.0.1:`port`; returns its name."""
        name = name or self.unique("run")
        self.containers.append(name)
        args = ["run", "-d", "--name", name, "--read-only", *RUN_FLAGS]
        if network:
            args += ["--network", network]
        if memory:
            args += ["--memory", str(memory)]
        self(*args, "-p", f"127.0.0.1:{port}:8080", image, *extra)
        return name

    def remove(self, name):
        self("rm", "-f", name, check_status=False)
        if name in self.containers:
            self.containers.remove(name)

    def inspect(self, name, template, kind="container"):
        return self(kind, "inspect", "--format", template, name).stdout.strip()

    def logs(self, name):
        done = self("logs", name)
        return done.stdout + done.stderr

    def cleanup(self):
        for name in list(self.containers):
            self.remove(name)
        for network in self.networks:
            self("network", "rm", "-f", network, check_status=False)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=10.0):
    """One HTTP exchange with 127.0.0.1:`port`: (status, body bytes)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers or {}
    )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def first_ping(port, since, name, engine):
    """Polls /ping until a 200; returns (seconds since `since`, body)."""
    deadline = since + READY_TIMEOUT
    while time.monotonic() < deadline:
        try:
            status, body = request(port, "GET", "/ping", timeout=1.0)
            if status == 200:
                return time.monotonic() - since, body
        except (OSError, urllib.error.URLError):
            pass  # not listening yet (refused or reset by the port forward)
        time.sleep(0.01)
    raise Failure(
        f"{name}: no 200 from /ping within {READY_TIMEOUT:.0f}s; its log:\n{engine.logs(name)}"
    )


def invoke(port, payload, session=None):
    headers = {SESSION_HEADER: session} if session else {}
    status, body = request(port, "POST", "/invocations", payload, headers, timeout=30.0)
    check(status == 200, f"/invocations {payload}: status {status}: {body[:500]!r}")
    try:
        return json.loads(body)
    except ValueError:
        raise Failure(f"/invocations {payload}: not JSON: {body[:500]!r}")


def check_image(engine, image):
    """The image's own metadata: user, port, size."""
    user = engine.inspect(image, "{{.Config.User}}", kind="image")
    check(user == USER, f"{image}: Config.User is {user!r}, not {USER!r}")
    ports = engine.inspect(image, "{{json .Config.ExposedPorts}}", kind="image")
    check("8080/tcp" in ports, f"{image}: does not expose 8080/tcp (ExposedPorts {ports})")
    size = int(engine.inspect(image, "{{.Size}}", kind="image"))
    arch = engine.inspect(image, "{{.Architecture}}", kind="image")
    print(f"ok   image: user {user}, exposes 8080/tcp, {arch}, {size / 1e6:.1f} MB")
    return size


def check_served(engine, image):
    """Ping, an invocation, the running user, the load line and a clean SIGTERM."""
    port = free_port()
    started = time.monotonic()
    name = engine.run(image, port)
    elapsed, body = first_ping(port, started, name, engine)
    ping = json.loads(body)
    check(
        ping.get("status") == "Healthy" and isinstance(ping.get("time_of_last_update"), int),
        f"/ping body {body!r} is not the contract's Healthy reply",
    )
    print(f"ok   /ping: 200 {body.decode()} ({elapsed * 1000:.0f} ms after run -d)")

    reply = invoke(port, {"echo": "hi"}, session="image-test-session-0000000000000001")
    check(reply.get("echo") == "hi", f"the agent did not echo: {reply}")
    session = reply.get("context", {}).get("session_id")
    check(
        session == "image-test-session-0000000000000001",
        f"the agent saw session {session!r}, not the header's",
    )
    print("ok   /invocations: the agent echoed the payload and the session header")

    check_user(engine, name)

    log = engine.logs(name)
    check("listening on http://0.0.0.0:8080" in log, f"no readiness line on 0.0.0.0:8080:\n{log}")
    check(
        any(line in log for line in ('code="precompiled"', '"code":"precompiled"')),
        f"the handler was not loaded from precompiled code (no code=\"precompiled\"):\n{log}",
    )
    print("ok   log: component loaded from precompiled code, listening on 0.0.0.0:8080")

    stopping = time.monotonic()
    engine("stop", "-t", str(STOP_TIMEOUT), name)
    took = time.monotonic() - stopping
    code = engine.inspect(name, "{{.State.ExitCode}}")
    log = engine.logs(name)
    check(code == "0", f"exit status {code} after SIGTERM, not 0:\n{log}")
    check(
        took < CLEAN_STOP_LIMIT,
        f"stop took {took:.1f}s (limit {CLEAN_STOP_LIMIT}s of the {STOP_TIMEOUT}s timeout)",
    )
    check("signal received" in log, f"the server did not log the signal:\n{log}")
    print(f"ok   SIGTERM: exit status 0 in {took * 1000:.0f} ms")
    engine.remove(name)


def check_memory_limit(engine, image):
    """In a container with a memory limit, the default guest memory budget is three quarters of
    the limit, not of the machine: the server refuses guest memory before the kernel kills it."""
    port = free_port()
    limit = 512 << 20
    name = engine.run(image, port, memory=limit)
    first_ping(port, time.monotonic(), name, engine)
    invoke(port, {"echo": "small"})
    status, body = request(port, "GET", "/metrics")
    check(status == 200, f"/metrics: status {status}")
    budget = next(
        (line.split()[-1] for line in body.decode().splitlines()
         if line.startswith("wasm_agent_guest_memory_budget_bytes ")),
        None,
    )
    check(
        budget is not None and int(float(budget)) == limit // 4 * 3,
        f"with a {limit >> 20} MiB limit the budget is {budget}, not {limit // 4 * 3}",
    )
    print(f"ok   memory: a {limit >> 20} MiB container gets a {int(float(budget)) >> 20} MiB guest budget")
    engine.remove(name)


def check_user(engine, name):
    """The server's process runs as 65532:65532: from the engine's record, and, when the
    engine runs its containers as this machine's processes (rootful podman, a local docker),
    from the kernel's."""
    user = engine.inspect(name, "{{.Config.User}}")
    check(user == USER, f"the container's Config.User is {user!r}, not {USER!r}")
    pid = engine.inspect(name, "{{.State.Pid}}")
    try:
        with open(f"/proc/{pid}/status") as status:
            ids = {
                line.split(":")[0]: line.split()[1:]
                for line in status
                if line.startswith(("Uid:", "Gid:"))
            }
    except OSError:
        print(f"ok   user: Config.User {user} (process {pid} not visible here)")
        return
    real = f"{ids['Uid'][0]}:{ids['Gid'][0]}"
    effective = f"{ids['Uid'][1]}:{ids['Gid'][1]}"
    if os.geteuid() != 0:  # a rootless engine maps the container's ids to others here
        print(f"ok   user: Config.User {user}; process {pid} runs as {real} (mapped)")
        return
    check(
        real == USER and effective == USER,
        f"process {pid} runs as {real} (effective {effective}), not {USER}",
    )
    print(f"ok   user: Config.User {user}; process {pid} runs as uid:gid {real}")


def measure_starts(engine, image, starts):
    """Seconds from `run -d` to the first 200 from /ping, for `starts` fresh containers."""
    times = []
    for _ in range(starts):
        port = free_port()
        started = time.monotonic()
        name = engine.run(image, port)
        elapsed, _ = first_ping(port, started, name, engine)
        times.append(elapsed)
        engine.remove(name)
    return times


def check_outbound(engine, fetch_image, agent_image):
    """Outbound calls by name from inside scratch: `localhost` from the engine's /etc/hosts,
    and another container's name from the engine's DNS server."""
    port = free_port()
    rules = [
        "--allow-outbound", "http://localhost:8080",
        "--allow-outbound", "http://127.0.0.1:8080",  # loopback needs a rule naming it
    ]
    name = engine.run(fetch_image, port, *rules)
    first_ping(port, time.monotonic(), name, engine)
    result = invoke(port, {"url": "http://localhost:8080/ping", "timeout_ms": 5000})
    check(
        result.get("status") == 200 and "Healthy" in result.get("body", ""),
        f"fetch of http://localhost:8080/ping from inside the container: {result}",
    )
    print("ok   outbound by name: localhost resolved inside scratch (/etc/hosts), /ping 200")
    engine.remove(name)

    network = engine.unique("net")
    engine("network", "create", network)
    engine.networks.append(network)
    subnets = "{{range .IPAM.Config}}" if engine.name == "docker" else "{{range .Subnets}}"
    subnet = engine.inspect(network, subnets + "{{.Subnet}}{{end}}", kind="network")
    target = engine.run(agent_image, free_port(), network=network)
    port = free_port()
    rules = [
        "--allow-outbound", f"http://{target}:8080",
        "--allow-outbound", f"http://{subnet}:8080",  # a private range needs a rule naming it
    ]
    name = engine.run(fetch_image, port, *rules, network=network)
    first_ping(port, time.monotonic(), name, engine)
    url = f"http://{target}:8080/ping"
    result = {}
    for _ in range(20):  # the engine's DNS server learns the name as the container starts
        result = invoke(port, {"url": url, "timeout_ms": 5000, "connect_timeout_ms": 5000})
        if result.get("status") == 200:
            break
        time.sleep(0.25)
    check(
        result.get("status") == 200 and "Healthy" in result.get("body", ""),
        f"fetch of {url} from inside the container (DNS): {result}",
    )
    print(f"ok   outbound by name: {target} resolved by the network's DNS server, /ping 200")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", help="the example agent's image")
    parser.add_argument("--fetch-image", help="the fetch guest's image: test outbound by name")
    parser.add_argument("--engine", default=os.environ.get("ENGINE", "podman"))
    parser.add_argument("--starts", type=int, default=5, help="starts to take the median of")
    args = parser.parse_args()

    # A SIGTERM to the test still removes its containers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    engine = Engine(args.engine)
    try:
        size = check_image(engine, args.image)
        check_served(engine, args.image)
        check_memory_limit(engine, args.image)
        times = measure_starts(engine, args.image, args.starts)
        if args.fetch_image:
            check_outbound(engine, args.fetch_image, args.image)
    except Failure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    finally:
        engine.cleanup()
    listed = ", ".join(f"{t * 1000:.0f}" for t in times)
    print(f"image size: {size / 1e6:.1f} MB ({size} bytes)")
    print(
        f"start to first /ping 200: median {statistics.median(times) * 1000:.0f} ms "
        f"of {len(times)} ({listed} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
