/*  pop3_server.c — the POP3 state machine: AUTHORIZATION -> TRANSACTION -> UPDATE.
    One table holds every command: its verb and arguments (for the parser), the states it is
    valid in, a check that refuses it (pure: state, flags and the parsed command) and a
    proceed that does the work, so every refusal is visible in one place. */
#include "pop3_server.h"

#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "gw_limits.h"
#include "log.h"
#include "text.h"
#include "mb_limits.h"
#include "pop3_lock.h"
#include "throttle.h"
#include "proto.h"
#include "reply.h"
#include "sasl.h"

/* ------------------------------------------------------------------ the session */

typedef struct {
    int64_t id;   /* the broker's delivery id: the UIDL, stable across sessions */
    int64_t size; /* octets, exact: the broker stores CRLF line endings */
    bool deleted; /* marked by DELE; removed only in UPDATE */
} entry_t;

typedef struct {
    conn_t *conn;
    const gateway_config_t *config;
    unsigned long long number; /* the listener's session count, in every log line */
    pop3_state_t state;
    unsigned flags;
    char user[POP3_MAX_LINE];      /* from USER, until PASS */
    char mailbox[MAX_ADDRESS + 1]; /* locked from login to the end of the session */
    client_t *client;              /* the broker session of the mailbox's owner */
    entry_t *entries;              /* the snapshot taken at login: message n is entries[n-1] */
    size_t count;
    int bad;
    bool quit;
} pop3_session_t;

typedef const char *(check_fn)(unsigned flags, const pop3_command_t *cmd);
typedef void (proceed_fn) (pop3_session_t *s, pop3_command_t *cmd);

#define IN_AUTH (1u << POP3_AUTHORIZATION)
#define IN_TRANS (1u << POP3_TRANSACTION)

static check_fn s_check_login, s_check_pass, s_check_auth, s_check_stls, s_check_number, s_check_top;
static proceed_fn s_proceed_user, s_proceed_pass, s_proceed_auth, s_proceed_stat, s_proceed_list,
    s_proceed_retr, s_proceed_dele, s_proceed_noop, s_proceed_rset, s_proceed_top, s_proceed_uidl,
    s_proceed_capa, s_proceed_stls, s_proceed_quit;

static const struct {
    pop3_cmd_id_t id;
    const char *verb;
    int min_args, max_args;
    unsigned states; /* RFC 1939 and 2449: where the command is valid */
    check_fn *check;
    proceed_fn *proceed;
} s_commands[] = {
    {POP3_USER, "USER", 1, 1, IN_AUTH, s_check_login, s_proceed_user},
    {POP3_PASS, "PASS", 1, 1, IN_AUTH, s_check_pass, s_proceed_pass},
    {POP3_AUTH, "AUTH", 0, 2, IN_AUTH, s_check_auth, s_proceed_auth},
    {POP3_STLS, "STLS", 0, 0, IN_AUTH, s_check_stls, s_proceed_stls},
    {POP3_CAPA, "CAPA", 0, 0, IN_AUTH | IN_TRANS, NULL, s_proceed_capa},
    {POP3_QUIT, "QUIT", 0, 0, IN_AUTH | IN_TRANS, NULL, s_proceed_quit},
    {POP3_STAT, "STAT", 0, 0, IN_TRANS, NULL, s_proceed_stat},
    {POP3_LIST, "LIST", 0, 1, IN_TRANS, s_check_number, s_proceed_list},
    {POP3_RETR, "RETR", 1, 1, IN_TRANS, s_check_number, s_proceed_retr},
    {POP3_DELE, "DELE", 1, 1, IN_TRANS, s_check_number, s_proceed_dele},
    {POP3_NOOP, "NOOP", 0, 0, IN_TRANS, NULL, s_proceed_noop},
    {POP3_RSET, "RSET", 0, 0, IN_TRANS, NULL, s_proceed_rset},
    {POP3_TOP, "TOP", 2, 2, IN_TRANS, s_check_top, s_proceed_top},
    {POP3_UIDL, "UIDL", 0, 1, IN_TRANS, s_check_number, s_proceed_uidl},
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static int
s_find (pop3_cmd_id_t id)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (s_commands[i].id == id)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ parsing */

int
pop3_parse (const char *line, size_t len, pop3_command_t *cmd, const char **why)
{
    memset (cmd, 0, sizeof *cmd);
    cmd->id = POP3_UNKNOWN;
    /* RFC 1939 3: commands end in CRLF; a bare LF or CR is refused, never normalised */
    if (len < 2 || line[len - 2] != '\r' || line[len - 1] != '\n' || memchr (line, '\r', len - 2) ||
        memchr (line, '\n', len - 2)) {
        *why = "lines end in CRLF";
        return -1;
    }
    len -= 2;
    if (len + 2 > POP3_MAX_LINE) {
        *why = "line too long (255 octets at most)";
        return -1;
    }
    if (memchr (line, '\0', len)) {
        *why = "NUL in command";
        return -1;
    }
    size_t verb_len = 0;
    while (verb_len < len && line[verb_len] != ' ')
        verb_len++;
    /* RFC 2449 4: keywords are three or four printable characters, case-insensitive */
    if (verb_len < 3 || verb_len > 4) {
        *why = "unknown command";
        return -1;
    }
    for (size_t i = 0; i < verb_len; i++)
        cmd->verb[i] = (char)toupper ((unsigned char)line[i]);
    int index = -1;
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp (cmd->verb, s_commands[i].verb) == 0)
            index = (int)i;
    if (index < 0) {
        *why = "unknown command";
        return -1;
    }
    cmd->id = s_commands[index].id;
    const char *p = line + verb_len;
    const char *end = line + len;
    if (cmd->id == POP3_PASS) {
        /* RFC 1939 7: PASS has exactly one argument, so spaces in it are part of the password */
        if (p >= end || p + 1 == end) {
            *why = "PASS needs a password";
            return -1;
        }
        memcpy (cmd->arg[0], p + 1, (size_t)(end - p - 1));
        cmd->argc = 1;
        return 0;
    }
    while (p < end) {
        /* RFC 2449 4: arguments are separated by a single space */
        if (*p != ' ' || p + 1 == end || p[1] == ' ') {
            *why = "arguments are separated by single spaces";
            return -1;
        }
        p++;
        const char *q = p;
        while (q < end && *q != ' ')
            q++;
        if (cmd->argc == 2) {
            *why = "too many arguments";
            return -1;
        }
        /* USER's name and AUTH's initial response are bounded by the line only (pop3_server.h) */
        bool long_ok = (cmd->id == POP3_USER && cmd->argc == 0) || (cmd->id == POP3_AUTH && cmd->argc == 1);
        if (!long_ok && (size_t)(q - p) > POP3_MAX_ARG) {
            *why = "argument longer than 40 characters";
            return -1;
        }
        memcpy (cmd->arg[cmd->argc++], p, (size_t)(q - p));
        p = q;
    }
    if (cmd->argc < s_commands[index].min_args || cmd->argc > s_commands[index].max_args) {
        *why = "wrong number of arguments";
        return -1;
    }
    return 0;
}

static bool
s_is_number (const char *arg)
{
    size_t len = strlen (arg);
    return len > 0 && len <= POP3_MAX_NUMBER_DIGITS && strspn (arg, "0123456789") == len;
}

long
pop3_number (const char *arg, size_t count)
{
    if (!arg || !s_is_number (arg))
        return 0;
    long n = atol (arg);
    return n >= 1 && (size_t)n <= count ? n : 0;
}

/* ------------------------------------------------------------------ checks (no I/O) */

const char *
pop3_state_name (pop3_state_t state)
{
    static const char *names[] = {"AUTHORIZATION", "TRANSACTION", "UPDATE"};
    return state <= POP3_UPDATE ? names[state] : "?";
}

const char *
pop3_check (pop3_state_t state, unsigned flags, const pop3_command_t *cmd)
{
    int index = s_find (cmd->id);
    if (index < 0)
        return "unknown command";
    if (state > POP3_TRANSACTION || !(s_commands[index].states & (1u << state)))
        return state == POP3_AUTHORIZATION ? "log in first (USER/PASS or AUTH PLAIN)"
                                           : "command not valid in this state";
    return s_commands[index].check ? s_commands[index].check (flags, cmd) : NULL;
}

/* RFC 2595 4 and RFC 3206 4: a password in the clear is "an attempt to authenticate in
   violation of policy", so [AUTH]; the client can STLS and try again */
static const char *
s_check_login (unsigned flags, const pop3_command_t *cmd)
{
    (void)cmd;
    return POP3_MAY_LOGIN (flags) ? NULL : "[AUTH] plaintext authentication needs TLS: use STLS first";
}

static const char *
s_check_pass (unsigned flags, const pop3_command_t *cmd)
{
    const char *why = s_check_login (flags, cmd);
    if (why)
        return why;
    return flags & POP3_SF_USER ? NULL : "USER first";
}

static const char *
s_check_auth (unsigned flags, const pop3_command_t *cmd)
{
    const char *why = s_check_login (flags, cmd);
    if (why)
        return why;
    if (cmd->argc > 0 && strcasecmp (cmd->arg[0], "PLAIN") != 0)
        return "unsupported SASL mechanism (PLAIN only)";
    return NULL;
}

static const char *
s_check_stls (unsigned flags, const pop3_command_t *cmd)
{
    (void)cmd;
    if (flags & POP3_SF_SECURE)
        return "TLS already active";
    return flags & POP3_SF_CAN_TLS ? NULL : "STLS not available";
}

static const char *
s_check_number (unsigned flags, const pop3_command_t *cmd)
{
    (void)flags;
    return cmd->argc == 0 || s_is_number (cmd->arg[0]) ? NULL : "no such message";
}

static const char *
s_check_top (unsigned flags, const pop3_command_t *cmd)
{
    const char *why = s_check_number (flags, cmd);
    if (why)
        return why;
    return s_is_number (cmd->arg[1]) ? NULL : "TOP msg n: n is a number of lines";
}

size_t
pop3_capa (pop3_state_t state, unsigned flags, char *buf, size_t size)
{
    bool authorization = state == POP3_AUTHORIZATION;
    /* RFC 2449 6: USER and SASL only when a login would be accepted (RFC 2595 4: not in the
       clear); STLS only before TLS (RFC 2595 4) and before login */
    int n = snprintf (buf, size,
                      "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
                      "AUTH-RESP-CODE\r\nPIPELINING\r\n%s%s%sIMPLEMENTATION mailbus\r\n.\r\n",
                      authorization && POP3_MAY_LOGIN (flags) ? "USER\r\n" : "",
                      authorization && POP3_MAY_LOGIN (flags) ? "SASL PLAIN\r\n" : "",
                      authorization && POP3_ADVERTISE_STLS (flags) ? "STLS\r\n" : "");
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

char *
pop3_stuff (const char *status, const char *data, size_t size, long lines, size_t *out_len)
{
    size_t status_len = strlen (status);
    /* stuffing adds at most one octet per line, and a line has at least one */
    char *out = malloc (status_len + 2 + 2 * size + 5);
    if (!out)
        return NULL;
    char *o = out;
    memcpy (o, status, status_len);
    o += status_len;
    *o++ = '\r';
    *o++ = '\n';
    bool in_body = false;
    long body_lines = 0;
    const char *p = data, *end = data + size;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (in_body && lines >= 0 && body_lines++ >= lines)
            break;
        /* RFC 1939 11 (TOP): the empty line separating header and body is sent as well */
        if (!in_body && ((next - p == 2 && p[0] == '\r' && p[1] == '\n') || (next - p == 1 && p[0] == '\n')))
            in_body = true;
        /* RFC 1939 3: a line starting with the termination octet is byte-stuffed */
        if (*p == '.')
            *o++ = '.';
        memcpy (o, p, (size_t)(next - p));
        o += next - p;
        p = next;
    }
    if (o - out > (ptrdiff_t)status_len + 2 && !(o[-2] == '\r' && o[-1] == '\n')) {
        *o++ = '\r';
        *o++ = '\n';
    }
    memcpy (o, ".\r\n", 3);
    o += 3;
    *out_len = (size_t)(o - out);
    return out;
}

int
pop3_auth_plain (const char *base64, size_t len, char *user, size_t user_size, char *password,
                 size_t password_size)
{
    return sasl_plain (base64, len, user, user_size, password, password_size) == SASL_OK ? 0 : -1;
}

/* ------------------------------------------------------------------ session helpers */

/* RFC 1939 3: the autologout timer, --pop3-timeout */
static int
s_timeout_ms (const gateway_config_t *config)
{
    return config->pop3_timeout_ms > 0 ? config->pop3_timeout_ms : POP3_IDLE_TIMEOUT_S * 1000;
}

static void
s_state (pop3_session_t *s, pop3_state_t state)
{
    log_info ("pop3", "state", "session=%llu %s -> %s", s->number, pop3_state_name (s->state),
              pop3_state_name (state));
    s->state = state;
}

/* Gives the maildrop lock back, if the session holds it. Called before the reply that ends
   the session, never after: a client that logs in again as soon as it has that reply (as
   fetchmail does after QUIT) must find the mailbox free, not [IN-USE]. */
static void
s_unlock (pop3_session_t *s)
{
    if (*s->mailbox) {
        pop3_lock_release (s->mailbox);
        s->mailbox[0] = '\0';
    }
}

/* Every -ERR goes through here: logged, and counted towards POP3_MAX_BAD_COMMANDS */
static void
s_err (pop3_session_t *s, const char *text)
{
    log_info ("pop3", "refused", "session=%llu peer=%s state=%s reply=\"-ERR %s\"", s->number,
              conn_peer (s->conn), pop3_state_name (s->state), text);
    conn_printf (s->conn, "-ERR %s\r\n", text);
    if (++s->bad >= POP3_MAX_BAD_COMMANDS) {
        log_info ("pop3", "too-many-errors", "session=%llu peer=%s", s->number, conn_peer (s->conn));
        s_unlock (s);
        conn_printf (s->conn, "-ERR too many errors, closing\r\n");
        s->quit = true;
    }
}

/* Sends a broker request about one delivery; returns the reply code (0: no answer) */
static int
s_call (pop3_session_t *s, const char *verb, int64_t id, zmsg_t **reply_p)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%lld", (long long)id);
    zmsg_t *reply = client_call (s->client, verb, args);
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0)
        code = 0;
    if (reply_p)
        *reply_p = reply;
    else
        zmsg_destroy (&reply);
    return code;
}

/* The snapshot: the broker's LIST rows "id TAB size TAB ..." become messages 1..n */
static int
s_snapshot (pop3_session_t *s)
{
    zmsg_t *reply = client_call (s->client, "LIST", NULL);
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0 || !reply_is_success (code)) {
        zmsg_destroy (&reply);
        return -1;
    }
    s->count = zmsg_size (reply) - 1;
    s->entries = calloc (s->count + 1, sizeof (entry_t));
    zmsg_first (reply);
    int rc = s->entries ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->count; i++) {
        char *row = zframe_strdup (zmsg_next (reply));
        long long id = 0, size = 0;
        if (!row || sscanf (row, "%lld\t%lld", &id, &size) != 2 || id <= 0 || size < 0)
            rc = -1;
        s->entries[i].id = id;
        s->entries[i].size = size;
        free (row);
    }
    zmsg_destroy (&reply);
    return rc;
}

/* A failed login: counted for the client's address (throttle.h, across sessions and
   protocols) and answered after a delay that grows with each; once the address is blocked,
   a transient refusal ends the session */
static void
s_login_failed (pop3_session_t *s, const char *text)
{
    int delay = throttle_failure (s->config->throttle, conn_peer (s->conn), THROTTLE_AUTH);
    if (delay < 0) {
        s_err (s, THROTTLE_POP3_BLOCKED);
        s->quit = true;
        return;
    }
    zclock_sleep (delay);
    s_err (s, text);
}

/* A session opened before its address was blocked tries no more logins */
static bool
s_check_blocked (pop3_session_t *s)
{
    if (!throttle_blocked (s->config->throttle, conn_peer (s->conn)))
        return false;
    s_err (s, THROTTLE_POP3_BLOCKED);
    s->quit = true;
    return true;
}

/* Login = identify to the broker as that user; then lock the maildrop and take the snapshot */
static void
s_login (pop3_session_t *s, const char *method, const char *user, const char *password)
{
    if (s_check_blocked (s))
        return;
    char *error = NULL;
    client_t *client = client_new (s->config->broker, user, password, GATEWAY_BROKER_TIMEOUT_MS, &error);
    if (!client) {
        /* 535 5.7.8: wrong password or unknown mailbox (the broker does not say which); any
           other 5xx (an address it cannot parse) is the user's too. The rest is ours. */
        reply_t reply;
        bool refused = error && reply_from_line (&reply, error) == 0 && reply_is_permanent (reply.code);
        char quoted[2 * POP3_MAX_LINE], reason[2 * POP3_MAX_LINE];
        log_info ("pop3", "login-failed", "session=%llu peer=%s method=%s user=%s reason=%s", s->number,
                  conn_peer (s->conn), method, log_quote (quoted, sizeof quoted, user, strlen (user)),
                  log_quote (reason, sizeof reason, error ? error : "", error ? strlen (error) : 0));
        free (error);
        if (refused)
            s_login_failed (s, "[AUTH] invalid credentials");
        else
            s_err (s, "[SYS/TEMP] mail store unavailable, try again later");
        return;
    }
    const char *mailbox = client_user (client);
    if (!pop3_lock_acquire (mailbox)) {
        char quoted[2 * MAX_ADDRESS];
        log_info ("pop3", "in-use", "session=%llu peer=%s mailbox=%s", s->number, conn_peer (s->conn),
                  log_quote (quoted, sizeof quoted, mailbox, strlen (mailbox)));
        client_destroy (&client);
        s_err (s, "[IN-USE] mailbox locked by another session");
        return;
    }
    snprintf (s->mailbox, sizeof s->mailbox, "%s", mailbox);
    s->client = client;
    if (s_snapshot (s) != 0) {
        client_destroy (&s->client);
        free (s->entries);
        s->entries = NULL;
        s->count = 0;
        s_unlock (s);
        s_err (s, "[SYS/TEMP] cannot list the mailbox, try again later");
        return;
    }
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++)
        octets += s->entries[i].size;
    char quoted[2 * MAX_ADDRESS];
    log_info ("pop3", "login", "session=%llu peer=%s method=%s mailbox=%s messages=%zu", s->number,
              conn_peer (s->conn), method, log_quote (quoted, sizeof quoted, s->mailbox, strlen (s->mailbox)),
              s->count);
    conn_printf (s->conn, "+OK %s has %zu %s (%lld octets)\r\n", s->mailbox, s->count,
                 s->count == 1 ? "message" : "messages", (long long)octets);
    s_state (s, POP3_TRANSACTION);
}

/* Message n of the snapshot, not marked deleted; NULL (and -ERR sent) otherwise */
static entry_t *
s_message (pop3_session_t *s, const char *arg)
{
    long n = pop3_number (arg, s->count);
    if (!n || s->entries[n - 1].deleted) {
        s_err (s, "no such message");
        return NULL;
    }
    return &s->entries[n - 1];
}

/* RETR from the broker (which marks it seen), sent in one write, byte-stuffed */
static void
s_send_message (pop3_session_t *s, entry_t *entry, long lines)
{
    zmsg_t *reply = NULL;
    int code = s_call (s, "RETR", entry->id, &reply);
    if (!reply_is_success (code)) {
        /* 550: removed meanwhile by another client of the broker (mailbus-sub) */
        s_err (s, code == 550 ? "no such message (removed by another client)"
                              : "[SYS/TEMP] mail store unavailable, try again later");
        zmsg_destroy (&reply);
        return;
    }
    zmsg_first (reply);
    zframe_t *body = zmsg_next (reply);
    char status[64];
    snprintf (status, sizeof status, "+OK %lld octets", (long long)entry->size);
    size_t len = 0;
    char *out = pop3_stuff (status, body ? (const char *)zframe_data (body) : "",
                            body ? zframe_size (body) : 0, lines, &len);
    if (out)
        conn_write (s->conn, out, len);
    else
        s_err (s, "[SYS/TEMP] out of memory");
    free (out);
    zmsg_destroy (&reply);
}

/* LIST and UIDL: one line per message not marked, or the one asked for */
static void
s_listing (pop3_session_t *s, pop3_command_t *cmd, bool uidl)
{
    if (cmd->argc) {
        entry_t *entry = s_message (s, cmd->arg[0]);
        if (entry)
            conn_printf (s->conn, "+OK %ld %lld\r\n", atol (cmd->arg[0]),
                         uidl ? (long long)entry->id : (long long)entry->size);
        return;
    }
    size_t live = 0;
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++)
        if (!s->entries[i].deleted)
            live++, octets += s->entries[i].size;
    /* a line is at most 20 + 1 + 20 + 2 octets */
    size_t max = 128 + s->count * 48;
    char *out = malloc (max);
    size_t n = 0;
    if (!out) {
        s_err (s, "[SYS/TEMP] out of memory");
        return;
    }
    if (uidl)
        n = text_appendf (out, max, n, "+OK unique-id listing follows\r\n");
    else
        n = text_appendf (out, max, n, "+OK %zu %s (%lld octets)\r\n", live,
                          live == 1 ? "message" : "messages", (long long)octets);
    for (size_t i = 0; i < s->count; i++)
        if (!s->entries[i].deleted)
            n = text_appendf (out, max, n, "%zu %lld\r\n", i + 1,
                              uidl ? (long long)s->entries[i].id : (long long)s->entries[i].size);
    n = text_appendf (out, max, n, ".\r\n");
    conn_write (s->conn, out, n);
    free (out);
}

/* ------------------------------------------------------------------ proceed: AUTHORIZATION */

static void
s_proceed_user (pop3_session_t *s, pop3_command_t *cmd)
{
    snprintf (s->user, sizeof s->user, "%s", cmd->arg[0]);
    s->flags |= POP3_SF_USER;
    conn_printf (s->conn, "+OK send PASS\r\n");
}

static void
s_proceed_pass (pop3_session_t *s, pop3_command_t *cmd)
{
    /* RFC 1939 7: after a failed PASS the client starts again with USER */
    s->flags &= ~(unsigned)POP3_SF_USER;
    s_login (s, "USER", s->user, cmd->arg[0]);
    sodium_memzero (s->user, sizeof s->user);
}

/* AUTH PLAIN [initial-response] (RFC 5034 4); AUTH alone lists the mechanisms (RFC 1734's
   habit, which clients such as fetchmail still probe) */
static void
s_proceed_auth (pop3_session_t *s, pop3_command_t *cmd)
{
    if (cmd->argc == 0) {
        conn_printf (s->conn, "+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n");
        return;
    }
    char line[POP3_MAX_AUTH_LINE + 1];
    const char *response = cmd->argc == 2 ? cmd->arg[1] : NULL;
    size_t len = response ? strlen (response) : 0;
    if (!response) {
        /* RFC 5034 4: an empty challenge, "+ " */
        conn_printf (s->conn, "+ \r\n");
        conn_result_t rc = conn_read_line (s->conn, line, sizeof line, &len, s_timeout_ms (s->config));
        if (rc == CONN_TOO_LONG || rc == CONN_BARE_LF) {
            s_err (s, rc == CONN_TOO_LONG ? "[AUTH] AUTH response too long" : "lines end in CRLF");
            return;
        }
        if (rc != CONN_LINE) {
            s->quit = true;
            return;
        }
        len -= 2;
        line[len] = '\0';
        response = line;
    }
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    sasl_status_t status = sasl_plain (response, len, user, sizeof user, password, sizeof password);
    sodium_memzero (line, sizeof line);
    if (status == SASL_CANCELLED) /* RFC 5034 4: "*" cancels the exchange */
        s_err (s, "AUTH cancelled");
    else if (status != SASL_OK)
        s_login_failed (s, "[AUTH] malformed AUTH PLAIN response");
    else
        s_login (s, "PLAIN", user, password);
    sodium_memzero (password, sizeof password);
}

static void
s_proceed_stls (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    conn_printf (s->conn, "+OK begin TLS negotiation\r\n");
    /* RFC 2595 4 (and CVE-2011-0411): whatever the client pipelined behind STLS was sent in
       the clear; conn_starttls throws it away before the handshake */
    if (conn_starttls (s->conn) != 0) {
        log_info ("pop3", "tls-failed", "session=%llu peer=%s", s->number, conn_peer (s->conn));
        s->quit = true;
        return;
    }
    char info[128];
    log_info ("pop3", "tls", "session=%llu peer=%s %s", s->number, conn_peer (s->conn),
              conn_tls_info (s->conn, info, sizeof info));
    s->flags |= POP3_SF_SECURE;
    s->flags &= ~(unsigned)POP3_SF_USER;
    s->user[0] = '\0';
}

static void
s_proceed_capa (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    char buf[512];
    size_t len = pop3_capa (s->state, s->flags, buf, sizeof buf);
    conn_write (s->conn, buf, len);
}

/* QUIT in AUTHORIZATION just closes (RFC 1939 4); in TRANSACTION the UPDATE state removes
   what DELE marked, and only now (RFC 1939 6) */
/* UPDATE (RFC 1939 6): the messages marked by DELE are removed, POP3_UPDATE_BATCH ids to a
   broker DELE (docs/PROTOCOL.md "Batched RETR, DELE and ACK"); ids another client removed
   first count as removed, which is what was asked */
static void
s_update (pop3_session_t *s, size_t *removed, size_t *failed)
{
    size_t i = 0;
    while (i < s->count) {
        char ids[POP3_UPDATE_BATCH * 21];
        size_t used = 0, n = 0;
        for (; i < s->count && n < POP3_UPDATE_BATCH; i++)
            if (s->entries[i].deleted) {
                used =
                    text_appendf (ids, sizeof ids, used, "%s%lld", n ? " " : "", (long long)s->entries[i].id);
                n++;
            }
        if (n == 0)
            break;
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, ids);
        zmsg_t *reply = client_call (s->client, "DELE", args);
        int code = 0;
        if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0)
            code = 0;
        zmsg_destroy (&reply);
        /* 550: none of them was there any more */
        *(reply_is_success (code) || code == 550 ? removed : failed) += n;
    }
}

static void
s_proceed_quit (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    s->quit = true;
    if (s->state == POP3_AUTHORIZATION) {
        conn_printf (s->conn, "+OK bye\r\n");
        return;
    }
    s_state (s, POP3_UPDATE);
    size_t removed = 0, failed = 0;
    s_update (s, &removed, &failed);
    char quoted[2 * MAX_ADDRESS];
    log_info ("pop3", "update", "session=%llu mailbox=%s removed=%zu failed=%zu", s->number,
              log_quote (quoted, sizeof quoted, s->mailbox, strlen (s->mailbox)), removed, failed);
    /* RFC 1939 6 has the lock released after the removals (its text: after the reply too);
       once they are done it protects nothing, and a login made on the reply must find it free */
    s_unlock (s);
    if (failed)
        conn_printf (s->conn, "-ERR [SYS/TEMP] some deleted messages not removed (%zu)\r\n", failed);
    else
        conn_printf (s->conn, "+OK mailbus POP3 server signing off (%zu %s removed)\r\n", removed,
                     removed == 1 ? "message" : "messages");
}

/* ------------------------------------------------------------------ proceed: TRANSACTION */

static void
s_proceed_stat (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    size_t live = 0;
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++)
        if (!s->entries[i].deleted)
            live++, octets += s->entries[i].size;
    conn_printf (s->conn, "+OK %zu %lld\r\n", live, (long long)octets);
}

static void
s_proceed_list (pop3_session_t *s, pop3_command_t *cmd)
{
    s_listing (s, cmd, false);
}

static void
s_proceed_uidl (pop3_session_t *s, pop3_command_t *cmd)
{
    s_listing (s, cmd, true);
}

static void
s_proceed_retr (pop3_session_t *s, pop3_command_t *cmd)
{
    entry_t *entry = s_message (s, cmd->arg[0]);
    if (entry)
        s_send_message (s, entry, -1);
}

static void
s_proceed_top (pop3_session_t *s, pop3_command_t *cmd)
{
    entry_t *entry = s_message (s, cmd->arg[0]);
    if (entry)
        s_send_message (s, entry, atol (cmd->arg[1]));
}

static void
s_proceed_dele (pop3_session_t *s, pop3_command_t *cmd)
{
    long n = pop3_number (cmd->arg[0], s->count);
    if (!n) {
        s_err (s, "no such message");
        return;
    }
    if (s->entries[n - 1].deleted) {
        char text[64];
        snprintf (text, sizeof text, "message %ld already deleted", n);
        s_err (s, text);
        return;
    }
    s->entries[n - 1].deleted = true;
    conn_printf (s->conn, "+OK message %ld deleted\r\n", n);
}

static void
s_proceed_noop (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    conn_printf (s->conn, "+OK\r\n");
}

static void
s_proceed_rset (pop3_session_t *s, pop3_command_t *cmd)
{
    (void)cmd;
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++) {
        s->entries[i].deleted = false;
        octets += s->entries[i].size;
    }
    conn_printf (s->conn, "+OK maildrop has %zu %s (%lld octets)\r\n", s->count,
                 s->count == 1 ? "message" : "messages", (long long)octets);
}

/* ------------------------------------------------------------------ the loop */

/* "-ERR autologout: idle for 10 minutes" (or "for 1 second" with --pop3-timeout 1) */
static void
s_autologout (conn_t *conn, int seconds)
{
    bool minutes = seconds % 60 == 0;
    int n = minutes ? seconds / 60 : seconds;
    conn_printf (conn, "-ERR autologout: idle for %d %s%s\r\n", n, minutes ? "minute" : "second",
                 n == 1 ? "" : "s");
}

void
pop3_serve (conn_t *conn, const gateway_config_t *config, uint64_t id)
{
    assert (conn && config);
    pop3_session_t s = {.conn = conn, .config = config, .state = POP3_AUTHORIZATION, .number = id};
    if (conn_is_tls (conn))
        s.flags |= POP3_SF_SECURE;
    if (conn_can_tls (conn))
        s.flags |= POP3_SF_CAN_TLS;
    if (config->allow_plaintext_auth)
        s.flags |= POP3_SF_PLAINTEXT_OK;
    log_info ("pop3", "connect", "session=%llu peer=%s tls=%s", s.number, conn_peer (conn),
              conn_is_tls (conn) ? "yes" : "no");
    conn_printf (conn, "+OK mailbus POP3 server ready %s\r\n", config->hostname ? config->hostname : "");
    char line[POP3_MAX_LINE + 1];
    while (!s.quit) {
        size_t len = 0;
        conn_result_t rc = conn_read_line (conn, line, sizeof line, &len, s_timeout_ms (config));
        if (rc == CONN_EOF || rc == CONN_ERROR || rc == CONN_TIMEOUT) {
            /* RFC 1939 6: a session that ends without QUIT enters no UPDATE: nothing is deleted */
            log_info ("pop3", "disconnect", "session=%llu reason=%s state=%s", s.number,
                      rc == CONN_TIMEOUT ? "idle"
                      : rc == CONN_EOF   ? "eof"
                                         : "error",
                      pop3_state_name (s.state));
            s_unlock (&s);
            if (rc == CONN_TIMEOUT)
                s_autologout (conn, s_timeout_ms (config) / 1000);
            break;
        }
        if (rc == CONN_TOO_LONG || rc == CONN_BARE_LF) {
            s_err (&s, rc == CONN_TOO_LONG ? "line too long (255 octets at most)" : "lines end in CRLF");
            continue;
        }
        pop3_command_t cmd;
        const char *why = NULL;
        if (pop3_parse (line, len, &cmd, &why) != 0 || (why = pop3_check (s.state, s.flags, &cmd)) != NULL)
            s_err (&s, why);
        else
            s_commands[s_find (cmd.id)].proceed (&s, &cmd);
        sodium_memzero (&cmd, sizeof cmd);
        sodium_memzero (line, sizeof line);
    }
    s_unlock (&s); /* every way out above gave it back before its last reply already */
    client_destroy (&s.client);
    free (s.entries);
    log_info ("pop3", "end", "session=%llu state=%s", s.number, pop3_state_name (s.state));
}
