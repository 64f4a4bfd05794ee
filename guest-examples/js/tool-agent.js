// tool-agent.js: an agent that calls a tool on an MCP server (streamable HTTP) with the official
// MCP TypeScript SDK, relaying the tool's progress notifications as events
// `{"progress", "total"?, "message"?}` as they arrive, then returning
// `{"tool", "content", "isError", "structuredContent"?}`. It answers as the Rust tool agent
// (guest-examples/tool-agent) does.
//
// Payload: `{"tool": "add", "arguments": {"a": 2, "b": 3}}` (`arguments` defaults to `{}`), or
// `{"list": true}` for `{"tools": [names in the server's order]}`. `server` overrides the
// endpoint the operator grants as `MCP_ENDPOINT` (the full URL, e.g. https://tools.example/mcp):
//
//   bash guest-examples/js/build.sh guest-examples/dist/js-tool-agent.wasm \
//       guest-examples/js/tool-agent.js
//   wasm-agent serve guest-examples/dist/js-tool-agent.wasm \
//       --allow-outbound https://tools.example --env MCP_ENDPOINT=https://tools.example/mcp
//
// A tool that fails (`isError`) is a result for the caller to read. A tool the server does not
// list is a 404; a server that cannot be reached, refuses or breaks the protocol is a 502.

import "./text-decoder-stream.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { version } from "./package.json";
import { handler, Failure } from "./wasm-agent.js";
import { failureIn, fetchOrFail, firstChars, required } from "./outbound.js";

/** How this agent introduces itself: the name the Rust tool agent uses, so logs show one client. */
const CLIENT = { name: "wasm-agent-tool-agent", version };
/**
 * How long the server may stay silent on one request. The SDK's default: a server that ends an
 * event stream without answering is noticed only by it. Progress restarts it for `tools/call`.
 */
const REQUEST_TIMEOUT_MS = 60_000;
/** A bound on `tools/list` pages, so that a server repeating a cursor cannot loop us forever. */
const MAX_PAGES = 100;
/** How much of an error body a message quotes: enough to show the server's reason. */
const QUOTED_BODY = 200;

export const invoke = handler(async (payload, context) => {
  const { tool, args, list } = parse(payload);
  const endpoint =
    typeof payload.server === "string" && payload.server !== ""
      ? payload.server
      : required("MCP_ENDPOINT", "MCP server");
  const session = await connect(endpoint);
  try {
    const names = await toolNames(session);
    if (list) return { tools: names };
    if (!names.includes(tool)) {
      throw new Failure(
        404,
        `no tool ${JSON.stringify(tool)} on the MCP server; it has: ${names.join(", ")}`,
        "ToolNotFound",
      );
    }
    return await callTool(session, tool, args, context);
  } finally {
    await end(session);
  }
});

/** What the payload asks for; a 400 when it asks for nothing this agent does. */
function parse(payload) {
  const given = payload !== null && typeof payload === "object" ? payload : {};
  if (given.list === true) return { list: true };
  if (given.tool === undefined) {
    throw invalidRequest('no tool: pass "tool" (and "arguments"), or "list": true');
  }
  if (typeof given.tool !== "string") throw invalidRequest("tool must be a string");
  const args = given.arguments ?? {};
  if (typeof args !== "object" || Array.isArray(args)) {
    throw invalidRequest("arguments must be an object");
  }
  return { tool: given.tool, args, list: false };
}

function invalidRequest(message) {
  return new Failure(400, message, "ValidationError");
}

/** Opens a session: `initialize`, then `notifications/initialized` (the SDK's `connect`). */
async function connect(endpoint) {
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { fetch: mcpFetch });
  const client = new Client(CLIENT);
  const session = { client, transport, lastError: null };
  // The SDK reports what goes wrong inside an event stream only here; the request itself then
  // waits for its timeout, whose message can say why.
  client.onerror = (e) => {
    session.lastError = e;
  };
  await step("initialize", session, () =>
    client.connect(transport, { timeout: REQUEST_TIMEOUT_MS }),
  );
  return session;
}

/** Every tool the server offers, in its order, following `nextCursor` across pages. */
async function toolNames(session) {
  const names = [];
  let cursor;
  for (let page = 0; page < MAX_PAGES; page++) {
    const params = cursor === undefined ? {} : { cursor };
    const result = await step("tools/list", session, () =>
      session.client.listTools(params, { timeout: REQUEST_TIMEOUT_MS }),
    );
    names.push(...result.tools.map((tool) => tool.name));
    cursor = result.nextCursor;
    if (cursor === undefined) return names;
  }
  throw invalid("tools/list", `more than ${MAX_PAGES} pages of tools`);
}

/** Calls `name`, emitting each progress notification for the call as it arrives. */
async function callTool(session, name, args, context) {
  // Progress is handed over inside the SDK's message loop, which swallows errors: a caller that
  // has gone away is remembered and ends the call (the SDK tells the server it is cancelled).
  const cancel = new AbortController();
  let closed = null;
  const onprogress = (progress) => {
    if (closed) return;
    try {
      context.emit(progressEvent(progress));
    } catch (e) {
      closed = e;
      cancel.abort(e);
    }
  };
  const options = {
    onprogress,
    signal: cancel.signal,
    timeout: REQUEST_TIMEOUT_MS,
    resetTimeoutOnProgress: true,
  };
  let result;
  try {
    result = await step("tools/call", session, () =>
      session.client.callTool({ name, arguments: args }, undefined, options),
    );
  } catch (e) {
    throw closed ?? e;
  }
  const reply = { tool: name, content: result.content ?? [], isError: result.isError === true };
  if (result.structuredContent !== undefined) reply.structuredContent = result.structuredContent;
  return reply;
}

/** The fields of a progress notification that the server gave. */
function progressEvent({ progress, total, message }) {
  const event = { progress };
  if (total !== undefined) event.total = total;
  if (message !== undefined) event.message = message;
  return event;
}

/**
 * Ends the session on the server (DELETE) and closes the transport. A refusal is ignored: the
 * server forgets the session in time anyway, and the spec lets it refuse (405) to end one.
 */
async function end({ client, transport }) {
  await transport.terminateSession().catch(() => {});
  await client.close();
}

/**
 * The transport's fetch: a POST (every JSON-RPC message) answered with anything but a success
 * fails naming the message's method and quoting the start of the body, as the Rust agent does.
 * The SDK judges the answers to its GET and DELETE itself.
 */
async function mcpFetch(input, init) {
  if (isStandaloneStream(init)) return new Response(null, { status: 405 });
  const response = await fetchOrFail(input, init);
  if (response.ok || init?.method !== "POST") return response;
  const body = firstChars(await response.text().catch(() => ""), QUOTED_BODY);
  const method = methodOf(init.body);
  throw new Failure(
    502,
    `the MCP server answered ${response.status} to ${method}${body === "" ? "" : `: ${body}`}`,
    "McpError",
  );
}

/**
 * The GET with which the SDK opens a stream for messages the server sends on its own, after
 * `initialize`. An invocation that makes one call has no use for them, so it is answered here
 * as a server without such a stream answers (405), saving a connection. A GET that resumes a
 * broken reply (it names the last event seen) goes out.
 */
function isStandaloneStream(init) {
  return init?.method === "GET" && !new Headers(init.headers).has("last-event-id");
}

function methodOf(body) {
  try {
    return JSON.parse(body).method ?? "a request";
  } catch {
    return "a request";
  }
}

/** Runs one exchange, wording its failure for the caller. */
async function step(method, session, exchange) {
  try {
    return await exchange();
  } catch (e) {
    throw mcpFailure(method, e, session.lastError);
  }
}

function mcpFailure(method, e, lastError) {
  const ours = failureIn(e);
  if (ours) return ours;
  if (isTimeout(e)) {
    const why = lastError ? ` (${lastError.message})` : "";
    return new Failure(502, `the MCP server did not answer ${method} in time${why}`, "McpError");
  }
  if (e instanceof McpError) {
    // The SDK prefixes the server's message with "MCP error <code>: ".
    const message = e.message.replace(/^MCP error -?\d+: /, "");
    return new Failure(
      502,
      `the MCP server refused ${method}: ${message} (code ${e.code})`,
      "McpError",
    );
  }
  if (e?.name === "ZodError" || e?.name === "SyntaxError") return invalid(method, e.message);
  return e;
}

/** The SDK's own timeout, which it reports as a JSON-RPC error carrying the time it waited. */
function isTimeout(e) {
  return (
    e instanceof McpError && e.code === ErrorCode.RequestTimeout && e.data?.timeout !== undefined
  );
}

function invalid(method, detail) {
  const message = `the MCP server's reply to ${method} is not valid MCP: ${detail}`;
  return new Failure(502, message, "McpError");
}
