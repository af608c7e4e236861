/*  gateway.h — what every part of mailbus-gateway shares: its settings. */
#ifndef MAILBUS_GATEWAY_H
#define MAILBUS_GATEWAY_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "throttle.h"

typedef struct {
    const char *broker;       /* broker endpoint, tcp://127.0.0.1:5670 */
    const char *gateway_user; /* the gateway's own broker mailbox (role gateway) */
    const char *gateway_password;
    const char *hostname;       /* shown in greetings and Received: */
    const char *const *domains; /* local domains (NULL-terminated) */
    bool allow_plaintext_auth;  /* AUTH / USER-PASS without TLS */
    SSL_CTX *tls;               /* server context; NULL when TLS is off */
    size_t max_message_bytes;
    int max_sessions;
    throttle_t *throttle; /* per-address connections and failures (NULL: none) */
    int smtp_timeout_ms;  /* idle time before an SMTP session is closed (--smtp-timeout) */
    int pop3_timeout_ms;  /* POP3 autologout (--pop3-timeout) */
    int imap_timeout_ms;  /* IMAP autologout (--imap-timeout) */
} gateway_config_t;

#endif
