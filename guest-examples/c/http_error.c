// The HTTP helper's errors: wasi:http error codes (and the host's error texts) sorted into kinds,
// worded as the Rust SDK words them. Apart from http.c, which reaches it through http_error.h,
// so that the client's lifecycle reads without the table of every way a request can fail.
#include "http_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool http_fail(http_error *error, http_error_kind kind, const char *format, ...) {
    va_list args;
    va_start(args, format);
    error->kind = kind;
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
    return false;
}

#define CLOSED_EARLY "the connection to %s closed before the response was complete"
#define TLS_FAILED "the TLS handshake with %s failed (%s)"
#define INVALID_CODE "the request to %s is invalid (%s)"
#define PROTOCOL_CODE "HTTP protocol error talking to %s (%s)"

// In the order of wasi:http's `error-code` cases, so that a case's tag indexes it. A format
// takes the origin, then the case's name.
static const struct {
    const char *name;
    http_error_kind kind;
    const char *format;
} codes[] = {
    {"DnsTimeout", HTTP_TIMEOUT, "the request to %s timed out resolving its name"},
    {"DnsError", HTTP_CONNECTION, "could not resolve the host of %s"},
    {"DestinationNotFound", HTTP_CONNECTION, "could not reach %s"},
    {"DestinationUnavailable", HTTP_CONNECTION, "could not reach %s"},
    {"DestinationIpProhibited", HTTP_DENIED,
     "the host denied the request to %s: its name resolves to an address (loopback, private or "
     "link-local) that no rule names"},
    {"DestinationIpUnroutable", HTTP_CONNECTION, "could not reach %s: its address is unroutable"},
    {"ConnectionRefused", HTTP_CONNECTION, "%s refused the connection"},
    {"ConnectionTerminated", HTTP_CONNECTION, CLOSED_EARLY},
    {"ConnectionTimeout", HTTP_TIMEOUT, "the request to %s timed out connecting"},
    {"ConnectionReadTimeout", HTTP_TIMEOUT,
     "the request to %s timed out waiting for more of the response"},
    {"ConnectionWriteTimeout", HTTP_TIMEOUT, "the request to %s timed out sending the request"},
    {"ConnectionLimitReached", HTTP_LIMIT,
     "the host refused the request to %s: this invocation made, or this handler has in flight, "
     "as many outbound requests as it may"},
    {"TlsProtocolError", HTTP_CONNECTION, TLS_FAILED},
    {"TlsCertificateError", HTTP_CONNECTION, TLS_FAILED},
    {"TlsAlertReceived", HTTP_CONNECTION, TLS_FAILED},
    {"HttpRequestDenied", HTTP_DENIED,
     "the host denied the request to %s (no --allow-outbound rule allows it)"},
    {"HttpRequestLengthRequired", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestBodySize", HTTP_TOO_LARGE, "the request body to %s is larger than allowed"},
    {"HttpRequestMethodInvalid", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestUriInvalid", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestUriTooLong", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestHeaderSectionSize", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestHeaderSize", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestTrailerSectionSize", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpRequestTrailerSize", HTTP_INVALID_REQUEST, INVALID_CODE},
    {"HttpResponseIncomplete", HTTP_CONNECTION, CLOSED_EARLY},
    {"HttpResponseHeaderSectionSize", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseHeaderSize", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseBodySize", HTTP_TOO_LARGE, "the response from %s is larger than the host allows"},
    {"HttpResponseTrailerSectionSize", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseTrailerSize", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseTransferCoding", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseContentCoding", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpResponseTimeout", HTTP_TIMEOUT,
     "the request to %s timed out waiting for the response to start"},
    {"HttpUpgradeFailed", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"HttpProtocolError", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"LoopDetected", HTTP_PROTOCOL, PROTOCOL_CODE},
    {"ConfigurationError", HTTP_OTHER, "the host failed the request to %s (%s)"},
    {"InternalError", HTTP_OTHER, "the host failed the request to %s"},
};

void http_code_error(http_error *error, const wasi_http_types_error_code_t *code,
                     const char *origin) {
    uint8_t tag = code->tag < sizeof codes / sizeof *codes
                      ? code->tag
                      : WASI_HTTP_TYPES_ERROR_CODE_HTTP_PROTOCOL_ERROR;
    http_fail(error, codes[tag].kind, codes[tag].format, origin, codes[tag].name);
    // What the case carries goes after the message.
    size_t used = strlen(error->message);
    char *rest = error->message + used;
    size_t room = sizeof error->message - used;
    outbound_handler_option_string_t text = {0};
    outbound_handler_option_u64_t limit = {0};
    if (tag == WASI_HTTP_TYPES_ERROR_CODE_DNS_ERROR) text = code->val.dns_error.rcode;
    if (tag == WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_BODY_SIZE)
        limit = code->val.http_request_body_size;
    if (tag == WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_BODY_SIZE)
        limit = code->val.http_response_body_size;
    if (text.is_some) snprintf(rest, room, " (%.*s)", (int)text.val.len, (char *)text.val.ptr);
    if (limit.is_some) snprintf(rest, room, " (%llu bytes)", (unsigned long long)limit.val);
    if (tag == WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR) {
        text = code->val.internal_error;
        if (text.is_some) snprintf(rest, room, ": %.*s", (int)text.val.len, (char *)text.val.ptr);
        else snprintf(rest, room, " (InternalError)");
    }
}

// wasmtime 48 puts its own error, not an error-code, in a failed body stream, so
// `http-error-code` finds none for the limits and timeouts a handler most needs to tell apart;
// they are recovered from the error's text (wasmtime-wasi-http's wording).
static bool code_from_text(const char *text, wasi_http_types_error_code_t *code) {
    static const struct {
        const char *head;
        uint8_t tag;
    } known[] = {
        {"HTTP response body size exceeds limit",
         WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_BODY_SIZE},
        {"connection read timeout", WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_READ_TIMEOUT},
        {"connection terminated", WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_TERMINATED},
        {"incomplete HTTP response", WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_INCOMPLETE},
        {"HTTP protocol error", WASI_HTTP_TYPES_ERROR_CODE_HTTP_PROTOCOL_ERROR},
    };
    // The first line, up to ": " and a detail.
    size_t head = strcspn(text, "\n");
    const char *detail = strstr(text, ": ");
    if (detail && (size_t)(detail - text) < head) head = (size_t)(detail - text);
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        if (strlen(known[i].head) != head || strncmp(known[i].head, text, head) != 0) continue;
        memset(code, 0, sizeof *code);
        code->tag = known[i].tag;
        // "...: 1048576 bytes": the host's limit.
        char *end = NULL;
        unsigned long long limit = text[head] == ':' ? strtoull(text + head + 2, &end, 10) : 0;
        if (limit > 0 && strncmp(end, " bytes", 6) == 0)
            code->val.http_response_body_size = (outbound_handler_option_u64_t){true, limit};
        return true;
    }
    return false;
}

void http_stream_error(wasi_io_error_own_error_t failure, const char *origin, http_error *error) {
    wasi_io_error_borrow_error_t borrowed = wasi_io_error_borrow_error(failure);
    wasi_http_types_error_code_t code;
    if (wasi_http_types_http_error_code(borrowed, &code)) {
        http_code_error(error, &code, origin);
        wasi_http_types_error_code_free(&code);
    } else {
        outbound_handler_string_t debug;
        wasi_io_error_method_error_to_debug_string(borrowed, &debug);
        char *text = strndup((const char *)debug.ptr, debug.len);
        if (!text) abort();
        outbound_handler_string_free(&debug);
        if (code_from_text(text, &code)) http_code_error(error, &code, origin);
        else http_fail(error, HTTP_CONNECTION, "reading the response from %s failed: %.*s",
                       origin, (int)strcspn(text, "\n"), text);
        free(text);
    }
    wasi_io_error_error_drop_own(failure);
}

// Declared in http.h, for handlers; here beside the rest of the kinds' wording.
const char *http_error_kind_name(http_error_kind kind) {
    static const char *const names[] = {"Ok",       "Denied",     "Timeout",
                                        "Limit",    "TooLarge",   "Connection",
                                        "Protocol", "InvalidRequest", "Other"};
    return kind <= HTTP_OTHER ? names[kind] : "Other";
}
