/*  admin_paths.h — where the broker and the admin CLI meet: the database's lock file, which
    says whether a broker runs on it, and the admin endpoint the running broker listens on. */
#ifndef MAILBUS_ADMIN_PATHS_H
#define MAILBUS_ADMIN_PATHS_H

/* Paths derived from the database path (caller frees): "<db>.lock", and the admin endpoint
   "ipc://<abs db>.admin" beside the database when that fits in a socket address (107 octets),
   else "ipc://<runtime>/<hash of abs db>.admin" in a private folder: $XDG_RUNTIME_DIR/mailbus or
   /tmp/mailbus-UID (made 0700; refused, NULL with *error, when others may use it). */
char *admin_lock_path (const char *db);
char *admin_endpoint (const char *db, char **error);

/* Takes the database's lock without waiting: returns the fd (>= 0), ADMIN_LOCK_BUSY when
   another process (a running broker) holds it, ADMIN_LOCK_ERROR (said on stderr) otherwise. */
#define ADMIN_LOCK_BUSY (-1)
#define ADMIN_LOCK_ERROR (-2)
int admin_lock (const char *db);

#endif
