/*  pool.c — the pool of identified gateway clients. */
#include "pool.h"

#include <assert.h>
#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reply.h"

struct pool_t {
    pthread_mutex_t lock;
    char *endpoint;
    char *user;
    char *password;
    int timeout_ms;
    int max_idle;
    int idle;
    client_t **clients;
    pool_backoff_t refused; /* after the broker refused the gateway's identity */
};

pool_t *
pool_new (const char *endpoint, const char *user, const char *password, int max_idle, int timeout_ms)
{
    assert (endpoint && user && password && max_idle >= 0);
    pool_t *self = calloc (1, sizeof *self);
    pthread_mutex_init (&self->lock, NULL);
    self->endpoint = strdup (endpoint);
    self->user = strdup (user);
    self->password = strdup (password);
    self->max_idle = max_idle > 0 ? max_idle : 1;
    self->timeout_ms = timeout_ms;
    self->clients = calloc ((size_t)self->max_idle, sizeof (client_t *));
    return self;
}

void
pool_destroy (pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pool_t *self = *self_p;
    for (int i = 0; i < self->idle; i++)
        client_destroy (&self->clients[i]);
    free (self->clients);
    sodium_memzero (self->password, strlen (self->password));
    free (self->password);
    free (self->user);
    free (self->endpoint);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

bool
pool_backoff_due (const pool_backoff_t *self, int64_t now_ms)
{
    return self->delay_ms == 0 || now_ms >= self->next_ms;
}

int
pool_backoff_failed (pool_backoff_t *self, int64_t now_ms)
{
    if (self->delay_ms == 0)
        self->delay_ms = POOL_BACKOFF_FIRST_MS;
    else
        self->delay_ms = self->delay_ms >= POOL_BACKOFF_MAX_MS / 2 ? POOL_BACKOFF_MAX_MS : self->delay_ms * 2;
    self->next_ms = now_ms + self->delay_ms;
    return self->delay_ms;
}

bool
pool_backoff_succeeded (pool_backoff_t *self)
{
    bool was_failing = self->delay_ms != 0;
    *self = (pool_backoff_t){0, 0};
    return was_failing;
}

/* One log line per backoff step: a refusal of the gateway's identity (535), or its return */
static void
s_note_attempt (pool_t *self, bool ok, const char *error)
{
    reply_t reply;
    bool refused = !ok && error && reply_from_line (&reply, error) == 0 && reply.code == 535;
    if (!ok && !refused)
        return; /* the broker is down: each session already waits its timeout and answers 451 */
    pthread_mutex_lock (&self->lock);
    if (ok) {
        if (pool_backoff_succeeded (&self->refused))
            log_info ("gateway", "identity-accepted", "identity=%s", self->user);
    }
    else {
        int wait = pool_backoff_failed (&self->refused, zclock_mono ());
        log_warn ("gateway", "identity-refused", "identity=%s retry-in-ms=%d (a stale gateway secret?)",
                  self->user, wait);
    }
    pthread_mutex_unlock (&self->lock);
}

client_t *
pool_take (pool_t *self, char **error)
{
    assert (self && error);
    client_t *client = NULL;
    bool due = true;
    pthread_mutex_lock (&self->lock);
    if (self->idle > 0)
        client = self->clients[--self->idle];
    else
        due = pool_backoff_due (&self->refused, zclock_mono ());
    pthread_mutex_unlock (&self->lock);
    if (client)
        return client;
    if (!due) {
        *error = strdup ("535 the broker refused the gateway identity; waiting before asking again");
        return NULL;
    }
    client = client_new (self->endpoint, self->user, self->password, self->timeout_ms, error);
    s_note_attempt (self, client != NULL, client ? NULL : *error);
    return client;
}

void
pool_give (pool_t *self, client_t **client_p, bool broken)
{
    assert (self);
    if (!client_p || !*client_p)
        return;
    if (!broken) {
        pthread_mutex_lock (&self->lock);
        if (self->idle < self->max_idle) {
            self->clients[self->idle++] = *client_p;
            *client_p = NULL;
        }
        pthread_mutex_unlock (&self->lock);
    }
    client_destroy (client_p); /* no-op when the pool took it */
}
