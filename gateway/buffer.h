/*  buffer.h — a growable byte buffer: a message being received over SMTP, a POP3 answer
    read by libcurl. Its data is always followed by a NUL (not counted in size), so text read
    into it can be scanned as a string. A buffer may be bounded: past max it refuses to grow. */
#ifndef MAILBUS_BUFFER_H
#define MAILBUS_BUFFER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data;     /* NULL until the first append */
    size_t size;    /* octets held, without the NUL after them */
    size_t cap;     /* octets allocated */
    size_t max;     /* most octets it may hold; 0: as many as memory allows */
    bool no_memory; /* an append failed for want of memory: a piece of what was meant is missing */
} buffer_t;

/* An empty buffer that holds at most max octets (0: no bound); nothing is allocated yet */
#define BUFFER_INIT(max_octets) ((buffer_t){NULL, 0, 0, (max_octets), false})

/* Appends data[0..size) (size 0 changes nothing: data stays NULL). Returns 0, or -1 (nothing appended) when
   it would pass the bound or memory ran out (no_memory then says so, until buffer_free). */
int buffer_append (buffer_t *self, const void *data, size_t size);

/* Appends formatted text, as buffer_append */
int buffer_appendf (buffer_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

/* Frees the data; the buffer is empty again, with the same bound */
void buffer_free (buffer_t *self);

#endif
