"""The example Python agent: the same requests as guest-examples/agent, in Python.

Build it with ./build.sh; try it with
    wasm-agent invoke ../dist/python-agent.wasm '{"prompt": "hello there"}'
"""

from wasm_agent import Failure, entrypoint


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
