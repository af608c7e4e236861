/*  pop3_server.h — the gateway's POP3 face (RFC 1939, with CAPA RFC 2449, STLS RFC 2595,
    response codes RFC 3206, AUTH PLAIN RFC 5034): any mail client retrieves a mailbus
    mailbox. A session identifies to the broker as the mailbox's owner and pulls through it. */
#ifndef MAILBUS_POP3_SERVER_H
#define MAILBUS_POP3_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "gateway.h"

/* RFC 2449 4: a command line is at most 255 octets including CRLF */
#define POP3_MAX_LINE 255
/* RFC 2449 4: an argument is at most 40 octets (PASS may hold more: the rest of the line) */
#define POP3_MAX_ARG 40
/* RFC 1939 3: the autologout timer is at least 10 minutes */
#define POP3_IDLE_TIMEOUT_MS (10 * 60 * 1000)
/* Our choice, as the SMTP side: this many refused commands end the session */
#define POP3_MAX_BAD_COMMANDS 20

typedef enum {
    POP3_USER,
    POP3_PASS,
    POP3_AUTH,
    POP3_STAT,
    POP3_LIST,
    POP3_RETR,
    POP3_DELE,
    POP3_NOOP,
    POP3_RSET,
    POP3_TOP,
    POP3_UIDL,
    POP3_CAPA,
    POP3_STLS,
    POP3_QUIT,
    POP3_UNKNOWN,
} pop3_cmd_id_t;

typedef struct {
    pop3_cmd_id_t id;
    char verb[8];
    int argc;
    char arg[2][POP3_MAX_LINE]; /* PASS keeps the rest of its line in arg[0] */
} pop3_command_t;

/* Parses one command line (ending in CRLF; NUL bytes are an error). Returns 0, or -1 with a
   static reason in *why. Touches no socket: the unit tests call it. */
int pop3_parse (const char *line, size_t len, pop3_command_t *cmd, const char **why);

/* A message number argument: 1..count, else 0 */
long pop3_number (const char *arg, size_t count);

/* Serves one connection until QUIT, error or timeout. The caller destroys conn. */
void pop3_serve (conn_t *conn, const gateway_config_t *config);

/* The process-wide maildrop lock (RFC 1939 4: one session per mailbox). true when taken. */
bool pop3_lock (const char *mailbox);
void pop3_unlock (const char *mailbox);

#endif
