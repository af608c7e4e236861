/*  admin_server.h — the admin protocol (MBOX-*, LIST-*, QUEUE-* verbs, docs/PROTOCOL.md "The
    admin endpoint") served against the store. The broker runs it on its admin endpoint; the CLI
    runs it directly when no broker holds the database. Touches no socket. */
#ifndef MAILBUS_ADMIN_SERVER_H
#define MAILBUS_ADMIN_SERVER_H

#include <czmq.h>

#include "mb_limits.h"
#include "store.h"

/* A mailbox key as text: 40 Z85 characters (a 32-octet CURVE public key) */
#define ADMIN_KEY_TEXT 40

/* What a successful request changed that ends sessions (docs/PROTOCOL.md "END") */
typedef enum {
    ADMIN_EFFECT_NONE = 0,
    ADMIN_EFFECT_MAILBOX_DELETED,
    ADMIN_EFFECT_PASSWORD_CHANGED,
    ADMIN_EFFECT_KEY_REMOVED,
} admin_effect_kind_t;

typedef struct {
    admin_effect_kind_t kind;
    const char *why;               /* "mailbox deleted", ...; NULL with ADMIN_EFFECT_NONE */
    char address[MAX_ADDRESS + 1]; /* the mailbox concerned (normalised) */
    char key[ADMIN_KEY_TEXT + 1];  /* ADMIN_EFFECT_KEY_REMOVED: the key removed; else "" */
} admin_effect_t;

/* Executes an admin request [id][VERB][args] against store; returns the reply
   [id][status][data...]. When effect is not NULL it is filled with what the request changed
   that ends sessions (kind ADMIN_EFFECT_NONE when nothing, or when the request was refused). */
zmsg_t *admin_execute (store_t *store, zmsg_t *request, admin_effect_t *effect);

/* STATUS (`mailbus-broker status`): the running broker adds its figures to rows, one
   "key value" string a frame. admin_execute answers STATUS 451 (no broker runs). */
typedef void (admin_status_fn) (void *arg, zmsg_t *rows);
zmsg_t *admin_execute_status (store_t *store, zmsg_t *request, admin_effect_t *effect,
                              admin_status_fn *status, void *status_arg);

#endif
