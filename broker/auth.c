/*  auth.c — Argon2id hashing and the checking actor. */
#include "auth.h"

#include <assert.h>
#include <string.h>

#include "mb_limits.h"

int
auth_hash (const char *password, char hash[AUTH_HASH_BYTES])
{
    assert (password);
    assert (hash);
    return crypto_pwhash_str (hash, password, strlen (password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

bool
auth_verify (const char *hash, const char *password)
{
    assert (password);
    return hash && *hash && crypto_pwhash_str_verify (hash, password, strlen (password)) == 0;
}

/* A hash of a password nobody has, made once, checked against for unknown mailboxes */
static char s_dummy[AUTH_HASH_BYTES];

static void
s_auth_actor (zsock_t *pipe, void *args)
{
    (void)args;
    zsock_signal (pipe, 0);
    while (!zsys_interrupted) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        if (zmsg_size (msg) == 1) { /* $TERM */
            zmsg_destroy (&msg);
            break;
        }
        zframe_t *tag = zmsg_pop (msg);
        char *hash = zmsg_popstr (msg);
        char *password = zmsg_popstr (msg);
        bool ok = false;
        if (hash && password && strlen (password) <= MAX_PASSWORD) {
            if (*hash)
                ok = auth_verify (hash, password);
            else
                auth_verify (s_dummy, password); /* spend the same time, then fail */
        }
        if (password) {
            sodium_memzero (password, strlen (password));
            free (password);
        }
        free (hash);
        zmsg_t *reply = zmsg_new ();
        zmsg_append (reply, &tag);
        zmsg_addstr (reply, ok ? "ok" : "fail");
        zmsg_send (&reply, pipe);
        zmsg_destroy (&msg);
    }
}

zactor_t *
auth_actor_new (void)
{
    /* made once, in the caller's thread, before any actor reads it (the broker runs several) */
    if (!*s_dummy) {
        unsigned char random[16];
        char password[33];
        randombytes_buf (random, sizeof random);
        sodium_bin2hex (password, sizeof password, random, sizeof random);
        auth_hash (password, s_dummy);
    }
    return zactor_new (s_auth_actor, NULL);
}
