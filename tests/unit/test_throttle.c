/*  test_throttle.c — the per-address throttle through throttle.h, on a clock the test turns:
    the connection cap and its slots coming back, IPv6 counted by /64, the growing delay, the
    block and its end, failures forgotten with time, a table that stays bounded under a flood
    of addresses without losing a connected or blocked one, bad peers, and many threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gw_limits.h"
#include "throttle.h"

static int64_t s_now = 1000000;

static int64_t
s_clock (void)
{
    return s_now;
}

static throttle_t *
s_new (int max_connections, int max_failures, int capacity)
{
    throttle_config_t config = {.max_connections = max_connections,
                                .max_failures = max_failures,
                                .delay_ms = 100,
                                .block_ms = 60000,
                                .capacity = capacity,
                                .clock_ms = s_clock};
    throttle_t *self = throttle_new (&config);
    assert_non_null (self);
    return self;
}

static struct sockaddr_storage
s_addr (const char *text)
{
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton (AF_INET, text, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else {
        assert_int_equal (inet_pton (AF_INET6, text, &v6->sin6_addr), 1);
        v6->sin6_family = AF_INET6;
    }
    return ss;
}

static throttle_verdict_t
s_connect (throttle_t *self, const char *text)
{
    struct sockaddr_storage ss = s_addr (text);
    return throttle_connect (self, (struct sockaddr *)&ss, "test");
}

static void
s_disconnect (throttle_t *self, const char *text)
{
    struct sockaddr_storage ss = s_addr (text);
    throttle_disconnect (self, (struct sockaddr *)&ss);
}

static void
test_connections_are_capped_per_address_and_come_back (void **state)
{
    (void)state;
    throttle_t *t = s_new (3, 10, 16);
    for (int i = 0; i < 3; i++)
        assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_TOO_MANY);
    assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_TOO_MANY);
    assert_int_equal (s_connect (t, "127.0.0.2"), THROTTLE_OK);
    s_disconnect (t, "127.0.0.1");
    assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_TOO_MANY);
    for (int i = 0; i < 3; i++)
        s_disconnect (t, "127.0.0.1");
    s_disconnect (t, "127.0.0.1"); /* one too many is ignored, never below zero */
    s_disconnect (t, "10.9.9.9");  /* an address never seen is ignored */
    for (int i = 0; i < 3; i++)
        assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "127.0.0.1"), THROTTLE_TOO_MANY);
    throttle_destroy (&t);
    throttle_destroy (&t);
    assert_null (t);
}

static void
test_ipv6_counts_by_64_prefix_and_mapped_ipv4_is_ipv4 (void **state)
{
    (void)state;
    throttle_t *t = s_new (2, 10, 16);
    assert_int_equal (s_connect (t, "2001:db8:1:2::1"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "2001:db8:1:2:ffff::9"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "2001:db8:1:2:abcd::1"), THROTTLE_TOO_MANY);
    assert_int_equal (s_connect (t, "2001:db8:1:3::1"), THROTTLE_OK); /* another /64 */
    assert_int_equal (s_connect (t, "192.0.2.7"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "::ffff:192.0.2.7"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "192.0.2.7"), THROTTLE_TOO_MANY);
    throttle_destroy (&t);
}

static void
test_failures_delay_more_each_time_then_block_until_it_ends (void **state)
{
    (void)state;
    throttle_t *t = s_new (5, 4, 16);
    assert_false (throttle_blocked (t, "10.0.0.1:1000"));
    assert_int_equal (throttle_failure (t, "10.0.0.1:1000", THROTTLE_AUTH), 100);
    assert_int_equal (throttle_failure (t, "10.0.0.1:1001", THROTTLE_AUTH), 200); /* any port */
    assert_int_equal (throttle_failure (t, "10.0.0.1:1002", THROTTLE_AUTH), 400);
    assert_false (throttle_blocked (t, "10.0.0.1:1"));
    assert_int_equal (throttle_failure (t, "10.0.0.1:1003", THROTTLE_AUTH), -1);
    assert_true (throttle_blocked (t, "10.0.0.1:2"));
    assert_int_equal (throttle_failure (t, "10.0.0.1:1004", THROTTLE_AUTH), -1);
    assert_int_equal (s_connect (t, "10.0.0.1"), THROTTLE_BLOCKED);
    /* another address is not touched */
    assert_false (throttle_blocked (t, "10.0.0.2:1"));
    assert_int_equal (s_connect (t, "10.0.0.2"), THROTTLE_OK);
    /* the block ends after block_ms, and the address starts again from the first delay */
    s_now += 59999;
    assert_true (throttle_blocked (t, "10.0.0.1:2"));
    s_now += 1;
    assert_false (throttle_blocked (t, "10.0.0.1:2"));
    assert_int_equal (s_connect (t, "10.0.0.1"), THROTTLE_OK);
    assert_int_equal (throttle_failure (t, "10.0.0.1:1005", THROTTLE_AUTH), 100);
    throttle_destroy (&t);
}

/* unknown recipients count as one failure per THROTTLE_RECIPIENT_WEIGHT: a typo costs no
   delay, probing a domain ends in the same block as guessing passwords */
static void
test_unknown_recipients_count_one_failure_per_weight (void **state)
{
    (void)state;
    throttle_t *t = s_new (5, 3, 16);
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i < THROTTLE_RECIPIENT_WEIGHT; i++)
            assert_int_equal (throttle_failure (t, "10.0.0.9:1", THROTTLE_RECIPIENT), 0);
        assert_int_equal (throttle_failure (t, "10.0.0.9:1", THROTTLE_RECIPIENT), round == 0 ? 100 : 200);
    }
    for (int i = 1; i < THROTTLE_RECIPIENT_WEIGHT; i++)
        assert_int_equal (throttle_failure (t, "10.0.0.9:1", THROTTLE_RECIPIENT), 0);
    assert_false (throttle_blocked (t, "10.0.0.9:1"));
    assert_int_equal (throttle_failure (t, "10.0.0.9:1", THROTTLE_RECIPIENT), -1);
    assert_true (throttle_blocked (t, "10.0.0.9:1"));
    throttle_destroy (&t);
}

static void
test_delay_is_capped (void **state)
{
    (void)state;
    throttle_config_t config = throttle_defaults (10);
    config.clock_ms = s_clock;
    config.max_failures = 1000;
    throttle_t *t = throttle_new (&config);
    int last = 0;
    for (int i = 0; i < 100; i++) {
        int delay = throttle_failure (t, "10.1.1.1:5", THROTTLE_AUTH);
        assert_true (delay >= last && delay <= THROTTLE_DELAY_MAX_MS);
        last = delay;
    }
    assert_int_equal (last, THROTTLE_DELAY_MAX_MS);
    throttle_destroy (&t);
}

static void
test_failures_are_forgiven_with_time (void **state)
{
    (void)state;
    throttle_t *t = s_new (5, 3, 16);
    assert_int_equal (throttle_failure (t, "10.0.0.3:1", THROTTLE_AUTH), 100);
    assert_int_equal (throttle_failure (t, "10.0.0.3:1", THROTTLE_AUTH), 200);
    s_now += THROTTLE_DECAY_MS; /* one forgiven: the next is the second again */
    assert_int_equal (throttle_failure (t, "10.0.0.3:1", THROTTLE_AUTH), 200);
    s_now += 2 * THROTTLE_DECAY_MS; /* both forgiven, and the address forgotten */
    assert_int_equal (throttle_size (t), 0);
    assert_int_equal (throttle_failure (t, "10.0.0.3:1", THROTTLE_AUTH), 100);
    throttle_destroy (&t);
}

static void
test_table_stays_bounded_and_keeps_connected_and_blocked_addresses (void **state)
{
    (void)state;
    const int capacity = 64;
    throttle_t *t = s_new (1, 2, capacity);
    /* a blocked address and one with an open connection */
    throttle_failure (t, "10.0.0.9:1", THROTTLE_AUTH);
    assert_int_equal (throttle_failure (t, "10.0.0.9:1", THROTTLE_AUTH), -1);
    assert_int_equal (s_connect (t, "10.0.0.8"), THROTTLE_OK);
    /* a flood of addresses, each failing once: many times the table's size */
    char peer[64];
    for (int i = 0; i < capacity * 50; i++) {
        s_now++;
        snprintf (peer, sizeof peer, "172.16.%d.%d:4000", (i >> 8) & 0xff, i & 0xff);
        assert_int_equal (throttle_failure (t, peer, THROTTLE_AUTH), 100);
        assert_true (throttle_size (t) <= capacity);
    }
    assert_int_equal (throttle_size (t), capacity);
    assert_true (throttle_blocked (t, "10.0.0.9:1"));
    assert_int_equal (s_connect (t, "10.0.0.8"), THROTTLE_TOO_MANY); /* its connection still counts */
    throttle_destroy (&t);
}

static void
test_a_table_full_of_connections_lets_a_new_address_in_uncounted (void **state)
{
    (void)state;
    throttle_t *t = s_new (1, 2, 4);
    char addr[32];
    for (int i = 1; i <= 4; i++) {
        snprintf (addr, sizeof addr, "10.2.0.%d", i);
        assert_int_equal (s_connect (t, addr), THROTTLE_OK);
    }
    /* no place: the session cap of the listener is the bound then (capacity > max_sessions) */
    assert_int_equal (s_connect (t, "10.2.0.9"), THROTTLE_OK);
    assert_int_equal (throttle_failure (t, "10.2.0.9:1", THROTTLE_AUTH), 0);
    s_disconnect (t, "10.2.0.9");
    assert_int_equal (throttle_size (t), 4);
    throttle_destroy (&t);
}

static void
test_bad_peers_and_null_record_nothing (void **state)
{
    (void)state;
    throttle_t *t = s_new (1, 1, 8);
    const char *peers[] = {NULL,           "",
                           "unknown",      "127.0.0.1",
                           ":25",          "999.1.1.1:25",
                           "1.2.3.4\n:25", "a:b:c:d:e:f:g:h:i:25",
                           "1.2.3.4 :25"};
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        assert_int_equal (throttle_failure (t, peers[i], THROTTLE_AUTH), 0);
        assert_false (throttle_blocked (t, peers[i]));
    }
    assert_int_equal (throttle_size (t), 0);
    assert_int_equal (throttle_failure (NULL, "1.2.3.4:5", THROTTLE_AUTH), 0);
    assert_false (throttle_blocked (NULL, "1.2.3.4:5"));
    assert_int_equal (throttle_connect (NULL, NULL, "x"), THROTTLE_OK);
    assert_int_equal (throttle_connect (t, NULL, "x"), THROTTLE_OK);
    struct sockaddr unix_addr = {.sa_family = AF_UNIX};
    assert_int_equal (throttle_connect (t, &unix_addr, "x"), THROTTLE_OK);
    throttle_disconnect (NULL, NULL);
    assert_int_equal (throttle_size (NULL), 0);
    throttle_destroy (&t);
}

/* ------------------------------------------------------------------ threads */

#define THREADS 8
#define ROUNDS 20000

static void *
s_churn (void *arg)
{
    throttle_t *t = arg;
    int admitted = 0;
    for (int i = 0; i < ROUNDS; i++)
        if (s_connect (t, "10.3.0.1") == THROTTLE_OK) {
            admitted++;
            s_disconnect (t, "10.3.0.1");
        }
    return (void *)(intptr_t)admitted;
}

static void
test_many_threads_never_exceed_the_cap_and_leave_it_at_zero (void **state)
{
    (void)state;
    throttle_t *t = s_new (THREADS / 2, 10, 16);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal (pthread_create (&threads[i], NULL, s_churn, t), 0);
    long admitted = 0;
    for (int i = 0; i < THREADS; i++) {
        void *n = NULL;
        pthread_join (threads[i], &n);
        admitted += (intptr_t)n;
    }
    assert_true (admitted > 0);
    /* every slot was given back: the whole cap is free again, and not more */
    for (int i = 0; i < THREADS / 2; i++)
        assert_int_equal (s_connect (t, "10.3.0.1"), THROTTLE_OK);
    assert_int_equal (s_connect (t, "10.3.0.1"), THROTTLE_TOO_MANY);
    throttle_destroy (&t);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_connections_are_capped_per_address_and_come_back),
        cmocka_unit_test (test_ipv6_counts_by_64_prefix_and_mapped_ipv4_is_ipv4),
        cmocka_unit_test (test_failures_delay_more_each_time_then_block_until_it_ends),
        cmocka_unit_test (test_unknown_recipients_count_one_failure_per_weight),
        cmocka_unit_test (test_delay_is_capped),
        cmocka_unit_test (test_failures_are_forgiven_with_time),
        cmocka_unit_test (test_table_stays_bounded_and_keeps_connected_and_blocked_addresses),
        cmocka_unit_test (test_a_table_full_of_connections_lets_a_new_address_in_uncounted),
        cmocka_unit_test (test_bad_peers_and_null_record_nothing),
        cmocka_unit_test (test_many_threads_never_exceed_the_cap_and_leave_it_at_zero),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
