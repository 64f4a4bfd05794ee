"""Outbound HTTP for wasm-agent handlers in Python: a small blocking client over wasi:http.

`request`, `get` and `post` send a request through componentize-py's wasi:http bindings (a
component built against the `outbound-handler` world) and block until its response starts;
the `Response` gives the body whole or as it arrives (`chunks`, `lines`, `events`). The host
refuses every destination its operator has not allowed, and may add credentials itself.

Handlers import these names from `wasm_agent`, which re-exports them:

    from wasm_agent import post

    answer = post("http://127.0.0.1:9000/v1/chat/completions", json={...})
    for event in answer.events():
        context.emit({"token": event.data})

`wasm_agent` imports this module and never the other way round, so the two helpers it
takes from here live here: `_bindings`, which both modules use to find a generated binding
module under whichever name componentize-py gave it, and `_close_responses`, which
`wasm_agent` calls as each invocation ends.
"""

import importlib
import json
import math
import re
import weakref
from collections import namedtuple

from componentize_py_types import Err

__all__ = ["request", "get", "post", "Response", "Event", "HttpError"]


def _bindings(attribute, *names):
    """The generated module among `names` (under wit_world.imports) that has `attribute`.

    componentize-py names a module after its interface, unless two interfaces of the world
    share a name: then both get their package's prefix (`wasi_http_types` and
    `wasm_agent_handler_types`), so which name exists depends on the world built against.
    """
    for name in names:
        try:
            module = importlib.import_module("wit_world.imports." + name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            return module
    return None


# None when the world imports no wasi:http: `request` then says how to build.
_http = _bindings("OutgoingRequest", "wasi_http_types", "types")
_outgoing = _bindings("handle", "wasi_http_outgoing_handler", "outgoing_handler")
_streams = _bindings("StreamError_Closed", "wasi_io_streams", "streams")

# componentize-py's bundled poll_loop.py is not used: it imports `wit_world.imports.types`,
# which is our handler's types once the world also imports wasi:http, and it needs asyncio,
# which a synchronous handler has no loop for. Blocking on one pollable at a time is all a
# handler needs.

# A read returns what has arrived, up to this: it bounds a chunk without delaying one.
_READ_SIZE = 64 * 1024
_NANOS_PER_SECOND = 1_000_000_000
# wasi:clocks durations are u64 nanoseconds.
_MAX_NANOS = 2**64 - 1
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(r"([a-z0-9._-]+|\[[0-9a-f:.]+\])(?::([0-9]*))?")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
_LINE_END = re.compile(rb"\r\n|\r|\n")


class HttpError(Exception):
    """An outbound request that got no (complete) response, with a message naming where it
    went (scheme://host:port, never the path or query).

    `kind` is what a handler can act on: "denied" (no --allow-outbound rule allows the
    destination), "timeout", "limit" (the host's cap on requests), "too-large", "connection"
    (DNS, refused, reset, TLS), "protocol" (a broken reply, or not the JSON asked for),
    "invalid-request" (not sent: bad URL, method, header, body or timeout) or "other".
    `origin` is scheme://host:port, or None if the request was not sent. Escaping the
    handler, it answers 502 with its message.
    """

    def __init__(self, kind, message, origin=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.origin = origin

    def __str__(self):
        return self.message


class Event(namedtuple("Event", ["data", "event", "id"])):
    """One server-sent event: `data` (its data lines joined with newlines), `event` (its
    name, or None) and `id` (the last id the stream sent, or None)."""

    __slots__ = ()


def request(
    method,
    url,
    headers=None,
    body=None,
    json=None,
    timeout=None,
    connect_timeout=None,
    between_bytes_timeout=None,
):
    """Sends a request and blocks until the response's status and headers arrive.

    `headers` is a dict or a list of (name, value) pairs; the host sets `host` and may replace
    `authorization` with its own credentials. `body` is bytes or str; `json` a value sent as
    JSON (with `content-type: application/json` unless given). Timeouts are in seconds:
    `timeout` for the response to start, `connect_timeout` for TCP and TLS,
    `between_bytes_timeout` for a pause within the body; the host's apply otherwise.

    A 4xx or 5xx status is a `Response`; `HttpError` is for a request that got none.
    """
    if _outgoing is None:
        raise HttpError(
            "other",
            "this component cannot send HTTP requests: build it against the outbound-handler world",
        )
    scheme, authority, path, origin = _split_url(url)
    fields = _header_list(headers)
    data = _body_bytes(body, json, fields)
    timeouts = {
        "connect": _nanos(connect_timeout),
        "first_byte": _nanos(timeout),
        "between_bytes": _nanos(between_bytes_timeout),
    }
    outgoing = _outgoing_request(method, scheme, authority, path, fields, origin)
    try:
        options = _options(timeouts)
    except HttpError:
        _drop(outgoing)
        raise
    # A request whose body is never taken goes out with none: no chunked encoding on a GET.
    outgoing_body = outgoing.body() if data else None
    try:
        future = _outgoing.handle(outgoing, options)
    except Err as e:
        if outgoing_body is not None:
            _drop(outgoing_body)
        raise _code_error(e.value, origin) from None
    if outgoing_body is not None:
        # Only now that the host has the request: it buffers a bounded amount of body, so
        # writing a large one first would block forever.
        _send_body(outgoing_body, data)
    return _receive(future, origin)


def get(url, **options):
    """`request("GET", url, ...)`."""
    return request("GET", url, **options)


def post(url, **options):
    """`request("POST", url, ...)`."""
    return request("POST", url, **options)


# Bodies a handler leaves unread: closed when the invocation ends (the host ends their
# requests with the call anyway), so a session's instance starts the next one clean.
_open = weakref.WeakSet()


class Response:
    """The response to a request: `status`, `headers` (a list of (name, value) pairs in the
    order received) and `origin`, with the body still to be read, once: whole (`read`,
    `text`, `json`) or as it arrives (`chunks`, `lines`, `events`).

    The body is released when read to its end, on `close()` (or leaving a `with` block), and
    at the latest when the invocation ends."""

    def __init__(self, incoming, origin):
        self.status = incoming.status()
        with incoming.headers() as fields:
            self.headers = [(n, v.decode("utf-8", "replace")) for n, v in fields.entries()]
        self.origin = origin
        body = incoming.consume()
        # Child first: wasi:http refuses to drop a resource whose children are alive.
        self._resources = [body.stream(), body, incoming]
        self._taken = False
        _open.add(self)

    def header(self, name):
        """The value of the first header called `name` (any case), or None."""
        name = name.lower()
        return next((v for n, v in self.headers if n.lower() == name), None)

    def chunks(self):
        """The body as it arrives: an iterator of bytes, each what one read returned."""
        if self._taken or self._resources is None:
            raise RuntimeError("the response body has already been read or closed")
        self._taken = True
        return self._read()

    def read(self):
        """The whole body, as bytes."""
        return b"".join(self.chunks())

    def text(self):
        """The whole body as text (UTF-8, invalid bytes replaced)."""
        return self.read().decode("utf-8", "replace")

    def json(self):
        """The whole body parsed as JSON; anything else is a "protocol" HttpError."""
        data = self.read()
        try:
            return json.loads(data)
        except ValueError as e:
            message = f"the response from {self.origin} is not the JSON expected: {e}"
            raise HttpError("protocol", message, self.origin) from None

    def lines(self):
        """The body as lines of text (without their ends), each as soon as it is complete."""
        return (line.decode("utf-8", "replace") for line in _split_lines(self.chunks()))

    def events(self):
        """The body as server-sent events (`Event`), each as soon as its blank line arrives."""
        return _parse_events(_split_lines(self.chunks()))

    def close(self):
        """Releases the body, read or not. Closing again does nothing."""
        self._release()
        _open.discard(self)

    def _release(self):
        resources, self._resources = getattr(self, "_resources", None), None
        for resource in resources or ():
            _drop(resource)

    def _read(self):
        try:
            while self._resources is not None:
                try:
                    chunk = self._resources[0].blocking_read(_READ_SIZE)
                except Err as e:
                    if isinstance(e.value, _streams.StreamError_Closed):
                        return
                    raise _stream_error(e.value.value, self.origin) from None
                if chunk:
                    yield chunk
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # The set holds it weakly, so only the resources are left to release.
        self._release()

    def __repr__(self):
        return f"Response(status={self.status}, origin={self.origin!r})"


def _close_responses():
    """Closes the bodies the invocation left open; `wasm_agent` calls it as each one ends."""
    for response in list(_open):
        response.close()


def _drop(resource):
    resource.__exit__(None, None, None)


def _block(pollable):
    with pollable:
        pollable.block()


def _invalid(detail):
    return HttpError("invalid-request", f"invalid request: {detail}")


def _split_url(url):
    """(scheme, authority, path with query, origin) of an http(s) URL, fragment dropped."""
    if not isinstance(url, str) or not url.isascii() or not url.isprintable() or " " in url:
        raise _invalid(
            f"the URL {url!r} has spaces, control or non-ASCII characters; percent-encode them"
        )
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _DEFAULT_PORTS:
        raise _invalid("the URL must start with http:// or https://")
    rest = rest.partition("#")[0]
    end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
    authority, path = rest[:end].lower(), rest[end:]
    if "@" in authority:
        raise _invalid("the URL carries credentials (user@host); send them in a header instead")
    if not authority:
        raise _invalid("the URL has no host")
    match = _AUTHORITY.fullmatch(authority)
    if match is None:
        raise _invalid(f"the URL host {authority!r} is not a valid host name")
    host, digits = match.groups()
    port = int(digits) if digits else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _invalid(f"the URL port {digits!r} is not a number from 1 to 65535")
    path = path if path.startswith("/") else "/" + path
    return scheme, f"{host}:{port}" if digits else host, path, f"{scheme}://{host}:{port}"


def _header_list(headers):
    items = headers.items() if isinstance(headers, dict) else headers or ()
    return [(str(name), value) for name, value in items]


def _body_bytes(body, value, headers):
    """The bytes to send; adds the headers they imply to `headers` (content type for JSON,
    and the length, which wasi:http then holds the body to)."""
    if body is not None and value is not None:
        raise _invalid("give a body or json, not both")
    if value is not None:
        try:
            body = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise _invalid(f"the JSON body would not serialize: {e}") from None
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers.append(("content-type", "application/json"))
    if isinstance(body, str):
        body = body.encode()
    if body is not None and not isinstance(body, (bytes, bytearray, memoryview)):
        raise _invalid(f"the body must be bytes or str, not {type(body).__name__}")
    data = bytes(body or b"")
    headers[:] = [(name, v) for name, v in headers if name.lower() != "content-length"]
    if data:
        headers.append(("content-length", str(len(data))))
    return data


def _method(name):
    upper = str(name).upper()
    if upper in _METHODS:
        return getattr(_http, "Method_" + upper.capitalize())()
    if _TOKEN.fullmatch(str(name)):
        return _http.Method_Other(str(name))
    raise _invalid(f"the method {name!r} is not an HTTP method")


def _nanos(seconds):
    if seconds is None:
        return None
    # A str would multiply into a huge string, and True into one second.
    is_number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if not is_number or not math.isfinite(seconds):
        raise _invalid(f"the timeout {seconds!r} is not a number of seconds")
    return min(max(0, int(seconds * _NANOS_PER_SECOND)), _MAX_NANOS)


def _options(timeouts):
    """wasi:http request options with the timeouts (nanoseconds) that are set, or None."""
    if all(nanos is None for nanos in timeouts.values()):
        return None
    options = _http.RequestOptions()
    for which, nanos in timeouts.items():
        if nanos is None:
            continue
        try:
            getattr(options, f"set_{which}_timeout")(nanos)
        except Err:
            _drop(options)
            which = which.replace("_", "-")
            raise _invalid(f"the host does not support a {which} timeout") from None
    return options


def _outgoing_request(method, scheme, authority, path, headers, origin):
    wasi_method = _method(method)
    fields = _http.Fields()
    for name, value in headers:
        try:
            raw = bytes(value) if isinstance(value, (bytes, bytearray)) else str(value).encode()
            fields.append(name, raw)
        except Err as e:
            _drop(fields)
            if isinstance(e.value, _http.HeaderError_Forbidden):
                problem = f"the header {name!r} is set by the host; a guest cannot set it"
                raise _invalid(problem) from None
            raise _invalid(f"the header {name!r} is not valid HTTP") from None
    outgoing = _http.OutgoingRequest(fields)  # takes the fields
    wasi_scheme = _http.Scheme_Https() if scheme == "https" else _http.Scheme_Http()
    try:
        outgoing.set_method(wasi_method)
    except Err:
        _drop(outgoing)
        raise _invalid(f"the method {method!r} is refused") from None
    try:
        outgoing.set_scheme(wasi_scheme)
        outgoing.set_authority(authority)
        outgoing.set_path_with_query(path)
    except Err:
        _drop(outgoing)
        raise _invalid(f"the URL {origin} is refused") from None
    return outgoing


def _send_body(outgoing_body, data):
    """Writes the whole body as fast as the host takes it, then finishes it.

    A write fails when the host refused the request and dropped its body; the response then
    holds the reason (e.g. denied), which says more than the write's failure, so it is
    left to `_receive` to report."""
    try:
        with outgoing_body.write() as stream:
            _write_all(stream, data)
    except Err as e:
        _discard_stream_error(e.value)
        _drop(outgoing_body)
        return
    try:
        _http.OutgoingBody.finish(outgoing_body, None)
    except Err:
        pass  # as for a failed write: the response says why


def _write_all(stream, data):
    view = memoryview(data)
    while view:
        permitted = stream.check_write()
        if permitted == 0:
            _block(stream.subscribe())
            continue
        stream.write(bytes(view[:permitted]))
        view = view[permitted:]
    stream.blocking_flush()


def _discard_stream_error(error):
    if isinstance(error, _streams.StreamError_LastOperationFailed):
        _drop(error.value)


def _receive(future, origin):
    """Blocks until the response's status and headers arrive, or the request fails."""
    try:
        while (outcome := future.get()) is None:
            _block(future.subscribe())
    finally:
        _drop(future)
    if isinstance(outcome, Err):
        raise HttpError("other", "the response was already taken", origin)
    if isinstance(outcome.value, Err):
        raise _code_error(outcome.value.value, origin)
    return Response(outcome.value.value, origin)


_TIMEOUTS = {
    "DnsTimeout": "resolving its name",
    "ConnectionTimeout": "connecting",
    "HttpResponseTimeout": "waiting for the response to start",
    "ConnectionReadTimeout": "waiting for more of the response",
    "ConnectionWriteTimeout": "sending the request",
}

# wasmtime 48 does not attach an error-code to a failed body stream (http-error-code gives
# none); the text of its own error, which it attaches instead, names the cause.
_STREAM_FAILURES = {
    "HTTP response body size exceeds limit": "HttpResponseBodySize",
    "HTTP request body size exceeds limit": "HttpRequestBodySize",
    "connection read timeout": "ConnectionReadTimeout",
    "connection write timeout": "ConnectionWriteTimeout",
    "connection timeout": "ConnectionTimeout",
    "HTTP response timeout": "HttpResponseTimeout",
    "connection limit reached": "ConnectionLimitReached",
    "connection terminated": "ConnectionTerminated",
    "incomplete HTTP response": "HttpResponseIncomplete",
    "HTTP request denied": "HttpRequestDenied",
    "HTTP protocol error": "HttpProtocolError",
}


def _code_error(code, origin):
    """An HttpError for a wasi:http error-code (a request to `origin`)."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    kind, message = _describe(name, getattr(code, "value", None), origin)
    return HttpError(kind, message, origin)


def _stream_error(failure, origin):
    """An HttpError for a failed read of the body (a wasi:io error, dropped here)."""
    code = _http.http_error_code(failure)
    text = failure.to_debug_string()
    _drop(failure)
    if code is not None:
        return _code_error(code, origin)
    head, _, detail = text.partition("\n")[0].partition(": ")
    name = _STREAM_FAILURES.get(head)
    if name is None:
        # Only the host's first line: the rest is its cause chain, meant for the host's log.
        first = text.partition("\n")[0]
        return HttpError("connection", f"reading the response from {origin} failed: {first}", origin)
    size = detail.removesuffix(" bytes")
    kind, message = _describe(name, int(size) if size.isdigit() else None, origin)
    return HttpError(kind, message, origin)


def _describe(name, value, origin):
    """(kind, message) for the error-code case `name` with payload `value`; the wording is
    the Rust SDK's, so a failure reads the same whatever language the handler is in."""
    if name == "HttpRequestDenied":
        return "denied", (
            f"the host denied the request to {origin} (no --allow-outbound rule allows it)"
        )
    if name == "DestinationIpProhibited":
        return "denied", (
            f"the host denied the request to {origin}: its name resolves to an address "
            "(loopback, private or link-local) that no rule names"
        )
    if name == "ConnectionLimitReached":
        return "limit", (
            f"the host refused the request to {origin}: this invocation made, or this "
            "handler has in flight, as many outbound requests as it may"
        )
    size = f" ({value} bytes)" if isinstance(value, int) else ""
    if name == "HttpResponseBodySize":
        return "too-large", f"the response from {origin} is larger than the host allows{size}"
    if name == "HttpRequestBodySize":
        return "too-large", f"the request body to {origin} is larger than allowed{size}"
    if name in _TIMEOUTS:
        return "timeout", f"the request to {origin} timed out {_TIMEOUTS[name]}"
    if name == "DnsError":
        rcode = getattr(value, "rcode", None)
        detail = f" ({rcode})" if rcode else ""
        return "connection", f"could not resolve the host of {origin}{detail}"
    if name in ("DestinationNotFound", "DestinationUnavailable"):
        return "connection", f"could not reach {origin}"
    if name == "DestinationIpUnroutable":
        return "connection", f"could not reach {origin}: its address is unroutable"
    if name == "ConnectionRefused":
        return "connection", f"{origin} refused the connection"
    if name in ("ConnectionTerminated", "HttpResponseIncomplete"):
        return "connection", f"the connection to {origin} closed before the response was complete"
    if name.startswith("Tls"):
        return "connection", f"the TLS handshake with {origin} failed ({name})"
    if name.startswith("HttpRequest"):
        return "invalid-request", f"the request to {origin} is invalid ({name})"
    if name == "InternalError" and value:
        return "other", f"the host failed the request to {origin}: {value}"
    if name in ("InternalError", "ConfigurationError"):
        return "other", f"the host failed the request to {origin} ({name})"
    return "protocol", f"HTTP protocol error talking to {origin} ({name})"


def _split_lines(chunks):
    """The lines of a byte stream, without their ends (\\r\\n, \\n or \\r), each as soon as its
    end arrives; a last line without an end comes at the end of the stream."""
    pending = b""
    after_cr = False
    for chunk in chunks:
        # A \r ending one chunk and a \n starting the next are one line end, not two.
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        *lines, pending = _LINE_END.split(pending + chunk)
        yield from lines
    if pending:
        yield pending


def _parse_events(lines):
    """Server-sent events from lines, as the WHATWG event-stream rules read them: data lines
    join with \\n, a line starting with `:` is a comment, one space after the colon goes, a
    blank line dispatches, an event without data or without its blank line is dropped, and
    an id carries over to later events until replaced."""
    data, name, last_id = [], "", ""
    for number, raw in enumerate(lines):
        line = raw.decode("utf-8", "replace")
        if number == 0:
            line = line.removeprefix("\ufeff")
        if not line:
            if data:
                yield Event("\n".join(data), name or None, last_id or None)
            data, name = [], ""
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            last_id = value
