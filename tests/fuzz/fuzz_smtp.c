/*  fuzz_smtp.c — the gateway's SMTP command parser (gateway/smtp/smtp_parse.h): one input is one
    command line as conn_read_line gives it, also taken as AUTH's base64 and PLAIN message. */
#include <string.h>

#include "fuzz.h"
#include "smtp_parse.h"

static void
s_check_command (const smtp_command_t *cmd, int rc)
{
    FUZZ_CHECK (rc == 0 || rc == -1);
    FUZZ_CHECK ((rc == -1) == cmd->failed);
    FUZZ_CHECK (memchr (cmd->verb, '\0', sizeof cmd->verb));
    FUZZ_CHECK (memchr (cmd->args, '\0', sizeof cmd->args));
    FUZZ_CHECK (smtp_command_name (cmd->id) != NULL);
    if (cmd->failed) {
        /* RFC 5321 4.2: a refusal is a 4yz or 5yz reply, with its enhanced code (RFC 3463) */
        FUZZ_CHECK (cmd->error.code >= 400 && cmd->error.code <= 599);
        FUZZ_CHECK (cmd->error.enhanced && cmd->error.text);
        return;
    }
    FUZZ_CHECK (cmd->id != CMD_UNKNOWN);
    if ((cmd->id == CMD_MAIL || cmd->id == CMD_RCPT) && !cmd->null_path) {
        /* an accepted path is a normalised address, within RFC 5321 4.5.3.1's limits */
        address_t again;
        const char *why = NULL;
        FUZZ_CHECK (strlen (cmd->path.full) <= MAX_ADDRESS);
        FUZZ_CHECK (address_parse (cmd->path.full, strlen (cmd->path.full), &again, &why) == 0);
        FUZZ_CHECK (strcmp (again.full, cmd->path.full) == 0);
    }
    FUZZ_CHECK (cmd->id != CMD_RCPT || !cmd->null_path);
}

static void
s_check_auth (const uint8_t *data, size_t size)
{
    unsigned char decoded[SMTP_MAX_AUTH_LINE];
    int n = smtp_base64_decode ((const char *)data, size, decoded, sizeof decoded);
    FUZZ_CHECK (n >= -1 && n <= (int)sizeof decoded);
    char user[MAX_ADDRESS + 1], password[MAX_PASSWORD + 1];
    if (n > 0 &&
        smtp_parse_auth_plain (decoded, (size_t)n, user, sizeof user, password, sizeof password) == 0)
        FUZZ_CHECK (strlen (user) > 0 && strlen (user) < sizeof user && strlen (password) < sizeof password);
    if (smtp_parse_auth_plain (data, size, user, sizeof user, password, sizeof password) == 0)
        FUZZ_CHECK (strlen (user) > 0 && strlen (user) < sizeof user && strlen (password) < sizeof password);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    smtp_command_t cmd;
    int rc = smtp_parse_command ((const char *)data, size, &cmd);
    s_check_command (&cmd, rc);
    s_check_auth (data, size);
    return 0;
}
