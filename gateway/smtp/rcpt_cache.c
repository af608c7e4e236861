/*  rcpt_cache.c — a small fixed-size, mutex-protected cache (direct-mapped by hash). */
#include "rcpt_cache.h"

#include <czmq.h>
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mb_limits.h"

#define SLOTS 1024

typedef struct {
    char address[MAX_ADDRESS + 1];
    int64_t expires;
} slot_t;

static slot_t s_slots[SLOTS];
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned
s_hash (const char *text)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *text; text++)
        h = (h ^ (unsigned char)*text) * 16777619u;
    return h % SLOTS;
}

bool
rcpt_cache_known (const char *address)
{
    assert (address);
    slot_t *slot = &s_slots[s_hash (address)];
    pthread_mutex_lock (&s_lock);
    bool known = slot->expires > zclock_mono () && strcmp (slot->address, address) == 0;
    pthread_mutex_unlock (&s_lock);
    return known;
}

void
rcpt_cache_add (const char *address)
{
    assert (address);
    if (strlen (address) > MAX_ADDRESS)
        return;
    slot_t *slot = &s_slots[s_hash (address)];
    pthread_mutex_lock (&s_lock);
    snprintf (slot->address, sizeof slot->address, "%s", address);
    slot->expires = zclock_mono () + RCPT_CACHE_TTL_MS;
    pthread_mutex_unlock (&s_lock);
}
