// Just enough JSON for a handler: find a key in an object or an item in an array, read a string
// or an integer, and write JSON strings. Values are located by scanning, never parsed into a
// tree: an `echo` is sent back as written. The host has checked that a payload is one JSON
// document; other text (a model's events) is scanned all the same, never past its end, and
// what is not JSON just is not found.
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
// Item `index` (from 0) of `array` (an array's text), as written; false if there is none.
bool json_index(json_slice array, size_t index, json_slice *value);
// Whether `value` is an object.
bool json_is_object(json_slice value);
// Whether `value` is the literal `true`.
bool json_is_true(json_slice value);
// Decodes a JSON string into malloc'd UTF-8 (escapes resolved, bytes that are not UTF-8
// replaced by U+FFFD, not NUL-terminated).
bool json_string(json_slice value, char **out, size_t *out_len);
// Reads an integer.
bool json_int(json_slice value, long *out);

void json_buf_bytes(json_buf *buf, const char *bytes, size_t len);
void json_buf_text(json_buf *buf, const char *text);
// Appends `bytes` as text, each byte that is not part of well-formed UTF-8 replaced by U+FFFD.
void json_buf_utf8(json_buf *buf, const char *bytes, size_t len);
// Appends `bytes` as a JSON string, quoted and escaped.
void json_buf_string(json_buf *buf, const char *bytes, size_t len);

#endif
