// The example agent in C: the same requests as guest-examples/agent (Rust), python/ and js/.
//
//   {"echo": X}                         -> {"echo": X, "context": {request_id, session_id, headers}}
//   {"fail": {"status": S, "message": M}} -> failure S with message M
//   {"raise": M}                        -> failure 500 with message M
//   {"prompt": P, "stream": true}       -> one {"token": w} event per word of "You said: P"
//   {"prompt": P}                       -> {"reply": "You said: P", "session_id", "request_id"}
//   {"ask": P, "endpoint"?: URL}        -> asks the model at MODEL_ENDPOINT (or URL) for MODEL_ID:
//                                          one {"token": t} event per token as it arrives, then
//                                          {"reply": "...", "model": MODEL_ID}
//
// Build it with ./build.sh (README.md). The bindings in bindings/ are generated from wit/'s
// `outbound-handler` world (`make c-bindings`); an export owns its arguments and frees them, and
// what it returns is freed by the bindings after the host has copied it.

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/outbound_handler.h"
#include "http.h"
#include "json.h"

// Hands `text` (malloc'd) to the host as a string.
static outbound_handler_string_t take_string(char *text, size_t len) {
    return (outbound_handler_string_t){(uint8_t *)text, len};
}

static bool fail(outbound_handler_failure_t *err, uint16_t status, const char *message,
                 const char *error_type) {
    err->status = status;
    outbound_handler_string_dup(&err->message, message);
    err->error_type.is_some = error_type != NULL;
    if (error_type) outbound_handler_string_dup(&err->error_type.val, error_type);
    return false;
}

static void append_string(json_buf *out, const outbound_handler_string_t *text) {
    json_buf_string(out, (const char *)text->ptr, text->len);
}

static bool echo(json_slice value, outbound_handler_context_t *context,
                 outbound_handler_option_string_t *ret) {
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

// Sends the event {"token": text} to the caller at once.
static bool emit_token(const char *text, size_t len, outbound_handler_failure_t *err) {
    json_buf event = {0};
    json_buf_text(&event, "{\"token\": ");
    json_buf_string(&event, text, len);
    json_buf_text(&event, "}");
    outbound_handler_string_t data = take_string(event.data, event.len);
    wasm_agent_handler_host_emit_error_t closed;
    bool sent = wasm_agent_handler_host_emit(&data, &closed);
    free(event.data);
    // The caller has gone: stop producing. The status only labels the log line.
    return sent || fail(err, 499, "the caller has gone away", "Closed");
}

// Streams one {"token": w} event per whitespace-separated word of `text`.
static bool stream_words(const char *text, size_t len, outbound_handler_failure_t *err) {
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(text[i])) i++;
        size_t start = i;
        while (i < len && !is_space(text[i])) i++;
        if (i == start) break;
        if (!emit_token(text + start, i - start, err)) return false;
    }
    return true;
}

// Decodes the prompt in `value` into `*text` (malloc'd): a string with more than blanks in it.
static bool read_prompt(json_slice value, char **text, size_t *len,
                        outbound_handler_failure_t *err) {
    const char *problem = NULL;
    if (!json_string(value, text, len)) problem = "the prompt is not a string";
    size_t i = 0;
    while (!problem && i < *len && is_space((*text)[i])) i++;
    if (!problem && i == *len) problem = "the prompt is empty";
    if (!problem) return true;
    free(*text);
    *text = NULL;
    return fail(err, 400, problem, "ValidationError");
}

static bool prompt(json_slice payload, json_slice value, outbound_handler_context_t *context,
                   outbound_handler_option_string_t *ret, outbound_handler_failure_t *err) {
    char *text;
    size_t len;
    if (!read_prompt(value, &text, &len, err)) return false;
    size_t start = 0, end = len;
    while (start < end && is_space(text[start])) start++;
    while (end > start && is_space(text[end - 1])) end--;
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

// ---- The model mode: {"ask": P} asks an OpenAI-compatible endpoint for a streamed chat
// completion and relays each token as an event as it arrives. The guest holds no credentials
// and reaches only what the operator allows: it grants MODEL_ENDPOINT and MODEL_ID (`--env`),
// allows the endpoint (`--allow-outbound`), and may have the host attach the key
// (`--outbound-auth`).

// Connecting takes milliseconds; longer means the endpoint is down.
#define MODEL_CONNECT_TIMEOUT_MS 10000
// A model may think a while before its first token, but a stream that stalls this long mid-way
// has failed.
#define MODEL_BETWEEN_BYTES_TIMEOUT_MS 60000
// How much of a refusal's body a failure quotes: enough for the model's own error message.
#define MODEL_QUOTE_BYTES 200

// A 502 with `message` (freed here): the model, not this agent, failed.
static bool bad_gateway(outbound_handler_failure_t *err, json_buf *message) {
    json_buf_bytes(message, "", 1);
    fail(err, 502, message->data, "ModelError");
    free(message->data);
    return false;
}

// `{endpoint}/chat/completions`, NUL-terminated, the endpoint from the payload or else from
// MODEL_ENDPOINT.
static bool model_url(json_slice payload, json_buf *url, outbound_handler_failure_t *err) {
    json_slice value;
    char *given = NULL;
    size_t len = 0;
    const char *granted = getenv("MODEL_ENDPOINT");
    if (json_get(payload, "endpoint", &value) && json_string(value, &given, &len) && len > 0)
        json_buf_bytes(url, given, len);
    else if (granted)
        json_buf_text(url, granted);
    free(given);
    if (url->len == 0)
        return fail(err, 500,
                    "no model endpoint: grant MODEL_ENDPOINT "
                    "(wasm-agent serve --env MODEL_ENDPOINT=...)",
                    NULL);
    while (url->len > 0 && url->data[url->len - 1] == '/') url->len--;
    json_buf_text(url, "/chat/completions");
    json_buf_bytes(url, "", 1);
    return true;
}

// The status and the start of the body of a model's refusal.
static bool refused(http_response *response, outbound_handler_failure_t *err) {
    char start[MODEL_QUOTE_BYTES];
    size_t len = 0;
    long got;
    http_error error;
    while (len < sizeof start && (got = http_read(response, start + len, sizeof start - len,
                                                  &error)) > 0)
        len += (size_t)got;
    char head[48];
    snprintf(head, sizeof head, "the model answered %u: ", (unsigned)http_status(response));
    json_buf message = {0};
    json_buf_text(&message, head);
    json_buf_utf8(&message, start, len);
    return bad_gateway(err, &message);
}

// One streamed chunk: its token, if it has one, goes to the caller at once and onto `reply`.
static bool relay_chunk(json_slice chunk, json_buf *reply, outbound_handler_failure_t *err) {
    json_buf message = {0};
    json_slice value, first, delta, content;
    if (!json_is_object(chunk)) {
        json_buf_text(&message, "the model sent an event that is not JSON");
        return bad_gateway(err, &message);
    }
    if (json_get(chunk, "error", &value)) {
        json_buf_text(&message, "the model failed mid-stream: ");
        json_buf_utf8(&message, value.ptr, value.len);
        return bad_gateway(err, &message);
    }
    char *token = NULL;
    size_t len = 0;
    bool has_text = json_get(chunk, "choices", &value) && json_index(value, 0, &first) &&
                    json_get(first, "delta", &delta) && json_get(delta, "content", &content) &&
                    json_string(content, &token, &len);
    bool ok = !has_text || len == 0 || emit_token(token, len, err);
    if (has_text) json_buf_bytes(reply, token, len);
    free(token);
    return ok;
}

// Relays the events of a streamed completion until `[DONE]`, and answers with the whole reply.
static bool relay(http_response *response, const char *model, outbound_handler_option_string_t *ret,
                  outbound_handler_failure_t *err) {
    json_buf reply = {0};
    http_error error;
    const char *data;
    size_t len;
    bool ok = true;
    while (ok && http_read_event(response, &data, &len, &error) && strcmp(data, "[DONE]") != 0)
        ok = relay_chunk((json_slice){data, len}, &reply, err);
    if (ok && error.kind != HTTP_OK) ok = fail(err, 502, error.message, "HttpError");
    if (ok) {
        json_buf out = {0};
        json_buf_text(&out, "{\"reply\":");
        json_buf_string(&out, reply.data, reply.len);
        json_buf_text(&out, ",\"model\":");
        json_buf_string(&out, model, strlen(model));
        json_buf_text(&out, "}");
        ret->is_some = true;
        ret->val = take_string(out.data, out.len);
    }
    free(reply.data);
    return ok;
}

static bool ask_model(const char *url, const char *model, const char *prompt, size_t prompt_len,
                      outbound_handler_option_string_t *ret, outbound_handler_failure_t *err) {
    json_buf body = {0};
    json_buf_text(&body, "{\"model\":");
    json_buf_string(&body, model, strlen(model));
    json_buf_text(&body, ",\"messages\":[{\"role\":\"user\",\"content\":");
    json_buf_string(&body, prompt, prompt_len);
    json_buf_text(&body, "}],\"stream\":true}");
    const http_header headers[] = {
        {"content-type", "application/json"},
        {"accept", "text/event-stream"},
        // The guest never holds the API key: the host attaches the real one for this
        // destination (`--outbound-auth`), replacing this placeholder.
        {"authorization", "Bearer placeholder-the-host-replaces"},
    };
    http_request request = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .header_count = sizeof headers / sizeof *headers,
        .body = body.data,
        .body_len = body.len,
        .connect_timeout_ms = MODEL_CONNECT_TIMEOUT_MS,
        .between_bytes_timeout_ms = MODEL_BETWEEN_BYTES_TIMEOUT_MS,
    };
    http_error error;
    http_response *response = http_send(&request, &error);
    free(body.data);
    if (!response) return fail(err, 502, error.message, "HttpError");
    bool ok = http_status(response) / 100 == 2 ? relay(response, model, ret, err)
                                               : refused(response, err);
    // Also when the model has more to send after `[DONE]`: the body is dropped unread.
    http_close(response);
    return ok;
}

static bool ask(json_slice payload, json_slice value, outbound_handler_option_string_t *ret,
                outbound_handler_failure_t *err) {
    char *text;
    size_t len;
    if (!read_prompt(value, &text, &len, err)) return false;
    json_buf url = {0};
    const char *model = getenv("MODEL_ID");
    bool ok = model_url(payload, &url, err);
    if (ok && (!model || !*model))
        ok = fail(err, 500, "no model id: grant MODEL_ID (wasm-agent serve --env MODEL_ID=...)",
                  NULL);
    ok = ok && ask_model(url.data, model, text, len, ret, err);
    free(url.data);
    free(text);
    return ok;
}

static bool handle(json_slice payload, outbound_handler_context_t *context,
                   outbound_handler_option_string_t *ret, outbound_handler_failure_t *err) {
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
        outbound_handler_string_dup(&err->error_type.val, "Error");
        return false;
    }
    if (json_get(payload, "prompt", &value)) return prompt(payload, value, context, ret, err);
    if (json_get(payload, "ask", &value)) return ask(payload, value, ret, err);
    return fail(err, 400, "unknown request", NULL);
}

bool exports_outbound_handler_invoke(outbound_handler_string_t *payload,
                                     outbound_handler_context_t *context,
                                     outbound_handler_option_string_t *ret,
                                     outbound_handler_failure_t *err) {
    json_slice text = {(const char *)payload->ptr, payload->len};
    bool ok = json_is_object(text) ? handle(text, context, ret, err)
                                   : fail(err, 400, "unknown request", NULL);
    outbound_handler_string_free(payload);
    outbound_handler_context_free(context);
    return ok;
}
