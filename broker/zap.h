/*  zap.h — the broker's ZAP handler (ZeroMQ RFC 27). It numbers every connection the broker
    accepts, CURVE or not, with an id the client cannot choose, and hands the broker each CURVE
    client's public key: the broker binds a session to that connection, never to the routing id
    a client may pick. CZMQ's zauth cannot do this: its User-Id is empty for NULL connections
    and the same for every connection of one CURVE key, and it answers from a certificate folder,
    not per connection. */
#ifndef MAILBUS_ZAP_H
#define MAILBUS_ZAP_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

/* The ZAP domain the broker's sockets ask for (libzmq calls ZAP for NULL only with a domain) */
#define ZAP_DOMAIN "mailbus"

/* Starts the handler; returns once it is bound (before the broker binds its socket), or NULL
   (errno set) when inproc://zeromq.zap.01 cannot be bound: another handler in this process
   holds it. A broker must not serve without it: its sessions are keyed by the ids it gives. */
zactor_t *zap_actor_new (void);

/* What the handler said of the connection a received message came from: its id (0 when the
   message carries no ZAP metadata, e.g. inproc) and, for CURVE, the client's public key in Z85
   (41 octets with the NUL; "" for NULL connections). */
typedef struct {
    uint64_t conn;
    char curve_key[41];
} zap_peer_t;

void zap_peer_of (zmq_msg_t *msg, zap_peer_t *peer);

#endif
