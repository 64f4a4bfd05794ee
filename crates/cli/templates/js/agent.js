import { handler, Failure } from "./wasm-agent.js";

export const invoke = handler(async (payload, context) => {
  const prompt = String(payload?.prompt ?? "").trim();
  if (prompt === "") throw new Failure(400, "the prompt is empty");
  return { reply: `You said: ${prompt}`, session_id: context.sessionId };
});
