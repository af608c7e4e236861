/*  test_buffer.c — gateway/buffer.h: appending grows the buffer, keeps a NUL after the data,
    and a bounded buffer refuses to pass its bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "buffer.h"

static void
test_append_grows_and_keeps_a_nul_after_the_data (void **state)
{
    (void)state;
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (buffer_append (&b, NULL, 0), 0);
    assert_null (b.data); /* nothing appended, nothing allocated */
    char piece[1000];
    memset (piece, 'x', sizeof piece);
    for (int i = 0; i < 100; i++)
        assert_int_equal (buffer_append (&b, piece, sizeof piece), 0);
    assert_int_equal (b.size, 100000);
    assert_int_equal (b.data[b.size], '\0');
    assert_int_equal (buffer_appendf (&b, "%s=%d", "n", 42), 0);
    assert_string_equal (b.data + 100000, "n=42");
    buffer_free (&b);
    assert_null (b.data);
    assert_int_equal (b.size, 0);
    buffer_free (&b); /* idempotent */
}

static void
test_a_bounded_buffer_refuses_to_pass_its_bound (void **state)
{
    (void)state;
    buffer_t b = BUFFER_INIT (8);
    assert_int_equal (buffer_append (&b, "12345", 5), 0);
    assert_int_equal (buffer_append (&b, "6789", 4), -1);
    assert_int_equal (b.size, 5); /* nothing of the refused piece */
    assert_int_equal (buffer_appendf (&b, "%d", 6789), -1);
    assert_int_equal (buffer_appendf (&b, "%d", 678), 0);
    assert_string_equal (b.data, "12345678");
    buffer_free (&b);
    assert_int_equal (b.max, 8);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_grows_and_keeps_a_nul_after_the_data),
        cmocka_unit_test (test_a_bounded_buffer_refuses_to_pass_its_bound),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
