/*  publish.c — SEND with retries, and what its answer means. */
#include "publish.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "client_cli.h"
#include "mb_limits.h"
#include "proto.h"
#include "reply.h"

/* past MAX_WIRE_BYTES libzmq drops the connection (ZMQ_MAXMSGSIZE) without a word:
   say what the broker would (RFC 1870 SIZE) instead of waiting for an answer */
static bool
s_too_big (const draft_t *draft, size_t size)
{
    size_t wire = size + strlen (draft->from) + 64;
    for (guint i = 0; i < draft->to->len; i++)
        wire += strlen (g_ptr_array_index (draft->to, i)) + 8;
    for (guint i = 0; i < draft->cc->len; i++)
        wire += strlen (g_ptr_array_index (draft->cc, i)) + 8;
    if (wire <= MAX_WIRE_BYTES)
        return false;
    fprintf (stderr, "552 5.3.4 message too big: %zu bytes, the broker takes at most %d\n", size,
             MAX_MESSAGE_BYTES);
    return true;
}

/* The SEND arguments: sender, recipients, message */
static zmsg_t *
s_send_args (const draft_t *draft, const char *message, size_t size)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, draft->from);
    for (guint i = 0; i < draft->to->len; i++)
        zmsg_addstr (args, g_ptr_array_index (draft->to, i));
    for (guint i = 0; i < draft->cc->len; i++)
        zmsg_addstr (args, g_ptr_array_index (draft->cc, i));
    zmsg_addmem (args, message, size);
    return args;
}

/* SEND until an answer comes, retries times more at most; the reply, or NULL */
static zmsg_t *
s_call_with_retries (client_t *client, zmsg_t *args, int retries, int timeout_s)
{
    zmsg_t *reply = NULL;
    for (int attempt = 0; attempt <= retries && !zsys_interrupted; attempt++) {
        if (attempt > 0)
            fprintf (stderr, "mailbus-pub: no answer within %d s, sending again (%d of %d)\n", timeout_s,
                     attempt, retries);
        /* the same bytes every time: the broker dedupes by Message-ID and repeats its answer */
        reply = client_call (client, "SEND", zmsg_dup (args));
        if (reply)
            break;
    }
    return reply;
}

/* Prints the per-recipient lines of reply; the exit status they make, *recipients their count */
static int
s_recipient_answers (zmsg_t *reply, size_t *recipients)
{
    int status = 0;
    zmsg_first (reply);
    for (zframe_t *frame = zmsg_next (reply); frame; frame = zmsg_next (reply)) {
        char *text = zframe_strdup (frame);
        printf ("%s\n", text);
        int rcpt_code = 0;
        if (reply_parse (text, &rcpt_code, NULL) != 0)
            rcpt_code = 554;
        int rcpt_status = client_cli_exit_status (rcpt_code);
        /* a transient failure means "try again later", even beside permanent ones */
        if (rcpt_status == EX_TEMPFAIL || (rcpt_status && !status))
            status = rcpt_status;
        free (text);
        (*recipients)++;
    }
    fflush (stdout);
    return status;
}

/* The exit status of SEND's reply, its answers printed */
static int
s_answer (zmsg_t *reply)
{
    int code = 0;
    char line[1025];
    if (proto_reply_status (reply, &code, line, sizeof line) != 0) {
        fprintf (stderr, "mailbus-pub: the broker sent a malformed reply\n");
        return 1;
    }
    size_t recipients = 0;
    int status = s_recipient_answers (reply, &recipients);
    if (recipients == 0) {
        /* a message-level answer (552 5.3.4, 553 5.7.1, 550 5.6.0 ...) */
        fprintf (stderr, "%s\n", line);
        status = reply_is_success (code) ? 1 : client_cli_exit_status (code);
    }
    return status;
}

int
publish_send (client_t *client, const draft_t *draft, const char *message, size_t size, int retries,
              int timeout_s)
{
    if (s_too_big (draft, size))
        return 1;
    zmsg_t *args = s_send_args (draft, message, size);
    zmsg_t *reply = s_call_with_retries (client, args, retries, timeout_s);
    zmsg_destroy (&args);
    if (!reply) {
        fprintf (stderr, "mailbus-pub: no answer from the broker; the message may or may not be stored\n");
        return EX_TEMPFAIL;
    }
    int status = s_answer (reply);
    zmsg_destroy (&reply);
    return status;
}
