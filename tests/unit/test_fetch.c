/*  test_fetch.c — the fetcher's reading of a remote server's UIDL listing (gateway/relay/fetch.h):
    what a POP3 server sends is outside input; only RFC 1939 7's form is taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fetch.h"

static void
test_uidl_line_good (void **state)
{
    (void)state;
    char number[FETCH_NUMBER_SIZE], uidl[FETCH_UIDL_SIZE];
    assert_int_equal (fetch_uidl_line ("1 whqtswO00WBw418f9t5JxYwZ", number, uidl), 0);
    assert_string_equal (number, "1");
    assert_string_equal (uidl, "whqtswO00WBw418f9t5JxYwZ");
    char longest[100] = "123456789012345 ";
    memset (longest + 16, '~', 70);
    longest[86] = '\0';
    assert_int_equal (fetch_uidl_line (longest, number, uidl), 0);
    assert_string_equal (number, "123456789012345");
    assert_int_equal (strlen (uidl), 70);
}

static void
test_uidl_line_bad (void **state)
{
    (void)state;
    char number[FETCH_NUMBER_SIZE], uidl[FETCH_UIDL_SIZE];
    const char *bad[] = {
        "",                     /* empty */
        "1",                    /* no id */
        "1 ",                   /* empty id */
        "x abc",                /* not a number */
        "-1 abc",               /* a sign */
        "1/../x abc",           /* a path in the number (it goes into the URL) */
        "1234567890123456 abc", /* a number too long */
        "1  abc",               /* two spaces */
        "1 ab c",               /* a space in the id */
        "1 ab\x1b[2Jc",         /* a control character in the id */
        "1 ab\x7f",             /* DEL */
        "1 \xc3\xa9t\xc3\xa9",  /* 8-bit */
        "1 abc\tdef",           /* a tab */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (fetch_uidl_line (bad[i], number, uidl), -1);
    char too_long[100] = "1 ";
    memset (too_long + 2, 'a', 71); /* 71 octets: one more than RFC 1939 allows */
    too_long[73] = '\0';
    assert_int_equal (fetch_uidl_line (too_long, number, uidl), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_uidl_line_good),
        cmocka_unit_test (test_uidl_line_bad),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
