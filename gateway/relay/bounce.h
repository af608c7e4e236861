/*  bounce.h — delivery status notifications (RFC 3464): the message a sender gets back when
    relaying failed for good, built with GMime as multipart/report (RFC 6522). */
#ifndef MAILBUS_BOUNCE_H
#define MAILBUS_BOUNCE_H

#include <stddef.h>

typedef struct {
    const char *reporting_host; /* Reporting-MTA */
    const char *postmaster;     /* From: of the bounce, e.g. MAILER-DAEMON@demo.test */
    const char *sender;         /* the original sender: To: of the bounce */
    const char *recipient;      /* the recipient that failed */
    const char *diagnostic;     /* the remote server's reply, e.g. "550 5.1.1 no such user" */
    const char *original;       /* the original message (its headers are returned) */
    size_t original_size;
} bounce_t;

/* Builds the DSN as RFC 5322 bytes with CRLF line endings (caller frees); NULL on failure.
 *size receives the length. */
char *bounce_build (const bounce_t *bounce, size_t *size);

/* The RFC 3463 status in a reply line ("550 5.1.1 ..." -> "5.1.1"), or a default from its code */
void bounce_status (const char *diagnostic, char *status, size_t size);

#endif
