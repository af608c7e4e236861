/*  auth.h — mailbox passwords: Argon2id hashes (libsodium crypto_pwhash_str), checked by an
    actor thread so that a slow hash (tens of milliseconds, by design) never sits on the
    broker's loop. */
#ifndef MAILBUS_AUTH_H
#define MAILBUS_AUTH_H

#include <czmq.h>
#include <sodium.h>
#include <stdbool.h>

#define AUTH_HASH_BYTES crypto_pwhash_STRBYTES

/* Hashes password into hash (AUTH_HASH_BYTES). Returns 0 or -1 (out of memory). */
int auth_hash (const char *password, char hash[AUTH_HASH_BYTES]);

/* The actor. Send it a message [tag frame][hash][password] (hash empty for an unknown
   mailbox: it still spends the time of a check, so timing does not tell which mailboxes
   exist); it answers [tag frame]["ok" | "fail"]. */
zactor_t *auth_actor_new (void);

/* Synchronous check, for tests and the admin CLI */
bool auth_verify (const char *hash, const char *password);

#endif
