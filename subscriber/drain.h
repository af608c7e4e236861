/*  drain.h — mailbus-sub drain DIR: every message of the mailbox into DIR/<id>.eml, then
    deleted from the mailbox. Messages are leased first (two drains never take the same one)
    and acknowledged only after the file and the directory entry are synced, so a drain
    killed at any moment loses nothing: its lease runs out and the message is drained again. */
#ifndef MAILBUS_DRAIN_H
#define MAILBUS_DRAIN_H

#include <stdbool.h>

#include "client.h"

/* Drains the mailbox in LIST order, printing each path written; keep leaves the messages in
   the mailbox (marked seen). Returns the exit status. */
int drain_run (client_t *client, const char *dir, bool keep);

/* RETR id and write its exact bytes durably to DIR/<id>.eml (DIR/<id>-N.eml if DIR/<id>.eml
   holds another message: ids must never be reused, but a saved message is never
   overwritten by a different one either); prints nothing. Returns 0 and
   the path (caller frees), or the exit status with the reason on stderr. 550 (the message
   went meanwhile) returns -1 with nothing on stderr. */
int drain_save_message (client_t *client, int64_t id, const char *dir, char **path);

#endif
