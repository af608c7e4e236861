/*  call.h — one request of a mailbus-sub command to the broker, and what its answer means
    for the program's exit status: 2xx goes on, 4xx or no answer is EX_TEMPFAIL (75),
    5xx is 1. A refusal is printed to stderr as the broker said it (it carries the codes). */
#ifndef MAILBUS_CALL_H
#define MAILBUS_CALL_H

#include <czmq.h>
#include <stdbool.h>

#include "client.h"

/* Sends verb with one argument (arg NULL: none) and waits for the answer. Returns the reply
   (status line first, then data frames) when it is 2xx; otherwise NULL, with the refusal
   or "no answer" on stderr and the exit status in *status. */
zmsg_t *call_verb (client_t *client, const char *verb, const char *arg, int *status);

/* A copy of frame i of reply (0 is the status line) as a C string, or NULL. Caller frees. */
char *call_frame (zmsg_t *reply, size_t index);

/* ACK of the ids in ids (space-separated) in one request. 0 when the broker answered it:
   *lost (a new string, or NULL when none) then names those no longer leased to us (they
   were not acknowledged: the lease ran out, another client has them); else the exit status,
   the refusal on stderr. */
int call_ack (client_t *client, const char *ids, char **lost);

/* An ACK removes this many octets of messages at most (SQLite overwrites what it deletes, so
   an ACK's transaction grows the WAL by about that much: on a full disk, with only the broker's
   reserve left, a big one would not fit); at least one message an ACK whatever its size */
#define CALL_ACK_BYTES (256 * 1024)

/* ACK of ids[0..n-1] (sizes[i]: message i's octets) in as few requests as CALL_ACK_BYTES
   allows. 0 when every request was answered, else the exit status of the first that was not
   (those after it not sent); *answered: how many ids (from the first) the broker answered
   for, *lost as call_ack's, for those. */
int call_ack_all (client_t *client, char *const *ids, const size_t *sizes, size_t n, size_t *answered,
                  char **lost);

/* true when list (ids separated by spaces, may be NULL) names id */
bool call_id_in (const char *list, const char *id);

#endif
