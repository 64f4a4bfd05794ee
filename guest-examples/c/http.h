// Outbound HTTP for a C handler: a small blocking client over the wasi:http bindings in
// bindings/ (world `outbound-handler`). The host sends a request only to destinations its
// operator allows (`wasm-agent serve --allow-outbound ...`), holds the TLS and the credentials,
// and refuses anything else with an error this helper names.
//
//   http_header headers[] = {{"accept", "text/event-stream"}};
//   http_request request = {.method = "POST", .url = url, .headers = headers,
//                           .header_count = 1, .body = body, .body_len = body_len};
//   http_error error;
//   http_response *response = http_send(&request, &error);
//   if (!response) { ... error.message ... }
//   const char *data;
//   while (http_read_event(response, &data, NULL, &error)) { ... }
//   if (error.kind != HTTP_OK) { ... }
//   http_close(response);
//
// Every call blocks until it can answer. A response owns its wasi:http resources until
// http_close, which drops them whether or not the body was read to its end.
#ifndef WASM_AGENT_HTTP_H
#define WASM_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// What kind of failure an http_error is: what a handler can act on. The same kinds as the Rust
// SDK's `HttpErrorKind`.
typedef enum {
    HTTP_OK = 0,
    // The host refused the destination: no operator rule (`--allow-outbound`) allows it.
    HTTP_DENIED,
    // The connection, the response's first byte or the next body bytes took too long.
    HTTP_TIMEOUT,
    // The host's limit on outbound requests open at once was reached.
    HTTP_LIMIT,
    // A body or a line was larger than the host (or this helper) allows.
    HTTP_TOO_LARGE,
    // The destination could not be reached or the connection broke: DNS, refused, reset, TLS.
    HTTP_CONNECTION,
    // The server's reply broke HTTP.
    HTTP_PROTOCOL,
    // The request could not be built (URL, method, header or timeout), so it was not sent.
    HTTP_INVALID_REQUEST,
    // Anything else, such as a failure inside the host.
    HTTP_OTHER,
} http_error_kind;

// Why a call failed, with a message that names the destination (scheme://host:port) but never
// its path, query or headers, which may carry secrets. Long messages are cut short.
typedef struct {
    http_error_kind kind;
    char message[512];
} http_error;

// One header; both strings NUL-terminated.
typedef struct {
    const char *name;
    const char *value;
} http_header;

// A request to send. Fields left zero mean: no headers, no body, the host's timeouts.
typedef struct {
    // "GET", "POST", ... (any HTTP token); NULL for GET.
    const char *method;
    // An http:// or https:// URL: ASCII, no user@, percent-encoded.
    const char *url;
    const http_header *headers;
    size_t header_count;
    // The body, sent with a `content-length`; NULL for none.
    const void *body;
    size_t body_len;
    // Connecting (TCP and TLS), waiting for the response to start, and waiting between two
    // pieces of its body; 0 leaves the host's default. The host may lower them.
    uint32_t connect_timeout_ms;
    uint32_t first_byte_timeout_ms;
    uint32_t between_bytes_timeout_ms;
} http_request;

// A response whose status and headers have arrived and whose body is still to be read.
typedef struct http_response http_response;

// Sends `request` and waits for the response's status and headers. NULL on failure, with
// `error` filled in. A 4xx or 5xx status is a response, not a failure.
http_response *http_send(const http_request *request, http_error *error);

// The status code.
uint16_t http_status(const http_response *response);
// The value of the first header named `name` (any case), or NULL.
const char *http_header_value(const http_response *response, const char *name);
// All headers as received (names lowercase), `*count` of them.
const http_header *http_headers(const http_response *response, size_t *count);

// Reads the next piece of the body into `buf`, as soon as any of it has arrived: the number of
// bytes read (1 to `cap`), 0 at the end of the body, -1 on failure with `error` filled in.
long http_read(http_response *response, void *buf, size_t cap, http_error *error);

// Reads the next line of the body, without its `\n` or `\r\n`, NUL-terminated; `*len` (if not
// NULL) gets its length. The line lives until the next read or http_close. False at the end of
// the body (error->kind == HTTP_OK) or on failure.
bool http_read_line(http_response *response, const char **line, size_t *len, http_error *error);

// Reads the next server-sent event (text/event-stream) and gives its data: the `data:` lines
// joined with `\n`, NUL-terminated, living until the next read. Comments, `event:`, `id:` and
// events without data are skipped. False at the end of the body (error->kind == HTTP_OK) or on
// failure.
bool http_read_event(http_response *response, const char **data, size_t *len, http_error *error);

// Drops the response and everything it holds, read to its end or not. NULL is allowed.
void http_close(http_response *response);

// The kind's name, as the Rust SDK spells it ("Denied", "Timeout", ...).
const char *http_error_kind_name(http_error_kind kind);

#endif
