/*  worker.c — see worker.h */
#include "worker.h"

#include <assert.h>

#include "log.h"
#include "pool.h"

/* How long the worker waits for the broker's answer to its HELO */
#define WORKER_BROKER_TIMEOUT_MS 5000

/* A stale gateway secret must not cost the broker a HELO twice a second: one line a step */
static client_t *
s_connect (const worker_config_t *config, pool_backoff_t *backoff)
{
    char *error = NULL;
    client_t *client = client_new (config->broker, config->gateway_user, config->gateway_password,
                                   WORKER_BROKER_TIMEOUT_MS, &error);
    char event[32];
    snprintf (event, sizeof event, "%s-no-broker", config->name);
    if (client)
        pool_backoff_succeeded (backoff);
    else
        log_warn ("gateway", event, "error=\"%s\" retry-in-ms=%d", error,
                  pool_backoff_failed (backoff, zclock_mono ()));
    free (error);
    return client;
}

/* Waits for the pipe until until_ms: false once $TERM came (or the pipe closed); a FLUSH
   makes the next round due now */
static bool
s_wait (zsock_t *pipe, int64_t until_ms, int64_t *next_ms)
{
    int64_t now = zclock_mono ();
    zmq_pollitem_t item = {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, (long)(until_ms > now ? until_ms - now : 0)) <= 0)
        return true;
    char *command = zstr_recv (pipe);
    bool term = !command || streq (command, "$TERM");
    if (command && streq (command, "FLUSH"))
        *next_ms = 0;
    free (command);
    return !term;
}

static void
s_worker_actor (zsock_t *pipe, void *args)
{
    worker_config_t config = *(const worker_config_t *)args;
    zsock_signal (pipe, 0);
    client_t *client = NULL;
    curl_stop_t stop = {pipe, false, false};
    pool_backoff_t backoff = {0, 0};
    int64_t next = 0;
    while (!zsys_interrupted) {
        if (!client && pool_backoff_due (&backoff, zclock_mono ()))
            client = s_connect (&config, &backoff);
        int64_t now = zclock_mono ();
        if (client && now >= next) {
            worker_result_t result = config.round (config.args, client, &stop);
            if (result == WORKER_BROKEN)
                client_destroy (&client); /* connect again next time */
            /* the interval runs from the round's end; a FLUSH that came during the round asks
               for the next one at once too */
            next = result == WORKER_MORE || stop.flush ? now : zclock_mono () + config.interval_ms;
            stop.flush = false;
        }
        if (stop.stopping || !s_wait (pipe, client ? next : backoff.next_ms, &next))
            break;
    }
    client_destroy (&client);
}

zactor_t *
worker_new (const worker_config_t *config)
{
    assert (config && config->name && config->broker && config->round);
    assert (config->interval_ms >= 0);
    return zactor_new (s_worker_actor, (void *)config);
}
