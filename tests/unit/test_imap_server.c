/*  test_imap_server.c — the IMAP session before login, over a real socket pair, on its own
    thread (imap_serve): the greeting and CAPABILITY, the state table's refusals, the literal
    limits checked before any octet is read, the command reader's line rules, LOGOUT. No broker
    is needed before login. And imap_capability for each set of session flags. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "imap_server.h"
#include "imap_session.h"

typedef struct {
    conn_t *conn;
    gateway_config_t config;
} server_t;

static void *
s_serve (void *arg)
{
    server_t *server = arg;
    imap_serve (server->conn, &server->config, 1);
    conn_destroy (&server->conn);
    return NULL;
}

typedef struct {
    int fd;
    pthread_t thread;
    server_t server;
    char buf[65536];
    size_t have;
} client_t_;

static void
s_start (client_t_ *c)
{
    int sv[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);
    c->fd = sv[1];
    c->have = 0;
    struct timeval tv = {10, 0};
    setsockopt (c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c->server.config = (gateway_config_t){
        .broker = "tcp://127.0.0.1:1", .max_message_bytes = 1000000, .imap_timeout_ms = 10000};
    c->server.conn = conn_new (sv[0], NULL, false);
    assert_non_null (c->server.conn);
    assert_int_equal (pthread_create (&c->thread, NULL, s_serve, &c->server), 0);
}

/* One line from the server without its CRLF, in line; false at EOF */
static bool
s_line (client_t_ *c, char *line, size_t size)
{
    while (true) {
        char *eol = memmem (c->buf, c->have, "\r\n", 2);
        if (eol) {
            size_t n = (size_t)(eol - c->buf);
            snprintf (line, size, "%.*s", (int)n, c->buf);
            memmove (c->buf, eol + 2, c->have - n - 2);
            c->have -= n + 2;
            return true;
        }
        ssize_t got = read (c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (got <= 0)
            return false;
        c->have += (size_t)got;
    }
}

static void
s_send (client_t_ *c, const char *text)
{
    assert_int_equal (write (c->fd, text, strlen (text)), (ssize_t)strlen (text));
}

/* Sends text and expects the next line to start with want */
static void
s_expect (client_t_ *c, const char *text, const char *want)
{
    if (text)
        s_send (c, text);
    char line[4096];
    assert_true (s_line (c, line, sizeof line));
    if (strncmp (line, want, strlen (want)) != 0)
        fail_msg ("sent %s: expected \"%s...\", got \"%s\"", text ? text : "-", want, line);
}

static void
s_stop (client_t_ *c)
{
    close (c->fd);
    pthread_join (c->thread, NULL);
}

static void
test_greeting_capability_and_state_refusals (void **state)
{
    (void)state;
    client_t_ c;
    s_start (&c);
    s_expect (&c, NULL, "* OK [CAPABILITY IMAP4rev2 IMAP4rev1 LOGINDISABLED");
    s_expect (&c, "a CAPABILITY\r\n", "* CAPABILITY IMAP4rev2 IMAP4rev1 LOGINDISABLED");
    s_expect (&c, NULL, "a OK CAPABILITY completed");
    s_expect (&c, "b LOGIN bob demo\r\n", "b NO [PRIVACYREQUIRED]");
    s_expect (&c, "c STARTTLS\r\n", "c BAD STARTTLS not available");
    s_expect (&c, "d SELECT INBOX\r\n", "d BAD log in first");
    s_expect (&c, "e FETCH 1 FLAGS\r\n", "e BAD log in first");
    s_expect (&c, "f FROB\r\n", "f BAD");
    s_expect (&c, "g NOOP\r\n", "g OK NOOP completed");
    s_expect (&c, "h ID NIL\r\n", "* ID (\"name\" \"mailbus\"");
    s_expect (&c, NULL, "h OK");
    s_expect (&c, "i LOGOUT\r\n", "* BYE");
    s_expect (&c, NULL, "i OK LOGOUT completed");
    char line[64];
    assert_false (s_line (&c, line, sizeof line));
    s_stop (&c);
}

static void
test_literals_are_bounded_before_their_octets (void **state)
{
    (void)state;
    client_t_ c;
    s_start (&c);
    s_expect (&c, NULL, "* OK");
    s_expect (&c, "a LOGIN {99999999999}\r\n", "a BAD [LIMIT]");
    s_expect (&c, "b LOGIN {65537}\r\n", "b BAD [LIMIT]");
    s_expect (&c, "c LOGIN {123456789012345678901}\r\n", "c BAD");
    /* a synchronising literal within the limit gets its continuation */
    s_expect (&c, "d ID ({4}\r\n", "+ Ready");
    s_expect (&c, "name {3}\r\n", "+ Ready");
    s_expect (&c, "abc)\r\n", "* ID");
    s_expect (&c, NULL, "d OK");
    /* a non-synchronising one over the limit: its octets are coming, so BAD and BYE */
    s_expect (&c, "e LOGIN {70000+}\r\n", "e BAD [LIMIT]");
    s_expect (&c, NULL, "* BYE [LIMIT]");
    char line[64];
    assert_false (s_line (&c, line, sizeof line));
    s_stop (&c);
}

static void
test_line_rules_and_too_many_errors (void **state)
{
    (void)state;
    client_t_ c;
    s_start (&c);
    s_expect (&c, NULL, "* OK");
    s_expect (&c, "a NOOP\n", "a BAD lines end in CRLF");
    char big[9000];
    memset (big, 'x', sizeof big);
    memcpy (big, "b SELECT ", 9);
    memcpy (big + sizeof big - 3, "\r\n", 3);
    s_expect (&c, big, "b BAD [TOOBIG]");
    assert_int_equal (write (c.fd, "c NO\0OP\r\n", 9), 9);
    s_expect (&c, NULL, "c BAD");
    /* 20 refusals end the session (3 so far) */
    for (int i = 0; i < 16; i++)
        s_expect (&c, "x FROB\r\n", "x BAD");
    s_expect (&c, "y FROB\r\n", "y BAD");
    s_expect (&c, NULL, "* BYE too many errors");
    char line[64];
    assert_false (s_line (&c, line, sizeof line));
    s_stop (&c);
}

static void
test_capability_by_flags (void **state)
{
    (void)state;
    char caps[512];
    imap_capability (IMAP_SF_CAN_TLS, caps, sizeof caps);
    assert_non_null (strstr (caps, " STARTTLS"));
    assert_non_null (strstr (caps, " LOGINDISABLED"));
    assert_null (strstr (caps, "AUTH=PLAIN"));
    imap_capability (IMAP_SF_CAN_TLS | IMAP_SF_SECURE, caps, sizeof caps);
    assert_null (strstr (caps, "STARTTLS"));
    assert_null (strstr (caps, "LOGINDISABLED"));
    assert_non_null (strstr (caps, " AUTH=PLAIN"));
    imap_capability (IMAP_SF_PLAINTEXT_OK, caps, sizeof caps);
    assert_null (strstr (caps, "STARTTLS"));
    assert_non_null (strstr (caps, " AUTH=PLAIN"));
    for (const char *want = "IDLE\0NAMESPACE\0UIDPLUS\0MOVE\0UNSELECT\0SPECIAL-USE\0ESEARCH\0"; *want;
         want += strlen (want) + 1)
        assert_non_null (strstr (caps, want));
    assert_string_equal (imap_state_name (IMAP_SELECTED), "SELECTED");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_greeting_capability_and_state_refusals),
        cmocka_unit_test (test_literals_are_bounded_before_their_octets),
        cmocka_unit_test (test_line_rules_and_too_many_errors),
        cmocka_unit_test (test_capability_by_flags),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
