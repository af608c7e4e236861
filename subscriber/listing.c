/*  listing.c — LIST, parsed and printed. */
#include "listing.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

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

listing_t *
listing_fetch (client_t *client, int *status)
{
    zmsg_t *reply = call_verb (client, "LIST", NULL, status);
    if (!reply)
        return NULL;
    listing_t *self = calloc (1, sizeof *self);
    self->entries = calloc (zmsg_size (reply), sizeof (listing_entry_t));
    zmsg_first (reply);
    for (zframe_t *frame = zmsg_next (reply); frame; frame = zmsg_next (reply)) {
        listing_entry_t *entry = &self->entries[self->count];
        if (listing_parse_line ((const char *)zframe_data (frame), zframe_size (frame), entry) == 0)
            self->count++;
        else
            fprintf (stderr, "mailbus-sub: skipped a malformed LIST line\n");
    }
    zmsg_destroy (&reply);
    return self;
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
