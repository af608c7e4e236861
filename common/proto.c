/*  proto.c — the broker protocol codec. */
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool
s_valid_id (const uint8_t *data, size_t size)
{
    if (size == 0 || size > MAX_REQUEST_ID)
        return false;
    for (size_t i = 0; i < size; i++)
        if (data[i] <= 0x20 || data[i] >= 0x7f)
            return false;
    /* "*" and "-" are reserved for pushes and id-less replies */
    return !(size == 1 && (data[0] == '*' || data[0] == '-'));
}

int
proto_request_parse_frames (const proto_arg_t *frames, size_t count, proto_request_t *req, reply_id_t *reply,
                            const char **error)
{
    memset (req, 0, sizeof *req);
    strcpy (req->id, PROTO_NO_ID);
    *reply = REPLY_SYNTAX;
    if (count == 0) {
        *error = "empty message";
        return -1;
    }
    if (!s_valid_id (frames[0].data, frames[0].size)) {
        *error = "request id must be 1..32 printable characters";
        return -1;
    }
    memcpy (req->id, frames[0].data, frames[0].size);
    req->id[frames[0].size] = '\0';

    if (count < 2) {
        *error = "request has no verb";
        return -1;
    }
    size_t size = frames[1].size;
    const uint8_t *data = frames[1].data;
    if (size == 0 || size > MAX_VERB) {
        *error = "verb must be 1..16 upper-case letters";
        return -1;
    }
    for (size_t i = 0; i < size; i++)
        if (!((data[i] >= 'A' && data[i] <= 'Z') || data[i] == '-')) {
            *error = "verb must be 1..16 upper-case letters";
            return -1;
        }
    memcpy (req->verb, data, size);
    req->verb[size] = '\0';

    for (size_t i = 2; i < count; i++) {
        if (req->argc == PROTO_MAX_ARGS) {
            *reply = REPLY_TOO_MANY_RCPT;
            *error = "too many arguments";
            return -1;
        }
        req->args[req->argc++] = frames[i];
    }
    return 0;
}

int
proto_request_parse (zmsg_t *msg, proto_request_t *req, reply_id_t *reply, const char **error)
{
    proto_arg_t frames[PROTO_MAX_FRAMES];
    size_t count = 0;
    for (zframe_t *frame = msg ? zmsg_first (msg) : NULL; frame && count < PROTO_MAX_FRAMES;
         frame = zmsg_next (msg))
        frames[count++] = (proto_arg_t){zframe_data (frame), zframe_size (frame)};
    return proto_request_parse_frames (frames, count, req, reply, error);
}

int
proto_arg_string (const proto_arg_t *arg, char *buf, size_t size)
{
    if (!arg || arg->size >= size || memchr (arg->data, '\0', arg->size))
        return -1;
    memcpy (buf, arg->data, arg->size);
    buf[arg->size] = '\0';
    return 0;
}

int
proto_arg_uint (const proto_arg_t *arg, int64_t *value)
{
    if (!arg || arg->size == 0 || arg->size > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < arg->size; i++) {
        if (arg->data[i] < '0' || arg->data[i] > '9')
            return -1;
        v = v * 10 + (arg->data[i] - '0');
    }
    *value = v;
    return 0;
}

bool
proto_arg_is (const proto_arg_t *arg, const char *s)
{
    size_t n = strlen (s);
    return arg && arg->size == n && memcmp (arg->data, s, n) == 0;
}

zmsg_t *
proto_request_new (const char *id, const char *verb)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, id);
    zmsg_addstr (msg, verb);
    return msg;
}

zmsg_t *
proto_reply_new (const char *id, reply_id_t reply, const char *text)
{
    char line[512];
    reply_format (line, sizeof line, reply, text);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, id);
    zmsg_addstr (msg, line);
    return msg;
}

zmsg_t *
proto_reply_newf (const char *id, reply_id_t reply, const char *format, ...)
{
    char text[400];
    va_list ap;
    va_start (ap, format);
    vsnprintf (text, sizeof text, format, ap);
    va_end (ap);
    return proto_reply_new (id, reply, text);
}

void
proto_move_frames (zmsg_t *to, zmsg_t **from_p)
{
    zframe_t *frame;
    while (*from_p && (frame = zmsg_pop (*from_p)))
        zmsg_append (to, &frame);
    zmsg_destroy (from_p);
}

int
proto_reply_status (zmsg_t *reply, int *code, char *line, size_t size)
{
    zframe_t *frame = reply ? zmsg_first (reply) : NULL;
    if (!frame || zframe_size (frame) < 9 || zframe_size (frame) > 1024)
        return -1;
    char buf[1025];
    memcpy (buf, zframe_data (frame), zframe_size (frame));
    buf[zframe_size (frame)] = '\0';
    if (strlen (buf) != zframe_size (frame) || reply_parse (buf, code, NULL) != 0)
        return -1;
    if (line && size) {
        snprintf (line, size, "%s", buf);
    }
    return 0;
}
