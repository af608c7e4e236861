/*  sse.h — a Server-Sent Events response (text/event-stream, WHATWG HTML 9.2): the producer
    is asked for events about once a second, a comment line keeps the connection alive every
    10 s, and the stream ends when the producer says so or the program stops. */
#ifndef MAILBUS_WEB_SSE_H
#define MAILBUS_WEB_SSE_H

#include "web.h"

/* Appends whole events ("event: x\ndata: {...}\n\n") to out, waiting at most about a second
   for one. Returns 0 to go on, -1 to end the stream (after what it appended). */
typedef int (sse_produce_fn) (void *state, json_t *out);

/* The response; state is freed with free_state when the connection ends (at once when memory
   ran out: NULL, which web_queue answers with 503) */
struct MHD_Response *sse_response (web_t *web, sse_produce_fn *produce, void *state,
                                   void (*free_state) (void *));

/* Appends "event: name\ndata: data\n\n" (data is one line of JSON) */
void sse_event (json_t *out, const char *name, const char *data);

#endif
