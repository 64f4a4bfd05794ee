from wasm_agent import Failure, entrypoint


@entrypoint
def handler(payload, context):
    prompt = str(payload.get("prompt", "")).strip() if isinstance(payload, dict) else ""
    if not prompt:
        raise Failure(400, "the prompt is empty")
    return {"reply": "You said: " + prompt, "session_id": context.session_id}
