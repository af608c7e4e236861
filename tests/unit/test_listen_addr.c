/*  test_listen_addr.c — the listeners' HOST:PORT parser and loopback rule through
    listen_addr.h: strict syntax (one address, decimal port, brackets for IPv6), and a
    non-loopback address refused unless public_ok. Resolves numeric hosts only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "listen_addr.h"

static void
test_host_and_port_are_split (void **state)
{
    (void)state;
    listen_addr_t addr;
    const char *why = NULL;
    assert_int_equal (listen_addr_parse ("127.0.0.1:2525", &addr, &why), 0);
    assert_string_equal (addr.host, "127.0.0.1");
    assert_string_equal (addr.port, "2525");
    assert_false (addr.ipv6_literal);
    assert_int_equal (listen_addr_parse ("[::1]:1100", &addr, &why), 0);
    assert_string_equal (addr.host, "::1");
    assert_true (addr.ipv6_literal);
    assert_int_equal (listen_addr_parse ("lab-gw.example.org:587", &addr, &why), 0);
    assert_string_equal (addr.host, "lab-gw.example.org");
}

static void
test_bad_addresses_are_refused_with_a_reason (void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        ":2525",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:99999",
        "127.0.0.1:smtp",
        "127.0.0.1:+25",
        "127.0.0.1:25 ",
        " 127.0.0.1:25",
        "127.0.0.1 :25",
        "127.0.0.1:1;0.0.0.0:2",
        "127.0.0.1:1,0.0.0.0:2",
        "127.0.0.1\n:25",
        "::1:25",
        "[::1]25",
        "[::1:25",
        "[]:25",
        "[127.0.0.1]:25",
        "[::1%lo]:25",
        "host..name:25",
        "a/b:25",
        "x:25:26",
        "[::1]:25:26",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        listen_addr_t addr;
        const char *why = NULL;
        if (listen_addr_parse (bad[i], &addr, &why) != -1)
            fail_msg ("accepted '%s'", bad[i]);
        assert_non_null (why);
    }
}

static void
test_overlong_host_and_label_are_refused (void **state)
{
    (void)state;
    char text[LISTEN_ADDR_MAX_HOST + 16];
    memset (text, 'a', LISTEN_ADDR_MAX_LABEL + 1);
    strcpy (text + LISTEN_ADDR_MAX_LABEL + 1, ":25");
    listen_addr_t addr;
    const char *why = NULL;
    assert_int_equal (listen_addr_parse (text, &addr, &why), -1);
    memset (text, 'a', sizeof text);
    for (size_t i = 10; i < LISTEN_ADDR_MAX_HOST + 1; i += 11)
        text[i] = '.';
    strcpy (text + LISTEN_ADDR_MAX_HOST + 1, ":25");
    assert_int_equal (listen_addr_parse (text, &addr, &why), -1);
}

static void
test_loopback_only_unless_public_ok (void **state)
{
    (void)state;
    static const char *loopback[] = {"127.0.0.1:2525", "127.1.2.3:2525", "[::1]:2525",
                                     "[::ffff:127.0.0.1]:25"};
    static const char *public[] = {"0.0.0.0:2525", "[::]:2525", "10.200.0.1:2525", "0:2525",
                                   "[::ffff:10.0.0.1]:25"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        char *error = NULL;
        if (listen_addr_check (loopback[i], false, &error) != 0)
            fail_msg ("refused loopback %s: %s", loopback[i], error);
    }
    for (size_t i = 0; i < sizeof public / sizeof public[0]; i++) {
        char *error = NULL;
        if (listen_addr_check (public[i], false, &error) != -1)
            fail_msg ("accepted %s without public_ok", public[i]);
        assert_non_null (strstr (error, "--allow-self-signed-public"));
        free (error);
        assert_int_equal (listen_addr_check (public[i], true, &error), 0);
    }
}

static void
test_a_control_character_is_quoted_in_the_error (void **state)
{
    (void)state;
    char *error = NULL;
    assert_int_equal (listen_addr_check ("127.0.0.1\r\n:25", false, &error), -1);
    assert_null (strchr (error, '\n'));
    assert_non_null (strstr (error, "\\r\\n"));
    free (error);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_host_and_port_are_split),
        cmocka_unit_test (test_bad_addresses_are_refused_with_a_reason),
        cmocka_unit_test (test_overlong_host_and_label_are_refused),
        cmocka_unit_test (test_loopback_only_unless_public_ok),
        cmocka_unit_test (test_a_control_character_is_quoted_in_the_error),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
