/*  pool.c — the pool of identified gateway clients. */
#include "pool.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct pool_t {
    pthread_mutex_t lock;
    char *endpoint;
    char *user;
    char *password;
    int timeout_ms;
    int max_idle;
    int idle;
    client_t **clients;
};

pool_t *
pool_new (const char *endpoint, const char *user, const char *password, int max_idle, int timeout_ms)
{
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

client_t *
pool_take (pool_t *self, char **error)
{
    client_t *client = NULL;
    pthread_mutex_lock (&self->lock);
    if (self->idle > 0)
        client = self->clients[--self->idle];
    pthread_mutex_unlock (&self->lock);
    if (client)
        return client;
    return client_new (self->endpoint, self->user, self->password, self->timeout_ms, error);
}

void
pool_give (pool_t *self, client_t **client_p, bool broken)
{
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
