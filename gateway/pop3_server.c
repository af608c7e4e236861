/*  pop3_server.c — POP3 state machine: AUTHORIZATION -> TRANSACTION -> UPDATE. */
#include "pop3_server.h"

#include <ctype.h>
#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "client.h"
#include "gw_limits.h"
#include "log.h"
#include "proto.h"
#include "reply.h"
#include "smtp_parse.h"

/* ------------------------------------------------------------------ parsing */

static const struct {
    const char *verb;
    pop3_cmd_id_t id;
    int min_args, max_args;
} s_commands[] = {
    {"USER", POP3_USER, 1, 1}, {"PASS", POP3_PASS, 1, 1}, {"AUTH", POP3_AUTH, 0, 2},
    {"STAT", POP3_STAT, 0, 0}, {"LIST", POP3_LIST, 0, 1}, {"RETR", POP3_RETR, 1, 1},
    {"DELE", POP3_DELE, 1, 1}, {"NOOP", POP3_NOOP, 0, 0}, {"RSET", POP3_RSET, 0, 0},
    {"TOP", POP3_TOP, 2, 2},   {"UIDL", POP3_UIDL, 0, 1}, {"CAPA", POP3_CAPA, 0, 0},
    {"STLS", POP3_STLS, 0, 0}, {"QUIT", POP3_QUIT, 0, 0},
};

int
pop3_parse (const char *line, size_t len, pop3_command_t *cmd, const char **why)
{
    memset (cmd, 0, sizeof *cmd);
    cmd->id = POP3_UNKNOWN;
    if (len < 2 || line[len - 2] != '\r' || line[len - 1] != '\n') {
        *why = "lines end in CRLF";
        return -1;
    }
    len -= 2;
    if (memchr (line, '\0', len)) {
        *why = "NUL in command";
        return -1;
    }
    size_t verb_len = 0;
    while (verb_len < len && line[verb_len] != ' ')
        verb_len++;
    /* RFC 2449 4: keywords are three or four characters */
    if (verb_len < 3 || verb_len > 4) {
        *why = "unknown command";
        return -1;
    }
    for (size_t i = 0; i < verb_len; i++)
        cmd->verb[i] = (char)toupper ((unsigned char)line[i]);
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (cmd->verb, s_commands[i].verb) == 0)
            cmd->id = s_commands[i].id;
    if (cmd->id == POP3_UNKNOWN) {
        *why = "unknown command";
        return -1;
    }
    const char *p = line + verb_len;
    const char *end = line + len;
    if (cmd->id == POP3_PASS) {
        /* RFC 1939 7: PASS takes the rest of the line, spaces included */
        if (p >= end || *p != ' ' || p + 1 == end) {
            *why = "PASS needs a password";
            return -1;
        }
        memcpy (cmd->arg[0], p + 1, (size_t)(end - p - 1));
        cmd->argc = 1;
        return 0;
    }
    while (p < end) {
        if (*p != ' ' || p + 1 == end || p[1] == ' ') {
            *why = "arguments are separated by single spaces";
            return -1;
        }
        p++;
        const char *q = p;
        while (q < end && *q != ' ')
            q++;
        if (cmd->argc == 2 || (size_t)(q - p) > POP3_MAX_ARG) {
            *why = cmd->argc == 2 ? "too many arguments" : "argument longer than 40 characters";
            return -1;
        }
        memcpy (cmd->arg[cmd->argc++], p, (size_t)(q - p));
        p = q;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (s_commands[i].id == cmd->id &&
            (cmd->argc < s_commands[i].min_args || cmd->argc > s_commands[i].max_args)) {
            *why = "wrong number of arguments";
            return -1;
        }
    return 0;
}

long
pop3_number (const char *arg, size_t count)
{
    if (!arg || !*arg || strlen (arg) > 9 || strspn (arg, "0123456789") != strlen (arg))
        return 0;
    long n = atol (arg);
    return n >= 1 && (size_t)n <= count ? n : 0;
}

/* ------------------------------------------------------------------ maildrop locks */

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zlistx_t *s_locked = NULL;

bool
pop3_lock (const char *mailbox)
{
    pthread_mutex_lock (&s_lock);
    if (!s_locked) {
        s_locked = zlistx_new ();
        zlistx_set_destructor (s_locked, (zlistx_destructor_fn *)zstr_free);
        zlistx_set_comparator (s_locked, (zlistx_comparator_fn *)strcmp);
    }
    bool taken = zlistx_find (s_locked, (void *)mailbox) == NULL;
    if (taken)
        zlistx_add_end (s_locked, strdup (mailbox));
    pthread_mutex_unlock (&s_lock);
    return taken;
}

void
pop3_unlock (const char *mailbox)
{
    pthread_mutex_lock (&s_lock);
    void *handle = s_locked ? zlistx_find (s_locked, (void *)mailbox) : NULL;
    if (handle)
        zlistx_delete (s_locked, handle);
    pthread_mutex_unlock (&s_lock);
}

/* ------------------------------------------------------------------ session */

typedef enum { ST_AUTHORIZATION, ST_TRANSACTION, ST_UPDATE } pop3_state_t;
static const char *s_state_names[] = {"AUTHORIZATION", "TRANSACTION", "UPDATE"};

typedef struct {
    int64_t id;   /* the broker's delivery id: the UIDL */
    int64_t size; /* octets, CRLF counted (the broker stores CRLF) */
    bool deleted;
} entry_t;

typedef struct {
    conn_t *conn;
    const gateway_config_t *config;
    uint64_t number;
    pop3_state_t state;
    char user[POP3_MAX_LINE];
    char mailbox[MAX_ADDRESS + 1]; /* locked while in TRANSACTION */
    client_t *client;
    entry_t *entries;
    size_t count;
    int bad;
    bool quit;
} session_t;

static uint64_t s_sessions = 0;

static void
s_state (session_t *s, pop3_state_t state)
{
    log_info ("pop3", "state", "session=%llu %s -> %s", (unsigned long long)s->number,
              s_state_names[s->state], s_state_names[state]);
    s->state = state;
}

static void
s_err (session_t *s, const char *text)
{
    log_info ("pop3", "refused", "session=%llu peer=%s reply=\"-ERR %s\"", (unsigned long long)s->number,
              conn_peer (s->conn), text);
    conn_printf (s->conn, "-ERR %s\r\n", text);
    if (++s->bad >= POP3_MAX_BAD_COMMANDS) {
        conn_printf (s->conn, "-ERR too many errors, closing\r\n");
        s->quit = true;
    }
}

/* USER/PASS and AUTH are plaintext passwords: only inside TLS, unless allowed by option */
static bool
s_may_login (session_t *s)
{
    return conn_is_tls (s->conn) || s->config->allow_plaintext_auth;
}

static void
s_entry (entry_t *entry, const char *row)
{
    long long id = 0, size = 0;
    sscanf (row, "%lld\t%lld", &id, &size);
    entry->id = id;
    entry->size = size;
}

/* Identifies to the broker as the user, locks the maildrop and takes the snapshot */
static void
s_login (session_t *s, const char *user, const char *password)
{
    char *error = NULL;
    client_t *client = client_new (s->config->broker, user, password, GATEWAY_BROKER_TIMEOUT_MS, &error);
    if (!client) {
        bool refused = error && error[0] == '5';
        log_info ("pop3", "login-failed", "session=%llu peer=%s user=\"%s\" reason=\"%s\"",
                  (unsigned long long)s->number, conn_peer (s->conn), user, error ? error : "");
        free (error);
        if (refused) {
            zclock_sleep (1000); /* a wrong password costs the guesser a second */
            s_err (s, "[AUTH] invalid user name or password");
        }
        else
            s_err (s, "[SYS/TEMP] mail store unavailable, try again later");
        return;
    }
    snprintf (s->mailbox, sizeof s->mailbox, "%s", client_user (client));
    if (!pop3_lock (s->mailbox)) {
        client_destroy (&client);
        s_err (s, "[IN-USE] mailbox locked by another session");
        s->mailbox[0] = '\0';
        return;
    }
    zmsg_t *reply = client_call (client, "LIST", NULL);
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0 || !reply_is_success (code)) {
        zmsg_destroy (&reply);
        client_destroy (&client);
        pop3_unlock (s->mailbox);
        s->mailbox[0] = '\0';
        s_err (s, "[SYS/TEMP] cannot list the mailbox, try again later");
        return;
    }
    s->count = zmsg_size (reply) - 1;
    s->entries = calloc (s->count + 1, sizeof (entry_t));
    zmsg_first (reply);
    for (size_t i = 0; i < s->count; i++) {
        char *row = zframe_strdup (zmsg_next (reply));
        s_entry (&s->entries[i], row);
        free (row);
    }
    zmsg_destroy (&reply);
    s->client = client;
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++)
        octets += s->entries[i].size;
    log_info ("pop3", "login", "session=%llu peer=%s mailbox=%s messages=%zu", (unsigned long long)s->number,
              conn_peer (s->conn), s->mailbox, s->count);
    conn_printf (s->conn, "+OK %s has %zu messages (%lld octets)\r\n", s->mailbox, s->count,
                 (long long)octets);
    s_state (s, ST_TRANSACTION);
}

/* The message number in arg, not deleted; NULL (and -ERR sent) otherwise */
static entry_t *
s_message (session_t *s, const char *arg)
{
    long n = pop3_number (arg, s->count);
    if (!n || s->entries[n - 1].deleted) {
        s_err (s, n ? "message is deleted" : "no such message");
        return NULL;
    }
    return &s->entries[n - 1];
}

/* RETR from the broker, sent byte-stuffed (RFC 1939 3); lines = -1 for all of it, else TOP's
   header plus that many body lines */
static void
s_send_message (session_t *s, entry_t *entry, long lines)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%lld", (long long)entry->id);
    zmsg_t *reply = client_call (s->client, "RETR", args);
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0 || !reply_is_success (code)) {
        s_err (s,
               code == 550 ? "message was deleted by another client" : "[SYS/TEMP] mail store unavailable");
        zmsg_destroy (&reply);
        return;
    }
    zmsg_first (reply);
    zframe_t *body = zmsg_next (reply);
    const char *data = body ? (const char *)zframe_data (body) : "";
    size_t size = body ? zframe_size (body) : 0;
    /* one buffer, one write: stuffing adds at most one octet per line */
    size_t max = size * 2 + 64;
    char *out = malloc (max), *o = out;
    o += snprintf (o, max, "+OK %lld octets\r\n", (long long)entry->size);
    bool in_body = false;
    long body_lines = 0;
    const char *p = data, *end = data + size;
    while (p < end) {
        const char *eol = memchr (p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        if (in_body && lines >= 0 && body_lines++ >= lines)
            break;
        if (!in_body && next - p <= 2 && (*p == '\r' || *p == '\n'))
            in_body = true; /* the empty line between header and body */
        if (*p == '.')
            *o++ = '.';
        memcpy (o, p, (size_t)(next - p));
        o += next - p;
        p = next;
    }
    if (o - out >= 2 && !(o[-2] == '\r' && o[-1] == '\n')) {
        *o++ = '\r';
        *o++ = '\n';
    }
    memcpy (o, ".\r\n", 3);
    o += 3;
    conn_write (s->conn, out, (size_t)(o - out));
    free (out);
    zmsg_destroy (&reply);
}

static void
s_listing (session_t *s, const char *arg, bool uidl)
{
    if (arg) {
        entry_t *entry = s_message (s, arg);
        if (entry)
            conn_printf (s->conn, "+OK %ld %lld\r\n", pop3_number (arg, s->count),
                         uidl ? (long long)entry->id : (long long)entry->size);
        return;
    }
    size_t live = 0;
    int64_t octets = 0;
    for (size_t i = 0; i < s->count; i++)
        if (!s->entries[i].deleted)
            live++, octets += s->entries[i].size;
    char *out = malloc (64 + s->count * 48), *o = out;
    o += sprintf (o, uidl ? "+OK unique-id listing follows\r\n" : "+OK %zu messages (%lld octets)\r\n", live,
                  (long long)octets);
    for (size_t i = 0; i < s->count; i++)
        if (!s->entries[i].deleted)
            o += sprintf (o, "%zu %lld\r\n", i + 1,
                          uidl ? (long long)s->entries[i].id : (long long)s->entries[i].size);
    o += sprintf (o, ".\r\n");
    conn_write (s->conn, out, (size_t)(o - out));
    free (out);
}

static void
s_capa (session_t *s)
{
    conn_printf (s->conn, "+OK capability list follows\r\n");
    conn_printf (s->conn, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (s->state == ST_AUTHORIZATION && s_may_login (s))
        conn_printf (s->conn, "USER\r\nSASL PLAIN\r\n");
    if (s->state == ST_AUTHORIZATION && conn_can_tls (s->conn) && !conn_is_tls (s->conn))
        conn_printf (s->conn, "STLS\r\n");
    conn_printf (s->conn, "IMPLEMENTATION mailbus\r\n.\r\n");
}

/* AUTH PLAIN [initial-response] (RFC 5034) */
static void
s_auth (session_t *s, pop3_command_t *cmd)
{
    if (cmd->argc == 0) {
        conn_printf (s->conn, "+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n");
        return;
    }
    if (strcasecmp (cmd->arg[0], "PLAIN") != 0) {
        s_err (s, "unsupported SASL mechanism (PLAIN only)");
        return;
    }
    char line[SMTP_MAX_AUTH_LINE];
    const char *response = cmd->argc == 2 ? cmd->arg[1] : NULL;
    size_t len = response ? strlen (response) : 0;
    if (!response) {
        conn_printf (s->conn, "+ \r\n");
        if (conn_read_line (s->conn, line, sizeof line, &len, POP3_IDLE_TIMEOUT_MS) != CONN_LINE) {
            s->quit = true;
            return;
        }
        len -= 2;
        line[len] = '\0';
        response = line;
    }
    if (len == 1 && response[0] == '*') {
        s_err (s, "AUTH cancelled");
        return;
    }
    unsigned char decoded[1024];
    char user[MAX_ADDRESS + 1], password[MAX_PASSWORD + 1];
    int n = smtp_base64_decode (response, len, decoded, sizeof decoded);
    if (n < 0 ||
        smtp_parse_auth_plain (decoded, (size_t)n, user, sizeof user, password, sizeof password) != 0) {
        s_err (s, "[AUTH] malformed AUTH PLAIN response");
        sodium_memzero (decoded, sizeof decoded);
        return;
    }
    sodium_memzero (decoded, sizeof decoded);
    s_login (s, user, password);
    sodium_memzero (password, sizeof password);
}

/* QUIT in TRANSACTION: the UPDATE state removes what DELE marked, and only now */
static void
s_update (session_t *s)
{
    s_state (s, ST_UPDATE);
    size_t removed = 0, failed = 0;
    for (size_t i = 0; i < s->count; i++) {
        if (!s->entries[i].deleted)
            continue;
        zmsg_t *args = zmsg_new ();
        zmsg_addstrf (args, "%lld", (long long)s->entries[i].id);
        zmsg_t *reply = client_call (s->client, "DELE", args);
        int code = 0;
        /* 550: another client removed it first, which is what we wanted */
        if (reply && proto_reply_status (reply, &code, NULL, 0) == 0 &&
            (reply_is_success (code) || code == 550))
            removed++;
        else
            failed++;
        zmsg_destroy (&reply);
    }
    log_info ("pop3", "update", "session=%llu mailbox=%s removed=%zu failed=%zu",
              (unsigned long long)s->number, s->mailbox, removed, failed);
    if (failed)
        conn_printf (s->conn, "-ERR [SYS/TEMP] %zu deleted messages not removed\r\n", failed);
    else
        conn_printf (s->conn, "+OK mailbus POP3 server signing off (%zu messages removed)\r\n", removed);
}

static void
s_command (session_t *s, pop3_command_t *cmd)
{
    bool auth = s->state == ST_AUTHORIZATION;
    switch (cmd->id) {
    case POP3_CAPA:
        s_capa (s);
        return;
    case POP3_NOOP:
        if (auth)
            break;
        conn_printf (s->conn, "+OK\r\n");
        return;
    case POP3_QUIT:
        if (auth)
            conn_printf (s->conn, "+OK bye\r\n");
        else
            s_update (s);
        s->quit = true;
        return;
    case POP3_STLS:
        if (!auth || conn_is_tls (s->conn) || !conn_can_tls (s->conn)) {
            s_err (s, conn_is_tls (s->conn) ? "TLS already active" : "STLS not available now");
            return;
        }
        conn_printf (s->conn, "+OK begin TLS negotiation\r\n");
        /* RFC 2595 4: what the client sent after STLS, before the handshake, is discarded */
        if (conn_starttls (s->conn) != 0) {
            log_info ("pop3", "tls-failed", "session=%llu peer=%s", (unsigned long long)s->number,
                      conn_peer (s->conn));
            s->quit = true;
        }
        s->user[0] = '\0';
        return;
    case POP3_USER:
    case POP3_PASS:
    case POP3_AUTH:
        if (!auth)
            break;
        if (!s_may_login (s)) {
            s_err (s, "[AUTH] plaintext passwords need TLS: use STLS first");
            return;
        }
        if (cmd->id == POP3_USER) {
            snprintf (s->user, sizeof s->user, "%s", cmd->arg[0]);
            conn_printf (s->conn, "+OK send PASS\r\n");
        }
        else if (cmd->id == POP3_PASS) {
            if (!*s->user) {
                s_err (s, "USER first");
                return;
            }
            s_login (s, s->user, cmd->arg[0]);
            sodium_memzero (cmd->arg[0], sizeof cmd->arg[0]);
            s->user[0] = '\0';
        }
        else
            s_auth (s, cmd);
        return;
    default:
        break;
    }
    if (auth) {
        s_err (s, "log in first (USER/PASS or AUTH PLAIN)");
        return;
    }
    entry_t *entry;
    switch (cmd->id) {
    case POP3_STAT: {
        size_t live = 0;
        int64_t octets = 0;
        for (size_t i = 0; i < s->count; i++)
            if (!s->entries[i].deleted)
                live++, octets += s->entries[i].size;
        conn_printf (s->conn, "+OK %zu %lld\r\n", live, (long long)octets);
        break;
    }
    case POP3_LIST:
    case POP3_UIDL:
        s_listing (s, cmd->argc ? cmd->arg[0] : NULL, cmd->id == POP3_UIDL);
        break;
    case POP3_RETR:
        if ((entry = s_message (s, cmd->arg[0])))
            s_send_message (s, entry, -1);
        break;
    case POP3_TOP: {
        long lines = -1;
        if (strspn (cmd->arg[1], "0123456789") != strlen (cmd->arg[1]) || strlen (cmd->arg[1]) > 9) {
            s_err (s, "TOP msg n: n is a number of lines");
            break;
        }
        lines = atol (cmd->arg[1]);
        if ((entry = s_message (s, cmd->arg[0])))
            s_send_message (s, entry, lines);
        break;
    }
    case POP3_DELE:
        if ((entry = s_message (s, cmd->arg[0]))) {
            entry->deleted = true;
            conn_printf (s->conn, "+OK message %s deleted\r\n", cmd->arg[0]);
        }
        break;
    case POP3_RSET:
        for (size_t i = 0; i < s->count; i++)
            s->entries[i].deleted = false;
        conn_printf (s->conn, "+OK maildrop has %zu messages\r\n", s->count);
        break;
    default:
        s_err (s, "command not valid in this state");
        break;
    }
}

void
pop3_serve (conn_t *conn, const gateway_config_t *config)
{
    session_t s = {.conn = conn, .config = config, .state = ST_AUTHORIZATION};
    s.number = __atomic_add_fetch (&s_sessions, 1, __ATOMIC_SEQ_CST);
    log_info ("pop3", "connect", "session=%llu peer=%s", (unsigned long long)s.number, conn_peer (conn));
    conn_printf (conn, "+OK mailbus POP3 server ready %s\r\n", config->hostname ? config->hostname : "");
    char line[POP3_MAX_LINE + 1];
    while (!s.quit) {
        size_t len = 0;
        conn_result_t rc = conn_read_line (conn, line, sizeof line, &len, POP3_IDLE_TIMEOUT_MS);
        if (rc == CONN_EOF || rc == CONN_ERROR || rc == CONN_TIMEOUT) {
            /* RFC 1939 3: a session that ends without QUIT enters no UPDATE: nothing is deleted */
            log_info ("pop3", "disconnect", "session=%llu reason=%s state=%s", (unsigned long long)s.number,
                      rc == CONN_TIMEOUT ? "idle"
                      : rc == CONN_EOF   ? "eof"
                                         : "error",
                      s_state_names[s.state]);
            if (rc == CONN_TIMEOUT)
                conn_printf (conn, "-ERR autologout: idle for too long\r\n");
            break;
        }
        if (rc == CONN_TOO_LONG) {
            s_err (&s, "line too long (255 octets at most)");
            continue;
        }
        if (rc == CONN_BARE_LF) {
            s_err (&s, "lines end in CRLF");
            continue;
        }
        pop3_command_t cmd;
        const char *why = NULL;
        if (pop3_parse (line, len, &cmd, &why) != 0) {
            s_err (&s, why);
            continue;
        }
        s_command (&s, &cmd);
        sodium_memzero (&cmd, sizeof cmd);
    }
    if (*s.mailbox)
        pop3_unlock (s.mailbox);
    client_destroy (&s.client);
    free (s.entries);
    log_info ("pop3", "end", "session=%llu", (unsigned long long)s.number);
}
