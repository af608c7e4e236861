/*  test_text.c — clamped text building (common/text.h): the class of the EHLO overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void
test_pieces_that_fit_are_appended (void **state)
{
    (void)state;
    char buf[32];
    size_t n = text_appendf (buf, sizeof buf, 0, "250-%s\r\n", "a");
    n = text_appendf (buf, sizeof buf, n, "250 %d\r\n", 7);
    assert_int_equal (n, strlen ("250-a\r\n250 7\r\n"));
    assert_string_equal (buf, "250-a\r\n250 7\r\n");
}

static void
test_a_long_piece_is_cut_and_the_count_never_passes_the_end (void **state)
{
    (void)state;
    char buf[16 + 8];
    memset (buf + 16, 'G', 8); /* a guard behind the 16 bytes we hand over */
    size_t n = text_appendf (buf, 16, 0, "%s", "0123456789");
    n = text_appendf (buf, 16, n, "%s", "abcdefghij"); /* snprintf would say 20 */
    assert_int_equal (n, 15);
    assert_string_equal (buf, "0123456789abcde");
    n = text_appendf (buf, 16, n, "more"); /* full: stays put, writes nothing */
    assert_int_equal (n, 15);
    for (int i = 16; i < 24; i++)
        assert_int_equal (buf[i], 'G');
}

static void
test_join_puts_one_space_between_words (void **state)
{
    (void)state;
    char *words[] = {"17", "4294967296", "9223372036854775807"};
    char *text = text_join (words, 3);
    assert_string_equal (text, "17 4294967296 9223372036854775807");
    free (text);
    text = text_join (words, 1);
    assert_string_equal (text, "17");
    free (text);
    text = text_join (words, 0);
    assert_string_equal (text, "");
    free (text);
}

/* RFC 3629's table 3.1: the well-formed sequences, and what is not one */
static void
test_utf8_sequences (void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t length;
    } cases[] = {{"a", 1},
                 {"\xc3\xa9", 2},
                 {"\xe2\x82\xac", 3},
                 {"\xf0\x9f\x98\x80", 4},
                 {"\xf4\x8f\xbf\xbf", 4},
                 {"\xc0\xaf", 0},
                 {"\xc1\xbf", 0},
                 {"\xe0\x80\xaf", 0},
                 {"\xed\xa0\x80", 0},
                 {"\xf0\x80\x80\xaf", 0},
                 {"\xf4\x90\x80\x80", 0},
                 {"\xf5\x80\x80\x80", 0},
                 {"\xf8\x80\x80", 0},
                 {"\xff", 0},
                 {"\x80", 0},
                 {"\xe2\x82", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal (text_utf8_length ((const unsigned char *)cases[i].bytes, strlen (cases[i].bytes)),
                          cases[i].length);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pieces_that_fit_are_appended),
        cmocka_unit_test (test_a_long_piece_is_cut_and_the_count_never_passes_the_end),
        cmocka_unit_test (test_join_puts_one_space_between_words),
        cmocka_unit_test (test_utf8_sequences),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
