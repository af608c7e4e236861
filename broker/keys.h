/*  keys.h — the broker's long-term CURVE key pair (ZeroMQ RFC 26), made on its first start
    beside the database: <dir>/broker.key holds the public key (readable by anyone, what clients
    pin) and <dir>/broker.key_secret the secret key (0600), both in zcert's ZPL format. */
#ifndef MAILBUS_KEYS_H
#define MAILBUS_KEYS_H

#include <czmq.h>
#include <stdbool.h>

/* "<dir of db>/broker.key" (caller frees) */
char *keys_path (const char *db);

/* Loads the key pair; when there is none and create is true, makes it first. NULL with
 *error (caller frees) when it cannot be read or made, or the secret file is open to others. */
zcert_t *keys_load (const char *db, bool create, char **error);

#endif
