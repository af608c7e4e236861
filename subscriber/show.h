/*  show.h — a retrieved message through GMime: what `read N` prints (headers with RFC 2047
    words decoded, the text/plain body decoded to UTF-8, the attachments with their sizes)
    and what `save N DIR` writes (each attachment decoded, under a safe name). */
#ifndef MAILBUS_SHOW_H
#define MAILBUS_SHOW_H

#include <stddef.h>
#include <stdio.h>

typedef struct show_t show_t;

/* Call once before show_new (g_mime_init) */
void show_init (void);
void show_shutdown (void);

/* Parses the message bytes; NULL when GMime cannot make a message of them */
show_t *show_new (const char *data, size_t size);
void show_destroy (show_t **self_p);

/* Prints Date, From, To, Cc, Subject, the body and the attachment list */
void show_print (show_t *self, FILE *out);

/* How many attachments the message has */
size_t show_attachment_count (show_t *self);

/* Writes every attachment, decoded, into dir (never overwriting a file: a suffix is added)
   and prints each path written to out. Returns 0, or -1 with *error (caller frees). */
int show_save_attachments (show_t *self, const char *dir, FILE *out, char **error);

#endif
