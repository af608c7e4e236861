/*  compose.h — builds the RFC 5322 / MIME message mailbus-pub publishes, with GMime:
    headers, a text/plain UTF-8 body, and attachments (multipart/mixed, base64). The
    result uses CRLF line endings only, as the broker demands (550 5.6.0 otherwise).
    Nothing here touches a socket, so the unit tests call it directly. */
#ifndef MAILBUS_COMPOSE_H
#define MAILBUS_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

typedef struct {
    const char *from;               /* sender address, e.g. alice@demo.test */
    const char *const *to;          /* NULL-terminated addresses for To: (may be NULL) */
    const char *const *cc;          /* NULL-terminated addresses for Cc: (may be NULL) */
    const char *subject;            /* UTF-8, may be NULL */
    const char *body;               /* UTF-8 text, LF or CRLF line endings; NULL: empty */
    size_t body_size;               /* bytes of body */
    const char *const *attachments; /* NULL-terminated file paths (may be NULL) */
    const char *message_id;         /* without <>; NULL makes one in the sender's domain */
    time_t date;                    /* 0: now */
} compose_t;

/* Call once before compose_build (g_mime_init) */
void compose_init (void);
void compose_shutdown (void);

/* Builds the message. Returns the bytes (caller frees, NUL-terminated for convenience) and
   their number in *size; or NULL with a message in *error (caller frees), e.g. when an
   attachment cannot be read. */
char *compose_build (const compose_t *spec, size_t *size, char **error);

/* A copy of data in which every bare LF and every bare CR became CRLF (for --raw files).
   Returns the bytes (caller frees, NUL-terminated) and their number in *size. */
char *compose_crlf (const char *data, size_t len, size_t *size);

/* A --raw file as the broker takes it (RFC 5322 in canonical form): compose_crlf, then
   header_complete (a final CRLF, the missing empty line after the header fields). *mended_at
   is the offset of the empty line put in, or (size_t)-1 when none was needed.
   Returns the bytes (caller frees, NUL-terminated) and their number in *size. */
char *compose_raw (const char *data, size_t len, size_t *size, size_t *mended_at);

/* True when every CR in data is followed by LF and every LF follows a CR */
bool compose_is_crlf (const char *data, size_t len);

/* The MIME type for an attachment: a small table by extension, then GIO's guess from the
   name and content, then application/octet-stream. Caller frees. */
char *compose_content_type (const char *filename, const void *data, size_t size);

#endif
