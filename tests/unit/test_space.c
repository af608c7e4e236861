/*  test_space.c — broker/space.h: reading --min-free, and the reserve file and the low-space
    state on a real folder (the disk-full path itself is tests/e2e/test_exhaustion.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "space.h"

static void
test_min_free_takes_bytes_with_a_suffix_or_a_percentage (void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t bytes;
        double percent;
    } good[] = {
        {"0", 0, 0},
        {"4096", 4096, 0},
        {"200M", 200LL << 20, 0},
        {"1G", 1LL << 30, 0},
        {"2T", 2LL << 40, 0},
        {"64K", 64 << 10, 0},
        {"1.5G", 3LL << 29, 0},
        {"5%", 0, 5},
        {"0.5%", 0, 0.5},
        {"50%", 0, 50},
        {"0%", 0, 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t bytes = -1;
        double percent = -1;
        const char *why = NULL;
        assert_int_equal (space_min_free_parse (good[i].text, &bytes, &percent, &why), 0);
        assert_int_equal (bytes, good[i].bytes);
        assert_true (percent == good[i].percent);
        assert_null (why);
    }
}

static void
test_min_free_refuses_what_is_not_a_size_with_a_reason (void **state)
{
    (void)state;
    static const char *const bad[] = {"",  "-1",  "-5%",  "51%", "5%%",  "5 %",   "12Q",       "1.5",
                                      "M", "5MB", "0x10", "nan", "inf%", "1e400", "99999999T", " 5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t bytes = 7;
        double percent = 7;
        const char *why = NULL;
        assert_int_equal (space_min_free_parse (bad[i], &bytes, &percent, &why), -1);
        assert_non_null (why);
        assert_non_null (strstr (why, "--min-free"));
    }
    int64_t bytes;
    double percent;
    const char *why = NULL;
    assert_int_equal (space_min_free_parse (NULL, &bytes, &percent, &why), -1);
}

static void
test_the_reserve_is_made_0600_released_when_full_and_made_again (void **state)
{
    (void)state;
    char dir[] = "/tmp/mailbus-space-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char *db = zsys_sprintf ("%s/mailbus.db", dir), *reserve = zsys_sprintf ("%s.reserve", db);
    space_t *space = space_new (db, 1 << 20, "0");
    assert_non_null (space);
    struct stat st;
    assert_int_equal (stat (reserve, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (st.st_size, 1 << 20);
    assert_true ((int64_t)st.st_blocks * 512 >= 1 << 20); /* allocated, not a hole */
    assert_false (space_refuses (space));

    assert_true (space_full (space)); /* released */
    assert_int_not_equal (stat (reserve, &st), 0);
    assert_true (space_refuses (space));
    assert_false (space_full (space)); /* nothing left to release */
    space_info_t info;
    space_info (space, &info);
    assert_true (info.full);
    assert_false (info.reserve_held);

    space_update (space, 0); /* /tmp has room: the reserve comes back, publishing goes on */
    space_info (space, &info);
    assert_true (info.reserve_held);
    assert_false (info.full);
    assert_false (space_refuses (space));
    assert_int_equal (stat (reserve, &st), 0);
    space_destroy (&space);
    space_destroy (&space); /* idempotent */

    /* a bad --min-free makes no space_t; a reserve of 0 removes one left from before */
    assert_null (space_new (db, 1 << 20, "lots"));
    space = space_new (db, 0, "0");
    assert_int_not_equal (stat (reserve, &st), 0);
    space_info (space, &info);
    assert_false (info.reserve_held);
    space_destroy (&space);
    free (db);
    free (reserve);
    zsys_dir_delete (dir);
}

static void
test_min_free_above_the_disk_refuses_and_says_so (void **state)
{
    (void)state;
    char dir[] = "/tmp/mailbus-space-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char *db = zsys_sprintf ("%s/mailbus.db", dir);
    space_t *space = space_new (db, 0, "9000T"); /* more than any test machine has */
    assert_true (space_refuses (space));
    assert_true (space_tight (space));
    space_info_t info;
    space_info (space, &info);
    assert_true (info.low);
    assert_string_equal (info.min_free, "9000T");
    assert_int_equal (info.min_free_bytes, 9000LL << 40);
    space_destroy (&space);
    space = space_new (db, 0, "0.0001%"); /* a few kilobytes of any disk: never low */
    assert_false (space_refuses (space));
    space_destroy (&space);
    free (db);
    zsys_dir_delete (dir);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_min_free_takes_bytes_with_a_suffix_or_a_percentage),
        cmocka_unit_test (test_min_free_refuses_what_is_not_a_size_with_a_reason),
        cmocka_unit_test (test_the_reserve_is_made_0600_released_when_full_and_made_again),
        cmocka_unit_test (test_min_free_above_the_disk_refuses_and_says_so),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
