/*  listing.c — LIST, parsed and printed. */
#include "listing.h"

#include <assert.h>
#include <errno.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "call.h"
#include "client_cli.h"
#include "proto.h"
#include "reply.h"

static int
s_parse_int (const char *text, int64_t *value)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno || end == text || *end || v < 0)
        return -1;
    *value = v;
    return 0;
}

int
listing_parse_line (const char *line, size_t len, listing_entry_t *entry)
{
    memset (entry, 0, sizeof *entry);
    char *copy = strndup (line, len);
    char *fields[6] = {0};
    char *p = copy;
    /* the subject is the rest of the line: it is the last field, whatever it holds */
    for (int i = 0; i < 6 && p; i++) {
        fields[i] = p;
        char *tab = i < 5 ? strchr (p, '\t') : NULL;
        if (tab)
            *tab = '\0';
        p = tab ? tab + 1 : NULL;
    }
    int rc = -1;
    if (fields[5] && s_parse_int (fields[0], &entry->id) == 0 && s_parse_int (fields[1], &entry->size) == 0 &&
        s_parse_int (fields[3], &entry->time) == 0 &&
        (strcmp (fields[2], "new") == 0 || strcmp (fields[2], "seen") == 0)) {
        entry->seen = strcmp (fields[2], "seen") == 0;
        entry->sender = strdup (fields[4]);
        entry->subject = strdup (fields[5]);
        rc = 0;
    }
    free (copy);
    return rc;
}

/* Appends the entries of one LIST reply to self */
static void
s_add_entries (listing_t *self, zmsg_t *reply)
{
    listing_entry_t *grown = realloc (self->entries, (self->count + zmsg_size (reply)) * sizeof *grown);
    assert (grown);
    self->entries = grown;
    zmsg_first (reply);
    for (zframe_t *frame = zmsg_next (reply); frame; frame = zmsg_next (reply)) {
        listing_entry_t *entry = &self->entries[self->count];
        if (listing_parse_line ((const char *)zframe_data (frame), zframe_size (frame), entry) == 0)
            self->count++;
        else
            fprintf (stderr, "mailbus-sub: skipped a malformed LIST line\n");
    }
}

/* One page: LIST after (the broker's default page size). The reply, with *next the id the next
   page starts after (0 when this was the last); NULL with the reason on stderr and the exit
   status in *status, except a first page refused 501: a broker from before paging (*status 0) */
static zmsg_t *
s_list_page (client_t *client, int64_t after, int64_t *next, int *status)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%lld", (long long)after);
    zmsg_t *reply = client_call (client, "LIST", args);
    char line[1025] = "";
    int code = 0;
    *status = 0;
    if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0 || !reply_is_success (code)) {
        zmsg_destroy (&reply);
        if (after == 0 && code == 501)
            return NULL;
        fprintf (stderr, "%s\n", code ? line : "mailbus-sub: no answer from the broker to LIST");
        *status = code ? client_cli_exit_status (code) : EX_TEMPFAIL;
        return NULL;
    }
    const char *more = strstr (line, "more after ");
    *next = more ? strtoll (more + strlen ("more after "), NULL, 10) : 0;
    return reply;
}

listing_t *
listing_fetch (client_t *client, int *status)
{
    listing_t *self = calloc (1, sizeof *self);
    int64_t after = 0, next = 0;
    zmsg_t *reply;
    /* page by page: the broker never builds one reply of a whole large mailbox */
    while ((reply = s_list_page (client, after, &next, status)) != NULL) {
        s_add_entries (self, reply);
        zmsg_destroy (&reply);
        if (next <= after)
            return self;
        after = next;
    }
    /* an older broker: its LIST takes no page and sends the whole mailbox */
    if (*status == 0 && (reply = call_verb (client, "LIST", NULL, status)) != NULL) {
        s_add_entries (self, reply);
        zmsg_destroy (&reply);
        return self;
    }
    listing_destroy (&self);
    return NULL;
}

void
listing_destroy (listing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    listing_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->entries[i].sender);
        free (self->entries[i].subject);
    }
    free (self->entries);
    free (self);
    *self_p = NULL;
}

const listing_entry_t *
listing_at (const listing_t *self, const char *position)
{
    char *end = NULL;
    errno = 0;
    long long n = position ? strtoll (position, &end, 10) : 0;
    if (!position || errno || end == position || *end) {
        fprintf (stderr, "mailbus-sub: \"%s\" is not a message number (see mailbus-sub list)\n",
                 position ? position : "");
        return NULL;
    }
    if (n < 1 || (unsigned long long)n > self->count) {
        if (self->count == 0)
            fprintf (stderr, "mailbus-sub: no message %lld: the mailbox is empty\n", n);
        else if (self->count == 1)
            fprintf (stderr, "mailbus-sub: no message %lld: the mailbox holds only message 1\n", n);
        else
            fprintf (stderr, "mailbus-sub: no message %lld: the mailbox holds messages 1 to %zu\n", n,
                     self->count);
        return NULL;
    }
    return &self->entries[n - 1];
}

char *
listing_display_text (const char *text)
{
    char *decoded = g_mime_utils_header_decode_text (NULL, text ? text : "");
    char *out = strdup (decoded ? decoded : "");
    g_free (decoded);
    for (unsigned char *p = (unsigned char *)out; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

void
listing_print (const listing_t *self, FILE *out)
{
    if (self->count == 0) {
        fprintf (out, "no messages\n");
        return;
    }
    fprintf (out, "%4s %8s %9s  %-28s %-32s %s\n", "#", "id", "size", "from", "subject", "state");
    for (size_t i = 0; i < self->count; i++) {
        const listing_entry_t *entry = &self->entries[i];
        char *sender = listing_display_text (entry->sender);
        char *subject = listing_display_text (entry->subject);
        fprintf (out, "%4zu %8lld %9lld  %-28s %-32s %s\n", i + 1, (long long)entry->id,
                 (long long)entry->size, sender, subject, entry->seen ? "seen" : "new");
        free (sender);
        free (subject);
    }
}
