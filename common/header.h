/*  header.h — finds a field in the header section of an RFC 5322 message without
    parsing MIME: what the broker needs to index a message (Subject, Message-ID) at
    full publish speed. Programs that show or build messages use GMime instead. */
#ifndef MAILBUS_HEADER_H
#define MAILBUS_HEADER_H

#include <stddef.h>

/* Length of the header section including the empty line that ends it (CRLF CRLF),
   or 0 when the message has no complete header section. */
size_t header_section_length (const char *msg, size_t len);

/* Where the empty line between header and body goes in a message that lacks it (RFC 5322 2.1
   makes the body optional, and with it the empty line; the broker wants the line). As
   Postfix's cleanup does, the first line that is neither a header field (a name, optional
   white space, a colon: RFC 5322 2.2, 4.5.3) nor a field's continuation starts the body.
   Returns that offset: 0 when the message has no field at all, len when it is fields only;
   or len + 1 when an empty line ends its fields already. Lines end in CRLF. */
size_t header_missing_empty_line (const char *msg, size_t len);

/* Completes a message whose lines end in CRLF into the form the broker takes: a final CRLF
   when the last line has none, and the missing empty line where header_missing_empty_line
   puts it. msg is malloc'd and becomes the result's (it may move); *len is updated and the
   result NUL-terminated. *mended_at is where the empty line went, or (size_t)-1. Used by
   every client that takes mail from elsewhere (mailbus-pub --raw, the POP3 fetcher). NULL
   when msg is NULL or memory ran out (msg freed). */
char *header_complete (char *msg, size_t *len, size_t *mended_at);

/* Finds the first field called name (case-insensitive) in the header section; unfolds it
   (RFC 5322 2.2.3), strips surrounding white space, turns control characters into spaces
   and writes at most size-1 bytes into out. Returns 1 when found, 0 when not. */
int header_find (const char *msg, size_t len, const char *name, char *out, size_t size);

/* Counts the fields called name (case-insensitive): the loop guard counts Received: */
int header_count (const char *msg, size_t len, const char *name);

/* The same over a header section already measured (msg, header_section_length octets):
   the broker looks several fields up in every message it stores */
int header_find_in (const char *msg, size_t hlen, const char *name, char *out, size_t size);
int header_count_in (const char *msg, size_t hlen, const char *name);

#endif
