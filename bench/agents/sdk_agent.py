"""The Python SDK's side of the agent benchmark: the model agent as it is usually written for
bedrock-agentcore, an async entrypoint that streams an OpenAI-compatible completion with httpx
and yields each token as an event, the same {"token": ...} events the model agent guest emits.

    python sdk_agent.py PORT MODEL_URL      # MODEL_URL: the mock's base, e.g. http://127.0.0.1:9000/v1

One httpx client is shared by every invocation, as httpx advises. Its connection pool is made
unbounded and its timeouts long: httpx's defaults (100 connections, a 5 s pool timeout) would
fail invocations past 100 in flight, which is the agent author's setting, not the SDK's. The
SDK itself runs with its defaults.
"""

import json
import sys

import httpx
from bedrock_agentcore.runtime import BedrockAgentCoreApp

PORT = int(sys.argv[1])
MODEL_URL = sys.argv[2].rstrip("/")

app = BedrockAgentCoreApp()
client = httpx.AsyncClient(
    limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
    timeout=httpx.Timeout(120.0),
)


@app.entrypoint
async def invoke(payload):
    request = {
        "model": "mock",
        "messages": [{"role": "user", "content": payload.get("prompt", "")}],
        "stream": True,
    }
    async with client.stream("POST", f"{MODEL_URL}/chat/completions", json=request) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[len("data:"):].strip()
            if data == "[DONE]":
                break
            token = json.loads(data)["choices"][0]["delta"].get("content")
            if token:
                yield {"token": token}


if __name__ == "__main__":
    # Loopback only, whatever /.dockerenv says; everything else is the SDK's default.
    app.run(port=PORT, host="127.0.0.1")
