/*  ticket.c — resumption tickets. */
#include "ticket.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLAIN_BYTES (8 + 8 + TICKET_FINGERPRINT_BYTES)
#define KEY_HEX_BYTES (2 * TICKET_KEY_BYTES)

static void
s_put64 (uint8_t *p, int64_t value)
{
    for (int i = 7; i >= 0; i--, value = (int64_t)((uint64_t)value >> 8))
        p[i] = (uint8_t)(value & 0xff);
}

static int64_t
s_get64 (const uint8_t *p)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | p[i];
    return (int64_t)value;
}

void
ticket_fingerprint (const uint8_t key[TICKET_KEY_BYTES], const char *password_hash,
                    uint8_t fingerprint[TICKET_FINGERPRINT_BYTES])
{
    assert (key && password_hash && fingerprint);
    crypto_generichash (fingerprint, TICKET_FINGERPRINT_BYTES, (const uint8_t *)password_hash,
                        strlen (password_hash), key, TICKET_KEY_BYTES);
}

void
ticket_seal (const uint8_t key[TICKET_KEY_BYTES], const ticket_t *ticket, char text[TICKET_TEXT_BYTES])
{
    assert (key && ticket && text);
    uint8_t plain[PLAIN_BYTES], raw[TICKET_RAW_BYTES];
    s_put64 (plain, ticket->mailbox_id);
    s_put64 (plain + 8, ticket->expires);
    memcpy (plain + 16, ticket->fingerprint, TICKET_FINGERPRINT_BYTES);
    raw[0] = TICKET_VERSION;
    uint8_t *nonce = raw + 1;
    randombytes_buf (nonce, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy (nonce + crypto_secretbox_NONCEBYTES, plain, sizeof plain, nonce, key);
    sodium_bin2base64 (text, TICKET_TEXT_BYTES, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int
ticket_open (const uint8_t key[TICKET_KEY_BYTES], const char *text, size_t size, ticket_t *ticket,
             const char **why)
{
    assert (key && ticket && why);
    uint8_t raw[TICKET_RAW_BYTES], plain[PLAIN_BYTES];
    size_t raw_size = 0;
    const char *end = NULL;
    /* exactly one ticket's length of base64url: anything shorter, longer or other is malformed */
    if (!text || size != TICKET_TEXT_BYTES - 1 ||
        sodium_base642bin (raw, sizeof raw, text, size, NULL, &raw_size, &end,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        raw_size != sizeof raw || end != text + size || raw[0] != TICKET_VERSION) {
        *why = "malformed";
        return -1;
    }
    const uint8_t *nonce = raw + 1;
    if (crypto_secretbox_open_easy (plain, nonce + crypto_secretbox_NONCEBYTES,
                                    sizeof raw - 1 - crypto_secretbox_NONCEBYTES, nonce, key) != 0) {
        *why = "forged or altered";
        return -1;
    }
    ticket->mailbox_id = s_get64 (plain);
    ticket->expires = s_get64 (plain + 8);
    memcpy (ticket->fingerprint, plain + 16, TICKET_FINGERPRINT_BYTES);
    sodium_memzero (plain, sizeof plain);
    return 0;
}

int
ticket_check (const uint8_t key[TICKET_KEY_BYTES], const ticket_t *ticket, int64_t mailbox_id,
              const char *password_hash, int64_t now, const char **why)
{
    assert (key && ticket && why);
    if (mailbox_id <= 0 || ticket->mailbox_id != mailbox_id) {
        *why = "another mailbox's";
        return -1;
    }
    if (now >= ticket->expires) {
        *why = "expired";
        return -1;
    }
    uint8_t fingerprint[TICKET_FINGERPRINT_BYTES];
    ticket_fingerprint (key, password_hash ? password_hash : "", fingerprint);
    if (sodium_memcmp (fingerprint, ticket->fingerprint, sizeof fingerprint) != 0) {
        *why = "password changed";
        return -1;
    }
    return 0;
}

/* Makes a new key file (0600, never over an existing one) */
static int
s_key_create (const char *path, uint8_t key[TICKET_KEY_BYTES], char **error)
{
    char hex[KEY_HEX_BYTES + 2];
    randombytes_buf (key, TICKET_KEY_BYTES);
    sodium_bin2hex (hex, sizeof hex, key, TICKET_KEY_BYTES);
    strcat (hex, "\n");
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    bool ok = fd >= 0 && write (fd, hex, strlen (hex)) == (ssize_t)strlen (hex) && fsync (fd) == 0;
    if (!ok)
        *error = zsys_sprintf ("cannot write the ticket key %s: %s", path, strerror (errno));
    if (fd >= 0)
        close (fd);
    sodium_memzero (hex, sizeof hex);
    return ok ? 0 : -1;
}

static int
s_key_read (const char *path, uint8_t key[TICKET_KEY_BYTES], char **error)
{
    struct stat st;
    if (stat (path, &st) != 0 || (st.st_mode & 077)) {
        *error = zsys_sprintf ("%s is readable by others (mode %03o): chmod 600 it, or remove it to make a "
                               "new one (every ticket then falls back to the password)",
                               path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    char hex[KEY_HEX_BYTES + 2] = "";
    FILE *file = fopen (path, "r");
    bool ok = file && fgets (hex, sizeof hex, file) && strlen (hex) >= KEY_HEX_BYTES &&
              sodium_hex2bin (key, TICKET_KEY_BYTES, hex, KEY_HEX_BYTES, NULL, NULL, NULL) == 0;
    if (file)
        fclose (file);
    sodium_memzero (hex, sizeof hex);
    if (!ok)
        *error = zsys_sprintf ("cannot read the ticket key from %s (64 hex digits)", path);
    return ok ? 0 : -1;
}

int
ticket_key_load (const char *db, uint8_t key[TICKET_KEY_BYTES], char **error)
{
    assert (db && key && error);
    const char *slash = strrchr (db, '/');
    char *path =
        slash ? zsys_sprintf ("%.*s/broker.ticket_key", (int)(slash - db), db) : strdup ("broker.ticket_key");
    int rc = zsys_file_exists (path) ? s_key_read (path, key, error) : s_key_create (path, key, error);
    free (path);
    return rc;
}
