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
#include "listing.h"
#include "outfile.h"
#include "proto.h"
#include "reply.h"

/* True when path holds exactly data */
static bool
s_same_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return false;
    char *buf = malloc (size + 1);
    size_t got = fread (buf, 1, size + 1, file);
    fclose (file);
    bool same = got == size && memcmp (buf, data, size) == 0;
    free (buf);
    return same;
}

/* <id>.eml; the same message drained again replaces its file. Should another message
   ever come with an id already used in dir (an id the broker handed out again after a
   deletion), it gets <id>-N.eml rather than destroy a message saved earlier. */
static void
s_file_name (const char *dir, int64_t id, const void *data, size_t size, char *name, size_t name_size)
{
    snprintf (name, name_size, "%" PRId64 ".eml", id);
    for (int n = 1; n < 10000; n++) {
        char *path = NULL;
        if (asprintf (&path, "%s/%s", dir, name) < 0)
            return;
        bool free_name = access (path, F_OK) != 0 || s_same_file (path, data, size);
        free (path);
        if (free_name)
            return;
        snprintf (name, name_size, "%" PRId64 "-%d.eml", id, n);
    }
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
        int status = code == 550 ? -1 : (code && !reply_is_success (code) ? call_exit_status (code) : 1);
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

/* DELE id: 0 when it is gone (550: another client deleted it first, which is as good) */
static int
s_delete (client_t *client, int64_t id)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%" PRId64, id);
    zmsg_t *reply = client_call (client, "DELE", args);
    if (!reply) {
        fprintf (stderr, "mailbus-sub: no answer from the broker to DELE %" PRId64 "\n", id);
        return EX_TEMPFAIL;
    }
    int code = 0;
    char line[1025] = "";
    int status = 1;
    if (proto_reply_status (reply, &code, line, sizeof line) == 0)
        status = code == 550 ? 0 : call_exit_status (code);
    if (status != 0)
        fprintf (stderr, "%s\n", *line ? line : "mailbus-sub: malformed reply to DELE");
    zmsg_destroy (&reply);
    return status;
}

int
drain_run (client_t *client, const char *dir, bool keep)
{
    int status = 0;
    listing_t *listing = listing_fetch (client, &status);
    if (!listing)
        return status;
    for (size_t i = 0; i < listing->count && status == 0; i++) {
        int64_t id = listing->entries[i].id;
        char *path = NULL;
        int rc = drain_save_message (client, id, dir, &path);
        if (rc == -1)
            continue; /* another client took it meanwhile */
        if (rc != 0) {
            status = rc;
            break;
        }
        /* on disk and synced: now, and only now, it may leave the mailbox (unless kept there,
           as a POP3 client's "leave messages on the server") */
        if (!keep)
            status = s_delete (client, id);
        printf ("%s\n", path);
        fflush (stdout);
        free (path);
    }
    listing_destroy (&listing);
    return status;
}
