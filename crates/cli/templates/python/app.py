from wasm_agent import Failure, entrypoint, get


@entrypoint
def handler(payload, context):
    if isinstance(payload, dict) and "url" in payload:
        return fetch(str(payload["url"]))
    prompt = str(payload.get("prompt", "")).strip() if isinstance(payload, dict) else ""
    if not prompt:
        raise Failure(400, "the prompt is empty")
    return {"reply": "You said: " + prompt, "session_id": context.session_id}


def fetch(url):
    """Fetches `url` through the host. The host refuses every destination its operator has
    not allowed (`wasm-agent serve --allow-outbound ...`): the refusal, an `HttpError`,
    reaches the caller as a 502 naming the destination."""
    response = get(url, timeout=30)
    return {"status": response.status, "body": response.text()[:200]}
