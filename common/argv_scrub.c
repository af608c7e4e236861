/*  argv_scrub.c — overwriting a secret in the command line in place. */
#include "argv_scrub.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void
argv_scrub (char *arg, size_t offset, size_t len)
{
    assert (arg);
    size_t total = strlen (arg);
    if (len == 0 || offset >= total)
        return;
    if (len > total - offset)
        len = total - offset;
    arg[offset] = '*';
    /* the tail, with its NUL, one byte after the star; then NULs over what is left */
    memmove (arg + offset + 1, arg + offset + len, total - offset - len + 1);
    size_t now = total - len + 1;
    /* volatile: the compiler must not drop stores it thinks nobody reads */
    volatile char *tail = arg + now;
    for (size_t i = 0; i < total - now; i++)
        tail[i] = '\0';
}

void
argv_scrub_all (char *arg)
{
    argv_scrub (arg, 0, strlen (arg));
}

char *
argv_take_secret (char *arg)
{
    char *copy = strdup (arg);
    argv_scrub_all (arg);
    return copy;
}

void
argv_secret_free (char **secret_p)
{
    assert (secret_p);
    if (*secret_p) {
        sodium_memzero (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}
