/*  listen_addr.h — what --smtp, --pop3, --smtps and --pop3s accept: exactly one HOST:PORT
    ("[IPV6]:PORT" for IPv6), parsed strictly before anything resolves or binds, then resolved
    and judged: loopback only when every address the host resolves to is loopback. The
    gateway refuses to listen beyond loopback without a real certificate or the lab flag. */
#ifndef MAILBUS_LISTEN_ADDR_H
#define MAILBUS_LISTEN_ADDR_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: a name is at most 255 octets (253 in text), a label at most 63 */
#define LISTEN_ADDR_MAX_HOST 253
#define LISTEN_ADDR_MAX_LABEL 63
/* RFC 6335 6: port numbers are 0-65535; 0 ("any") is refused, nobody could find it */
#define LISTEN_ADDR_MAX_PORT 65535

typedef struct {
    char host[LISTEN_ADDR_MAX_HOST + 1]; /* without the brackets of an IPv6 literal */
    char port[8];                        /* decimal, 1-65535 */
    bool ipv6_literal;
} listen_addr_t;

/* Parses text without touching the network: a host name (RFC 1123 2.1 letters, digits,
   hyphens, dots), an IPv4 literal, or a bracketed IPv6 literal, then ':' and a decimal port.
   Refuses an empty host (write 0.0.0.0 or [::] to mean every address), a service name, a
   second address ("127.0.0.1:1;0.0.0.0:2"), spaces and control characters.
   Returns 0, or -1 with a static reason in *why. */
int listen_addr_parse (const char *text, listen_addr_t *addr, const char **why);

/* Resolves addr and sets *loopback when every address it resolves to is a loopback one
   (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). Returns 0, or -1 with *error (caller frees). */
int listen_addr_resolve (const listen_addr_t *addr, bool *loopback, char **error);

/* parse + resolve + the rule: a non-loopback address needs public_ok. The error says what
   was given (quoted) and which options allow it. Returns 0, or -1 with *error. */
int listen_addr_check (const char *text, bool public_ok, char **error);

#endif
