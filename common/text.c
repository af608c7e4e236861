/*  text.c — clamped text building. */
#include "text.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

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
