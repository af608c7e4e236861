/*  imap_server.h — the gateway's IMAP face (RFC 9051 IMAP4rev2, with what clients still need
    from RFC 3501 IMAP4rev1; IDLE RFC 2177): mail clients read, file and flag a mailbus
    mailbox and see new mail the moment it is published. A session identifies to the broker
    as the mailbox's owner and uses the folder verbs and WATCH changes (docs/PROTOCOL.md
    "Folders"). The wire format is imap_parse.h's; what a message shows is imap_mime.h's. */
#ifndef MAILBUS_IMAP_SERVER_H
#define MAILBUS_IMAP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "gateway.h"

/* RFC 9051 5.4: the autologout timer is at least 30 minutes; the default of --imap-timeout,
   in seconds (shorter values are for tests) */
#define IMAP_IDLE_TIMEOUT_S (30 * 60)
/* Our choice, as POP3: this many BAD (and refused) commands end the session */
#define IMAP_MAX_BAD_COMMANDS 20
/* Our choice: the window of the session's WATCH (pushes in flight before a CREDIT) */
#define IMAP_WATCH_WINDOW 256
/* The broker drops a watcher silent for 15 s (docs/PROTOCOL.md "WATCH"): a session sends
   CREDIT or NOOP at least this often */
#define IMAP_HEARTBEAT_MS 5000
/* Our choice: SCAN pages while loading a folder */
#define IMAP_SCAN_PAGE 10000

/* RFC 9051 3: Not Authenticated -> Authenticated -> Selected -> Logout */
typedef enum { IMAP_NOT_AUTHENTICATED, IMAP_AUTHENTICATED, IMAP_SELECTED, IMAP_LOGOUT_STATE } imap_state_t;

const char *imap_state_name (imap_state_t state);

/* The capability list (without "* CAPABILITY " and CRLF) for the session flags (imap_session.h
   IMAP_SF_*): LOGINDISABLED and STARTTLS before TLS, AUTH=PLAIN when a login is possible */
size_t imap_capability (unsigned flags, char *buf, size_t size);

/* Serves one connection until LOGOUT, error or timeout, on the caller's thread. The caller
   destroys conn. id numbers the session in the log. */
void imap_serve (conn_t *conn, const gateway_config_t *config, uint64_t id);

#endif
