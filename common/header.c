/*  header.c — header field lookup (RFC 5322 2.2). */
#include "header.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t
header_section_length (const char *msg, size_t len)
{
    if (len < 2)
        return 0; /* msg may be NULL (an empty message): memmem must not see it */
    if (msg[0] == '\r' && msg[1] == '\n')
        return 2; /* no fields, body follows */
    const char *end = memmem (msg, len, "\r\n\r\n", 4);
    return end ? (size_t)(end - msg) + 4 : 0;
}

size_t
header_missing_empty_line (const char *msg, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *lf = memchr (msg + i, '\n', len - i);
        size_t end = lf ? (size_t)(lf - msg) + 1 : len;
        if (end - i == 2 && msg[i] == '\r')
            return len + 1;
        size_t name = i;
        while (name < end && msg[name] > ' ' && msg[name] < 127 && msg[name] != ':')
            name++;
        size_t colon = name;
        while (colon < end && (msg[colon] == ' ' || msg[colon] == '\t'))
            colon++;
        bool field = name > i && colon < end && msg[colon] == ':';
        bool continuation = i > 0 && (msg[i] == ' ' || msg[i] == '\t');
        if (!field && !continuation)
            return i;
        i = end;
    }
    return len;
}

char *
header_complete (char *msg, size_t *len, size_t *mended_at)
{
    size_t n = *len;
    *mended_at = (size_t)-1;
    /* room for a final CRLF, an empty line and the NUL */
    char *out = msg ? realloc (msg, n + 5) : NULL;
    if (!out) {
        free (msg);
        return NULL;
    }
    if (n < 2 || out[n - 2] != '\r' || out[n - 1] != '\n') {
        memcpy (out + n, "\r\n", 2);
        n += 2;
    }
    size_t at = header_missing_empty_line (out, n);
    if (at <= n) {
        memmove (out + at + 2, out + at, n - at);
        memcpy (out + at, "\r\n", 2);
        n += 2;
        *mended_at = at;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

/* Calls back for every field start; returns the offset of the field whose name matches, or -1 */
static long
s_next_field (const char *msg, size_t hlen, size_t from, const char *name)
{
    size_t nlen = strlen (name);
    size_t i = from;
    while (i < hlen) {
        /* i is at the start of a line */
        if (i + nlen < hlen && msg[i + nlen] == ':' && strncasecmp (msg + i, name, nlen) == 0)
            return (long)i;
        const char *eol = memchr (msg + i, '\n', hlen - i);
        if (!eol)
            break;
        i = (size_t)(eol - msg) + 1;
    }
    return -1;
}

int
header_find (const char *msg, size_t len, const char *name, char *out, size_t size)
{
    size_t hlen = header_section_length (msg, len);
    return header_find_in (msg, hlen ? hlen : len, name, out, size);
}

int
header_find_in (const char *msg, size_t hlen, const char *name, char *out, size_t size)
{
    long at = s_next_field (msg, hlen, 0, name);
    if (at < 0 || size == 0)
        return 0;
    size_t i = (size_t)at + strlen (name) + 1;
    size_t o = 0;
    /* the white space after the colon is not part of the value */
    while (i < hlen && (msg[i] == ' ' || msg[i] == '\t'))
        i++;
    while (i < hlen) {
        char c = msg[i];
        if (c == '\r' || c == '\n') {
            /* a CRLF followed by WSP continues the field (folding) */
            size_t j = i + (c == '\r' && i + 1 < hlen && msg[i + 1] == '\n' ? 2 : 1);
            if (j < hlen && (msg[j] == ' ' || msg[j] == '\t')) {
                i = j;
                continue;
            }
            break;
        }
        if (o + 1 < size)
            out[o++] = ((unsigned char)c < 0x20 || c == 0x7f) ? ' ' : c;
        i++;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    size_t lead = strspn (out, " ");
    memmove (out, out + lead, o - lead + 1);
    return 1;
}

int
header_count (const char *msg, size_t len, const char *name)
{
    size_t hlen = header_section_length (msg, len);
    return header_count_in (msg, hlen ? hlen : len, name);
}

int
header_count_in (const char *msg, size_t hlen, const char *name)
{
    int n = 0;
    long at = 0;
    while ((at = s_next_field (msg, hlen, (size_t)at, name)) >= 0) {
        n++;
        at++;
        const char *eol = memchr (msg + at, '\n', hlen - (size_t)at);
        if (!eol)
            break;
        at = eol - msg + 1;
    }
    return n;
}
