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
#include "mb_limits.h"
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

/* LEASE size (MAX_LEASE_COUNT) and length of a drain: a lease must outlast writing and syncing a batch */
#define DRAIN_BATCH "100"
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

/* The leased messages of reply written and synced into dir, then acknowledged in as few ACKs
   as CALL_ACK_BYTES allows (call_ack_all; ACK deletes them): each path printed once
   acknowledged, the copy of a message whose lease was lost removed. *leased: how many the reply held. 0, or
   the exit status. */
static int
s_drain_leased (client_t *client, const char *dir, zmsg_t *reply, size_t *leased)
{
    char *paths[MAX_LEASE_COUNT], *ids[MAX_LEASE_COUNT], *lost = NULL;
    size_t sizes[MAX_LEASE_COUNT], n = 0, answered = 0;
    int status = 0;
    zmsg_first (reply);
    for (zframe_t *idf = zmsg_next (reply); idf && n < MAX_LEASE_COUNT; idf = zmsg_next (reply)) {
        zframe_t *message = zmsg_next (reply);
        if (!message)
            break;
        (*leased)++;
        char *id = zframe_strdup (idf), name[48], *error = NULL;
        paths[n] = NULL;
        s_file_name (dir, atoll (id), zframe_data (message), zframe_size (message), name, sizeof name);
        if (outfile_write_durable (dir, name, zframe_data (message), zframe_size (message), &paths[n],
                                   &error) != 0) {
            fprintf (stderr, "mailbus-sub: %s\n", error);
            free (error);
            free (id);
            status = 1;
            break;
        }
        sizes[n] = zframe_size (message);
        ids[n++] = id;
    }
    /* on disk and synced: now, and only now, they may leave the mailbox */
    int rc = call_ack_all (client, ids, sizes, n, &answered, &lost);
    for (size_t i = 0; i < n; i++) {
        if (i < answered && call_id_in (lost, ids[i]))
            unlink (paths[i]);
        else if (i < answered)
            printf ("%s\n", paths[i]);
        free (paths[i]);
        free (ids[i]);
    }
    fflush (stdout);
    free (lost);
    return status ? status : rc;
}

/* The messages are leased (LEASE), so two drains at once never take the same one; a batch is
   written and synced, then acknowledged in one ACK (it deletes them). Should a lease have run
   out, another client has that message, and this drain's copy is removed. */
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
        size_t leased = 0;
        status = s_drain_leased (client, dir, reply, &leased);
        zmsg_destroy (&reply);
        if (leased == 0)
            break; /* nothing left that nobody holds */
    }
    return status;
}
