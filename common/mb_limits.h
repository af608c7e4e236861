/*  mb_limits.h — every size and count limit of mailbus, in one place.
    Each limit names the RFC section it comes from, or says why we chose it. */
#ifndef MAILBUS_MB_LIMITS_H
#define MAILBUS_MB_LIMITS_H

/* RFC 5321 4.5.3.1.1: local part at most 64 octets */
#define MAX_LOCAL_PART 64
/* RFC 5321 4.5.3.1.2: domain at most 255 octets */
#define MAX_DOMAIN 255
/* RFC 5321 4.5.3.1.3: a path (address without brackets) at most 254 usable octets */
#define MAX_ADDRESS 254
/* RFC 5321 4.5.3.1.8: at least 100 recipients must be accepted; we accept exactly that many */
#define MAX_RCPT 100
/* Default largest message the broker stores (552 5.3.4 beyond it), RFC 1870 SIZE */
#define MAX_MESSAGE_BYTES (10 * 1024 * 1024)
/* Default mailbox quota (552 5.2.2 beyond it) */
#define DEFAULT_QUOTA_BYTES (100LL * 1024 * 1024)
/* Broker protocol: a request id is 1..32 printable octets, so a client may pipeline */
#define MAX_REQUEST_ID 32
/* Broker protocol: a verb is 1..16 upper-case letters */
#define MAX_VERB 16
/* A password is at most this long; longer is refused before any hashing */
#define MAX_PASSWORD 256
/* Requests taken off the socket into one transaction (group commit) */
#define MAX_BATCH 4096
/* A session that sends nothing for this long is forgotten (watchers send NOOP every few seconds) */
#define SESSION_IDLE_MSEC (60 * 1000)
/* A watching session that sends nothing (not even its NOOP heartbeat) for this long is dropped */
#define WATCH_IDLE_MSEC (15 * 1000)
/* Pushes a watcher may have outstanding before it returns credit (WATCH's default window and
   its largest): a stalled watcher costs the broker at most this many queued messages */
#define WATCH_WINDOW 64
#define MAX_WATCH_WINDOW 1000
/* LIST after [limit]: a page's messages by default, and at most (docs/PROTOCOL.md) */
#define LIST_PAGE 1000
#define MAX_LIST_PAGE 10000
/* Consumers: messages one LEASE may take, and how long a lease may last (default 30 s) */
#define MAX_LEASE_COUNT 100
#define DEFAULT_LEASE_SECONDS 30
#define MAX_LEASE_SECONDS 3600
/* RFC 5321 6.3: a message with more Received: fields than this is looping (554 5.4.6) */
#define MAX_RECEIVED 30
/* Relay: default longest time in the outbound queue before giving up (RFC 5321 4.5.4.1: 4-5 days) */
#define DEFAULT_QUEUE_MAX_AGE (5 * 24 * 3600)
/* how long the broker remembers a Message-ID for dedupe: longer than a sending MTA keeps
   retrying (5 days, RFC 5321 4.5.4.1), so its retry after a lost 250 is still recognised */
#define DEFAULT_DEDUPE_WINDOW (7 * 24 * 3600)
/* Relay: first retry after this many seconds, doubling each time, at most RETRY_MAX */
#define DEFAULT_RETRY_BASE 60
#define RETRY_MAX 3600
/* With the default message limit, the broker reads no ZeroMQ message larger than this (libzmq
   disconnects the peer): up to it, an oversize message still gets 552 5.3.4 */
#define MAX_WIRE_BYTES (2 * MAX_MESSAGE_BYTES + 64 * 1024 + MAX_RCPT * (MAX_ADDRESS + 8))

#endif
