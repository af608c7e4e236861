/*  throttle.c — a fixed table of client addresses behind one mutex. An entry is found by a
    linear scan (a few thousand 17-byte keys: microseconds, and no hash an attacker could
    aim at); when the table is full, the least recently seen address without an open
    connection gives its place, one that is not blocked first. */
#include "throttle.h"

#include <arpa/inet.h>
#include <assert.h>
#include <czmq.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_limits.h"
#include "log.h"

/* family (4 or 6) and the address: IPv4 in 4 bytes, IPv6 by its /64 prefix */
typedef struct {
    uint8_t family;
    uint8_t bytes[16];
} addr_key_t;

typedef struct {
    bool used;
    addr_key_t key;
    int connections;
    int failures;          /* decayed: one forgiven every THROTTLE_DECAY_MS */
    int recipients;        /* unknown recipients not yet counted as a failure */
    int64_t decayed_at;    /* when failures was last brought up to date */
    int64_t blocked_until; /* refused until then */
    int64_t seen;          /* last use, for eviction */
    int64_t log_window;    /* start of the current THROTTLE_LOG_INTERVAL_MS */
    int logged;            /* refusals logged in that window */
    int suppressed;        /* refusals not logged since the last line */
} entry_t;

struct throttle_t {
    throttle_config_t config;
    pthread_mutex_t lock;
    entry_t *entries;
};

throttle_config_t
throttle_defaults (int max_sessions)
{
    return (throttle_config_t){.max_connections = THROTTLE_MAX_CONNECTIONS,
                               .max_failures = THROTTLE_MAX_FAILURES,
                               .delay_ms = THROTTLE_DELAY_MS,
                               .block_ms = THROTTLE_BLOCK_S * 1000,
                               .capacity = THROTTLE_MAX_ADDRESSES + max_sessions,
                               .clock_ms = NULL};
}

throttle_t *
throttle_new (const throttle_config_t *config)
{
    assert (config && config->capacity > 0);
    throttle_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    if (!self->config.clock_ms)
        self->config.clock_ms = zclock_mono;
    self->entries = calloc ((size_t)config->capacity, sizeof (entry_t));
    if (!self->entries) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
throttle_destroy (throttle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    throttle_t *self = *self_p;
    pthread_mutex_destroy (&self->lock);
    free (self->entries);
    free (self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ keys */

static void
s_key_v4 (addr_key_t *key, const void *addr)
{
    memset (key, 0, sizeof *key);
    key->family = 4;
    memcpy (key->bytes, addr, 4);
}

static void
s_key_v6 (addr_key_t *key, const struct in6_addr *addr)
{
    /* an IPv4-mapped address (::ffff:a.b.c.d, from a dual-stack socket) is that IPv4 address */
    if (IN6_IS_ADDR_V4MAPPED (addr)) {
        s_key_v4 (key, addr->s6_addr + 12);
        return;
    }
    memset (key, 0, sizeof *key);
    key->family = 6;
    memcpy (key->bytes, addr->s6_addr, THROTTLE_IPV6_PREFIX_BYTES);
}

static bool
s_key_from_sockaddr (addr_key_t *key, const struct sockaddr *sa)
{
    if (sa && sa->sa_family == AF_INET)
        s_key_v4 (key, &((const struct sockaddr_in *)sa)->sin_addr);
    else if (sa && sa->sa_family == AF_INET6)
        s_key_v6 (key, &((const struct sockaddr_in6 *)sa)->sin6_addr);
    else
        return false;
    return true;
}

/* "127.0.0.1:40000" or "::1:40000" (conn_peer's form): the address before the last colon */
static bool
s_key_from_peer (addr_key_t *key, const char *peer)
{
    const char *colon = peer ? strrchr (peer, ':') : NULL;
    char host[INET6_ADDRSTRLEN];
    if (!colon || (size_t)(colon - peer) >= sizeof host)
        return false;
    snprintf (host, sizeof host, "%.*s", (int)(colon - peer), peer);
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton (AF_INET, host, &v4) == 1)
        s_key_v4 (key, &v4);
    else if (inet_pton (AF_INET6, host, &v6) == 1)
        s_key_v6 (key, &v6);
    else
        return false;
    return true;
}

/* For log lines: "127.0.0.1" or "2001:db8::/64" (made from the key, never from client text) */
static const char *
s_key_text (const addr_key_t *key, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "?";
    inet_ntop (key->family == 4 ? AF_INET : AF_INET6, key->bytes, host, sizeof host);
    snprintf (buf, size, "%s%s", host, key->family == 6 ? "/64" : "");
    return buf;
}

/* ------------------------------------------------------------------ the table (lock held) */

/* Forgives the failures whose time has passed */
static void
s_decay (entry_t *e, int64_t now)
{
    int64_t forgiven = (now - e->decayed_at) / THROTTLE_DECAY_MS;
    if (forgiven >= e->failures) {
        e->failures = 0;
        e->decayed_at = now;
    }
    else if (forgiven > 0) {
        e->failures -= (int)forgiven;
        e->decayed_at += forgiven * THROTTLE_DECAY_MS;
    }
}

/* Nothing left to remember: no connection, no failure, no block */
static bool
s_forgotten (entry_t *e, int64_t now)
{
    if (!e->used)
        return true;
    s_decay (e, now);
    return e->connections == 0 && e->failures == 0 && e->blocked_until <= now;
}

/* Rank of an entry as a place for a new address (lower is better): a free one, then an idle
   one that is not blocked, then a blocked one; -1 when it is in use by a connection */
static int
s_rank (entry_t *e, int64_t now)
{
    if (s_forgotten (e, now))
        return 0;
    if (e->connections > 0)
        return -1;
    return e->blocked_until <= now ? 1 : 2;
}

/* The place for a new address: the best rank, the least recently seen among equals */
static entry_t *
s_victim (throttle_t *self, int64_t now)
{
    entry_t *best = NULL;
    int best_rank = 3;
    for (int i = 0; i < self->config.capacity; i++) {
        entry_t *e = &self->entries[i];
        int rank = s_rank (e, now);
        if (rank >= 0 && (rank < best_rank || (rank == best_rank && e->seen < best->seen))) {
            best = e;
            best_rank = rank;
        }
        if (rank == 0)
            break;
    }
    return best;
}

/* The entry of key, made when create and absent (NULL when every place holds a connection) */
static entry_t *
s_find (throttle_t *self, const addr_key_t *key, int64_t now, bool create)
{
    for (int i = 0; i < self->config.capacity; i++) {
        entry_t *e = &self->entries[i];
        if (e->used && memcmp (&e->key, key, sizeof *key) == 0) {
            e->seen = now;
            s_decay (e, now);
            return e;
        }
    }
    if (!create)
        return NULL;
    entry_t *e = s_victim (self, now);
    if (e)
        *e = (entry_t){.used = true, .key = *key, .decayed_at = now, .seen = now, .log_window = now};
    return e;
}

/* ------------------------------------------------------------------ connections */

/* A refusal may be logged: each one is, up to THROTTLE_LOG_BURST in THROTTLE_LOG_INTERVAL_MS;
   a flood beyond is counted, and the next line says how many were left out. Returns that
   count, or -1 when this refusal is not to be logged. */
static int
s_log_budget (entry_t *e, int64_t now)
{
    if (now - e->log_window >= THROTTLE_LOG_INTERVAL_MS) {
        e->log_window = now;
        e->logged = 0;
    }
    if (e->logged >= THROTTLE_LOG_BURST) {
        e->suppressed++;
        return -1;
    }
    e->logged++;
    int suppressed = e->suppressed;
    e->suppressed = 0;
    return suppressed;
}

throttle_verdict_t
throttle_connect (throttle_t *self, const struct sockaddr *addr, const char *protocol)
{
    addr_key_t key;
    if (!self || !s_key_from_sockaddr (&key, addr))
        return THROTTLE_OK;
    pthread_mutex_lock (&self->lock);
    int64_t now = self->config.clock_ms ();
    entry_t *e = s_find (self, &key, now, true);
    throttle_verdict_t verdict = THROTTLE_OK;
    if (e && e->blocked_until > now)
        verdict = THROTTLE_BLOCKED;
    else if (e && self->config.max_connections > 0 && e->connections >= self->config.max_connections)
        verdict = THROTTLE_TOO_MANY;
    else if (e)
        e->connections++;
    int suppressed = -1, open = e ? e->connections : 0;
    int64_t left_ms = e ? e->blocked_until - now : 0;
    if (verdict != THROTTLE_OK)
        suppressed = s_log_budget (e, now);
    pthread_mutex_unlock (&self->lock);
    char text[INET6_ADDRSTRLEN + 8];
    bool log = suppressed >= 0;
    if (log && verdict == THROTTLE_TOO_MANY)
        log_warn ("gateway", "too-many-connections", "protocol=%s address=%s open=%d limit=%d suppressed=%d",
                  protocol, s_key_text (&key, text, sizeof text), open, self->config.max_connections,
                  suppressed);
    else if (log)
        log_warn ("gateway", "blocked-address", "protocol=%s address=%s seconds-left=%lld suppressed=%d",
                  protocol, s_key_text (&key, text, sizeof text), (long long)(left_ms + 999) / 1000,
                  suppressed);
    return verdict;
}

void
throttle_disconnect (throttle_t *self, const struct sockaddr *addr)
{
    addr_key_t key;
    if (!self || !s_key_from_sockaddr (&key, addr))
        return;
    pthread_mutex_lock (&self->lock);
    entry_t *e = s_find (self, &key, self->config.clock_ms (), false);
    if (e && e->connections > 0)
        e->connections--;
    pthread_mutex_unlock (&self->lock);
}

/* ------------------------------------------------------------------ failures */

/* The wait before the reply to the n-th failure: delay_ms doubled n - 1 times, capped */
static int
s_delay (const throttle_config_t *config, int failures)
{
    int64_t delay = config->delay_ms;
    for (int i = 1; i < failures && delay < THROTTLE_DELAY_MAX_MS; i++)
        delay *= 2;
    return (int)(delay < THROTTLE_DELAY_MAX_MS ? delay : THROTTLE_DELAY_MAX_MS);
}

int
throttle_failure (throttle_t *self, const char *peer, throttle_event_t event)
{
    addr_key_t key;
    if (!self || !s_key_from_peer (&key, peer))
        return 0;
    pthread_mutex_lock (&self->lock);
    int64_t now = self->config.clock_ms ();
    entry_t *e = s_find (self, &key, now, true);
    int delay = 0;
    bool blocked_now = false;
    if (e && e->blocked_until > now)
        delay = -1;
    else if (e && event == THROTTLE_RECIPIENT && ++e->recipients < THROTTLE_RECIPIENT_WEIGHT)
        delay = 0; /* a real MTA's typo costs nothing; probing adds up */
    else if (e) {
        e->recipients = 0;
        e->failures++;
        if (self->config.max_failures > 0 && e->failures >= self->config.max_failures) {
            /* the block is the penalty: after it the address starts again from nothing */
            e->blocked_until = now + self->config.block_ms;
            e->failures = 0;
            blocked_now = true;
            delay = -1;
        }
        else
            delay = s_delay (&self->config, e->failures);
    }
    pthread_mutex_unlock (&self->lock);
    if (blocked_now) {
        char text[INET6_ADDRSTRLEN + 8];
        log_warn ("gateway", "block", "address=%s event=%s failures=%d seconds=%d",
                  s_key_text (&key, text, sizeof text), event == THROTTLE_AUTH ? "auth" : "recipient",
                  self->config.max_failures, self->config.block_ms / 1000);
    }
    return delay;
}

bool
throttle_blocked (throttle_t *self, const char *peer)
{
    addr_key_t key;
    if (!self || !s_key_from_peer (&key, peer))
        return false;
    pthread_mutex_lock (&self->lock);
    int64_t now = self->config.clock_ms ();
    entry_t *e = s_find (self, &key, now, false);
    bool blocked = e && e->blocked_until > now;
    pthread_mutex_unlock (&self->lock);
    return blocked;
}

int
throttle_size (throttle_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    int64_t now = self->config.clock_ms ();
    int size = 0;
    for (int i = 0; i < self->config.capacity; i++)
        if (!s_forgotten (&self->entries[i], now))
            size++;
    pthread_mutex_unlock (&self->lock);
    return size;
}
