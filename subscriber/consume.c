/*  consume.c — competing consumer over LEASE / ACK. */
#include "consume.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "client_cli.h"
#include "header.h"
#include "outfile.h"
#include "proto.h"
#include "reply.h"

static int
s_ack (client_t *client, const char *id)
{
    int status = 0;
    zmsg_t *reply = call_verb (client, "ACK", id, &status);
    zmsg_destroy (&reply);
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
        zmsg_first (reply);
        size_t leased = 0;
        for (zframe_t *idf = zmsg_next (reply); idf && status == 0; idf = zmsg_next (reply)) {
            zframe_t *body = zmsg_next (reply);
            if (!body)
                break;
            char *id = zframe_strdup (idf);
            leased++;
            if (options->auto_ack)
                status = s_ack (client, id);
            if (status == 0)
                status = s_handle (options, id, body);
            /* --ack: only a message that was handled is acknowledged; one that was not goes
               back to the others when our lease runs out */
            if (status == 0 && !options->auto_ack)
                status = s_ack (client, id);
            if (status == 0)
                done++;
            free (id);
        }
        zmsg_destroy (&reply);
        if (leased == 0) {
            if (options->until_empty)
                break;
            zclock_sleep (200); /* nothing to do yet: ask again shortly */
        }
    }
    return status;
}
