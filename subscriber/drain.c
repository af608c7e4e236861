/*  drain.c — save, sync, then delete. */
#include "drain.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sysexits.h>

#include "call.h"
#include "client_cli.h"
#include "listing.h"
#include "outfile.h"
#include "proto.h"
#include "reply.h"

/* <id>.eml; the same message drained again replaces its file. Should another message
   ever come with an id already used in dir (an id the broker handed out again after a
   deletion), it gets <id>-N.eml rather than destroy a message saved earlier; so does a
   name taken by anything that is not a plain file (a link is never followed). */
static void
s_file_name (const char *dir, int64_t id, const void *data, size_t size, char *name, size_t name_size)
{
    snprintf (name, name_size, "%" PRId64 ".eml", id);
    for (int n = 1; n < 10000 && outfile_state (dir, name, data, size) == OUTFILE_OTHER; n++)
        snprintf (name, name_size, "%" PRId64 "-%d.eml", id, n);
}

int
drain_save_message (client_t *client, int64_t id, const char *dir, char **path)
{
    char arg[32];
    snprintf (arg, sizeof arg, "%" PRId64, id);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, arg);
    zmsg_t *reply = client_call (client, "RETR", args);
    if (!reply) {
        fprintf (stderr, "mailbus-sub: no answer from the broker to RETR %s\n", arg);
        return EX_TEMPFAIL;
    }
    int code = 0;
    char line[1025] = "";
    if (proto_reply_status (reply, &code, line, sizeof line) != 0 || code == 550 ||
        !reply_is_success (code) || zmsg_size (reply) < 2) {
        int status =
            code == 550 ? -1 : (code && !reply_is_success (code) ? client_cli_exit_status (code) : 1);
        if (status != -1)
            fprintf (stderr, "%s\n", *line ? line : "mailbus-sub: malformed reply to RETR");
        zmsg_destroy (&reply);
        return status;
    }
    zmsg_first (reply);
    zframe_t *message = zmsg_next (reply);
    char name[48];
    s_file_name (dir, id, zframe_data (message), zframe_size (message), name, sizeof name);
    char *error = NULL;
    int rc = outfile_write_durable (dir, name, zframe_data (message), zframe_size (message), path, &error);
    zmsg_destroy (&reply);
    if (rc != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        return 1;
    }
    return 0;
}

/* LEASE size and length of a drain: a lease must outlast writing and syncing a batch */
#define DRAIN_BATCH "10"
#define DRAIN_LEASE_SECONDS "300"

/* --keep: every message is saved and stays in the mailbox */
static int
s_drain_keep (client_t *client, const char *dir)
{
    int status = 0;
    listing_t *listing = listing_fetch (client, &status);
    if (!listing)
        return status;
    for (size_t i = 0; i < listing->count && status == 0; i++) {
        char *path = NULL;
        int rc = drain_save_message (client, listing->entries[i].id, dir, &path);
        if (rc == -1)
            continue; /* another client deleted it meanwhile */
        if (rc != 0) {
            status = rc;
            break;
        }
        printf ("%s\n", path);
        fflush (stdout);
        free (path);
    }
    listing_destroy (&listing);
    return status;
}

/* ACK id: 0 acknowledged (deleted), -1 the lease was lost (another client has the message),
   else the exit status */
static int
s_ack (client_t *client, const char *id)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, id);
    zmsg_t *reply = client_call (client, "ACK", args);
    if (!reply) {
        fprintf (stderr, "mailbus-sub: no answer from the broker to ACK %s\n", id);
        return EX_TEMPFAIL;
    }
    int code = 0;
    char line[1025] = "";
    int status = 1;
    if (proto_reply_status (reply, &code, line, sizeof line) == 0)
        status = code == 550 ? -1 : client_cli_exit_status (code);
    if (status > 0)
        fprintf (stderr, "%s\n", *line ? line : "mailbus-sub: malformed reply to ACK");
    zmsg_destroy (&reply);
    return status;
}

/* The messages are leased (LEASE), so two drains at once never take the same one; each is
   written and synced, then acknowledged (ACK deletes it). Should the lease have run out and
   the ACK fail, another client has the message, and this drain's copy is removed. */
int
drain_run (client_t *client, const char *dir, bool keep)
{
    if (keep)
        return s_drain_keep (client, dir);
    int status = 0;
    while (status == 0 && !zsys_interrupted) {
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, DRAIN_BATCH);
        zmsg_addstr (args, DRAIN_LEASE_SECONDS);
        zmsg_t *reply = client_call (client, "LEASE", args);
        int code = 0;
        char line[1025] = "";
        if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0 || !reply_is_success (code)) {
            fprintf (stderr, "%s\n", reply ? line : "mailbus-sub: no answer from the broker to LEASE");
            status = reply ? client_cli_exit_status (code) : EX_TEMPFAIL;
            zmsg_destroy (&reply);
            break;
        }
        zmsg_first (reply);
        size_t leased = 0;
        for (zframe_t *idf = zmsg_next (reply); idf && status == 0; idf = zmsg_next (reply)) {
            zframe_t *message = zmsg_next (reply);
            if (!message)
                break;
            leased++;
            char *id = zframe_strdup (idf);
            char name[48], *path = NULL, *error = NULL;
            s_file_name (dir, atoll (id), zframe_data (message), zframe_size (message), name, sizeof name);
            if (outfile_write_durable (dir, name, zframe_data (message), zframe_size (message), &path,
                                       &error) != 0) {
                fprintf (stderr, "mailbus-sub: %s\n", error);
                free (error);
                status = 1;
            }
            else {
                /* on disk and synced: now, and only now, it may leave the mailbox */
                int rc = s_ack (client, id);
                if (rc == -1)
                    unlink (path);
                else if (rc == 0) {
                    printf ("%s\n", path);
                    fflush (stdout);
                }
                else
                    status = rc;
            }
            free (path);
            free (id);
        }
        zmsg_destroy (&reply);
        if (leased == 0)
            break; /* nothing left that nobody holds */
    }
    return status;
}
