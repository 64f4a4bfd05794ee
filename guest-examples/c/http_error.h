// How http.c fills in an http_error: its own failures, and wasi:http's error codes (and the
// host's error texts) sorted into kinds and worded as the Rust SDK words them. Private to the
// HTTP helper: a handler includes http.h, not this.
#ifndef WASM_AGENT_HTTP_ERROR_H
#define WASM_AGENT_HTTP_ERROR_H

#include <stdbool.h>

#include "bindings/outbound_handler.h"
#include "http.h"

// Fills in `error` with `kind` and the formatted message (cut to fit); returns false, so that a
// failing step can `return http_fail(...)`.
__attribute__((format(printf, 3, 4))) bool http_fail(http_error *error, http_error_kind kind,
                                                     const char *format, ...);

// Fills in `error` from a wasi:http error code for a request to `origin` (scheme://host:port).
// `code` stays the caller's to free.
void http_code_error(http_error *error, const wasi_http_types_error_code_t *code,
                     const char *origin);

// Classifies a failed read of the body, and drops the wasi:io error it came with.
void http_stream_error(wasi_io_error_own_error_t failure, const char *origin, http_error *error);

#endif
