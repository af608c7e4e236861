/*  endpoint.c — strict ZeroMQ endpoint parsing. */
#include "endpoint.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* unix(7): sun_path holds 108 octets with its NUL */
#define MAX_IPC_PATH 107

static int
s_fail (const char **why, const char *text)
{
    *why = text;
    return -1;
}

static bool
s_host_char_ok (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static bool
s_ipv4_loopback (const char *host)
{
    struct in_addr addr;
    return inet_pton (AF_INET, host, &addr) == 1 && (ntohl (addr.s_addr) >> 24) == 127;
}

static bool
s_ipv6_loopback (const char *host)
{
    struct in6_addr addr;
    return inet_pton (AF_INET6, host, &addr) == 1 && IN6_IS_ADDR_LOOPBACK (&addr);
}

/* PORT: 1..65535 in decimal, or "*" for any */
static int
s_parse_port (const char *text, int *port)
{
    if (strcmp (text, "*") == 0) {
        *port = 0;
        return 0;
    }
    size_t len = strlen (text);
    if (len == 0 || len > 5 || strspn (text, "0123456789") != len)
        return -1;
    *port = atoi (text);
    return *port >= 1 && *port <= 65535 ? 0 : -1;
}

/* [v6]:port or host:port; host copied into endpoint->host */
static int
s_parse_tcp (const char *rest, endpoint_t *endpoint, const char **why)
{
    const char *colon;
    if (*rest == '[') {
        const char *close = strchr (rest, ']');
        if (!close || close[1] != ':')
            return s_fail (why, "an IPv6 address goes in brackets: tcp://[::1]:5670");
        size_t len = (size_t)(close - rest - 1);
        if (len == 0 || len > ENDPOINT_MAX_HOST)
            return s_fail (why, "bad IPv6 address");
        memcpy (endpoint->host, rest + 1, len);
        endpoint->host[len] = '\0';
        struct in6_addr addr;
        if (inet_pton (AF_INET6, endpoint->host, &addr) != 1)
            return s_fail (why, "bad IPv6 address");
        colon = close + 1;
    }
    else {
        colon = strrchr (rest, ':');
        if (!colon || colon == rest)
            return s_fail (why, "a tcp endpoint is tcp://HOST:PORT");
        size_t len = (size_t)(colon - rest);
        if (len > ENDPOINT_MAX_HOST)
            return s_fail (why, "host name too long");
        memcpy (endpoint->host, rest, len);
        endpoint->host[len] = '\0';
        if (strcmp (endpoint->host, "*") != 0)
            for (size_t i = 0; i < len; i++)
                if (!s_host_char_ok (endpoint->host[i]))
                    return s_fail (why, "a host holds only letters, digits, '.', '-' and '_' (or is *)");
    }
    if (s_parse_port (colon + 1, &endpoint->port) != 0)
        return s_fail (why, "a port is a number from 1 to 65535, or *");
    endpoint->loopback = s_ipv4_loopback (endpoint->host) || s_ipv6_loopback (endpoint->host) ||
                         strcasecmp (endpoint->host, "localhost") == 0;
    return 0;
}

/* inproc://NAME: libzmq takes any name; printable octets keep it loggable */
static int
s_parse_inproc (const char *name, endpoint_t *endpoint, const char **why)
{
    size_t len = strlen (name);
    if (len == 0 || len > ENDPOINT_MAX_HOST)
        return s_fail (why, "an inproc name is 1 to 255 octets");
    for (size_t i = 0; i < len; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return s_fail (why, "an inproc name holds printable octets only");
    endpoint->transport = ENDPOINT_INPROC;
    memcpy (endpoint->host, name, len + 1);
    endpoint->loopback = true;
    return 0;
}

static int
s_parse (const char *text, bool inproc, endpoint_t *endpoint, const char **why)
{
    memset (endpoint, 0, sizeof *endpoint);
    if (!text || !*text)
        return s_fail (why, "empty endpoint");
    /* libzmq reads "tcp://SOURCE;DESTINATION": one endpoint, one address, nothing hidden */
    if (strchr (text, ';'))
        return s_fail (why, "';' (a source address) is not allowed in an endpoint");
    if (strncmp (text, "tcp://", 6) == 0) {
        endpoint->transport = ENDPOINT_TCP;
        return s_parse_tcp (text + 6, endpoint, why);
    }
    if (strncmp (text, "ipc://", 6) == 0) {
        size_t len = strlen (text + 6);
        if (len == 0 || len > MAX_IPC_PATH)
            return s_fail (why, "an ipc path is 1 to 107 octets");
        endpoint->transport = ENDPOINT_IPC;
        endpoint->loopback = true;
        return 0;
    }
    if (inproc && strncmp (text, "inproc://", 9) == 0)
        return s_parse_inproc (text + 9, endpoint, why);
    return s_fail (why, "only tcp://HOST:PORT and ipc://PATH endpoints are supported");
}

int
endpoint_parse (const char *text, endpoint_t *endpoint, const char **why)
{
    assert (endpoint);
    assert (why);
    return s_parse (text, false, endpoint, why);
}

int
endpoint_parse_with_inproc (const char *text, endpoint_t *endpoint, const char **why)
{
    assert (endpoint);
    assert (why);
    return s_parse (text, true, endpoint, why);
}

bool
endpoint_is_loopback (const char *text)
{
    endpoint_t endpoint;
    const char *why = NULL;
    return endpoint_parse (text, &endpoint, &why) == 0 && endpoint.loopback;
}

void
endpoint_inproc_unique (char *name, size_t size, const char *prefix)
{
    static atomic_ullong next = 1;
    assert (name);
    assert (prefix);
    snprintf (name, size, "inproc://%s-%ld-%llu", prefix, (long)getpid (), atomic_fetch_add (&next, 1));
}
