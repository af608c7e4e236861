/*  admin_cli.h — the admin commands: `mailbus-broker mailbox|list|queue ...`.
    A command becomes one admin request (admin_server.h), run inside the running broker (over
    its admin endpoint, so the broker stays the only writer) or, when no broker holds the
    database's lock, directly; the reply is printed and gives the exit status. */
#ifndef MAILBUS_ADMIN_CLI_H
#define MAILBUS_ADMIN_CLI_H

#include <stdbool.h>

typedef struct {
    const char *db;
    const char *object;      /* mailbox, list, queue or status */
    const char *command;     /* mailbox: add, del, list, passwd, retention, key; list: add, del, members,
                                subscribe,     unsubscribe; queue: list (or NULL), flush, del */
    const char *address;     /* queue del: the entry id */
    const char *member;      /* list subscribe/unsubscribe; mailbox key add/del: the key */
    const char *key_command; /* mailbox key: add, del or list */
    const char *filter;      /* list subscribe: HEADER:GLOB */
    bool closed;             /* list add: only the admin adds members */
    const char *posting;     /* list add: members (default) or anyone */
    const char *password;
    bool password_stdin;
    bool synchronous_full;
    const char *role;    /* for add: user (default) or gateway */
    const char *keep;    /* retention: at most this many messages */
    const char *max_age; /* retention: none older than this many seconds */
} admin_args_t;

/* Runs the command; prints the result; returns the process exit status: 0 done, 1 refused
   (or the database cannot be opened), 64 usage, 70 internal error, 75 the broker does not
   answer */
int admin_main (const admin_args_t *args);

#endif
