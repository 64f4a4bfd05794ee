// ask.js: the model mode, `{"ask": "..."}`. The prompt goes to an OpenAI-compatible chat
// completions endpoint through the `openai` package (`MODEL_ENDPOINT`, model `MODEL_ID`, both
// granted by the operator with `--env`); each token is relayed as an event `{"token": "..."}`
// the moment it arrives, then the result is `{"reply": "...", "model": "..."}`. `"endpoint"` in
// the payload overrides the grant. The Rust, Python and C agents answer the same way.

import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import { Failure } from "./wasm-agent.js";
import { failureIn, fetchOrFail, firstChars, origin, required, unreachable } from "./outbound.js";

/** Streams the model's reply to `payload.ask` as events and returns the whole of it. */
export async function ask(payload, context) {
  const prompt = payload.ask;
  if (typeof prompt !== "string") throw new Failure(400, "ask must be a string", "ValidationError");
  const endpoint = endpointOf(payload);
  const model = required("MODEL_ID", "model id");
  const client = new OpenAI({
    baseURL: endpoint,
    // The guest never holds the key: the host replaces this placeholder with the operator's
    // credentials for the destination (--outbound-auth).
    apiKey: "placeholder-the-host-replaces",
    // The key is not secret here, and StarlingMonkey looks like a browser to the package.
    dangerouslyAllowBrowser: true,
    // A denied or failed call is reported once, at once; the caller decides whether to retry.
    maxRetries: 0,
    fetch: modelFetch,
  });
  try {
    const stream = await client.chat.completions.create({
      model,
      messages: [{ role: "user", content: prompt }],
      stream: true,
    });
    let reply = "";
    for await (const chunk of stream) {
      const token = chunk.choices?.[0]?.delta?.content;
      if (typeof token === "string" && token !== "") {
        context.emit({ token });
        reply += token;
      }
    }
    return { reply, model };
  } catch (e) {
    throw modelFailure(e, endpoint);
  }
}

function endpointOf(payload) {
  if (typeof payload.endpoint === "string" && payload.endpoint !== "") return payload.endpoint;
  return required("MODEL_ENDPOINT", "model endpoint");
}

/**
 * The client's fetch: a request that gets no response, or a response that is not a success,
 * fails with our own message. The package would keep only the parsed `error` field of a
 * refusal; the other agents quote the start of the body as the model sent it.
 */
async function modelFetch(input, init) {
  const response = await fetchOrFail(input, init);
  if (response.ok) return response;
  const body = await response.text().catch(() => "");
  throw new Failure(
    502,
    `the model answered ${response.status}: ${firstChars(body, 200)}`,
    "ModelError",
  );
}

/**
 * What the caller is told for an error from the package. The package wraps what our fetch threw
 * (as an `APIConnectionError` whose `cause` it is), so that is looked for first.
 */
function modelFailure(e, endpoint) {
  const ours = failureIn(e);
  if (ours) return ours;
  if (e instanceof APIConnectionTimeoutError) {
    return new Failure(
      502,
      `the request to ${origin(endpoint)} timed out waiting for the response to start`,
      "HttpError",
    );
  }
  if (e instanceof APIConnectionError) return unreachable(endpoint);
  if (e instanceof APIError && e.status === undefined && e.error !== undefined) {
    // An `error` event inside a stream that had started well.
    const message = `the model failed mid-stream: ${JSON.stringify(e.error)}`;
    return new Failure(502, message, "ModelError");
  }
  if (e instanceof SyntaxError) {
    return new Failure(502, `the model sent an event that is not JSON: ${e.message}`, "ModelError");
  }
  return e;
}
