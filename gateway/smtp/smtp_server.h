/*  smtp_server.h — the SMTP server side of mailbus-gateway (RFC 5321 + ESMTP): one session
    per connection, run by the connection's thread. Mail accepted here is published to the
    broker (SEND) and answered 250 only after the broker's durable acknowledgement. */
#ifndef MAILBUS_SMTP_SERVER_H
#define MAILBUS_SMTP_SERVER_H

#include <stdint.h>

#include "conn.h"
#include "gateway.h"
#include "pool.h"

/* Serves one SMTP session on conn until QUIT, EOF, timeout or too many errors. The caller
   keeps conn (and destroys it afterwards). pool lends the gateway's broker identity for
   mail submitted without AUTH. id numbers the session in the log (the listener's count). */
void smtp_serve (conn_t *conn, const gateway_config_t *config, pool_t *pool, uint64_t id);

/* The greeting refusal when the session cap is reached (RFC 5321 3.1: 421 closes) */
#define SMTP_TOO_MANY_SESSIONS "421 4.3.2 too many connections, try again later\r\n"

#endif
