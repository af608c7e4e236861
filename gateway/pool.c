/*  pool.c — the pool of identified gateway clients; new ones resume with the identity's
    ticket (one Argon2id check for the pool, not one per connection). */
#include "pool.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
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
    char *ticket;           /* the identity's resumption ticket, shared by every new client */
    bool logging_in;        /* a password HELO is under way: others wait for its ticket */
    pthread_cond_t logged_in;
};

static void
s_secret_free (char **secret_p)
{
    if (*secret_p) {
        sodium_memzero (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}

pool_t *
pool_new (const char *endpoint, const char *user, const char *password, int max_idle, int timeout_ms)
{
    assert (endpoint && user && password && max_idle >= 0);
    pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->logged_in, NULL);
    self->endpoint = strdup (endpoint);
    self->user = strdup (user);
    self->password = strdup (password);
    self->max_idle = max_idle > 0 ? max_idle : 1;
    self->timeout_ms = timeout_ms;
    self->clients = calloc ((size_t)self->max_idle, sizeof (client_t *));
    if (!self->endpoint || !self->user || !self->password || !self->clients)
        pool_destroy (&self);
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
    s_secret_free (&self->password);
    s_secret_free (&self->ticket);
    pthread_cond_destroy (&self->logged_in);
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

/* The ticket to make a new client with (caller frees; NULL: log in with the password). While
   another thread's password HELO is under way, waits for its ticket (at most the timeout)
   rather than costing the broker an Argon2id check more; *first: this thread logs in. */
static char *
s_ticket_wait (pool_t *self, bool *first)
{
    struct timespec until;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += self->timeout_ms / 1000;
    until.tv_nsec += (long)(self->timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock (&self->lock);
    while (!self->ticket && self->logging_in)
        if (pthread_cond_timedwait (&self->logged_in, &self->lock, &until) == ETIMEDOUT)
            break;
    char *ticket = self->ticket ? strdup (self->ticket) : NULL;
    *first = !ticket && !self->logging_in;
    if (*first)
        self->logging_in = true;
    pthread_mutex_unlock (&self->lock);
    return ticket;
}

/* A new client: RESUME with the pool's ticket when it has one (a refused ticket falls back to
   the password in the client), and the ticket it ends up with kept for the next */
static client_t *
s_client_make (pool_t *self, char **error)
{
    bool first = false;
    char *ticket = s_ticket_wait (self, &first);
    client_t *client =
        client_new_resuming (self->endpoint, self->user, self->password, ticket, self->timeout_ms, error);
    s_secret_free (&ticket);
    char *fresh = client ? client_ticket_dup (client) : NULL;
    pthread_mutex_lock (&self->lock);
    if (fresh) {
        s_secret_free (&self->ticket);
        self->ticket = fresh;
    }
    if (first) {
        self->logging_in = false;
        pthread_cond_broadcast (&self->logged_in);
    }
    pthread_mutex_unlock (&self->lock);
    return client;
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
    client = s_client_make (self, error);
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
