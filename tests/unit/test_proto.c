/*  test_proto.c — common/proto.h: parsing requests [id][VERB][arg]..., the argument
    helpers, building requests and replies, and reading a reply's status (docs/PROTOCOL.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "proto.h"

/* a message of n frames given as (data, size) pairs */
static zmsg_t *
s_msg (int n, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list ap;
    va_start (ap, n);
    for (int i = 0; i < n; i++) {
        const char *data = va_arg (ap, const char *);
        size_t size = va_arg (ap, size_t);
        zmsg_addmem (msg, data, size);
    }
    va_end (ap);
    return msg;
}

#define F(s) (s), (sizeof (s) - 1)

static void
s_assert_refused (zmsg_t *msg, reply_id_t expect_reply, const char *expect_id)
{
    proto_request_t req;
    reply_id_t reply = REPLY_OK;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), -1);
    assert_non_null (error);
    assert_int_equal (reply, expect_reply);
    assert_string_equal (req.id, expect_id);
}

static void
test_helo_request_is_parsed (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (5, F ("1"), F ("HELO"), F ("MAILBUS/1"), F ("alice@demo.test"), F ("demo"));
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_string_equal (req.id, "1");
    assert_string_equal (req.verb, "HELO");
    assert_int_equal (req.argc, 3);
    assert_true (proto_arg_is (&req.args[0], PROTO_VERSION));
    assert_true (proto_arg_is (&req.args[1], "alice@demo.test"));
    assert_true (proto_arg_is (&req.args[2], "demo"));
    zmsg_destroy (&msg);
}

static void
test_request_without_arguments_is_parsed (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F ("abc-XYZ_09~!"), F ("NOOP"));
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_string_equal (req.id, "abc-XYZ_09~!");
    assert_string_equal (req.verb, "NOOP");
    assert_int_equal (req.argc, 0);
    zmsg_destroy (&msg);
}

static void
test_id_of_32_octets_and_hyphenated_verb_are_accepted (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (3, F ("0123456789abcdef0123456789abcdef"), F ("MBOX-ADD"), F ("x"));
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_int_equal (strlen (req.id), 32);
    assert_string_equal (req.verb, "MBOX-ADD");
    zmsg_destroy (&msg);
}

static void
test_arguments_may_hold_binary_octets_and_be_empty (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (5, F ("7"), F ("SEND"), F ("a\0b"), F (""), F ("From: a\r\n\r\nx\r\n"));
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_int_equal (req.argc, 3);
    assert_int_equal (req.args[0].size, 3);
    assert_memory_equal (req.args[0].data, "a\0b", 3);
    assert_int_equal (req.args[1].size, 0);
    assert_int_equal (req.args[2].size, 14);
    zmsg_destroy (&msg);
}

static void
test_send_with_100_recipients_is_parsed (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (3, F ("1"), F ("SEND"), F ("alice@demo.test"));
    for (int i = 0; i < MAX_RCPT; i++)
        zmsg_addstrf (msg, "r%d@demo.test", i);
    zmsg_addstr (msg, "Subject: x\r\n\r\nbody\r\n");
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_int_equal (req.argc, MAX_RCPT + 2);
    assert_true (proto_arg_is (&req.args[100], "r99@demo.test"));
    zmsg_destroy (&msg);
}

static void
test_too_many_arguments_gives_too_many_recipients (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (3, F ("9"), F ("SEND"), F ("alice@demo.test"));
    for (int i = 0; i < MAX_RCPT + 1; i++)
        zmsg_addstrf (msg, "r%d@demo.test", i);
    zmsg_addstr (msg, "Subject: x\r\n\r\nbody\r\n");
    s_assert_refused (msg, REPLY_TOO_MANY_RCPT, "9");
    assert_int_equal (reply_get (REPLY_TOO_MANY_RCPT)->code, 452);
    zmsg_destroy (&msg);
}

static void
test_empty_message_is_refused_with_no_id (void **state)
{
    (void)state;
    zmsg_t *msg = zmsg_new ();
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
    s_assert_refused (NULL, REPLY_SYNTAX, PROTO_NO_ID);
}

static void
test_empty_id_is_refused (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F (""), F ("NOOP"));
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
}

static void
test_id_of_33_octets_is_refused (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F ("0123456789abcdef0123456789abcdefX"), F ("NOOP"));
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
}

static void
test_id_with_space_or_control_or_non_ascii_is_refused (void **state)
{
    (void)state;
    const char *bad[] = {"a b", "a\tb", "a\r\n", "\x7f", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmsg_t *msg = s_msg (2, bad[i], strlen (bad[i]), F ("NOOP"));
        s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
        zmsg_destroy (&msg);
    }
    zmsg_t *msg = s_msg (2, F ("a\0b"), F ("NOOP"));
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
}

static void
test_reserved_ids_star_and_dash_are_refused (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F ("*"), F ("NOOP"));
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
    msg = s_msg (2, F ("-"), F ("NOOP"));
    s_assert_refused (msg, REPLY_SYNTAX, PROTO_NO_ID);
    zmsg_destroy (&msg);
}

static void
test_missing_verb_is_refused_echoing_the_id (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (1, F ("42"));
    s_assert_refused (msg, REPLY_SYNTAX, "42");
    zmsg_destroy (&msg);
}

static void
test_empty_verb_is_refused (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F ("42"), F (""));
    s_assert_refused (msg, REPLY_SYNTAX, "42");
    zmsg_destroy (&msg);
}

static void
test_lower_case_verb_is_refused (void **state)
{
    (void)state;
    zmsg_t *msg = s_msg (2, F ("42"), F ("noop"));
    s_assert_refused (msg, REPLY_SYNTAX, "42");
    zmsg_destroy (&msg);
    msg = s_msg (2, F ("43"), F ("Noop"));
    s_assert_refused (msg, REPLY_SYNTAX, "43");
    zmsg_destroy (&msg);
}

static void
test_verb_with_digits_space_or_over_16_octets_is_refused (void **state)
{
    (void)state;
    const char *bad[] = {"HELO2", "HE LO", "NOOP\r\n", "ABCDEFGHIJKLMNOPQ"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmsg_t *msg = s_msg (2, F ("5"), bad[i], strlen (bad[i]));
        s_assert_refused (msg, REPLY_SYNTAX, "5");
        zmsg_destroy (&msg);
    }
    zmsg_t *msg = s_msg (2, F ("5"), F ("NO\0P"));
    s_assert_refused (msg, REPLY_SYNTAX, "5");
    zmsg_destroy (&msg);
    /* 16 octets is still a verb */
    msg = s_msg (2, F ("5"), F ("ABCDEFGHIJKLMNOP"));
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    zmsg_destroy (&msg);
}

static void
test_arg_string_copies_and_terminates (void **state)
{
    (void)state;
    proto_arg_t arg = {(const uint8_t *)"bob@demo.test", 13};
    char buf[14];
    assert_int_equal (proto_arg_string (&arg, buf, sizeof buf), 0);
    assert_string_equal (buf, "bob@demo.test");
    proto_arg_t empty = {(const uint8_t *)"", 0};
    assert_int_equal (proto_arg_string (&empty, buf, sizeof buf), 0);
    assert_string_equal (buf, "");
}

static void
test_arg_string_refuses_what_does_not_fit (void **state)
{
    (void)state;
    proto_arg_t arg = {(const uint8_t *)"bob@demo.test", 13};
    char buf[13];
    assert_int_equal (proto_arg_string (&arg, buf, sizeof buf), -1);
    assert_int_equal (proto_arg_string (NULL, buf, sizeof buf), -1);
}

static void
test_arg_string_refuses_nul_inside (void **state)
{
    (void)state;
    proto_arg_t arg = {(const uint8_t *)"bob\0@demo.test", 14};
    char buf[64];
    assert_int_equal (proto_arg_string (&arg, buf, sizeof buf), -1);
}

static void
test_arg_uint_parses_decimal_numbers (void **state)
{
    (void)state;
    int64_t v = -1;
    proto_arg_t a = {(const uint8_t *)"42", 2};
    assert_int_equal (proto_arg_uint (&a, &v), 0);
    assert_int_equal (v, 42);
    proto_arg_t zero = {(const uint8_t *)"0", 1};
    assert_int_equal (proto_arg_uint (&zero, &v), 0);
    assert_int_equal (v, 0);
    proto_arg_t big = {(const uint8_t *)"999999999999999999", 18};
    assert_int_equal (proto_arg_uint (&big, &v), 0);
    assert_int_equal (v, 999999999999999999LL);
}

static void
test_arg_uint_refuses_non_numbers_and_overflow (void **state)
{
    (void)state;
    const char *bad[] = {"", "-1", "+1", "1a", " 1", "1 ", "0x10", "1.5", "9999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 77;
        proto_arg_t a = {(const uint8_t *)bad[i], strlen (bad[i])};
        if (proto_arg_uint (&a, &v) != -1)
            fail_msg ("\"%s\" accepted as a number", bad[i]);
        assert_int_equal (v, 77);
    }
    int64_t v = 0;
    assert_int_equal (proto_arg_uint (NULL, &v), -1);
}

static void
test_arg_is_compares_exactly (void **state)
{
    (void)state;
    proto_arg_t a = {(const uint8_t *)"MAILBUS/1", 9};
    assert_true (proto_arg_is (&a, "MAILBUS/1"));
    assert_false (proto_arg_is (&a, "MAILBUS/"));
    assert_false (proto_arg_is (&a, "MAILBUS/10"));
    assert_false (proto_arg_is (&a, "mailbus/1"));
    assert_false (proto_arg_is (NULL, "MAILBUS/1"));
    proto_arg_t nul = {(const uint8_t *)"MAILBUS/1\0", 10};
    assert_false (proto_arg_is (&nul, "MAILBUS/1"));
}

static void
test_request_new_then_parse_round_trips (void **state)
{
    (void)state;
    zmsg_t *msg = proto_request_new ("17", "RETR");
    zmsg_addstr (msg, "42");
    proto_request_t req;
    reply_id_t reply;
    const char *error = NULL;
    assert_int_equal (proto_request_parse (msg, &req, &reply, &error), 0);
    assert_string_equal (req.id, "17");
    assert_string_equal (req.verb, "RETR");
    int64_t v = 0;
    assert_int_equal (proto_arg_uint (&req.args[0], &v), 0);
    assert_int_equal (v, 42);
    zmsg_destroy (&msg);
}

static void
test_reply_new_has_id_and_status_line (void **state)
{
    (void)state;
    zmsg_t *msg = proto_reply_new ("3", REPLY_NO_MAILBOX, NULL);
    assert_int_equal (zmsg_size (msg), 2);
    char *id = zmsg_popstr (msg);
    assert_string_equal (id, "3");
    zstr_free (&id);
    int code = 0;
    char line[128];
    assert_int_equal (proto_reply_status (msg, &code, line, sizeof line), 0);
    assert_int_equal (code, 550);
    assert_string_equal (line, "550 5.1.1 no such mailbox");
    zmsg_destroy (&msg);
}

static void
test_reply_newf_formats_text (void **state)
{
    (void)state;
    zmsg_t *msg = proto_reply_newf ("8", REPLY_QUEUED, "%s queued as %d", "bob@demo.test", 42);
    char *id = zmsg_popstr (msg);
    zstr_free (&id);
    char *line = zmsg_popstr (msg);
    assert_string_equal (line, "250 2.0.0 bob@demo.test queued as 42");
    zstr_free (&line);
    zmsg_destroy (&msg);
}

static void
test_reply_status_refuses_non_status_frames (void **state)
{
    (void)state;
    const char *bad[] = {"", "250", "250 2.0.", "hello world", "250 5.0.0 mismatched class"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, bad[i]);
        int code = -1;
        if (proto_reply_status (msg, &code, NULL, 0) != -1)
            fail_msg ("\"%s\" taken for a status line", bad[i]);
        zmsg_destroy (&msg);
    }
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "250 2.0.0 O\0K", 13);
    int code = -1;
    assert_int_equal (proto_reply_status (msg, &code, NULL, 0), -1);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    assert_int_equal (proto_reply_status (msg, &code, NULL, 0), -1);
    zmsg_destroy (&msg);
    assert_int_equal (proto_reply_status (NULL, &code, NULL, 0), -1);
}

static void
test_reply_status_of_oversize_frame_is_refused (void **state)
{
    (void)state;
    char big[2000];
    memset (big, 'x', sizeof big);
    memcpy (big, "250 2.0.0 ", 10);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, big, sizeof big);
    int code = -1;
    assert_int_equal (proto_reply_status (msg, &code, NULL, 0), -1);
    zmsg_destroy (&msg);
}

static void
test_reply_status_copies_line_truncated_to_buffer (void **state)
{
    (void)state;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "250 2.0.0 3 messages, 4120 bytes");
    zmsg_addstr (msg, "3");
    int code = 0;
    char line[10];
    assert_int_equal (proto_reply_status (msg, &code, line, sizeof line), 0);
    assert_int_equal (code, 250);
    assert_string_equal (line, "250 2.0.0");
    zmsg_destroy (&msg);
}

static void
test_move_frames_appends_and_destroys_source (void **state)
{
    (void)state;
    zmsg_t *to = zmsg_new ();
    zmsg_addstr (to, "a");
    zmsg_t *from = zmsg_new ();
    zmsg_addstr (from, "b");
    zmsg_addstr (from, "c");
    proto_move_frames (to, &from);
    assert_null (from);
    assert_int_equal (zmsg_size (to), 3);
    char *s = zmsg_popstr (to);
    zstr_free (&s);
    s = zmsg_popstr (to);
    assert_string_equal (s, "b");
    zstr_free (&s);
    zmsg_destroy (&to);
    /* a NULL source is a no-op */
    to = zmsg_new ();
    proto_move_frames (to, &from);
    assert_int_equal (zmsg_size (to), 0);
    zmsg_destroy (&to);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_helo_request_is_parsed),
        cmocka_unit_test (test_request_without_arguments_is_parsed),
        cmocka_unit_test (test_id_of_32_octets_and_hyphenated_verb_are_accepted),
        cmocka_unit_test (test_arguments_may_hold_binary_octets_and_be_empty),
        cmocka_unit_test (test_send_with_100_recipients_is_parsed),
        cmocka_unit_test (test_too_many_arguments_gives_too_many_recipients),
        cmocka_unit_test (test_empty_message_is_refused_with_no_id),
        cmocka_unit_test (test_empty_id_is_refused),
        cmocka_unit_test (test_id_of_33_octets_is_refused),
        cmocka_unit_test (test_id_with_space_or_control_or_non_ascii_is_refused),
        cmocka_unit_test (test_reserved_ids_star_and_dash_are_refused),
        cmocka_unit_test (test_missing_verb_is_refused_echoing_the_id),
        cmocka_unit_test (test_empty_verb_is_refused),
        cmocka_unit_test (test_lower_case_verb_is_refused),
        cmocka_unit_test (test_verb_with_digits_space_or_over_16_octets_is_refused),
        cmocka_unit_test (test_arg_string_copies_and_terminates),
        cmocka_unit_test (test_arg_string_refuses_what_does_not_fit),
        cmocka_unit_test (test_arg_string_refuses_nul_inside),
        cmocka_unit_test (test_arg_uint_parses_decimal_numbers),
        cmocka_unit_test (test_arg_uint_refuses_non_numbers_and_overflow),
        cmocka_unit_test (test_arg_is_compares_exactly),
        cmocka_unit_test (test_request_new_then_parse_round_trips),
        cmocka_unit_test (test_reply_new_has_id_and_status_line),
        cmocka_unit_test (test_reply_newf_formats_text),
        cmocka_unit_test (test_reply_status_refuses_non_status_frames),
        cmocka_unit_test (test_reply_status_of_oversize_frame_is_refused),
        cmocka_unit_test (test_reply_status_copies_line_truncated_to_buffer),
        cmocka_unit_test (test_move_frames_appends_and_destroys_source),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
