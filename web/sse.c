/*  sse.c — see sse.h */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

/* Seconds without an event before a keep-alive comment */
#define SSE_KEEPALIVE_ROUNDS 10

typedef struct {
    web_t *web;
    sse_produce_fn *produce;
    void *state;
    void (*free_state) (void *);
    json_t pending;
    size_t sent; /* octets of pending already written */
    bool ending;
} sse_t;

void
sse_event (json_t *out, const char *name, const char *data)
{
    json_printf (out, "event: %s\ndata: %s\n\n", name, data);
}

/* Fills pending with the next events (blocking up to SSE_KEEPALIVE_ROUNDS seconds) */
static void
s_refill (sse_t *self)
{
    json_free (&self->pending);
    self->sent = 0;
    for (int round = 0; round < SSE_KEEPALIVE_ROUNDS && !self->pending.len; round++) {
        if (self->web->stopping || self->produce (self->state, &self->pending) != 0) {
            self->ending = true;
            return;
        }
    }
    if (!self->pending.len)
        json_raw (&self->pending, ": keep-alive\n\n");
}

static ssize_t
s_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    sse_t *self = cls;
    if (self->sent == self->pending.len) {
        if (self->ending)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_refill (self);
        if (self->pending.len == 0)
            return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = self->pending.len - self->sent;
    if (n > max)
        n = max;
    memcpy (buf, self->pending.data + self->sent, n);
    self->sent += n;
    return (ssize_t)n;
}

static void
s_free (void *cls)
{
    sse_t *self = cls;
    if (self->free_state)
        self->free_state (self->state);
    json_free (&self->pending);
    free (self);
}

struct MHD_Response *
sse_response (web_t *web, sse_produce_fn *produce, void *state, void (*free_state) (void *))
{
    sse_t *self = calloc (1, sizeof *self);
    if (!self) {
        free_state (state);
        return NULL; /* web_queue answers 503 */
    }
    self->web = web;
    self->produce = produce;
    self->state = state;
    self->free_state = free_state;
    json_init (&self->pending);
    /* a first comment at once: the browser sees the stream open without waiting */
    json_raw (&self->pending, ": mailbus-web\nretry: 1000\n\n");
    struct MHD_Response *response =
        MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_read, self, s_free);
    if (!response)
        s_free (self);
    web_header_add (response, "Content-Type", "text/event-stream; charset=utf-8");
    web_header_add (response, "X-Accel-Buffering", "no");
    return response;
}
