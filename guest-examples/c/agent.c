// The example agent in C: the same requests as guest-examples/agent (Rust), python/ and js/.
//
//   {"echo": X}                         -> {"echo": X, "context": {request_id, session_id, headers}}
//   {"fail": {"status": S, "message": M}} -> failure S with message M
//   {"raise": M}                        -> failure 500 with message M
//   {"prompt": P, "stream": true}       -> one {"token": w} event per word of "You said: P"
//   {"prompt": P}                       -> {"reply": "You said: P", "session_id", "request_id"}
//
// Build it with ./build.sh. The bindings in bindings/ are generated from wit/ (`make
// c-bindings`); an export owns its arguments and frees them, and what it returns is freed by
// the bindings after the host has copied it.

#include <stdlib.h>
#include <string.h>

#include "bindings/handler.h"
#include "json.h"

// Hands `text` (malloc'd) to the host as a string.
static handler_string_t take_string(char *text, size_t len) {
    return (handler_string_t){(uint8_t *)text, len};
}

static bool fail(handler_failure_t *err, uint16_t status, const char *message,
                 const char *error_type) {
    err->status = status;
    handler_string_dup(&err->message, message);
    err->error_type.is_some = error_type != NULL;
    if (error_type) handler_string_dup(&err->error_type.val, error_type);
    return false;
}

static void append_string(json_buf *out, const handler_string_t *text) {
    json_buf_string(out, (const char *)text->ptr, text->len);
}

static bool echo(json_slice value, handler_context_t *context, handler_option_string_t *ret) {
    json_buf out = {0};
    json_buf_text(&out, "{\"echo\": ");
    json_buf_bytes(&out, value.ptr, value.len);
    json_buf_text(&out, ", \"context\": {\"request_id\": ");
    append_string(&out, &context->request_id);
    json_buf_text(&out, ", \"session_id\": ");
    if (context->session_id.is_some) append_string(&out, &context->session_id.val);
    else json_buf_text(&out, "null");
    json_buf_text(&out, ", \"headers\": [");
    for (size_t i = 0; i < context->headers.len; i++) {
        json_buf_text(&out, i ? ", [" : "[");
        append_string(&out, &context->headers.ptr[i].f0);
        json_buf_text(&out, ", ");
        append_string(&out, &context->headers.ptr[i].f1);
        json_buf_text(&out, "]");
    }
    json_buf_text(&out, "]}}");
    ret->is_some = true;
    ret->val = take_string(out.data, out.len);
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Streams one {"token": w} event per whitespace-separated word of `text`.
static bool stream_words(const char *text, size_t len, handler_failure_t *err) {
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(text[i])) i++;
        size_t start = i;
        while (i < len && !is_space(text[i])) i++;
        if (i == start) break;
        json_buf event = {0};
        json_buf_text(&event, "{\"token\": ");
        json_buf_string(&event, text + start, i - start);
        json_buf_text(&event, "}");
        handler_string_t data = take_string(event.data, event.len);
        wasm_agent_handler_host_emit_error_t closed;
        bool sent = wasm_agent_handler_host_emit(&data, &closed);
        free(event.data);
        // The caller has gone: stop producing. The status only labels the log line.
        if (!sent) return fail(err, 499, "the caller has gone away", "Closed");
    }
    return true;
}

static bool prompt(json_slice payload, json_slice value, handler_context_t *context,
                   handler_option_string_t *ret, handler_failure_t *err) {
    char *text;
    size_t len;
    if (!json_string(value, &text, &len)) {
        free(text);
        return fail(err, 400, "the prompt is not a string", "ValidationError");
    }
    size_t start = 0, end = len;
    while (start < end && is_space(text[start])) start++;
    while (end > start && is_space(text[end - 1])) end--;
    if (start == end) {
        free(text);
        return fail(err, 400, "the prompt is empty", "ValidationError");
    }
    json_buf answer = {0};
    json_buf_text(&answer, "You said: ");
    json_buf_bytes(&answer, text + start, end - start);
    free(text);
    json_slice stream;
    bool ok;
    if (json_get(payload, "stream", &stream) && json_is_true(stream)) {
        ok = stream_words(answer.data, answer.len, err);
        ret->is_some = false;
    } else {
        json_buf out = {0};
        json_buf_text(&out, "{\"reply\": ");
        json_buf_string(&out, answer.data, answer.len);
        json_buf_text(&out, ", \"session_id\": ");
        if (context->session_id.is_some) append_string(&out, &context->session_id.val);
        else json_buf_text(&out, "null");
        json_buf_text(&out, ", \"request_id\": ");
        append_string(&out, &context->request_id);
        json_buf_text(&out, "}");
        ret->is_some = true;
        ret->val = take_string(out.data, out.len);
        ok = true;
    }
    free(answer.data);
    return ok;
}

static bool handle(json_slice payload, handler_context_t *context, handler_option_string_t *ret,
                   handler_failure_t *err) {
    json_slice value;
    if (json_get(payload, "echo", &value)) return echo(value, context, ret);
    if (json_get(payload, "fail", &value)) {
        json_slice status, message;
        long code = 500;
        char *text = NULL;
        size_t len = 0;
        if (json_get(value, "status", &status)) json_int(status, &code);
        if (json_get(value, "message", &message)) json_string(message, &text, &len);
        err->status = (uint16_t)code;
        err->message = take_string(text ? text : strdup(""), len);
        err->error_type.is_some = false;
        return false;
    }
    if (json_get(payload, "raise", &value)) {
        char *text;
        size_t len;
        json_string(value, &text, &len);
        err->status = 500;
        err->message = take_string(text ? text : strdup(""), len);
        err->error_type.is_some = true;
        handler_string_dup(&err->error_type.val, "Error");
        return false;
    }
    if (json_get(payload, "prompt", &value)) return prompt(payload, value, context, ret, err);
    return fail(err, 400, "unknown request", NULL);
}

bool exports_handler_invoke(handler_string_t *payload, handler_context_t *context,
                            handler_option_string_t *ret, handler_failure_t *err) {
    json_slice text = {(const char *)payload->ptr, payload->len};
    bool ok = json_is_object(text) ? handle(text, context, ret, err)
                                   : fail(err, 400, "unknown request", NULL);
    handler_string_free(payload);
    handler_context_free(context);
    return ok;
}
