// outbound.js: what the JavaScript agents share to call out through the host: the settings the
// operator grants (`wasm-agent serve --env NAME=VALUE`) and a `fetch` whose failures say where
// the request was going, worded as the Rust, Python and C agents word them.
//
// Reading the environment needs `wasi:cli/environment` in the component's world: StarlingMonkey
// has no `process.env`, and componentize-js stubs the environment out unless the world imports
// it (build.sh builds against such a world).

import { getEnvironment } from "wasi:cli/environment@0.2.12";
import { Failure } from "./wasm-agent.js";

/** The value the operator granted for `variable`, or null; empty counts as not granted. */
export function granted(variable) {
  let found = null;
  // The last definition wins, as a shell's would.
  for (const [name, value] of getEnvironment()) {
    if (name === variable) found = value;
  }
  return found === "" ? null : found;
}

/**
 * The granted value of `variable`, else a 500 telling the operator how to grant it: without it
 * the agent is misconfigured, which is not the caller's fault.
 */
export function required(variable, what) {
  const value = granted(variable);
  if (value === null) {
    const grant = `wasm-agent serve --env ${variable}=...`;
    throw new Failure(500, `no ${what}: grant ${variable} (${grant})`);
  }
  return value;
}

/** The scheme, host and port of `url` (`http://example.com:80`), as the host's rules name them. */
export function origin(url) {
  const parsed = new URL(url);
  const port = parsed.port || DEFAULT_PORTS[parsed.protocol] || "";
  return `${parsed.protocol}//${parsed.hostname}${port ? `:${port}` : ""}`;
}

const DEFAULT_PORTS = { "http:": "80", "https:": "443" };

/**
 * `fetch`, except that a request that gets no response fails as a 502 naming its destination.
 *
 * StarlingMonkey's fetch rejects every such request with the same `TypeError` ("NetworkError
 * when attempting to fetch resource") and drops the wasi:http error code, so a denial by the
 * host cannot be told from a refused connection or a DNS failure: the message names both.
 * The host's log says which it was. Aborts pass through unchanged: the libraries that abort
 * (a timeout, closing a transport) expect their own `AbortError` back.
 */
export async function fetchOrFail(input, init) {
  try {
    return await fetch(input, init);
  } catch (e) {
    if (isNetworkError(e)) throw unreachable(urlOf(input));
    throw e;
  }
}

/** The failure for a request to `url` that got no response. */
export function unreachable(url) {
  return new Failure(
    502,
    `could not reach ${origin(url)}: the host denied the request (no --allow-outbound rule ` +
      "allows it) or the connection failed",
    "HttpError",
  );
}

function isNetworkError(e) {
  return e?.name === "TypeError" && String(e.message).includes("NetworkError");
}

function urlOf(input) {
  if (input instanceof Request) return input.url;
  return String(input);
}

/** The first `count` characters of `text` (code points, so a character is never cut in two). */
export function firstChars(text, count) {
  return Array.from(text).slice(0, count).join("");
}

/** The first `Failure` on the chain of `error` and its causes, or null. */
export function failureIn(error) {
  for (let e = error, depth = 0; e && depth < 8; e = e.cause, depth++) {
    if (e instanceof Failure) return e;
  }
  return null;
}
