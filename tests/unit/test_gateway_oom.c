/*  test_gateway_oom.c — the gateway short of memory: an SMTP session answers 421 4.3.0 (and
    logs it) instead of going silent or crashing, and a buffer says when an append failed for
    want of memory. Allocations are made to fail on purpose (alloc_fail.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc_fail.h"
#include "buffer.h"
#include "conn.h"
#include "pool.h"
#include "smtp_parse.h"
#include "smtp_server.h"

/* Runs one SMTP session over a socket pair on what input holds (sent before it starts);
   returns what the server wrote, NUL-terminated */
static char *
s_session (const char *input, int failing_callocs)
{
    int sv[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
    conn_t *conn = conn_new (sv[0], NULL, false);
    assert_non_null (conn);
    pool_t *pool = pool_new ("tcp://127.0.0.1:1", "gw@demo.test", "secret", 1, 100);
    assert_non_null (pool);
    gateway_config_t config = {
        .hostname = "mx.demo.test", .max_message_bytes = 1000, .smtp_timeout_ms = 2000};
    assert_int_equal (write (sv[1], input, strlen (input)), (ssize_t)strlen (input));
    alloc_fail_callocs = failing_callocs;
    smtp_serve (conn, &config, pool, 1);
    alloc_fail_callocs = 0;
    alloc_fail_malloc_of = 0;
    static char out[4096];
    ssize_t n = recv (sv[1], out, sizeof out - 1, MSG_DONTWAIT);
    out[n > 0 ? n : 0] = '\0';
    pool_destroy (&pool);
    conn_destroy (&conn);
    close (sv[1]);
    return out;
}

static void
test_a_command_short_of_memory_gives_421_4_3_0 (void **state)
{
    (void)state;
    alloc_fail_malloc_of = sizeof (smtp_command_t);
    char *out = s_session ("NOOP\r\nNOOP\r\n", 0);
    assert_non_null (strstr (out, "220 mx.demo.test "));
    assert_non_null (strstr (out, "\r\n421 4.3.0 out of memory, closing connection\r\n"));
    assert_null (strstr (out, "250")); /* the session ended there */
}

static void
test_a_session_short_of_memory_gives_421_4_3_0 (void **state)
{
    (void)state;
    char *out = s_session ("NOOP\r\n", 1); /* the session's own calloc */
    assert_string_equal (out, "421 4.3.0 out of memory, closing connection\r\n");
}

static void
test_a_failed_realloc_marks_the_buffer_short_of_memory (void **state)
{
    (void)state;
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (buffer_append (&b, "head", 4), 0);
    assert_false (b.no_memory);
    static char big[100000];
    alloc_fail_reallocs = 1;
    assert_int_equal (buffer_append (&b, big, sizeof big), -1);
    assert_true (b.no_memory);
    assert_string_equal (b.data, "head"); /* what it held is untouched */
    assert_int_equal (buffer_append (&b, "!", 1), 0);
    assert_true (b.no_memory); /* sticky: a piece is missing whatever follows */
    buffer_free (&b);
    assert_false (b.no_memory);
    /* a bound is not memory */
    buffer_t bounded = BUFFER_INIT (2);
    assert_int_equal (buffer_append (&bounded, "abc", 3), -1);
    assert_false (bounded.no_memory);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_command_short_of_memory_gives_421_4_3_0),
        cmocka_unit_test (test_a_session_short_of_memory_gives_421_4_3_0),
        cmocka_unit_test (test_a_failed_realloc_marks_the_buffer_short_of_memory),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
