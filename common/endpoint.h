/*  endpoint.h — what a ZeroMQ endpoint string names, parsed strictly before anything binds or
    connects to it: only tcp://HOST:PORT and ipc://PATH (and inproc://NAME for a server hosted
    in-process), and whether it stays on this machine. A password may cross only a loopback,
    ipc or inproc hop in clear; anything wider needs CURVE. */
#ifndef MAILBUS_ENDPOINT_H
#define MAILBUS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: a host name is at most 255 octets */
#define ENDPOINT_MAX_HOST 255

typedef enum { ENDPOINT_TCP, ENDPOINT_IPC, ENDPOINT_INPROC } endpoint_transport_t;

typedef struct {
    endpoint_transport_t transport;
    char host[ENDPOINT_MAX_HOST + 1]; /* tcp: as written, IPv6 without brackets; inproc: the
                                         name; ipc: "" */
    int port;                         /* tcp: 1..65535, or 0 for "*" (any, when binding) */
    bool loopback;                    /* 127.0.0.0/8, ::1, localhost, ipc or inproc */
} endpoint_t;

/* Parses text into *endpoint. Refuses (-1, *why set) every transport but tcp and ipc, libzmq's
   "source;destination" form, an empty or malformed host or port, and any character a host
   name cannot hold. A host that is not a loopback literal or "localhost" (0.0.0.0, *, ::, a
   LAN address, a name, an interface) counts as beyond loopback. */
int endpoint_parse (const char *text, endpoint_t *endpoint, const char **why);

/* As endpoint_parse, and inproc://NAME too (1 to ENDPOINT_MAX_HOST printable octets): what a
   server hosted in a process (a test, a fuzzer) binds. Only that process reaches it, so it
   counts as loopback. The programs' options take endpoint_parse: nothing outside a process
   can reach an inproc endpoint, so there it is a mistake. */
int endpoint_parse_with_inproc (const char *text, endpoint_t *endpoint, const char **why);

/* True when text parses and stays on this machine */
bool endpoint_is_loopback (const char *text);

/* Writes "inproc://PREFIX-PID-N" into name, N new for every call in this process: the name of
   a socket's monitor. A name made of a pointer (or any value a later socket may have again) can
   be one a closed socket still holds, since libzmq frees inproc names later, on its reaper
   thread: the next bind or monitor of that name then fails with EADDRINUSE. */
void endpoint_inproc_unique (char *name, size_t size, const char *prefix);

#endif
