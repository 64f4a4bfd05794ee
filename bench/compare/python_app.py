"""The Python SDK's side of the comparison: a plain BedrockAgentCoreApp on uvicorn.

    python python_app.py echo|stream PORT

- echo: an `async def` entrypoint that returns the payload. The SDK runs an `async def` on its
  own worker event loop; a sync `def` would go through Starlette's threadpool instead, which
  costs more per request. This is the fastest handler the SDK offers, so the comparison is not
  against a handicapped peer.
- stream: an async generator that yields `count` events `{"index": i, "t_us": ...}`, `t_us`
  being the wall clock in microseconds since the Unix epoch at the yield, the same stamp as the
  `stream` guest's, so one client can measure both systems' emit-to-client latency.

The SDK logs one INFO line per invocation by default; the app raises its logger to WARNING, as
the benchmark runs wasm-agent with WASM_AGENT_LOG=warn, so neither side pays for a log line per
request.
"""

import logging
import sys
import time

from bedrock_agentcore.runtime import BedrockAgentCoreApp

MODES = ("echo", "stream")


def build(mode):
    app = BedrockAgentCoreApp()
    app.logger.setLevel(logging.WARNING)
    if mode == "echo":

        @app.entrypoint
        async def echo(payload):
            return payload

    else:

        @app.entrypoint
        async def stream(payload):
            for index in range(int(payload.get("count", 3))):
                yield {"index": index, "t_us": time.time_ns() // 1000}

    return app


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in MODES:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(MODES)} PORT")
    # Loopback only, whatever /.dockerenv says; everything else is the SDK's default, a single
    # uvicorn worker included.
    build(sys.argv[1]).run(port=int(sys.argv[2]), host="127.0.0.1")


if __name__ == "__main__":
    main()
