/*  smtp_server.c — the SMTP session: an explicit state machine, one check and one proceed
    function per command (OpenSMTPD's split: every refusal is in a check function), strict
    CRLF at the edge, and mail handed to the broker with SEND.

    INIT --HELO/EHLO--> HELO --MAIL--> MAIL --RCPT--> RCPT --DATA--> (DATA) --> HELO
    RSET and HELO/EHLO go back to HELO; STARTTLS goes back to INIT; QUIT ends. */
#include "smtp_server.h"

#include <czmq.h>
#include <assert.h>
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "buffer.h"
#include "client.h"
#include "gw_limits.h"
#include "header.h"
#include "log.h"
#include "proto.h"
#include "rcpt_cache.h"
#include "reply.h"
#include "sasl.h"
#include "smtp_parse.h"
#include "text.h"

typedef enum { SMTP_INIT = 0, SMTP_HELO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA, SMTP_QUIT } smtp_state_t;

static const char *s_state_names[] = {"INIT", "HELO", "MAIL", "RCPT", "DATA", "QUIT"};

/* Session flags and the rules they make one line each */
#define SF_SECURE 0x01        /* TLS is active (STARTTLS or smtps) */
#define SF_AUTHENTICATED 0x02 /* AUTH succeeded */
#define SF_EHLO 0x04          /* the client said EHLO (not HELO) */

#define IS_SECURE(s) (((s)->flags & SF_SECURE) != 0)
#define IS_AUTHENTICATED(s) (((s)->flags & SF_AUTHENTICATED) != 0)
/* RFC 3207 4.2: STARTTLS only once, and not after AUTH */
#define ADVERTISE_TLS(s) (conn_can_tls ((s)->conn) && !IS_AUTHENTICATED (s))
/* RFC 4954 4 / RFC 8314: no password over a plain connection unless explicitly allowed */
#define ADVERTISE_AUTH(s) ((IS_SECURE (s) || (s)->config->allow_plaintext_auth) && !IS_AUTHENTICATED (s))

/* Replies only SMTP gives (the shared ones are in common/reply.h). enhanced NULL: RFC 2034
   puts no enhanced code on the greeting, 354 and 334. */
typedef enum {
    SR_GREETING,
    SR_READY_TLS,
    SR_HELP,
    SR_AUTH_OK,
    SR_SENDER_OK,
    SR_RCPT_OK,
    SR_RELAY_OK,
    SR_START_DATA,
    SR_TIMEOUT,
    SR_TOO_MANY_ERRORS,
    SR_TLS_UNAVAILABLE,
    SR_AUTH_TEMP,
    SR_AUTH_CANCELLED,
    SR_BAD_BASE64,
    SR_BAD_AUTH_MESSAGE,
    SR_AUTH_MECH,
    SR_ENCRYPT_REQUIRED,
    SR_BARE_LF,
    SR_LINE_TOO_LONG,
    SR_TEXT_TOO_LONG,
    SR_NUL,
    SR_NO_VALID_RCPT,
    SR_DATA_DEADLINE,
    SR_NO_MEMORY,
    SR_LOCAL_SENDER,
    SR__COUNT
} smtp_reply_id_t;

static const reply_t s_smtp_replies[SR__COUNT] = {
    [SR_GREETING] = {220, "", "ESMTP mailbus-gateway ready"},
    [SR_READY_TLS] = {220, "2.0.0", "ready to start TLS"},
    [SR_HELP] = {214, "2.0.0",
                 "commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH"},
    [SR_AUTH_OK] = {235, "2.7.0", "authentication successful"},
    [SR_SENDER_OK] = {250, "2.1.0", "sender OK"},
    [SR_RCPT_OK] = {250, "2.1.5", "recipient OK"},
    [SR_RELAY_OK] = {250, "2.1.5", "recipient OK, will be relayed"},
    [SR_START_DATA] = {354, "", "end data with <CR><LF>.<CR><LF>"},
    [SR_TIMEOUT] = {421, "4.4.2", "timeout, closing connection"},
    [SR_TOO_MANY_ERRORS] = {421, "4.7.0", "too many errors, closing connection"},
    [SR_TLS_UNAVAILABLE] = {454, "4.7.0", "TLS not available"},
    [SR_AUTH_TEMP] = {454, "4.7.0", "temporary authentication failure"},
    [SR_AUTH_CANCELLED] = {501, "5.7.0", "authentication cancelled"},
    [SR_BAD_BASE64] = {501, "5.5.2", "invalid base64"},
    [SR_BAD_AUTH_MESSAGE] = {501, "5.5.2", "malformed authentication response"},
    [SR_AUTH_MECH] = {504, "5.5.4", "unrecognised authentication mechanism"},
    [SR_ENCRYPT_REQUIRED] = {538, "5.7.11", "encryption required: STARTTLS first"},
    [SR_BARE_LF] = {550, "5.5.2", "bare CR or LF not allowed (RFC 5321 2.3.8)"},
    [SR_LINE_TOO_LONG] = {500, "5.5.2", "line too long (RFC 5321 4.5.3.1.4: 512 octets)"},
    [SR_TEXT_TOO_LONG] = {550, "5.6.0", "line longer than 1000 octets (RFC 5321 4.5.3.1.6)"},
    [SR_NUL] = {550, "5.6.0", "NUL octet in message"},
    [SR_NO_VALID_RCPT] = {554, "5.5.1", "no valid recipients"},
    [SR_DATA_DEADLINE] = {451, "4.4.2", "message took too long to send, closing connection"},
    [SR_NO_MEMORY] = {421, "4.3.0", "out of memory, closing connection"},
    /* RFC 4954 6: 530 5.7.0 when the policy needs AUTH; Postfix reject_sender_login_mismatch */
    [SR_LOCAL_SENDER] = {530, "5.7.0", "authentication required to send as a local address"},
};

typedef struct {
    uint64_t id;
    conn_t *conn;
    const gateway_config_t *config;
    pool_t *pool;
    smtp_state_t state;
    unsigned flags;
    int errors;          /* refusals the client earned (s_note_failure) */
    int auth_failures;   /* 535s */
    const char *refused; /* set by a proceed function that refused; the loop counts it */
    char helo[SMTP_MAX_LINE + 1];
    char user[MAX_ADDRESS + 1]; /* the AUTH identity */
    client_t *user_client;      /* the broker connection as that user */
    client_t *gateway_client;   /* borrowed from the pool while the session runs */
    /* the mail transaction */
    bool null_sender;
    char sender[MAX_ADDRESS + 1];
    int rcpt_count;
    int rcpt_tried;
    char rcpts[SMTP_MAX_RCPT][MAX_ADDRESS + 1];
    int transactions;
    /* the current line */
    char line[SMTP_MAX_AUTH_LINE + 1];
    size_t line_len;
} smtp_session_t;

/* ---- replies ------------------------------------------------------------------------ */

static void
s_reply_raw (smtp_session_t *s, int code, const char *enhanced, const char *format, va_list ap)
{
    char text[1024];
    vsnprintf (text, sizeof text, format, ap);
    for (char *p = text; *p; p++) /* a reply is one line whatever the text held */
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    if (enhanced && *enhanced)
        conn_printf (s->conn, "%d %s %s\r\n", code, enhanced, text);
    else
        conn_printf (s->conn, "%d %s\r\n", code, text);
    if (code >= 400) {
        char quoted[256];
        log_debug ("smtp", "reply", "session=%llu code=%d enhanced=%s text=%s", (unsigned long long)s->id,
                   code, enhanced && *enhanced ? enhanced : "-",
                   log_quote (quoted, sizeof quoted, text, strlen (text)));
    }
}

static void s_reply (smtp_session_t *s, int code, const char *enhanced, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));
static void
s_reply (smtp_session_t *s, int code, const char *enhanced, const char *format, ...)
{
    va_list ap;
    va_start (ap, format);
    s_reply_raw (s, code, enhanced, format, ap);
    va_end (ap);
}

/* A reply of the shared table; text NULL uses the table's text */
static void
s_reply_common (smtp_session_t *s, reply_id_t id, const char *text)
{
    const reply_t *r = reply_get (id);
    s_reply (s, r->code, r->enhanced, "%s", text ? text : r->text);
}

/* A reply of the SMTP table; text NULL uses the table's text */
static void
s_reply_smtp (smtp_session_t *s, smtp_reply_id_t id, const char *text)
{
    const reply_t *r = &s_smtp_replies[id];
    s_reply (s, r->code, r->enhanced, "%s", text ? text : r->text);
}

/* A refusal a proceed function gives: replied, and counted by the loop (s_note_failure) */
static void
s_refuse_smtp (smtp_session_t *s, smtp_reply_id_t id, const char *what)
{
    s_reply_smtp (s, id, NULL);
    s->refused = what;
}

static void
s_log_no_memory (smtp_session_t *s, const char *where)
{
    log_warn ("smtp", "out-of-memory", "session=%llu peer=%s where=%s", (unsigned long long)s->id,
              conn_peer (s->conn), where);
}

/* Short of memory in a transaction: 451, nothing kept, the client tries again later */
static void
s_no_memory (smtp_session_t *s, const char *where)
{
    s_log_no_memory (s, where);
    s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "out of memory, try again later");
}

/* A broker status line ("550 5.1.1 text") passed on as it is */
static void
s_reply_broker (smtp_session_t *s, const char *line)
{
    reply_t reply;
    if (reply_from_line (&reply, line) != 0) {
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "unexpected answer from the broker");
        return;
    }
    s_reply (s, reply.code, reply.enhanced, "%s", reply.text);
}

static void
s_set_state (smtp_session_t *s, smtp_state_t state)
{
    if (s->state == state)
        return;
    log_debug ("smtp", "state", "session=%llu %s -> %s", (unsigned long long)s->id, s_state_names[s->state],
               s_state_names[state]);
    s->state = state;
}

/* A failed login or an unknown recipient counts for the client's address across sessions
   and protocols (gateway/net/throttle.h), before the refusal is sent, so a client that reconnects
   at once already meets the block. Waits the throttle's delay and returns true; false when the
   address is now blocked: then it answered 421 and the session ends. */
static bool
s_throttle_failure (smtp_session_t *s, throttle_event_t event)
{
    if (!s->config->throttle)
        return true;
    int delay = throttle_failure (s->config->throttle, conn_peer (s->conn), event);
    if (delay < 0) {
        conn_printf (s->conn, THROTTLE_SMTP_BLOCKED "\r\n");
        s_set_state (s, SMTP_QUIT);
        return false;
    }
    usleep ((useconds_t)delay * 1000);
    return true;
}

static void
s_reset_transaction (smtp_session_t *s)
{
    s->null_sender = false;
    s->sender[0] = '\0';
    s->rcpt_count = 0;
    s->rcpt_tried = 0;
    if (s->state > SMTP_HELO && s->state != SMTP_QUIT)
        s_set_state (s, SMTP_HELO);
}

/* ---- the broker --------------------------------------------------------------------- */

/* The broker connection mail of this session goes through: the user's after AUTH, else
   the gateway's own. NULL when the broker cannot be reached. */
static client_t *
s_client (smtp_session_t *s)
{
    if (s->user_client)
        return s->user_client;
    if (!s->gateway_client) {
        char *error = NULL;
        s->gateway_client = pool_take (s->pool, &error);
        if (!s->gateway_client) {
            log_warn ("smtp", "broker-unavailable", "session=%llu reason=\"%s\"", (unsigned long long)s->id,
                      error ? error : "");
            free (error);
        }
    }
    return s->gateway_client;
}

/* A call failed without an answer: the connection may be broken, drop it */
static void
s_client_broken (smtp_session_t *s)
{
    if (s->user_client)
        return; /* the user's client reconnects by itself (client_call re-identifies) */
    pool_give (s->pool, &s->gateway_client, true);
}

/* Calls verb with one string argument; returns the reply (status line first) or NULL */
static zmsg_t *
s_call1 (smtp_session_t *s, const char *verb, const char *arg)
{
    client_t *client = s_client (s);
    if (!client)
        return NULL;
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, arg);
    zmsg_t *reply = client_call (client, verb, args);
    if (!reply)
        s_client_broken (s);
    return reply;
}

/* ---- check and proceed, one pair per command ---------------------------------------- */

typedef int (*smtp_check_fn) (smtp_session_t *s, smtp_command_t *cmd);
typedef void (*smtp_proceed_fn) (smtp_session_t *s, smtp_command_t *cmd);

static int
smtp_check_always (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)s;
    (void)cmd;
    return 0;
}

static int
smtp_check_not_implemented (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_reply_common (s, REPLY_NOT_IMPLEMENTED, NULL);
    return -1;
}

static int
smtp_check_greeted (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    if (s->state == SMTP_INIT) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "send HELO or EHLO first");
        return -1;
    }
    return 0;
}

static void
smtp_proceed_helo (smtp_session_t *s, smtp_command_t *cmd)
{
    s_reset_transaction (s);
    snprintf (s->helo, sizeof s->helo, "%.*s", (int)sizeof s->helo - 1, cmd->args);
    if (cmd->id == CMD_EHLO)
        s->flags |= SF_EHLO;
    else
        s->flags &= ~(unsigned)SF_EHLO;
    s_set_state (s, SMTP_HELO);
    if (cmd->id == CMD_HELO) {
        s_reply (s, 250, NULL, "%s", s->config->hostname);
        return;
    }
    /* RFC 5321 4.1.1.1: the EHLO reply lists the extensions, one per line */
    /* the greeting line is cut to fit (the HELO argument is < 512 octets, --hostname
       <= 255), the extension lines always follow whole */
    char text[1024], greet[SMTP_MAX_LINE];
    text_appendf (greet, sizeof greet, 0, "%s greets %s", s->config->hostname, s->helo);
    size_t n = text_appendf (text, sizeof text, 0,
                             "250-%s\r\n"
                             "250-PIPELINING\r\n"
                             "250-SIZE %zu\r\n"
                             "250-8BITMIME\r\n"
                             "250-ENHANCEDSTATUSCODES\r\n",
                             greet, s->config->max_message_bytes);
    if (ADVERTISE_TLS (s))
        n = text_appendf (text, sizeof text, n, "250-STARTTLS\r\n");
    if (ADVERTISE_AUTH (s))
        n = text_appendf (text, sizeof text, n, "250-AUTH PLAIN LOGIN\r\n");
    n = text_appendf (text, sizeof text, n, "250 HELP\r\n");
    conn_write (s->conn, text, n);
}

static int
smtp_check_mail (smtp_session_t *s, smtp_command_t *cmd)
{
    if (smtp_check_greeted (s, cmd) != 0)
        return -1;
    if (s->state != SMTP_HELO) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "nested MAIL command");
        return -1;
    }
    /* RFC 1870 6.1: a declared size over the limit is refused at once */
    if (cmd->size >= 0 && (unsigned long long)cmd->size > s->config->max_message_bytes) {
        s_reply (s, 552, "5.3.4", "message size exceeds fixed maximum message size (%zu)",
                 s->config->max_message_bytes);
        return -1;
    }
    /* an identified user sends as themself: the broker would refuse the SEND later anyway */
    if (IS_AUTHENTICATED (s) && (cmd->null_path || strcmp (cmd->path.full, s->user) != 0)) {
        s_reply (s, 553, "5.7.1", "sender address must be %s", s->user);
        return -1;
    }
    /* a local domain's address is claimed only by its owner, after AUTH; mail from other
       domains (the MX role) and the null sender of a bounce stay open to everyone */
    if (!IS_AUTHENTICATED (s) && !cmd->null_path && address_domain_in (&cmd->path, s->config->domains)) {
        s_reply_smtp (s, SR_LOCAL_SENDER, NULL);
        return -1;
    }
    return 0;
}

static void
smtp_proceed_mail (smtp_session_t *s, smtp_command_t *cmd)
{
    s_reset_transaction (s);
    s->null_sender = cmd->null_path;
    snprintf (s->sender, sizeof s->sender, "%s", cmd->null_path ? "" : cmd->path.full);
    s_set_state (s, SMTP_MAIL);
    s_reply_smtp (s, SR_SENDER_OK, NULL);
}

static int
smtp_check_rcpt (smtp_session_t *s, smtp_command_t *cmd)
{
    if (s->state != SMTP_MAIL && s->state != SMTP_RCPT) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "need MAIL before RCPT");
        return -1;
    }
    s->rcpt_tried++;
    if (s->rcpt_count >= SMTP_MAX_RCPT) {
        s_reply_common (s, REPLY_TOO_MANY_RCPT, NULL);
        return -1;
    }
    /* no open relay: another domain only for an identified user */
    if (!address_domain_in (&cmd->path, s->config->domains) && !IS_AUTHENTICATED (s)) {
        s_reply_common (s, REPLY_RELAY_DENIED, NULL);
        return -1;
    }
    return 0;
}

/* Is address a mailbox or a list the broker serves? Sends the refusal when it is not.
   Lists live beside mailboxes but VRFY answers for mailboxes only, so a 550 is asked
   again with EXPN: any answer other than 550 5.1.1 means the list exists. */
static int
s_verify_local (smtp_session_t *s, const char *address)
{
    if (rcpt_cache_known (address))
        return 0;
    zmsg_t *reply = s_call1 (s, "VRFY", address);
    if (!reply) {
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "broker unavailable, try again later");
        return -1;
    }
    int code = 0;
    char line[512] = "";
    proto_reply_status (reply, &code, line, sizeof line);
    zmsg_destroy (&reply);
    if (reply_is_success (code)) {
        rcpt_cache_add (address);
        return 0;
    }
    if (code == 550) {
        zmsg_t *expn = s_call1 (s, "EXPN", address);
        int ecode = 0;
        char eline[512] = "";
        if (expn)
            proto_reply_status (expn, &ecode, eline, sizeof eline);
        zmsg_destroy (&expn);
        if (ecode && (reply_is_success (ecode) || strncmp (eline, "550 5.1.1", 9) != 0)) {
            rcpt_cache_add (address);
            return 0;
        }
        if (s_throttle_failure (s, THROTTLE_RECIPIENT))
            s_reply (s, 550, "5.1.1", "<%s>: no such mailbox here", address);
        s->refused = "unknown-recipient";
        return -1;
    }
    s_reply_broker (s, line);
    return -1;
}

static void
smtp_proceed_rcpt (smtp_session_t *s, smtp_command_t *cmd)
{
    const char *address = cmd->path.full;
    bool local = address_domain_in (&cmd->path, s->config->domains);
    if (local && s_verify_local (s, address) != 0)
        return;
    bool known = false;
    for (int i = 0; i < s->rcpt_count; i++)
        known |= strcmp (s->rcpts[i], address) == 0;
    if (!known)
        snprintf (s->rcpts[s->rcpt_count++], sizeof s->rcpts[0], "%s", address);
    s_set_state (s, SMTP_RCPT);
    s_reply_smtp (s, local ? SR_RCPT_OK : SR_RELAY_OK, NULL);
}

static int
smtp_check_data (smtp_session_t *s, smtp_command_t *cmd)
{
    if (smtp_check_greeted (s, cmd) != 0)
        return -1;
    if (s->state == SMTP_MAIL && s->rcpt_tried > 0) {
        s_reply_smtp (s, SR_NO_VALID_RCPT, NULL);
        return -1;
    }
    if (s->state != SMTP_RCPT) {
        s_reply_common (s, REPLY_BAD_SEQUENCE,
                        s->state == SMTP_HELO ? "need MAIL command" : "need RCPT command");
        return -1;
    }
    return 0;
}

/* ---- the message ---------------------------------------------------------------------- */

/* Printable ASCII only, for what a client chose (HELO name) and we put into a header */
static void
s_sanitize (char *text)
{
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '(' || *p == ')')
            *p = '?';
}

static void
s_rfc5322_date (char *buf, size_t size)
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf (buf, size, "%s, %d %s %d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The trace and missing fields in front of the message as received (RFC 5321 4.4, RFC 5322
   3.6): the message itself is kept byte for byte. */
static void
s_build_message (smtp_session_t *s, const buffer_t *body, buffer_t *out)
{
    char date[64];
    s_rfc5322_date (date, sizeof date);
    char helo[128];
    snprintf (helo, sizeof helo, "%.*s", (int)sizeof helo - 1, s->helo);
    s_sanitize (helo);
    char ip[64];
    snprintf (ip, sizeof ip, "%s", conn_peer (s->conn));
    char *colon = strrchr (ip, ':');
    if (colon)
        *colon = '\0';
    /* RFC 3848: ESMTP, ESMTPS (TLS), ESMTPA (AUTH), ESMTPSA */
    const char *with = !(s->flags & SF_EHLO) ? "SMTP"
                       : IS_SECURE (s)       ? (IS_AUTHENTICATED (s) ? "ESMTPSA" : "ESMTPS")
                                             : (IS_AUTHENTICATED (s) ? "ESMTPA" : "ESMTP");
    buffer_appendf (out, "Received: from %s ([%s])\r\n\tby %s (mailbus-gateway) with %s id %llu.%d", helo, ip,
                    s->config->hostname, with, (unsigned long long)s->id, s->transactions);
    if (IS_SECURE (s) || IS_AUTHENTICATED (s)) {
        char tls[128];
        conn_tls_info (s->conn, tls, sizeof tls);
        buffer_appendf (out, "\r\n\t(%s%s%s%s)", IS_SECURE (s) ? "TLS " : "", IS_SECURE (s) ? tls : "",
                        IS_SECURE (s) && IS_AUTHENTICATED (s) ? "; " : "",
                        IS_AUTHENTICATED (s) ? "authenticated" : "");
    }
    if (s->rcpt_count == 1) /* RFC 5321 7.2: "for" names one recipient only */
        buffer_appendf (out, "\r\n\tfor <%s>", s->rcpts[0]);
    buffer_appendf (out, ";\r\n\t%s\r\n", date);

    char value[8];
    if (!header_find (body->data, body->size, "Message-ID", value, sizeof value)) {
        unsigned char rnd[12];
        randombytes_buf (rnd, sizeof rnd);
        char hex[sizeof rnd * 2 + 1];
        sodium_bin2hex (hex, sizeof hex, rnd, sizeof rnd);
        buffer_appendf (out, "Message-ID: <%lld.%s@%s>\r\n", (long long)time (NULL), hex,
                        s->config->hostname);
    }
    if (!header_find (body->data, body->size, "Date", value, sizeof value))
        buffer_appendf (out, "Date: %s\r\n", date);

    /* no empty line after the fields: it goes where the first line that is no field starts
       (after them all for a message of fields only, in front of one without fields) */
    size_t at = header_missing_empty_line (body->data, body->size);
    if (at > body->size)
        buffer_append (out, body->data, body->size);
    else {
        buffer_append (out, body->data, at);
        buffer_append (out, "\r\n", 2);
        buffer_append (out, body->data + at, body->size - at);
        log_info ("smtp", "mended", "session=%llu empty-line-at=%zu", (unsigned long long)s->id, at);
    }
}

/* SEND to the broker; answers the one reply SMTP gives after DATA */
static void
s_submit (smtp_session_t *s, buffer_t *message)
{
    client_t *client = s_client (s);
    if (!client) {
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "broker unavailable, try again later");
        return;
    }
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, s->null_sender ? "" : s->sender);
    for (int i = 0; i < s->rcpt_count; i++)
        zmsg_addstr (args, s->rcpts[i]);
    zmsg_addmem (args, message->data, message->size);
    zmsg_t *reply = client_call (client, "SEND", args);
    if (!reply) {
        s_client_broken (s);
        char qs[MAX_ADDRESS * 4 + 16];
        log_warn ("smtp", "send-timeout", "session=%llu sender=%s bytes=%zu", (unsigned long long)s->id,
                  log_quote (qs, sizeof qs, s->sender, strlen (s->sender)), message->size);
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "broker did not answer, try again later");
        return;
    }
    int code = 0;
    char line[512] = "";
    if (proto_reply_status (reply, &code, line, sizeof line) != 0) {
        zmsg_destroy (&reply);
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "unexpected answer from the broker");
        return;
    }
    /* one line per recipient follows; SMTP has one reply after DATA, so a recipient
       refused here (mailbox full since RCPT) is only logged */
    char *rcpt_line;
    char qs[MAX_ADDRESS * 4 + 16], qr[1024];
    log_quote (qs, sizeof qs, s->sender, strlen (s->sender));
    while ((rcpt_line = zmsg_popstr (reply))) {
        int rcode = 0;
        if (reply_parse (rcpt_line, &rcode, NULL) == 0 && !reply_is_success (rcode))
            log_warn ("smtp", "recipient-refused", "session=%llu sender=%s reply=%s",
                      (unsigned long long)s->id, qs,
                      log_quote (qr, sizeof qr, rcpt_line, strlen (rcpt_line)));
        free (rcpt_line);
    }
    zmsg_destroy (&reply);
    log_info ("smtp", "accepted", "session=%llu sender=%s rcpts=%d bytes=%zu reply=%s",
              (unsigned long long)s->id, qs, s->rcpt_count, message->size,
              log_quote (qr, sizeof qr, line, strlen (line)));
    s_reply_broker (s, line);
}

/* How long the whole DATA phase may take: SMTP_DATA_DEADLINE_MS, or shorter through
   MAILBUS_SMTP_DATA_DEADLINE_MS (tests; it cannot be made longer) */
static int64_t
s_data_deadline_ms (void)
{
    const char *env = getenv ("MAILBUS_SMTP_DATA_DEADLINE_MS");
    long long ms = env ? atoll (env) : 0;
    return ms >= 100 && ms < SMTP_DATA_DEADLINE_MS ? ms : SMTP_DATA_DEADLINE_MS;
}

typedef enum { DATA_END, DATA_CLOSED, DATA_IDLE, DATA_DEADLINE } data_end_t;

/* Reads the message through smtp_data_feed up to the real CRLF.CRLF (whatever came before
   it), collecting it in body while nothing was wrong with it; what follows the end stays
   buffered for the next command. */
static data_end_t
s_read_data (smtp_session_t *s, smtp_data_t *d, buffer_t *body)
{
    int64_t deadline = zclock_mono () + s_data_deadline_ms ();
    char out[4096];
    while (!smtp_data_done (d)) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return DATA_DEADLINE;
        const char *in = NULL;
        size_t len = 0;
        conn_result_t rc =
            conn_peek (s->conn, &in, &len, left < SMTP_DATA_TIMEOUT_MS ? (int)left : SMTP_DATA_TIMEOUT_MS);
        if (rc == CONN_TIMEOUT)
            return left <= SMTP_DATA_TIMEOUT_MS ? DATA_DEADLINE : DATA_IDLE;
        if (rc != CONN_DATA)
            return DATA_CLOSED;
        size_t out_len = 0;
        conn_consume (s->conn, smtp_data_feed (d, in, len < sizeof out ? len : sizeof out, out, &out_len));
        if (!d->flags && buffer_append (body, out, out_len) != 0)
            d->flags |= SMTP_DATA_NO_MEMORY; /* no more of it is kept */
        if (d->flags && body->data) {
            buffer_free (body); /* refused whatever follows: nothing more is kept */
        }
    }
    return DATA_END;
}

/* The one reply after the message: the first thing wrong with it, or the broker's */
static void
s_answer_data (smtp_session_t *s, const smtp_data_t *d, buffer_t *body)
{
    if (d->flags & SMTP_DATA_NO_MEMORY)
        s_no_memory (s, "data");
    else if (d->flags & SMTP_DATA_BARE) {
        s->refused = "bare-lf";
        log_warn ("smtp", "bare-lf", "session=%llu peer=%s message refused", (unsigned long long)s->id,
                  conn_peer (s->conn));
        s_reply_smtp (s, SR_BARE_LF, "bare CR or LF in message (RFC 5321 2.3.8), message refused");
    }
    else if (d->flags & SMTP_DATA_TOO_LONG) {
        s->refused = "text-too-long";
        s_reply_smtp (s, SR_TEXT_TOO_LONG, NULL);
    }
    else if (d->flags & SMTP_DATA_TOO_BIG)
        s_reply (s, 552, "5.3.4", "message size exceeds fixed maximum message size (%zu)",
                 s->config->max_message_bytes);
    else if (d->flags & SMTP_DATA_NUL) {
        s->refused = "nul";
        s_reply_smtp (s, SR_NUL, NULL);
    }
    else {
        buffer_t message = BUFFER_INIT (0);
        s_build_message (s, body, &message);
        if (message.no_memory) /* never a message short of a piece */
            s_no_memory (s, "message");
        else
            s_submit (s, &message);
        buffer_free (&message);
    }
}

static void
smtp_proceed_data (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_set_state (s, SMTP_DATA);
    s_reply_smtp (s, SR_START_DATA, NULL);
    s->transactions++;

    buffer_t body = BUFFER_INIT (0); /* smtp_data_feed bounds the message */
    smtp_data_t d;
    smtp_data_init (&d, s->config->max_message_bytes);
    data_end_t end = s_read_data (s, &d, &body);
    if (end == DATA_END)
        s_answer_data (s, &d, &body);
    else if (end == DATA_IDLE)
        s_reply_smtp (s, SR_TIMEOUT, NULL);
    else if (end == DATA_DEADLINE) {
        /* the rest of the message is still coming: the connection cannot go on */
        log_warn ("smtp", "data-deadline", "session=%llu peer=%s seconds=%lld", (unsigned long long)s->id,
                  conn_peer (s->conn), (long long)s_data_deadline_ms () / 1000);
        s_reply_smtp (s, SR_DATA_DEADLINE, NULL);
    }
    buffer_free (&body);
    s_reset_transaction (s);
    s_set_state (s, end == DATA_END ? SMTP_HELO : SMTP_QUIT);
}

static void
smtp_proceed_rset (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_reset_transaction (s);
    s_reply_common (s, REPLY_OK, NULL);
}

static void
smtp_proceed_noop (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_reply_common (s, REPLY_OK, NULL);
}

static void
smtp_proceed_quit (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_reply_common (s, REPLY_BYE, NULL);
    s_set_state (s, SMTP_QUIT);
}

static void
smtp_proceed_help (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    s_reply_smtp (s, SR_HELP, NULL);
}

static int
smtp_check_vrfy (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    /* RFC 5321 3.5.3: 252 when we will not say; only identified users may probe mailboxes */
    if (!IS_AUTHENTICATED (s)) {
        s_reply_common (s, REPLY_CANNOT_VRFY, NULL);
        return -1;
    }
    return 0;
}

static void
smtp_proceed_vrfy (smtp_session_t *s, smtp_command_t *cmd)
{
    address_t addr;
    const char *why = NULL;
    if (address_parse (cmd->args, strlen (cmd->args), &addr, &why) != 0) {
        s_reply_common (s, REPLY_CANNOT_VRFY, NULL);
        return;
    }
    zmsg_t *reply = s_call1 (s, "VRFY", addr.full);
    char line[512] = "";
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0)
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "broker unavailable, try again later");
    else
        s_reply_broker (s, line);
    zmsg_destroy (&reply);
}

static int
smtp_check_expn (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    if (!IS_AUTHENTICATED (s)) {
        s_reply_common (s, REPLY_AUTH_REQUIRED, "authentication required to expand lists");
        return -1;
    }
    return 0;
}

static void
smtp_proceed_expn (smtp_session_t *s, smtp_command_t *cmd)
{
    address_t addr;
    const char *why = NULL;
    if (address_parse (cmd->args, strlen (cmd->args), &addr, &why) != 0) {
        s_reply_common (s, REPLY_BAD_ARGS, "EXPN takes a list address");
        return;
    }
    zmsg_t *reply = s_call1 (s, "EXPN", addr.full);
    char line[512] = "";
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0) {
        s_reply_common (s, REPLY_TEMP_UNAVAILABLE, "broker unavailable, try again later");
        zmsg_destroy (&reply);
        return;
    }
    /* the broker's status line ("250 2.0.0 news@demo.test has 3 members") is no member */
    zframe_t *status = zmsg_pop (reply);
    zframe_destroy (&status);
    size_t members = zmsg_size (reply);
    if (!reply_is_success (code))
        s_reply_broker (s, line);
    else if (members == 0)
        s_reply (s, 250, "2.1.5", "%s has no members", addr.full);
    else {
        /* RFC 5321 4.1.1.7 / 3.5.2: one member per line */
        char *member;
        size_t i = 0;
        while ((member = zmsg_popstr (reply))) {
            s_sanitize (member);
            conn_printf (s->conn, "250%c2.1.5 <%s>\r\n", ++i < members ? '-' : ' ', member);
            free (member);
        }
    }
    zmsg_destroy (&reply);
}

static int
smtp_check_starttls (smtp_session_t *s, smtp_command_t *cmd)
{
    if (smtp_check_greeted (s, cmd) != 0)
        return -1;
    if (IS_SECURE (s)) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "TLS already active");
        return -1;
    }
    if (!conn_can_tls (s->conn)) {
        s_reply_smtp (s, SR_TLS_UNAVAILABLE, NULL);
        return -1;
    }
    if (IS_AUTHENTICATED (s)) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "STARTTLS after AUTH");
        return -1;
    }
    return 0;
}

static void
smtp_proceed_starttls (smtp_session_t *s, smtp_command_t *cmd)
{
    (void)cmd;
    size_t pipelined = conn_buffered (s->conn);
    if (pipelined)
        log_warn ("smtp", "starttls-injection", "session=%llu peer=%s discarded=%zu",
                  (unsigned long long)s->id, conn_peer (s->conn), pipelined);
    s_reply_smtp (s, SR_READY_TLS, NULL);
    /* RFC 3207 4.2: the session starts over; conn_starttls throws away the buffered input */
    if (conn_starttls (s->conn) != 0) {
        s_set_state (s, SMTP_QUIT);
        return;
    }
    s_reset_transaction (s);
    s->flags = SF_SECURE;
    s->helo[0] = '\0';
    s_set_state (s, SMTP_INIT);
}

static int
smtp_check_auth (smtp_session_t *s, smtp_command_t *cmd)
{
    if (s->state == SMTP_INIT || !(s->flags & SF_EHLO)) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "send EHLO first");
        return -1;
    }
    if (IS_AUTHENTICATED (s)) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "already authenticated");
        return -1;
    }
    if (s->state != SMTP_HELO) {
        s_reply_common (s, REPLY_BAD_SEQUENCE, "AUTH not allowed during a mail transaction");
        return -1;
    }
    if (!ADVERTISE_AUTH (s)) {
        s_reply_smtp (s, SR_ENCRYPT_REQUIRED, NULL);
        return -1;
    }
    /* an address blocked for its failures (in this or another session) tries no more */
    if (s->config->throttle && throttle_blocked (s->config->throttle, conn_peer (s->conn))) {
        conn_printf (s->conn, THROTTLE_SMTP_BLOCKED "\r\n");
        s_set_state (s, SMTP_QUIT);
        return -1;
    }
    if (sasl_mechanism (cmd->args, strcspn (cmd->args, " ")) == SASL_UNKNOWN) {
        s_reply_smtp (s, SR_AUTH_MECH, NULL);
        return -1;
    }
    return 0;
}

/* Reads one AUTH response line after "334 challenge" into s->line. Returns its length
   without CRLF, or -1 after replying, or -2 when the session must end. */
static int
s_auth_read (smtp_session_t *s, const char *challenge)
{
    conn_printf (s->conn, "334 %s\r\n", challenge);
    size_t len = 0;
    conn_result_t rc = conn_read_line (s->conn, s->line, sizeof s->line, &len,
                                       s->config->smtp_timeout_ms > 0 ? s->config->smtp_timeout_ms
                                                                      : SMTP_COMMAND_TIMEOUT_MS);
    if (rc == CONN_TIMEOUT) {
        s_reply_smtp (s, SR_TIMEOUT, NULL);
        return -2;
    }
    if (rc == CONN_EOF || rc == CONN_ERROR)
        return -2;
    if (rc == CONN_TOO_LONG || rc == CONN_BARE_LF) {
        s_refuse_smtp (s, rc == CONN_TOO_LONG ? SR_LINE_TOO_LONG : SR_BARE_LF, "auth-syntax");
        return -1;
    }
    return (int)(len - 2);
}

/* One response of the exchange, decoded into out (SASL_MAX_RESPONSE octets): the initial
   response when there is one, else the line after "334 challenge". Returns 0 with *n, or -1
   after replying (cancelled, bad base64), or -2 when the session must end. */
static int
s_auth_step (smtp_session_t *s, const char **initial, const char *challenge, unsigned char *out, size_t *n)
{
    const char *text = *initial;
    int len = text ? (int)strlen (text) : s_auth_read (s, challenge);
    if (len < 0)
        return len;
    *initial = NULL; /* used up: the next step reads a line */
    sasl_status_t status = sasl_decode (text ? text : s->line, (size_t)len, out, SASL_MAX_RESPONSE, n);
    sodium_memzero (s->line, sizeof s->line);
    if (status == SASL_CANCELLED) /* RFC 4954 4: the client cancels */
        s_reply_smtp (s, SR_AUTH_CANCELLED, NULL);
    else if (status != SASL_OK)
        s_refuse_smtp (s, SR_BAD_BASE64, "auth-syntax");
    return status == SASL_OK ? 0 : -1;
}

/* The user and password of the exchange: PLAIN's one message, or LOGIN's two fields. Returns
   0, or -1 after replying, or -2 when the session must end. */
static int
s_auth_credentials (smtp_session_t *s, sasl_mechanism_t mechanism, const char *initial, char *user,
                    char *password)
{
    unsigned char data[SASL_MAX_RESPONSE];
    size_t n = 0;
    sasl_status_t status = SASL_BAD_MESSAGE;
    int rc =
        s_auth_step (s, &initial, mechanism == SASL_PLAIN ? "" : "VXNlcm5hbWU6", data, &n); /* "Username:" */
    if (rc == 0 && mechanism == SASL_PLAIN)
        status = sasl_plain_parse (data, n, user, SASL_USER_SIZE, password, SASL_PASSWORD_SIZE);
    else if (rc == 0 && (status = sasl_login_field (data, n, user, SASL_USER_SIZE)) == SASL_OK &&
             (rc = s_auth_step (s, &initial, "UGFzc3dvcmQ6", data, &n)) == 0) /* "Password:" */
        status = sasl_login_field (data, n, password, SASL_PASSWORD_SIZE);
    sodium_memzero (data, sizeof data);
    if (rc == 0 && status != SASL_OK) {
        s_refuse_smtp (s, SR_BAD_AUTH_MESSAGE, "auth-syntax");
        rc = -1;
    }
    return rc;
}

/* The broker refused the credentials: counted for the address, and each failure in this
   session waits longer before its 535 */
static void
s_auth_refused (smtp_session_t *s)
{
    if (!s_throttle_failure (s, THROTTLE_AUTH))
        return;
    s->auth_failures++;
    int delay = s->auth_failures * SMTP_AUTH_DELAY_MS;
    if (delay > SMTP_AUTH_DELAY_MAX_MS)
        delay = SMTP_AUTH_DELAY_MAX_MS;
    usleep ((useconds_t)delay * 1000);
    s_reply_common (s, REPLY_AUTH_FAILED, NULL);
    s->refused = "auth";
}

/* The broker checks the password: we identify to it as that user */
static void
s_auth_login (smtp_session_t *s, sasl_mechanism_t mechanism, const char *user, const char *password)
{
    char *error = NULL;
    client_t *client = client_new (s->config->broker, user, password, GATEWAY_BROKER_TIMEOUT_MS, &error);
    char quser[MAX_ADDRESS * 4 + 16];
    if (!client) {
        /* 535 5.7.8 or another 5xx (501 5.1.7: not even an address) is the user's; the rest ours */
        reply_t reply;
        bool refused = error && reply_from_line (&reply, error) == 0 && reply_is_permanent (reply.code);
        char qreason[512];
        log_info ("smtp", "auth-failed", "session=%llu peer=%s user=%s reason=%s", (unsigned long long)s->id,
                  conn_peer (s->conn), log_quote (quser, sizeof quser, user, strlen (user)),
                  log_quote (qreason, sizeof qreason, error ? error : "", error ? strlen (error) : 0));
        free (error);
        if (refused)
            s_auth_refused (s);
        else
            s_reply_smtp (s, SR_AUTH_TEMP, NULL);
        return;
    }
    s->user_client = client;
    snprintf (s->user, sizeof s->user, "%s", client_user (client));
    s->flags |= SF_AUTHENTICATED;
    pool_give (s->pool, &s->gateway_client, false); /* mail now goes as the user */
    log_info ("smtp", "auth", "session=%llu peer=%s user=%s mechanism=%s", (unsigned long long)s->id,
              conn_peer (s->conn), log_quote (quser, sizeof quser, s->user, strlen (s->user)),
              sasl_mechanism_name (mechanism));
    s_reply_smtp (s, SR_AUTH_OK, NULL);
}

static void
smtp_proceed_auth (smtp_session_t *s, smtp_command_t *cmd)
{
    sasl_mechanism_t mechanism = sasl_mechanism (cmd->args, strcspn (cmd->args, " "));
    const char *initial = cmd->args[5] == ' ' ? cmd->args + 6 : NULL;
    char user[SASL_USER_SIZE] = "";
    char password[SASL_PASSWORD_SIZE] = "";
    int rc = s_auth_credentials (s, mechanism, initial, user, password);
    if (rc == 0)
        s_auth_login (s, mechanism, user, password);
    else if (rc == -2)
        s_set_state (s, SMTP_QUIT);
    sodium_memzero (password, sizeof password);
}

/* ---- the table and the loop ---------------------------------------------------------- */

typedef struct {
    smtp_cmd_id_t id;
    const char *name;
    smtp_check_fn check;
    smtp_proceed_fn proceed;
} smtp_handler_t;

static const smtp_handler_t s_handlers[CMD__COUNT] = {
    [CMD_HELO] = {CMD_HELO, "HELO", smtp_check_always, smtp_proceed_helo},
    [CMD_EHLO] = {CMD_EHLO, "EHLO", smtp_check_always, smtp_proceed_helo},
    [CMD_MAIL] = {CMD_MAIL, "MAIL", smtp_check_mail, smtp_proceed_mail},
    [CMD_RCPT] = {CMD_RCPT, "RCPT", smtp_check_rcpt, smtp_proceed_rcpt},
    [CMD_DATA] = {CMD_DATA, "DATA", smtp_check_data, smtp_proceed_data},
    [CMD_RSET] = {CMD_RSET, "RSET", smtp_check_always, smtp_proceed_rset},
    [CMD_NOOP] = {CMD_NOOP, "NOOP", smtp_check_always, smtp_proceed_noop},
    [CMD_QUIT] = {CMD_QUIT, "QUIT", smtp_check_always, smtp_proceed_quit},
    [CMD_VRFY] = {CMD_VRFY, "VRFY", smtp_check_vrfy, smtp_proceed_vrfy},
    [CMD_EXPN] = {CMD_EXPN, "EXPN", smtp_check_expn, smtp_proceed_expn},
    [CMD_HELP] = {CMD_HELP, "HELP", smtp_check_always, smtp_proceed_help},
    [CMD_STARTTLS] = {CMD_STARTTLS, "STARTTLS", smtp_check_starttls, smtp_proceed_starttls},
    [CMD_AUTH] = {CMD_AUTH, "AUTH", smtp_check_auth, smtp_proceed_auth},
    [CMD_SEND] = {CMD_SEND, "SEND", smtp_check_not_implemented, NULL},
    [CMD_SOML] = {CMD_SOML, "SOML", smtp_check_not_implemented, NULL},
    [CMD_SAML] = {CMD_SAML, "SAML", smtp_check_not_implemented, NULL},
    [CMD_TURN] = {CMD_TURN, "TURN", smtp_check_not_implemented, NULL},
};

/* Every refusal the client earned comes here, and only here (Postfix smtpd_soft_error_limit
   and smtpd_hard_error_limit): past the soft limit each one waits, at the hard limit or
   after too many failed AUTHs the session ends with 421. what names the refusal
   ("command", "unknown-recipient", "auth", ...).
   Returns false to end the session. */
static bool
s_note_failure (smtp_session_t *s, const char *what)
{
    /* a malformed SASL exchange counts for the address too (a failed login and an unknown
       recipient were counted before their refusal, s_throttle_failure) */
    if (streq (what, "auth-syntax") && !s_throttle_failure (s, THROTTLE_AUTH))
        return false;
    if (s->state == SMTP_QUIT)
        return false; /* blocked meanwhile: 421 sent */
    s->errors++;
    log_debug ("smtp", "error", "session=%llu what=%s errors=%d", (unsigned long long)s->id, what, s->errors);
    if (s->errors >= SMTP_HARD_ERROR_LIMIT || s->auth_failures >= SMTP_MAX_AUTH_FAILURES) {
        log_warn ("smtp", "too-many-errors", "session=%llu peer=%s errors=%d auth-failures=%d last=%s",
                  (unsigned long long)s->id, conn_peer (s->conn), s->errors, s->auth_failures, what);
        s_reply_smtp (s, SR_TOO_MANY_ERRORS, NULL);
        s_set_state (s, SMTP_QUIT);
        return false;
    }
    if (s->errors > SMTP_SOFT_ERROR_LIMIT)
        usleep (SMTP_ERROR_SLEEP_MS * 1000);
    return true;
}

/* Parses and runs one CRLF line: the check refuses, or the proceed acts (and may refuse) */
static void
s_run_line (smtp_session_t *s, size_t len)
{
    smtp_command_t *cmd = malloc (sizeof *cmd);
    if (!cmd) {
        s_log_no_memory (s, "command");
        s_reply_smtp (s, SR_NO_MEMORY, NULL);
        s_set_state (s, SMTP_QUIT);
        return;
    }
    if (smtp_parse_command (s->line, len, cmd) != 0) {
        s_reply (s, cmd->error.code, cmd->error.enhanced, "%s", cmd->error.text);
        s->refused = "command";
    }
    else {
        const smtp_handler_t *h = &s_handlers[cmd->id];
        if (h->check (s, cmd) != 0)
            s->refused = "command";
        else
            h->proceed (s, cmd);
    }
    /* the verb only when it names a command: an unknown one may be a credential sent
       after a refused AUTH */
    if (s->refused)
        log_debug ("smtp", "refused", "session=%llu verb=%s", (unsigned long long)s->id,
                   smtp_command_name (cmd->id));
    sodium_memzero (cmd, sizeof *cmd); /* AUTH lines carry credentials */
    free (cmd);
}

/* Reads and runs one command; returns false when the session is over */
static bool
s_one_command (smtp_session_t *s)
{
    size_t len = 0;
    conn_result_t rc = conn_read_line (s->conn, s->line, sizeof s->line, &len,
                                       s->config->smtp_timeout_ms > 0 ? s->config->smtp_timeout_ms
                                                                      : SMTP_COMMAND_TIMEOUT_MS);
    s->refused = NULL;
    switch (rc) {
    case CONN_LINE:
        s_run_line (s, len);
        break;
    case CONN_TOO_LONG:
        s_refuse_smtp (s, SR_LINE_TOO_LONG, "command");
        break;
    case CONN_BARE_LF:
        /* the line is never logged: "AUTH PLAIN <base64>\n" holds a password */
        log_warn ("smtp", "bare-lf", "session=%llu peer=%s verb=%s bytes=%zu", (unsigned long long)s->id,
                  conn_peer (s->conn), smtp_command_name (smtp_verb_of (s->line, len)), len);
        s_refuse_smtp (s, SR_BARE_LF, "bare-lf");
        break;
    case CONN_TIMEOUT:
        s_reply_smtp (s, SR_TIMEOUT, NULL);
        return false;
    default:
        return false;
    }
    sodium_memzero (s->line, len);
    if (s->refused && !s_note_failure (s, s->refused))
        return false;
    return s->state != SMTP_QUIT;
}

void
smtp_serve (conn_t *conn, const gateway_config_t *config, pool_t *pool, uint64_t id)
{
    assert (conn && config);
    smtp_session_t *s = calloc (1, sizeof *s);
    if (!s) {
        log_warn ("smtp", "out-of-memory", "session=%llu peer=%s where=session", (unsigned long long)id,
                  conn_peer (conn));
        const reply_t *r = &s_smtp_replies[SR_NO_MEMORY];
        conn_printf (conn, "%d %s %s\r\n", r->code, r->enhanced, r->text);
        return;
    }
    s->id = id;
    s->conn = conn;
    s->config = config;
    s->pool = pool;
    s->state = SMTP_INIT;
    if (conn_is_tls (conn))
        s->flags |= SF_SECURE;
    log_info ("smtp", "connect", "session=%llu peer=%s tls=%s", (unsigned long long)s->id, conn_peer (conn),
              conn_is_tls (conn) ? "yes" : "no");
    s_reply (s, 220, NULL, "%s %s", config->hostname, s_smtp_replies[SR_GREETING].text);
    while (s_one_command (s))
        ;
    log_info ("smtp", "disconnect", "session=%llu peer=%s transactions=%d errors=%d",
              (unsigned long long)s->id, conn_peer (conn), s->transactions, s->errors);
    pool_give (pool, &s->gateway_client, false);
    client_destroy (&s->user_client);
    sodium_memzero (s, sizeof *s);
    free (s);
}
