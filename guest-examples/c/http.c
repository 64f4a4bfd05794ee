#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bindings/outbound_handler.h"
#include "http_error.h"

// How much one read asks for: a read returns what has arrived, up to this, so it bounds a piece
// without delaying one (a model's token is a few hundred bytes).
#define READ_SIZE 16384
// A line is buffered until its end arrives; past this it is refused rather than grown without
// bound (the host limits a whole body, not a line).
#define MAX_LINE (1024 * 1024)
// "https://" + a host name of at most 255 bytes + ":65535" fits.
#define ORIGIN_MAX 280
#define INVALID "invalid request: "

typedef struct {
    char *ptr;
    size_t len, cap;
} bytes;

struct http_response {
    uint16_t status;
    http_header *headers;
    size_t header_count;
    // scheme://host:port, for error messages.
    char origin[ORIGIN_MAX];
    // Children before parents, the order they must be dropped in.
    wasi_io_streams_own_input_stream_t stream;
    wasi_http_types_own_incoming_body_t body;
    wasi_http_types_own_incoming_response_t response;
    bool ended;
    // Body bytes read but not yet handed out: pending.ptr[start, pending.len).
    bytes pending;
    size_t start;
    // The data of the event being read.
    bytes event;
};

// A URL split for wasi:http.
typedef struct {
    bool https;
    char authority[ORIGIN_MAX];
    char origin[ORIGIN_MAX];
    // "/" at least, with the query; malloc'd.
    char *path_with_query;
} target;

static void reserve(bytes *buf, size_t more) {
    if (buf->len + more <= buf->cap) return;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < buf->len + more) cap *= 2;
    char *ptr = realloc(buf->ptr, cap);
    if (!ptr) abort();
    buf->ptr = ptr;
    buf->cap = cap;
}

static void append(bytes *buf, const char *data, size_t len) {
    reserve(buf, len + 1);
    memcpy(buf->ptr + buf->len, data, len);
    buf->len += len;
    buf->ptr[buf->len] = 0;
}

// ---- The request. ----

static bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_host(const char *host, size_t len, bool ipv6) {
    if (len == 0 || len > 255) return false;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        bool ok = ipv6 ? is_alnum(c) || c == ':' || c == '.' : is_alnum(c) || strchr("-._", c);
        if (!ok) return false;
    }
    return true;
}

// Splits `url` into scheme, authority and path; refuses what it cannot send with a reason
// rather than guessing.
static bool parse_url(const char *url, target *out, http_error *error) {
    const http_error_kind bad = HTTP_INVALID_REQUEST;
    for (const char *p = url; *p; p++) {
        if (*p <= ' ' || *p > '~')
            return http_fail(error, bad,
                             INVALID "the URL contains a space, a control or a non-ASCII "
                                     "character; percent-encode it");
    }
    const char *rest = strstr(url, "://");
    if (!rest) return http_fail(error, bad, INVALID "the URL must start with http:// or https://");
    int scheme_len = (int)(rest - url);
    out->https = scheme_len == 5 && strncasecmp(url, "https", 5) == 0;
    if (!out->https && !(scheme_len == 4 && strncasecmp(url, "http", 4) == 0))
        return http_fail(
            error, bad, INVALID "the URL scheme \"%.*s\" is not supported; use http:// or https://",
            scheme_len, url);
    rest += 3;
    size_t authority_len = strcspn(rest, "/?#");
    if (memchr(rest, '@', authority_len))
        return http_fail(error, bad,
                         INVALID "the URL carries credentials (user@host); send them in "
                                 "a header instead");
    // The port follows the last ':' unless that is inside an IPv6 literal's brackets.
    bool ipv6 = rest[0] == '[';
    const char *colon = NULL;
    for (const char *p = rest; p < rest + authority_len; p++) {
        if (*p == ':') colon = p;
    }
    const char *host_end = colon ? colon : rest + authority_len;
    if (ipv6 && host_end[-1] != ']') host_end = rest + authority_len;
    size_t host_len = (size_t)(host_end - rest);
    bool host_ok = ipv6 ? host_len > 2 && rest[host_len - 1] == ']' &&
                              is_host(rest + 1, host_len - 2, true)
                        : is_host(rest, host_len, false);
    if (!host_ok)
        return http_fail(error, bad, INVALID "the URL host \"%.*s\" is not a valid host name",
                         (int)authority_len, rest);
    long port = out->https ? 443 : 80;
    if (host_end < rest + authority_len && host_end + 1 < rest + authority_len) {
        const char *digits = host_end + 1;
        char *end;
        port = strtol(digits, &end, 10);
        if (!(digits[0] >= '0' && digits[0] <= '9') || end != rest + authority_len || port < 1 ||
            port > 65535)
            return http_fail(error, bad,
                             INVALID "the URL port \"%.*s\" is not a number from 1 to 65535",
                             (int)(rest + authority_len - digits), digits);
    }
    // 255 bytes of name, or an IPv6 literal of up to 255 inside its two brackets.
    char host[258];
    if (host_len >= sizeof host)
        return http_fail(error, bad, INVALID "the URL host is longer than 255 bytes");
    for (size_t i = 0; i < host_len; i++)
        host[i] = rest[i] >= 'A' && rest[i] <= 'Z' ? (char)(rest[i] - 'A' + 'a') : rest[i];
    host[host_len] = 0;
    // As written: the port only if the URL names one, since the `host` header says the same.
    if (host_len < authority_len) snprintf(out->authority, ORIGIN_MAX, "%s:%ld", host, port);
    else snprintf(out->authority, ORIGIN_MAX, "%s", host);
    snprintf(out->origin, ORIGIN_MAX, "%s://%s:%ld", out->https ? "https" : "http", host, port);
    const char *path = rest + authority_len;
    int path_len = (int)strcspn(path, "#");
    out->path_with_query = malloc((size_t)path_len + 2);
    if (!out->path_with_query) abort();
    sprintf(out->path_with_query, "%s%.*s", path[0] == '/' ? "" : "/", path_len, path);
    return true;
}

static bool set_method(wasi_http_types_borrow_outgoing_request_t request, const char *name,
                       http_error *error) {
    static const char *const standard[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                           "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    wasi_http_types_method_t method = {.tag = WASI_HTTP_TYPES_METHOD_OTHER};
    for (uint8_t i = 0; i < sizeof standard / sizeof *standard; i++) {
        if (strcasecmp(name, standard[i]) == 0) method.tag = i;
    }
    if (method.tag == WASI_HTTP_TYPES_METHOD_OTHER) {
        // An HTTP token (RFC 9110 section 5.6.2).
        bool token = *name != 0;
        for (const char *p = name; *p; p++)
            token = token && (is_alnum(*p) || strchr("!#$%&'*+-.^_`|~", *p));
        if (!token)
            return http_fail(error, HTTP_INVALID_REQUEST,
                             INVALID "the method \"%s\" is not an HTTP method", name);
        method.val.other = (outbound_handler_string_t){(uint8_t *)name, strlen(name)};
    }
    if (wasi_http_types_method_outgoing_request_set_method(request, &method)) return true;
    return http_fail(error, HTTP_INVALID_REQUEST, INVALID "the method \"%s\" is refused", name);
}

static bool add_header(wasi_http_types_borrow_fields_t fields, const char *name,
                       const char *value, http_error *error) {
    outbound_handler_string_t key = {(uint8_t *)name, strlen(name)};
    wasi_http_types_field_value_t bytes = {(uint8_t *)value, strlen(value)};
    wasi_http_types_header_error_t refused;
    if (wasi_http_types_method_fields_append(fields, &key, &bytes, &refused)) return true;
    if (refused.tag == WASI_HTTP_TYPES_HEADER_ERROR_FORBIDDEN)
        return http_fail(error, HTTP_INVALID_REQUEST,
                         INVALID "the header \"%s\" is set by the host; a guest cannot set it",
                         name);
    return http_fail(error, HTTP_INVALID_REQUEST, INVALID "the header \"%s\" is not valid HTTP",
                     name);
}

static bool add_headers(const http_request *request, wasi_http_types_borrow_fields_t fields,
                        http_error *error) {
    bool has_length = false;
    for (size_t i = 0; i < request->header_count; i++) {
        if (!add_header(fields, request->headers[i].name, request->headers[i].value, error))
            return false;
        has_length = has_length || strcasecmp(request->headers[i].name, "content-length") == 0;
    }
    // The caller's own length is sent as given, not twice.
    if (!request->body || has_length) return true;
    char length[24];
    snprintf(length, sizeof length, "%zu", request->body_len);
    return add_header(fields, "content-length", length, error);
}

static bool set_target(wasi_http_types_borrow_outgoing_request_t request, const target *to,
                       http_error *error) {
    wasi_http_types_scheme_t scheme = {
        .tag = to->https ? WASI_HTTP_TYPES_SCHEME_HTTPS : WASI_HTTP_TYPES_SCHEME_HTTP};
    outbound_handler_string_t authority = {(uint8_t *)to->authority, strlen(to->authority)};
    outbound_handler_string_t path = {(uint8_t *)to->path_with_query,
                                      strlen(to->path_with_query)};
    if (wasi_http_types_method_outgoing_request_set_scheme(request, &scheme) &&
        wasi_http_types_method_outgoing_request_set_authority(request, &authority) &&
        wasi_http_types_method_outgoing_request_set_path_with_query(request, &path))
        return true;
    return http_fail(error, HTTP_INVALID_REQUEST, INVALID "the URL \"%s\" is refused", to->origin);
}

// The request's timeouts as wasi:http options; `options` is left without a handle when the
// request sets none, and so the host's defaults apply.
static bool set_timeouts(const http_request *request,
                         wasi_http_types_own_request_options_t *options, http_error *error) {
    static const char *const names[] = {"connect", "first-byte", "between-bytes"};
    static bool (*const setters[])(wasi_http_types_borrow_request_options_t, uint64_t *) = {
        wasi_http_types_method_request_options_set_connect_timeout,
        wasi_http_types_method_request_options_set_first_byte_timeout,
        wasi_http_types_method_request_options_set_between_bytes_timeout};
    const uint32_t ms[] = {request->connect_timeout_ms, request->first_byte_timeout_ms,
                           request->between_bytes_timeout_ms};
    for (int i = 0; i < 3; i++) {
        if (!ms[i]) continue;
        if (!options->__handle) *options = wasi_http_types_constructor_request_options();
        uint64_t nanos = (uint64_t)ms[i] * 1000000;
        if (!setters[i](wasi_http_types_borrow_request_options(*options), &nanos))
            return http_fail(error, HTTP_INVALID_REQUEST,
                             INVALID "the host does not support a %s timeout", names[i]);
    }
    return true;
}

// Builds the request for `to`; on failure it has dropped what it made.
static bool build_request(const http_request *request, const target *to,
                          wasi_http_types_own_outgoing_request_t *out,
                          wasi_http_types_own_request_options_t *options, http_error *error) {
    wasi_http_types_own_fields_t fields = wasi_http_types_constructor_fields();
    bool ok = add_headers(request, wasi_http_types_borrow_fields(fields), error);
    // The request owns the headers from here on, sent or not.
    *out = wasi_http_types_constructor_outgoing_request(fields);
    wasi_http_types_borrow_outgoing_request_t borrowed =
        wasi_http_types_borrow_outgoing_request(*out);
    const char *method = request->method ? request->method : "GET";
    ok = ok && set_method(borrowed, method, error) && set_target(borrowed, to, error) &&
         set_timeouts(request, options, error);
    if (!ok) {
        if (options->__handle) wasi_http_types_request_options_drop_own(*options);
        wasi_http_types_outgoing_request_drop_own(*out);
    }
    return ok;
}

static void wait_for(wasi_io_poll_own_pollable_t pollable) {
    wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(pollable));
    wasi_io_poll_pollable_drop_own(pollable);
}

static bool write_all(wasi_io_streams_borrow_output_stream_t out, const uint8_t *data,
                      size_t len) {
    wasi_io_streams_stream_error_t failure;
    bool ok = true;
    while (ok && len > 0) {
        uint64_t permitted;
        ok = wasi_io_streams_method_output_stream_check_write(out, &permitted, &failure);
        if (!ok) break;
        if (permitted == 0) {
            wait_for(wasi_io_streams_method_output_stream_subscribe(out));
            continue;
        }
        size_t size = len < permitted ? len : (size_t)permitted;
        outbound_handler_list_u8_t piece = {(uint8_t *)data, size};
        ok = wasi_io_streams_method_output_stream_write(out, &piece, &failure);
        data += size;
        len -= size;
    }
    ok = ok && wasi_io_streams_method_output_stream_blocking_flush(out, &failure);
    if (!ok && failure.tag == WASI_IO_STREAMS_STREAM_ERROR_LAST_OPERATION_FAILED)
        wasi_io_error_error_drop_own(failure.val.last_operation_failed);
    return ok;
}

// Writes the body and finishes it. A failure is not reported: it comes from the host having
// refused the request and dropped its body, and the response then holds the reason (denied,
// say), which says more than the write's failure.
static void write_body(wasi_http_types_own_outgoing_body_t body, const void *data, size_t len) {
    wasi_io_streams_own_output_stream_t stream;
    if (!wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body),
                                                    &stream)) {
        wasi_http_types_outgoing_body_drop_own(body);
        return;
    }
    bool written = write_all(wasi_io_streams_borrow_output_stream(stream), data, len);
    // The stream is the body's child: it goes first.
    wasi_io_streams_output_stream_drop_own(stream);
    wasi_http_types_error_code_t code;
    if (!written) wasi_http_types_outgoing_body_drop_own(body);
    else if (!wasi_http_types_static_outgoing_body_finish(body, NULL, &code))
        wasi_http_types_error_code_free(&code);
}

// Copies the response's headers as C strings.
static void copy_headers(http_response *response) {
    wasi_http_types_own_fields_t fields = wasi_http_types_method_incoming_response_headers(
        wasi_http_types_borrow_incoming_response(response->response));
    wasi_http_types_list_tuple2_field_name_field_value_t entries;
    wasi_http_types_method_fields_entries(wasi_http_types_borrow_fields(fields), &entries);
    response->headers = calloc(entries.len + 1, sizeof *response->headers);
    if (!response->headers) abort();
    for (size_t i = 0; i < entries.len; i++) {
        http_header *header = &response->headers[i];
        header->name = strndup((const char *)entries.ptr[i].f0.ptr, entries.ptr[i].f0.len);
        header->value = strndup((const char *)entries.ptr[i].f1.ptr, entries.ptr[i].f1.len);
        if (!header->name || !header->value) abort();
    }
    response->header_count = entries.len;
    wasi_http_types_list_tuple2_field_name_field_value_free(&entries);
    // A child of the response: dropped before it.
    wasi_http_types_fields_drop_own(fields);
}

// Drops the response's wasi:http resources, children first; a handle of 0 was never given.
static void drop_resources(http_response *response) {
    if (response->stream.__handle) wasi_io_streams_input_stream_drop_own(response->stream);
    if (response->body.__handle) wasi_http_types_incoming_body_drop_own(response->body);
    if (response->response.__handle)
        wasi_http_types_incoming_response_drop_own(response->response);
    response->stream.__handle = response->body.__handle = response->response.__handle = 0;
}

// Waits for the response to `future` and takes its body.
static http_response *receive(wasi_http_types_own_future_incoming_response_t future,
                              const char *origin, http_error *error) {
    wasi_http_types_borrow_future_incoming_response_t borrowed =
        wasi_http_types_borrow_future_incoming_response(future);
    wait_for(wasi_http_types_method_future_incoming_response_subscribe(borrowed));
    wasi_http_types_result_result_own_incoming_response_error_code_void_t got;
    bool ready = wasi_http_types_method_future_incoming_response_get(borrowed, &got);
    wasi_http_types_future_incoming_response_drop_own(future);
    if (!ready || got.is_err) {
        http_fail(error, HTTP_OTHER, "the response from %s was not ready, or taken twice", origin);
        return NULL;
    }
    if (got.val.ok.is_err) {
        http_code_error(error, &got.val.ok.val.err, origin);
        wasi_http_types_error_code_free(&got.val.ok.val.err);
        return NULL;
    }
    http_response *response = calloc(1, sizeof *response);
    if (!response) abort();
    response->response = got.val.ok.val.ok;
    wasi_http_types_borrow_incoming_response_t incoming =
        wasi_http_types_borrow_incoming_response(response->response);
    response->status = wasi_http_types_method_incoming_response_status(incoming);
    snprintf(response->origin, ORIGIN_MAX, "%s", origin);
    copy_headers(response);
    if (!wasi_http_types_method_incoming_response_consume(incoming, &response->body) ||
        !wasi_http_types_method_incoming_body_stream(
            wasi_http_types_borrow_incoming_body(response->body), &response->stream)) {
        http_fail(error, HTTP_OTHER, "the response body from %s was taken", origin);
        http_close(response);
        return NULL;
    }
    return response;
}

http_response *http_send(const http_request *request, http_error *error) {
    error->kind = HTTP_OK;
    error->message[0] = 0;
    target to;
    if (!parse_url(request->url, &to, error)) return NULL;
    wasi_http_types_own_outgoing_request_t outgoing;
    wasi_http_types_own_request_options_t options = {0};
    bool built = build_request(request, &to, &outgoing, &options, error);
    free(to.path_with_query);
    if (!built) return NULL;
    // A request whose body is never taken goes out with none: no chunked GET.
    wasi_http_types_own_outgoing_body_t body = {0};
    if (request->body)
        wasi_http_types_method_outgoing_request_body(
            wasi_http_types_borrow_outgoing_request(outgoing), &body);
    // The body is written once the host has the request: the host buffers a bounded amount of
    // body, so writing a large one first would block forever.
    wasi_http_types_own_future_incoming_response_t future;
    wasi_http_types_error_code_t code;
    if (!wasi_http_outgoing_handler_handle(outgoing, options.__handle ? &options : NULL, &future,
                                           &code)) {
        http_code_error(error, &code, to.origin);
        wasi_http_types_error_code_free(&code);
        if (body.__handle) wasi_http_types_outgoing_body_drop_own(body);
        return NULL;
    }
    if (body.__handle) write_body(body, request->body, request->body_len);
    return receive(future, to.origin, error);
}

uint16_t http_status(const http_response *response) { return response->status; }

const http_header *http_headers(const http_response *response, size_t *count) {
    *count = response->header_count;
    return response->headers;
}

const char *http_header_value(const http_response *response, const char *name) {
    for (size_t i = 0; i < response->header_count; i++) {
        if (strcasecmp(response->headers[i].name, name) == 0) return response->headers[i].value;
    }
    return NULL;
}

// ---- The body. ----

// Reads what has arrived, at most `cap` bytes, from the stream into `out`.
static long read_stream(http_response *response, char *out, size_t cap, http_error *error) {
    while (!response->ended) {
        outbound_handler_list_u8_t piece;
        wasi_io_streams_stream_error_t failure;
        if (!wasi_io_streams_method_input_stream_blocking_read(
                wasi_io_streams_borrow_input_stream(response->stream), cap, &piece, &failure)) {
            response->ended = true;
            if (failure.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED) return 0;
            http_stream_error(failure.val.last_operation_failed, response->origin, error);
            return -1;
        }
        if (piece.len == 0) continue;
        memcpy(out, piece.ptr, piece.len);
        outbound_handler_list_u8_free(&piece);
        return (long)piece.len;
    }
    return 0;
}

long http_read(http_response *response, void *buf, size_t cap, http_error *error) {
    error->kind = HTTP_OK;
    // Nothing fits: a read of zero bytes would look like "nothing yet" forever.
    if (cap == 0) return 0;
    size_t pending = response->pending.len - response->start;
    if (pending == 0) return read_stream(response, buf, cap, error);
    // What a line reader has read ahead comes first.
    size_t size = pending < cap ? pending : cap;
    memcpy(buf, response->pending.ptr + response->start, size);
    response->start += size;
    return (long)size;
}

bool http_read_line(http_response *response, const char **line, size_t *len, http_error *error) {
    error->kind = HTTP_OK;
    bytes *buf = &response->pending;
    size_t scanned = response->start;
    while (true) {
        char *found = buf->len > scanned ? memchr(buf->ptr + scanned, '\n', buf->len - scanned)
                                         : NULL;
        size_t end = found ? (size_t)(found - buf->ptr) : buf->len;
        if (found || (response->ended && end > response->start)) {
            size_t next = found ? end + 1 : end;
            if (end > response->start && buf->ptr[end - 1] == '\r') end--;
            buf->ptr[end] = 0;
            *line = buf->ptr + response->start;
            if (len) *len = end - response->start;
            response->start = next;
            return true;
        }
        if (response->ended) return false;
        // Keep only the unfinished line, then read more onto it.
        if (response->start > 0) {
            memmove(buf->ptr, buf->ptr + response->start, buf->len - response->start);
            buf->len -= response->start;
        }
        scanned = buf->len;
        response->start = 0;
        if (buf->len >= MAX_LINE) {
            http_fail(error, HTTP_TOO_LARGE, "a line from %s is longer than %d bytes",
                      response->origin, MAX_LINE);
            return false;
        }
        // One byte more than read, for the NUL that ends the line in place.
        reserve(buf, READ_SIZE + 1);
        long got = read_stream(response, buf->ptr + buf->len, READ_SIZE, error);
        if (got < 0) return false;
        buf->len += (size_t)got;
    }
}

bool http_read_event(http_response *response, const char **data, size_t *len, http_error *error) {
    bytes *event = &response->event;
    bool has_data = false;
    event->len = 0;
    append(event, "", 0);
    const char *line;
    size_t line_len;
    while (http_read_line(response, &line, &line_len, error)) {
        if (line_len == 0 && has_data) {
            *data = event->ptr;
            if (len) *len = event->len;
            return true;
        }
        // Only `data` matters here; `event`, `id`, `retry` and comments are skipped.
        if (strncmp(line, "data", 4) != 0 || (line[4] != ':' && line[4] != 0)) continue;
        const char *value = line[4] ? line + 5 : line + 4;
        if (*value == ' ') value++;
        if (has_data) append(event, "\n", 1);
        append(event, value, line_len - (size_t)(value - line));
        has_data = true;
    }
    // An event the body ends in the middle of is dropped, as a browser would.
    return false;
}

void http_close(http_response *response) {
    if (!response) return;
    drop_resources(response);
    for (size_t i = 0; i < response->header_count; i++) {
        free((char *)response->headers[i].name);
        free((char *)response->headers[i].value);
    }
    free(response->headers);
    free(response->pending.ptr);
    free(response->event.ptr);
    free(response);
}
