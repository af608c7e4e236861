/*  text.c — clamped text building. */
#include "text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
text_appendf (char *buf, size_t size, size_t used, const char *format, ...)
{
    assert (buf && size > 0 && format);
    if (used >= size - 1)
        return size - 1;
    va_list ap;
    va_start (ap, format);
    int n = vsnprintf (buf + used, size - used, format, ap);
    va_end (ap);
    if (n < 0) {
        buf[used] = '\0';
        return used;
    }
    /* vsnprintf returns what it would have written: never step past what it did write */
    return (size_t)n < size - used ? used + (size_t)n : size - 1;
}

char *
text_join (char *const *words, size_t n)
{
    size_t size = 1;
    for (size_t i = 0; i < n; i++)
        size += strlen (words[i]) + 1;
    char *text = malloc (size);
    if (!text)
        return NULL;
    size_t used = 0;
    text[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)sprintf (text + used, "%s%s", i ? " " : "", words[i]); /* sized above */
    return text;
}

size_t
text_utf8_length (const unsigned char *p, size_t left)
{
    size_t n = p[0] < 0x80                    ? 1
               : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
               : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                              : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) || (p[0] == 0xf0 && p[1] < 0x90) ||
        (p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate or beyond U+10FFFF */
    return n;
}
