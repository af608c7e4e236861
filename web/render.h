/*  render.h — a stored message (bytes from anyone) as the webmail shows it, through GMime:
    the headers decoded, the MIME leaves in depth-first order, each a text, html or
    attachment part; the text parts decoded to UTF-8 as JSON, and any leaf's decoded bytes
    for the HTML frame and the attachment download. Touches no socket: fuzzed (fuzz_web). */
#ifndef MAILBUS_WEB_RENDER_H
#define MAILBUS_WEB_RENDER_H

#include <stddef.h>

#include "json.h"

/* Call once (g_mime_init) */
void render_init (void);
void render_shutdown (void);

/* Appends {"from":…,"to":…,"cc":…,"subject":…,"date":…,"text":…,"parts":[{"index","kind",
   "type","filename","size"}…]} for the message to out. 0, or -1 when GMime cannot make a
   message of the bytes (out unchanged). */
int render_message_json (const char *data, size_t size, json_t *out);

/* render_part's and render_html's answer when memory ran out */
#define RENDER_NO_MEMORY -2

/* The decoded bytes of leaf number index (as in "parts"): caller frees *bytes, *type (a MIME
   type) and *filename (a safe name: no path, no control or quote characters; "part-N" when
   the part has none). 0, or -1 when there is no such leaf, or RENDER_NO_MEMORY. */
int render_part (const char *data, size_t size, int index, char **bytes, size_t *len, char **type,
                 char **filename);

/* The text of leaf number index when it is text/html, decoded to UTF-8 (caller frees): 0, or
   -1 when there is no such leaf or it is no HTML text, or RENDER_NO_MEMORY */
int render_html (const char *data, size_t size, int index, char **text);

#endif
