"""The example Python agent: the same requests as guest-examples/agent, in Python.

Build it with ./build.sh; try it with
    wasm-agent invoke ../dist/python-agent.wasm '{"prompt": "hello there"}'

`{"ask": "..."}` asks a model (an OpenAI-compatible `/chat/completions`) and relays its
tokens as they arrive; the operator grants the endpoint and the model:
    wasm-agent serve ../dist/python-agent.wasm --allow-outbound http://127.0.0.1:9000 \
        --env MODEL_ENDPOINT=http://127.0.0.1:9000/v1 --env MODEL_ID=mock-model
"""

import json
import os

from wasm_agent import Failure, entrypoint, post

# Connecting takes milliseconds; longer means the endpoint is down.
CONNECT_TIMEOUT = 10
# A model may think a while before its first token, but a stream that stalls this long
# mid-way has failed.
BETWEEN_BYTES_TIMEOUT = 60


@entrypoint
def handler(payload, context):
    if not isinstance(payload, dict):
        raise Failure(400, "unknown request")

    if "echo" in payload:
        return {
            "echo": payload["echo"],
            "context": {
                "request_id": context.request_id,
                "session_id": context.session_id,
                "headers": [[name, value] for name, value in context.headers],
            },
        }

    if "fail" in payload:
        fail = payload["fail"]
        raise Failure(fail["status"], fail["message"])

    if "raise" in payload:
        raise ValueError(payload["raise"])

    if "ask" in payload:
        return ask(payload, context)

    if "prompt" in payload:
        prompt = payload["prompt"].strip()
        if not prompt:
            raise Failure(400, "the prompt is empty", "ValidationError")
        if payload.get("stream") is True:
            return tokens("You said: " + prompt)
        return {
            "reply": "You said: " + prompt,
            "session_id": context.session_id,
            "request_id": context.request_id,
        }

    raise Failure(400, "unknown request")


def tokens(text):
    """Streams one `{"token": word}` event per word."""
    for word in text.split():
        yield {"token": word}


def ask(payload, context):
    """Streams the model's reply to `payload["ask"]` as `{"token": ...}` events, then returns
    the whole reply."""
    prompt = payload["ask"]
    if not isinstance(prompt, str):
        raise Failure(400, "ask must be a string", "ValidationError")
    endpoint = payload.get("endpoint") or setting("MODEL_ENDPOINT", "no model endpoint")
    model = setting("MODEL_ID", "no model id")
    response = post(
        str(endpoint).rstrip("/") + "/chat/completions",
        headers={
            # The guest never holds the key: the host replaces this placeholder with the
            # operator's credentials for the destination (--outbound-auth).
            "authorization": "Bearer placeholder-the-host-replaces",
            "accept": "text/event-stream",
        },
        json={"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True},
        connect_timeout=CONNECT_TIMEOUT,
        between_bytes_timeout=BETWEEN_BYTES_TIMEOUT,
    )
    if not 200 <= response.status < 300:
        start = response.text()[:200]
        raise Failure(502, f"the model answered {response.status}: {start}", "ModelError")
    reply = []
    for event in response.events():
        if event.data == "[DONE]":
            break
        token = token_of(event.data)
        if token:
            context.emit({"token": token})
            reply.append(token)
    return {"reply": "".join(reply), "model": model}


def setting(variable, missing):
    """The operator's value for `variable` (empty counts as unset), else a 500 saying how
    to grant it."""
    value = os.environ.get(variable, "")
    if not value:
        raise Failure(500, f"{missing}: grant {variable} (wasm-agent serve --env {variable}=...)")
    return value


def token_of(data):
    """The text of one streamed chunk (`choices[0].delta.content`), "" if it has none."""
    try:
        chunk = json.loads(data)
    except ValueError as e:
        raise Failure(502, f"the model sent an event that is not JSON: {e}", "ModelError") from None
    if isinstance(chunk, dict) and "error" in chunk:
        error = json.dumps(chunk["error"], ensure_ascii=False, separators=(",", ":"))
        raise Failure(502, f"the model failed mid-stream: {error}", "ModelError")
    try:
        content = chunk["choices"][0]["delta"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    return content if isinstance(content, str) else ""
