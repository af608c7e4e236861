/*  buffer.c — see buffer.h */
#include "buffer.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation: most appends are small (libcurl's pieces, header lines) */
#define BUFFER_FIRST_CAP 16384

/* Room for size more octets and the NUL; the capacity doubles so appending stays linear */
static int
s_reserve (buffer_t *self, size_t size)
{
    if (size > (self->max ? self->max : (size_t)-1 / 2) - self->size)
        return -1;
    size_t need = self->size + size + 1;
    if (need <= self->cap)
        return 0;
    size_t cap = self->cap ? self->cap : BUFFER_FIRST_CAP;
    while (cap < need)
        cap *= 2;
    char *data = realloc (self->data, cap);
    if (!data) {
        self->no_memory = true;
        return -1;
    }
    self->data = data;
    self->cap = cap;
    return 0;
}

int
buffer_append (buffer_t *self, const void *data, size_t size)
{
    assert (self);
    assert (data || size == 0);
    if (size == 0)
        return 0; /* data may be NULL (an empty message): nothing is allocated for it */
    if (s_reserve (self, size) != 0)
        return -1;
    memcpy (self->data + self->size, data, size);
    self->size += size;
    self->data[self->size] = '\0';
    return 0;
}

int
buffer_appendf (buffer_t *self, const char *format, ...)
{
    assert (self && format);
    va_list ap;
    va_start (ap, format);
    int n = vsnprintf (NULL, 0, format, ap);
    va_end (ap);
    if (n < 0 || s_reserve (self, (size_t)n) != 0)
        return -1;
    va_start (ap, format);
    vsnprintf (self->data + self->size, (size_t)n + 1, format, ap);
    va_end (ap);
    self->size += (size_t)n;
    return 0;
}

void
buffer_free (buffer_t *self)
{
    assert (self);
    free (self->data);
    *self = BUFFER_INIT (self->max);
}
