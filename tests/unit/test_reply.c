/*  test_reply.c — common/reply.h: the reply table, formatting "CODE ENH text" and parsing
    status lines (RFC 5321 4.2 reply codes, RFC 3463 enhanced status codes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "reply.h"

static void
test_every_reply_has_matching_enhanced_class (void **state)
{
    (void)state;
    for (int id = 0; id < REPLY__COUNT; id++) {
        const reply_t *r = reply_get ((reply_id_t)id);
        assert_non_null (r);
        assert_non_null (r->enhanced);
        assert_non_null (r->text);
        assert_true (r->code >= 200 && r->code <= 599);
        /* RFC 3463 2: the class digit equals the first digit of the reply code */
        assert_int_equal (r->enhanced[0] - '0', r->code / 100);
        /* and every line the table formats parses back to the same code */
        char line[256];
        reply_format (line, sizeof line, (reply_id_t)id, NULL);
        int code = 0;
        const char *text = NULL;
        assert_int_equal (reply_parse (line, &code, &text), 0);
        assert_int_equal (code, r->code);
        assert_string_equal (text, r->text);
    }
}

static void
test_rfc_table_codes_are_as_the_design_says (void **state)
{
    (void)state;
    struct {
        reply_id_t id;
        int code;
        const char *enhanced;
    } expect[] = {
        {REPLY_NO_MAILBOX, 550, "5.1.1"},    {REPLY_TOO_BIG, 552, "5.3.4"},
        {REPLY_QUOTA, 552, "5.2.2"},         {REPLY_STORE_TROUBLE, 452, "4.3.1"},
        {REPLY_UNKNOWN_VERB, 500, "5.5.1"},  {REPLY_SYNTAX, 500, "5.5.2"},
        {REPLY_BAD_ARGS, 501, "5.5.4"},      {REPLY_BAD_SEQUENCE, 503, "5.5.1"},
        {REPLY_AUTH_REQUIRED, 530, "5.7.0"}, {REPLY_AUTH_FAILED, 535, "5.7.8"},
        {REPLY_SENDER_DENIED, 553, "5.7.1"}, {REPLY_BAD_RCPT_SYNTAX, 501, "5.1.3"},
        {REPLY_BAD_CONTENT, 550, "5.6.0"},   {REPLY_NO_MESSAGE, 550, "5.2.0"},
        {REPLY_TOO_MANY_RCPT, 452, "4.5.3"}, {REPLY_BAD_SENDER_SYNTAX, 501, "5.1.7"},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        const reply_t *r = reply_get (expect[i].id);
        assert_int_equal (r->code, expect[i].code);
        assert_string_equal (r->enhanced, expect[i].enhanced);
    }
}

static void
test_out_of_range_id_gives_a_failure_reply_not_a_crash (void **state)
{
    (void)state;
    assert_int_equal (reply_get (REPLY__COUNT)->code, 554);
    assert_int_equal (reply_get ((reply_id_t)-1)->code, 554);
    assert_int_equal (reply_get ((reply_id_t)100000)->code, 554);
}

static void
test_format_with_default_text (void **state)
{
    (void)state;
    char line[128];
    size_t n = reply_format (line, sizeof line, REPLY_NO_MAILBOX, NULL);
    assert_string_equal (line, "550 5.1.1 no such mailbox");
    assert_int_equal (n, strlen (line));
}

static void
test_format_with_own_text (void **state)
{
    (void)state;
    char line[128];
    size_t n = reply_format (line, sizeof line, REPLY_QUEUED, "bob@demo.test queued as 42");
    assert_string_equal (line, "250 2.0.0 bob@demo.test queued as 42");
    assert_int_equal (n, strlen (line));
}

static void
test_format_truncates_to_buffer_and_returns_what_was_written (void **state)
{
    (void)state;
    char line[12];
    memset (line, 'x', sizeof line);
    size_t n = reply_format (line, sizeof line, REPLY_NO_MAILBOX, NULL);
    assert_int_equal (n, sizeof line - 1);
    assert_int_equal (strlen (line), sizeof line - 1);
    assert_string_equal (line, "550 5.1.1 n");
}

/* Regression (common/reply.c, fixed in 933b350): with size 0, reply_format returned
   size - 1 = SIZE_MAX, a length a caller would trust; nothing was written, so 0. */
static void
test_format_into_zero_sized_buffer_returns_zero (void **state)
{
    (void)state;
    char line[1] = {'x'};
    assert_int_equal (reply_format (line, 0, REPLY_OK, NULL), 0);
    assert_int_equal (line[0], 'x');
}

static void
test_parse_gives_code_and_text (void **state)
{
    (void)state;
    int code = 0;
    const char *text = NULL;
    assert_int_equal (reply_parse ("250 2.0.0 queued as 42", &code, &text), 0);
    assert_int_equal (code, 250);
    assert_string_equal (text, "queued as 42");
    assert_int_equal (reply_parse ("452 4.3.1 insufficient system storage", &code, &text), 0);
    assert_int_equal (code, 452);
    assert_int_equal (reply_parse ("550 5.1.10 x", &code, &text), 0);
    assert_int_equal (code, 550);
}

static void
test_parse_status_line_without_text_gives_empty_text (void **state)
{
    (void)state;
    int code = 0;
    const char *text = NULL;
    assert_int_equal (reply_parse ("221 2.0.0", &code, &text), 0);
    assert_int_equal (code, 221);
    assert_string_equal (text, "");
}

static void
test_parse_accepts_null_outputs (void **state)
{
    (void)state;
    assert_int_equal (reply_parse ("250 2.0.0 OK", NULL, NULL), 0);
}

static void
s_assert_bad (const char *line)
{
    int code = -7;
    const char *text = (const char *)1;
    if (reply_parse (line, &code, &text) != -1)
        fail_msg ("status line accepted but should be refused: \"%s\"", line ? line : "(null)");
    /* nothing is filled in for a refused line */
    assert_int_equal (code, -7);
    assert_ptr_equal (text, (const char *)1);
}

static void
test_bad_status_lines_are_refused (void **state)
{
    (void)state;
    s_assert_bad (NULL);
    s_assert_bad ("");
    s_assert_bad ("OK");
    s_assert_bad ("25 2.0.0 x");    /* two digits */
    s_assert_bad ("2500 2.0.0 x");  /* four digits */
    s_assert_bad ("250-2.0.0 x");   /* SMTP continuation is not a status line here */
    s_assert_bad ("250");           /* no enhanced code */
    s_assert_bad ("250 ");          /* empty enhanced code */
    s_assert_bad ("250 OK");        /* no enhanced code */
    s_assert_bad ("250 2.0 x");     /* one dot */
    s_assert_bad ("250 2.0.0.0 x"); /* three dots */
    s_assert_bad ("250 2.0.a x");   /* letter */
    s_assert_bad ("250 2.0.0text"); /* no space after the enhanced code */
    s_assert_bad ("199 1.0.0 x");   /* below 2xx */
    s_assert_bad ("600 6.0.0 x");   /* above 5xx */
    s_assert_bad ("abc 2.0.0 x");
}

/* Regression (common/reply.c, fixed in 933b350): reply_parse counted dots without requiring
   digits between them, so "2..0" passed. RFC 3463 2: subject and detail are 1*3 digits. */
static void
test_enhanced_code_with_empty_subject_or_detail_is_refused (void **state)
{
    (void)state;
    s_assert_bad ("250 2..0 x");
    s_assert_bad ("250 2.0. x");
    s_assert_bad ("250 2.. x");
}

/* Regression (common/reply.c, fixed in 933b350): RFC 3463 2: subject and detail are at most
   three digits */
static void
test_enhanced_code_with_over_three_digit_subject_is_refused (void **state)
{
    (void)state;
    s_assert_bad ("250 2.1234.0 x");
    s_assert_bad ("250 2.0.1234 x");
}

static void
test_enhanced_class_must_match_code_class (void **state)
{
    (void)state;
    s_assert_bad ("250 5.0.0 x");
    s_assert_bad ("550 2.0.0 x");
    s_assert_bad ("450 5.3.1 x");
    s_assert_bad ("550 4.1.1 x");
}

static void
test_success_and_transient_predicates (void **state)
{
    (void)state;
    assert_true (reply_is_success (250));
    assert_true (reply_is_success (221));
    assert_false (reply_is_success (354));
    assert_false (reply_is_success (452));
    assert_true (reply_is_transient (452));
    assert_false (reply_is_transient (550));
    assert_false (reply_is_transient (250));
}

static void
test_from_line_gives_code_enhanced_and_text_as_a_value (void **state)
{
    (void)state;
    reply_t reply;
    const char *line = "535 5.7.8 authentication credentials invalid";
    assert_int_equal (reply_from_line (&reply, line), 0);
    assert_int_equal (reply.code, 535);
    assert_string_equal (reply.enhanced, "5.7.8");
    assert_string_equal (reply.text, "authentication credentials invalid");
    assert_true (reply_is_permanent (reply.code));
    assert_int_equal (reply_from_line (&reply, "550 5.100.999"), 0);
    assert_string_equal (reply.enhanced, "5.100.999");
    assert_string_equal (reply.text, "");
}

static void
test_from_line_refuses_what_is_no_status_line (void **state)
{
    (void)state;
    reply_t reply;
    const char *bad[] = {"cannot connect to tcp://127.0.0.1:1",
                         "5",
                         "535",
                         "535 x",
                         "535 4.7.8 mixed classes",
                         "199 1.0.0 x",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (reply_from_line (&reply, bad[i]), -1);
        assert_int_equal (reply.code, 0);
        assert_string_equal (reply.enhanced, "");
    }
    assert_int_equal (reply_from_line (&reply, NULL), -1);
}

static void
test_permanent_predicate (void **state)
{
    (void)state;
    assert_true (reply_is_permanent (501));
    assert_true (reply_is_permanent (599));
    assert_false (reply_is_permanent (454));
    assert_false (reply_is_permanent (250));
    assert_false (reply_is_permanent (600));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_reply_has_matching_enhanced_class),
        cmocka_unit_test (test_rfc_table_codes_are_as_the_design_says),
        cmocka_unit_test (test_out_of_range_id_gives_a_failure_reply_not_a_crash),
        cmocka_unit_test (test_format_with_default_text),
        cmocka_unit_test (test_format_with_own_text),
        cmocka_unit_test (test_format_truncates_to_buffer_and_returns_what_was_written),
        cmocka_unit_test (test_format_into_zero_sized_buffer_returns_zero),
        cmocka_unit_test (test_parse_gives_code_and_text),
        cmocka_unit_test (test_parse_status_line_without_text_gives_empty_text),
        cmocka_unit_test (test_parse_accepts_null_outputs),
        cmocka_unit_test (test_bad_status_lines_are_refused),
        cmocka_unit_test (test_enhanced_code_with_empty_subject_or_detail_is_refused),
        cmocka_unit_test (test_enhanced_code_with_over_three_digit_subject_is_refused),
        cmocka_unit_test (test_enhanced_class_must_match_code_class),
        cmocka_unit_test (test_success_and_transient_predicates),
        cmocka_unit_test (test_from_line_gives_code_enhanced_and_text_as_a_value),
        cmocka_unit_test (test_from_line_refuses_what_is_no_status_line),
        cmocka_unit_test (test_permanent_predicate),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
