/*  address.h — mail addresses (RFC 5321 4.1.2 Mailbox, dot-atom form only).
    Parses and normalises "local@domain"; quoted local parts, source routes and
    address literals are refused: mailbus mailboxes never need them. */
#ifndef MAILBUS_ADDRESS_H
#define MAILBUS_ADDRESS_H

#include <stddef.h>

#include "mb_limits.h"

typedef struct {
    char local[MAX_LOCAL_PART + 1];
    char domain[MAX_DOMAIN + 1];
    char full[MAX_ADDRESS + 1]; /* normalised: lower case "local@domain" */
} address_t;

/* Parses len bytes of text (which may hold NULs: they are an error). Fills *addr.
   Returns 0, or -1 with a static reason in *error. Optional enclosing <> are accepted. */
int address_parse (const char *text, size_t len, address_t *addr, const char **error);

/* True when domain is one of the NULL-terminated list (case-insensitive) */
int address_domain_in (const address_t *addr, const char *const *domains);

#endif
