/*  argv_scrub.h — takes a secret out of the command line after the options are parsed, so
    that ps and /proc/PID/cmdline no longer show it. The kernel shows the bytes of the
    argument area as they are now, so overwriting them in place is enough; a password stays
    visible only between exec and the end of option parsing, which is why --password-stdin
    and password files remain the better ways. */
#ifndef MAILBUS_ARGV_SCRUB_H
#define MAILBUS_ARGV_SCRUB_H

#include <stddef.h>

/* Replaces the len bytes at offset in arg (a string of argv, e.g. an optarg) by a single
   '*', moves what follows them to the left and fills the freed end with NUL bytes:
   "-psecret" becomes "-p*", "URL USER secret BOX" becomes "URL USER * BOX". len 0 changes
   nothing. Call it only once the secret has been copied. */
void argv_scrub (char *arg, size_t offset, size_t len);

/* argv_scrub of the whole string */
void argv_scrub_all (char *arg);

/* A copy of arg (caller zeroes and frees it), arg itself scrubbed: what an option handler
   does with a password, e.g. case 'p': password = argv_take_secret (optarg) */
char *argv_take_secret (char *arg);

/* Zeroes and frees a secret, then sets *secret_p to NULL; safe on NULL */
void argv_secret_free (char **secret_p);

#endif
