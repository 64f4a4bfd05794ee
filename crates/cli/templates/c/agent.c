// A wasm-agent handler in C. bindings/ holds wit-bindgen's C bindings of the `outbound-handler`
// world in wit/ (the handler world plus wasi:http); an export owns its arguments and frees them.

#include <stdio.h>
#include <stdlib.h>

#include "bindings/outbound_handler.h"
#include "http.h"
#include "json.h"

// How much of a fetched body the reply quotes.
#define QUOTE_BYTES 200

static bool fail(outbound_handler_failure_t *err, uint16_t status, const char *message) {
    err->status = status;
    outbound_handler_string_dup(&err->message, message);
    err->error_type.is_some = false;
    return false;
}

// Hands `out` (malloc'd) to the host as the result.
static bool answer(json_buf *out, outbound_handler_option_string_t *ret) {
    ret->is_some = true;
    ret->val = (outbound_handler_string_t){(uint8_t *)out->data, out->len};
    return true;
}

// An outbound call: the host sends it only to destinations its operator allows
// (`wasm-agent serve --allow-outbound https://example.com`) and refuses any other with a clear
// error, answered here as a 502.
static bool fetch(json_slice value, outbound_handler_option_string_t *ret,
                  outbound_handler_failure_t *err) {
    char *text = NULL;
    size_t len = 0;
    json_buf url = {0};
    bool is_text = json_string(value, &text, &len);
    if (is_text) json_buf_bytes(&url, text ? text : "", len);
    json_buf_bytes(&url, "", 1);
    free(text);
    http_request request = {.method = "GET", .url = url.data};
    http_error error;
    http_response *response = is_text ? http_send(&request, &error) : NULL;
    free(url.data);
    if (!is_text) return fail(err, 400, "the url is not a string");
    if (!response) return fail(err, 502, error.message);
    char body[QUOTE_BYTES];
    size_t got = 0;
    long n = 0;
    while (got < sizeof body &&
           (n = http_read(response, body + got, sizeof body - got, &error)) > 0)
        got += (size_t)n;
    unsigned status = http_status(response);
    // Closing drops whatever of the body is left unread.
    http_close(response);
    if (n < 0) return fail(err, 502, error.message);
    json_buf quoted = {0}, out = {0};
    json_buf_utf8(&quoted, body, got);
    char head[32];
    snprintf(head, sizeof head, "{\"status\": %u, \"body\": ", status);
    json_buf_text(&out, head);
    json_buf_string(&out, quoted.data, quoted.len);
    json_buf_text(&out, "}");
    free(quoted.data);
    return answer(&out, ret);
}

static bool reply(json_slice payload, outbound_handler_option_string_t *ret,
                  outbound_handler_failure_t *err) {
    json_slice prompt;
    char *words = NULL;
    size_t len = 0;
    bool ok = json_get(payload, "prompt", &prompt) && json_string(prompt, &words, &len) && len > 0;
    if (ok) {
        json_buf text = {0}, out = {0};
        json_buf_text(&text, "You said: ");
        json_buf_bytes(&text, words, len);
        json_buf_text(&out, "{\"reply\": ");
        json_buf_string(&out, text.data, text.len);
        json_buf_text(&out, "}");
        free(text.data);
        answer(&out, ret);
    }
    free(words);
    return ok || fail(err, 400, "the prompt is empty");
}

bool exports_outbound_handler_invoke(outbound_handler_string_t *payload,
                                     outbound_handler_context_t *context,
                                     outbound_handler_option_string_t *ret,
                                     outbound_handler_failure_t *err) {
    json_slice text = {(const char *)payload->ptr, payload->len}, url;
    bool ok = json_get(text, "url", &url) ? fetch(url, ret, err) : reply(text, ret, err);
    outbound_handler_string_free(payload);
    outbound_handler_context_free(context);
    return ok;
}
