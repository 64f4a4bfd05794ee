"""The Python side of the /ping benchmark: a plain BedrockAgentCoreApp with one sync handler.

    python agent_app.py sleep|spin PORT

The handler takes the same payload as the `sleep` guest, {"ms": N}:
- sleep: time.sleep(N ms), the way a handler waiting on a model or a tool blocks its thread;
- spin:  a busy loop until N ms of wall-clock time have passed (pure Python, holds the GIL).

It is a sync `def`, the common way handlers are written, so the SDK runs it in Starlette's
anyio threadpool (40 tokens), the pool the sync `/ping` endpoint needs too.
"""

import sys
import time

from bedrock_agentcore.runtime import BedrockAgentCoreApp

MODE = sys.argv[1]
PORT = int(sys.argv[2])
if MODE not in ("sleep", "spin"):
    sys.exit(f"unknown mode {MODE!r}: sleep or spin")

app = BedrockAgentCoreApp()


@app.entrypoint
def handler(payload):
    ms = int(payload.get("ms", 1000))
    if MODE == "sleep":
        start = time.monotonic()
        time.sleep(ms / 1000)
        return {"slept_ms": int((time.monotonic() - start) * 1000)}
    end = time.monotonic() + ms / 1000
    spins = 0
    while time.monotonic() < end:
        spins += 1
    return {"spins": spins}


if __name__ == "__main__":
    # Loopback only, whatever /.dockerenv says; everything else is the SDK's default.
    app.run(port=PORT, host="127.0.0.1")
