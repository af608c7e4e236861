/*  smtp_parse.c — SMTP command lines into structs (RFC 5321 4.1, RFC 1870, RFC 6152). */
#include "smtp_parse.h"
#include "sasl.h"

#include <ctype.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *s_names[CMD__COUNT] = {
    [CMD_UNKNOWN] = "UNKNOWN",   [CMD_HELO] = "HELO", [CMD_EHLO] = "EHLO", [CMD_MAIL] = "MAIL",
    [CMD_RCPT] = "RCPT",         [CMD_DATA] = "DATA", [CMD_RSET] = "RSET", [CMD_NOOP] = "NOOP",
    [CMD_QUIT] = "QUIT",         [CMD_VRFY] = "VRFY", [CMD_EXPN] = "EXPN", [CMD_HELP] = "HELP",
    [CMD_STARTTLS] = "STARTTLS", [CMD_AUTH] = "AUTH", [CMD_SEND] = "SEND", [CMD_SOML] = "SOML",
    [CMD_SAML] = "SAML",         [CMD_TURN] = "TURN",
};

const char *
smtp_command_name (smtp_cmd_id_t id)
{
    if ((int)id < 0 || id >= CMD__COUNT)
        return "UNKNOWN";
    return s_names[id];
}

static int
s_fail (smtp_command_t *cmd, int code, const char *enhanced, const char *text)
{
    cmd->failed = true;
    cmd->error.code = code;
    cmd->error.enhanced = enhanced;
    cmd->error.text = text;
    return -1;
}

/* MAIL/RCPT parameters (RFC 5321 4.1.2 esmtp-param): KEY[=VALUE] separated by spaces */
static int
s_parse_params (smtp_command_t *cmd, char *p, bool is_mail)
{
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        char *word = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = '\0';
        char *value = strchr (word, '=');
        if (value)
            *value++ = '\0';
        if (is_mail && strcasecmp (word, "SIZE") == 0) {
            /* RFC 1870 6: size-value ::= 1*20DIGIT */
            if (!value || !*value || strlen (value) > 20 || strspn (value, "0123456789") != strlen (value))
                return s_fail (cmd, 501, "5.5.4", "SIZE takes a number of octets");
            unsigned long long n = strtoull (value, NULL, 10);
            cmd->size = n > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)n;
        }
        else if (is_mail && strcasecmp (word, "BODY") == 0) {
            if (value && strcasecmp (value, "7BIT") == 0)
                cmd->body = SMTP_BODY_7BIT;
            else if (value && strcasecmp (value, "8BITMIME") == 0)
                cmd->body = SMTP_BODY_8BITMIME;
            else
                return s_fail (cmd, 501, "5.5.4", "BODY takes 7BIT or 8BITMIME");
        }
        else if (is_mail && strcasecmp (word, "AUTH") == 0) {
            /* RFC 4954 5: the submitter's identity for relaying MTAs; we trust our own AUTH only */
            if (!value || !*value)
                return s_fail (cmd, 501, "5.5.4", "AUTH= takes a mailbox or <>");
        }
        else
            /* RFC 5321 4.1.1.11 */
            return s_fail (cmd, 555, "5.5.4", "parameter not recognised");
    }
    return 0;
}

/* "FROM:<path> params" or "TO:<path> params" */
static int
s_parse_path (smtp_command_t *cmd, bool is_mail)
{
    const char *prefix = is_mail ? "FROM:" : "TO:";
    size_t plen = strlen (prefix);
    const char *enh = is_mail ? "5.1.7" : "5.1.3";
    if (strncasecmp (cmd->args, prefix, plen) != 0)
        return s_fail (cmd, 501, "5.5.4",
                       is_mail ? "syntax: MAIL FROM:<address>" : "syntax: RCPT TO:<address>");
    char work[SMTP_MAX_LINE + 1];
    snprintf (work, sizeof work, "%s", cmd->args + plen);
    char *p = work;
    while (*p == ' ') /* "MAIL FROM: <a@b>" is not RFC 5321, but common */
        p++;
    char *path, *rest;
    if (*p == '<') {
        char *close = strchr (p, '>');
        if (!close)
            return s_fail (cmd, 501, enh, "unterminated <path>");
        *close = '\0';
        path = p + 1;
        rest = close + 1;
        if (*rest && *rest != ' ')
            return s_fail (cmd, 501, "5.5.4", "a space must follow the <path>");
    }
    else {
        /* a bare address without <> (old clients) */
        path = p;
        rest = p + strcspn (p, " ");
        if (*rest)
            *rest++ = '\0';
    }
    /* RFC 5321 4.1.2 / C: a source route "@a,@b:user@c" is accepted and ignored */
    if (*path == '@') {
        char *colon = strchr (path, ':');
        if (!colon)
            return s_fail (cmd, 501, enh, "bad source route");
        path = colon + 1;
    }
    if (!*path) {
        if (!is_mail)
            return s_fail (cmd, 501, "5.1.3", "a recipient is required");
        cmd->null_path = true;
    }
    else {
        const char *why = NULL;
        if (address_parse (path, strlen (path), &cmd->path, &why) != 0)
            return s_fail (cmd, 501, enh,
                           is_mail ? "bad sender address syntax" : "bad recipient address syntax");
    }
    return s_parse_params (cmd, rest, is_mail);
}

int
smtp_parse_command (const char *line, size_t len, smtp_command_t *cmd)
{
    memset (cmd, 0, sizeof *cmd);
    cmd->size = -1;
    if (len < 2 || line[len - 2] != '\r' || line[len - 1] != '\n')
        return s_fail (cmd, 500, "5.5.2", "line must end with CRLF");
    len -= 2;
    if (memchr (line, '\0', len))
        return s_fail (cmd, 500, "5.5.2", "NUL octet in command");
    if (memchr (line, '\r', len) || memchr (line, '\n', len))
        return s_fail (cmd, 500, "5.5.2", "bare CR or LF in command");
    if (len > SMTP_MAX_AUTH_LINE - 2)
        return s_fail (cmd, 500, "5.5.2", "line too long");

    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    size_t copy = vlen < sizeof cmd->verb - 1 ? vlen : sizeof cmd->verb - 1;
    for (size_t i = 0; i < copy; i++)
        cmd->verb[i] = (char)toupper ((unsigned char)line[i]);
    cmd->verb[copy] = '\0';
    size_t start = vlen < len ? vlen + 1 : len;
    size_t alen = len - start;
    while (alen > 0 && line[start + alen - 1] == ' ') /* trailing spaces are harmless */
        alen--;
    memcpy (cmd->args, line + start, alen);
    cmd->args[alen] = '\0';

    if (vlen == 0)
        return s_fail (cmd, 500, "5.5.2", "empty command");
    for (int id = CMD_HELO; id < CMD__COUNT; id++)
        if (vlen == strlen (s_names[id]) && strcmp (cmd->verb, s_names[id]) == 0) {
            cmd->id = (smtp_cmd_id_t)id;
            break;
        }
    /* RFC 4954 4: only AUTH may exceed 512 octets (its initial response) */
    if (cmd->id != CMD_AUTH && len > SMTP_MAX_LINE - 2)
        return s_fail (cmd, 500, "5.5.2", "line too long (RFC 5321 4.5.3.1.4: 512 octets)");
    switch (cmd->id) {
    case CMD_UNKNOWN:
        return s_fail (cmd, 500, "5.5.1", "command unrecognised");
    case CMD_HELO:
    case CMD_EHLO:
        if (!*cmd->args)
            return s_fail (cmd, 501, "5.5.4", "HELO and EHLO require a domain or address literal");
        if (strchr (cmd->args, ' '))
            return s_fail (cmd, 501, "5.5.4", "HELO and EHLO take one domain or address literal");
        return 0;
    case CMD_MAIL:
        return s_parse_path (cmd, true);
    case CMD_RCPT:
        return s_parse_path (cmd, false);
    case CMD_DATA:
    case CMD_RSET:
    case CMD_QUIT:
    case CMD_STARTTLS:
        if (*cmd->args)
            return s_fail (cmd, 501, "5.5.4", "no arguments allowed");
        return 0;
    case CMD_VRFY:
    case CMD_EXPN:
    case CMD_AUTH:
        if (!*cmd->args)
            return s_fail (cmd, 501, "5.5.4", "an argument is required");
        return 0;
    default:
        return 0; /* NOOP and HELP take an optional argument; SEND SOML SAML TURN are refused later */
    }
}

int
smtp_base64_decode (const char *text, size_t len, unsigned char *out, size_t size)
{
    size_t n = 0;
    if (len == 1 && (text[0] == '*' || text[0] == '='))
        return -1; /* sasl_decode's words, not base64 */
    return sasl_decode (text, len, out, size, &n) == SASL_OK ? (int)n : -1;
}

int
smtp_parse_auth_plain (const unsigned char *data, size_t len, char *user, size_t user_size, char *password,
                       size_t password_size)
{
    return sasl_plain_parse (data, len, user, user_size, password, password_size) == SASL_OK ? 0 : -1;
}

/* ---- DATA ----------------------------------------------------------------------------- */

void
smtp_data_init (smtp_data_t *d, size_t max_size)
{
    memset (d, 0, sizeof *d);
    d->state = SMTP_DATA_LINE_START; /* the 354 reply's CRLF counts as the first */
    d->max_size = max_size;
}

bool
smtp_data_done (const smtp_data_t *d)
{
    return d->state == SMTP_DATA_DONE;
}

/* One octet inside a line (the line's opening "." already dealt with), written to out */
static void
s_data_octet (smtp_data_t *d, char c, char *out, size_t *o)
{
    if (d->last_cr && c != '\n')
        d->flags |= SMTP_DATA_BARE; /* the CR before was not part of a CRLF */
    if (c == '\0')
        d->flags |= SMTP_DATA_NUL;
    if (c == '\n' && !d->last_cr)
        d->flags |= SMTP_DATA_BARE; /* and the line goes on: a bare LF ends nothing */
    bool line_end = c == '\n' && d->last_cr;
    d->last_cr = c == '\r';
    d->line_len++;
    if (++d->size > d->max_size)
        d->flags |= SMTP_DATA_TOO_BIG;
    out[(*o)++] = c;
    if (d->line_len > SMTP_MAX_TEXT_LINE)
        d->flags |= SMTP_DATA_TOO_LONG; /* RFC 5321 4.5.3.1.6: CRLF included */
    d->state = line_end ? SMTP_DATA_LINE_START : SMTP_DATA_IN_LINE;
    if (line_end)
        d->line_len = 0;
}

size_t
smtp_data_feed (smtp_data_t *d, const char *in, size_t len, char *out, size_t *out_len)
{
    size_t i = 0, o = 0;
    for (; i < len && d->state != SMTP_DATA_DONE; i++) {
        char c = in[i];
        switch (d->state) {
        case SMTP_DATA_LINE_START:
            if (c == '.')
                d->state = SMTP_DATA_DOT; /* held back: stuffing (dropped) or the end */
            else
                s_data_octet (d, c, out, &o);
            break;
        case SMTP_DATA_DOT:
            if (c == '\r')
                d->state = SMTP_DATA_DOT_CR;
            else /* RFC 5321 4.5.2: the sender doubled a leading dot; this one goes */
                s_data_octet (d, c, out, &o);
            break;
        case SMTP_DATA_DOT_CR:
            if (c == '\n') {
                d->state = SMTP_DATA_DONE; /* CRLF "." CRLF */
                break;
            }
            /* "." then a bare CR: the message is refused, so the CR held back is not
               written (out never gets more octets than in gave) */
            d->flags |= SMTP_DATA_BARE;
            d->line_len++;
            d->size++;
            s_data_octet (d, c, out, &o);
            break;
        default:
            s_data_octet (d, c, out, &o);
            break;
        }
    }
    *out_len = o;
    return i;
}

/* ---- names ---------------------------------------------------------------------------- */

bool
smtp_hostname_valid (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > MAX_DOMAIN)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            /* empty label ("a..b", ".a"), or a hyphen at its end; a final dot is refused too */
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum ((unsigned char)c) && !(c == '-' && label > 0))
            return false;
        if (++label > SMTP_MAX_LABEL)
            return false;
    }
    return true;
}

smtp_cmd_id_t
smtp_verb_of (const char *line, size_t len)
{
    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ' && line[vlen] != '\r' && line[vlen] != '\n')
        vlen++;
    for (int id = CMD_HELO; id < CMD__COUNT; id++)
        if (vlen == strlen (s_names[id]) && strncasecmp (line, s_names[id], vlen) == 0)
            return (smtp_cmd_id_t)id;
    return CMD_UNKNOWN;
}
