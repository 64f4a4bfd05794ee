import { handler, Failure } from "./wasm-agent.js";

export const invoke = handler(async (payload, context) => {
  if (typeof payload?.url === "string") return peek(payload.url);
  const prompt = String(payload?.prompt ?? "").trim();
  if (prompt === "") throw new Failure(400, "the prompt is empty");
  return { reply: `You said: ${prompt}`, session_id: context.sessionId };
});

// An outbound call with plain `fetch`. The host sends it only to destinations the operator
// allows (`wasm-agent serve {name}.wasm --allow-outbound https://example.com`).
async function peek(url) {
  const target = new URL(url);
  let response;
  try {
    response = await fetch(target);
  } catch {
    // fetch says only "NetworkError": a denial and a failed connection look the same here
    // (the host's log tells which). The message names the destination, not the path.
    throw new Failure(
      502,
      `could not reach ${target.origin}: the host denied the request (no --allow-outbound rule ` +
        "allows it) or the connection failed",
    );
  }
  return { status: response.status, body: await firstBytes(response, 200) };
}

// Reads the body as it arrives, only as far as needed.
async function firstBytes(response, count) {
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  while (size < count) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  await reader.cancel();
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return new TextDecoder().decode(bytes.subarray(0, count));
}
