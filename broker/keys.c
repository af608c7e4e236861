/*  keys.c — the broker's CURVE key pair. */
#include "keys.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

char *
keys_path (const char *db)
{
    const char *slash = strrchr (db, '/');
    return slash ? zsys_sprintf ("%.*s/broker.key", (int)(slash - db), db) : strdup ("broker.key");
}

/* The secret file must be the owner's alone: anyone who reads it can be the broker */
static int
s_check_secret_mode (const char *secret, char **error)
{
    struct stat st;
    if (stat (secret, &st) != 0)
        return 0;
    if (st.st_mode & 077) {
        *error = zsys_sprintf ("%s is readable by others (mode %03o): chmod 600 it, or remove both key "
                               "files to make a new pair",
                               secret, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

static zcert_t *
s_create (const char *path, char **error)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "mailbus-broker");
    /* zcert_save writes the secret file 0600 itself; the public one is meant to be shared */
    if (!cert || zcert_save (cert, path) != 0 || chmod (path, 0644) != 0) {
        *error = zsys_sprintf ("cannot write the broker's key pair %s: %s", path, strerror (errno));
        zcert_destroy (&cert);
        return NULL;
    }
    return cert;
}

zcert_t *
keys_load (const char *db, bool create, char **error)
{
    char *path = keys_path (db);
    char *secret = zsys_sprintf ("%s_secret", path);
    zcert_t *cert = NULL;
    if (zsys_file_exists (secret)) {
        if (s_check_secret_mode (secret, error) == 0) {
            cert = zcert_load (path);
            if (!cert || zcert_secret_txt (cert)[0] == '\0' ||
                streq (zcert_secret_txt (cert), "0000000000000000000000000000000000000000")) {
                zcert_destroy (&cert);
                *error = zsys_sprintf ("cannot read the broker's key pair from %s", secret);
            }
        }
    }
    else if (create)
        cert = s_create (path, error);
    else
        *error = zsys_sprintf ("no key pair at %s: the broker makes it on its first start", secret);
    free (secret);
    free (path);
    return cert;
}
