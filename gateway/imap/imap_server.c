/*  imap_server.c — the IMAP session: the command reader (lines and literals, with their
    limits), one table of commands (the states each is valid in, a check, a proceed), the
    greeting, logging in (LOGIN, AUTHENTICATE PLAIN through sasl.h, STARTTLS first) and the
    commands of any state. Folders are imap_folder.c's, messages imap_message.c's, IDLE
    imap_idle.c's. */
#include "imap_server.h"

#include <assert.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gw_limits.h"
#include "imap_session.h"
#include "log.h"
#include "reply.h"
#include "sasl.h"
#include "throttle.h"

typedef const char *(check_fn)(imap_session_t *s, const imap_command_t *cmd, bool *bad);
typedef void (proceed_fn) (imap_session_t *s, imap_command_t *cmd);

#define IN_NOAUTH (1u << IMAP_NOT_AUTHENTICATED)
#define IN_AUTH (1u << IMAP_AUTHENTICATED)
#define IN_SEL (1u << IMAP_SELECTED)
#define IN_ANY (IN_NOAUTH | IN_AUTH | IN_SEL)
#define IN_LOGGED (IN_AUTH | IN_SEL)

static check_fn s_check_login, s_check_starttls, s_check_writable;
static proceed_fn s_proceed_capability, s_proceed_noop, s_proceed_logout, s_proceed_starttls, s_proceed_login,
    s_proceed_authenticate, s_proceed_enable, s_proceed_id, s_proceed_namespace;

/* RFC 9051 6: where each command is valid, what refuses it, what does it. untagged: whether
   the view's EXPUNGE responses may be sent before the tagged reply (RFC 9051 7.5.1: not after
   FETCH, STORE or SEARCH by sequence number) */
static const struct {
    imap_cmd_id_t id;
    unsigned states;
    check_fn *check;
    proceed_fn *proceed;
    bool expunges;
} s_commands[] = {
    {IMAP_CAPABILITY, IN_ANY, NULL, s_proceed_capability, true},
    {IMAP_NOOP, IN_ANY, NULL, s_proceed_noop, true},
    {IMAP_LOGOUT, IN_ANY, NULL, s_proceed_logout, true},
    {IMAP_ID, IN_ANY, NULL, s_proceed_id, true},
    {IMAP_STARTTLS, IN_NOAUTH, s_check_starttls, s_proceed_starttls, true},
    {IMAP_AUTHENTICATE, IN_NOAUTH, s_check_login, s_proceed_authenticate, true},
    {IMAP_LOGIN, IN_NOAUTH, s_check_login, s_proceed_login, true},
    {IMAP_ENABLE, IN_AUTH, NULL, s_proceed_enable, true},
    {IMAP_NAMESPACE, IN_LOGGED, NULL, s_proceed_namespace, true},
    {IMAP_SELECT, IN_LOGGED, NULL, imap_cmd_select, true},
    {IMAP_EXAMINE, IN_LOGGED, NULL, imap_cmd_select, true},
    {IMAP_CREATE, IN_LOGGED, NULL, imap_cmd_folder, true},
    {IMAP_DELETE, IN_LOGGED, NULL, imap_cmd_folder, true},
    {IMAP_RENAME, IN_LOGGED, NULL, imap_cmd_folder, true},
    {IMAP_SUBSCRIBE, IN_LOGGED, NULL, imap_cmd_folder, true},
    {IMAP_UNSUBSCRIBE, IN_LOGGED, NULL, imap_cmd_folder, true},
    {IMAP_LIST, IN_LOGGED, NULL, imap_cmd_list, true},
    {IMAP_LSUB, IN_LOGGED, NULL, imap_cmd_list, true},
    {IMAP_STATUS, IN_LOGGED, NULL, imap_cmd_status, true},
    {IMAP_APPEND, IN_LOGGED, NULL, imap_cmd_append, true},
    {IMAP_IDLE, IN_LOGGED, NULL, imap_cmd_idle, true},
    {IMAP_CHECK, IN_SEL, NULL, s_proceed_noop, true},
    {IMAP_CLOSE, IN_SEL, NULL, imap_cmd_close, true},
    {IMAP_UNSELECT, IN_SEL, NULL, imap_cmd_close, true},
    {IMAP_EXPUNGE, IN_SEL, s_check_writable, imap_cmd_expunge, true},
    {IMAP_SEARCH, IN_SEL, NULL, imap_cmd_search, false},
    {IMAP_FETCH, IN_SEL, NULL, imap_cmd_fetch, false},
    {IMAP_STORE, IN_SEL, s_check_writable, imap_cmd_store, false},
    {IMAP_COPY, IN_SEL, NULL, imap_cmd_copy, true},
    {IMAP_MOVE, IN_SEL, s_check_writable, imap_cmd_copy, true},
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

static int
s_find (imap_cmd_id_t id)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (s_commands[i].id == id)
            return (int)i;
    return -1;
}

const char *
imap_state_name (imap_state_t state)
{
    static const char *names[] = {"NOT-AUTHENTICATED", "AUTHENTICATED", "SELECTED", "LOGOUT"};
    return state <= IMAP_LOGOUT_STATE ? names[state] : "?";
}

size_t
imap_capability (unsigned flags, char *buf, size_t size)
{
    bool tls_possible = (flags & (IMAP_SF_CAN_TLS | IMAP_SF_SECURE)) == IMAP_SF_CAN_TLS;
    /* RFC 9051 6.2.3 and RFC 2595 3.2: LOGINDISABLED and no AUTH= while a password would
       travel in clear */
    int n = snprintf (buf, size,
                      "IMAP4rev2 IMAP4rev1%s%s%s LITERAL- ENABLE IDLE NAMESPACE ID UIDPLUS MOVE UNSELECT "
                      "SPECIAL-USE CHILDREN ESEARCH",
                      tls_possible ? " STARTTLS" : "", IMAP_MAY_LOGIN (flags) ? "" : " LOGINDISABLED",
                      IMAP_MAY_LOGIN (flags) ? " AUTH=PLAIN" : "");
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

/* ------------------------------------------------------------------ replies */

int
imap_timeout_ms (const imap_session_t *s)
{
    return s->config->imap_timeout_ms > 0 ? s->config->imap_timeout_ms : IMAP_IDLE_TIMEOUT_S * 1000;
}

int
imap_flush (imap_session_t *s, buffer_t *out)
{
    int rc = out->size ? conn_write (s->conn, out->data, out->size) : 0;
    buffer_free (out);
    return rc;
}

void
imap_tagged (imap_session_t *s, const imap_command_t *cmd, const char *status, const char *format, ...)
{
    char text[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    const char *tag = cmd && cmd->tag[0] ? cmd->tag : "*";
    /* what changed meanwhile comes before the tagged reply (RFC 9051 7) */
    if (strcmp (status, "BAD") != 0 && s->state == IMAP_SELECTED)
        imap_view_sync (s, s->allow_expunges);
    if (strcmp (status, "OK") != 0) {
        char quoted[2 * sizeof text];
        log_warn ("imap", "refused", "session=%llu peer=%s state=%s command=%s reply=%s", s->number,
                  conn_peer (s->conn), imap_state_name (s->state), cmd && cmd->verb[0] ? cmd->verb : "-",
                  log_quote (quoted, sizeof quoted, text, strlen (text)));
    }
    conn_printf (s->conn, "%s %s %s\r\n", tag, status, text);
    if (strcmp (status, "OK") != 0 && ++s->bad >= IMAP_MAX_BAD_COMMANDS) {
        log_warn ("imap", "too-many-errors", "session=%llu peer=%s", s->number, conn_peer (s->conn));
        conn_printf (s->conn, "* BYE too many errors, closing\r\n");
        s->quit = true;
    }
}

static void
s_state (imap_session_t *s, imap_state_t state)
{
    log_info ("imap", "state", "session=%llu %s -> %s", s->number, imap_state_name (s->state),
              imap_state_name (state));
    s->state = state;
}

/* ------------------------------------------------------------------ checks */

static const char *
s_check_login (imap_session_t *s, const imap_command_t *cmd, bool *bad)
{
    (void)cmd;
    (void)bad;
    /* RFC 9051 6.2.3 (LOGINDISABLED) and RFC 5530 PRIVACYREQUIRED */
    return IMAP_MAY_LOGIN (s->flags) ? NULL : "[PRIVACYREQUIRED] use STARTTLS first";
}

static const char *
s_check_starttls (imap_session_t *s, const imap_command_t *cmd, bool *bad)
{
    (void)cmd;
    *bad = true;
    if (s->flags & IMAP_SF_SECURE)
        return "TLS already active";
    return s->flags & IMAP_SF_CAN_TLS ? NULL : "STARTTLS not available";
}

static const char *
s_check_writable (imap_session_t *s, const imap_command_t *cmd, bool *bad)
{
    (void)cmd;
    (void)bad;
    return s->readonly ? "[READ-ONLY] the folder was opened with EXAMINE" : NULL;
}

/* ------------------------------------------------------------------ any state */

static void
s_proceed_capability (imap_session_t *s, imap_command_t *cmd)
{
    char caps[512];
    imap_capability (s->flags, caps, sizeof caps);
    conn_printf (s->conn, "* CAPABILITY %s\r\n", caps);
    imap_ok (s, cmd, "CAPABILITY completed");
}

static void
s_proceed_noop (imap_session_t *s, imap_command_t *cmd)
{
    imap_ok (s, cmd, "%s completed", cmd->verb);
}

static void
s_proceed_logout (imap_session_t *s, imap_command_t *cmd)
{
    conn_printf (s->conn, "* BYE mailbus IMAP server logging out\r\n");
    s_state (s, IMAP_LOGOUT_STATE);
    imap_ok (s, cmd, "LOGOUT completed");
    s->quit = true;
}

/* RFC 2971: the client's fields are not used; we say who we are */
static void
s_proceed_id (imap_session_t *s, imap_command_t *cmd)
{
    conn_printf (s->conn, "* ID (\"name\" \"mailbus\" \"vendor\" \"mailbus\")\r\n");
    imap_ok (s, cmd, "ID completed");
}

/* RFC 5161 and RFC 9051 6.3.1: IMAP4rev2 switches SEARCH to ESEARCH responses */
static void
s_proceed_enable (imap_session_t *s, imap_command_t *cmd)
{
    buffer_t out = BUFFER_INIT (0);
    buffer_appendf (&out, "* ENABLED");
    if (cmd->enable_rev2 && !(s->flags & IMAP_SF_REV2))
        buffer_appendf (&out, " IMAP4rev2");
    buffer_appendf (&out, "\r\n");
    if (cmd->enable_rev2)
        s->flags |= IMAP_SF_REV2;
    imap_flush (s, &out);
    imap_ok (s, cmd, "ENABLE completed");
}

/* RFC 2342 / RFC 9051 6.3.10: one personal namespace, "/" separated */
static void
s_proceed_namespace (imap_session_t *s, imap_command_t *cmd)
{
    conn_printf (s->conn, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
    imap_ok (s, cmd, "NAMESPACE completed");
}

/* ------------------------------------------------------------------ logging in */

static void
s_proceed_starttls (imap_session_t *s, imap_command_t *cmd)
{
    imap_ok (s, cmd, "Begin TLS negotiation now");
    /* RFC 9051 6.2.1 (and CVE-2011-0411): whatever was pipelined behind STARTTLS was sent in
       the clear; conn_starttls throws it away */
    if (conn_starttls (s->conn) != 0) {
        log_info ("imap", "tls-failed", "session=%llu peer=%s", s->number, conn_peer (s->conn));
        s->quit = true;
        return;
    }
    char info[128];
    log_info ("imap", "tls", "session=%llu peer=%s %s", s->number, conn_peer (s->conn),
              conn_tls_info (s->conn, info, sizeof info));
    s->flags |= IMAP_SF_SECURE;
}

/* A failed login: counted for the client's address (throttle.h, across protocols) and
   answered after a delay; a blocked address's session ends */
static void
s_login_failed (imap_session_t *s, const imap_command_t *cmd, const char *text)
{
    int delay = throttle_failure (s->config->throttle, conn_peer (s->conn), THROTTLE_AUTH);
    if (delay < 0) {
        imap_no (s, cmd, "[UNAVAILABLE] too many failed logins from your address");
        s->quit = true;
        return;
    }
    zclock_sleep (delay);
    imap_no (s, cmd, "%s", text);
}

static void
s_login_refused (imap_session_t *s, const imap_command_t *cmd, const char *method, const char *user,
                 char *error)
{
    reply_t reply;
    bool refused = error && reply_from_line (&reply, error) == 0 && reply_is_permanent (reply.code);
    char quoted[2 * MAX_ADDRESS + 8], reason[512];
    log_info ("imap", "login-failed", "session=%llu peer=%s method=%s user=%s reason=%s", s->number,
              conn_peer (s->conn), method, log_quote (quoted, sizeof quoted, user, strlen (user)),
              log_quote (reason, sizeof reason, error ? error : "", error ? strlen (error) : 0));
    free (error);
    if (refused)
        s_login_failed (s, cmd, "[AUTHENTICATIONFAILED] invalid credentials");
    else
        imap_no (s, cmd, "[UNAVAILABLE] mail store unavailable, try again later");
}

/* Login = identify to the broker as that user (the session's client for everything) */
static void
s_login (imap_session_t *s, const imap_command_t *cmd, const char *method, const char *user,
         const char *password)
{
    if (throttle_blocked (s->config->throttle, conn_peer (s->conn))) {
        imap_no (s, cmd, "[UNAVAILABLE] too many failed logins from your address");
        s->quit = true;
        return;
    }
    char *error = NULL;
    client_t *client = client_new (s->config->broker, user, password, GATEWAY_BROKER_TIMEOUT_MS, &error);
    if (!client) {
        s_login_refused (s, cmd, method, user, error);
        return;
    }
    s->client = client;
    /* the session identifies again (after a broker restart) with the broker's ticket: the
       user's password is not kept for the hours an IDLE may last */
    client_forget_password (client);
    snprintf (s->mailbox, sizeof s->mailbox, "%s", client_user (client));
    s->last_call = zclock_mono ();
    char quoted[2 * MAX_ADDRESS + 8];
    log_info ("imap", "login", "session=%llu peer=%s method=%s mailbox=%s", s->number, conn_peer (s->conn),
              method, log_quote (quoted, sizeof quoted, s->mailbox, strlen (s->mailbox)));
    s_state (s, IMAP_AUTHENTICATED);
    /* the broker makes Sent, Drafts and Trash at a mailbox's first FOLDERS: before an APPEND
       to Sent, which needs no FOLDERS of its own */
    int code = 0;
    zmsg_t *reply = imap_call (s, "FOLDERS", zmsg_new (), &code);
    zmsg_destroy (&reply);
    char caps[512];
    imap_capability (s->flags, caps, sizeof caps);
    imap_ok (s, cmd, "[CAPABILITY %s] %s completed", caps, method);
}

static void
s_proceed_login (imap_session_t *s, imap_command_t *cmd)
{
    const imap_string_t *user = &cmd->str[0], *password = &cmd->str[1];
    if (user->len == 0 || user->len > MAX_ADDRESS || password->len > MAX_PASSWORD ||
        memchr (user->data, '\0', user->len) || memchr (password->data, '\0', password->len)) {
        s_login_failed (s, cmd, "[AUTHENTICATIONFAILED] invalid credentials");
        return;
    }
    s_login (s, cmd, "LOGIN", user->data, password->data);
}

/* The client's response to "+ ": one line, without its CRLF, in line; false when the session
   ends or the line was refused (the reply is sent) */
static bool
s_sasl_line (imap_session_t *s, const imap_command_t *cmd, char *line, size_t size, size_t *len)
{
    conn_printf (s->conn, "+ \r\n");
    conn_result_t rc = conn_read_line (s->conn, line, size, len, imap_timeout_ms (s));
    if (rc == CONN_TOO_LONG || rc == CONN_BARE_LF) {
        imap_bad (s, cmd, rc == CONN_TOO_LONG ? "AUTHENTICATE response too long" : "lines end in CRLF");
        return false;
    }
    if (rc != CONN_LINE) {
        s->quit = true;
        return false;
    }
    *len -= 2;
    line[*len] = '\0';
    return true;
}

/* AUTHENTICATE PLAIN [initial-response] (RFC 9051 6.2.2, SASL-IR RFC 4959) */
static void
s_proceed_authenticate (imap_session_t *s, imap_command_t *cmd)
{
    if (sasl_mechanism (cmd->str[0].data, cmd->str[0].len) != SASL_PLAIN) {
        imap_no (s, cmd, "[CANNOT] unsupported authentication mechanism (PLAIN only)");
        return;
    }
    char line[SASL_MAX_RESPONSE * 4 / 3 + 8];
    const char *response = cmd->str[1].data;
    size_t len = cmd->str[1].len;
    if (!response) {
        if (!s_sasl_line (s, cmd, line, sizeof line, &len))
            return;
        response = line;
    }
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    sasl_status_t status = sasl_plain (response, len, user, sizeof user, password, sizeof password);
    sodium_memzero (line, sizeof line);
    /* RFC 9051 6.2.2: a cancelled exchange or a response that is not base64 is BAD */
    if (status == SASL_CANCELLED)
        imap_bad (s, cmd, "AUTHENTICATE cancelled");
    else if (status == SASL_BAD_BASE64)
        imap_bad (s, cmd, "AUTHENTICATE response is not base64");
    else if (status != SASL_OK)
        s_login_failed (s, cmd, "[AUTHENTICATIONFAILED] malformed PLAIN response");
    else
        s_login (s, cmd, "AUTHENTICATE", user, password);
    sodium_memzero (password, sizeof password);
}

/* ------------------------------------------------------------------ reading a command */

typedef enum { READ_COMMAND, READ_REFUSED, READ_END } read_result_t;

/* Whether the command begun in text is APPEND ("tag APPEND ..."): its literal may be a
   whole message */
static bool
s_is_append (const buffer_t *text)
{
    const char *space = memchr (text->data, ' ', text->size);
    return space && text->size - (size_t)(space + 1 - text->data) >= 7 &&
           strncasecmp (space + 1, "APPEND ", 7) == 0;
}

/* The tag of a command being read, for a BAD before it could be parsed */
static void
s_tag_of (const buffer_t *text, imap_command_t *cmd)
{
    memset (cmd, 0, sizeof *cmd);
    size_t n = 0;
    while (n < text->size && n < IMAP_MAX_TAG && text->data[n] > ' ' && text->data[n] < 0x7f &&
           !strchr ("(){%*\"\\+", text->data[n]))
        n++;
    if (n < text->size && text->data[n] == ' ') {
        memcpy (cmd->tag, text->data, n);
        cmd->tag[n] = '\0';
    }
}

/* Reads the n octets of a literal into text */
static read_result_t
s_read_literal (imap_session_t *s, buffer_t *text, uint64_t n)
{
    while (n > 0) {
        const char *data;
        size_t have;
        conn_result_t rc = conn_peek (s->conn, &data, &have, imap_timeout_ms (s));
        if (rc != CONN_DATA)
            return READ_END;
        size_t take = have < n ? have : (size_t)n;
        if (buffer_append (text, data, take) != 0)
            return READ_END;
        conn_consume (s->conn, take);
        n -= take;
    }
    return READ_COMMAND;
}

/* A literal announced at the end of a line: checked against its bound BEFORE its octets are
   read (RFC 9051 4.3, RFC 7888 4), then read, after "+ Ready" when it synchronises */
static read_result_t
s_literal (imap_session_t *s, buffer_t *text, uint64_t n, bool nonsync)
{
    uint64_t bound = s_is_append (text) ? s->config->max_message_bytes : IMAP_MAX_LITERAL;
    if (n > bound || text->size + n > bound + IMAP_MAX_COMMAND) {
        imap_command_t cmd;
        s_tag_of (text, &cmd);
        snprintf (cmd.verb, sizeof cmd.verb, "%s", "literal");
        imap_bad (s, &cmd, "[LIMIT] literal of %llu octets is over the limit of %llu", (unsigned long long)n,
                  (unsigned long long)bound);
        if (nonsync) {
            /* RFC 7888 4: the octets are on their way and cannot be told apart from commands */
            conn_printf (s->conn, "* BYE [LIMIT] non-synchronising literal over the limit\r\n");
            return READ_END;
        }
        return READ_REFUSED;
    }
    if (!nonsync)
        conn_printf (s->conn, "+ Ready for literal data\r\n");
    return s_read_literal (s, text, n);
}

/* Waits for the next command, keeping the broker's watcher alive meanwhile */
static conn_result_t
s_wait_command (imap_session_t *s)
{
    int64_t deadline = zclock_mono () + imap_timeout_ms (s);
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return CONN_TIMEOUT;
        int slice = s->watching && left > IMAP_HEARTBEAT_MS ? IMAP_HEARTBEAT_MS : (int)left;
        const char *data;
        size_t len;
        conn_result_t rc = conn_peek (s->conn, &data, &len, slice);
        if (rc != CONN_TIMEOUT)
            return rc;
        if (s->watching)
            imap_heartbeat (s);
        if (s->broker_dead)
            return CONN_ERROR;
    }
}

static read_result_t
s_line_refused (imap_session_t *s, buffer_t *text, conn_result_t rc)
{
    imap_command_t cmd;
    s_tag_of (text, &cmd);
    imap_bad (s, &cmd,
              rc == CONN_TOO_LONG ? "[TOOBIG] line too long (%d octets at most)" : "lines end in CRLF",
              IMAP_MAX_LINE);
    return READ_REFUSED;
}

/* One whole command (its lines and literals) into text */
static read_result_t
s_read_command (imap_session_t *s, buffer_t *text, conn_result_t *end)
{
    *end = s_wait_command (s);
    if (*end != CONN_DATA)
        return READ_END;
    char line[IMAP_MAX_LINE + 1];
    while (true) {
        size_t len = 0;
        conn_result_t rc = conn_read_line (s->conn, line, sizeof line, &len, imap_timeout_ms (s));
        if (rc == CONN_TOO_LONG || rc == CONN_BARE_LF) {
            buffer_append (text, line, len);
            return s_line_refused (s, text, rc);
        }
        if (rc != CONN_LINE) {
            *end = rc;
            return READ_END;
        }
        if (buffer_append (text, line, len) != 0 ||
            text->size > IMAP_MAX_COMMAND + s->config->max_message_bytes)
            return s_line_refused (s, text, CONN_TOO_LONG);
        uint64_t n = 0;
        bool nonsync = false;
        int at_end = imap_literal_at_end (line, len, &n, &nonsync);
        if (at_end == 0)
            return READ_COMMAND;
        if (at_end < 0) {
            imap_command_t cmd;
            s_tag_of (text, &cmd);
            imap_bad (s, &cmd, "[LIMIT] literal size is not a number of at most 20 digits");
            return READ_REFUSED;
        }
        read_result_t r = s_literal (s, text, n, nonsync);
        if (r != READ_COMMAND)
            return r;
    }
}

/* ------------------------------------------------------------------ the loop */

static void
s_dispatch (imap_session_t *s, imap_command_t *cmd)
{
    int index = s_find (cmd->id);
    if (index < 0) {
        imap_bad (s, cmd, "unknown command");
        return;
    }
    if (!(s_commands[index].states & (1u << s->state))) {
        imap_bad (s, cmd, "%s",
                  s->state == IMAP_NOT_AUTHENTICATED ? "log in first (LOGIN or AUTHENTICATE)"
                  : s->state == IMAP_AUTHENTICATED   ? "select a folder first"
                                                     : "command not valid in this state");
        return;
    }
    bool bad = false;
    const char *why = s_commands[index].check ? s_commands[index].check (s, cmd, &bad) : NULL;
    if (why && bad)
        imap_bad (s, cmd, "%s", why);
    else if (why)
        imap_no (s, cmd, "%s", why);
    else
        s_commands[index].proceed (s, cmd);
}

/* Before the tagged reply of a command in the Selected state, what changed meanwhile */
static void
s_handle (imap_session_t *s, buffer_t *text)
{
    imap_command_t cmd;
    const char *why = NULL;
    if (imap_parse (text->data, text->size, &cmd, &why) != 0) {
        imap_bad (s, &cmd, "%s", why ? why : "syntax error");
    }
    else {
        int index = s_find (cmd.id);
        /* what the broker pushed meanwhile, before the command reads the view: flags and new
           messages only (an EXPUNGE now would shift the numbers the client just used) */
        if (s->state == IMAP_SELECTED) {
            s->allow_expunges = false;
            imap_view_sync (s, false);
        }
        s->allow_expunges = index < 0 || s_commands[index].expunges || cmd.uid;
        s_dispatch (s, &cmd);
    }
    if (cmd.id == IMAP_LOGIN || cmd.id == IMAP_AUTHENTICATE)
        sodium_memzero (text->data, text->size);
    imap_command_free (&cmd);
}

static void
s_end (imap_session_t *s, conn_result_t rc)
{
    const char *reason = rc == CONN_TIMEOUT ? "idle"
                         : rc == CONN_EOF   ? "eof"
                         : s->broker_dead   ? "broker"
                                            : "error";
    log_info ("imap", "disconnect", "session=%llu reason=%s state=%s", s->number, reason,
              imap_state_name (s->state));
    if (rc == CONN_TIMEOUT)
        conn_printf (s->conn, "* BYE autologout: idle for %d seconds\r\n", imap_timeout_ms (s) / 1000);
    else if (s->broker_dead)
        conn_printf (s->conn, "* BYE [UNAVAILABLE] mail store unavailable, try again later\r\n");
}

/* The broker ends the session (and its watcher) at once, rather than after 15 s of silence */
static void
s_broker_quit (imap_session_t *s)
{
    if (!s->client || s->broker_dead)
        return;
    int code = 0;
    zmsg_t *reply = imap_call_quick (s, "QUIT", NULL, &code);
    zmsg_destroy (&reply);
}

/* Frees a command's text; one that may carry a password (LOGIN, AUTHENTICATE with an initial
   response) is wiped first */
static void
s_text_free (buffer_t *text)
{
    const char *space = text->data ? memchr (text->data, ' ', text->size) : NULL;
    if (space) {
        size_t rest = text->size - (size_t)(space + 1 - text->data);
        if ((rest >= 6 && strncasecmp (space + 1, "LOGIN ", 6) == 0) ||
            (rest >= 13 && strncasecmp (space + 1, "AUTHENTICATE ", 13) == 0))
            sodium_memzero (text->data, text->size);
    }
    buffer_free (text);
}

void
imap_serve (conn_t *conn, const gateway_config_t *config, uint64_t id)
{
    assert (conn && config);
    imap_session_t s = {.conn = conn, .config = config, .number = id, .state = IMAP_NOT_AUTHENTICATED};
    s.flags |= conn_is_tls (conn) ? IMAP_SF_SECURE : 0;
    s.flags |= conn_can_tls (conn) ? IMAP_SF_CAN_TLS : 0;
    s.flags |= config->allow_plaintext_auth ? IMAP_SF_PLAINTEXT_OK : 0;
    s.pushes = zlist_new ();
    log_info ("imap", "connect", "session=%llu peer=%s tls=%s", s.number, conn_peer (conn),
              conn_is_tls (conn) ? "yes" : "no");
    char caps[512];
    imap_capability (s.flags, caps, sizeof caps);
    conn_printf (conn, "* OK [CAPABILITY %s] mailbus IMAP4rev2 server ready\r\n", caps);
    while (!s.quit) {
        buffer_t text = BUFFER_INIT (0);
        conn_result_t end = CONN_DATA;
        read_result_t r = s_read_command (&s, &text, &end);
        if (r == READ_COMMAND)
            s_handle (&s, &text);
        s_text_free (&text);
        if (r == READ_END) {
            s_end (&s, end);
            break;
        }
        if (s.broker_dead) {
            s_end (&s, CONN_ERROR);
            break;
        }
    }
    imap_view_clear (&s);
    imap_bodies_clear (&s);
    s_broker_quit (&s);
    client_destroy (&s.client);
    zmsg_t *push;
    while ((push = zlist_pop (s.pushes)))
        zmsg_destroy (&push);
    zlist_destroy (&s.pushes);
    log_info ("imap", "end", "session=%llu state=%s", s.number, imap_state_name (s.state));
}
