/*  imap_mime.h — what IMAP shows of a stored message, from GMime's parse (never a hand-written
    MIME parser): ENVELOPE and BODYSTRUCTURE (RFC 9051 7.5.2), the octets of a BODY[section] or
    BINARY[section], and whether a message matches a SEARCH. Touches no socket and no broker:
    the server fetches the message, the unit tests and fuzz_imap_mime give it bytes. */
#ifndef MAILBUS_IMAP_MIME_H
#define MAILBUS_IMAP_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"
#include "imap_parse.h"

/* A stored message (RFC 5322, CRLF line endings, exactly as the broker keeps it), parsed once
   and asked several things. data is not copied: the caller keeps it alive until destroy. A
   message GMime cannot make sense of still answers: as one text/plain part, as RFC 9051 asks
   servers to do with malformed MIME. */
typedef struct imap_mime_t imap_mime_t;

imap_mime_t *imap_mime_new (const char *data, size_t len);
void imap_mime_destroy (imap_mime_t **self_p);

/* Appends the ENVELOPE list "(date subject from sender reply-to to cc bcc in-reply-to
   message-id)" to out. Sender and Reply-To default to From (RFC 9051 7.5.2); group syntax as
   RFC 9051 says. utf8: strings may carry 8-bit UTF-8 (UTF8=ACCEPT enabled); otherwise a header
   with 8-bit octets is given as the RFC 2047 encoded-word text it was, or as it was stored.
   0, or -1 (out's bound). */
int imap_mime_envelope (imap_mime_t *self, buffer_t *out, bool utf8);

/* Appends BODYSTRUCTURE (extensible: true) or BODY (false) to out: for each leaf type, subtype,
   parameter list, id, description, encoding, size in octets, and lines for text/ and
   message/rfc822 (with the inner envelope and body for the latter); multiparts their parts
   then subtype. 0 or -1. */
int imap_mime_bodystructure (imap_mime_t *self, buffer_t *out, bool extensible, bool utf8);

/* The octets of a section (before any <partial>): BODY[] the whole message; [HEADER] the header
   with its blank line; [TEXT] the body; [HEADER.FIELDS (..)] the named fields (as stored,
   folded lines kept) and a blank line; [n] a part's content (its encoded octets, or for BINARY
   the decoded ones); [n.MIME] a part's own header. *data points into the message or into
   *owned (a buffer the caller frees, NULL when none was needed). Returns 0, 1 when the section
   does not exist (RFC 9051: the response is then an empty string, or NIL), -1 when BINARY met
   an encoding it cannot decode (the response is "NO [UNKNOWN-CTE]"). */
int imap_mime_section (imap_mime_t *self, const imap_section_t *section, const char **data, size_t *len,
                       char **owned);

/* What SEARCH looks at for one message */
typedef struct {
    uint32_t seq, uid;
    unsigned flags;        /* IMAP_SEEN ... */
    uint64_t size;         /* RFC822.SIZE */
    int64_t internal_date; /* unix time the broker delivered it */
    imap_mime_t *mime;     /* NULL when imap_search_needs_message said no */
} imap_search_msg_t;

/* Whether evaluating search needs the message itself (a header, body or text key, or a SENT*
   date); when it does not, the server can search from the folder's listing alone */
bool imap_search_needs_message (const imap_search_t *search);

/* Whether msg matches search. max_seq and max_uid give "*" its value. Strings match as RFC 9051
   6.4.4 says: substring, case-insensitive (ASCII), header values after RFC 2047 decoding, BODY
   and TEXT over the decoded text parts. */
bool imap_search_match (const imap_search_t *search, const imap_search_msg_t *msg, uint32_t max_seq,
                        uint32_t max_uid);

#endif
