/*  call.h — one request of a mailbus-sub command to the broker, and what its answer means
    for the program's exit status: 2xx goes on, 4xx or no answer is EX_TEMPFAIL (75),
    5xx is 1. A refusal is printed to stderr as the broker said it (it carries the codes). */
#ifndef MAILBUS_CALL_H
#define MAILBUS_CALL_H

#include <czmq.h>

#include "client.h"

/* Sends verb with one argument (arg NULL: none) and waits for the answer. Returns the reply
   (status line first, then data frames) when it is 2xx; otherwise NULL, with the refusal
   or "no answer" on stderr and the exit status in *status. */
zmsg_t *call_verb (client_t *client, const char *verb, const char *arg, int *status);

/* A copy of frame i of reply (0 is the status line) as a C string, or NULL. Caller frees. */
char *call_frame (zmsg_t *reply, size_t index);

#endif
