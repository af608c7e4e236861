/*  test_pool.c — the pool's backoff through pool.h: 0.5 s doubling to 60 s after each
    failure, nothing due before the wait has passed, and a success starting it over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pool.h"

static void
test_backoff_doubles_from_half_a_second_to_a_minute (void **state)
{
    (void)state;
    pool_backoff_t b = {0, 0};
    assert_true (pool_backoff_due (&b, 0));
    int expected[] = {500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000};
    int64_t now = 1000;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal (pool_backoff_failed (&b, now), expected[i]);
        assert_false (pool_backoff_due (&b, now + expected[i] - 1));
        assert_true (pool_backoff_due (&b, now + expected[i]));
        now += expected[i];
    }
}

static void
test_a_success_starts_the_backoff_over (void **state)
{
    (void)state;
    pool_backoff_t b = {0, 0};
    assert_false (pool_backoff_succeeded (&b));
    pool_backoff_failed (&b, 0);
    pool_backoff_failed (&b, 500);
    assert_true (pool_backoff_succeeded (&b));
    assert_true (pool_backoff_due (&b, 0));
    assert_int_equal (pool_backoff_failed (&b, 10), POOL_BACKOFF_FIRST_MS);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_backoff_doubles_from_half_a_second_to_a_minute),
        cmocka_unit_test (test_a_success_starts_the_backoff_over),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
