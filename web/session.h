/*  session.h — webmail sessions: who logged in (through the broker: HELO over the client
    library, so the broker alone checks passwords), the random session and CSRF tokens, idle
    expiry, and the login throttle per client address and per mailbox address. */
#ifndef MAILBUS_WEB_SESSION_H
#define MAILBUS_WEB_SESSION_H

#include <stdbool.h>

#include "client.h"
#include "web.h"

/* Most webmail sessions at once; a login beyond it gets 503 */
#define SESSIONS_MAX 256
/* Client and mailbox addresses the login throttle remembers at most */
#define SESSIONS_MAX_STRIKES 10000

sessions_t *sessions_new (const web_settings_t *settings);
void sessions_destroy (sessions_t **self_p);

/* Logs in through the broker. Returns the HTTP status: 200 with *session (held: release it),
   401 wrong address or password, 429 throttled (*retry_s: seconds), 503 broker not answering
   or too many sessions; *why is a text for the page (static). */
unsigned sessions_login (sessions_t *self, const char *peer, const char *address, const char *password,
                         session_t **session, int *retry_s, const char **why);

/* The live session of a cookie token (held: release it), or NULL */
session_t *sessions_find (sessions_t *self, const char *token);
void session_release (session_t **self_p);
/* Ends the session (its token stops working at once) */
void sessions_end (sessions_t *self, session_t *session);

/* True once the session was ended (logout, or the broker ended it) */
bool session_ended (session_t *self);

const char *session_token (session_t *self);
const char *session_csrf (session_t *self);
const char *session_user (session_t *self);
/* True when token is this session's CSRF token (constant time) */
bool session_csrf_ok (session_t *self, const char *token);

/* The session's broker connection, used by one request at a time: lock, call, unlock */
client_t *session_lock (session_t *self);
void session_unlock (session_t *self);
/* A second connection for WATCH (the push comes on its own connection); caller destroys.
   NULL with *error (caller frees). */
client_t *session_watcher (session_t *self, int timeout_ms, char **error);

#endif
