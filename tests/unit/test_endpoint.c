/*  test_endpoint.c — common/endpoint.h: which endpoints are accepted, and which of them stay
    on this machine (the rule that decides whether CURVE is required). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"

static void
s_assert_local (const char *text, bool loopback)
{
    endpoint_t endpoint;
    const char *why = NULL;
    if (endpoint_parse (text, &endpoint, &why) != 0)
        fail_msg ("%s refused: %s", text, why);
    if (endpoint.loopback != loopback)
        fail_msg ("%s: loopback is %d, expected %d", text, endpoint.loopback, loopback);
    assert_int_equal (endpoint_is_loopback (text), loopback);
}

static void
s_assert_refused (const char *text)
{
    endpoint_t endpoint;
    const char *why = NULL;
    if (endpoint_parse (text, &endpoint, &why) == 0)
        fail_msg ("%s accepted", text);
    assert_non_null (why);
    assert_false (endpoint_is_loopback (text));
}

static void
test_loopback_endpoints_are_local (void **state)
{
    (void)state;
    s_assert_local ("tcp://127.0.0.1:5670", true);
    s_assert_local ("tcp://127.1.2.3:1", true);
    s_assert_local ("tcp://localhost:5670", true);
    s_assert_local ("tcp://LOCALHOST:5670", true);
    s_assert_local ("tcp://[::1]:5670", true);
    s_assert_local ("tcp://127.0.0.1:*", true);
    s_assert_local ("ipc:///tmp/mailbus.sock", true);
}

static void
test_wider_endpoints_are_not_local (void **state)
{
    (void)state;
    s_assert_local ("tcp://0.0.0.0:5670", false);
    s_assert_local ("tcp://*:5670", false);
    s_assert_local ("tcp://10.1.2.3:5670", false);
    s_assert_local ("tcp://192.168.1.20:5670", false);
    s_assert_local ("tcp://[::]:5670", false);
    s_assert_local ("tcp://[fe80::1]:5670", false);
    s_assert_local ("tcp://eth0:5670", false);
    s_assert_local ("tcp://lecturer.example.org:5670", false);
    /* looks like loopback to a prefix test, is not */
    s_assert_local ("tcp://127.0.0.1.evil.example:5670", false);
    s_assert_local ("tcp://localhost.example:5670", false);
}

static void
test_tricks_and_garbage_are_refused (void **state)
{
    (void)state;
    /* libzmq's source;destination form: the reproducer listened on 0.0.0.0 */
    s_assert_refused ("tcp://127.0.0.1:1;0.0.0.0:2");
    s_assert_refused ("tcp://0.0.0.0:2;127.0.0.1:1");
    s_assert_refused ("");
    s_assert_refused ("tcp://");
    s_assert_refused ("tcp://127.0.0.1");
    s_assert_refused ("tcp://127.0.0.1:");
    s_assert_refused ("tcp://127.0.0.1:0");
    s_assert_refused ("tcp://127.0.0.1:65536");
    s_assert_refused ("tcp://127.0.0.1:56a");
    s_assert_refused ("tcp://127.0.0.1:+80");
    s_assert_refused ("tcp://:5670");
    s_assert_refused ("tcp://[::1:5670");
    s_assert_refused ("tcp://[]:5670");
    s_assert_refused ("tcp://[not-v6]:5670");
    s_assert_refused ("tcp://::1:5670");
    s_assert_refused ("tcp://host name:5670");
    s_assert_refused ("tcp://127.0.0.1/x:5670");
    s_assert_refused ("pgm://eth0;239.192.1.1:5555");
    s_assert_refused ("ws://127.0.0.1:5670");
    s_assert_refused ("inproc://x");
    s_assert_refused ("ipc://");
    char path[200] = "ipc:///";
    memset (path + 7, 'a', 150);
    path[157] = '\0';
    s_assert_refused (path);
    char host[300] = "tcp://";
    memset (host + 6, 'a', 260);
    strcpy (host + 266, ":5670");
    s_assert_refused (host);
}

static void
test_inproc_is_local_where_a_process_hosts_the_server (void **state)
{
    (void)state;
    endpoint_t endpoint;
    const char *why = NULL;
    assert_int_equal (endpoint_parse_with_inproc ("inproc://mailbus-test-1", &endpoint, &why), 0);
    assert_int_equal (endpoint.transport, ENDPOINT_INPROC);
    assert_string_equal (endpoint.host, "mailbus-test-1");
    assert_true (endpoint.loopback);
    /* the rest parses as endpoint_parse does */
    assert_int_equal (endpoint_parse_with_inproc ("tcp://10.1.2.3:5670", &endpoint, &why), 0);
    assert_false (endpoint.loopback);
    assert_int_equal (endpoint_parse_with_inproc ("ipc:///tmp/x", &endpoint, &why), 0);
    assert_int_equal (endpoint.transport, ENDPOINT_IPC);
    /* nothing outside the process reaches inproc: the programs' endpoint_parse refuses it */
    assert_int_equal (endpoint_parse ("inproc://mailbus-test-1", &endpoint, &why), -1);
    assert_false (endpoint_is_loopback ("inproc://mailbus-test-1"));
}

static void
test_bad_inproc_names_are_refused (void **state)
{
    (void)state;
    endpoint_t endpoint;
    const char *why = NULL;
    const char *bad[] = {"inproc://",    "inproc://a b", "inproc://a\tb",
                         "inproc://x;y", "inproc:/x",    "INPROC://x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (endpoint_parse_with_inproc (bad[i], &endpoint, &why) == 0)
            fail_msg ("%s accepted", bad[i]);
        assert_non_null (why);
    }
    char name[300] = "inproc://";
    memset (name + 9, 'a', 256);
    name[265] = '\0';
    assert_int_equal (endpoint_parse_with_inproc (name, &endpoint, &why), -1);
    name[264] = '\0'; /* 255 octets: the most a name may hold */
    assert_int_equal (endpoint_parse_with_inproc (name, &endpoint, &why), 0);
}

/* Every monitor name is new in the process, parses as an inproc endpoint and says whose it is */
static void
test_unique_inproc_names_are_never_the_same_twice (void **state)
{
    (void)state;
    char first[80], second[80], prefix[40];
    endpoint_inproc_unique (first, sizeof first, "mailbus-test");
    endpoint_inproc_unique (second, sizeof second, "mailbus-test");
    assert_string_not_equal (first, second);
    snprintf (prefix, sizeof prefix, "inproc://mailbus-test-%ld-", (long)getpid ());
    assert_int_equal (strncmp (first, prefix, strlen (prefix)), 0);
    endpoint_t endpoint;
    const char *why = NULL;
    assert_int_equal (endpoint_parse_with_inproc (second, &endpoint, &why), 0);
    assert_int_equal (endpoint.transport, ENDPOINT_INPROC);
    /* a buffer too short is cut, never overrun */
    char small[12];
    memset (small, 'x', sizeof small);
    endpoint_inproc_unique (small, 10, "mailbus-test");
    assert_int_equal (strlen (small), 9);
    assert_int_equal (small[11], 'x');
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_loopback_endpoints_are_local),
        cmocka_unit_test (test_wider_endpoints_are_not_local),
        cmocka_unit_test (test_tricks_and_garbage_are_refused),
        cmocka_unit_test (test_inproc_is_local_where_a_process_hosts_the_server),
        cmocka_unit_test (test_bad_inproc_names_are_refused),
        cmocka_unit_test (test_unique_inproc_names_are_never_the_same_twice),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
