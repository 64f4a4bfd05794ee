"""Tools the comparison installs for itself (wrk, wasmtime-cli, the SDK's venv), the build
outputs it expects from `make bench-compare`, and the machine and versions for the header."""

import datetime
import hashlib
import os
import platform
import shutil
import time
from pathlib import Path

import procs
from systems import WASMTIME_VERSION

# Building wasmtime-cli from source takes about 15 minutes on 2 cores; it is done once.
WASMTIME_INSTALL_TIMEOUT = 3600
VENV_TIMEOUT = 900


def ensure_tools(paths):
    if not shutil.which("wrk"):
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            raise procs.BenchError("wrk is not installed: install it (Debian: apt-get install wrk)")
        procs.log("installing wrk (apt)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            code, text = procs.run(argv, timeout=600, env=env)
            if code:
                raise procs.BenchError(f"{' '.join(argv)} failed:\n{text}")
    if not shutil.which("curl"):
        raise procs.BenchError("curl is needed (bench/ping/run.sh polls with it)")

    if wasmtime_version(paths) != f"wasmtime {WASMTIME_VERSION}":
        procs.log(f"installing wasmtime-cli {WASMTIME_VERSION} into {paths.tools} "
                  "(cargo install, about 15 minutes, once)")
        code, _ = procs.run(["cargo", "install", "wasmtime-cli", "--version", WASMTIME_VERSION,
                             "--locked", "--root", str(paths.tools)],
                            timeout=WASMTIME_INSTALL_TIMEOUT, capture=False)
        if code or wasmtime_version(paths) != f"wasmtime {WASMTIME_VERSION}":
            raise procs.BenchError(f"could not install wasmtime-cli {WASMTIME_VERSION}")

    code, text = procs.run(["bash", str(paths.repo / "bench" / "venv.sh")], timeout=VENV_TIMEOUT)
    venv_python = text.strip().splitlines()[-1] if text.strip() else ""
    if code or not Path(venv_python).is_file():
        raise procs.BenchError(f"bench/venv.sh failed:\n{text}")
    paths.venv_python = Path(venv_python)


def wasmtime_version(paths):
    if not paths.wasmtime.is_file():
        return None
    return procs.output([str(paths.wasmtime), "--version"]).split(" (")[0]


def check_builds(paths):
    """The build outputs, made by `make bench-compare`; the script does not build, so it never
    measures a binary other than the one the Makefile just built."""
    wanted = {
        paths.wasm_agent: "make release",
        paths.ceiling: "cargo build --release --locked -p wasm-agent-bench --bin ceiling",
        paths.echo_wasm: "make rust-guests",
        paths.stream_wasm: "make rust-guests",
        paths.http_echo: "cd bench/http-echo && cargo build --release --locked --target wasm32-wasip2",
    }
    missing = [f"{p} ({how})" for p, how in wanted.items() if not p.is_file()]
    if missing:
        raise procs.BenchError("missing build outputs; `make bench-compare` builds them all:\n  "
                               + "\n  ".join(missing))
    source = lambda wasm: paths.repo / "guest-examples" / wasm.stem / "src" / "lib.rs"
    stale = [p.name for p in (paths.echo_wasm, paths.stream_wasm)
             if p.stat().st_mtime < source(p).stat().st_mtime]
    if stale:
        procs.log(f"warning: {', '.join(stale)} older than the guest's source: make rust-guests")


def snapshot(paths, dest):
    """Copies the binaries and guests the run measures into dest and points paths at the copies.

    Someone may rebuild while the benchmark runs (a long run on a shared machine); every start
    then still gets the same files, and the header names them by hash.
    """
    dest.mkdir(parents=True, exist_ok=True)
    described = {}
    for attr in ("wasm_agent", "ceiling", "echo_wasm", "stream_wasm", "http_echo"):
        source = getattr(paths, attr)
        copy = dest / source.name
        shutil.copy2(source, copy)
        setattr(paths, attr, copy)
        built = datetime.datetime.fromtimestamp(source.stat().st_mtime, datetime.timezone.utc)
        described[source.name] = {
            "sha256": hashlib.sha256(copy.read_bytes()).hexdigest()[:16],
            "built": built.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "bytes": copy.stat().st_size,
        }
    return described


def sdk_versions(venv_python):
    code = ("import importlib.metadata as m, platform; print(', '.join(f'{p} {m.version(p)}' for p in "
            "('bedrock-agentcore', 'uvicorn', 'starlette', 'anyio')) + ', Python ' + "
            "platform.python_version())")
    return procs.output([str(venv_python), "-c", code])


def cpu_busy_pct(seconds=1.0):
    """Share of all CPU time that was busy over the next `seconds`, from /proc/stat."""

    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    total = total1 - total0
    return round(100 * (total - (idle1 - idle0)) / total) if total else 0


def describe(paths):
    """Machine, versions and tree state for the results header."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = next(int(l.split()[1]) for l in f if l.startswith("MemTotal:"))
    git = lambda *args: procs.output(["git", "-C", str(paths.repo), *args])
    # The benchmark's own outputs do not make the tree dirty.
    dirty = git("status", "--porcelain", "--", ".", ":!bench/results.md", ":!bench/results.json")
    # `wrk -v` exits 1 after printing its version, so procs.output() would give "?".
    _, wrk_text = procs.run(["wrk", "-v"], timeout=30)
    wrk_version = (wrk_text.splitlines() or ["?"])[0].split(" Copyright")[0].strip()
    dpkg = procs.output(["dpkg-query", "-W", "-f=${Version}", "wrk"]) if shutil.which("dpkg-query") else "?"
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "memory_gib": round(mem_kib / 1048576, 1),
        "wasm_agent": procs.output([str(paths.wasm_agent), "--version"]),
        "git": git("rev-parse", "--short", "HEAD")
        + (" (dirty: uncommitted changes)" if dirty and dirty != "?" else ""),
        "rustc": procs.output(["rustc", "-V"]),
        "wasmtime": wasmtime_version(paths) or "?",
        "wrk": f"{wrk_version} (Debian package {dpkg})" if dpkg != "?" else wrk_version,
        "python_sdk": sdk_versions(paths.venv_python),
        "python_runner": f"Python {platform.python_version()}",
    }
