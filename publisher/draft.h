/*  draft.h — the message mailbus-pub sends: a ready RFC 5322 file (--raw), or one composed
    (GMime, compose.h) from the options and, with -i, the answers typed on the terminal. */
#ifndef MAILBUS_DRAFT_H
#define MAILBUS_DRAFT_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *from;
    GPtrArray *to;          /* g_strdup'ed addresses */
    GPtrArray *cc;          /* g_strdup'ed addresses */
    GPtrArray *attachments; /* g_strdup'ed file paths */
    char *subject;          /* malloc'ed; NULL: none (-i asks) */
    char *body;             /* malloc'ed; NULL: from stdin, or -i asks */
} draft_t;

/* A draft from the command line: each of to and cc a NULL-terminated list of comma-separated
   address lists, attachments a NULL-terminated list of paths; subject and body copied.
   Destroy with draft_destroy. */
draft_t *draft_new (const char *const *to, const char *const *cc, const char *const *attachments,
                    const char *subject, const char *body);
void draft_destroy (draft_t **self_p);

/* The message bytes, strictly CRLF: the file raw as it is (LF mended to CRLF, a missing empty
   line after the header put in, with a word on stderr), else composed, after asking on the
   terminal for what is missing when interactive, the body read from stdin when none was
   given. NULL with the reason on stderr. Caller frees. */
char *draft_message (draft_t *self, const char *raw, bool interactive, size_t *size);

#endif
