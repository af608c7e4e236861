/*  conn.c — one client connection: plain TCP or TLS, and strict CRLF line reading.
    The read buffer is ours (not stdio's) so that STARTTLS can throw away exactly what
    the peer pipelined behind the command (CVE-2011-0411). */
#include "conn.h"

#include <czmq.h>
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Large enough for a whole TLS record's plaintext, so one read rarely needs two calls */
#define CONN_BUFFER 16384
/* A peer that stalls in the middle of a TLS record or handshake is dropped after this */
#define CONN_IO_TIMEOUT_SEC 60

struct conn_t {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char peer[INET6_ADDRSTRLEN + 8];
    char buf[CONN_BUFFER];
    size_t start; /* first byte not yet returned */
    size_t end;   /* one past the last byte read */
};

static void
s_peer_name (conn_t *self)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf (self->peer, sizeof self->peer, "unknown");
    if (getpeername (self->fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        inet_ntop (AF_INET, &sin->sin_addr, host, sizeof host);
        port = ntohs (sin->sin_port);
    }
    else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        inet_ntop (AF_INET6, &sin6->sin6_addr, host, sizeof host);
        port = ntohs (sin6->sin6_port);
    }
    snprintf (self->peer, sizeof self->peer, "%s:%d", host, port);
}

static int
s_handshake (conn_t *self)
{
    self->ssl = SSL_new (self->ctx);
    if (!self->ssl || SSL_set_fd (self->ssl, self->fd) != 1)
        return -1;
    int rc = SSL_accept (self->ssl);
    if (rc != 1) {
        unsigned long err = ERR_get_error ();
        char text[256] = "";
        if (err)
            ERR_error_string_n (err, text, sizeof text);
        ERR_clear_error ();
        log_info ("conn", "tls-failed", "peer=%s reason=\"%s\"", self->peer,
                  *text ? text : "handshake aborted");
        SSL_free (self->ssl);
        self->ssl = NULL;
        return -1;
    }
    log_debug ("conn", "tls", "peer=%s version=%s cipher=%s", self->peer, SSL_get_version (self->ssl),
               SSL_get_cipher_name (self->ssl));
    return 0;
}

conn_t *
conn_new (int fd, SSL_CTX *tls, bool implicit_tls)
{
    assert (fd >= 0);
    conn_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fd = fd;
    self->ctx = tls;
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Bounds every blocking read and write, the TLS handshake included */
    struct timeval tv = {CONN_IO_TIMEOUT_SEC, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    s_peer_name (self);
    if (implicit_tls && (!tls || s_handshake (self) != 0)) {
        self->fd = -1; /* the caller's again */
        conn_destroy (&self);
        return NULL;
    }
    return self;
}

void
conn_destroy (conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    conn_t *self = *self_p;
    if (self->ssl) {
        SSL_shutdown (self->ssl); /* best effort close_notify; we do not wait for the peer's */
        SSL_free (self->ssl);
    }
    if (self->fd >= 0)
        close (self->fd);
    free (self);
    *self_p = NULL;
}

/* Reads more bytes into the buffer. Returns bytes read (>0), or a conn_result_t <= 0 */
static int
s_fill (conn_t *self, int64_t deadline)
{
    if (self->start == self->end)
        self->start = self->end = 0;
    else if (self->end == sizeof self->buf && self->start > 0) {
        memmove (self->buf, self->buf + self->start, self->end - self->start);
        self->end -= self->start;
        self->start = 0;
    }
    if (self->end == sizeof self->buf)
        return CONN_ERROR; /* caller's bug: it must consume before asking for more */

    while (true) {
        /* TLS may hold decrypted bytes the socket no longer shows as readable */
        if (!self->ssl || SSL_pending (self->ssl) == 0) {
            int left = (int)(deadline - zclock_mono ());
            if (left <= 0)
                return CONN_TIMEOUT;
            struct pollfd pfd = {self->fd, POLLIN, 0};
            int rc = poll (&pfd, 1, left);
            if (rc < 0 && errno == EINTR)
                continue;
            if (rc < 0)
                return CONN_ERROR;
            if (rc == 0)
                return CONN_TIMEOUT;
        }
        char *at = self->buf + self->end;
        size_t room = sizeof self->buf - self->end;
        if (self->ssl) {
            int n = SSL_read (self->ssl, at, (int)room);
            if (n > 0) {
                self->end += (size_t)n;
                return n;
            }
            int err = SSL_get_error (self->ssl, n);
            ERR_clear_error ();
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
                continue;
            if (err == SSL_ERROR_ZERO_RETURN)
                return CONN_EOF;
            if (err == SSL_ERROR_SYSCALL && n == 0)
                return CONN_EOF; /* closed without close_notify */
            return CONN_ERROR;
        }
        ssize_t n = recv (self->fd, at, room, 0);
        if (n > 0) {
            self->end += (size_t)n;
            return (int)n;
        }
        if (n == 0)
            return CONN_EOF;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return CONN_ERROR;
    }
}

conn_result_t
conn_read_line (conn_t *self, char *buf, size_t size, size_t *len, int timeout_ms)
{
    assert (self && buf && size >= 3 && len);
    int64_t deadline = zclock_mono () + timeout_ms;
    size_t have = 0;       /* bytes copied into buf */
    bool overflow = false; /* the line did not fit: discarding up to the next LF */
    bool bare_cr = false;  /* a CR not followed by LF */
    bool last_cr = false;  /* the previous byte of the line was a CR */
    *len = 0;
    buf[0] = '\0';

    while (true) {
        while (self->start < self->end) {
            char c = self->buf[self->start++];
            if (c == '\n') {
                if (!overflow && have < size - 1)
                    buf[have++] = c;
                buf[have] = '\0';
                *len = have;
                /* the ending first: an over-long line that ends in a bare LF is a bare LF,
                   so no caller takes what follows it as the start of a line */
                if (!last_cr || bare_cr)
                    return CONN_BARE_LF;
                return overflow ? CONN_TOO_LONG : CONN_LINE;
            }
            if (last_cr)
                bare_cr = true; /* the CR before this byte was not followed by LF */
            last_cr = c == '\r';
            if (overflow)
                continue;
            /* keep one byte for the LF that ends a line of exactly size-1 bytes, and the NUL */
            if (have < size - 2)
                buf[have++] = c;
            else
                overflow = true;
        }
        int rc = s_fill (self, deadline);
        if (rc <= 0) {
            buf[have] = '\0';
            *len = have;
            return (conn_result_t)rc;
        }
    }
}

conn_result_t
conn_peek (conn_t *self, const char **data, size_t *len, int timeout_ms)
{
    assert (self && data && len);
    *data = NULL;
    *len = 0;
    if (self->start == self->end) {
        int rc = s_fill (self, zclock_mono () + timeout_ms);
        if (rc <= 0)
            return (conn_result_t)rc;
    }
    *data = self->buf + self->start;
    *len = self->end - self->start;
    return CONN_DATA;
}

void
conn_consume (conn_t *self, size_t n)
{
    assert (self && n <= self->end - self->start);
    self->start += n;
}

int
conn_write (conn_t *self, const void *data, size_t size)
{
    assert (self && (data || size == 0));
    const char *p = data;
    while (size > 0) {
        if (self->ssl) {
            size_t written = 0;
            int rc = SSL_write_ex (self->ssl, p, size, &written);
            if (rc != 1) {
                int err = SSL_get_error (self->ssl, rc);
                ERR_clear_error ();
                if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ)
                    continue;
                return -1;
            }
            p += written;
            size -= written;
        }
        else {
            ssize_t n = send (self->fd, p, size, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            p += n;
            size -= (size_t)n;
        }
    }
    return 0;
}

int
conn_printf (conn_t *self, const char *format, ...)
{
    assert (self && format);
    char line[1024];
    va_list ap;
    va_start (ap, format);
    int n = vsnprintf (line, sizeof line, format, ap);
    va_end (ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof line)
        return conn_write (self, line, (size_t)n);
    char *big = malloc ((size_t)n + 1);
    if (!big)
        return -1;
    va_start (ap, format);
    vsnprintf (big, (size_t)n + 1, format, ap);
    va_end (ap);
    int rc = conn_write (self, big, (size_t)n);
    free (big);
    return rc;
}

size_t
conn_buffered (conn_t *self)
{
    return self->end - self->start;
}

int
conn_starttls (conn_t *self)
{
    if (!self->ctx || self->ssl)
        return -1;
    /* RFC 3207 4.2 / CVE-2011-0411: nothing the peer sent before the handshake may be
       taken as a command inside TLS */
    self->start = self->end = 0;
    return s_handshake (self);
}

int
conn_fd (conn_t *self)
{
    assert (self);
    return self->fd;
}

bool
conn_pending (conn_t *self)
{
    assert (self);
    return self->end > self->start || (self->ssl && SSL_pending (self->ssl) > 0);
}

bool
conn_is_tls (conn_t *self)
{
    return self->ssl != NULL;
}

bool
conn_can_tls (conn_t *self)
{
    return self->ctx != NULL && self->ssl == NULL;
}

const char *
conn_peer (conn_t *self)
{
    return self->peer;
}

const char *
conn_tls_info (conn_t *self, char *buf, size_t size)
{
    if (!self->ssl)
        snprintf (buf, size, "plain");
    else
        snprintf (buf, size, "version=%s cipher=%s", SSL_get_version (self->ssl),
                  SSL_get_cipher_name (self->ssl));
    return buf;
}
