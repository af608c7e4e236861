/*  reply.c — the reply table. */
#include "reply.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const reply_t s_replies[REPLY__COUNT] = {
    [REPLY_OK] = {250, "2.0.0", "OK"},
    [REPLY_HELLO] = {250, "2.0.0", "hello"},
    [REPLY_QUEUED] = {250, "2.0.0", "queued"},
    [REPLY_DELETED] = {250, "2.0.0", "deleted"},
    [REPLY_ADDRESS_OK] = {250, "2.1.5", "destination address valid"},
    [REPLY_CANNOT_VRFY] = {252, "2.1.5", "cannot verify, will attempt delivery"},
    [REPLY_BYE] = {221, "2.0.0", "bye"},
    [REPLY_SHUTTING_DOWN] = {421, "4.3.2", "service shutting down"},
    [REPLY_TRY_LATER] = {421, "4.7.0", "try again later"},
    [REPLY_TEMP_UNAVAILABLE] = {451, "4.3.0", "temporary failure, try again later"},
    [REPLY_STORE_TROUBLE] = {452, "4.3.1", "insufficient system storage"},
    [REPLY_TOO_MANY_RCPT] = {452, "4.5.3", "too many recipients"},
    [REPLY_SYNTAX] = {500, "5.5.2", "syntax error"},
    [REPLY_UNKNOWN_VERB] = {500, "5.5.1", "command unrecognised"},
    [REPLY_BAD_ARGS] = {501, "5.5.4", "invalid arguments"},
    [REPLY_BAD_VERSION] = {501, "5.5.4", "unsupported protocol version"},
    [REPLY_BAD_SENDER_SYNTAX] = {501, "5.1.7", "bad sender address syntax"},
    [REPLY_BAD_RCPT_SYNTAX] = {501, "5.1.3", "bad destination address syntax"},
    [REPLY_NOT_IMPLEMENTED] = {502, "5.5.1", "command not implemented"},
    [REPLY_BAD_SEQUENCE] = {503, "5.5.1", "bad sequence of commands"},
    [REPLY_AUTH_REQUIRED] = {530, "5.7.0", "authentication required"},
    [REPLY_AUTH_FAILED] = {535, "5.7.8", "authentication credentials invalid"},
    [REPLY_NO_MAILBOX] = {550, "5.1.1", "no such mailbox"},
    [REPLY_NO_MESSAGE] = {550, "5.2.0", "no such message"},
    [REPLY_BAD_CONTENT] = {550, "5.6.0", "message content refused"},
    [REPLY_NOT_YOURS] = {550, "5.7.1", "not your mailbox"},
    [REPLY_MAILBOX_EXISTS] = {550, "5.1.0", "mailbox exists"},
    [REPLY_QUOTA] = {552, "5.2.2", "mailbox full"},
    [REPLY_TOO_BIG] = {552, "5.3.4", "message too big"},
    [REPLY_SENDER_DENIED] = {553, "5.7.1", "sender address not allowed"},
    [REPLY_LIST_DENIED] = {550, "5.7.2", "mailing list expansion prohibited"},
    [REPLY_NOT_SUBSCRIBED] = {550, "5.2.0", "not subscribed"},
    [REPLY_ALREADY] = {250, "2.0.0", "nothing to do"},
    [REPLY_RELAY_DENIED] = {554, "5.7.1", "relay access denied"},
    [REPLY_EXPIRED] = {554, "5.4.7", "delivery time expired"},
    [REPLY_LOOP] = {554, "5.4.6", "routing loop detected"},
    [REPLY_FAILED] = {554, "5.0.0", "transaction failed"},
    [REPLY_NO_FOLDER] = {550, "5.1.1", "no such folder"},
    [REPLY_FOLDER_EXISTS] = {550, "5.1.1", "folder exists"},
    [REPLY_TOO_MANY_FOLDERS] = {452, "4.2.2", "too many folders"},
    [REPLY_REPLY_TOO_BIG] = {452, "4.3.1", "reply too big: name fewer messages"},
};

const reply_t *
reply_get (reply_id_t id)
{
    if ((int)id < 0 || id >= REPLY__COUNT)
        id = REPLY_FAILED;
    return &s_replies[id];
}

size_t
reply_format (char *buf, size_t size, reply_id_t id, const char *text)
{
    if (size == 0)
        return 0;
    const reply_t *r = reply_get (id);
    int n = snprintf (buf, size, "%d %s %s", r->code, r->enhanced, text ? text : r->text);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

int
reply_parse (const char *line, int *code, const char **text)
{
    if (!line || !isdigit ((unsigned char)line[0]) || !isdigit ((unsigned char)line[1]) ||
        !isdigit ((unsigned char)line[2]) || line[3] != ' ')
        return -1;
    int c = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (c < 200 || c > 599)
        return -1;
    /* RFC 3463: class "." subject "." detail, class equal to the code's first digit */
    const char *p = line + 4;
    if (*p != line[0])
        return -1;
    const char *space = strchr (p, ' ');
    const char *end = space ? space : p + strlen (p);
    /* RFC 3463 2: class "." subject "." detail; subject and detail are 1 to 3 digits */
    int part = 0, digits = 0;
    for (const char *q = p; q <= end; q++) {
        if (q == end || *q == '.') {
            if (digits == 0 || (part == 0 ? digits != 1 : digits > 3))
                return -1;
            part++;
            digits = 0;
        }
        else if (isdigit ((unsigned char)*q))
            digits++;
        else
            return -1;
    }
    if (part != 3)
        return -1;
    if (code)
        *code = c;
    if (text)
        *text = space ? space + 1 : end;
    return 0;
}

int
reply_from_line (reply_t *self, const char *line)
{
    assert (self);
    *self = (reply_t){0, "", ""};
    int code = 0;
    const char *text = NULL;
    if (reply_parse (line, &code, &text) != 0)
        return -1;
    /* reply_parse checked the enhanced code: digits and dots, shorter than the room */
    size_t len = strcspn (line + 4, " ");
    memcpy (self->enhanced, line + 4, len);
    self->enhanced[len] = '\0';
    self->code = code;
    self->text = text;
    return 0;
}
