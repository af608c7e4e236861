/*  call.c — requests with exit statuses. */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "client_cli.h"
#include "proto.h"
#include "reply.h"
#include "text.h"

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

int
call_ack (client_t *client, const char *ids, char **lost)
{
    *lost = NULL;
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, ids);
    zmsg_t *reply = client_call (client, "ACK", args);
    if (!reply) {
        fprintf (stderr, "mailbus-sub: no answer from the broker to ACK\n");
        return EX_TEMPFAIL;
    }
    int code = 0, status = 0;
    char line[1025] = "";
    if (proto_reply_status (reply, &code, line, sizeof line) != 0) {
        fprintf (stderr, "mailbus-sub: the broker sent a malformed reply to ACK\n");
        status = 1;
    }
    else if (code == 550) /* none of them is ours any more */
        *lost = strdup (ids);
    else if (reply_is_success (code))
        *lost = zmsg_size (reply) >= 2 ? call_frame (reply, 1) : NULL;
    else {
        fprintf (stderr, "%s\n", line);
        status = client_cli_exit_status (code);
    }
    zmsg_destroy (&reply);
    return status;
}

bool
call_id_in (const char *list, const char *id)
{
    size_t len = strlen (id);
    const char *p = list;
    while (p && *p) {
        size_t n = strcspn (p, " ");
        if (n == len && strncmp (p, id, len) == 0)
            return true;
        p += n;
        if (*p == ' ')
            p++;
    }
    return false;
}

int
call_ack_all (client_t *client, char *const *ids, const size_t *sizes, size_t n, size_t *answered,
              char **lost)
{
    *answered = 0;
    *lost = NULL;
    while (*answered < n) {
        size_t end = *answered + 1, bytes = sizes[*answered];
        while (end < n && bytes + sizes[end] <= CALL_ACK_BYTES)
            bytes += sizes[end++];
        char *list = text_join (ids + *answered, end - *answered), *some = NULL;
        if (!list)
            return EX_OSERR;
        int status = call_ack (client, list, &some);
        free (list);
        if (status != 0)
            return status;
        if (some) {
            char *all = *lost ? zsys_sprintf ("%s %s", *lost, some) : strdup (some);
            free (*lost);
            free (some);
            *lost = all;
        }
        *answered = end;
    }
    return 0;
}
