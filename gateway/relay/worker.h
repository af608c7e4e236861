/*  worker.h — the skeleton of the gateway's periodic workers (the relay, the POP3 fetcher): a
    CZMQ actor that identifies to the broker as the gateway (again after a failure, with
    pool.h's backoff and one log line a step), runs a round every interval_ms — at once after
    a round that says more is due, or on FLUSH — and ends on $TERM. A round's libcurl transfers
    watch the actor's pipe through curl_stop.h, so a stop does not wait for them. */
#ifndef MAILBUS_WORKER_H
#define MAILBUS_WORKER_H

#include <czmq.h>

#include "client.h"
#include "curl_stop.h"

/* What a round tells the skeleton */
typedef enum {
    WORKER_DONE = 0,   /* the next round after interval_ms */
    WORKER_MORE,       /* more may be due: the next round at once */
    WORKER_BROKEN = -1 /* the broker client is broken: it is dropped and made again */
} worker_result_t;

/* One round over client (the gateway's broker session); stop is the actor's pipe for the
   round's transfers (stop->stopping ends the worker after the round) */
typedef worker_result_t (worker_round_fn) (void *args, client_t *client, curl_stop_t *stop);

typedef struct {
    const char *name;         /* "relay", "fetch": its log lines say "NAME-no-broker" */
    const char *broker;       /* broker endpoint */
    const char *gateway_user; /* the gateway identity (role gateway) */
    const char *gateway_password;
    int interval_ms;
    worker_round_fn *round;
    void *args; /* the round's; must outlive the actor */
} worker_config_t;

/* Starts the worker; config is copied before this returns (its strings must outlive the
   actor). Send it "FLUSH" for a round at once, destroy it (zactor_destroy: $TERM) to stop. */
zactor_t *worker_new (const worker_config_t *config);

#endif
