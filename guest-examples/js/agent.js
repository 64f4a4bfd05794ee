// The example JavaScript agent: build it with ./build.sh, run it with
// `wasm-agent invoke dist/js-agent.wasm '{"prompt": "hello"}'`.

import { handler, Failure } from "./wasm-agent.js";

export const invoke = handler(async (payload, context) => {
  const has = (key) => payload !== null && typeof payload === "object" && Object.hasOwn(payload, key);

  if (has("echo")) {
    return {
      echo: payload.echo,
      context: {
        request_id: context.requestId,
        session_id: context.sessionId,
        headers: context.headers,
      },
    };
  }

  if (has("fail")) {
    const { status, message } = payload.fail ?? {};
    throw new Failure(status, message);
  }

  if (has("raise")) {
    throw new TypeError(payload.raise);
  }

  if (has("prompt")) {
    const prompt = String(payload.prompt).trim();
    if (prompt === "") throw new Failure(400, "the prompt is empty", "ValidationError");
    const answer = `You said: ${prompt}`;
    if (payload.stream === true) return words(answer);
    return { reply: answer, session_id: context.sessionId, request_id: context.requestId };
  }

  throw new Failure(400, "unknown request");
});

// Streamed as one event per item: {"token": "You"}, {"token": "said:"}, ...
function* words(text) {
  for (const token of text.split(/\s+/).filter(Boolean)) yield { token };
}
