/*  publish.h — mailbus-pub's SEND: the message to every recipient, sent again with the same
    bytes when no answer comes (the broker dedupes by Message-ID), and the broker's answer
    per recipient printed and turned into the program's exit status. */
#ifndef MAILBUS_PUBLISH_H
#define MAILBUS_PUBLISH_H

#include <stddef.h>

#include "client.h"
#include "draft.h"

/* Sends message (size octets) from draft's sender to its To and Cc recipients, retrying
   retries times after no answer within timeout_s; prints the per-recipient answers on stdout.
   Returns 0 (all accepted), 1 (a permanent failure) or EX_TEMPFAIL (a transient failure or
   no answer). */
int publish_send (client_t *client, const draft_t *draft, const char *message, size_t size, int retries,
                  int timeout_s);

#endif
