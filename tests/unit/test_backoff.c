/*  test_backoff.c — common/backoff.h: the ceiling doubles from base to cap, each pause is drawn
    over the whole of [0, ceiling] (full jitter), and no pause runs past the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <czmq.h>

#include "backoff.h"

static void
test_the_ceiling_doubles_from_base_up_to_cap (void **state)
{
    (void)state;
    backoff_t backoff;
    backoff_start (&backoff, 100, 2000, 3600 * 1000);
    int expected[] = {100, 200, 400, 800, 1600, 2000, 2000, 2000};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        assert_int_equal (backoff_ceiling (&backoff), expected[i]);
        int pause = backoff_next (&backoff);
        assert_in_range (pause, 0, expected[i]);
    }
    /* a thousand attempts do not overflow the ceiling */
    backoff.attempt = 1000;
    assert_int_equal (backoff_ceiling (&backoff), 2000);
}

static void
test_pauses_spread_over_the_whole_range (void **state)
{
    (void)state;
    /* 2,000 draws at a ceiling of 1,000 ms: all inside [0, 1000], some in each tenth of it */
    int tenths[10] = {0};
    for (int i = 0; i < 2000; i++) {
        backoff_t backoff;
        backoff_start (&backoff, 1000, 1000, 3600 * 1000);
        int pause = backoff_next (&backoff);
        assert_in_range (pause, 0, 1000);
        tenths[pause == 1000 ? 9 : pause / 100]++;
    }
    for (int i = 0; i < 10; i++)
        assert_in_range (tenths[i], 100, 300); /* about 200 each; 100 or 300 is far outside chance */
}

static void
test_no_pause_runs_past_the_budget (void **state)
{
    (void)state;
    backoff_t backoff;
    backoff_start (&backoff, 100, 2000, 0);
    assert_int_equal (backoff_next (&backoff), -1); /* no budget: no retry */
    backoff_start (&backoff, 100, 2000, 1000);
    int64_t start = zclock_mono ();
    int pauses = 0;
    for (int pause; (pause = backoff_next (&backoff)) >= 0; pauses++) {
        assert_true (zclock_mono () + pause < start + 1000 + 50);
        backoff.deadline -= pause; /* as if slept: time is not spent in a unit test */
    }
    assert_true (pauses >= 1);
    assert_true (pauses < 1000);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_the_ceiling_doubles_from_base_up_to_cap),
        cmocka_unit_test (test_pauses_spread_over_the_whole_range),
        cmocka_unit_test (test_no_pause_runs_past_the_budget),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
