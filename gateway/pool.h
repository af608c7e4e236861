/*  pool.h — broker clients already identified as the gateway, shared by the session
    threads: a HELO costs the broker one Argon2id check (~50-100 ms), too much to pay for
    every SMTP connection. A client is owned by one thread at a time; the handover goes
    through the pool's mutex, which is what lets a CZMQ socket move between threads. */
#ifndef MAILBUS_POOL_H
#define MAILBUS_POOL_H

#include "client.h"

typedef struct pool_t pool_t;

pool_t *pool_new (const char *endpoint, const char *user, const char *password, int max_idle, int timeout_ms);
void pool_destroy (pool_t **self_p);

/* An identified client: one from the pool, or a new one. NULL with *error (caller frees)
   when the broker cannot be reached or refuses the gateway's identity. */
client_t *pool_take (pool_t *self, char **error);

/* Gives a client back; broken (it timed out, the broker may be gone) destroys it instead */
void pool_give (pool_t *self, client_t **client_p, bool broken);

#endif
