/*  listener.h — the gateway's listening sockets and its sessions: one poll loop accepts
    on every listener, and each connection gets its own thread, up to a cap. */
#ifndef MAILBUS_LISTENER_H
#define MAILBUS_LISTENER_H

#include "gateway.h"
#include "pool.h"

typedef enum {
    LISTEN_SMTP = 0,
    LISTEN_SMTPS,
    LISTEN_POP3,
    LISTEN_POP3S,
    LISTEN_IMAP,
    LISTEN_IMAPS
} listen_kind_t;

typedef struct listener_t listener_t;

/* NULL when out of memory */
listener_t *listener_new (const gateway_config_t *config, pool_t *pool);
void listener_destroy (listener_t **self_p);

/* Binds "HOST:PORT" ("[::1]:25" for IPv6) for kind. A non-loopback address is refused
   unless public_ok (a real certificate is configured). Returns 0, or -1 with *error. */
int listener_add (listener_t *self, listen_kind_t kind, const char *hostport, bool public_ok, char **error);

/* Accepts until stop_fd becomes readable, then ends the sessions still running (their
   sockets are shut down) and waits for them: a session in the middle of a broker call ends
   when the call does. Returns how many sessions are still running after the longest wait a
   broker call may take (0 unless a session thread is stuck): whatever those sessions use
   (the pool, the TLS context, the listener) must then be left alone. */
int listener_run (listener_t *self, int stop_fd);

const char *listener_kind_name (listen_kind_t kind);

#endif
