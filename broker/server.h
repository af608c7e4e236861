/*  server.h — the broker: a ROUTER socket for clients, a REP socket for the admin CLI,
    sessions, the verbs of docs/PROTOCOL.md, group commit and live pushes. One thread
    runs it and owns the store: server_actor, hosted by a program or a test (CZMQ zactor). */
#ifndef MAILBUS_SERVER_H
#define MAILBUS_SERVER_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    /* the disk (space.h): NULL db_path, no space checks (in-process tests) */
    const char *db_path;   /* the database, beside which the reserve file lies */
    int64_t reserve_bytes; /* the reserve file's size, 0: none */
    const char *min_free;  /* publishing refused below this ("64M", "5%"; NULL: "0") */
    /* resumption tickets (ticket.h): the key (TICKET_KEY_BYTES, ticket_key_load; NULL: a random
       one for this run) and their lifetime in seconds (0: TICKET_DEFAULT_LIFETIME, -1: none) */
    const uint8_t *ticket_key;
    int64_t ticket_lifetime;
} server_config_t;

/* What server_actor is given; both stay the caller's and must outlive the actor */
typedef struct {
    const server_config_t *config;
    store_t *store;
} server_args_t;

/* The server as a CZMQ actor: zactor_new (server_actor, &args) returns once the sockets are
   bound (signal 0) or binding failed (signal 1: the actor then answers ERROR until $TERM).
   It serves clients after its first command (server_actor_error asks ERROR), so a host logs
   its start before any request is answered. Commands, each answered with one string:
     ERROR     why it could not start, "" when it is running
     ENDPOINT  the client endpoints bound, space-separated, a tcp port "*" resolved
               (e.g. "tcp://127.0.0.1:45123 inproc://tests")
     PORT      the port of the first tcp endpoint, "0" when none
   $TERM (zactor_destroy) stops it once the batch in flight is committed and answered; so
   does SIGINT/SIGTERM (zsys_interrupted), after which the actor's pipe gets its final signal. */
void server_actor (zsock_t *pipe, void *args);

/* Asks a new server actor ERROR: NULL when it runs, or has already stopped for SIGINT/SIGTERM
   (zsys_interrupted is then set, and its final signal taken); else why it could not start
   (the caller frees it) */
char *server_actor_error (zactor_t *actor);

typedef struct server_t server_t;

/* Binds the sockets; the store and the certificate stay the caller's. An endpoint beyond
   loopback (endpoint.h) is bound with CURVE, and refused without a certificate; a loopback or
   ipc endpoint with CURVE only when curve_always; an inproc endpoint never. NULL with *error
   on failure. */
server_t *server_new (const server_config_t *config, store_t *store, char **error);
void server_destroy (server_t **self_p);

/* Runs in the caller's thread until SIGINT/SIGTERM; the request batch in flight is committed
   and answered first (a harness that owns its thread; programs use server_actor) */
void server_run (server_t *self);

#endif
