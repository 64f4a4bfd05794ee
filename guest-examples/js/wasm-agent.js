// wasm-agent.js: write a wasm-agent handler as an ordinary JavaScript function.
//
//     import { handler, Failure } from "./wasm-agent.js";
//     export const invoke = handler(async (payload, context) => {
//       if (!payload.prompt) throw new Failure(400, "no prompt", "ValidationError");
//       return { reply: payload.prompt };
//     });
//
// The function gets the parsed JSON payload and a `context` (see `makeContext`), and may be sync
// or async. What it returns is the result:
//   - a value: sent as `JSON.stringify(value)`;
//   - `undefined` or `null`: no result (the server sends `null`, or ends the stream);
//   - an iterator, generator or async iterable: each item is streamed as one server-sent event,
//     then no result.
// What it throws is the failure:
//   - `new Failure(status, message, errorType)`: that status (400-599), message and error type;
//   - anything else: status 500, the error's `message` (or `String(e)`) and its `name` as the
//     error type (`TypeError`, ...), as the Python SDK answers `{"error": str(e)}`.
//
// componentize-js calls the module's `invoke` export with (payload: string, context: object) and
// awaits it. For `result<option<string>, failure>` a returned value is the `ok` case; a thrown
// value is the `err` case: its own `payload` property if it has one, else the thrown value itself,
// except that an `Error` without `payload` is rethrown and traps the component. So `handler`
// catches everything and throws a plain `{status, message, errorType}` record.

import * as host from "wasm-agent:handler/host@0.1.0";

/** A refusal or error sent to the caller instead of a result. */
export class Failure extends Error {
  /**
   * @param {number} status the HTTP status, 400 to 599 (anything else is sent as 500)
   * @param {string} message sent as the `error` field of the JSON error body
   * @param {string} [errorType] what kind of error it was (the SDK's `error_type`)
   */
  constructor(status, message, errorType) {
    super(message === undefined || message === null ? "" : String(message));
    this.name = "Failure";
    this.status = status;
    this.errorType = errorType ?? null;
  }

  /** A 400: the caller sent something the handler cannot use. */
  static badRequest(message, errorType) {
    return new Failure(400, message, errorType);
  }

  /** A 500: the handler itself failed. */
  static internal(message, errorType) {
    return new Failure(500, message, errorType);
  }
}

/** Thrown by `emit` when the caller has gone away: stop producing and return. */
export class Closed extends Error {
  constructor() {
    super("the caller has gone away");
    this.name = "Closed";
  }
}

/** Wraps `fn(payload, context)` as the component's `invoke` export. */
export function handler(fn) {
  if (typeof fn !== "function") throw new TypeError("handler() needs a function");
  return async function invoke(payloadText, rawContext) {
    try {
      return await run(fn, payloadText, rawContext);
    } catch (e) {
      throw toFailure(e);
    }
  };
}

async function run(fn, payloadText, rawContext) {
  let payload;
  try {
    payload = JSON.parse(payloadText);
  } catch (e) {
    throw new Failure(400, `invalid payload: ${e.message}`, "ValidationError");
  }
  const context = makeContext(rawContext);
  const value = await fn(payload, context);
  if (isStream(value)) {
    await stream(value, context);
    return undefined;
  }
  if (value === undefined || value === null) return undefined;
  // JSON.stringify gives undefined for a function or symbol: no result, as for undefined.
  return JSON.stringify(value);
}

function isStream(value) {
  if (value === null || typeof value !== "object") return false;
  if (typeof value[Symbol.asyncIterator] === "function") return true;
  // An iterator or generator, not an array, Map or Set (those are results).
  return typeof value[Symbol.iterator] === "function" && typeof value.next === "function";
}

async function stream(iterable, context) {
  const sync = typeof iterable[Symbol.asyncIterator] !== "function";
  const iterator = sync ? iterable[Symbol.iterator]() : iterable[Symbol.asyncIterator]();
  for (;;) {
    const step = await iterator.next();
    if (step.done) return;
    try {
      context.emit(await step.value);
    } catch (e) {
      // Let the generator run its `finally` blocks, then fail with the emit error.
      if (typeof iterator.return === "function") await iterator.return();
      throw e;
    }
  }
}

function toFailure(e) {
  if (e instanceof Failure) {
    return {
      status: statusOf(e.status),
      message: String(e.message),
      errorType: e.errorType == null ? undefined : String(e.errorType),
    };
  }
  if (e instanceof Closed) {
    // The caller never sees this reply; the status only labels the log line.
    return { status: 499, message: e.message, errorType: "Closed" };
  }
  // Errors thrown by the bindings come from their own realm: `instanceof Error` misses them.
  const isError = e instanceof Error || Object.prototype.toString.call(e) === "[object Error]";
  let message;
  try {
    message = isError ? String(e.message) : String(e);
  } catch {
    message = "unprintable error";
  }
  return { status: 500, message, errorType: isError ? String(e.name) : undefined };
}

function statusOf(status) {
  const n = Number(status);
  return Number.isInteger(n) && n >= 400 && n <= 599 ? n : 500;
}

const PING_STATUS = {
  Healthy: "healthy",
  HealthyBusy: "healthy-busy",
  healthy: "healthy",
  "healthy-busy": "healthy-busy",
};

/** The `context` a handler receives. */
export function makeContext(raw) {
  return {
    /** The request id (the caller's, or one the host generated). */
    requestId: raw.requestId,
    /** The session id, or null if the caller sent none. */
    sessionId: raw.sessionId ?? null,
    /** The forwarded headers as [name, value] pairs, in the order received. */
    headers: raw.headers,
    /** The workload access token, or null. */
    workloadAccessToken: raw.workloadAccessToken ?? null,
    /** The OAuth2 callback URL, or null. */
    oauth2CallbackUrl: raw.oauth2CallbackUrl ?? null,
    /** When the host stops the invocation, in milliseconds since the Unix epoch. */
    deadlineMs: Number(raw.deadlineMs),

    /** The last forwarded header with this name (case-insensitive), or null. */
    header(name) {
      const lower = String(name).toLowerCase();
      for (let i = raw.headers.length - 1; i >= 0; i--) {
        if (raw.headers[i][0].toLowerCase() === lower) return raw.headers[i][1];
      }
      return null;
    },

    /** Streams `value` (JSON.stringify'd) as one event. Throws `Closed` if the caller left. */
    emit(value) {
      emitted(() => host.emit(toJson(value)));
    },

    /** Like `emit`, with an SSE `event:` name and `id:`. */
    emitEvent(value, { name, id } = {}) {
      emitted(() => host.emitEvent({ data: toJson(value), name: name ?? undefined, id: id ?? undefined }));
    },

    /** Sets the reply's status, content type and headers, if nothing is emitted. */
    setReplyHead({ status = 200, contentType, headers = [] } = {}) {
      host.setReplyHead({ status, contentType: contentType ?? undefined, headers });
    },

    /**
     * Registers a tracked task (`/ping` reports HealthyBusy while one is open) and returns its
     * id: a number (the host keeps ids below 2^53, so they are exact).
     */
    addAsyncTask(name, metadata) {
      const id = host.addAsyncTask(String(name), metadata === undefined ? undefined : toJson(metadata));
      return Number(id);
    },

    /** Completes a task from `addAsyncTask`; false if unknown. */
    completeAsyncTask(id) {
      return host.completeAsyncTask(BigInt(id));
    },

    /** Sets what `/ping` reports: "Healthy", "HealthyBusy", or null to clear it. */
    setPingStatus(status) {
      if (status === null || status === undefined) return host.setPingStatus(undefined);
      const wit = PING_STATUS[status];
      if (!wit) throw new TypeError(`unknown ping status ${JSON.stringify(status)}`);
      host.setPingStatus(wit);
    },
  };
}

function toJson(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`cannot send ${typeof value} as JSON`);
  return text;
}

function emitted(call) {
  try {
    call();
  } catch (e) {
    // The bindings throw a ComponentError whose payload is the emit-error case.
    if (e && e.payload === "closed") throw new Closed();
    throw e;
  }
}
