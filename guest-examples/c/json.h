// Just enough JSON for a handler: find a key in an object, read a string or an integer, and
// write JSON strings. The host has already checked that the payload is one JSON document, so
// values are located by scanning, never parsed into a tree: an `echo` is sent back as written.
#ifndef WASM_AGENT_JSON_H
#define WASM_AGENT_JSON_H

#include <stdbool.h>
#include <stddef.h>

// A piece of the payload's text.
typedef struct {
    const char *ptr;
    size_t len;
} json_slice;

// A growable byte buffer; `data` is malloc'd, so it can be handed to the host as a result.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} json_buf;

// The value of `key` in `object` (an object's text), as written; false if absent.
bool json_get(json_slice object, const char *key, json_slice *value);
// Whether `value` is an object.
bool json_is_object(json_slice value);
// Whether `value` is the literal `true`.
bool json_is_true(json_slice value);
// Decodes a JSON string into malloc'd UTF-8 (escapes resolved, not NUL-terminated).
bool json_string(json_slice value, char **out, size_t *out_len);
// Reads an integer.
bool json_int(json_slice value, long *out);

void json_buf_bytes(json_buf *buf, const char *bytes, size_t len);
void json_buf_text(json_buf *buf, const char *text);
// Appends `bytes` as a JSON string, quoted and escaped.
void json_buf_string(json_buf *buf, const char *bytes, size_t len);

#endif
