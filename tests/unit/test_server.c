/*  test_server.c — broker/server.h in-process: the server actor on a temporary store, bound to
    inproc://, driven by DEALER clients speaking docs/PROTOCOL.md frame by frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "ticket.h"

#define ALICE "alice@demo.test"
#define BOB "bob@demo.test"
#define CAROL "carol@demo.test"
#define PASSWORD "demo"
/* the most a test waits for one answer: a test takes milliseconds, a hang fails it */
#define ANSWER_MSEC 5000

typedef struct {
    char dir[64];
    char endpoint[64];
    char admin[64];
    const char *binds[3];
    const char *domains[2];
    server_config_t config;
    server_args_t args;
    store_t *store;
    zactor_t *server;
    int requests; /* numbers request ids */
    uint8_t ticket_key[TICKET_KEY_BYTES];
} fixture_t;

/* The cheapest Argon2id hash: the broker checks a hash at the cost written in it, so a HELO
   with a password takes microseconds here (the broker's own hashes cost tens of ms) */
static void
s_mailbox_add (store_t *store, const char *address)
{
    char hash[crypto_pwhash_STRBYTES];
    assert_int_equal (crypto_pwhash_str (hash, PASSWORD, strlen (PASSWORD), crypto_pwhash_OPSLIMIT_MIN,
                                         crypto_pwhash_MEMLIMIT_MIN),
                      0);
    char *error = NULL;
    assert_int_equal (store_mailbox_add (store, address, hash, "user", &error), 0);
}

/* A store in a temporary folder and the config of a server bound to inproc:// */
static fixture_t *
s_fixture_new (void)
{
    static int counter;
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-server-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    char path[128];
    snprintf (path, sizeof path, "%s/var/mailbus.db", f->dir);
    char *error = NULL;
    f->store = store_open (path, false, &error);
    assert_non_null (f->store);
    s_mailbox_add (f->store, ALICE);
    s_mailbox_add (f->store, BOB);
    s_mailbox_add (f->store, CAROL);
    counter++;
    snprintf (f->endpoint, sizeof f->endpoint, "inproc://test-server-%d-%d", (int)getpid (), counter);
    snprintf (f->admin, sizeof f->admin, "inproc://test-server-admin-%d-%d", (int)getpid (), counter);
    f->binds[0] = f->endpoint;
    f->domains[0] = "demo.test";
    f->config = (server_config_t){.binds = f->binds,
                                  .admin_endpoint = f->admin,
                                  .domains = f->domains,
                                  .max_message_bytes = 4096,
                                  .queue_max_age = 3600,
                                  .retry_base = 60,
                                  .dedupe_window = 86400,
                                  .ticket_key = f->ticket_key};
    randombytes_buf (f->ticket_key, sizeof f->ticket_key);
    f->args = (server_args_t){.config = &f->config, .store = f->store};
    return f;
}

static void
s_fixture_destroy (fixture_t **f_p)
{
    fixture_t *f = *f_p;
    zactor_destroy (&f->server);
    store_close (&f->store);
    char cmd[100];
    snprintf (cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal (system (cmd), 0);
    free (f);
    *f_p = NULL;
}

static int
s_setup (void **state)
{
    fixture_t *f = s_fixture_new ();
    f->server = zactor_new (server_actor, &f->args);
    assert_null (server_actor_error (f->server));
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    s_fixture_destroy (&f);
    return 0;
}

/* --------------------------------------------------------------------- client side */

static zsock_t *
s_client (fixture_t *f)
{
    zsock_t *client = zsock_new_dealer (f->endpoint);
    assert_non_null (client);
    zsock_set_rcvtimeo (client, ANSWER_MSEC);
    return client;
}

/* Sends [id][verb][args...] (args NULL-terminated) and returns the reply without its id,
   checking the id came back */
static zmsg_t *
s_callv (fixture_t *f, zsock_t *client, const char *verb, va_list ap)
{
    char id[16];
    snprintf (id, sizeof id, "t%d", ++f->requests);
    zmsg_t *request = proto_request_new (id, verb);
    for (const char *arg = va_arg (ap, const char *); arg; arg = va_arg (ap, const char *))
        zmsg_addstr (request, arg);
    assert_int_equal (zmsg_send (&request, client), 0);
    zmsg_t *reply = zmsg_recv (client);
    assert_non_null (reply);
    char *echoed = zmsg_popstr (reply);
    assert_string_equal (echoed, id);
    free (echoed);
    return reply;
}

/* A request; the reply without its id */
static zmsg_t *
s_call (fixture_t *f, zsock_t *client, const char *verb, ...)
{
    va_list ap;
    va_start (ap, verb);
    zmsg_t *reply = s_callv (f, client, verb, ap);
    va_end (ap);
    return reply;
}

/* A request whose status line must begin with status; returns the rest of the reply (the
   status line popped), for the caller to read and destroy */
static zmsg_t *
s_expect (fixture_t *f, zsock_t *client, const char *status, const char *verb, ...)
{
    va_list ap;
    va_start (ap, verb);
    zmsg_t *reply = s_callv (f, client, verb, ap);
    va_end (ap);
    char *line = zmsg_popstr (reply);
    assert_non_null (line);
    if (strncmp (line, status, strlen (status)) != 0)
        fail_msg ("%s: expected '%s...', got '%s'", verb, status, line);
    free (line);
    return reply;
}

/* The same, for a reply whose data does not matter */
#define EXPECT(f, client, status, ...) zmsg_destroy ((zmsg_t *[]){s_expect (f, client, status, __VA_ARGS__)})

/* A client that said HELO as address */
static zsock_t *
s_login (fixture_t *f, const char *address)
{
    zsock_t *client = s_client (f);
    EXPECT (f, client, "250 2.0.0 hello", "HELO", PROTO_VERSION, address, PASSWORD, NULL);
    return client;
}

static char *
s_message (const char *subject, const char *message_id, size_t body_size)
{
    char *body = malloc (body_size + 1);
    memset (body, 'x', body_size);
    body[body_size] = '\0';
    char *text = zsys_sprintf ("From: " ALICE "\r\nSubject: %s\r\n%s%s%s\r\n%s\r\n", subject,
                               message_id ? "Message-ID: " : "", message_id ? message_id : "",
                               message_id ? "\r\n" : "", body);
    free (body);
    return text;
}

/* The next frame of msg as a string (the caller frees it) */
static char *
s_pop (zmsg_t *msg)
{
    char *frame = zmsg_popstr (msg);
    assert_non_null (frame);
    return frame;
}

static void
s_pop_is (zmsg_t *msg, const char *expected)
{
    char *frame = s_pop (msg);
    assert_string_equal (frame, expected);
    free (frame);
}

/* STAT says the mailbox holds count messages */
static void
s_stat_is (fixture_t *f, zsock_t *client, const char *count)
{
    zmsg_t *stat = s_expect (f, client, "250 2.0.0", "STAT", NULL);
    s_pop_is (stat, count);
    zmsg_destroy (&stat);
}

/* --------------------------------------------------------------------- the actor */

static void
test_the_actor_tells_its_endpoints_and_port (void **state)
{
    fixture_t *f = *state;
    char *endpoint = zstr_sendx (f->server, "ENDPOINT", NULL) == 0 ? zstr_recv (f->server) : NULL;
    assert_string_equal (endpoint, f->endpoint);
    zstr_free (&endpoint);
    char *port = zstr_sendx (f->server, "PORT", NULL) == 0 ? zstr_recv (f->server) : NULL;
    assert_string_equal (port, "0"); /* no tcp endpoint */
    zstr_free (&port);
}

static void
test_a_tcp_star_port_is_resolved (void **state)
{
    (void)state;
    fixture_t *f = s_fixture_new ();
    f->binds[0] = "tcp://127.0.0.1:*";
    f->binds[1] = f->endpoint;
    f->server = zactor_new (server_actor, &f->args);
    assert_null (server_actor_error (f->server));
    zstr_send (f->server, "PORT");
    char *port = zstr_recv (f->server);
    assert_true (atoi (port) > 0);
    zstr_send (f->server, "ENDPOINT");
    char *endpoints = zstr_recv (f->server);
    char expected[128];
    snprintf (expected, sizeof expected, "tcp://127.0.0.1:%s %s", port, f->endpoint);
    assert_string_equal (endpoints, expected);
    zstr_free (&port);
    zstr_free (&endpoints);
    s_fixture_destroy (&f);
}

static void
test_a_failed_bind_is_told_and_term_still_stops_the_actor (void **state)
{
    (void)state;
    fixture_t *f = s_fixture_new ();
    f->binds[0] = "tcp://10.1.2.3:5670"; /* beyond loopback, and no CURVE key pair */
    f->server = zactor_new (server_actor, &f->args);
    char *error = server_actor_error (f->server);
    assert_non_null (error);
    assert_non_null (strstr (error, "needs its CURVE key pair"));
    free (error);
    f->binds[0] = "inproc://"; /* no name */
    zactor_destroy (&f->server);
    /* a closed socket's inproc name is freed by ZeroMQ's reaper thread, later: the second
       actor binds its admin endpoint under a name of its own */
    strcat (f->admin, "-again");
    f->server = zactor_new (server_actor, &f->args);
    error = server_actor_error (f->server);
    assert_non_null (error);
    if (!strstr (error, "cannot bind inproc://"))
        fail_msg ("expected 'cannot bind inproc://...', got '%s'", error);
    free (error);
    s_fixture_destroy (&f);
}

/* A server stopped and another started at once in the same process (a host restarting it,
   these tests): ZeroMQ frees a closed socket's inproc names later, on its reaper thread, so no
   name the server binds for itself may be one a stopped server had (the ZAP handler's is fixed
   by the ZAP spec: its bind waits for the reaper). Each start is told no error, and the server
   it started answers with a session keyed by its ZAP connection id. */
static void
test_a_server_restarted_at_once_starts_every_time (void **state)
{
    (void)state;
    fixture_t *f = s_fixture_new ();
    f->binds[0] = "tcp://127.0.0.1:*";
    size_t admin_len = strlen (f->admin);
    for (int round = 0; round < 100; round++) {
        snprintf (f->admin + admin_len, sizeof f->admin - admin_len, "-%d", round);
        f->server = zactor_new (server_actor, &f->args);
        char *error = server_actor_error (f->server);
        if (error)
            fail_msg ("round %d: the server did not start: %s", round, error);
        zactor_destroy (&f->server);
    }
    s_fixture_destroy (&f);
}

/* Two brokers in one process cannot share ZAP's one endpoint: the second is refused with a
   clear error instead of serving with its connections unnumbered (keyed by routing ids) */
static void
test_a_second_server_in_the_process_is_refused_for_want_of_zap (void **state)
{
    fixture_t *f = *state;
    fixture_t *g = s_fixture_new ();
    g->server = zactor_new (server_actor, &g->args);
    char *error = server_actor_error (g->server);
    assert_non_null (error);
    if (!strstr (error, "cannot start the ZAP handler"))
        fail_msg ("expected 'cannot start the ZAP handler...', got '%s'", error);
    free (error);
    s_fixture_destroy (&g);
    /* the first one serves on */
    zsock_t *client = s_client (f);
    zmsg_t *reply = s_expect (f, client, "250 2.0.0 hello " BOB, "HELO", PROTO_VERSION, BOB, PASSWORD, NULL);
    zmsg_destroy (&reply);
    zsock_destroy (&client);
}

/* --------------------------------------------------------------------- HELO */

static void
test_helo_with_the_password_says_hello (void **state)
{
    fixture_t *f = *state;
    zsock_t *client = s_client (f);
    zmsg_t *reply = s_expect (f, client, "250 2.0.0 hello " BOB, "HELO", PROTO_VERSION, BOB, PASSWORD, NULL);
    s_pop_is (reply, BOB);
    zmsg_destroy (&reply);
    EXPECT (f, client, "250 2.0.0", "NOOP", NULL);
    zsock_destroy (&client);
}

static void
test_helo_with_a_bad_password_or_unknown_mailbox_gives_535 (void **state)
{
    fixture_t *f = *state;
    zsock_t *client = s_client (f);
    EXPECT (f, client, "535 5.7.8", "HELO", PROTO_VERSION, BOB, "wrong", NULL);
    EXPECT (f, client, "530 5.7.0", "STAT", NULL);
    EXPECT (f, client, "535 5.7.8", "HELO", PROTO_VERSION, "nobody@demo.test", PASSWORD, NULL);
    EXPECT (f, client, "501 5.5.4", "HELO", "MAILBUS/0", BOB, PASSWORD, NULL);
    EXPECT (f, client, "501 5.1.7", "HELO", PROTO_VERSION, "not an address", PASSWORD, NULL);
    /* an empty password is a login by key, over CURVE only */
    EXPECT (f, client, "535 5.7.8", "HELO", PROTO_VERSION, BOB, "", NULL);
    zsock_destroy (&client);
}

/* --------------------------------------------------------------------- RESUME (tickets) */

/* HELO as address with the password: the ticket its reply carries (the caller frees it) */
static char *
s_ticket_of (fixture_t *f, zsock_t *client, const char *address)
{
    zmsg_t *reply = s_expect (f, client, "250 2.0.0 hello", "HELO", PROTO_VERSION, address, PASSWORD, NULL);
    s_pop_is (reply, address);
    char *ticket = s_pop (reply);
    assert_int_equal (strlen (ticket), TICKET_TEXT_BYTES - 1);
    zmsg_destroy (&reply);
    return ticket;
}

/* The id of a mailbox, as the store has it */
static int64_t
s_mailbox_id (fixture_t *f, const char *address, char hash[160])
{
    store_mailbox_t mailbox;
    assert_int_equal (store_mailbox_find (f->store, address, &mailbox), 1);
    memcpy (hash, mailbox.password_hash, sizeof mailbox.password_hash);
    return mailbox.id;
}

static void
test_a_ticket_resumes_on_a_new_connection_and_only_for_its_mailbox (void **state)
{
    fixture_t *f = *state;
    zsock_t *first = s_client (f);
    char *ticket = s_ticket_of (f, first, BOB);
    zsock_t *second = s_client (f);
    zmsg_t *reply = s_expect (f, second, "250 2.0.0 hello " BOB, "RESUME", PROTO_VERSION, BOB, ticket, NULL);
    s_pop_is (reply, BOB);
    assert_int_equal (zmsg_size (reply), 0); /* no new ticket: its expiry does not slide */
    zmsg_destroy (&reply);
    s_stat_is (f, second, "0");
    /* bob's ticket never opens alice's mailbox, and leaves that connection unidentified */
    zsock_t *third = s_client (f);
    EXPECT (f, third, "535 5.7.8", "RESUME", PROTO_VERSION, ALICE, ticket, NULL);
    EXPECT (f, third, "530 5.7.0", "STAT", NULL);
    EXPECT (f, third, "535 5.7.8", "RESUME", PROTO_VERSION, "nobody@demo.test", ticket, NULL);
    EXPECT (f, third, "501 5.5.4", "RESUME", "MAILBUS/0", BOB, ticket, NULL);
    free (ticket);
    zsock_destroy (&first);
    zsock_destroy (&second);
    zsock_destroy (&third);
}

static void
test_forged_truncated_altered_expired_and_stale_tickets_get_535 (void **state)
{
    fixture_t *f = *state;
    zsock_t *client = s_client (f);
    char *good = s_ticket_of (f, client, BOB);
    char hash[160];
    ticket_t ticket = {.mailbox_id = s_mailbox_id (f, BOB, hash), .expires = time (NULL) + 3600};
    ticket_fingerprint (f->ticket_key, hash, ticket.fingerprint);
    char bad[8][TICKET_TEXT_BYTES + 8];
    snprintf (bad[0], sizeof bad[0], "%.*s", (int)strlen (good) - 1, good); /* truncated */
    snprintf (bad[1], sizeof bad[1], "%s", good);
    bad[1][40] = bad[1][40] == 'A' ? 'B' : 'A';     /* altered */
    snprintf (bad[2], sizeof bad[2], "%sAA", good); /* too long */
    uint8_t other_key[TICKET_KEY_BYTES];
    randombytes_buf (other_key, sizeof other_key);
    ticket_seal (other_key, &ticket, bad[3]); /* forged: another key */
    ticket_t expired = ticket;
    expired.expires = time (NULL) - 1;
    ticket_seal (f->ticket_key, &expired, bad[4]);
    ticket_t changed = ticket; /* sealed for a password hash the mailbox no longer has */
    ticket_fingerprint (f->ticket_key, "$argon2id$v=19$m=8,t=1,p=1$old", changed.fingerprint);
    ticket_seal (f->ticket_key, &changed, bad[5]);
    ticket_t deleted = ticket; /* a retired mailbox id */
    deleted.mailbox_id = ticket.mailbox_id + 1000;
    ticket_seal (f->ticket_key, &deleted, bad[6]);
    snprintf (bad[7], sizeof bad[7], "%s", "not a ticket at all");
    for (int i = 0; i < 8; i++) {
        zsock_t *other = s_client (f);
        EXPECT (f, other, "535 5.7.8", "RESUME", PROTO_VERSION, BOB, bad[i], NULL);
        EXPECT (f, other, "530 5.7.0", "STAT", NULL);
        zsock_destroy (&other);
    }
    /* an empty ticket too, and the good one still works after all that */
    EXPECT (f, client, "535 5.7.8", "RESUME", PROTO_VERSION, BOB, "", NULL);
    EXPECT (f, client, "250 2.0.0 hello", "RESUME", PROTO_VERSION, BOB, good, NULL);
    /* a ticket sealed now, for the hash bob has, with this broker's key: accepted */
    char made[TICKET_TEXT_BYTES];
    ticket_seal (f->ticket_key, &ticket, made);
    EXPECT (f, client, "250 2.0.0 hello", "RESUME", PROTO_VERSION, BOB, made, NULL);
    free (good);
    zsock_destroy (&client);
}

/* --------------------------------------------------------------------- SEND */

static void
test_send_to_one_recipient_is_queued_and_retrieved (void **state)
{
    fixture_t *f = *state;
    zsock_t *alice = s_login (f, ALICE);
    char *text = s_message ("lunch?", NULL, 10);
    zmsg_t *reply =
        s_expect (f, alice, "250 2.0.0 1 of 1 recipients accepted", "SEND", ALICE, BOB, text, NULL);
    char *line = s_pop (reply);
    long long id = 0;
    assert_int_equal (sscanf (line, "250 2.0.0 " BOB " queued as %lld", &id), 1);
    free (line);
    zmsg_destroy (&reply);

    zsock_t *bob = s_login (f, BOB);
    s_stat_is (f, bob, "1");
    reply = s_expect (f, bob, "250 2.0.0 1 messages", "LIST", NULL);
    line = s_pop (reply);
    char expected[64];
    snprintf (expected, sizeof expected, "%lld\t%zu\tnew\t", id, strlen (text));
    assert_memory_equal (line, expected, strlen (expected));
    assert_non_null (strstr (line, "\t" ALICE "\tlunch?"));
    free (line);
    zmsg_destroy (&reply);
    char number[32];
    snprintf (number, sizeof number, "%lld", id);
    reply = s_expect (f, bob, "250 2.0.0", "RETR", number, NULL);
    s_pop_is (reply, text);
    zmsg_destroy (&reply);
    EXPECT (f, bob, "250 2.0.0 deleted", "DELE", number, NULL);
    EXPECT (f, bob, "550 5.2.0", "RETR", number, NULL);
    EXPECT (f, bob, "550 5.2.0", "DELE", number, NULL);
    EXPECT (f, bob, "501 5.5.4", "RETR", "x1", NULL);
    free (text);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
}

static void
test_send_to_several_with_an_unknown_one_gives_a_line_each (void **state)
{
    fixture_t *f = *state;
    zsock_t *alice = s_login (f, ALICE);
    char *text = s_message ("all", NULL, 10);
    zmsg_t *reply = s_expect (f, alice, "250 2.0.0 2 of 3 recipients accepted", "SEND", ALICE, BOB,
                              "nobody@demo.test", CAROL, text, NULL);
    assert_int_equal (zmsg_size (reply), 3);
    char *line = s_pop (reply);
    assert_non_null (strstr (line, "250 2.0.0 " BOB " queued as "));
    free (line);
    s_pop_is (reply, "550 5.1.1 nobody@demo.test no such mailbox");
    line = s_pop (reply);
    assert_non_null (strstr (line, "250 2.0.0 " CAROL " queued as "));
    free (line);
    zmsg_destroy (&reply);
    reply =
        s_expect (f, alice, "550 5.1.1 no recipient accepted", "SEND", ALICE, "nobody@demo.test", text, NULL);
    s_pop_is (reply, "550 5.1.1 nobody@demo.test no such mailbox");
    zmsg_destroy (&reply);
    reply = s_expect (f, alice, "501 5.1.3 no recipient accepted", "SEND", ALICE, "bad\x01", text, NULL);
    line = s_pop (reply);
    assert_memory_equal (line, "501 5.1.3 bad? ", 15);
    free (line);
    zmsg_destroy (&reply);
    reply =
        s_expect (f, alice, "554 5.7.1 no recipient accepted", "SEND", ALICE, "x@elsewhere.test", text, NULL);
    s_pop_is (
        reply,
        "554 5.7.1 x@elsewhere.test relay access denied: elsewhere.test is not a domain of this broker");
    zmsg_destroy (&reply);
    EXPECT (f, alice, "553 5.7.1", "SEND", BOB, CAROL, text, NULL); /* as yourself only */
    free (text);
    zsock_destroy (&alice);
}

static void
test_a_retry_with_the_same_message_id_gets_the_first_answer (void **state)
{
    fixture_t *f = *state;
    zsock_t *alice = s_login (f, ALICE);
    char *text = s_message ("once", "<once@demo.test>", 10);
    zmsg_t *first = s_call (f, alice, "SEND", ALICE, BOB, BOB, CAROL, text, NULL);
    zmsg_t *again = s_call (f, alice, "SEND", ALICE, BOB, BOB, CAROL, text, NULL);
    assert_int_equal (zmsg_size (first), 4);
    assert_true (zmsg_eq (first, again));
    zmsg_destroy (&again);
    s_pop_is (first, "250 2.0.0 3 of 3 recipients accepted");
    char *line = s_pop (first);
    assert_non_null (strstr (line, "250 2.0.0 " BOB " queued as "));
    free (line);
    /* a recipient given twice in one SEND is stored once */
    s_pop_is (first, "250 2.0.0 " BOB " already queued (duplicate recipient)");
    zmsg_destroy (&first);
    /* stored once: one delivery each */
    zsock_t *bob = s_login (f, BOB);
    s_stat_is (f, bob, "1");
    /* other content under the same Message-ID is another message */
    char *other = s_message ("twice", "<once@demo.test>", 12);
    EXPECT (f, alice, "250 2.0.0 1 of 1", "SEND", ALICE, BOB, other, NULL);
    s_stat_is (f, bob, "2");
    free (other);
    free (text);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
}

static void
test_bad_messages_are_refused_before_anything_is_stored (void **state)
{
    fixture_t *f = *state;
    zsock_t *alice = s_login (f, ALICE);
    char *big = s_message ("big", NULL, 4096);
    EXPECT (f, alice, "552 5.3.4", "SEND", ALICE, BOB, big, NULL);
    EXPECT (f, alice, "550 5.6.0", "SEND", ALICE, BOB, "Subject: x\n\nbare LF\r\n", NULL);
    EXPECT (f, alice, "550 5.6.0", "SEND", ALICE, BOB, "no header section", NULL);
    EXPECT (f, alice, "550 5.6.0", "SEND", ALICE, BOB, "Expires: soon\r\n\r\nx\r\n", NULL);
    EXPECT (f, alice, "554 5.4.7", "SEND", ALICE, BOB, "Expires: 1 Jan 2001 00:00:00 +0000\r\n\r\nx\r\n",
            NULL);
    zsock_t *bob = s_login (f, BOB);
    s_stat_is (f, bob, "0");
    free (big);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
}

/* --------------------------------------------------------------------- WATCH, LEASE */

static void
test_a_watcher_is_pushed_new_after_a_send_from_another_session (void **state)
{
    fixture_t *f = *state;
    zsock_t *bob = s_login (f, BOB);
    zmsg_t *reply = s_expect (f, bob, "250 2.0.0 watching " BOB, "WATCH", NULL);
    s_pop_is (reply, "0");
    zmsg_destroy (&reply);
    zsock_t *alice = s_login (f, ALICE);
    char *text = s_message ("news", NULL, 10);
    EXPECT (f, alice, "250 2.0.0 1 of 1", "SEND", ALICE, BOB, text, NULL);
    zmsg_t *push = zmsg_recv (bob);
    assert_non_null (push);
    s_pop_is (push, PROTO_PUSH_ID);
    s_pop_is (push, "NEW");
    s_pop_is (push, BOB);
    char *id = s_pop (push);
    assert_true (atoi (id) > 0);
    free (id);
    char size[24];
    snprintf (size, sizeof size, "%zu", strlen (text));
    s_pop_is (push, size);
    s_pop_is (push, ALICE);
    s_pop_is (push, "news");
    zmsg_destroy (&push);
    EXPECT (f, bob, "501 5.5.4", "WATCH", "0", NULL);
    EXPECT (f, bob, "250 2.0.0 credit", "CREDIT", "1", NULL);
    EXPECT (f, bob, "250 2.0.0", "UNWATCH", NULL);
    EXPECT (f, bob, "503 5.5.1", "CREDIT", "1", NULL);
    free (text);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
}

static void
test_lease_ack_and_nack (void **state)
{
    fixture_t *f = *state;
    zsock_t *alice = s_login (f, ALICE);
    char *text = s_message ("job", NULL, 10);
    EXPECT (f, alice, "250 2.0.0", "SEND", ALICE, BOB, text, NULL);
    EXPECT (f, alice, "250 2.0.0", "SEND", ALICE, BOB, text, NULL);
    zsock_t *bob = s_login (f, BOB);
    zmsg_t *reply = s_expect (f, bob, "250 2.0.0 2 messages leased for 30 s", "LEASE", "5", NULL);
    char *first = s_pop (reply);
    s_pop_is (reply, text);
    char *second = s_pop (reply);
    s_pop_is (reply, text);
    zmsg_destroy (&reply);
    /* what is leased goes to nobody else meanwhile */
    zsock_t *other = s_login (f, BOB);
    EXPECT (f, other, "250 2.0.0 0 messages leased", "LEASE", NULL);
    EXPECT (f, other, "550 5.2.0", "ACK", first, NULL);
    EXPECT (f, bob, "250 2.0.0 acknowledged", "ACK", first, NULL);
    EXPECT (f, bob, "550 5.2.0", "ACK", first, NULL);
    EXPECT (f, bob, "250 2.0.0 released", "NACK", second, NULL);
    EXPECT (f, other, "250 2.0.0 1 messages leased", "LEASE", "1", "60", NULL);
    EXPECT (f, bob, "501 5.5.4", "LEASE", "0", NULL);
    EXPECT (f, bob, "501 5.5.4", "LEASE", "1", "3601", NULL);
    free (first);
    free (second);
    free (text);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
    zsock_destroy (&other);
}

/* --------------------------------------------------------------------- bad input */

static void
test_bad_requests_get_their_reply_and_the_session_goes_on (void **state)
{
    fixture_t *f = *state;
    zsock_t *client = s_client (f);
    EXPECT (f, client, "530 5.7.0", "STAT", NULL); /* before HELO */
    EXPECT (f, client, "500 5.5.1", "FROB", NULL);
    EXPECT (f, client, "250 2.0.0", "NOOP", NULL); /* allowed before HELO */
    zsock_destroy (&client);
    client = s_login (f, BOB);
    EXPECT (f, client, "501 5.5.4", "STAT", "extra", NULL);
    EXPECT (f, client, "501 5.5.4", "RETR", NULL);
    EXPECT (f, client, "500 5.5.2", "stat", NULL); /* a verb is upper-case */
    EXPECT (f, client, "250 2.0.0", "STAT", NULL);
    zsock_destroy (&client);
}

/* Sends raw frames; returns the reply's status line (the caller frees it) */
static char *
s_raw (zsock_t *client, const void *const *frames, const size_t *sizes, size_t count)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t i = 0; i < count; i++)
        zmsg_addmem (msg, frames[i], sizes[i]);
    assert_int_equal (zmsg_send (&msg, client), 0);
    zmsg_t *reply = zmsg_recv (client);
    assert_non_null (reply);
    assert_int_equal (zmsg_size (reply), 2);
    free (zmsg_popstr (reply));
    char *line = zmsg_popstr (reply);
    zmsg_destroy (&reply);
    return line;
}

static void
test_garbage_frames_get_a_5xx_and_the_connection_still_works (void **state)
{
    fixture_t *f = *state;
    zsock_t *client = s_login (f, BOB);
    char big_id[200];
    memset (big_id, 'i', sizeof big_id);
    const struct {
        const void *frames[3];
        size_t sizes[3];
        size_t count;
    } cases[] = {
        {{"only-an-id"}, {10}, 1},
        {{""}, {0}, 1},
        {{"g1", "\xff\x00\x01"}, {2, 3}, 2},
        {{"g2", ""}, {2, 0}, 2},
        {{big_id, "NOOP"}, {sizeof big_id, 4}, 2},
        {{"g3", "NO\0OP"}, {2, 5}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *line = s_raw (client, cases[i].frames, cases[i].sizes, cases[i].count);
        if (line[0] != '5')
            fail_msg ("case %zu: %s", i, line);
        free (line);
    }
    EXPECT (f, client, "250 2.0.0", "STAT", NULL);
    zsock_destroy (&client);
}

int
main (void)
{
    /* the broker's log lines on the test's output: errors only, unless MAILBUS_LOG says */
    setenv ("MAILBUS_LOG", "error", 0);
    log_init ();
    assert_true (sodium_init () >= 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_the_actor_tells_its_endpoints_and_port, s_setup, s_teardown),
        cmocka_unit_test (test_a_tcp_star_port_is_resolved),
        cmocka_unit_test (test_a_failed_bind_is_told_and_term_still_stops_the_actor),
        cmocka_unit_test (test_a_server_restarted_at_once_starts_every_time),
        cmocka_unit_test_setup_teardown (test_a_second_server_in_the_process_is_refused_for_want_of_zap,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_helo_with_the_password_says_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_helo_with_a_bad_password_or_unknown_mailbox_gives_535, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_a_ticket_resumes_on_a_new_connection_and_only_for_its_mailbox,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_forged_truncated_altered_expired_and_stale_tickets_get_535,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_send_to_one_recipient_is_queued_and_retrieved, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_send_to_several_with_an_unknown_one_gives_a_line_each, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_a_retry_with_the_same_message_id_gets_the_first_answer, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_messages_are_refused_before_anything_is_stored, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_a_watcher_is_pushed_new_after_a_send_from_another_session,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lease_ack_and_nack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_requests_get_their_reply_and_the_session_goes_on, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_garbage_frames_get_a_5xx_and_the_connection_still_works,
                                         s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
