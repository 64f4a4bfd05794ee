// The example JavaScript agent: build it with ./build.sh, run it with
// `wasm-agent invoke dist/js-agent.wasm '{"prompt": "hello"}'`.
//
// `{"ask": "..."}` asks a model and relays its tokens as they arrive (ask.js); the operator
// grants the endpoint and the model:
//   wasm-agent serve dist/js-agent.wasm --allow-outbound http://127.0.0.1:9000 \
//       --env MODEL_ENDPOINT=http://127.0.0.1:9000/v1 --env MODEL_ID=mock-model

import { handler, Failure } from "./wasm-agent.js";
import { ask } from "./ask.js";

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

  if (has("ask")) return ask(payload, context);

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
