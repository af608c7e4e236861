/*  ticket.h — resumption tickets: after a password HELO the broker hands the client a ticket
    that lets it identify again (RESUME, after a broker restart or a lost connection) with
    one MAC check (microseconds) instead of an Argon2id check (~70 ms). A ticket is sealed
    with crypto_secretbox (XSalsa20-Poly1305) under a broker key kept 0600 beside the database,
    so tickets survive a restart; it holds the mailbox id, a keyed fingerprint of the mailbox's
    password hash as it was checked, and an expiry. A changed password, a deleted mailbox (ids
    are never reused), an expired, forged, altered or truncated ticket, or another mailbox's
    ticket is refused, and the client falls back to its password. Why: docs/SECURITY.md. */
#ifndef MAILBUS_TICKET_H
#define MAILBUS_TICKET_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TICKET_KEY_BYTES crypto_secretbox_KEYBYTES
#define TICKET_FINGERPRINT_BYTES 16
/* version byte, nonce, MAC, then mailbox id, expiry and fingerprint (64-bit big-endian) */
#define TICKET_RAW_BYTES                                                                                     \
    (1 + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 8 + 8 + TICKET_FINGERPRINT_BYTES)
/* on the wire: base64url without padding (RFC 4648 5), a printable frame */
#define TICKET_TEXT_BYTES                                                                                    \
    (sodium_base64_ENCODED_LEN (TICKET_RAW_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING))
#define TICKET_VERSION 1
/* how long a ticket is good for, by default (a day: a class, a night of reconnects) */
#define TICKET_DEFAULT_LIFETIME 86400

typedef struct {
    int64_t mailbox_id;
    int64_t expires; /* unix time */
    uint8_t fingerprint[TICKET_FINGERPRINT_BYTES];
} ticket_t;

/* The keyed fingerprint (BLAKE2b under the ticket key) of a password hash string: a ticket
   made before a password change no longer matches it */
void ticket_fingerprint (const uint8_t key[TICKET_KEY_BYTES], const char *password_hash,
                         uint8_t fingerprint[TICKET_FINGERPRINT_BYTES]);

/* Seals ticket into text (TICKET_TEXT_BYTES, NUL-terminated) with a fresh random nonce */
void ticket_seal (const uint8_t key[TICKET_KEY_BYTES], const ticket_t *ticket, char text[TICKET_TEXT_BYTES]);

/* Opens size bytes of text (from the network): 0 and *ticket, or -1 with *why ("malformed",
   "forged or altered"). Touches no socket and no database (fuzzed: tests/fuzz/fuzz_ticket.c). */
int ticket_open (const uint8_t key[TICKET_KEY_BYTES], const char *text, size_t size, ticket_t *ticket,
                 const char **why);

/* Whether an opened ticket still identifies the mailbox (mailbox_id 0: no such mailbox) whose
   password hash is password_hash, at unix time now: 0, or -1 with *why ("another mailbox's",
   "expired", "password changed") */
int ticket_check (const uint8_t key[TICKET_KEY_BYTES], const ticket_t *ticket, int64_t mailbox_id,
                  const char *password_hash, int64_t now, const char **why);

/* The broker's ticket key, "<dir of db>/broker.ticket_key" (64 hex digits, 0600), made on the
   first start: 0, or -1 with *error (caller frees) when it cannot be read or made, or is
   readable by others */
int ticket_key_load (const char *db, uint8_t key[TICKET_KEY_BYTES], char **error);

#endif
