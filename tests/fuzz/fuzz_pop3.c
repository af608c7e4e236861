/*  fuzz_pop3.c — the gateway's POP3 parser and pure checks (gateway/pop3/pop3_server.h): one input
    is one command line, checked in every state with every flag set; also taken as AUTH
    PLAIN's base64 and as a message that RETR/TOP byte-stuff, and as a line of
    a remote server's UIDL listing (gateway/relay/fetch.h). */
#include <string.h>

#include "fetch.h"
#include "fuzz.h"
#include "pop3_server.h"

/* Every state and flag combination gives a reason or lets the command proceed */
static void
s_check_states (const pop3_command_t *cmd)
{
    for (int state = POP3_AUTHORIZATION; state <= POP3_UPDATE; state++)
        for (unsigned flags = 0; flags < 0x10; flags++) {
            const char *why = pop3_check ((pop3_state_t)state, flags, cmd);
            FUZZ_CHECK (!why || strlen (why) > 0);
            /* RFC 2595 4: no password in the clear unless allowed */
            if (!why && (cmd->id == POP3_PASS || cmd->id == POP3_USER || cmd->id == POP3_AUTH))
                FUZZ_CHECK (POP3_MAY_LOGIN (flags) && state == POP3_AUTHORIZATION);
            char capa[1024];
            size_t n = pop3_capa ((pop3_state_t)state, flags, capa, sizeof capa);
            FUZZ_CHECK (n < sizeof capa && n >= 5 && memcmp (capa + n - 3, ".\r\n", 3) == 0);
        }
}

static void
s_check_command (const char *line, size_t size)
{
    pop3_command_t cmd;
    const char *why = NULL;
    int rc = pop3_parse (line, size, &cmd, &why);
    FUZZ_CHECK (rc == 0 || (rc == -1 && why));
    FUZZ_CHECK (cmd.argc >= 0 && cmd.argc <= 2);
    FUZZ_CHECK (memchr (cmd.verb, '\0', sizeof cmd.verb));
    for (int i = 0; i < 2; i++)
        FUZZ_CHECK (memchr (cmd.arg[i], '\0', sizeof cmd.arg[i]));
    if (rc != 0)
        return;
    s_check_states (&cmd);
    for (int i = 0; i < cmd.argc; i++) {
        long n = pop3_number (cmd.arg[i], 1000);
        FUZZ_CHECK (n >= 0 && n <= 1000);
    }
}

/* RFC 1939 3: the byte-stuffed message holds no line of a single "." before its end */
static void
s_check_stuff (const char *data, size_t size, long lines)
{
    size_t len = 0;
    char *out = pop3_stuff ("+OK message follows", data, size, lines, &len);
    FUZZ_CHECK (out && len >= 5 && memcmp (out + len - 5, "\r\n.\r\n", 5) == 0);
    const char *end = memmem (out, len, "\r\n.\r\n", 5);
    FUZZ_CHECK (end == out + len - 5);
    free (out);
}

/* The fetcher's side of POP3: a line of a remote server's UIDL listing, as a NUL-terminated
   string (what strtok_r gives it). Taken, it is a number of digits and an RFC 1939 id. */
static void
s_check_uidl (const uint8_t *data, size_t size)
{
    char line[256], number[FETCH_NUMBER_SIZE], uidl[FETCH_UIDL_SIZE];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy (line, data, n);
    line[n] = '\0';
    if (fetch_uidl_line (line, number, uidl) != 0)
        return;
    FUZZ_CHECK (*number && strspn (number, "0123456789") == strlen (number));
    FUZZ_CHECK (*uidl && strlen (uidl) < FETCH_UIDL_SIZE);
    for (const char *c = uidl; *c; c++)
        FUZZ_CHECK (*c >= 0x21 && *c <= 0x7E);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    s_check_command (text, size);
    char user[MAX_ADDRESS + 1], password[MAX_PASSWORD + 1];
    if (pop3_auth_plain (text, size, user, sizeof user, password, sizeof password) == 0)
        FUZZ_CHECK (strlen (user) > 0 && strlen (user) < sizeof user && strlen (password) < sizeof password);
    s_check_stuff (text, size, -1);
    s_check_stuff (text, size, size > 0 ? data[0] % 4 : 0);
    s_check_uidl (data, size);
    return 0;
}
