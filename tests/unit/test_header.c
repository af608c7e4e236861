/*  test_header.c — common/header.h: finding and counting header fields of an RFC 5322
    message without MIME parsing (RFC 5322 2.2: field names, folding, the empty line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

static const char s_message[] = "Received: from a by b\r\n"
                                "From: alice@demo.test\r\n"
                                "To: bob@demo.test\r\n"
                                "Subject: lunch\r\n"
                                " at noon\r\n"
                                "\ttomorrow?\r\n"
                                "RECEIVED: from c by d\r\n"
                                "Message-ID: <1@demo.test>\r\n"
                                "received:from e\r\n"
                                "X-Empty:\r\n"
                                "\r\n"
                                "Subject: not a header, the body\r\n"
                                "Received: body line\r\n";

#define LEN(s) (sizeof (s) - 1)

static void
test_section_length_includes_the_empty_line (void **state)
{
    (void)state;
    const char *msg = "Subject: x\r\n\r\nbody\r\n";
    assert_int_equal (header_section_length (msg, strlen (msg)), 14);
    const char *only = "Subject: x\r\n\r\n";
    assert_int_equal (header_section_length (only, strlen (only)), 14);
}

static void
test_message_without_fields_has_a_two_octet_header_section (void **state)
{
    (void)state;
    const char *msg = "\r\nbody\r\n";
    assert_int_equal (header_section_length (msg, strlen (msg)), 2);
}

static void
test_message_without_header_end_has_no_header_section (void **state)
{
    (void)state;
    const char *msg = "Subject: x\r\nFrom: a@b\r\n";
    assert_int_equal (header_section_length (msg, strlen (msg)), 0);
    assert_int_equal (header_section_length ("", 0), 0);
    assert_int_equal (header_section_length (NULL, 0), 0); /* an empty message's buffer */
    char value[8];
    assert_int_equal (header_find (NULL, 0, "Subject", value, sizeof value), 0);
    /* bare LF is not a line end on the mailbus wire */
    const char *lf = "Subject: x\n\nbody\n";
    assert_int_equal (header_section_length (lf, strlen (lf)), 0);
}

static void
test_find_subject_unfolds_continuation_lines (void **state)
{
    (void)state;
    char out[128];
    assert_int_equal (header_find (s_message, LEN (s_message), "Subject", out, sizeof out), 1);
    /* RFC 5322 2.2.3: unfolding removes the CRLF and keeps the white space (the tab
       becomes a space, as every control character does) */
    assert_string_equal (out, "lunch at noon tomorrow?");
}

static void
test_find_is_case_insensitive_on_the_name (void **state)
{
    (void)state;
    char out[128];
    assert_int_equal (header_find (s_message, LEN (s_message), "subject", out, sizeof out), 1);
    assert_int_equal (header_find (s_message, LEN (s_message), "MESSAGE-ID", out, sizeof out), 1);
    assert_string_equal (out, "<1@demo.test>");
}

static void
test_find_strips_surrounding_white_space (void **state)
{
    (void)state;
    const char *msg = "Subject: \t  padded \t \r\n\r\n";
    char out[64];
    assert_int_equal (header_find (msg, strlen (msg), "Subject", out, sizeof out), 1);
    assert_string_equal (out, "padded");
}

static void
test_find_returns_the_first_field_of_that_name (void **state)
{
    (void)state;
    char out[128];
    assert_int_equal (header_find (s_message, LEN (s_message), "Received", out, sizeof out), 1);
    assert_string_equal (out, "from a by b");
}

static void
test_find_missing_header_returns_zero (void **state)
{
    (void)state;
    char out[64] = "untouched";
    assert_int_equal (header_find (s_message, LEN (s_message), "Cc", out, sizeof out), 0);
    assert_int_equal (header_find (s_message, LEN (s_message), "Subjec", out, sizeof out), 0);
    assert_int_equal (header_find (s_message, LEN (s_message), "Subject-Extra", out, sizeof out), 0);
}

static void
test_find_does_not_look_into_the_body (void **state)
{
    (void)state;
    const char *msg = "From: a@b\r\n\r\nSubject: in the body\r\n";
    char out[64];
    assert_int_equal (header_find (msg, strlen (msg), "Subject", out, sizeof out), 0);
}

static void
test_find_empty_field_gives_empty_value (void **state)
{
    (void)state;
    char out[64] = "x";
    assert_int_equal (header_find (s_message, LEN (s_message), "X-Empty", out, sizeof out), 1);
    assert_string_equal (out, "");
}

static void
test_find_in_and_count_in_look_only_at_the_section_given (void **state)
{
    (void)state;
    size_t hlen = header_section_length (s_message, LEN (s_message));
    char out[64];
    assert_int_equal (header_find_in (s_message, hlen, "Subject", out, sizeof out), 1);
    assert_string_equal (out, "lunch at noon tomorrow?");
    assert_int_equal (header_count_in (s_message, hlen, "Received"), 3);
    /* a section cut before Message-ID does not find it, nor count the last Received */
    size_t cut = (size_t)(strstr (s_message, "Message-ID") - s_message);
    assert_int_equal (header_find_in (s_message, cut, "Message-ID", out, sizeof out), 0);
    assert_int_equal (header_count_in (s_message, cut, "Received"), 2);
}

static void
test_find_truncates_to_the_buffer (void **state)
{
    (void)state;
    char out[6];
    assert_int_equal (header_find (s_message, LEN (s_message), "To", out, sizeof out), 1);
    /* size-1 bytes of the value, terminated */
    assert_string_equal (out, "bob@d");
}

/* Regression (common/header.c, fixed in 933b350): header_find copied the white space after the colon into out
   before stripping it, so that space took a byte of the buffer: a value that fits size-1 bytes exactly
   ("hello" into 6 bytes) came back cut ("hell"). The broker indexes Subject with a fixed buffer, so a subject
   of exactly that length lost its last character. */
static void
test_find_value_that_fits_exactly_is_not_cut (void **state)
{
    (void)state;
    const char *msg = "Subject: hello\r\n\r\n";
    char out[6];
    assert_int_equal (header_find (msg, strlen (msg), "Subject", out, sizeof out), 1);
    assert_string_equal (out, "hello");
}

static void
test_find_turns_control_characters_into_spaces (void **state)
{
    (void)state;
    const char *msg = "Subject: a\x01"
                      "b\x7f"
                      "c\r\n\r\n";
    char out[64];
    assert_int_equal (header_find (msg, strlen (msg), "Subject", out, sizeof out), 1);
    assert_string_equal (out, "a b c");
}

static void
test_find_in_message_without_header_end_reads_what_is_there (void **state)
{
    (void)state;
    const char *msg = "From: a@b\r\nSubject: cut short";
    char out[64];
    assert_int_equal (header_find (msg, strlen (msg), "Subject", out, sizeof out), 1);
    assert_string_equal (out, "cut short");
    assert_int_equal (header_find (msg, strlen (msg), "To", out, sizeof out), 0);
}

static void
test_find_does_not_read_past_the_given_length (void **state)
{
    (void)state;
    /* the length stops before the Subject field; the bytes after it must not be read */
    const char *msg = "From: a@b\r\nSubject: beyond";
    char out[64];
    assert_int_equal (header_find (msg, 11, "Subject", out, sizeof out), 0);
    assert_int_equal (header_find (msg, 15, "Subject", out, sizeof out), 0);
}

static void
test_count_received_fields_in_the_header_only (void **state)
{
    (void)state;
    /* three in the header (any case, with or without a space after the colon), one in the body */
    assert_int_equal (header_count (s_message, LEN (s_message), "Received"), 3);
    assert_int_equal (header_count (s_message, LEN (s_message), "Subject"), 1);
    assert_int_equal (header_count (s_message, LEN (s_message), "Cc"), 0);
}

static void
test_count_ignores_folded_continuations_that_look_like_fields (void **state)
{
    (void)state;
    const char *msg = "Received: a\r\n Received: folded, not a field\r\nReceived: b\r\n\r\n";
    assert_int_equal (header_count (msg, strlen (msg), "Received"), 2);
}

static void
test_count_many_received_fields (void **state)
{
    (void)state;
    char msg[4096] = "";
    for (int i = 0; i < 31; i++)
        strcat (msg, "Received: from x by y\r\n");
    strcat (msg, "\r\nbody\r\n");
    assert_int_equal (header_count (msg, strlen (msg), "Received"), 31);
}

static void
test_count_in_message_without_header_end (void **state)
{
    (void)state;
    const char *msg = "Received: a\r\nReceived: b";
    assert_int_equal (header_count (msg, strlen (msg), "Received"), 2);
}

static void
test_missing_empty_line_goes_where_the_first_non_field_line_starts (void **state)
{
    (void)state;
    /* has its empty line: nothing to mend, also when a field is folded or the body is empty */
    const char *whole = "Subject: x\r\n folded\r\n\r\nbody\r\n";
    assert_int_equal (header_missing_empty_line (whole, strlen (whole)), strlen (whole) + 1);
    assert_int_equal (header_missing_empty_line ("\r\nbody\r\n", 8), 9);
    /* fields only: the line goes at the end */
    const char *fields = "Subject: x\r\nX-Odd :y\r\n\tz\r\n";
    assert_int_equal (header_missing_empty_line (fields, strlen (fields)), strlen (fields));
    /* fields, then a line that is none: the body starts there */
    const char *mixed = "Subject: x\r\nhello world\r\n\r\nmore\r\n";
    assert_int_equal (header_missing_empty_line (mixed, strlen (mixed)), 12);
    const char *colonless = "From: a@b\r\nNo colon here\r\n";
    assert_int_equal (header_missing_empty_line (colonless, strlen (colonless)), 11);
    /* no field at all: in front; a continuation needs a field before it */
    assert_int_equal (header_missing_empty_line ("hello\r\n", 7), 0);
    assert_int_equal (header_missing_empty_line (" Subject: x\r\n", 14), 0);
    assert_int_equal (header_missing_empty_line (": no name\r\n", 11), 0);
    assert_int_equal (header_missing_empty_line ("", 0), 0);
    /* a last line without its CRLF is still looked at */
    assert_int_equal (header_missing_empty_line ("Subject: x\r\nbody", 17), 12);
}

static void
test_complete_adds_a_final_crlf_and_the_missing_empty_line (void **state)
{
    (void)state;
    const struct {
        const char *in, *out;
        size_t at;
    } cases[] = {
        {"Subject: s\r\n", "Subject: s\r\n\r\n", 12},
        {"Subject: s", "Subject: s\r\n\r\n", 12},
        {"text\r\n", "\r\ntext\r\n", 0},
        {"Subject: s\r\n\r\nbody", "Subject: s\r\n\r\nbody\r\n", (size_t)-1},
        {"Subject: s\r\n\r\nbody\r\n", "Subject: s\r\n\r\nbody\r\n", (size_t)-1},
        {"", "\r\n", (size_t)-1}, /* nothing at all: an empty line, no fields, no body */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen (cases[i].in), at = 0;
        char *msg = malloc (len + 1);
        memcpy (msg, cases[i].in, len + 1);
        msg = header_complete (msg, &len, &at);
        assert_string_equal (msg, cases[i].out);
        assert_int_equal (len, strlen (cases[i].out));
        assert_int_equal (at, cases[i].at);
        free (msg);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_section_length_includes_the_empty_line),
        cmocka_unit_test (test_message_without_fields_has_a_two_octet_header_section),
        cmocka_unit_test (test_message_without_header_end_has_no_header_section),
        cmocka_unit_test (test_find_subject_unfolds_continuation_lines),
        cmocka_unit_test (test_find_is_case_insensitive_on_the_name),
        cmocka_unit_test (test_find_strips_surrounding_white_space),
        cmocka_unit_test (test_find_returns_the_first_field_of_that_name),
        cmocka_unit_test (test_find_missing_header_returns_zero),
        cmocka_unit_test (test_find_does_not_look_into_the_body),
        cmocka_unit_test (test_find_empty_field_gives_empty_value),
        cmocka_unit_test (test_find_in_and_count_in_look_only_at_the_section_given),
        cmocka_unit_test (test_find_truncates_to_the_buffer),
        cmocka_unit_test (test_find_value_that_fits_exactly_is_not_cut),
        cmocka_unit_test (test_find_turns_control_characters_into_spaces),
        cmocka_unit_test (test_find_in_message_without_header_end_reads_what_is_there),
        cmocka_unit_test (test_find_does_not_read_past_the_given_length),
        cmocka_unit_test (test_count_received_fields_in_the_header_only),
        cmocka_unit_test (test_count_ignores_folded_continuations_that_look_like_fields),
        cmocka_unit_test (test_count_many_received_fields),
        cmocka_unit_test (test_count_in_message_without_header_end),
        cmocka_unit_test (test_missing_empty_line_goes_where_the_first_non_field_line_starts),
        cmocka_unit_test (test_complete_adds_a_final_crlf_and_the_missing_empty_line),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
