/*  consume.c — competing consumer over LEASE / ACK. */
#include "consume.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "client_cli.h"
#include "header.h"
#include "mb_limits.h"
#include "outfile.h"
#include "proto.h"
#include "reply.h"

/* ACK of ids[0..n-1] (call_ack_all: few requests): 0, or the exit status; *answered: how
   many the broker answered for (from the first). *lost (NULL when
   none; caller frees): those whose lease ran out, not acknowledged (another consumer gets
   them), reported. */
static int
s_ack (client_t *client, char *const *ids, const size_t *sizes, size_t n, size_t *answered, char **lost)
{
    int status = call_ack_all (client, ids, sizes, n, answered, lost);
    if (*lost)
        fprintf (stderr, "mailbus-sub: no longer leased to us (the lease ran out), not acknowledged: %s\n",
                 *lost);
    return status;
}

/* Handles one message: a line on stdout, or DIR/<id>.eml written and synced */
static int
s_handle (const consume_options_t *options, const char *id, zframe_t *body)
{
    const char *data = (const char *)zframe_data (body);
    size_t size = zframe_size (body);
    if (options->dir) {
        /* the id becomes a file name: digits only, whatever the broker sent */
        if (!*id || id[strspn (id, "0123456789")] != '\0') {
            fprintf (stderr, "mailbus-sub: the broker leased a message with a malformed id\n");
            return 1;
        }
        char *name = zsys_sprintf ("%s.eml", id);
        char *path = NULL, *error = NULL;
        int rc = outfile_write_durable (options->dir, name, data, size, &path, &error);
        free (name);
        if (rc != 0) {
            fprintf (stderr, "mailbus-sub: %s\n", error);
            free (error);
            return 1;
        }
        printf ("CONSUMED id=%s path=%s\n", id, path);
        free (path);
    }
    else {
        char subject[200] = "";
        header_find (data, size, "Subject", subject, sizeof subject);
        printf ("CONSUMED id=%s size=%zu subject=\"%s\"\n", id, size, subject);
    }
    fflush (stdout);
    return 0;
}

/* The leased messages of reply: with --auto-ack all acknowledged (few ACKs) and then handled;
   otherwise handled, and those handled acknowledged together (one that was not goes back to
   the others when our lease runs out). *leased: how many were handled. 0, or the exit status. */
static int
s_consume_leased (client_t *client, const consume_options_t *options, zmsg_t *reply, size_t *leased)
{
    char *ids[MAX_LEASE_COUNT];
    zframe_t *bodies[MAX_LEASE_COUNT];
    size_t sizes[MAX_LEASE_COUNT], n = 0, handled = 0;
    zmsg_first (reply);
    for (zframe_t *idf = zmsg_next (reply); idf && n < MAX_LEASE_COUNT; idf = zmsg_next (reply)) {
        bodies[n] = zmsg_next (reply);
        if (!bodies[n])
            break;
        sizes[n] = zframe_size (bodies[n]);
        ids[n++] = zframe_strdup (idf);
    }
    char *lost = NULL;
    size_t acked = n; /* --auto-ack: those the broker answered for (deleted: handle them) */
    int ack_status = options->auto_ack ? s_ack (client, ids, sizes, n, &acked, &lost) : 0, status = 0;
    for (size_t i = 0; status == 0 && i < acked; i++) {
        if (call_id_in (lost, ids[i]))
            continue; /* --auto-ack: not ours any more */
        status = s_handle (options, ids[i], bodies[i]);
        handled += status == 0; /* without --auto-ack nothing is skipped: ids[0..handled-1] */
    }
    if (!options->auto_ack)
        ack_status = s_ack (client, ids, sizes, handled, &acked, &lost);
    status = status ? status : ack_status;
    status = status == 0 && lost ? 1 : status;
    free (lost);
    for (size_t i = 0; i < n; i++)
        free (ids[i]);
    *leased = handled;
    return status;
}

int
consume_run (client_t *client, const consume_options_t *options)
{
    long done = 0;
    int status = 0;
    while (!zsys_interrupted && status == 0 && (options->max == 0 || done < options->max)) {
        char args[64];
        int want = (int)options->prefetch;
        if (options->max && options->max - done < want)
            want = (int)(options->max - done);
        zmsg_t *request = zmsg_new ();
        snprintf (args, sizeof args, "%d", want);
        zmsg_addstr (request, args);
        snprintf (args, sizeof args, "%" PRId64, options->lease_s);
        zmsg_addstr (request, args);
        zmsg_t *reply = client_call (client, "LEASE", request);
        int code = 0;
        char line[512] = "";
        if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0 || !reply_is_success (code)) {
            fprintf (stderr, "%s\n", reply ? line : "mailbus-sub: no answer from the broker to LEASE");
            status = reply ? client_cli_exit_status (code) : 75;
            zmsg_destroy (&reply);
            break;
        }
        size_t leased = 0;
        status = s_consume_leased (client, options, reply, &leased);
        done += (long)leased;
        zmsg_destroy (&reply);
        if (leased == 0) {
            if (options->until_empty)
                break;
            zclock_sleep (200); /* nothing to do yet: ask again shortly */
        }
    }
    return status;
}
