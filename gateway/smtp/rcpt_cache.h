/*  rcpt_cache.h — local addresses the broker recently confirmed (VRFY/EXPN), shared by
    the session threads: RCPT TO then costs the broker nothing for a mailbox that received
    mail a moment ago. Only positive answers are kept, for a few seconds; a mailbox deleted
    meanwhile is still refused by the broker's SEND (per recipient). */
#ifndef MAILBUS_RCPT_CACHE_H
#define MAILBUS_RCPT_CACHE_H

#include <stdbool.h>

/* Our choice: how long a confirmed address is believed without asking again */
#define RCPT_CACHE_TTL_MS 5000

bool rcpt_cache_known (const char *address);
void rcpt_cache_add (const char *address);

#endif
