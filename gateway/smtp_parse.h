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
   length, or -1 on bad base64 or when it does not fit. */
int smtp_base64_decode (const char *text, size_t len, unsigned char *out, size_t size);

/* Splits the AUTH PLAIN message (RFC 4616: authzid NUL authcid NUL passwd) into user and
   password (NUL-terminated copies). An authzid other than empty or the authcid is refused.
   Returns 0 or -1. */
int smtp_parse_auth_plain (const unsigned char *data, size_t len, char *user, size_t user_size,
                           char *password, size_t password_size);

#endif
