/*  test_sasl.c — gateway/sasl.h: the client's base64 responses ("*" cancels, "=" is empty),
    AUTH PLAIN (RFC 4616) and AUTH LOGIN's fields, good and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "sasl.h"

/* base64 of message[0..len), into out */
static const char *
s_base64 (const void *message, size_t len, char *out, size_t size)
{
    return sodium_bin2base64 (out, size, message, len, sodium_base64_VARIANT_ORIGINAL);
}

static sasl_status_t
s_plain (const void *message, size_t len, char *user, char *password)
{
    char text[2 * SASL_MAX_RESPONSE];
    s_base64 (message, len, text, sizeof text);
    return sasl_plain (text, strlen (text), user, SASL_USER_SIZE, password, SASL_PASSWORD_SIZE);
}

static void
test_mechanisms_are_named_case_insensitively (void **state)
{
    (void)state;
    assert_int_equal (sasl_mechanism ("PLAIN", 5), SASL_PLAIN);
    assert_int_equal (sasl_mechanism ("plain xyz", 5), SASL_PLAIN);
    assert_int_equal (sasl_mechanism ("Login", 5), SASL_LOGIN);
    assert_int_equal (sasl_mechanism ("PLAINX", 6), SASL_UNKNOWN);
    assert_int_equal (sasl_mechanism ("CRAM-MD5", 8), SASL_UNKNOWN);
    assert_int_equal (sasl_mechanism ("", 0), SASL_UNKNOWN);
    assert_string_equal (sasl_mechanism_name (SASL_PLAIN), "PLAIN");
    assert_string_equal (sasl_mechanism_name (SASL_LOGIN), "LOGIN");
    assert_null (sasl_mechanism_name (SASL_UNKNOWN));
}

static void
test_decode_takes_padded_base64_and_the_two_words (void **state)
{
    (void)state;
    unsigned char out[64];
    size_t n = 99;
    assert_int_equal (sasl_decode ("YQ==", 4, out, sizeof out, &n), SASL_OK);
    assert_int_equal (n, 1);
    assert_int_equal (out[0], 'a');
    /* RFC 4954 4, RFC 5034 4: "=" is the empty response, and so is an empty line */
    assert_int_equal (sasl_decode ("=", 1, out, sizeof out, &n), SASL_OK);
    assert_int_equal (n, 0);
    assert_int_equal (sasl_decode ("", 0, out, sizeof out, &n), SASL_OK);
    assert_int_equal (n, 0);
    assert_int_equal (sasl_decode ("*", 1, out, sizeof out, &n), SASL_CANCELLED);
}

static void
test_decode_refuses_bad_base64 (void **state)
{
    (void)state;
    unsigned char out[4];
    size_t n = 0;
    const char *bad[] = {"YQ", "not base64!", "YQ==x", "YQ== ", "==", "**", "Y Q=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (sasl_decode (bad[i], strlen (bad[i]), out, sizeof out, &n), SASL_BAD_BASE64);
    /* longer than the caller's room */
    assert_int_equal (sasl_decode ("YWJjZGVm", 8, out, sizeof out, &n), SASL_BAD_BASE64);
    assert_int_equal (n, 0);
}

static void
test_plain_gives_user_and_password (void **state)
{
    (void)state;
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    /* base64("\0bob@demo.test\0demo") */
    const char *plain = "AGJvYkBkZW1vLnRlc3QAZGVtbw==";
    assert_int_equal (sasl_plain (plain, strlen (plain), user, sizeof user, password, sizeof password),
                      SASL_OK);
    assert_string_equal (user, "bob@demo.test");
    assert_string_equal (password, "demo");
    /* an authzid equal to the authcid is the same identity */
    const char same[] = "a@b\0a@b\0pw";
    assert_int_equal (s_plain (same, sizeof same - 1, user, password), SASL_OK);
    assert_string_equal (user, "a@b");
    assert_string_equal (password, "pw");
}

static void
test_plain_refuses_malformed_messages (void **state)
{
    (void)state;
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    const struct {
        const char *message;
        size_t len;
    } bad[] = {
        {"", 0},                 /* "=": empty */
        {"a@b\0pw", 6},          /* one NUL */
        {"a@bpw", 5},            /* no NUL */
        {"\0a@b\0pw\0", 8},      /* RFC 4616 2: no NUL in passwd */
        {"\0a@b\0p\0w", 8},      /* ... anywhere */
        {"\0\0pw", 4},           /* empty authcid */
        {"\0a@b\0", 5},          /* empty password */
        {"root@b\0a@b\0pw", 13}, /* authzid other than the authcid */
        {"a@b.x\0a@b\0pw", 12},  /* ... even a longer one */
        {"a@\0a@b\0pw", 9},      /* ... or a shorter one */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (s_plain (bad[i].message, bad[i].len, user, password), SASL_BAD_MESSAGE);
}

static void
test_plain_refuses_bad_base64_and_passes_cancel_on (void **state)
{
    (void)state;
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    const char *bad[] = {"AGJvYkBkZW1vLnRlc3QAZGVtbw", "AGJvYkBkZW1vLnRlc3QAZGVtbw==x", "!!!!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (sasl_plain (bad[i], strlen (bad[i]), user, sizeof user, password, sizeof password),
                          SASL_BAD_BASE64);
    assert_int_equal (sasl_plain ("*", 1, user, sizeof user, password, sizeof password), SASL_CANCELLED);
    assert_int_equal (sasl_plain ("=", 1, user, sizeof user, password, sizeof password), SASL_BAD_MESSAGE);
}

static void
test_plain_bounds_every_field (void **state)
{
    (void)state;
    char user[SASL_USER_SIZE], password[SASL_PASSWORD_SIZE];
    unsigned char message[SASL_MAX_RESPONSE + 16];
    /* the longest user and password fit */
    memset (message, 'u', sizeof message);
    message[0] = '\0';
    message[1 + MAX_ADDRESS] = '\0';
    memset (message + 2 + MAX_ADDRESS, 'p', MAX_PASSWORD);
    assert_int_equal (s_plain (message, 2 + MAX_ADDRESS + MAX_PASSWORD, user, password), SASL_OK);
    assert_int_equal (strlen (user), MAX_ADDRESS);
    assert_int_equal (strlen (password), MAX_PASSWORD);
    /* one more octet of password does not */
    message[2 + MAX_ADDRESS + MAX_PASSWORD] = 'p';
    assert_int_equal (s_plain (message, 3 + MAX_ADDRESS + MAX_PASSWORD, user, password), SASL_BAD_MESSAGE);
    /* nor one more of user */
    memset (message, 'u', sizeof message);
    message[0] = '\0';
    message[2 + MAX_ADDRESS] = '\0';
    assert_int_equal (s_plain (message, 3 + MAX_ADDRESS + 2, user, password), SASL_BAD_MESSAGE);
    /* a response longer than any message taken is refused before it is parsed */
    assert_int_equal (s_plain (message, SASL_MAX_RESPONSE + 1, user, password), SASL_BAD_BASE64);
    /* the caller's own smaller buffer */
    const char *plain = "AGJvYkBkZW1vLnRlc3QAZGVtbw==";
    assert_int_equal (sasl_plain (plain, strlen (plain), user, sizeof user, password, 4), SASL_BAD_MESSAGE);
    assert_int_equal (sasl_plain (plain, strlen (plain), user, 5, password, sizeof password),
                      SASL_BAD_MESSAGE);
}

static void
test_login_fields (void **state)
{
    (void)state;
    char field[8];
    assert_int_equal (sasl_login_field ((const unsigned char *)"alice", 5, field, sizeof field), SASL_OK);
    assert_string_equal (field, "alice");
    assert_int_equal (sasl_login_field ((const unsigned char *)"", 0, field, sizeof field), SASL_OK);
    assert_string_equal (field, "");
    assert_int_equal (sasl_login_field ((const unsigned char *)"a\0b", 3, field, sizeof field),
                      SASL_BAD_MESSAGE);
    assert_int_equal (sasl_login_field ((const unsigned char *)"12345678", 8, field, sizeof field),
                      SASL_BAD_MESSAGE);
    assert_int_equal (sasl_login_field ((const unsigned char *)"1234567", 7, field, sizeof field), SASL_OK);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_mechanisms_are_named_case_insensitively),
        cmocka_unit_test (test_decode_takes_padded_base64_and_the_two_words),
        cmocka_unit_test (test_decode_refuses_bad_base64),
        cmocka_unit_test (test_plain_gives_user_and_password),
        cmocka_unit_test (test_plain_refuses_malformed_messages),
        cmocka_unit_test (test_plain_refuses_bad_base64_and_passes_cancel_on),
        cmocka_unit_test (test_plain_bounds_every_field),
        cmocka_unit_test (test_login_fields),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
