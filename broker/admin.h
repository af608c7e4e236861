/*  admin.h — mailbox administration: `mailbus-broker mailbox add|del|list|passwd`.
    The same request runs either inside the running broker (over its admin endpoint, so the
    broker stays the only writer) or, when no broker holds the database's lock, directly. */
#ifndef MAILBUS_ADMIN_H
#define MAILBUS_ADMIN_H

#include <czmq.h>
#include <stdbool.h>

#include "store.h"

/* Executes an admin request [id][MBOX-...][args] against store; returns the reply
   [id][status][data...]. Touches no socket. */
zmsg_t *admin_execute (store_t *store, zmsg_t *request);

/* Paths derived from the database path (caller frees): "<db>.lock", and the admin endpoint
   "ipc://<abs db>.admin" beside the database when that fits in a socket address (107 octets),
   else "ipc://<runtime>/<hash of abs db>.admin" in a private folder: $XDG_RUNTIME_DIR/mailbus or
   /tmp/mailbus-UID (made 0700; refused, NULL with *error, when others may use it). */
char *admin_lock_path (const char *db);
char *admin_endpoint (const char *db, char **error);

/* Takes the database's lock without waiting: returns the fd (>= 0), ADMIN_LOCK_BUSY when
   another process (a running broker) holds it, ADMIN_LOCK_ERROR (said on stderr) otherwise. */
#define ADMIN_LOCK_BUSY (-1)
#define ADMIN_LOCK_ERROR (-2)
int admin_lock (const char *db);

typedef struct {
    const char *db;
    const char *object; /* mailbox or list */
    const char
        *command; /* mailbox: add, del, list, passwd; list: add, del, members, subscribe, unsubscribe */
    const char *address;
    const char *member;  /* list subscribe/unsubscribe; mailbox key add/del: the key */
    const char *key_command; /* mailbox key: add, del or list */
    const char *filter;  /* list subscribe: HEADER:GLOB */
    bool closed;         /* list add: only the admin adds members */
    const char *posting; /* list add: members (default) or anyone */
    const char *password;
    bool password_stdin;
    bool synchronous_full;
    const char *role;    /* for add: user (default) or gateway */
    const char *keep;    /* retention: at most this many messages */
    const char *max_age; /* retention: none older than this many seconds */
} admin_args_t;

/* Runs the CLI command; prints the result; returns the process exit status */
int admin_main (const admin_args_t *args);

#endif
