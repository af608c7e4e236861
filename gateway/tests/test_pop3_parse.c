/*  test_pop3_parse.c — the POP3 command parser and the maildrop lock, through pop3_server.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "pop3_server.h"

static int
s_parse (const char *line, pop3_command_t *cmd, const char **why)
{
    return pop3_parse (line, strlen (line), cmd, why);
}

static void
test_commands_are_case_insensitive_with_arguments (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why = NULL;
    assert_int_equal (s_parse ("top 3 10\r\n", &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_TOP);
    assert_int_equal (cmd.argc, 2);
    assert_string_equal (cmd.arg[0], "3");
    assert_string_equal (cmd.arg[1], "10");
    assert_int_equal (s_parse ("STAT\r\n", &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_STAT);
}

static void
test_pass_keeps_spaces_in_the_password (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why = NULL;
    assert_int_equal (s_parse ("PASS open sesame \r\n", &cmd, &why), 0);
    assert_string_equal (cmd.arg[0], "open sesame ");
    assert_int_equal (s_parse ("PASS\r\n", &cmd, &why), -1);
}

static void
test_bad_lines_are_refused_with_a_reason (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why = NULL;
    const char *bad[] = {"STAT\n", "XYZZY\r\n", "ST\r\n", "LIST  1\r\n", "LIST 1 \r\n", "RETR\r\n",
                         "RETR 1 2\r\n", "TOP 1\r\n", "STAT 1\r\n", "LIST 1 2 3\r\n", "QUIT now\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal (s_parse (bad[i], &cmd, &why), -1);
        assert_non_null (why);
    }
    char long_arg[80];
    snprintf (long_arg, sizeof long_arg, "USER %041d\r\n", 1);
    assert_int_equal (s_parse (long_arg, &cmd, &why), -1);
    assert_int_equal (pop3_parse ("STAT\0\r\n", 7, &cmd, &why), -1);
}

static void
test_message_numbers_must_be_in_range (void **state)
{
    (void)state;
    assert_int_equal (pop3_number ("1", 3), 1);
    assert_int_equal (pop3_number ("3", 3), 3);
    assert_int_equal (pop3_number ("4", 3), 0);
    assert_int_equal (pop3_number ("0", 3), 0);
    assert_int_equal (pop3_number ("-1", 3), 0);
    assert_int_equal (pop3_number ("1x", 3), 0);
    assert_int_equal (pop3_number ("99999999999", 3), 0);
    assert_int_equal (pop3_number ("", 3), 0);
}

static void
test_a_maildrop_is_locked_once (void **state)
{
    (void)state;
    assert_true (pop3_lock ("bob@demo.test"));
    assert_false (pop3_lock ("bob@demo.test"));
    assert_true (pop3_lock ("carol@demo.test"));
    pop3_unlock ("bob@demo.test");
    assert_true (pop3_lock ("bob@demo.test"));
    pop3_unlock ("bob@demo.test");
    pop3_unlock ("carol@demo.test");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_commands_are_case_insensitive_with_arguments),
        cmocka_unit_test (test_pass_keeps_spaces_in_the_password),
        cmocka_unit_test (test_bad_lines_are_refused_with_a_reason),
        cmocka_unit_test (test_message_numbers_must_be_in_range),
        cmocka_unit_test (test_a_maildrop_is_locked_once),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
