/*  sasl.c — see sasl.h */
#include "sasl.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

sasl_mechanism_t
sasl_mechanism (const char *name, size_t len)
{
    assert (name);
    if (len == 5 && strncasecmp (name, "PLAIN", 5) == 0)
        return SASL_PLAIN;
    if (len == 5 && strncasecmp (name, "LOGIN", 5) == 0)
        return SASL_LOGIN;
    return SASL_UNKNOWN;
}

const char *
sasl_mechanism_name (sasl_mechanism_t mechanism)
{
    return mechanism == SASL_PLAIN ? "PLAIN" : mechanism == SASL_LOGIN ? "LOGIN" : NULL;
}

sasl_status_t
sasl_decode (const char *text, size_t len, unsigned char *out, size_t size, size_t *out_len)
{
    assert (text && out && out_len);
    *out_len = 0;
    if (len == 1 && text[0] == '*')
        return SASL_CANCELLED;
    if (len == 0 || (len == 1 && text[0] == '='))
        return SASL_OK;
    const char *end = NULL;
    if (sodium_base642bin (out, size, text, len, NULL, out_len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != text + len) {
        *out_len = 0;
        return SASL_BAD_BASE64;
    }
    return SASL_OK;
}

/* Copies data[0..len) into field as a C string: it must hold no NUL and fit */
static sasl_status_t
s_copy_field (const unsigned char *data, size_t len, char *field, size_t size)
{
    if (len >= size || memchr (data, '\0', len))
        return SASL_BAD_MESSAGE;
    memcpy (field, data, len);
    field[len] = '\0';
    return SASL_OK;
}

sasl_status_t
sasl_plain_parse (const unsigned char *message, size_t len, char *user, size_t user_size, char *password,
                  size_t password_size)
{
    assert (message || len == 0);
    assert (user && user_size > 0 && password && password_size > 0);
    const unsigned char *nul1 = len ? memchr (message, '\0', len) : NULL;
    if (!nul1)
        return SASL_BAD_MESSAGE;
    const unsigned char *authcid = nul1 + 1;
    const unsigned char *nul2 = memchr (authcid, '\0', len - (size_t)(authcid - message));
    if (!nul2)
        return SASL_BAD_MESSAGE;
    const unsigned char *passwd = nul2 + 1;
    size_t zlen = (size_t)(nul1 - message);
    size_t ulen = (size_t)(nul2 - authcid);
    size_t plen = len - (size_t)(passwd - message);
    /* RFC 4616 2: authcid = 1*SAFE, passwd = 1*SAFE (SAFE excludes NUL) */
    if (ulen == 0 || plen == 0)
        return SASL_BAD_MESSAGE;
    /* RFC 4616 2: acting as another identity (authzid) is not something we allow */
    if (zlen && (zlen != ulen || memcmp (message, authcid, ulen) != 0))
        return SASL_BAD_MESSAGE;
    if (s_copy_field (authcid, ulen, user, user_size) != SASL_OK ||
        s_copy_field (passwd, plen, password, password_size) != SASL_OK) {
        sodium_memzero (password, password_size);
        return SASL_BAD_MESSAGE;
    }
    return SASL_OK;
}

sasl_status_t
sasl_plain (const char *text, size_t len, char *user, size_t user_size, char *password, size_t password_size)
{
    unsigned char message[SASL_MAX_RESPONSE];
    size_t n = 0;
    sasl_status_t status = sasl_decode (text, len, message, sizeof message, &n);
    if (status == SASL_OK)
        status = sasl_plain_parse (message, n, user, user_size, password, password_size);
    sodium_memzero (message, sizeof message);
    return status;
}

sasl_status_t
sasl_login_field (const unsigned char *data, size_t len, char *field, size_t size)
{
    assert ((data || len == 0) && field && size > 0);
    return s_copy_field (data, len, field, size);
}
