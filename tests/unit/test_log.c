/*  test_log.c — log_quote, which puts untrusted bytes from the network into log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void
test_quote_escapes_control_characters_and_quotes (void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal (log_quote (buf, sizeof buf, "a\r\n\"\\\x01z", 7), "\"a\\r\\n\\\"\\\\\\x01z\"");
}

static void
test_quote_never_writes_past_the_buffer_whatever_the_input (void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37 + 11); /* a mix of printable, control and high bytes */
    for (size_t size = 10; size < 120; size++) {
        /* one guard byte after the buffer must stay untouched */
        char *buf = malloc (size + 1);
        buf[size] = 'G';
        for (size_t len = 0; len < sizeof data; len += 7) {
            const char *out = log_quote (buf, size, data, len);
            assert_true (strlen (out) < size);
            assert_int_equal (buf[size], 'G');
        }
        free (buf);
    }
}

static void
test_quote_marks_what_it_cut (void **state)
{
    (void)state;
    char buf[16];
    const char *out = log_quote (buf, sizeof buf, "abcdefghijklmnopqrstuvwxyz", 26);
    assert_non_null (strstr (out, "..\""));
    assert_int_equal (out[0], '"');
}

static void
test_limit_writes_per_second_lines_then_counts_the_rest (void **state)
{
    (void)state;
    log_limit_t limit = LOG_LIMIT (3);
    uint64_t suppressed = 99;
    for (int i = 0; i < 3; i++) {
        assert_true (log_limit_pass_at (&limit, 100, &suppressed));
        assert_int_equal (suppressed, 0);
    }
    for (int i = 0; i < 5; i++)
        assert_false (log_limit_pass_at (&limit, 100, &suppressed));
    /* the next second: the first line says how many were left out, the next ones do not */
    assert_true (log_limit_pass_at (&limit, 101, &suppressed));
    assert_int_equal (suppressed, 5);
    assert_true (log_limit_pass_at (&limit, 101, &suppressed));
    assert_int_equal (suppressed, 0);
}

static void
test_limit_starts_open_at_any_second (void **state)
{
    (void)state;
    log_limit_t limit = LOG_LIMIT (1);
    uint64_t suppressed;
    assert_true (log_limit_pass_at (&limit, 0, &suppressed));
    assert_false (log_limit_pass_at (&limit, 0, &suppressed));
    assert_true (log_limit_pass (&limit, &suppressed));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_quote_escapes_control_characters_and_quotes),
        cmocka_unit_test (test_quote_never_writes_past_the_buffer_whatever_the_input),
        cmocka_unit_test (test_quote_marks_what_it_cut),
        cmocka_unit_test (test_limit_writes_per_second_lines_then_counts_the_rest),
        cmocka_unit_test (test_limit_starts_open_at_any_second),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
