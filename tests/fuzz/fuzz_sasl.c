/*  fuzz_sasl.c — the one SASL decoder of the gateway (gateway/sasl.h), which SMTP, POP3 and
    later IMAP hand every AUTH response to: one input is one response line (without CRLF),
    also taken as an already decoded PLAIN message and as a LOGIN field. */
#include <string.h>

#include "fuzz.h"
#include "sasl.h"

/* What an accepted PLAIN message gives: a non-empty user and a password that fit, each one
   NUL-terminated string */
static void
s_check_plain (sasl_status_t status, const char *user, const char *password)
{
    FUZZ_CHECK (status == SASL_OK || status == SASL_BAD_MESSAGE);
    if (status != SASL_OK)
        return;
    FUZZ_CHECK (memchr (user, '\0', SASL_USER_SIZE) && memchr (password, '\0', SASL_PASSWORD_SIZE));
    FUZZ_CHECK (user[0] != '\0' && password[0] != '\0');
}

static void
s_check_line (const uint8_t *data, size_t size)
{
    unsigned char decoded[SASL_MAX_RESPONSE];
    size_t n = SIZE_MAX;
    sasl_status_t status = sasl_decode ((const char *)data, size, decoded, sizeof decoded, &n);
    FUZZ_CHECK (status == SASL_OK || status == SASL_CANCELLED || status == SASL_BAD_BASE64);
    if (status != SASL_OK)
        return;
    FUZZ_CHECK (n <= sizeof decoded);
    /* the wire form and the two steps agree */
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    char user2[SASL_USER_SIZE], password2[SASL_PASSWORD_SIZE];
    sasl_status_t parsed = sasl_plain_parse (decoded, n, user, sizeof user, password, sizeof password);
    s_check_plain (parsed, user, password);
    sasl_status_t whole =
        sasl_plain ((const char *)data, size, user2, sizeof user2, password2, sizeof password2);
    FUZZ_CHECK (whole == parsed);
    if (parsed == SASL_OK)
        FUZZ_CHECK (strcmp (user, user2) == 0 && strcmp (password, password2) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check_line (data, size);
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE], field[SASL_PASSWORD_SIZE];
    s_check_plain (sasl_plain_parse (data, size, user, sizeof user, password, sizeof password), user,
                   password);
    if (sasl_login_field (data, size, field, sizeof field) == SASL_OK)
        FUZZ_CHECK (strlen (field) == size);
    sasl_mechanism_t mechanism = sasl_mechanism ((const char *)data, size);
    FUZZ_CHECK (mechanism == SASL_UNKNOWN || sasl_mechanism_name (mechanism) != NULL);
    return 0;
}
