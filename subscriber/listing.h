/*  listing.h — a mailbox as LIST shows it: one entry per message, oldest first. The
    number a user types (read 2, delete 3) is the 1-based position in this order; the id
    is the broker's delivery id (RETR/DELE, the file names of drain). */
#ifndef MAILBUS_LISTING_H
#define MAILBUS_LISTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"

typedef struct {
    int64_t id;
    int64_t size;
    bool seen;
    int64_t time;  /* unix time of delivery */
    char *sender;  /* as the broker has it */
    char *subject; /* raw header value (may hold RFC 2047 encoded words) */
} listing_entry_t;

typedef struct {
    size_t count;
    listing_entry_t *entries;
} listing_t;

/* Parses one LIST data frame "id TAB size TAB state TAB unix-time TAB sender TAB subject".
   Returns 0, or -1 when it is malformed. Touches no socket. */
int listing_parse_line (const char *line, size_t len, listing_entry_t *entry);

/* LIST: returns the listing, or NULL with the reason on stderr and the exit status in *status */
listing_t *listing_fetch (client_t *client, int *status);
void listing_destroy (listing_t **self_p);

/* The entry at a user's position text ("1".."count"); NULL with a message on stderr */
const listing_entry_t *listing_at (const listing_t *self, const char *position);

/* Prints the header line and one line per message (or "no messages") */
void listing_print (const listing_t *self, FILE *out);

/* A copy of text fit for one terminal line: RFC 2047 words decoded, control characters
   (escape sequences included) turned into spaces. Caller frees. */
char *listing_display_text (const char *text);

#endif
