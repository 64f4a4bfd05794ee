// A wasm-agent handler in C. bindings/ is generated from wit/ (wit-bindgen's C bindings); an
// export owns its arguments and frees them.

#include <stdlib.h>
#include <string.h>

#include "bindings/handler.h"
#include "json.h"

bool exports_handler_invoke(handler_string_t *payload, handler_context_t *context,
                            handler_option_string_t *ret, handler_failure_t *err) {
    json_slice text = {(const char *)payload->ptr, payload->len}, prompt;
    char *words = NULL;
    size_t len = 0;
    bool ok = json_get(text, "prompt", &prompt) && json_string(prompt, &words, &len) && len > 0;
    if (ok) {
        json_buf answer = {0}, out = {0};
        json_buf_text(&answer, "You said: ");
        json_buf_bytes(&answer, words, len);
        json_buf_text(&out, "{\"reply\": ");
        json_buf_string(&out, answer.data, answer.len);
        json_buf_text(&out, "}");
        free(answer.data);
        ret->is_some = true;
        ret->val = (handler_string_t){(uint8_t *)out.data, out.len};
    } else {
        err->status = 400;
        handler_string_dup(&err->message, "the prompt is empty");
        err->error_type.is_some = false;
    }
    free(words);
    handler_string_free(payload);
    handler_context_free(context);
    return ok;
}
