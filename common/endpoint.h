/*  endpoint.h — what a ZeroMQ endpoint string names, parsed strictly before anything binds or
    connects to it: only tcp://HOST:PORT and ipc://PATH, and whether it stays on this machine.
    A password may cross only a loopback or ipc hop in clear; anything wider needs CURVE. */
#ifndef MAILBUS_ENDPOINT_H
#define MAILBUS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: a host name is at most 255 octets */
#define ENDPOINT_MAX_HOST 255

typedef enum { ENDPOINT_TCP, ENDPOINT_IPC } endpoint_transport_t;

typedef struct {
    endpoint_transport_t transport;
    char host[ENDPOINT_MAX_HOST + 1]; /* tcp: as written, IPv6 without brackets; ipc: "" */
    int port;                         /* tcp: 1..65535, or 0 for "*" (any, when binding) */
    bool loopback;                    /* 127.0.0.0/8, ::1, localhost, or ipc */
} endpoint_t;

/* Parses text into *endpoint. Refuses (-1, *why set) every transport but tcp and ipc, libzmq's
   "source;destination" form, an empty or malformed host or port, and any character a host
   name cannot hold. A host that is not a loopback literal or "localhost" (0.0.0.0, *, ::, a
   LAN address, a name, an interface) counts as beyond loopback. */
int endpoint_parse (const char *text, endpoint_t *endpoint, const char **why);

/* True when text parses and stays on this machine */
bool endpoint_is_loopback (const char *text);

#endif
