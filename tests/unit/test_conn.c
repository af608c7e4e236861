/*  test_conn.c — conn's line reading over a real socket pair: the line ending is judged
    before the length (issue 11), and conn_peek/conn_consume leave the rest for the next line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"

static conn_t *
s_pair (int *peer)
{
    int sv[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *peer = sv[1];
    conn_t *conn = conn_new (sv[0], NULL, false);
    assert_non_null (conn);
    return conn;
}

static void
test_over_long_line_ending_in_bare_lf_is_a_bare_lf (void **state)
{
    (void)state;
    int peer;
    conn_t *conn = s_pair (&peer);
    char big[1200];
    memset (big, 'X', sizeof big);
    assert_int_equal (write (peer, big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal (write (peer, "\n.\r\nNOOP\r\n", 10), 10);
    char line[64];
    size_t len = 0;
    assert_int_equal (conn_read_line (conn, line, sizeof line, &len, 2000), CONN_BARE_LF);
    /* an over-long line that does end in CRLF is "too long" */
    assert_int_equal (conn_read_line (conn, line, sizeof line, &len, 2000), CONN_LINE);
    assert_int_equal (write (peer, big, sizeof big), (ssize_t)sizeof big);
    assert_int_equal (write (peer, "\r\n", 2), 2);
    assert_int_equal (conn_read_line (conn, line, sizeof line, &len, 2000), CONN_LINE); /* NOOP */
    assert_int_equal (conn_read_line (conn, line, sizeof line, &len, 2000), CONN_TOO_LONG);
    conn_destroy (&conn);
    close (peer);
}

static void
test_peek_and_consume_leave_the_rest_for_the_next_line (void **state)
{
    (void)state;
    int peer;
    conn_t *conn = s_pair (&peer);
    assert_int_equal (write (peer, "abc\r\n.\r\nQUIT\r\n", 14), 14);
    const char *data = NULL;
    size_t len = 0;
    assert_int_equal (conn_peek (conn, &data, &len, 2000), CONN_DATA);
    assert_true (len >= 8);
    assert_memory_equal (data, "abc\r\n.\r\n", 8);
    conn_consume (conn, 8);
    char line[64];
    assert_int_equal (conn_read_line (conn, line, sizeof line, &len, 2000), CONN_LINE);
    assert_string_equal (line, "QUIT\r\n");
    assert_int_equal (conn_peek (conn, &data, &len, 50), CONN_TIMEOUT);
    close (peer);
    assert_int_equal (conn_peek (conn, &data, &len, 2000), CONN_EOF);
    conn_destroy (&conn);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_over_long_line_ending_in_bare_lf_is_a_bare_lf),
        cmocka_unit_test (test_peek_and_consume_leave_the_rest_for_the_next_line),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
