/*  listen_addr.c — strict HOST:PORT for the gateway's listeners, and the loopback rule. */
#include "listen_addr.h"

#include <assert.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <czmq.h>

#include "log.h"

/* RFC 1123 2.1: letters, digits and hyphens in labels of 1-63 octets, separated by dots;
   an IPv4 literal passes the same test and inet_pton/getaddrinfo decide what it is */
static bool
s_host_name_ok (const char *host, size_t len)
{
    if (len == 0 || len > LISTEN_ADDR_MAX_HOST)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-')
            return false;
        if (++label > LISTEN_ADDR_MAX_LABEL)
            return false;
    }
    return true;
}

/* Decimal digits only, 1-65535: no service names, signs or spaces */
static bool
s_port_ok (const char *port)
{
    size_t len = strlen (port);
    if (len == 0 || len > 5 || strspn (port, "0123456789") != len)
        return false;
    long n = strtol (port, NULL, 10);
    return n >= 1 && n <= LISTEN_ADDR_MAX_PORT;
}

/* Splits "[v6]:port" or "host:port" at the colon before the port. Returns the host length
   (0 on error), the host start in *host and the port in *port. */
static size_t
s_split (const char *text, const char **host, const char **port, bool *ipv6)
{
    *ipv6 = text[0] == '[';
    if (*ipv6) {
        const char *close = strchr (text, ']');
        if (!close || close[1] != ':')
            return 0;
        *host = text + 1;
        *port = close + 2;
        return (size_t)(close - text - 1);
    }
    const char *colon = strchr (text, ':');
    if (!colon || strchr (colon + 1, ':'))
        return 0; /* a bare IPv6 literal needs brackets: where would its port start? */
    *host = text;
    *port = colon + 1;
    return (size_t)(colon - text);
}

static const char *
s_split_error (const char *text)
{
    if (text && text[0] != '[' && strchr (text, ':') != strrchr (text, ':') &&
        strspn (text, "0123456789abcdefABCDEF:.") == strlen (text))
        return "an IPv6 address goes between brackets: [::1]:PORT";
    if (text && (text[0] == ':' || strncmp (text, "[]", 2) == 0))
        return "no host: write 0.0.0.0:PORT or [::]:PORT to mean every address";
    return "expected HOST:PORT or [IPV6]:PORT";
}

int
listen_addr_parse (const char *text, listen_addr_t *addr, const char **why)
{
    assert (text && addr);
    memset (addr, 0, sizeof *addr);
    const char *host = NULL, *port = NULL;
    bool ipv6 = false;
    size_t len = text ? s_split (text, &host, &port, &ipv6) : 0;
    if (len == 0 || len > LISTEN_ADDR_MAX_HOST) {
        *why = s_split_error (text);
        return -1;
    }
    memcpy (addr->host, host, len);
    addr->host[len] = '\0';
    addr->ipv6_literal = ipv6;
    struct in6_addr in6;
    if (ipv6 ? inet_pton (AF_INET6, addr->host, &in6) != 1 : !s_host_name_ok (host, len)) {
        *why = ipv6 ? "not an IPv6 address between the brackets" : "not a host name or IPv4 address";
        return -1;
    }
    if (!s_port_ok (port)) {
        *why = "the port is a number from 1 to 65535";
        return -1;
    }
    snprintf (addr->port, sizeof addr->port, "%s", port);
    return 0;
}

static bool
s_is_loopback (const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl (((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    /* ::ffff:127.x.y.z reaches the IPv4 loopback only */
    return IN6_IS_ADDR_LOOPBACK (a6) || (IN6_IS_ADDR_V4MAPPED (a6) && a6->s6_addr[12] == 127);
}

int
listen_addr_resolve (const listen_addr_t *addr, bool *loopback, char **error)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    if (addr->ipv6_literal)
        hints.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo (addr->host, addr->port, &hints, &ai);
    if (rc != 0) {
        *error = zsys_sprintf ("%s: %s", addr->host, gai_strerror (rc));
        return -1;
    }
    /* every address, not the first: a name that also resolves beyond loopback is public */
    *loopback = true;
    for (struct addrinfo *p = ai; p; p = p->ai_next)
        *loopback = *loopback && s_is_loopback (p->ai_addr);
    freeaddrinfo (ai);
    return 0;
}

int
listen_addr_check (const char *text, bool public_ok, char **error)
{
    char quoted[2 * LISTEN_ADDR_MAX_HOST];
    log_quote (quoted, sizeof quoted, text, strlen (text));
    listen_addr_t addr;
    const char *why = NULL;
    if (listen_addr_parse (text, &addr, &why) != 0) {
        *error = zsys_sprintf ("listen address %s: %s", quoted, why);
        return -1;
    }
    bool loopback = false;
    char *reason = NULL;
    if (listen_addr_resolve (&addr, &loopback, &reason) != 0) {
        *error = zsys_sprintf ("listen address %s: %s", quoted, reason);
        free (reason);
        return -1;
    }
    if (!loopback && !public_ok) {
        *error =
            zsys_sprintf ("listen address %s is not loopback: beyond loopback the gateway needs a real "
                          "certificate (--tls-cert and --tls-key), or --allow-self-signed-public for a lab "
                          "whose clients pin the certificate's fingerprint",
                          quoted);
        return -1;
    }
    return 0;
}
