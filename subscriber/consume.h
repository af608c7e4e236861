/*  consume.h — mailbus-sub consume: a competing consumer of a mailbox used as a work queue.
    Messages are leased (LEASE) a few at a time, so no two consumers get the same one; each
    is handled (printed, or written durably to DIR) and then acknowledged (ACK deletes it).
    A consumer killed mid-message loses nothing: its lease runs out and another gets it. */
#ifndef MAILBUS_CONSUME_H
#define MAILBUS_CONSUME_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

typedef struct {
    const char *dir;  /* NULL: print one line per message; else write DIR/<id>.eml first */
    bool auto_ack;    /* ACK as soon as a message arrives (at-most-once) instead of after it was handled */
    int64_t prefetch; /* messages leased at once (1..100) */
    int64_t lease_s;  /* lease length (1..3600) */
    int64_t max;      /* stop after this many messages (0: run until interrupted) */
    bool until_empty; /* stop when the mailbox has nothing to lease */
} consume_options_t;

/* Runs until interrupted, max messages, or (until_empty) nothing left. Returns the exit status. */
int consume_run (client_t *client, const consume_options_t *options);

#endif
