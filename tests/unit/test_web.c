/*  test_web.c — mailbus-web's own parsers and its JSON escaping (web/check.h, web/json.h,
    web/render.h): what a browser or a sender controls, through the headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "json.h"
#include "mb_limits.h"
#include "render.h"

static void
test_numbers_are_plain_decimals (void **state)
{
    (void)state;
    int64_t n = -1;
    assert_int_equal (check_number ("0", 10, &n), 0);
    assert_int_equal (n, 0);
    assert_int_equal (check_number ("42", 100, &n), 0);
    assert_int_equal (n, 42);
    const char *bad[] = {NULL, "", "-1", "+1", "01", " 1", "1 ", "1e3", "0x1", "101", "9999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (check_number (bad[i], 100, &n), -1);
}

static void
test_tokens_are_64_lower_hex (void **state)
{
    (void)state;
    char token[65];
    memset (token, 'a', 64);
    token[64] = '\0';
    assert_true (check_token (token));
    token[3] = 'A';
    assert_false (check_token (token));
    assert_false (check_token ("abc"));
    assert_false (check_token (NULL));
}

static void
test_recipients_split_and_bounded (void **state)
{
    (void)state;
    char *copy = NULL;
    const char *to[4];
    assert_int_equal (check_recipients ("a@x, b@y;c@z", &copy, to, 3), 3);
    assert_string_equal (to[0], "a@x");
    assert_string_equal (to[2], "c@z");
    assert_null (to[3]);
    free (copy);
    assert_int_equal (check_recipients ("a b c d", &copy, to, 3), -1);
    free (copy);
    assert_int_equal (check_recipients (" , ;", &copy, to, 3), 0);
    free (copy);
    char long_one[MAX_ADDRESS + 3];
    memset (long_one, 'a', sizeof long_one - 1);
    long_one[sizeof long_one - 1] = '\0';
    assert_int_equal (check_recipients (long_one, &copy, to, 3), -1);
    free (copy);
}

static void
test_listen_addresses (void **state)
{
    (void)state;
    char host[64];
    int port = 0;
    assert_int_equal (check_listen ("127.0.0.1:8025", host, sizeof host, &port), 0);
    assert_string_equal (host, "127.0.0.1");
    assert_int_equal (port, 8025);
    assert_int_equal (check_listen ("[::1]:80", host, sizeof host, &port), 0);
    assert_string_equal (host, "::1");
    const char *bad[] = {"", ":80", "host", "::1:80", "h:65536", "h:-1", "[::1]80", "h:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal (check_listen (bad[i], host, sizeof host, &port), -1);
}

static void
test_file_names_are_made_safe (void **state)
{
    (void)state;
    char name[32];
    check_filename ("../../etc/passwd", 1, name, sizeof name);
    assert_string_equal (name, "passwd");
    check_filename ("a\"b;c:d\\e\r\n.txt", 1, name, sizeof name);
    assert_string_equal (name, "abcde.txt");
    check_filename ("..", 4, name, sizeof name);
    assert_string_equal (name, "part-4");
    check_filename (NULL, 2, name, sizeof name);
    assert_string_equal (name, "part-2");
}

static void
test_json_escapes_html_controls_and_bad_utf8 (void **state)
{
    (void)state;
    json_t j;
    json_init (&j);
    json_strn (&j, "<script>\"&\\\n\x01\xc3\xa9\xff", 16);
    assert_string_equal (j.data, "\"\\u003cscript\\u003e\\\"\\u0026\\\\\\u000a\\u0001\xc3\xa9\\ufffd\"");
    json_free (&j);
    json_raw (&j, "{");
    json_int (&j, "a", 1);
    json_kstr (&j, "b", NULL);
    json_raw (&j, "}");
    assert_string_equal (j.data, "{\"a\":1,\"b\":null}");
    json_free (&j);
}

static const char s_mime[] =
    "From: a@demo.test\r\nSubject: =?UTF-8?B?w6ljaG8=?=\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
    "--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n"
    "--XX\r\nContent-Type: text/html\r\n\r\n<b>x</b>\r\n"
    "--XX\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"../x.png\"\r\n\r\naGVsbG8=\r\n--XX--\r\n";

static void
test_render_a_multipart_message (void **state)
{
    (void)state;
    json_t j;
    json_init (&j);
    assert_int_equal (render_message_json (s_mime, sizeof s_mime - 1, &j), 0);
    assert_non_null (strstr (j.data, "\"subject\":\"\xc3\xa9"
                                     "cho\""));
    assert_non_null (strstr (j.data, "\"text\":\"caf\xc3\xa9\""));
    assert_non_null (strstr (j.data, "\"kind\":\"html\""));
    assert_non_null (strstr (j.data, "\"filename\":\"x.png\",\"size\":5"));
    json_free (&j);
    char *bytes = NULL, *type = NULL, *name = NULL, *html = NULL;
    size_t len = 0;
    assert_int_equal (render_part (s_mime, sizeof s_mime - 1, 2, &bytes, &len, &type, &name), 0);
    assert_int_equal (len, 5);
    assert_memory_equal (bytes, "hello", 5);
    assert_string_equal (type, "image/png");
    free (bytes), free (type), free (name);
    assert_int_equal (render_part (s_mime, sizeof s_mime - 1, 3, &bytes, &len, &type, &name), -1);
    assert_int_equal (render_html (s_mime, sizeof s_mime - 1, 1, &html), 0);
    assert_string_equal (html, "<b>x</b>"); /* the CRLF before a boundary is the boundary's */
    free (html);
    assert_int_equal (render_html (s_mime, sizeof s_mime - 1, 0, &html), -1);
}

int
main (void)
{
    render_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_numbers_are_plain_decimals),
        cmocka_unit_test (test_tokens_are_64_lower_hex),
        cmocka_unit_test (test_recipients_split_and_bounded),
        cmocka_unit_test (test_listen_addresses),
        cmocka_unit_test (test_file_names_are_made_safe),
        cmocka_unit_test (test_json_escapes_html_controls_and_bad_utf8),
        cmocka_unit_test (test_render_a_multipart_message),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    render_shutdown ();
    return failed;
}
