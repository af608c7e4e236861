/*  test_argv_scrub.c — a secret overwritten in place in an argv string: no byte of it is
    left anywhere in the string's original extent (what /proc/PID/cmdline shows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "argv_scrub.h"

/* Scrubs the secret out of text (in a buffer of its exact size) and checks the result and
   that the secret's bytes appear nowhere in the whole buffer */
static void
s_check (const char *text, const char *secret, const char *expected)
{
    char buf[128];
    size_t size = strlen (text) + 1;
    memcpy (buf, text, size);
    const char *at = strstr (buf, secret);
    assert_non_null (at);
    argv_scrub (buf, (size_t)(at - buf), strlen (secret));
    assert_string_equal (buf, expected);
    for (size_t i = strlen (buf); i < size; i++)
        assert_int_equal (buf[i], '\0');
    assert_null (memmem (buf, size, secret, strlen (secret)));
}

static void
test_a_whole_option_value_becomes_a_star (void **state)
{
    (void)state;
    s_check ("demo", "demo", "*");
    s_check ("-pdemo", "demo", "-p*");
    s_check ("--password=correct horse", "correct horse", "--password=*");
    s_check ("x", "x", "*");
}

static void
test_a_word_inside_a_value_becomes_a_star (void **state)
{
    (void)state;
    s_check ("pop3://h:110 me s3cret bob@demo.test", "s3cret", "pop3://h:110 me * bob@demo.test");
}

static void
test_nothing_to_scrub_changes_nothing (void **state)
{
    (void)state;
    char buf[] = "abc";
    argv_scrub (buf, 1, 0);
    assert_string_equal (buf, "abc");
    argv_scrub (buf, 3, 2);
    assert_string_equal (buf, "abc");
    argv_scrub (buf, 1, 99); /* past the end: up to the end */
    assert_string_equal (buf, "a*");
    char empty[] = "";
    argv_scrub_all (empty);
    assert_string_equal (empty, "");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_whole_option_value_becomes_a_star),
        cmocka_unit_test (test_a_word_inside_a_value_becomes_a_star),
        cmocka_unit_test (test_nothing_to_scrub_changes_nothing),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
