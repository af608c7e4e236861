/*  throttle.h — what the gateway remembers about each client address, shared by every
    listener and session thread: how many connections it has open now (a per-address cap, like
    Postfix's smtpd_client_connection_count_limit and Dovecot's mail_max_userip_connections),
    and how many logins failed or unknown recipients it tried lately (a growing delay per
    failure, then a block: fail2ban's rule inside the server). The table is bounded: the least
    recently seen idle address is forgotten first, so an attacker cannot grow memory. */
#ifndef MAILBUS_THROTTLE_H
#define MAILBUS_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct throttle_t throttle_t;

typedef struct {
    int max_connections;        /* open connections per address (0: no cap) */
    int max_failures;           /* failures (decayed) that block the address (0: never block) */
    int delay_ms;               /* wait before the reply to the first failure; doubles each time */
    int block_ms;               /* how long a blocked address is refused */
    int capacity;               /* addresses remembered at most (at least max_sessions + 1) */
    int64_t (*clock_ms) (void); /* monotonic milliseconds; NULL: CLOCK_MONOTONIC (tests pass their own) */
} throttle_config_t;

/* The replies to a blocked address (without CRLF): at accept time and when a session learns
   of the block. RFC 3463 4.7.0: a transient security refusal; RFC 3206 [SYS/TEMP]. */
#define THROTTLE_SMTP_BLOCKED "421 4.7.0 too many failures from your address, try again later"
#define THROTTLE_POP3_BLOCKED "[SYS/TEMP] too many failures from your address, try again later"

/* The defaults of gw_limits.h (THROTTLE_*) for a gateway with max_sessions sessions */
throttle_config_t throttle_defaults (int max_sessions);

throttle_t *throttle_new (const throttle_config_t *config);
void throttle_destroy (throttle_t **self_p);

typedef enum {
    THROTTLE_OK = 0,   /* counted: call throttle_disconnect when the connection ends */
    THROTTLE_TOO_MANY, /* the address has max_connections open already */
    THROTTLE_BLOCKED,  /* the address is blocked for its failures */
} throttle_verdict_t;

/* The listener, at accept time, before the session starts: counts the connection or says why
   not. A refusal is logged here, once per address and at most every THROTTLE_LOG_INTERVAL_MS
   (with how many were not logged), so a flood does not flood the log. protocol names the
   listener in that log line. A NULL self lets everything in. */
throttle_verdict_t throttle_connect (throttle_t *self, const struct sockaddr *addr, const char *protocol);
/* The connection counted by throttle_connect has ended */
void throttle_disconnect (throttle_t *self, const struct sockaddr *addr);

typedef enum {
    THROTTLE_AUTH,      /* a failed login: SMTP AUTH, POP3 USER/PASS or AUTH, a malformed SASL response */
    THROTTLE_RECIPIENT, /* a recipient that is not a local mailbox (RCPT TO probing, 550 5.1.1) */
} throttle_event_t;

/* For sessions, SMTP and POP3 alike: records one failure of the client at peer (the
   "ADDRESS:PORT" text of conn_peer). Returns how long, in milliseconds, the caller waits
   before it replies (the delay doubles with each failure the address made lately, up to
   THROTTLE_DELAY_MAX_MS), or -1 when the address is now blocked: then reply with a transient
   error and end the session (SMTP "421 4.7.0 too many failures from your address, try again
   later", POP3 "-ERR [SYS/TEMP] ..."). The SMTP server calls it on a 535 and on a 550 5.1.1:

       int delay = throttle_failure (config->throttle, conn_peer (conn), THROTTLE_AUTH);
       if (delay < 0) { reply 421 4.7.0 and close } else { zclock_sleep (delay); reply 535 }

   A NULL self or an unparsable peer records nothing and returns 0. */
int throttle_failure (throttle_t *self, const char *peer, throttle_event_t event);

/* True while the client at peer ("ADDRESS:PORT") is blocked: a session asks before it tries
   a login, since a session opened before the block may still be running. */
bool throttle_blocked (throttle_t *self, const char *peer);

/* How many addresses the table holds now (for tests and logs) */
int throttle_size (throttle_t *self);

#endif
