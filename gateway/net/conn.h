/*  conn.h — one client connection of the gateway: a TCP socket, plain or TLS (OpenSSL),
    with strict line reading (CRLF only) for the SMTP and POP3 state machines. A session
    thread owns its conn; nothing here is shared between threads. */
#ifndef MAILBUS_CONN_H
#define MAILBUS_CONN_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct conn_t conn_t;

/* Result of conn_read_line */
typedef enum {
    CONN_DATA = 2,      /* conn_peek: bytes are buffered */
    CONN_LINE = 1,      /* a whole line ending in CRLF is in buf (CRLF included) */
    CONN_EOF = 0,       /* the peer closed */
    CONN_ERROR = -1,    /* socket or TLS error */
    CONN_TIMEOUT = -2,  /* nothing within the timeout */
    CONN_TOO_LONG = -3, /* the line did not fit and ended in CRLF: the rest was discarded */
    CONN_BARE_LF = -4,  /* the line ended in LF without CR, or held a CR not followed by LF
                           (also when it was too long: the ending is judged first) */
} conn_result_t;

/* Takes ownership of fd on success. tls is the server context for STARTTLS/STLS (may be NULL:
   then no TLS is offered); implicit_tls starts the TLS handshake at once (smtps/pop3s). Returns
   NULL when that handshake fails: fd is left open for the caller to close (the listener closes
   a session's fd inside its lock, so a stop never shuts down a number already reused). */
conn_t *conn_new (int fd, SSL_CTX *tls, bool implicit_tls);
void conn_destroy (conn_t **self_p);

/* Reads one line into buf (at most size bytes, NUL-terminated after *len bytes). NUL bytes
   inside are kept and counted in *len. */
conn_result_t conn_read_line (conn_t *self, char *buf, size_t size, size_t *len, int timeout_ms);

/* For a reader that frames bytes itself (SMTP DATA, smtp_data_feed): waits until bytes are
   buffered, at most timeout_ms, and points *data at them (*len bytes) without consuming
   them. Returns CONN_DATA, or CONN_EOF / CONN_ERROR / CONN_TIMEOUT. */
conn_result_t conn_peek (conn_t *self, const char **data, size_t *len, int timeout_ms);
/* Consumes n of the bytes conn_peek showed; the rest is what conn_read_line gives next */
void conn_consume (conn_t *self, size_t n);

/* Writes all of data; 0 or -1 */
int conn_write (conn_t *self, const void *data, size_t size);
int conn_printf (conn_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

/* Bytes already read from the socket but not yet returned as lines: after a STARTTLS
   command they must be thrown away (RFC 3207 and CVE-2011-0411). */
size_t conn_buffered (conn_t *self);

/* Discards buffered input, then runs the server TLS handshake. 0 or -1. */
int conn_starttls (conn_t *self);

/* The socket, for a poll that waits on other things too (IMAP IDLE); poll only when
   conn_pending is false: TLS may hold decrypted bytes the socket no longer shows */
int conn_fd (conn_t *self);
/* Whether bytes can be read without waiting: in our buffer or inside OpenSSL */
bool conn_pending (conn_t *self);

bool conn_is_tls (conn_t *self);
bool conn_can_tls (conn_t *self);
/* "127.0.0.1:40000" */
const char *conn_peer (conn_t *self);
/* "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384", or "plain": for Received: and logs */
const char *conn_tls_info (conn_t *self, char *buf, size_t size);

#endif
