#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

// Past the string that starts at `p` (an opening quote).
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return end;
}

// Past the value that starts at `p`.
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return end;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p;
}

static json_slice trimmed(json_slice value) {
    const char *p = skip_space(value.ptr, value.ptr + value.len);
    const char *end = value.ptr + value.len;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        end--;
    return (json_slice){p, (size_t)(end - p)};
}

bool json_is_object(json_slice value) {
    value = trimmed(value);
    return value.len > 0 && value.ptr[0] == '{';
}

bool json_is_true(json_slice value) {
    value = trimmed(value);
    return value.len == 4 && memcmp(value.ptr, "true", 4) == 0;
}

bool json_get(json_slice object, const char *key, json_slice *value) {
    object = trimmed(object);
    const char *p = object.ptr, *end = object.ptr + object.len;
    if (p >= end || *p != '{') return false;
    p++;
    size_t key_len = strlen(key);
    while (true) {
        p = skip_space(p, end);
        if (p >= end || *p != '"') return false;
        const char *name_end = skip_string(p, end);
        char *name;
        size_t name_len;
        bool same = json_string((json_slice){p, (size_t)(name_end - p)}, &name, &name_len) &&
                    name_len == key_len && memcmp(name, key, key_len) == 0;
        free(name);
        p = skip_space(name_end, end);
        if (p >= end || *p != ':') return false;
        p = skip_space(p + 1, end);
        const char *value_end = skip_value(p, end);
        if (same) {
            *value = (json_slice){p, (size_t)(value_end - p)};
            return true;
        }
        p = skip_space(value_end, end);
        if (p >= end || *p != ',') return false;
        p++;
    }
}

bool json_index(json_slice array, size_t index, json_slice *value) {
    array = trimmed(array);
    const char *p = array.ptr, *end = array.ptr + array.len;
    if (p >= end || *p != '[') return false;
    p = skip_space(p + 1, end);
    if (p >= end || *p == ']') return false;
    for (size_t i = 0;; i++) {
        const char *value_end = skip_value(p, end);
        if (i == index) {
            *value = (json_slice){p, (size_t)(value_end - p)};
            return value_end > p;
        }
        p = skip_space(value_end, end);
        if (p >= end || *p != ',') return false;
        p = skip_space(p + 1, end);
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(const char **p, const char *end, uint32_t *out) {
    if (end - *p < 4) return false;
    uint32_t value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit((*p)[i]);
        if (digit < 0) return false;
        value = value << 4 | (uint32_t)digit;
    }
    *p += 4;
    *out = value;
    return true;
}

// The length of the well-formed UTF-8 sequence at `p`, or 0 if there is none: the host
// refuses strings that are not UTF-8, and a model's bytes are not checked before they get here.
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
    size_t n;
    uint32_t min;
    if (*p < 0x80) return 1;
    if ((*p & 0xE0) == 0xC0) n = 2, min = 0x80;
    else if ((*p & 0xF0) == 0xE0) n = 3, min = 0x800;
    else if ((*p & 0xF8) == 0xF0) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    uint32_t code = *p & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        code = code << 6 | (p[i] & 0x3F);
    }
    bool valid = code >= min && code <= 0x10FFFF && !(code >= 0xD800 && code < 0xE000);
    return valid ? n : 0;
}

static void put_utf8(json_buf *buf, uint32_t code) {
    char bytes[4];
    size_t n;
    if (code < 0x80) {
        bytes[0] = (char)code;
        n = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xC0 | code >> 6);
        bytes[1] = (char)(0x80 | (code & 0x3F));
        n = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xE0 | code >> 12);
        bytes[1] = (char)(0x80 | (code >> 6 & 0x3F));
        bytes[2] = (char)(0x80 | (code & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | code >> 18);
        bytes[1] = (char)(0x80 | (code >> 12 & 0x3F));
        bytes[2] = (char)(0x80 | (code >> 6 & 0x3F));
        bytes[3] = (char)(0x80 | (code & 0x3F));
        n = 4;
    }
    json_buf_bytes(buf, bytes, n);
}

bool json_string(json_slice value, char **out, size_t *out_len) {
    value = trimmed(value);
    json_buf buf = {0};
    *out = NULL;
    *out_len = 0;
    const char *p = value.ptr, *end = value.ptr + value.len;
    if (p >= end || *p != '"') return false;
    bool closed = false;
    for (p++; p < end; p++) {
        if (*p == '"') {
            closed = true;
            break;
        }
        if (*p != '\\') {
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\') p++;
            json_buf_utf8(&buf, run, (size_t)(p - run));
            p--;
            continue;
        }
        if (++p >= end) break;
        char c = *p;
        static const char escapes[] = "\"\\/bfnrt";
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        const char *simple = c ? strchr(escapes, c) : NULL;
        if (simple) {
            json_buf_bytes(&buf, &decoded[simple - escapes], 1);
            continue;
        }
        if (c != 'u') break;
        p++;
        uint32_t code;
        if (!read_hex4(&p, end, &code)) break;
        // A high surrogate followed by `\uDC00`-`\uDFFF` is one code point.
        if (code >= 0xD800 && code < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
            const char *q = p + 2;
            uint32_t low;
            if (read_hex4(&q, end, &low) && low >= 0xDC00 && low < 0xE000) {
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                p = q;
            }
        }
        // A surrogate left unpaired is not a character: UTF-8 has no encoding for it, and the
        // host refuses strings that are not UTF-8.
        if (code >= 0xD800 && code < 0xE000) code = 0xFFFD;
        put_utf8(&buf, code);
        p--;
    }
    *out = buf.data;
    *out_len = buf.len;
    return closed;
}

bool json_int(json_slice value, long *out) {
    value = trimmed(value);
    if (value.len == 0 || value.len > 20) return false;
    char text[24];
    memcpy(text, value.ptr, value.len);
    text[value.len] = 0;
    char *rest;
    *out = strtol(text, &rest, 10);
    return *rest == 0;
}

void json_buf_bytes(json_buf *buf, const char *bytes, size_t len) {
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;
        while (cap < buf->len + len) cap *= 2;
        char *data = realloc(buf->data, cap);
        if (!data) abort();
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
}

void json_buf_text(json_buf *buf, const char *text) { json_buf_bytes(buf, text, strlen(text)); }

void json_buf_utf8(json_buf *buf, const char *bytes, size_t len) {
    const unsigned char *p = (const unsigned char *)bytes, *end = p + len;
    while (p < end) {
        size_t n = utf8_length(p, end);
        if (n) json_buf_bytes(buf, (const char *)p, n);
        else json_buf_text(buf, "\xEF\xBF\xBD");
        p += n ? n : 1;
    }
}

void json_buf_string(json_buf *buf, const char *bytes, size_t len) {
    static const char hex[] = "0123456789abcdef";
    json_buf_bytes(buf, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        switch (c) {
            case '"': json_buf_bytes(buf, "\\\"", 2); break;
            case '\\': json_buf_bytes(buf, "\\\\", 2); break;
            case '\n': json_buf_bytes(buf, "\\n", 2); break;
            case '\r': json_buf_bytes(buf, "\\r", 2); break;
            case '\t': json_buf_bytes(buf, "\\t", 2); break;
            default:
                if (c < 0x20) {
                    char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
                    json_buf_bytes(buf, escaped, 6);
                } else {
                    json_buf_bytes(buf, (const char *)&bytes[i], 1);
                }
        }
    }
    json_buf_bytes(buf, "\"", 1);
}
