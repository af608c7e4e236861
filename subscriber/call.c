/*  call.c — requests with exit statuses. */
#include "call.h"

#include <stdio.h>
#include <sysexits.h>

#include "client_cli.h"
#include "proto.h"
#include "reply.h"

zmsg_t *
call_verb (client_t *client, const char *verb, const char *arg, int *status)
{
    zmsg_t *args = NULL;
    if (arg) {
        args = zmsg_new ();
        zmsg_addstr (args, arg);
    }
    zmsg_t *reply = client_call (client, verb, args);
    if (!reply) {
        fprintf (stderr, "mailbus-sub: no answer from the broker to %s\n", verb);
        *status = EX_TEMPFAIL;
        return NULL;
    }
    int code = 0;
    char line[1025];
    if (proto_reply_status (reply, &code, line, sizeof line) != 0) {
        fprintf (stderr, "mailbus-sub: the broker sent a malformed reply to %s\n", verb);
        zmsg_destroy (&reply);
        *status = 1;
        return NULL;
    }
    if (!reply_is_success (code)) {
        fprintf (stderr, "%s\n", line);
        zmsg_destroy (&reply);
        *status = client_cli_exit_status (code);
        return NULL;
    }
    *status = 0;
    return reply;
}

char *
call_frame (zmsg_t *reply, size_t index)
{
    zframe_t *frame = zmsg_first (reply);
    for (size_t i = 0; frame && i < index; i++)
        frame = zmsg_next (reply);
    return frame ? zframe_strdup (frame) : NULL;
}
