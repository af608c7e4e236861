/*  test_smtp_parse.c — the SMTP command parser, through smtp_parse.h: no socket, no broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp_parse.h"
#include "text.h"

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

/* ---- DATA: smtp_data_feed ---- */

typedef struct {
    char out[8192];
    size_t out_len;
    size_t consumed;
    smtp_data_t d;
} data_run_t;

/* Feeds in in pieces of step octets, as a socket might give them */
static void
s_data (data_run_t *r, const char *in, size_t len, size_t step, size_t max_size)
{
    smtp_data_init (&r->d, max_size);
    r->out_len = r->consumed = 0;
    while (r->consumed < len && !smtp_data_done (&r->d)) {
        size_t piece = len - r->consumed < step ? len - r->consumed : step;
        size_t n = 0;
        size_t used = smtp_data_feed (&r->d, in + r->consumed, piece, r->out + r->out_len, &n);
        assert_true (n <= piece && used <= piece);
        r->out_len += n;
        r->consumed += used;
        if (used < piece)
            assert_true (smtp_data_done (&r->d));
    }
}

static void
test_data_ends_at_crlf_dot_crlf_only_and_undoes_stuffing (void **state)
{
    (void)state;
    static const char in[] = "Subject: x\r\n\r\n..leading dot\r\n.\r\nMAIL FROM:<a@b>\r\n";
    for (size_t step = 1; step <= sizeof in; step++) {
        data_run_t r;
        s_data (&r, in, sizeof in - 1, step, 1000000);
        assert_true (smtp_data_done (&r.d));
        assert_int_equal (r.d.flags, 0);
        assert_int_equal (r.consumed, strlen ("Subject: x\r\n\r\n..leading dot\r\n.\r\n"));
        assert_int_equal (r.out_len, strlen ("Subject: x\r\n\r\n.leading dot\r\n"));
        assert_memory_equal (r.out, "Subject: x\r\n\r\n.leading dot\r\n", r.out_len);
    }
    data_run_t r;
    s_data (&r, ".\r\n", 3, 3, 100); /* the 354's CRLF counts: an empty message */
    assert_true (smtp_data_done (&r.d));
    assert_int_equal (r.out_len, 0);
}

/* issue 11: "<1001+ octets>\n.\r\n" ended DATA and smuggled what followed */
static void
test_over_long_line_then_lf_dot_crlf_does_not_end_data (void **state)
{
    (void)state;
    char in[4096];
    size_t n = text_appendf (in, sizeof in, 0, "Subject: x\r\n\r\nhello\r\n");
    memset (in + n, 'A', 1100);
    in[n + 1100] = '\0';
    n = text_appendf (in, sizeof in, n + 1100,
                      "\n.\r\nMAIL FROM:<admin@demo.test>\r\nRCPT TO:<carol@demo.test>\r\nDATA\r\n"
                      "Subject: SMUGGLED\r\n\r\nx\r\n.\r\n");
    for (size_t step = 1; step < 2000; step = step * 3 + 1) {
        data_run_t r;
        s_data (&r, in, n, step, 1000000);
        assert_true (smtp_data_done (&r.d));
        assert_int_equal (r.consumed, n); /* the real end is the last one */
        assert_true (r.d.flags & SMTP_DATA_BARE);
        assert_true (r.d.flags & SMTP_DATA_TOO_LONG);
    }
}

static void
test_bare_lf_and_bare_cr_never_end_a_line (void **state)
{
    (void)state;
    static const char *fakes[] = {"x\n.\n",        "x\n.\r\n",      "x\r.\r\n", "x\r\n.\n",
                                  "x\r\n.\r.\r\n", "x\r\n.\rX\r\n", "X\n.\r\n"};
    for (size_t i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
        data_run_t r;
        s_data (&r, fakes[i], strlen (fakes[i]), 1, 1000000);
        assert_false (smtp_data_done (&r.d));
        assert_int_equal (r.consumed, strlen (fakes[i]));
        assert_true (r.d.flags & SMTP_DATA_BARE);
        /* the real end still ends it */
        size_t o = 0;
        assert_int_equal (smtp_data_feed (&r.d, "\r\n.\r\nNOOP\r\n", 11, r.out, &o), 5);
        assert_true (smtp_data_done (&r.d));
    }
}

static void
test_line_of_1000_octets_is_fine_1001_is_too_long (void **state)
{
    (void)state;
    char in[1200];
    memset (in, 'a', 998);
    memcpy (in + 998, "\r\n.\r\n", 5);
    data_run_t r;
    s_data (&r, in, 1003, 7, 1000000);
    assert_int_equal (r.d.flags, 0);
    in[0] = '.'; /* a stuffed dot is not counted (RFC 5321 4.5.3.1.6) */
    memmove (in + 1, in, 1003);
    s_data (&r, in, 1004, 7, 1000000);
    assert_int_equal (r.d.flags, 0);
    memset (in, 'a', 999);
    memcpy (in + 999, "\r\n.\r\n", 5);
    s_data (&r, in, 1004, 7, 1000000);
    assert_int_equal (r.d.flags, SMTP_DATA_TOO_LONG);
}

static void
test_size_and_nul_are_flagged (void **state)
{
    (void)state;
    data_run_t r;
    s_data (&r, "abc\r\n.\r\n", 8, 8, 4);
    assert_int_equal (r.d.flags, SMTP_DATA_TOO_BIG);
    s_data (&r, "a\0c\r\n.\r\n", 8, 8, 100);
    assert_int_equal (r.d.flags, SMTP_DATA_NUL);
    assert_true (smtp_data_done (&r.d));
}

static void
test_hostname_validation (void **state)
{
    (void)state;
    assert_true (smtp_hostname_valid ("gw.demo.test"));
    assert_true (smtp_hostname_valid ("localhost"));
    assert_true (smtp_hostname_valid ("a-b.c1"));
    assert_false (smtp_hostname_valid (""));
    assert_false (smtp_hostname_valid (NULL));
    assert_false (smtp_hostname_valid ("a..b"));
    assert_false (smtp_hostname_valid (".a"));
    assert_false (smtp_hostname_valid ("a."));
    assert_false (smtp_hostname_valid ("-a.b"));
    assert_false (smtp_hostname_valid ("a-.b"));
    assert_false (smtp_hostname_valid ("a b"));
    assert_false (smtp_hostname_valid ("a\r\n250 x"));
    char name[300];
    memset (name, 'a', 64);
    name[64] = '\0';
    assert_false (smtp_hostname_valid (name)); /* a 64-octet label */
    name[63] = '\0';
    assert_true (smtp_hostname_valid (name));
    /* 4 labels of 63 and dots: 255 octets is the most */
    memset (name, 'a', 255);
    name[63] = name[127] = name[191] = '.';
    name[255] = '\0';
    assert_true (smtp_hostname_valid (name));
    name[255] = 'a';
    name[256] = '\0';
    assert_false (smtp_hostname_valid (name));
}

static void
test_verb_of_a_line_names_commands_only (void **state)
{
    (void)state;
    assert_int_equal (smtp_verb_of ("auth PLAIN AGFsaWNl\n", 20), CMD_AUTH);
    assert_int_equal (smtp_verb_of ("NOOP\n", 5), CMD_NOOP);
    assert_int_equal (smtp_verb_of ("AGFsaWNlQGRlbW8udGVzdABkZW1v\n", 29), CMD_UNKNOWN);
    assert_int_equal (smtp_verb_of ("", 0), CMD_UNKNOWN);
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
        cmocka_unit_test (test_data_ends_at_crlf_dot_crlf_only_and_undoes_stuffing),
        cmocka_unit_test (test_over_long_line_then_lf_dot_crlf_does_not_end_data),
        cmocka_unit_test (test_bare_lf_and_bare_cr_never_end_a_line),
        cmocka_unit_test (test_line_of_1000_octets_is_fine_1001_is_too_long),
        cmocka_unit_test (test_size_and_nul_are_flagged),
        cmocka_unit_test (test_hostname_validation),
        cmocka_unit_test (test_verb_of_a_line_names_commands_only),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
