/*  json.c — see json.h */
#include "json.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
json_init (json_t *self)
{
    self->data = NULL;
    self->len = self->cap = 0;
}

void
json_free (json_t *self)
{
    free (self->data);
    json_init (self);
}

char *
json_take (json_t *self, size_t *len)
{
    char *data = self->data ? self->data : strdup ("");
    if (len)
        *len = self->len;
    json_init (self);
    return data;
}

static void
s_reserve (json_t *self, size_t more)
{
    if (self->len + more + 1 <= self->cap)
        return;
    size_t cap = self->cap ? self->cap : 256;
    while (cap < self->len + more + 1)
        cap *= 2;
    self->data = realloc (self->data, cap);
    if (!self->data)
        abort ();
    self->cap = cap;
}

static void
s_append (json_t *self, const char *text, size_t len)
{
    s_reserve (self, len);
    memcpy (self->data + self->len, text, len);
    self->len += len;
    self->data[self->len] = '\0';
}

void
json_raw (json_t *self, const char *text)
{
    s_append (self, text, strlen (text));
}

void
json_printf (json_t *self, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int n = vasprintf (&text, format, args);
    va_end (args);
    if (n < 0)
        abort ();
    s_append (self, text, (size_t)n);
    free (text);
}

void
json_strn (json_t *self, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    s_append (self, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t n = text_utf8_length (p + i, len - i);
            if (n)
                s_append (self, text + i, n);
            else
                s_append (self, "\\ufffd", 6);
            i += n ? n : 1;
            continue;
        }
        if (c == '"' || c == '\\')
            json_printf (self, "\\%c", c);
        else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&')
            json_printf (self, "\\u%04x", c);
        else
            s_append (self, text + i, 1);
        i++;
    }
    s_append (self, "\"", 1);
}

void
json_str (json_t *self, const char *text)
{
    if (text)
        json_strn (self, text, strlen (text));
    else
        json_raw (self, "null");
}

void
json_comma (json_t *self)
{
    if (self->len && !strchr ("{[,", self->data[self->len - 1]))
        s_append (self, ",", 1);
}

void
json_key (json_t *self, const char *key)
{
    json_comma (self);
    json_str (self, key);
    s_append (self, ":", 1);
}

void
json_int (json_t *self, const char *key, int64_t value)
{
    json_key (self, key);
    json_printf (self, "%lld", (long long)value);
}

void
json_kstr (json_t *self, const char *key, const char *value)
{
    json_key (self, key);
    json_str (self, value);
}
