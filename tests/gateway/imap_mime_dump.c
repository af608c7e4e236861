/*  imap_mime_dump.c — prints what gateway/imap/imap_mime.h makes of message files, for
    test_imap_mime_dovecot.py to compare with Dovecot's answer to the same FETCH:
        imap-mime-dump FILE [SECTION ...]
    prints "ENVELOPE n", "BODYSTRUCTURE n" and "BODY n", each a line followed by n octets, then
    for each SECTION ("", "1.2", "HEADER", "1.TEXT", "2.MIME", "HEADER.FIELDS:From,To", a "B"
    first for BINARY) a line "SECTION n" and the n octets (n is -1 for UNKNOWN-CTE, NIL for
    none). */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_mime.h"

static const struct {
    const char *name;
    imap_section_kind_t kind;
} s_kinds[] = {
    {"HEADER.FIELDS.NOT", IMAP_SECTION_FIELDS_NOT},
    {"HEADER.FIELDS", IMAP_SECTION_FIELDS},
    {"HEADER", IMAP_SECTION_HEADER},
    {"TEXT", IMAP_SECTION_TEXT},
    {"MIME", IMAP_SECTION_MIME},
};

/* "1.2.HEADER.FIELDS:From,To" into s (fields point into spec, which is changed) */
static void
s_section (char *spec, imap_section_t *s)
{
    memset (s, 0, sizeof *s);
    if (*spec == 'B')
        s->binary = true, spec++;
    char *fields = strchr (spec, ':');
    if (fields)
        *fields++ = '\0';
    while (*spec >= '0' && *spec <= '9' && s->depth < IMAP_MAX_PART_DEPTH) {
        s->part[s->depth++] = (uint32_t)strtoul (spec, &spec, 10);
        if (*spec == '.')
            spec++;
    }
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp (spec, s_kinds[i].name) == 0)
            s->kind = s_kinds[i].kind;
    for (char *f = fields ? strtok (fields, ",") : NULL; f && s->nfields < IMAP_MAX_FIELDS;
         f = strtok (NULL, ","))
        s->fields[s->nfields++] = f;
}

static void
s_print (const char *label, int rc, buffer_t *b)
{
    if (rc == 0) {
        printf ("%s %zu\n", label, b->size);
        fwrite (b->data, 1, b->size, stdout);
    }
    else
        printf ("%s ERROR\n", label);
    buffer_free (b);
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: imap-mime-dump FILE [SECTION ...]\n");
        return 2;
    }
    gchar *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents (argv[1], &data, &len, NULL))
        return 1;
    imap_mime_t *mime = imap_mime_new (data, len);
    buffer_t b = BUFFER_INIT (0);
    s_print ("ENVELOPE", imap_mime_envelope (mime, &b, false), &b);
    s_print ("BODYSTRUCTURE", imap_mime_bodystructure (mime, &b, true, false), &b);
    s_print ("BODY", imap_mime_bodystructure (mime, &b, false, false), &b);
    for (int i = 2; i < argc; i++) {
        char *spec = strdup (argv[i]);
        imap_section_t s;
        s_section (spec, &s);
        const char *out;
        size_t n;
        char *owned;
        int rc = imap_mime_section (mime, &s, &out, &n, &owned);
        if (rc == 0) {
            printf ("%s %zu\n", argv[i], n);
            fwrite (out, 1, n, stdout);
        }
        else
            printf ("%s %s\n", argv[i], rc > 0 ? "NIL" : "-1");
        free (owned);
        free (spec);
    }
    imap_mime_destroy (&mime);
    g_free (data);
    return 0;
}
