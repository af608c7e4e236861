/*  admin_paths.c — the lock file and the admin endpoint derived from the database path. */
#include "admin_paths.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

char *
admin_lock_path (const char *db)
{
    assert (db);
    return zsys_sprintf ("%s.lock", db);
}

/* unix(7): sun_path holds 108 octets, its NUL included */
#define ADMIN_SUN_PATH_MAX 107

/* The private folder for admin sockets whose path would not fit beside their database:
   $XDG_RUNTIME_DIR/mailbus, else /tmp/mailbus-UID. Made 0700 when missing; refused unless it
   is a real folder of ours that nobody else may use (/tmp is everybody's: anyone could have
   made it first). NULL with *error. */
static char *
s_runtime_dir (char **error)
{
    const char *runtime = getenv ("XDG_RUNTIME_DIR");
    char *dir = runtime && *runtime == '/' ? zsys_sprintf ("%s/mailbus", runtime)
                                           : zsys_sprintf ("/tmp/mailbus-%u", (unsigned)geteuid ());
    struct stat st;
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        *error = zsys_sprintf ("cannot make %s: %s", dir, strerror (errno));
    else if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        *error =
            zsys_sprintf ("%s is not a folder of this user's: refusing to put the admin socket there", dir);
    else if (st.st_mode & 077)
        *error = zsys_sprintf ("%s has mode %04o, others may use it: refusing to put the admin socket there "
                               "(chmod 700 it)",
                               dir, (unsigned)(st.st_mode & 07777));
    if (*error)
        zstr_free (&dir);
    return dir;
}

char *
admin_endpoint (const char *db, char **error)
{
    assert (db);
    assert (error);
    char dir[PATH_MAX];
    const char *slash = strrchr (db, '/');
    const char *base = slash ? slash + 1 : db;
    char *parent = slash ? strndup (db, (size_t)(slash - db) + (slash == db)) : strdup (".");
    char *path = realpath (parent, dir) ? zsys_sprintf ("%s/%s", dir, base) : strdup (db);
    free (parent);
    char *endpoint = NULL;
    if (strlen (path) + strlen (".admin") <= ADMIN_SUN_PATH_MAX)
        endpoint = zsys_sprintf ("ipc://%s.admin", path); /* beside the database */
    else {
        /* named by a hash of the database's real path: the broker and the CLI agree on it */
        char *runtime = s_runtime_dir (error);
        unsigned char hash[16];
        char hex[2 * sizeof hash + 1];
        crypto_generichash (hash, sizeof hash, (const unsigned char *)path, strlen (path), NULL, 0);
        sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
        if (runtime && strlen (runtime) + 1 + strlen (hex) + strlen (".admin") > ADMIN_SUN_PATH_MAX)
            *error = zsys_sprintf ("the admin socket does not fit in %s (a path of at most %d octets)",
                                   runtime, ADMIN_SUN_PATH_MAX);
        else if (runtime)
            endpoint = zsys_sprintf ("ipc://%s/%s.admin", runtime, hex);
        free (runtime);
    }
    free (path);
    return endpoint;
}

int
admin_lock (const char *db)
{
    assert (db);
    char *path = admin_lock_path (db);
    store_dir_create (path); /* first start: var/ does not exist yet (made 0700) */
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf (stderr, "error: cannot open %s: %s\n", path, strerror (errno));
        free (path);
        return ADMIN_LOCK_ERROR;
    }
    free (path);
    if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close (fd);
        return busy ? ADMIN_LOCK_BUSY : ADMIN_LOCK_ERROR;
    }
    return fd;
}
