/*  pop3_lock.h — the maildrop lock of the POP3 server: RFC 1939 4 lets one session at a
    time hold a mailbox ("exclusive-access lock on the maildrop"). The table is process-wide
    and thread-safe: every POP3 and POP3S session thread of the gateway shares it. */
#ifndef MAILBUS_POP3_LOCK_H
#define MAILBUS_POP3_LOCK_H

#include <stdbool.h>
#include <stddef.h>

/* Takes the lock on mailbox (an address as the broker normalised it). true when this caller
   now holds it, false when another session does. */
bool pop3_lock_acquire (const char *mailbox);

/* Gives the lock back; a mailbox that is not locked is ignored. */
void pop3_lock_release (const char *mailbox);

/* How many mailboxes are locked now (for tests and logs) */
size_t pop3_lock_count (void);

#endif
