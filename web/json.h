/*  json.h — JSON text built piece by piece for the browser: every string goes through
    json_str, which escapes quotes, backslashes, control characters and < > & (so JSON can
    never close a <script> or be read as HTML), and replaces invalid UTF-8 with U+FFFD. */
#ifndef MAILBUS_WEB_JSON_H
#define MAILBUS_WEB_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len, cap;
} json_t;

void json_init (json_t *self);
void json_free (json_t *self);
/* Takes the text (caller frees); the json_t is empty after */
char *json_take (json_t *self, size_t *len);

void json_raw (json_t *self, const char *text);
void json_printf (json_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
/* A quoted, escaped string of len bytes (text may hold any bytes) */
void json_strn (json_t *self, const char *text, size_t len);
void json_str (json_t *self, const char *text);
/* "key":  with a comma before it unless it follows { or [ */
void json_key (json_t *self, const char *key);
void json_int (json_t *self, const char *key, int64_t value);
void json_kstr (json_t *self, const char *key, const char *value);
/* a comma unless the last character is { [ or , */
void json_comma (json_t *self);

#endif
