/*  backoff.h — pauses between retries of a transient refusal (421, 452): exponential backoff
    with full jitter (each pause uniform in [0, min(cap, base * 2^attempt)]), within a total
    budget. Many clients refused at once then come back spread out instead of in step, so a
    storm (1,000 logins after a broker restart) converges instead of hammering. */
#ifndef MAILBUS_BACKOFF_H
#define MAILBUS_BACKOFF_H

#include <stdint.h>

/* The first ceiling and the cap of the pauses the client library uses */
#define BACKOFF_BASE_MS 100
#define BACKOFF_CAP_MS 2000

typedef struct {
    int base_ms;      /* ceiling of the first pause */
    int cap_ms;       /* the ceiling never grows past this */
    int64_t deadline; /* zclock_mono () past which no retry is made */
    int attempt;      /* pauses given so far */
} backoff_t;

/* A schedule starting now, retrying for budget_ms at most in all */
void backoff_start (backoff_t *self, int base_ms, int cap_ms, int budget_ms);

/* The ceiling of the next pause: min(cap, base * 2^attempt) */
int backoff_ceiling (const backoff_t *self);

/* The next pause in ms (libsodium's randombytes_uniform: uniform in [0, ceiling]), counted as
   an attempt; -1 when a retry after it would start past the deadline (the budget is spent) */
int backoff_next (backoff_t *self);

#endif
