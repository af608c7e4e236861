/*  session.c — see session.h */
#include "session.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "log.h"
#include "mb_limits.h"

struct session_t {
    char token[CHECK_TOKEN_HEX + 1], csrf[CHECK_TOKEN_HEX + 1];
    char key[CHECK_TOKEN_HEX + 1]; /* hash of the token: the table's key */
    char *user;
    /* What later connections (the inbox's live stream) identify with: the broker's resumption
       ticket, so that the user's password is not kept; the password (sodium_malloc'd) only when
       the broker gives no tickets (--ticket-lifetime 0). Never logged. */
    char *ticket;
    char *password;
    client_t *client;
    pthread_mutex_t lock;
    int refs;
    bool ended;
    time_t last_used;
    sessions_t *owner; /* its lock guards refs, ended and last_used */
};

typedef struct {
    int failures;
    time_t until, last;
} strikes_t;

struct sessions_t {
    const web_settings_t *settings;
    pthread_mutex_t lock;
    zhash_t *sessions; /* key -> session_t */
    zhash_t *strikes;  /* "ip ADDR" / "to ADDRESS" -> strikes_t */
};

static void
s_random_hex (char out[CHECK_TOKEN_HEX + 1])
{
    unsigned char bytes[CHECK_TOKEN_HEX / 2];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2hex (out, CHECK_TOKEN_HEX + 1, bytes, sizeof bytes);
}

static void
s_key_of (const char *token, char key[CHECK_TOKEN_HEX + 1])
{
    unsigned char hash[CHECK_TOKEN_HEX / 2];
    crypto_generichash (hash, sizeof hash, (const unsigned char *)token, strlen (token), NULL, 0);
    sodium_bin2hex (key, CHECK_TOKEN_HEX + 1, hash, sizeof hash);
}

sessions_t *
sessions_new (const web_settings_t *settings)
{
    sessions_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->settings = settings;
    pthread_mutex_init (&self->lock, NULL);
    self->sessions = zhash_new ();
    self->strikes = zhash_new ();
    return self;
}

static void
s_session_free (session_t *s)
{
    client_destroy (&s->client);
    if (s->password)
        sodium_free (s->password);
    if (s->ticket) {
        sodium_memzero (s->ticket, strlen (s->ticket));
        free (s->ticket);
    }
    free (s->user);
    pthread_mutex_destroy (&s->lock);
    free (s);
}

void
sessions_destroy (sessions_t **self_p)
{
    sessions_t *self = *self_p;
    if (!self)
        return;
    for (session_t *s = zhash_first (self->sessions); s; s = zhash_next (self->sessions))
        s_session_free (s);
    zhash_destroy (&self->sessions);
    zhash_destroy (&self->strikes);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* Drops idle sessions no request holds (the lock is held) */
static void
s_expire (sessions_t *self, time_t now)
{
    zlist_t *keys = zhash_keys (self->sessions);
    for (char *key = zlist_first (keys); key; key = zlist_next (keys)) {
        session_t *s = zhash_lookup (self->sessions, key);
        if (s->refs == 0 && (s->ended || now - s->last_used > self->settings->session_idle_s)) {
            log_info ("web", "session-end", "user=%s why=%s", s->user, s->ended ? "logout" : "idle");
            zhash_delete (self->sessions, key);
            s_session_free (s);
        }
    }
    zlist_destroy (&keys);
}

/* Seconds the key is still blocked, 0 when it is not (the lock is held) */
static int
s_blocked (sessions_t *self, const char *key, time_t now)
{
    strikes_t *st = zhash_lookup (self->strikes, key);
    return st && st->until > now ? (int)(st->until - now) : 0;
}

/* Drops the strikes that block nothing and are older than ten minutes (the lock is held) */
static void
s_forget_strikes (sessions_t *self, time_t now)
{
    zlist_t *keys = zhash_keys (self->strikes);
    for (char *key = zlist_first (keys); key; key = zlist_next (keys)) {
        strikes_t *st = zhash_lookup (self->strikes, key);
        if (st->until <= now && now - st->last > 600)
            zhash_delete (self->strikes, key);
    }
    zlist_destroy (&keys);
}

static void
s_strike (sessions_t *self, const char *key, time_t now)
{
    strikes_t *st = zhash_lookup (self->strikes, key);
    if (!st) {
        if (zhash_size (self->strikes) >= SESSIONS_MAX_STRIKES)
            s_forget_strikes (self, now);
        if (zhash_size (self->strikes) >= SESSIONS_MAX_STRIKES)
            return; /* bounded: a flood of addresses cannot grow it without end */
        st = calloc (1, sizeof *st);
        if (!st)
            return; /* a strike not counted rather than a crash */
        zhash_insert (self->strikes, key, st);
        zhash_freefn (self->strikes, key, free);
    }
    if (now - st->last > 60 && st->failures > 0)
        st->failures--; /* one failure forgiven each minute */
    st->last = now;
    if (++st->failures >= self->settings->max_failures)
        st->until = now + self->settings->block_s;
}

static session_t *
s_session_new (sessions_t *owner, client_t *client, const char *password)
{
    session_t *s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    s->owner = owner;
    s_random_hex (s->token);
    s_random_hex (s->csrf);
    s_key_of (s->token, s->key);
    s->user = strdup (client_user (client));
    s->ticket = client_ticket_dup (client);
    if (!s->ticket || !client_forget_password (client)) {
        size_t len = strlen (password);
        s->password = sodium_malloc (len + 1);
        if (s->password)
            memcpy (s->password, password, len + 1);
    }
    pthread_mutex_init (&s->lock, NULL);
    if (!s->user || (!s->ticket && !s->password)) {
        s_session_free (s); /* the client stays the caller's */
        return NULL;
    }
    s->client = client;
    s->refs = 1;
    s->last_used = time (NULL);
    return s;
}

/* The broker's answer to HELO: 535 is a wrong password, anything else (421, a timeout) means
   the broker cannot say now */
static unsigned
s_login_failed (const char *error)
{
    bool refused = error && (strncmp (error, "535", 3) == 0 || strncmp (error, "501", 3) == 0);
    return refused ? 401 : 503;
}

/* The throttle keys of a login: the client's address and the mailbox tried */
static void
s_keys (const char *peer, const char *address, char *ip_key, char *to_key, size_t size)
{
    snprintf (ip_key, size, "ip %s", peer);
    snprintf (to_key, size, "to %.*s", MAX_ADDRESS, address);
    for (char *p = to_key; *p; p++)
        *p = (char)tolower ((unsigned char)*p); /* Bob@ and bob@ are one mailbox */
}

unsigned
sessions_login (sessions_t *self, const char *peer, const char *address, const char *password,
                session_t **session, int *retry_s, const char **why)
{
    char ip_key[128], to_key[MAX_ADDRESS + 8];
    s_keys (peer, address, ip_key, to_key, sizeof to_key);
    time_t now = time (NULL);
    pthread_mutex_lock (&self->lock);
    s_expire (self, now);
    int blocked = s_blocked (self, ip_key, now);
    if (!blocked)
        blocked = s_blocked (self, to_key, now);
    size_t count = zhash_size (self->sessions);
    pthread_mutex_unlock (&self->lock);
    *retry_s = blocked;
    if (blocked) {
        *why = "too many failed logins: try again later";
        return 429;
    }
    if (count >= SESSIONS_MAX) {
        *why = "too many sessions: try again later";
        return 503;
    }
    char *error = NULL;
    client_t *client =
        client_new (self->settings->broker, address, password, (int)self->settings->timeout_ms, &error);
    if (!client) {
        unsigned status = s_login_failed (error);
        char quoted[200];
        log_warn ("web", "login-failed", "peer=%s user=%s reply=%s", peer,
                  log_quote (quoted, sizeof quoted, address, strlen (address)),
                  status == 401 ? "535" : "none");
        free (error);
        if (status == 401) {
            pthread_mutex_lock (&self->lock);
            s_strike (self, ip_key, now);
            s_strike (self, to_key, now);
            pthread_mutex_unlock (&self->lock);
            *why = "wrong address or password";
        }
        else
            *why = "the broker is not answering: try again shortly";
        return status;
    }
    session_t *s = s_session_new (self, client, password);
    if (!s) {
        client_destroy (&client);
        log_warn ("web", "out-of-memory", "peer=%s where=login", peer);
        *why = "out of memory, try again shortly";
        return 503;
    }
    pthread_mutex_lock (&self->lock);
    zhash_insert (self->sessions, s->key, s);
    zhash_delete (self->strikes, ip_key);
    pthread_mutex_unlock (&self->lock);
    log_info ("web", "login", "peer=%s user=%s", peer, s->user);
    *session = s;
    return 200;
}

session_t *
sessions_find (sessions_t *self, const char *token)
{
    if (!check_token (token))
        return NULL;
    char key[CHECK_TOKEN_HEX + 1];
    s_key_of (token, key);
    time_t now = time (NULL);
    pthread_mutex_lock (&self->lock);
    s_expire (self, now);
    session_t *s = zhash_lookup (self->sessions, key);
    if (s && !s->ended) {
        s->refs++;
        s->last_used = now;
    }
    else
        s = NULL;
    pthread_mutex_unlock (&self->lock);
    return s;
}

void
session_release (session_t **self_p)
{
    session_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->owner->lock);
    self->refs--;
    pthread_mutex_unlock (&self->owner->lock);
    *self_p = NULL;
}

void
sessions_end (sessions_t *self, session_t *session)
{
    pthread_mutex_lock (&self->lock);
    session->ended = true;
    pthread_mutex_unlock (&self->lock);
}

bool
session_ended (session_t *self)
{
    pthread_mutex_lock (&self->owner->lock);
    bool ended = self->ended;
    pthread_mutex_unlock (&self->owner->lock);
    return ended;
}

const char *
session_token (session_t *self)
{
    return self->token;
}

const char *
session_csrf (session_t *self)
{
    return self->csrf;
}

const char *
session_user (session_t *self)
{
    return self->user;
}

bool
session_csrf_ok (session_t *self, const char *token)
{
    return check_token (token) && sodium_memcmp (token, self->csrf, CHECK_TOKEN_HEX) == 0;
}

client_t *
session_lock (session_t *self)
{
    pthread_mutex_lock (&self->lock);
    return self->client;
}

void
session_unlock (session_t *self)
{
    pthread_mutex_unlock (&self->lock);
}

client_t *
session_watcher (session_t *self, int timeout_ms, char **error)
{
    if (self->password)
        return client_new (self->owner->settings->broker, self->user, self->password, timeout_ms, error);
    return client_new_resuming (self->owner->settings->broker, self->user, NULL, self->ticket, timeout_ms,
                                error);
}
