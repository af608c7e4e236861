/*  smtp_parse.h — an SMTP command line parsed into a struct (RFC 5321 4.1), touching no
    socket and no broker: the SMTP session acts on the struct, unit tests and fuzzers call
    the parser directly. */
#ifndef MAILBUS_SMTP_PARSE_H
#define MAILBUS_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "address.h"
#include "gw_limits.h"
#include "reply.h"

typedef enum {
    CMD_UNKNOWN = 0,
    CMD_HELO,
    CMD_EHLO,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_RSET,
    CMD_NOOP,
    CMD_QUIT,
    CMD_VRFY,
    CMD_EXPN,
    CMD_HELP,
    CMD_STARTTLS,
    CMD_AUTH,
    CMD_SEND,
    CMD_SOML,
    CMD_SAML,
    CMD_TURN,
    CMD__COUNT
} smtp_cmd_id_t;

typedef enum { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME } smtp_body_t;

/* What a parse error answers: the code and enhanced code, and a text */
typedef struct {
    int code;
    const char *enhanced;
    const char *text;
} smtp_error_t;

typedef struct {
    smtp_cmd_id_t id;
    char verb[16];                     /* upper-cased as given (unknown verbs too, for the log) */
    char args[SMTP_MAX_AUTH_LINE + 1]; /* everything after the verb and one space, no CRLF */
    /* MAIL FROM / RCPT TO */
    bool null_path;   /* MAIL FROM:<> (RFC 5321 4.5.5) */
    address_t path;   /* the reverse- or forward-path, normalised */
    long long size;   /* SIZE= (RFC 1870), -1 when absent */
    smtp_body_t body; /* BODY= (RFC 6152) */
    /* set when the line cannot be acted on */
    bool failed;
    smtp_error_t error;
} smtp_command_t;

/* Parses one command line of len bytes (which must end in CRLF, as conn_read_line gives
   it; NULs inside are an error). Always fills cmd->id and cmd->verb when a verb is there;
   returns 0, or -1 with cmd->failed and cmd->error set. */
int smtp_parse_command (const char *line, size_t len, smtp_command_t *cmd);

/* The verb of a command id, "HELO"... */
const char *smtp_command_name (smtp_cmd_id_t id);

/* Decodes base64 (RFC 4648, standard alphabet, padding required) into out. Returns the
   length, or -1 on bad base64 or when it does not fit. The session decodes AUTH through
   sasl.h; this and smtp_parse_auth_plain are that module's, kept for the tests and fuzzers. */
int smtp_base64_decode (const char *text, size_t len, unsigned char *out, size_t size);

/* Splits the AUTH PLAIN message (RFC 4616: authzid NUL authcid NUL passwd) into user and
   password (NUL-terminated copies): sasl_plain_parse. Returns 0 or -1. */
int smtp_parse_auth_plain (const unsigned char *data, size_t len, char *user, size_t user_size,
                           char *password, size_t password_size);

/* ---- DATA (RFC 5321 4.1.1.4, 4.5.2) ------------------------------------------------
   The message after 354 as a byte machine fed with whatever the socket gave, in any
   pieces. Strict line discipline: only CRLF ends a line, so only CRLF "." CRLF ends the
   message (the 354 reply's CRLF counts as the first). A bare CR or LF is flagged and ends
   nothing: "<LF>.<CR><LF>" or an over-long line never ends DATA (SMTP smuggling). */

#define SMTP_DATA_BARE 0x01      /* a CR or LF not part of a CRLF: 550 5.5.2 */
#define SMTP_DATA_TOO_LONG 0x02  /* a line over SMTP_MAX_TEXT_LINE octets: 550 5.6.0 */
#define SMTP_DATA_TOO_BIG 0x04   /* more than max_size octets: 552 5.3.4 */
#define SMTP_DATA_NUL 0x08       /* a NUL octet: 550 5.6.0 */
#define SMTP_DATA_NO_MEMORY 0x10 /* set by the server: its copy ran out of memory: 451 4.3.0 */

typedef enum {
    SMTP_DATA_LINE_START = 0, /* after CRLF */
    SMTP_DATA_IN_LINE,
    SMTP_DATA_DOT,    /* a "." opened the line: stuffing or the end */
    SMTP_DATA_DOT_CR, /* "." CR opened the line */
    SMTP_DATA_DONE,   /* CRLF "." CRLF was seen */
} smtp_data_state_t;

typedef struct {
    smtp_data_state_t state;
    bool last_cr;    /* the octet before was a CR of this line */
    size_t line_len; /* octets of the current line, dot-stuffing undone */
    size_t size;     /* octets of the message so far, dot-stuffing undone */
    size_t max_size; /* beyond it SMTP_DATA_TOO_BIG */
    unsigned flags;  /* SMTP_DATA_* */
} smtp_data_t;

void smtp_data_init (smtp_data_t *d, size_t max_size);

/* Feeds len octets. Writes the message octets (dot-stuffing undone, the final "." CRLF
   left out) to out, which has room for len octets (never more is written); *out_len says
   how many. Returns how many octets of in were consumed: all of them, or fewer when the
   end was found (what follows it is the next command, RFC 2920). After the end, 0. */
size_t smtp_data_feed (smtp_data_t *d, const char *in, size_t len, char *out, size_t *out_len);

/* True once CRLF "." CRLF was consumed */
bool smtp_data_done (const smtp_data_t *d);

/* ---- names -------------------------------------------------------------------------- */

/* RFC 1035 2.3.1 / RFC 1123 2.1: a host name is letters, digits and hyphens in labels of
   1-63 octets (no hyphen first or last), separated by single dots, 255 octets at most.
   For --hostname, which goes into every greeting, EHLO reply and Received: field. */
bool smtp_hostname_valid (const char *name);

/* The command id of a line's first word (case-insensitive), CMD_UNKNOWN when it names no
   command: what a log line may show of a line it refuses without parsing (never the line). */
smtp_cmd_id_t smtp_verb_of (const char *line, size_t len);

#endif
