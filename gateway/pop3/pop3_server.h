/*  pop3_server.h — the gateway's POP3 face (RFC 1939, with CAPA RFC 2449, STLS RFC 2595,
    response codes RFC 3206, AUTH PLAIN RFC 5034): any mail client retrieves a mailbus
    mailbox. A session identifies to the broker as the mailbox's owner and pulls through it.
    Everything but pop3_serve touches no socket: the unit tests and fuzzers call it. */
#ifndef MAILBUS_POP3_SERVER_H
#define MAILBUS_POP3_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "gateway.h"

/* ------------------------------------------------------------------ limits */

/* RFC 2449 4: a command line is at most 255 octets, including the terminating CRLF */
#define POP3_MAX_LINE 255
/* RFC 2449 4 says arguments are at most 40 characters. We hold message numbers to it (our
   choice: at most 9 digits) but take longer user names, since an address may have 254
   octets (RFC 5321 4.5.3.1.3): for USER, PASS and AUTH's initial response (RFC 5034 4 bounds
   it by the command line only) the 255-octet line is the bound. */
#define POP3_MAX_ARG 40
#define POP3_MAX_NUMBER_DIGITS 9
/* RFC 5034 4 sets no limit on a client's continuation response. Our choice: enough for a
   PLAIN response with the longest address and password, base64(1 + 254 + 1 + 256) = 684. */
#define POP3_MAX_AUTH_LINE 1024
/* The autologout timer (RFC 1939 3) is POP3_IDLE_TIMEOUT_S in gw_limits.h (--pop3-timeout) */
/* Our choice: marked messages removed per broker DELE at QUIT (the broker takes up to 1000) */
#define POP3_UPDATE_BATCH 100
/* Our choice, as the SMTP side (Postfix's hard error limit): this many -ERR end the session */
#define POP3_MAX_BAD_COMMANDS 20
/* A failed login waits as throttle.h says (RFC 1939 13 suggests slowing down guessers) */

/* ------------------------------------------------------------------ commands */

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
   static reason in *why (cmd->id is then still set when the verb was known). */
int pop3_parse (const char *line, size_t len, pop3_command_t *cmd, const char **why);

/* A message number argument: 1..count, else 0 */
long pop3_number (const char *arg, size_t count);

/* ------------------------------------------------------------------ state */

/* RFC 1939 3: AUTHORIZATION until login, TRANSACTION, then UPDATE after QUIT */
typedef enum { POP3_AUTHORIZATION, POP3_TRANSACTION, POP3_UPDATE } pop3_state_t;

const char *pop3_state_name (pop3_state_t state);

/* Session flags */
#define POP3_SF_SECURE 0x01       /* TLS is on (STLS done, or pop3s) */
#define POP3_SF_CAN_TLS 0x02      /* the listener has a certificate: STLS possible */
#define POP3_SF_PLAINTEXT_OK 0x04 /* --allow-plaintext-auth: passwords without TLS */
#define POP3_SF_USER 0x08         /* USER accepted: PASS may follow */

/* RFC 2595 4: no password in the clear unless explicitly allowed */
#define POP3_MAY_LOGIN(flags) (((flags) & (POP3_SF_SECURE | POP3_SF_PLAINTEXT_OK)) != 0)
#define POP3_ADVERTISE_STLS(flags) (((flags) & (POP3_SF_CAN_TLS | POP3_SF_SECURE)) == POP3_SF_CAN_TLS)

/* The check half of the command table: NULL when cmd may proceed in this state with these
   flags, else the text of the -ERR reply. Message numbers are checked against the snapshot
   later, by the command itself. */
const char *pop3_check (pop3_state_t state, unsigned flags, const pop3_command_t *cmd);

/* The whole CAPA reply (RFC 2449 5) for this state and these flags, "+OK ..." to ".\r\n".
   Returns its length (truncated to size - 1 if it does not fit). */
size_t pop3_capa (pop3_state_t state, unsigned flags, char *buf, size_t size);

/* A multi-line reply carrying a message (RFC 1939 3): status line (as given, CRLF added),
   the message byte-stuffed (a line starting with "." gets another), a CRLF if the message
   does not end in one, and ".\r\n". lines < 0: all of it (RETR); else TOP: the header, the
   empty line and that many body lines. Returns a buffer the caller frees, length in *out_len. */
char *pop3_stuff (const char *status, const char *data, size_t size, long lines, size_t *out_len);

/* Decodes an AUTH PLAIN response (RFC 4616: [authzid] NUL authcid NUL password, in base64
   RFC 4648 with padding) into NUL-terminated user and password: sasl_plain (sasl.h), kept for
   the tests and fuzzers. Returns 0, or -1. */
int pop3_auth_plain (const char *base64, size_t len, char *user, size_t user_size, char *password,
                     size_t password_size);

/* ------------------------------------------------------------------ serving */

/* Serves one connection until QUIT, error or timeout, on the caller's thread. Logs in to the
   broker (config->broker) as the POP3 user; holds the maildrop lock (pop3_lock.h) while in
   TRANSACTION. The caller destroys conn. id numbers the session in the log (the listener's
   count). */
void pop3_serve (conn_t *conn, const gateway_config_t *config, uint64_t id);

#endif
