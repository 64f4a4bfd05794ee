"""A tiny helper for writing wasm-agent handlers in Python.

An author writes an ordinary function, as with the `bedrock-agentcore` SDK's
`@app.entrypoint`:

    from wasm_agent import entrypoint, Failure

    @entrypoint
    def handler(payload, context):
        return {"reply": "hi"}

and builds it with `build.sh`, which generates the top-level module componentize-py
needs (it imports the author's module, then this module's `WitWorld`).

What the handler gets and returns:
- `payload`: the request's JSON, parsed (`json.loads`).
- `context`: a `Context` (request_id, session_id, headers, workload_access_token,
  oauth2_callback_url, deadline_ms; emit, add_async_task, complete_async_task,
  set_ping_status).
- Return any JSON-serializable value; it is sent as
  `json.dumps(value, ensure_ascii=False, allow_nan=False)`. `None` sends `null`.
- Return a generator (a function with `yield`): each item is sent as one server-sent
  event, and nothing follows. `async def` functions and async generators work too, as
  long as they never wait on real I/O (there is no event loop inside the component).
- `raise Failure(status, message, error_type=None)` sends that status and message.
  An `HttpError` sends 502 with its message. Any other exception sends 500 with `str(e)`
  and the exception's class name.

Outbound HTTP (a component built against the `outbound-handler` world) lives in
`wasm_agent_http` and is re-exported here: `request`, `get` and `post` send a request over
wasi:http and block until its response starts; the `Response` gives the body whole or as it
arrives (`chunks`, `lines`, `events`). The host refuses every destination its operator has
not allowed, and may add credentials itself.

    answer = post("http://127.0.0.1:9000/v1/chat/completions", json={...})
    for event in answer.events():
        context.emit({"token": event.data})
"""

import inspect
import json
import types as _pytypes

import wit_world
from componentize_py_types import Err
from wasm_agent_http import (
    Event,
    HttpError,
    Response,
    _bindings,
    _close_responses,
    get,
    post,
    request,
)

__all__ = [
    "entrypoint",
    "Failure",
    "Closed",
    "Context",
    "WitWorld",
    "request",
    "get",
    "post",
    "Response",
    "Event",
    "HttpError",
]


_wit = _bindings("PingStatus", "wasm_agent_handler_types", "types")
_host = _bindings("emit", "wasm_agent_handler_host", "host")
if _wit is None or _host is None:
    raise ImportError("wasm_agent: build against the wasm-agent handler WIT (world handler)")


class Failure(Exception):
    """Raise to refuse a request with an HTTP status (400 to 599) and a message."""

    def __init__(self, status, message, error_type=None):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)
        self.error_type = error_type

    def __str__(self):
        return self.message


class Closed(Exception):
    """Raised by `Context.emit` when the caller has gone away: stop producing and return."""


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


_PING = {
    "Healthy": _wit.PingStatus.HEALTHY,
    "HealthyBusy": _wit.PingStatus.HEALTHY_BUSY,
    None: None,
}


class Context:
    """What the host knows about the invocation, and what the handler can ask of it."""

    __slots__ = (
        "request_id",
        "session_id",
        "headers",
        "workload_access_token",
        "oauth2_callback_url",
        "deadline_ms",
    )

    def __init__(self, ctx):
        self.request_id = ctx.request_id
        self.session_id = ctx.session_id
        self.headers = [(name, value) for (name, value) in ctx.headers]
        self.workload_access_token = ctx.workload_access_token
        self.oauth2_callback_url = ctx.oauth2_callback_url
        self.deadline_ms = ctx.deadline_ms

    def emit(self, value):
        """Streams `value` (serialized as JSON) as one server-sent event.

        Raises `Closed` if the caller has gone away."""
        try:
            _host.emit(_dumps(value))
        except Err:
            raise Closed("the caller has gone away") from None

    def add_async_task(self, name, metadata=None):
        """Registers a tracked task (`/ping` says HealthyBusy while one is open); returns its id."""
        return _host.add_async_task(str(name), None if metadata is None else _dumps(metadata))

    def complete_async_task(self, id):
        """Completes a task from `add_async_task`; False if the id is unknown."""
        return _host.complete_async_task(int(id))

    def set_ping_status(self, status):
        """Sets what `/ping` reports: "Healthy", "HealthyBusy", or None to clear it."""
        try:
            wit_status = _PING[status]
        except (KeyError, TypeError):
            raise ValueError(
                f'ping status must be "Healthy", "HealthyBusy" or None, not {status!r}'
            ) from None
        _host.set_ping_status(wit_status)

    def __repr__(self):
        return f"Context(request_id={self.request_id!r}, session_id={self.session_id!r})"


# ---------------------------------------------------------------------------------------
# The export.

_handler = None


def entrypoint(func):
    """Marks `func(payload, context)` as the component's handler (one per component)."""
    global _handler
    if _handler is not None and _handler is not func:
        raise RuntimeError(
            f"@entrypoint used twice: {_handler.__qualname__} and {func.__qualname__}"
        )
    _handler = func
    return func


def handler():
    """The function registered with @entrypoint, or None."""
    return _handler


def _run_coroutine(coro):
    """Drives a coroutine that never waits on real I/O (`await asyncio.sleep(0)` is fine)."""
    try:
        while True:
            yielded = coro.send(None)
            if yielded is not None:
                coro.close()
                raise RuntimeError(
                    "an async handler awaited something that needs an event loop; "
                    "there is none inside a wasm-agent component"
                )
    except StopIteration as stop:
        return stop.value


def _iterate_async(agen):
    """Turns an async generator into a plain one, as `_run_coroutine` drives coroutines."""
    try:
        while True:
            yield _run_coroutine(agen.__anext__())
    except StopAsyncIteration:
        return


def _failure(status, message, error_type):
    return Err(_wit.Failure(status=status, message=message, error_type=error_type))


def _from_exception(e):
    if isinstance(e, Failure):
        return _failure(e.status, e.message, e.error_type)
    if isinstance(e, HttpError):
        # A 502: the handler depends on a service it could not get an answer from.
        return _failure(502, e.message, "HttpError")
    return _failure(500, str(e), type(e).__name__)


def _stream(items, context):
    try:
        for item in items:
            context.emit(item)
    finally:
        items.close()


class WitWorld(wit_world.WitWorld):
    """The export componentize-py looks for in the top-level module."""

    def invoke(self, payload, context):
        if _handler is None:
            raise _failure(500, "no handler: decorate a function with @entrypoint", None)
        ctx = Context(context)
        try:
            result = _handler(json.loads(payload), ctx)
            if inspect.iscoroutine(result):
                result = _run_coroutine(result)
            if inspect.isasyncgen(result):
                result = _iterate_async(result)
            if isinstance(result, _pytypes.GeneratorType):
                _stream(result, ctx)
                return None
            if result is None:
                return None
            return _dumps(result)
        except Closed:
            # Nobody is listening any more; whatever we answer is discarded.
            return None
        except BaseException as e:  # SystemExit too: a trap would lose the message
            raise _from_exception(e) from None
        finally:
            _close_responses()
