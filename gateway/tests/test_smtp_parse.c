/*  test_smtp_parse.c — the SMTP command parser, through smtp_parse.h: no socket, no broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_parse.h"

static int
s_parse (const char *line, smtp_command_t *cmd)
{
    return smtp_parse_command (line, strlen (line), cmd);
}

static void
test_helo_and_ehlo_take_a_domain (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("EHLO client.example\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_EHLO);
    assert_string_equal (cmd.args, "client.example");
    assert_int_equal (s_parse ("helo [127.0.0.1]\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_HELO);
    assert_int_equal (s_parse ("EHLO\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
}

static void
test_verbs_are_case_insensitive (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("noop\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_NOOP);
    assert_int_equal (s_parse ("StartTLS\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_STARTTLS);
}

static void
test_unknown_verb_gives_500_5_5_1 (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("FROB x\r\n", &cmd), -1);
    assert_int_equal (cmd.id, CMD_UNKNOWN);
    assert_int_equal (cmd.error.code, 500);
    assert_string_equal (cmd.error.enhanced, "5.5.1");
    assert_string_equal (cmd.verb, "FROB");
    /* a verb glued to something else is not that verb */
    assert_int_equal (s_parse ("NOOPX\r\n", &cmd), -1);
}

static void
test_mail_from_with_size_and_body (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL FROM:<Alice@Demo.Test> SIZE=1234 BODY=8BITMIME\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_MAIL);
    assert_string_equal (cmd.path.full, "alice@demo.test");
    assert_int_equal (cmd.size, 1234);
    assert_int_equal (cmd.body, SMTP_BODY_8BITMIME);
    assert_false (cmd.null_path);
}

static void
test_mail_from_null_path_is_allowed (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL FROM:<>\r\n", &cmd), 0);
    assert_true (cmd.null_path);
    assert_int_equal (cmd.size, -1);
}

static void
test_mail_from_lenient_forms (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL FROM: <a@b.test>\r\n", &cmd), 0);
    assert_string_equal (cmd.path.full, "a@b.test");
    assert_int_equal (s_parse ("MAIL FROM:a@b.test\r\n", &cmd), 0);
    assert_string_equal (cmd.path.full, "a@b.test");
    /* RFC 5321 C: source routes are accepted and ignored */
    assert_int_equal (s_parse ("RCPT TO:<@relay.test:bob@demo.test>\r\n", &cmd), 0);
    assert_string_equal (cmd.path.full, "bob@demo.test");
}

static void
test_bad_paths_give_501 (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL TO:<a@b.test>\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
    assert_int_equal (s_parse ("MAIL FROM:<not an address>\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
    assert_string_equal (cmd.error.enhanced, "5.1.7");
    assert_int_equal (s_parse ("RCPT TO:<>\r\n", &cmd), -1);
    assert_string_equal (cmd.error.enhanced, "5.1.3");
    assert_int_equal (s_parse ("RCPT TO:<bob@demo.test\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
    assert_int_equal (s_parse ("MAIL FROM:<a@b.test>SIZE=1\r\n", &cmd), -1);
}

static void
test_unknown_parameter_gives_555 (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL FROM:<a@b.test> FOO=bar\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 555);
    /* SIZE belongs to MAIL only */
    assert_int_equal (s_parse ("RCPT TO:<a@b.test> SIZE=10\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 555);
    assert_int_equal (s_parse ("MAIL FROM:<a@b.test> SIZE=ten\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
}

static void
test_huge_size_saturates (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("MAIL FROM:<a@b.test> SIZE=99999999999999999999\r\n", &cmd), 0);
    assert_true (cmd.size > 1000000000LL);
}

static void
test_line_must_end_with_crlf_and_hold_no_nul (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("NOOP\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 500);
    assert_int_equal (smtp_parse_command ("NO\0OP\r\n", 7, &cmd), -1);
    assert_int_equal (cmd.error.code, 500);
    assert_int_equal (s_parse ("NOOP\rx\r\n", &cmd), -1);
}

static void
test_command_line_over_512_octets_is_refused (void **state)
{
    (void)state;
    smtp_command_t cmd;
    char line[2100];
    memset (line, 'a', sizeof line);
    memcpy (line, "NOOP ", 5);
    memcpy (line + 2000 - 2, "\r\n", 3);
    assert_int_equal (s_parse (line, &cmd), -1);
    assert_int_equal (cmd.error.code, 500);
    /* exactly 512 with CRLF is fine */
    memcpy (line + 510, "\r\n", 3);
    assert_int_equal (s_parse (line, &cmd), 0);
    /* AUTH may be longer (RFC 4954 4) */
    memcpy (line, "AUTH PLAIN ", 11);
    memcpy (line + 1000, "\r\n", 3);
    assert_int_equal (s_parse (line, &cmd), 0);
    assert_int_equal (cmd.id, CMD_AUTH);
}

static void
test_data_rset_quit_starttls_take_no_arguments (void **state)
{
    (void)state;
    smtp_command_t cmd;
    assert_int_equal (s_parse ("DATA\r\n", &cmd), 0);
    assert_int_equal (s_parse ("DATA x\r\n", &cmd), -1);
    assert_int_equal (cmd.error.code, 501);
    assert_int_equal (s_parse ("STARTTLS now\r\n", &cmd), -1);
    assert_int_equal (s_parse ("QUIT \r\n", &cmd), 0); /* a trailing space is harmless */
    assert_int_equal (s_parse ("TURN\r\n", &cmd), 0);
    assert_int_equal (cmd.id, CMD_TURN);
}

static void
test_base64_decoding (void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal (smtp_base64_decode ("AGFsaWNlQGRlbW8udGVzdABkZW1v", 28, out, sizeof out), 21);
    assert_int_equal (smtp_base64_decode ("not base64!", 11, out, sizeof out), -1);
    assert_int_equal (smtp_base64_decode ("YQ", 2, out, sizeof out), -1); /* padding required */
    assert_int_equal (smtp_base64_decode ("YQ==", 4, out, sizeof out), 1);
}

static void
test_auth_plain_message (void **state)
{
    (void)state;
    char user[64], password[64];
    const unsigned char ok[] = "\0alice@demo.test\0demo";
    assert_int_equal (smtp_parse_auth_plain (ok, sizeof ok - 1, user, sizeof user, password, sizeof password),
                      0);
    assert_string_equal (user, "alice@demo.test");
    assert_string_equal (password, "demo");
    const unsigned char same[] = "a@b\0a@b\0pw";
    assert_int_equal (
        smtp_parse_auth_plain (same, sizeof same - 1, user, sizeof user, password, sizeof password), 0);
    const unsigned char other[] = "root@b\0a@b\0pw";
    assert_int_equal (
        smtp_parse_auth_plain (other, sizeof other - 1, user, sizeof user, password, sizeof password), -1);
    const unsigned char one_nul[] = "a@b\0pw";
    assert_int_equal (
        smtp_parse_auth_plain (one_nul, sizeof one_nul - 1, user, sizeof user, password, sizeof password),
        -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_helo_and_ehlo_take_a_domain),
        cmocka_unit_test (test_verbs_are_case_insensitive),
        cmocka_unit_test (test_unknown_verb_gives_500_5_5_1),
        cmocka_unit_test (test_mail_from_with_size_and_body),
        cmocka_unit_test (test_mail_from_null_path_is_allowed),
        cmocka_unit_test (test_mail_from_lenient_forms),
        cmocka_unit_test (test_bad_paths_give_501),
        cmocka_unit_test (test_unknown_parameter_gives_555),
        cmocka_unit_test (test_huge_size_saturates),
        cmocka_unit_test (test_line_must_end_with_crlf_and_hold_no_nul),
        cmocka_unit_test (test_command_line_over_512_octets_is_refused),
        cmocka_unit_test (test_data_rset_quit_starttls_take_no_arguments),
        cmocka_unit_test (test_base64_decoding),
        cmocka_unit_test (test_auth_plain_message),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
