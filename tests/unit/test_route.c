/*  test_route.c — broker/route.h's subscription filters: which filters are valid
    ("HEADER:GLOB"), and which messages they let through. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "route.h"

static const char s_message[] = "From: alice@demo.test\r\n"
                                "Subject: Urgent: the lab moves\r\n"
                                "X-Priority: 1\r\n"
                                "\r\n"
                                "Room 4 from Monday.\r\n";

static bool
s_match (const char *filter)
{
    return route_filter_match (filter, s_message, strlen (s_message));
}

static void
test_valid_filters_pass_the_check (void **state)
{
    (void)state;
    const char *good[] = {"",         "subject:*urgent*", "Subject:x",   "X-Priority:[12]",
                          "x-a-1:?",  "subject:[!a]*",    "subject:[]]", "subject:a\\[b",
                          "subject:*"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (route_filter_check (good[i]))
            fail_msg ("'%s' refused: %s", good[i], route_filter_check (good[i]));
    assert_null (route_filter_check (NULL));
}

static void
test_malformed_filters_are_refused_with_a_reason (void **state)
{
    (void)state;
    const char *bad[] = {"subject",      ":*urgent*",    "subject:",    "sub ject:x",
                         "sub_ject:x",   "subject:[abc", "subject:[!]", "subject:a\tb",
                         "subject:a\rb", "subjéct:x",    "subject:[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!route_filter_check (bad[i]))
            fail_msg ("'%s' accepted", bad[i]);
}

static void
test_a_filter_over_200_characters_is_refused (void **state)
{
    (void)state;
    char filter[300] = "subject:";
    memset (filter + 8, 'a', 192);
    filter[200] = '\0';
    assert_null (route_filter_check (filter)); /* 200: the most */
    filter[200] = 'a';
    filter[201] = '\0';
    assert_non_null (route_filter_check (filter));
}

static void
test_a_filter_matches_its_header_without_regard_to_case (void **state)
{
    (void)state;
    assert_true (s_match (""));
    assert_true (s_match (NULL));
    assert_true (s_match ("subject:*urgent*"));
    assert_true (s_match ("SUBJECT:URGENT:*"));
    assert_true (s_match ("x-priority:[12]"));
    assert_false (s_match ("x-priority:[3-5]"));
    assert_false (s_match ("subject:*exam*"));
    assert_false (s_match ("subject:Urgent")); /* a glob matches the whole value */
}

static void
test_a_missing_header_matches_only_what_matches_empty (void **state)
{
    (void)state;
    assert_false (s_match ("list-id:*x*"));
    assert_true (s_match ("list-id:*"));
    /* no colon: never valid, and never a match */
    assert_false (s_match ("subject"));
    /* the header section ends at the empty line: a body line is not a header */
    assert_false (route_filter_match ("room-4:*monday*", "Subject: x\r\n\r\nRoom-4: monday\r\n", 30));
}

static void
test_a_long_header_name_is_cut_not_overrun (void **state)
{
    (void)state;
    char filter[200];
    memset (filter, 'x', 100);
    strcpy (filter + 100, ":*");
    assert_true (s_match (filter)); /* no such header: "*" matches the empty value */
    /* an empty message has no headers: only a glob that matches nothing matches */
    assert_true (route_filter_match ("subject:*", "", 0));
    assert_false (route_filter_match ("subject:?*", "", 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_valid_filters_pass_the_check),
        cmocka_unit_test (test_malformed_filters_are_refused_with_a_reason),
        cmocka_unit_test (test_a_filter_over_200_characters_is_refused),
        cmocka_unit_test (test_a_filter_matches_its_header_without_regard_to_case),
        cmocka_unit_test (test_a_missing_header_matches_only_what_matches_empty),
        cmocka_unit_test (test_a_long_header_name_is_cut_not_overrun),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
