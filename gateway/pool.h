/*  pool.h — broker clients already identified as the gateway, shared by the session
    threads: a HELO costs the broker one Argon2id check (~50-100 ms), too much to pay for
    every SMTP connection. A client is owned by one thread at a time; the handover goes
    through the pool's mutex, which is what lets a CZMQ socket move between threads. */
#ifndef MAILBUS_POOL_H
#define MAILBUS_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"

typedef struct pool_t pool_t;

/* NULL when out of memory */
pool_t *pool_new (const char *endpoint, const char *user, const char *password, int max_idle, int timeout_ms);
void pool_destroy (pool_t **self_p);

/* An identified client: one from the pool, or a new one. NULL with *error (caller frees)
   when the broker cannot be reached or refuses the gateway's identity; after a refusal
   (535) the broker is not asked again until the backoff below has passed. */
client_t *pool_take (pool_t *self, char **error);

/* Gives a client back; broken (it timed out, the broker may be gone) destroys it instead */
void pool_give (pool_t *self, client_t **client_p, bool broken);

/* Backoff between attempts to identify to the broker. A refused identity (a stale gateway
   secret) retried at a fixed pace costs the broker an Argon2id check and a log line each
   time: the wait doubles from 0.5 s to 60 s and a success resets it (libzmq's
   ZMQ_RECONNECT_IVL / ZMQ_RECONNECT_IVL_MAX, and RFC 5321 4.5.4.1's growing retry intervals,
   do the same). Not thread-safe by itself: the pool holds it under its mutex. */
#define POOL_BACKOFF_FIRST_MS 500
#define POOL_BACKOFF_MAX_MS 60000

typedef struct {
    int delay_ms;    /* the wait after the last failure; 0 when the last attempt succeeded */
    int64_t next_ms; /* monotonic time (zclock_mono) of the next allowed attempt */
} pool_backoff_t;

/* true when an attempt may be made at now_ms */
bool pool_backoff_due (const pool_backoff_t *self, int64_t now_ms);
/* A failed attempt at now_ms: returns the wait before the next one (0.5 s, 1 s, ... 60 s) */
int pool_backoff_failed (pool_backoff_t *self, int64_t now_ms);
/* A success: the next failure waits 0.5 s again. Returns true when it had been failing. */
bool pool_backoff_succeeded (pool_backoff_t *self);

#endif
