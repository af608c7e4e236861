/*  test_pop3.c — the POP3 server's socket-free parts through pop3_server.h and pop3_lock.h:
    the command parser, the state/flag checks of the command table, CAPA, byte-stuffing and
    TOP, AUTH PLAIN decoding, and the maildrop lock (also across threads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_lock.h"
#include "pop3_server.h"

static int
s_parse (const char *line, pop3_command_t *cmd, const char **why)
{
    *why = NULL;
    return pop3_parse (line, strlen (line), cmd, why);
}

/* ------------------------------------------------------------------ parser */

static void
test_commands_are_case_insensitive_with_arguments (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why;
    assert_int_equal (s_parse ("top 3 10\r\n", &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_TOP);
    assert_int_equal (cmd.argc, 2);
    assert_string_equal (cmd.arg[0], "3");
    assert_string_equal (cmd.arg[1], "10");
    assert_int_equal (s_parse ("STAT\r\n", &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_STAT);
    assert_int_equal (s_parse ("Uidl\r\n", &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_UIDL);
    assert_int_equal (cmd.argc, 0);
}

static void
test_pass_keeps_spaces_in_the_password (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why;
    assert_int_equal (s_parse ("PASS open sesame \r\n", &cmd, &why), 0);
    assert_string_equal (cmd.arg[0], "open sesame ");
    assert_int_equal (s_parse ("PASS\r\n", &cmd, &why), -1);
    assert_int_equal (s_parse ("PASS \r\n", &cmd, &why), -1);
}

static void
test_bad_lines_are_refused_with_a_reason (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why;
    const char *bad[] = {
        "STAT\n",       "STAT\r",     "STAT",         "XYZZY\r\n", "ST\r\n",     "LIST  1\r\n",
        "LIST 1 \r\n",  "RETR\r\n",   "RETR 1 2\r\n", "TOP 1\r\n", "STAT 1\r\n", "LIST 1 2 3\r\n",
        "QUIT now\r\n", "NO\rOP\r\n", "NOOP\nX\r\n",  " STAT\r\n", "\r\n",       "AUTH PLAIN x y\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (s_parse (bad[i], &cmd, &why), -1);
        assert_non_null (why);
    }
    assert_int_equal (pop3_parse ("STAT\0\r\n", 7, &cmd, &why), -1);
    assert_string_equal (why, "NUL in command");
    assert_int_equal (pop3_parse ("PASS a\0b\r\n", 10, &cmd, &why), -1);
    assert_int_equal (s_parse ("XYZZY\r\n", &cmd, &why), -1);
    assert_string_equal (why, "unknown command");
}

static void
test_the_line_limit_is_255_octets_with_crlf (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why;
    char line[300];
    /* "USER " + 248 + CRLF = 255 */
    snprintf (line, sizeof line, "USER %s\r\n", "");
    memset (line + 5, 'a', 248);
    memcpy (line + 253, "\r\n", 3);
    assert_int_equal (strlen (line), 255);
    assert_int_equal (s_parse (line, &cmd, &why), 0);
    memset (line + 5, 'a', 249);
    memcpy (line + 254, "\r\n", 3);
    assert_int_equal (s_parse (line, &cmd, &why), -1);
    assert_string_equal (why, "line too long (255 octets at most)");
}

static void
test_arguments_are_40_characters_except_user_and_initial_response (void **state)
{
    (void)state;
    pop3_command_t cmd;
    const char *why;
    char line[300];
    snprintf (line, sizeof line, "RETR %041d\r\n", 1);
    assert_int_equal (s_parse (line, &cmd, &why), -1);
    snprintf (line, sizeof line, "AUTH %041d\r\n", 1);
    assert_int_equal (s_parse (line, &cmd, &why), -1);
    /* a long address is a valid user name */
    snprintf (line, sizeof line, "USER %s@example.org\r\n", "a.very.long.local.part.of.an.address.indeed");
    assert_int_equal (s_parse (line, &cmd, &why), 0);
    assert_string_equal (cmd.arg[0], "a.very.long.local.part.of.an.address.indeed@example.org");
    /* RFC 5034 4: the initial response is bounded by the line only */
    char response[201];
    memset (response, 'A', 200);
    response[200] = '\0';
    snprintf (line, sizeof line, "AUTH PLAIN %s\r\n", response);
    assert_int_equal (s_parse (line, &cmd, &why), 0);
    assert_int_equal (cmd.id, POP3_AUTH);
    assert_string_equal (cmd.arg[1], response);
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
    assert_int_equal (pop3_number ("+1", 3), 0);
    assert_int_equal (pop3_number ("1x", 3), 0);
    assert_int_equal (pop3_number ("99999999999", 3), 0);
    assert_int_equal (pop3_number ("", 3), 0);
    assert_int_equal (pop3_number ("1", 0), 0);
}

/* ------------------------------------------------------------------ states and flags */

static const char *
s_check (pop3_state_t state, unsigned flags, const char *line)
{
    pop3_command_t cmd;
    const char *why;
    assert_int_equal (s_parse (line, &cmd, &why), 0);
    return pop3_check (state, flags, &cmd);
}

static void
test_transaction_commands_need_a_login_first (void **state)
{
    (void)state;
    const char *transaction[] = {"STAT\r\n", "LIST\r\n", "RETR 1\r\n",  "DELE 1\r\n",
                                 "NOOP\r\n", "RSET\r\n", "TOP 1 0\r\n", "UIDL\r\n"};
    for (size_t i = 0; i < sizeof transaction / sizeof transaction[0]; i++) {
        const char *why = s_check (POP3_AUTHORIZATION, POP3_SF_SECURE, transaction[i]);
        assert_non_null (why);
        assert_non_null (strstr (why, "log in first"));
        assert_null (s_check (POP3_TRANSACTION, POP3_SF_SECURE, transaction[i]));
    }
    assert_null (s_check (POP3_AUTHORIZATION, 0, "CAPA\r\n"));
    assert_null (s_check (POP3_AUTHORIZATION, 0, "QUIT\r\n"));
    assert_null (s_check (POP3_TRANSACTION, 0, "QUIT\r\n"));
}

static void
test_login_commands_are_refused_once_logged_in (void **state)
{
    (void)state;
    unsigned flags = POP3_SF_SECURE | POP3_SF_CAN_TLS | POP3_SF_USER;
    assert_string_equal (s_check (POP3_TRANSACTION, flags, "USER bob@demo.test\r\n"),
                         "command not valid in this state");
    assert_string_equal (s_check (POP3_TRANSACTION, flags, "PASS demo\r\n"),
                         "command not valid in this state");
    assert_string_equal (s_check (POP3_TRANSACTION, flags, "AUTH PLAIN\r\n"),
                         "command not valid in this state");
    assert_string_equal (s_check (POP3_TRANSACTION, POP3_SF_CAN_TLS, "STLS\r\n"),
                         "command not valid in this state");
    assert_non_null (s_check (POP3_UPDATE, flags, "QUIT\r\n"));
}

static void
test_plaintext_login_needs_tls_unless_allowed (void **state)
{
    (void)state;
    const char *login[] = {"USER bob@demo.test\r\n", "PASS demo\r\n", "AUTH PLAIN\r\n", "AUTH\r\n"};
    for (size_t i = 0; i < sizeof login / sizeof login[0]; i++) {
        const char *why = s_check (POP3_AUTHORIZATION, POP3_SF_CAN_TLS | POP3_SF_USER, login[i]);
        assert_non_null (why);
        assert_non_null (strstr (why, "[AUTH]"));
        assert_non_null (strstr (why, "STLS"));
        assert_null (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE | POP3_SF_USER, login[i]));
        assert_null (s_check (POP3_AUTHORIZATION, POP3_SF_PLAINTEXT_OK | POP3_SF_USER, login[i]));
    }
}

static void
test_pass_needs_user_and_auth_only_plain (void **state)
{
    (void)state;
    assert_string_equal (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE, "PASS demo\r\n"), "USER first");
    assert_null (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE | POP3_SF_USER, "PASS demo\r\n"));
    assert_null (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE, "auth plain\r\n"));
    assert_non_null (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE, "AUTH LOGIN\r\n"));
    assert_non_null (s_check (POP3_AUTHORIZATION, POP3_SF_SECURE, "AUTH CRAM-MD5\r\n"));
}

static void
test_stls_only_when_possible_and_not_yet_on (void **state)
{
    (void)state;
    assert_null (s_check (POP3_AUTHORIZATION, POP3_SF_CAN_TLS, "STLS\r\n"));
    assert_string_equal (s_check (POP3_AUTHORIZATION, 0, "STLS\r\n"), "STLS not available");
    assert_string_equal (s_check (POP3_AUTHORIZATION, POP3_SF_CAN_TLS | POP3_SF_SECURE, "STLS\r\n"),
                         "TLS already active");
}

static void
test_message_number_syntax_is_checked (void **state)
{
    (void)state;
    assert_string_equal (s_check (POP3_TRANSACTION, 0, "RETR x\r\n"), "no such message");
    assert_string_equal (s_check (POP3_TRANSACTION, 0, "DELE -1\r\n"), "no such message");
    assert_non_null (s_check (POP3_TRANSACTION, 0, "TOP 1 x\r\n"));
    assert_null (s_check (POP3_TRANSACTION, 0, "TOP 1 0\r\n"));
    assert_null (s_check (POP3_TRANSACTION, 0, "LIST\r\n"));
    assert_null (s_check (POP3_TRANSACTION, 0, "UIDL 7\r\n"));
}

static void
test_capa_advertises_login_and_stls_by_state_and_flags (void **state)
{
    (void)state;
    char buf[512];
    size_t len = pop3_capa (POP3_AUTHORIZATION, POP3_SF_CAN_TLS, buf, sizeof buf);
    assert_int_equal (len, strlen (buf));
    assert_true (strncmp (buf, "+OK", 3) == 0);
    assert_non_null (strstr (buf, "\r\nSTLS\r\n"));
    assert_non_null (strstr (buf, "\r\nTOP\r\n"));
    assert_non_null (strstr (buf, "\r\nUIDL\r\n"));
    assert_non_null (strstr (buf, "\r\nRESP-CODES\r\n"));
    assert_non_null (strstr (buf, "\r\nAUTH-RESP-CODE\r\n"));
    assert_non_null (strstr (buf, "\r\nPIPELINING\r\n"));
    assert_null (strstr (buf, "USER"));
    assert_null (strstr (buf, "SASL"));
    assert_string_equal (buf + len - 5, "\r\n.\r\n");

    pop3_capa (POP3_AUTHORIZATION, POP3_SF_CAN_TLS | POP3_SF_SECURE, buf, sizeof buf);
    assert_null (strstr (buf, "STLS"));
    assert_non_null (strstr (buf, "\r\nUSER\r\n"));
    assert_non_null (strstr (buf, "\r\nSASL PLAIN\r\n"));

    pop3_capa (POP3_AUTHORIZATION, POP3_SF_PLAINTEXT_OK, buf, sizeof buf);
    assert_non_null (strstr (buf, "\r\nUSER\r\n"));
    assert_null (strstr (buf, "STLS"));

    pop3_capa (POP3_TRANSACTION, POP3_SF_CAN_TLS | POP3_SF_PLAINTEXT_OK, buf, sizeof buf);
    assert_null (strstr (buf, "USER"));
    assert_null (strstr (buf, "STLS"));
    assert_non_null (strstr (buf, "\r\nTOP\r\n"));
}

/* ------------------------------------------------------------------ RETR and TOP */

static char *
s_stuff (const char *data, long lines)
{
    size_t len = 0;
    char *out = pop3_stuff ("+OK", data, strlen (data), lines, &len);
    assert_non_null (out);
    char *text = malloc (len + 1);
    memcpy (text, out, len);
    text[len] = '\0';
    free (out);
    assert_int_equal (strlen (text), len);
    return text;
}

static void
test_retr_byte_stuffs_leading_dots_and_terminates (void **state)
{
    (void)state;
    char *out = s_stuff ("Subject: x\r\n\r\n.\r\n..two\r\nmid.dle\r\n.", -1);
    assert_string_equal (out, "+OK\r\nSubject: x\r\n\r\n..\r\n...two\r\nmid.dle\r\n..\r\n.\r\n");
    free (out);
    out = s_stuff ("", -1);
    assert_string_equal (out, "+OK\r\n.\r\n");
    free (out);
}

static void
test_top_sends_header_empty_line_and_n_body_lines (void **state)
{
    (void)state;
    const char *message = "From: a\r\nSubject: s\r\n\r\none\r\n.two\r\nthree\r\n";
    char *out = s_stuff (message, 0);
    assert_string_equal (out, "+OK\r\nFrom: a\r\nSubject: s\r\n\r\n.\r\n");
    free (out);
    out = s_stuff (message, 2);
    assert_string_equal (out, "+OK\r\nFrom: a\r\nSubject: s\r\n\r\none\r\n..two\r\n.\r\n");
    free (out);
    out = s_stuff (message, 99);
    assert_string_equal (out, "+OK\r\nFrom: a\r\nSubject: s\r\n\r\none\r\n..two\r\nthree\r\n.\r\n");
    free (out);
    /* no body at all: the whole header */
    out = s_stuff ("From: a\r\n", 0);
    assert_string_equal (out, "+OK\r\nFrom: a\r\n.\r\n");
    free (out);
}

/* ------------------------------------------------------------------ AUTH PLAIN */

static void
test_auth_plain_decodes_user_and_password (void **state)
{
    (void)state;
    char user[255], password[257];
    /* base64("\0bob@demo.test\0demo") */
    const char *plain = "AGJvYkBkZW1vLnRlc3QAZGVtbw==";
    assert_int_equal (pop3_auth_plain (plain, strlen (plain), user, sizeof user, password, sizeof password),
                      0);
    assert_string_equal (user, "bob@demo.test");
    assert_string_equal (password, "demo");
    /* authzid equal to the user is fine; base64("bob@demo.test\0bob@demo.test\0demo") */
    const char *same = "Ym9iQGRlbW8udGVzdABib2JAZGVtby50ZXN0AGRlbW8=";
    assert_int_equal (pop3_auth_plain (same, strlen (same), user, sizeof user, password, sizeof password), 0);
}

static void
test_auth_plain_refuses_malformed_responses (void **state)
{
    (void)state;
    char user[255], password[257];
    const char *bad[] = {
        "=",                                                /* empty */
        "AGJvYkBkZW1vLnRlc3QAZGVtbw",                       /* no padding */
        "AGJvYkBkZW1vLnRlc3QAZGVtbw==x",                    /* trailing garbage */
        "!!!!",                                             /* not base64 */
        "Ym9iQGRlbW8udGVzdABkZW1v",                         /* "bob@demo.test\0demo": one NUL */
        "YWxpY2VAZGVtby50ZXN0AGJvYkBkZW1vLnRlc3QAZGVtbw==", /* authzid alice, user bob */
        "AGJvYkBkZW1vLnRlc3QA",                             /* empty password */
        "AABkZW1v",                                         /* empty user */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (
            pop3_auth_plain (bad[i], strlen (bad[i]), user, sizeof user, password, sizeof password), -1);
    /* a password longer than the caller's buffer */
    const char *plain = "AGJvYkBkZW1vLnRlc3QAZGVtbw==";
    assert_int_equal (pop3_auth_plain (plain, strlen (plain), user, sizeof user, password, 4), -1);
}

/* ------------------------------------------------------------------ random input */

/* xorshift64: libsodium's randombytes is a system call per value, far too slow here. The seed
   is printed so that a failing run can be repeated (POP3_TEST_SEED=...). */
static uint64_t s_seed = 0;

static uint32_t
s_random (uint32_t upper)
{
    if (s_seed == 0) {
        const char *env = getenv ("POP3_TEST_SEED");
        s_seed =
            env ? strtoull (env, NULL, 10) : ((uint64_t)randombytes_random () << 32 | randombytes_random ());
        s_seed = s_seed ? s_seed : 1;
        print_message ("random seed %llu\n", (unsigned long long)s_seed);
    }
    s_seed ^= s_seed << 13;
    s_seed ^= s_seed >> 7;
    s_seed ^= s_seed << 17;
    return (uint32_t)(s_seed % upper);
}

static void
test_random_lines_never_crash_parser_or_checks (void **state)
{
    (void)state;
    static const char alphabet[] = "USERPASSTATLIRDOPQUIT 0123456789.\r\n\0*=+/";
    char line[POP3_MAX_LINE + 16];
    for (int round = 0; round < 100000; round++) {
        size_t len = s_random (sizeof line);
        for (size_t i = 0; i < len; i++)
            line[i] = s_random (4) ? alphabet[s_random (sizeof alphabet - 1)] : (char)s_random (256);
        if (len >= 2 && s_random (2)) {
            line[len - 2] = '\r';
            line[len - 1] = '\n';
        }
        pop3_command_t cmd;
        const char *why = NULL;
        if (pop3_parse (line, len, &cmd, &why) == 0) {
            assert_int_not_equal (cmd.id, POP3_UNKNOWN);
            for (unsigned flags = 0; flags < 16; flags++)
                for (int st = POP3_AUTHORIZATION; st <= POP3_UPDATE; st++)
                    (void)pop3_check ((pop3_state_t)st, flags, &cmd);
        }
        else
            assert_non_null (why);
    }
}

static void
test_stuffed_messages_unstuff_to_the_original (void **state)
{
    (void)state;
    for (int round = 0; round < 2000; round++) {
        /* a message of CRLF lines, many starting with dots */
        char message[2048];
        size_t size = 0;
        while (size < sizeof message - 64) {
            size_t n = s_random (40);
            for (size_t i = 0; i < n; i++)
                message[size++] = s_random (3) ? '.' : (char)('a' + s_random (26));
            message[size++] = '\r';
            message[size++] = '\n';
            if (!s_random (20))
                break;
        }
        size_t len = 0;
        char *out = pop3_stuff ("+OK", message, size, -1, &len);
        assert_non_null (out);
        assert_true (len >= 8);
        assert_memory_equal (out + len - 5, "\r\n.\r\n", 5);
        /* undo RFC 1939 3 as a client does */
        char *back = malloc (len);
        size_t got = 0;
        const char *p = out + 5, *end = out + len - 3;
        while (p < end) {
            const char *eol = memchr (p, '\n', (size_t)(end - p)) + 1;
            if (*p == '.')
                p++;
            memcpy (back + got, p, (size_t)(eol - p));
            got += (size_t)(eol - p);
            p = eol;
        }
        assert_int_equal (got, size);
        assert_memory_equal (back, message, size);
        free (back);
        free (out);
    }
}

/* ------------------------------------------------------------------ maildrop lock */

static void
test_a_maildrop_is_locked_once (void **state)
{
    (void)state;
    assert_int_equal (pop3_lock_count (), 0);
    assert_true (pop3_lock_acquire ("bob@demo.test"));
    assert_false (pop3_lock_acquire ("bob@demo.test"));
    assert_true (pop3_lock_acquire ("carol@demo.test"));
    assert_int_equal (pop3_lock_count (), 2);
    pop3_lock_release ("bob@demo.test");
    assert_true (pop3_lock_acquire ("bob@demo.test"));
    pop3_lock_release ("bob@demo.test");
    pop3_lock_release ("carol@demo.test");
    pop3_lock_release ("nobody@demo.test"); /* not locked: ignored */
    assert_int_equal (pop3_lock_count (), 0);
}

#define RACERS 16
#define ROUNDS 200

static int s_wins[RACERS];
static int s_holders = 0;
static int s_overlaps = 0;

static void *
s_racer (void *arg)
{
    int index = (int)(intptr_t)arg;
    for (int round = 0; round < ROUNDS; round++) {
        if (pop3_lock_acquire ("bob@demo.test")) {
            if (__atomic_add_fetch (&s_holders, 1, __ATOMIC_SEQ_CST) != 1)
                __atomic_add_fetch (&s_overlaps, 1, __ATOMIC_SEQ_CST);
            s_wins[index]++;
            __atomic_sub_fetch (&s_holders, 1, __ATOMIC_SEQ_CST);
            pop3_lock_release ("bob@demo.test");
        }
    }
    return NULL;
}

static void
test_concurrent_sessions_never_hold_one_maildrop_together (void **state)
{
    (void)state;
    pthread_t threads[RACERS];
    for (int i = 0; i < RACERS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_racer, (void *)(intptr_t)i), 0);
    int total = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join (threads[i], NULL);
        total += s_wins[i];
    }
    assert_int_equal (s_overlaps, 0);
    assert_true (total > 0);
    assert_int_equal (pop3_lock_count (), 0);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_commands_are_case_insensitive_with_arguments),
        cmocka_unit_test (test_pass_keeps_spaces_in_the_password),
        cmocka_unit_test (test_bad_lines_are_refused_with_a_reason),
        cmocka_unit_test (test_the_line_limit_is_255_octets_with_crlf),
        cmocka_unit_test (test_arguments_are_40_characters_except_user_and_initial_response),
        cmocka_unit_test (test_message_numbers_must_be_in_range),
        cmocka_unit_test (test_transaction_commands_need_a_login_first),
        cmocka_unit_test (test_login_commands_are_refused_once_logged_in),
        cmocka_unit_test (test_plaintext_login_needs_tls_unless_allowed),
        cmocka_unit_test (test_pass_needs_user_and_auth_only_plain),
        cmocka_unit_test (test_stls_only_when_possible_and_not_yet_on),
        cmocka_unit_test (test_message_number_syntax_is_checked),
        cmocka_unit_test (test_capa_advertises_login_and_stls_by_state_and_flags),
        cmocka_unit_test (test_retr_byte_stuffs_leading_dots_and_terminates),
        cmocka_unit_test (test_top_sends_header_empty_line_and_n_body_lines),
        cmocka_unit_test (test_auth_plain_decodes_user_and_password),
        cmocka_unit_test (test_auth_plain_refuses_malformed_responses),
        cmocka_unit_test (test_random_lines_never_crash_parser_or_checks),
        cmocka_unit_test (test_stuffed_messages_unstuff_to_the_original),
        cmocka_unit_test (test_a_maildrop_is_locked_once),
        cmocka_unit_test (test_concurrent_sessions_never_hold_one_maildrop_together),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
