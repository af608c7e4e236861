/*  backoff.c — exponential backoff with full jitter. */
#include "backoff.h"

#include <assert.h>
#include <czmq.h>
#include <sodium.h>

void
backoff_start (backoff_t *self, int base_ms, int cap_ms, int budget_ms)
{
    assert (self);
    assert (base_ms > 0 && cap_ms >= base_ms);
    *self = (backoff_t){base_ms, cap_ms, zclock_mono () + (budget_ms > 0 ? budget_ms : 0), 0};
}

int
backoff_ceiling (const backoff_t *self)
{
    int64_t ceiling = self->base_ms;
    for (int i = 0; i < self->attempt && ceiling < self->cap_ms; i++)
        ceiling *= 2;
    return ceiling > self->cap_ms ? self->cap_ms : (int)ceiling;
}

int
backoff_next (backoff_t *self)
{
    /* full jitter (the AWS architecture blog's comparison): spreads the retries of clients
       refused together over the whole window; randombytes_uniform has no modulo bias */
    int pause = (int)randombytes_uniform ((uint32_t)backoff_ceiling (self) + 1);
    if (zclock_mono () + pause >= self->deadline)
        return -1;
    self->attempt++;
    return pause;
}
