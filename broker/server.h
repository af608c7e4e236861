/*  server.h — the broker: a ROUTER socket for clients, a REP socket for the admin CLI,
    sessions, the verbs of docs/PROTOCOL.md, group commit and live pushes. One thread
    runs it and owns the store. */
#ifndef MAILBUS_SERVER_H
#define MAILBUS_SERVER_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* The most client endpoints one broker binds */
#define SERVER_MAX_BINDS 8

typedef struct {
    const char *const *binds;   /* NULL-terminated client endpoints, e.g. tcp://127.0.0.1:5670 */
    zcert_t *cert;              /* the broker's CURVE key pair (keys.h); NULL: loopback only */
    bool curve_always;          /* CURVE on loopback and ipc endpoints too (always beyond them) */
    const char *admin_endpoint; /* e.g. ipc://var/mailbus.db.admin */
    const char *const *domains; /* NULL-terminated: the domains this broker serves */
    size_t max_message_bytes;
    bool relay;            /* queue mail for other domains from identified users */
    int64_t queue_max_age; /* seconds an outbound entry may wait before it bounces */
    int64_t retry_base;    /* seconds before the first retry; doubles each time */
    int64_t dedupe_window; /* seconds a Message-ID dedupe record is kept */
} server_config_t;

typedef struct server_t server_t;

/* Binds the sockets; the store and the certificate stay the caller's. An endpoint beyond
   loopback (endpoint.h) is bound with CURVE, and refused without a certificate; a loopback or
   ipc endpoint with CURVE only when curve_always. NULL with *error on failure. */
server_t *server_new (const server_config_t *config, store_t *store, char **error);
void server_destroy (server_t **self_p);

/* Runs until SIGINT/SIGTERM; the request batch in flight is committed and answered first */
void server_run (server_t *self);

#endif
