/*  watch.h — mailbus-sub watch: prints the unread messages, then one line per message
    delivered into the mailbox the moment the broker pushes it (WATCH / NEW), and keeps
    doing so across broker restarts: NOOP heartbeats notice a broker that stopped
    answering, CREDIT (flow control) notices one that forgot the session (530); either way
    the watcher reconnects, watches again and catches up with LIST, printing what it
    missed and nothing twice. */
#ifndef MAILBUS_WATCH_H
#define MAILBUS_WATCH_H

#include "client.h"

/* Runs until SIGINT or SIGTERM (exit status 0), or a permanent refusal (1). window is
   how many pushes the broker may send before credit comes back (0: the default, 64). */
int watch_run (client_t *client, int window);

#endif
