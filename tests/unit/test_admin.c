/*  test_admin.c — the admin protocol through admin_server.h, against a real SQLite store:
    every verb's success and refusals, their reply codes and the effects reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <czmq.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_server.h"
#include "proto.h"
#include "reply.h"
#include "store.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
#define BOB "bob@demo.test"

typedef struct {
    char dir[64];
    char path[128];
    store_t *store;
    admin_effect_t effect;
    char line[512]; /* the last reply's status line */
    zmsg_t *rows;   /* the last reply's frames after the status line */
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-admin-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/var/mailbus.db", f->dir);
    char *error = NULL;
    f->store = store_open (f->path, true, &error);
    assert_non_null (f->store);
    assert_int_equal (store_mailbox_add (f->store, BOB, HASH, "user", &error), 0);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    zmsg_destroy (&f->rows);
    store_close (&f->store);
    char cmd[200];
    snprintf (cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal (system (cmd), 0);
    free (f);
    return 0;
}

/* Executes [id][verb][args...] (NULL-terminated) and returns the reply's code; the status
   line is in f->line, the rows in f->rows, the effect in f->effect */
static int
s_run (fixture_t *f, const char *verb, ...)
{
    zmsg_t *request = proto_request_new ("7", verb);
    va_list ap;
    va_start (ap, verb);
    for (const char *arg = va_arg (ap, const char *); arg; arg = va_arg (ap, const char *))
        zmsg_addstr (request, arg);
    va_end (ap);
    memset (&f->effect, 0xff, sizeof f->effect); /* admin_execute must fill it */
    zmsg_t *reply = admin_execute (f->store, request, &f->effect);
    zmsg_destroy (&request);
    assert_non_null (reply);
    char *id = zmsg_popstr (reply);
    assert_string_equal (id, "7");
    free (id);
    int code = 0;
    assert_int_equal (proto_reply_status (reply, &code, f->line, sizeof f->line), 0);
    zmsg_destroy (&f->rows);
    zmsg_first (reply);
    f->rows = zmsg_new ();
    for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply))
        zmsg_addmem (f->rows, zframe_data (row), zframe_size (row));
    zmsg_destroy (&reply);
    return code;
}

/* The last reply was id: its code and enhanced code, and text when given */
static void
s_assert_reply (fixture_t *f, reply_id_t id, const char *text)
{
    char expected[512];
    snprintf (expected, sizeof expected, "%d %s ", reply_get (id)->code, reply_get (id)->enhanced);
    assert_memory_equal (f->line, expected, strlen (expected));
    if (text)
        assert_string_equal (f->line + strlen (expected), text);
}

static void
s_assert_no_effect (fixture_t *f)
{
    assert_int_equal (f->effect.kind, ADMIN_EFFECT_NONE);
    assert_null (f->effect.why);
}

static void
s_assert_row (fixture_t *f, size_t index, const char *text)
{
    zframe_t *row = zmsg_first (f->rows);
    for (size_t i = 0; row && i < index; i++)
        row = zmsg_next (f->rows);
    assert_non_null (row);
    assert_true (zframe_streq (row, text));
}

/* A CURVE public key as text */
static void
s_key (char key[ADMIN_KEY_TEXT + 1])
{
    zcert_t *cert = zcert_new ();
    snprintf (key, ADMIN_KEY_TEXT + 1, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
}

/* ------------------------------------------------------------------ the common checks */

static void
test_unknown_verb_gives_500 (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-FROB", BOB, NULL), 500);
    s_assert_reply (f, REPLY_UNKNOWN_VERB, NULL);
    assert_non_null (strstr (f->line, "admin verbs: MBOX-ADD"));
    assert_non_null (strstr (f->line, "QUEUE-DEL"));
    s_assert_no_effect (f);
}

/* STATUS: the broker's figures come from the host's callback; without one (no broker) 451 */
static void
s_status_rows (void *arg, zmsg_t *rows)
{
    (*(int *)arg)++;
    zmsg_addstr (rows, "sessions 3");
    zmsg_addstr (rows, "space ok");
}

static void
test_status_rows_come_from_the_broker_and_take_no_arguments (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "STATUS", NULL), 451); /* admin_execute: no broker */
    assert_int_equal (s_run (f, "STATUS", "now", NULL), 501);
    assert_non_null (strstr (f->line, "STATUS takes no arguments"));
    int calls = 0;
    zmsg_t *request = proto_request_new ("8", "STATUS");
    zmsg_t *reply = admin_execute_status (f->store, request, NULL, s_status_rows, &calls);
    zmsg_destroy (&request);
    assert_int_equal (calls, 1);
    free (zmsg_popstr (reply));
    int code = 0;
    char line[200];
    assert_int_equal (proto_reply_status (reply, &code, line, sizeof line), 0);
    assert_int_equal (code, 250);
    assert_non_null (strstr (line, "2 lines"));
    assert_true (zframe_streq (zmsg_next (reply), "sessions 3"));
    assert_true (zframe_streq (zmsg_next (reply), "space ok"));
    zmsg_destroy (&reply);
    request = proto_request_new ("9", "STATUS");
    zmsg_addstr (request, "x");
    reply = admin_execute_status (f->store, request, NULL, s_status_rows, &calls);
    zmsg_destroy (&request);
    assert_int_equal (calls, 1); /* refused before the callback */
    zmsg_destroy (&reply);
}

static void
test_malformed_request_gives_500 (void **state)
{
    fixture_t *f = *state;
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "7");
    zmsg_addstr (request, "bad verb");
    zmsg_t *reply = admin_execute (f->store, request, NULL);
    zmsg_destroy (&request);
    free (zmsg_popstr (reply));
    int code = 0;
    assert_int_equal (proto_reply_status (reply, &code, NULL, 0), 0);
    assert_int_equal (code, 500);
    zmsg_destroy (&reply);
}

static void
test_wrong_argument_count_gives_501_with_usage (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-ADD", BOB, NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "MBOX-ADD address hash [user|gateway]");
    assert_int_equal (s_run (f, "MBOX-DEL", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "MBOX-DEL address");
    assert_int_equal (s_run (f, "MBOX-LIST", BOB, NULL), 501);
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", NULL), 501);
    assert_int_equal (s_run (f, "QUEUE-FLUSH", "1", NULL), 501);
    assert_int_equal (s_run (f, "MBOX-KEY-LIST", NULL), 501);
    s_assert_no_effect (f);
}

static void
test_bad_address_gives_501_5_1_3 (void **state)
{
    fixture_t *f = *state;
    const char *verbs[] = {"MBOX-DEL", "MBOX-KEY-LIST", "LIST-DEL", "LIST-MEMBERS"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        assert_int_equal (s_run (f, verbs[i], "a@", NULL), 501);
        s_assert_reply (f, REPLY_BAD_RCPT_SYNTAX, NULL);
    }
    assert_int_equal (s_run (f, "MBOX-ADD", "no-at-sign", HASH, NULL), 501);
    s_assert_reply (f, REPLY_BAD_RCPT_SYNTAX, NULL);
}

/* --------------------------------------------------------------------------- mailboxes */

static void
test_mbox_add_then_list_shows_it (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-ADD", "Dave@Demo.Test", HASH, NULL), 250);
    s_assert_reply (f, REPLY_OK, "MBOX-ADD dave@demo.test");
    s_assert_no_effect (f);
    assert_int_equal (s_run (f, "MBOX-ADD", "gw@demo.test", HASH, "gateway", NULL), 250);
    assert_int_equal (s_run (f, "MBOX-LIST", NULL), 250);
    s_assert_reply (f, REPLY_OK, "3 mailboxes");
    assert_int_equal (zmsg_size (f->rows), 3);
    bool gateway = false;
    for (zframe_t *row = zmsg_first (f->rows); row; row = zmsg_next (f->rows)) {
        char *text = zframe_strdup (row);
        gateway |= strncmp (text, "gw@demo.test\t", 13) == 0 && strstr (text, "\tgateway");
        free (text);
    }
    assert_true (gateway);
}

static void
test_mbox_add_refusals (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-ADD", BOB, HASH, NULL), 550);
    s_assert_reply (f, REPLY_MAILBOX_EXISTS, NULL);
    assert_non_null (strstr (f->line, "exists"));
    assert_int_equal (s_run (f, "MBOX-ADD", "dave@demo.test", "plain-password", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "the password must come as an Argon2id hash");
    assert_int_equal (s_run (f, "MBOX-ADD", "dave@demo.test", HASH, "root", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "role must be user or gateway");
    s_assert_no_effect (f);
}

static void
test_mbox_del_reports_the_mailbox_deleted (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-DEL", "BOB@demo.test", NULL), 250);
    s_assert_reply (f, REPLY_OK, "MBOX-DEL bob@demo.test");
    assert_int_equal (f->effect.kind, ADMIN_EFFECT_MAILBOX_DELETED);
    assert_string_equal (f->effect.why, "mailbox deleted");
    assert_string_equal (f->effect.address, BOB);
    assert_string_equal (f->effect.key, "");
    assert_int_equal (s_run (f, "MBOX-DEL", BOB, NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    s_assert_no_effect (f);
}

static void
test_mbox_passwd_reports_the_password_changed (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-PASSWD", BOB, HASH, NULL), 250);
    s_assert_reply (f, REPLY_OK, "MBOX-PASSWD " BOB);
    assert_int_equal (f->effect.kind, ADMIN_EFFECT_PASSWORD_CHANGED);
    assert_string_equal (f->effect.why, "password changed");
    assert_string_equal (f->effect.address, BOB);
    assert_int_equal (s_run (f, "MBOX-PASSWD", "nobody@demo.test", HASH, NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    s_assert_no_effect (f);
    assert_int_equal (s_run (f, "MBOX-PASSWD", BOB, "secret", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "the password must come as an Argon2id hash");
    s_assert_no_effect (f);
}

static void
test_mbox_retention (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "MBOX-RETENTION", BOB, "10", "3600", NULL), 250);
    s_assert_reply (f, REPLY_OK,
                    BOB " keeps at most 10 messages (0: no limit), none older than 3600 s (0: no limit)");
    const char *bad[][2] = {{"-1", "0"}, {"0", "x"}, {"", "0"}, {"1.5", "0"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (s_run (f, "MBOX-RETENTION", BOB, bad[i][0], bad[i][1], NULL), 501);
        s_assert_reply (f, REPLY_BAD_ARGS, "MBOX-RETENTION address max-messages max-age-seconds");
    }
    assert_int_equal (s_run (f, "MBOX-RETENTION", "nobody@demo.test", "1", "1", NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    s_assert_no_effect (f);
}

/* -------------------------------------------------------------------------------- keys */

static void
test_mbox_keys_add_list_del (void **state)
{
    fixture_t *f = *state;
    char key[ADMIN_KEY_TEXT + 1], expected[200];
    s_key (key);
    assert_int_equal (s_run (f, "MBOX-KEY-ADD", BOB, key, NULL), 250);
    snprintf (expected, sizeof expected, "MBOX-KEY-ADD %s %s", BOB, key);
    s_assert_reply (f, REPLY_OK, expected);
    s_assert_no_effect (f);
    assert_int_equal (s_run (f, "MBOX-KEY-ADD", BOB, key, NULL), 550);
    s_assert_reply (f, REPLY_MAILBOX_EXISTS, "that key exists already (a key belongs to one mailbox)");

    assert_int_equal (s_run (f, "MBOX-KEY-LIST", BOB, NULL), 250);
    s_assert_reply (f, REPLY_OK, BOB " has 1 key");
    s_assert_row (f, 0, key);

    assert_int_equal (s_run (f, "MBOX-KEY-DEL", BOB, key, NULL), 250);
    assert_int_equal (f->effect.kind, ADMIN_EFFECT_KEY_REMOVED);
    assert_string_equal (f->effect.why, "key removed");
    assert_string_equal (f->effect.address, BOB);
    assert_string_equal (f->effect.key, key);
    assert_int_equal (s_run (f, "MBOX-KEY-DEL", BOB, key, NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    s_assert_no_effect (f);
    assert_int_equal (s_run (f, "MBOX-KEY-LIST", BOB, NULL), 250);
    s_assert_reply (f, REPLY_OK, BOB " has 0 keys");
}

static void
test_mbox_key_refusals (void **state)
{
    fixture_t *f = *state;
    char key[ADMIN_KEY_TEXT + 1];
    s_key (key);
    const char *bad[] = {"short", "0123456789012345678901234567890123456789x",
                         "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (s_run (f, "MBOX-KEY-ADD", BOB, bad[i], NULL), 501);
        s_assert_reply (f, REPLY_BAD_ARGS,
                        "MBOX-KEY-ADD|MBOX-KEY-DEL address key (40 Z85 characters), MBOX-KEY-LIST address");
    }
    assert_int_equal (s_run (f, "MBOX-KEY-ADD", "nobody@demo.test", key, NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    assert_int_equal (s_run (f, "MBOX-KEY-DEL", BOB, key, NULL), 550);
    s_assert_no_effect (f);
}

/* ------------------------------------------------------------------------------- lists */

static void
test_list_add_del (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "LIST-ADD", "news@demo.test", "closed", "anyone", NULL), 250);
    s_assert_reply (f, REPLY_OK, "list news@demo.test added (closed, anyone may post)");
    assert_int_equal (s_run (f, "LIST-ADD", "news@demo.test", "open", "members", NULL), 550);
    s_assert_reply (f, REPLY_MAILBOX_EXISTS, NULL);
    assert_int_equal (s_run (f, "LIST-ADD", BOB, "open", "members", NULL), 550);
    assert_int_equal (s_run (f, "LIST-ADD", "other@demo.test", "ajar", "members", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "LIST-ADD list open|closed members|anyone");
    assert_int_equal (s_run (f, "LIST-ADD", "other@demo.test", "open", "nobody", NULL), 501);
    assert_int_equal (s_run (f, "LIST-DEL", "news@demo.test", NULL), 250);
    s_assert_reply (f, REPLY_OK, "list news@demo.test deleted");
    assert_int_equal (s_run (f, "LIST-DEL", "news@demo.test", NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, NULL);
    s_assert_no_effect (f);
}

static void
test_list_sub_members_unsub (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "LIST-ADD", "news@demo.test", "open", "members", NULL), 250);
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", BOB, NULL), 250);
    s_assert_reply (f, REPLY_OK, BOB " subscribed to news@demo.test");
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", BOB, "subject:*urgent*", NULL), 250);
    s_assert_reply (f, REPLY_ALREADY, BOB " was already subscribed to (filter updated) news@demo.test");
    assert_int_equal (s_run (f, "LIST-MEMBERS", "news@demo.test", NULL), 250);
    s_assert_reply (f, REPLY_OK, "1 members");
    s_assert_row (f, 0, BOB "\tsubject:*urgent*");
    assert_int_equal (s_run (f, "LIST-UNSUB", "news@demo.test", BOB, NULL), 250);
    s_assert_reply (f, REPLY_OK, BOB " unsubscribed from news@demo.test");
    assert_int_equal (s_run (f, "LIST-UNSUB", "news@demo.test", BOB, NULL), 550);
    s_assert_reply (f, REPLY_NOT_SUBSCRIBED, BOB " is not subscribed to news@demo.test");
    assert_int_equal (s_run (f, "LIST-MEMBERS", "news@demo.test", NULL), 250);
    s_assert_reply (f, REPLY_OK, "0 members");
    s_assert_no_effect (f);
}

static void
test_list_refusals (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "LIST-MEMBERS", "none@demo.test", NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, "no such list none@demo.test");
    assert_int_equal (s_run (f, "LIST-SUB", "none@demo.test", BOB, NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, "no such list none@demo.test");
    assert_int_equal (s_run (f, "LIST-ADD", "news@demo.test", "open", "members", NULL), 250);
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", "nobody@demo.test", NULL), 550);
    s_assert_reply (f, REPLY_NO_MAILBOX, "no such mailbox or list nobody@demo.test");
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", "bob@", NULL), 501);
    s_assert_reply (f, REPLY_BAD_RCPT_SYNTAX, NULL);
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", BOB, "no-colon", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "filter must be HEADER:GLOB, e.g. subject:*urgent*");
    char long_filter[300];
    memset (long_filter, 'a', sizeof long_filter - 1);
    long_filter[sizeof long_filter - 1] = '\0';
    assert_int_equal (s_run (f, "LIST-SUB", "news@demo.test", BOB, long_filter, NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "filter too long");
    assert_int_equal (s_run (f, "LIST-UNSUB", "news@demo.test", "bob@", NULL), 501);
    s_assert_no_effect (f);
}

/* The database under the store fails from now on for what uses sql (run on its own
   connection) */
static void
s_break_database (fixture_t *f, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
}

static void
test_a_database_failure_gives_452_not_exists_or_no_such (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "LIST-ADD", "news@demo.test", "open", "members", NULL), 250);
    s_break_database (f, "ALTER TABLE mailboxes RENAME COLUMN retention_count TO gone; "
                         "DROP TABLE subscriptions; DROP TABLE lists");
    assert_int_equal (s_run (f, "LIST-ADD", "other@demo.test", "open", "members", NULL), 452);
    s_assert_reply (f, REPLY_STORE_TROUBLE, NULL);
    assert_int_equal (s_run (f, "LIST-DEL", "news@demo.test", NULL), 452);
    s_assert_reply (f, REPLY_STORE_TROUBLE, NULL);
    assert_int_equal (s_run (f, "MBOX-RETENTION", BOB, "10", "0", NULL), 452);
    s_assert_reply (f, REPLY_STORE_TROUBLE, NULL);
    assert_int_equal (s_run (f, "MBOX-ADD", "carol@demo.test", HASH, NULL), 452);
    s_assert_reply (f, REPLY_STORE_TROUBLE, NULL);
    s_assert_no_effect (f);
}

/* ------------------------------------------------------------------------------- queue */

static void
test_queue_list_flush_del (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_run (f, "QUEUE-LIST", NULL), 250);
    s_assert_reply (f, REPLY_OK, "0 entries");
    const char *body = "Subject: x\r\n\r\nhello\r\n";
    int64_t message = store_message_add (f->store, BOB, NULL, "x", body, strlen (body), 0);
    assert_true (message > 0);
    int64_t entry = store_outbound_add (f->store, message, BOB, "carol@far.example");
    assert_true (entry > 0);
    assert_int_equal (s_run (f, "QUEUE-LIST", NULL), 250);
    s_assert_reply (f, REPLY_OK, "1 entries");
    assert_int_equal (zmsg_size (f->rows), 1);
    assert_int_equal (s_run (f, "QUEUE-FLUSH", NULL), 250);
    assert_non_null (strstr (f->line, "entries due now"));

    char id[32], expected[64];
    snprintf (id, sizeof id, "%lld", (long long)entry);
    assert_int_equal (s_run (f, "QUEUE-DEL", id, NULL), 250);
    snprintf (expected, sizeof expected, "entry %s deleted", id);
    s_assert_reply (f, REPLY_OK, expected);
    assert_int_equal (s_run (f, "QUEUE-DEL", id, NULL), 550);
    snprintf (expected, sizeof expected, "no queue entry %s", id);
    s_assert_reply (f, REPLY_NO_MESSAGE, expected);
    assert_int_equal (s_run (f, "QUEUE-DEL", "first", NULL), 501);
    s_assert_reply (f, REPLY_BAD_ARGS, "QUEUE-DEL takes an entry id");
    s_assert_no_effect (f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_unknown_verb_gives_500, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_status_rows_come_from_the_broker_and_take_no_arguments, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_request_gives_500, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wrong_argument_count_gives_501_with_usage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_address_gives_501_5_1_3, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_add_then_list_shows_it, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_add_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_del_reports_the_mailbox_deleted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_passwd_reports_the_password_changed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_keys_add_list_del, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mbox_key_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_list_add_del, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_list_sub_members_unsub, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_list_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_database_failure_gives_452_not_exists_or_no_such, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_queue_list_flush_del, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
