/*  draft.c — a ready message or one composed from the options and the terminal. */
#include "draft.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compose.h"
#include "prompt.h"

static GPtrArray *
s_addresses (const char *const *lists)
{
    GPtrArray *addresses = g_ptr_array_new_with_free_func (g_free);
    for (size_t i = 0; lists && lists[i]; i++)
        prompt_split_addresses (lists[i], addresses);
    return addresses;
}

draft_t *
draft_new (const char *const *to, const char *const *cc, const char *const *attachments, const char *subject,
           const char *body)
{
    draft_t *self = calloc (1, sizeof *self);
    self->to = s_addresses (to);
    self->cc = s_addresses (cc);
    self->attachments = g_ptr_array_new_with_free_func (g_free);
    for (size_t i = 0; attachments && attachments[i]; i++)
        g_ptr_array_add (self->attachments, g_strdup (attachments[i]));
    self->subject = subject ? strdup (subject) : NULL;
    self->body = body ? strdup (body) : NULL;
    return self;
}

void
draft_destroy (draft_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    draft_t *self = *self_p;
    g_ptr_array_free (self->to, TRUE);
    g_ptr_array_free (self->cc, TRUE);
    g_ptr_array_free (self->attachments, TRUE);
    free (self->subject);
    free (self->body);
    free (self);
    *self_p = NULL;
}

/* Reads a whole file (or stream) into a malloc'ed, NUL-terminated buffer */
static char *
s_read_all (FILE *in, size_t *size)
{
    size_t cap = 8192, n = 0;
    char *data = malloc (cap);
    size_t got;
    while ((got = fread (data + n, 1, cap - n - 1, in)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            data = realloc (data, cap);
        }
    }
    if (ferror (in)) {
        free (data);
        return NULL;
    }
    data[n] = '\0';
    *size = n;
    return data;
}

/* --raw FILE.eml */
static char *
s_raw_message (const char *raw, size_t *size)
{
    FILE *file = fopen (raw, "rb");
    if (!file) {
        fprintf (stderr, "mailbus-pub: cannot open %s: %s\n", raw, strerror (errno));
        return NULL;
    }
    size_t len = 0;
    char *data = s_read_all (file, &len);
    fclose (file);
    if (!data || len == 0) {
        fprintf (stderr, "mailbus-pub: %s is empty or unreadable\n", raw);
        free (data);
        return NULL;
    }
    size_t mended_at = 0;
    char *message = compose_raw (data, len, size, &mended_at);
    free (data);
    if (mended_at != (size_t)-1)
        /* RFC 5322 2.1: header fields, an empty line, the body; mended as Postfix does */
        fprintf (stderr,
                 "mailbus-pub: %s: no empty line after the header fields; one was put in at octet %zu\n", raw,
                 mended_at);
    return message;
}

/* The body: -m's, or standard input's. 0, or -1 with the reason on stderr */
static int
s_body (draft_t *self, size_t *body_size)
{
    if (self->body) {
        *body_size = strlen (self->body);
        return 0;
    }
    if (isatty (STDIN_FILENO))
        fprintf (stderr, "mailbus-pub: type the body, end with Ctrl-D\n");
    self->body = s_read_all (stdin, body_size);
    if (!self->body) {
        fprintf (stderr, "mailbus-pub: cannot read the body from standard input\n");
        return -1;
    }
    return 0;
}

/* A NULL-terminated view of list, for compose_t; undone by s_unterminate */
static const char *const *
s_terminate (GPtrArray *list)
{
    g_ptr_array_add (list, NULL);
    return (const char *const *)list->pdata;
}

static void
s_unterminate (GPtrArray *list)
{
    g_ptr_array_remove_index (list, list->len - 1);
}

static char *
s_composed_message (draft_t *self, size_t body_size, size_t *size)
{
    compose_t spec = {
        .from = self->from,
        .to = s_terminate (self->to),
        .cc = s_terminate (self->cc),
        .subject = self->subject,
        .body = self->body,
        .body_size = body_size,
        .attachments = s_terminate (self->attachments),
    };
    char *error = NULL;
    char *message = compose_build (&spec, size, &error);
    s_unterminate (self->to);
    s_unterminate (self->cc);
    s_unterminate (self->attachments);
    if (!message) {
        fprintf (stderr, "mailbus-pub: %s\n", error);
        free (error);
    }
    return message;
}

char *
draft_message (draft_t *self, const char *raw, bool interactive, size_t *size)
{
    assert (self && size);
    if (raw)
        return s_raw_message (raw, size);
    if (interactive &&
        prompt_message (stdin, stderr, self->to, &self->subject, self->attachments, &self->body) != 0)
        return NULL;
    size_t body_size = 0;
    if (s_body (self, &body_size) != 0)
        return NULL;
    return s_composed_message (self, body_size, size);
}
