/*  test_store.c — the broker's SQLite store through store.h, on a real file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schema_sql.h"
#include "store.h"

typedef struct {
    char dir[64];
    char path[128];
    store_t *store;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-store-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/var/mailbus.db", f->dir);
    char *error = NULL;
    f->store = store_open (f->path, true, &error);
    assert_non_null (f->store);
    assert_int_equal (store_mailbox_add (f->store, "bob@demo.test", "$argon2id$x", "user", &error), 0);
    assert_int_equal (store_mailbox_add (f->store, "alice@demo.test", "$argon2id$y", "user", &error), 0);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    store_close (&f->store);
    char cmd[200];
    snprintf (cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal (system (cmd), 0);
    free (f);
    return 0;
}

static int64_t
s_publish (store_t *store, const char *subject, int64_t mailbox)
{
    const char *body = "Subject: x\r\n\r\nhello\r\n";
    int64_t message = store_message_add (store, "alice@demo.test", NULL, subject, body, strlen (body), 0);
    assert_true (message > 0);
    int64_t delivery = store_delivery_add (store, message, mailbox, strlen (body));
    assert_true (delivery > 0);
    return delivery;
}

static void
test_adding_a_mailbox_twice_is_refused (void **state)
{
    fixture_t *f = *state;
    char *error = NULL;
    assert_int_equal (store_mailbox_add (f->store, "bob@demo.test", "$argon2id$z", "user", &error),
                      STORE_EXISTS);
    assert_non_null (strstr (error, "exists"));
    free (error);
}

/* The status says what became of a change, the text says it for people; NULL error is allowed */
static void
s_assert_status (store_status_t status, store_status_t expected, char **error, const char *text)
{
    assert_int_equal (status, expected);
    assert_non_null (*error);
    assert_non_null (strstr (*error, text));
    free (*error);
    *error = NULL;
}

static void
test_changes_refused_say_exists_or_not_found (void **state)
{
    fixture_t *f = *state;
    char *error = NULL;
    const char *key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
    s_assert_status (store_mailbox_add (f->store, "alice@demo.test", "$argon2id$z", "user", &error),
                     STORE_EXISTS, &error, "exists");
    s_assert_status (store_mailbox_delete (f->store, "nobody@demo.test", &error), STORE_NOT_FOUND, &error,
                     "no such mailbox nobody@demo.test");
    s_assert_status (store_mailbox_passwd (f->store, "nobody@demo.test", "$argon2id$z", &error),
                     STORE_NOT_FOUND, &error, "no such mailbox");
    s_assert_status (store_mailbox_retention (f->store, "nobody@demo.test", 1, 1, &error), STORE_NOT_FOUND,
                     &error, "no such mailbox");
    assert_int_equal (store_key_add (f->store, "bob@demo.test", key, &error), STORE_OK);
    assert_null (error);
    s_assert_status (store_key_add (f->store, "alice@demo.test", key, &error), STORE_EXISTS, &error,
                     "that key exists already");
    s_assert_status (store_key_add (f->store, "nobody@demo.test", "other", &error), STORE_NOT_FOUND, &error,
                     "no such mailbox");
    s_assert_status (store_key_delete (f->store, "alice@demo.test", key, &error), STORE_NOT_FOUND, &error,
                     "no such mailbox key of alice@demo.test");
    assert_int_equal (store_topic_add (f->store, "news@demo.test", true, false, &error), STORE_OK);
    s_assert_status (store_topic_add (f->store, "news@demo.test", true, false, &error), STORE_EXISTS, &error,
                     "list news@demo.test exists");
    s_assert_status (store_topic_add (f->store, "bob@demo.test", true, false, &error), STORE_EXISTS, &error,
                     "exists (as a mailbox or a list)");
    assert_int_equal (store_topic_delete (f->store, "news@demo.test", &error), STORE_OK);
    s_assert_status (store_topic_delete (f->store, "news@demo.test", &error), STORE_NOT_FOUND, &error,
                     "no such list");
    assert_int_equal (store_mailbox_delete (f->store, "nobody@demo.test", NULL), STORE_NOT_FOUND);
}

/* A database failure is STORE_ERROR with SQLite's text, not taken for exists or not found */
static void
test_a_database_failure_is_store_error (void **state)
{
    fixture_t *f = *state;
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "DROP TABLE subscriptions; DROP TABLE lists", NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);
    char *error = NULL;
    s_assert_status (store_topic_add (f->store, "news@demo.test", true, false, &error), STORE_ERROR, &error,
                     "store: ");
    s_assert_status (store_mailbox_add (f->store, "carol@demo.test", "$argon2id$z", "user", &error),
                     STORE_ERROR, &error, "store: ");
    s_assert_status (store_topic_delete (f->store, "news@demo.test", &error), STORE_ERROR, &error, "store: ");
}

static void
test_delivery_updates_counters_and_delete_removes_the_body (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob, alice;
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 1);
    assert_int_equal (store_mailbox_find (f->store, "alice@demo.test", &alice), 1);
    const char *body = "Subject: x\r\n\r\nhello\r\n";
    int64_t message = store_message_add (f->store, "alice@demo.test", "<1@x>", "x", body, strlen (body), 0);
    int64_t d1 = store_delivery_add (f->store, message, bob.id, strlen (body));
    int64_t d2 = store_delivery_add (f->store, message, alice.id, strlen (body));
    assert_true (d1 > 0 && d2 > d1);
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 1);
    assert_int_equal (bob.message_count, 1);
    assert_int_equal (bob.used_bytes, (int64_t)strlen (body));

    /* one body for two deliveries: it survives the first delete, not the second */
    assert_int_equal (store_delivery_delete (f->store, bob.id, d1), 1);
    void *copy = NULL;
    size_t size = 0;
    assert_int_equal (store_delivery_read (f->store, alice.id, d2, &copy, &size), 1);
    assert_memory_equal (copy, body, size);
    free (copy);
    assert_int_equal (store_delivery_delete (f->store, alice.id, d2), 1);
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 1);
    assert_int_equal (bob.message_count, 0);
    assert_int_equal (bob.used_bytes, 0);
}

static void
s_removed (int64_t id, int64_t folder, void *arg)
{
    int64_t *seen = arg;
    seen[0]++;
    seen[1] += id;
    seen[2] += folder;
}

static int64_t
s_body_rows (const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_prepare_v2 (db, "SELECT count(*) FROM messages", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    int64_t rows = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return rows;
}

/* The batched DELE and ACK (schema 012): one statement, counters and bodies kept by the store */
static void
test_batched_remove_keeps_counters_and_bodies_and_leaves_others_alone (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob, alice;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    store_mailbox_find (f->store, "alice@demo.test", &alice);
    const int64_t size = (int64_t)strlen ("Subject: x\r\n\r\nhello\r\n");
    int64_t ids[4] = {s_publish (f->store, "a", bob.id), s_publish (f->store, "b", bob.id),
                      s_publish (f->store, "c", bob.id), s_publish (f->store, "d", alice.id)};
    int64_t seen[3] = {0, 0, 0};
    /* outside a transaction: one of its own; alice's id is left alone */
    int64_t asked[3] = {ids[0], ids[1], ids[3]};
    assert_int_equal (store_deliveries_remove (f->store, bob.id, asked, 3, NULL, s_removed, seen), 2);
    assert_int_equal (seen[0], 2);
    assert_int_equal (seen[1], ids[0] + ids[1]);
    assert_int_equal (seen[2], 0); /* the INBOX */
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 1);
    assert_int_equal (bob.used_bytes, size);
    store_mailbox_find (f->store, "alice@demo.test", &alice);
    assert_int_equal (alice.message_count, 1);
    assert_int_equal (s_body_rows (f->path), 2);
    /* ACK form: only what the consumer holds; in a transaction, seen at once, written by COMMIT */
    assert_int_equal (store_begin (f->store), 0);
    assert_int_equal (store_deliveries_remove (f->store, bob.id, &ids[2], 1, "nobody", NULL, NULL), 0);
    assert_int_equal (store_deliveries_remove (f->store, bob.id, &ids[2], 1, NULL, NULL, NULL), 1);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 0);
    assert_int_equal (bob.used_bytes, 0);
    assert_int_equal (store_commit (f->store, NULL), 0);
    assert_int_equal (s_body_rows (f->path), 1);
    assert_int_equal (store_deliveries_remove (f->store, bob.id, ids, 4, NULL, NULL, NULL), 0);
    assert_int_equal (store_recount (f->store), 0); /* nothing to mend */
}

static void
test_deleting_twice_gives_zero_the_second_time (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    int64_t d = s_publish (f->store, "a", bob.id);
    assert_int_equal (store_delivery_delete (f->store, bob.id, d), 1);
    assert_int_equal (store_delivery_delete (f->store, bob.id, d), 0);
}

static void
test_another_mailbox_cannot_read_or_delete_a_delivery (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob, alice;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    store_mailbox_find (f->store, "alice@demo.test", &alice);
    int64_t d = s_publish (f->store, "private", bob.id);
    void *body = NULL;
    size_t size = 0;
    assert_int_equal (store_delivery_read (f->store, alice.id, d, &body, &size), 0);
    assert_int_equal (store_delivery_delete (f->store, alice.id, d), 0);
    assert_int_equal (store_delivery_read (f->store, bob.id, d, &body, &size), 1);
    free (body);
}

static void
count_entry (const store_entry_t *entry, void *arg)
{
    int *seen = arg;
    seen[0]++;
    seen[1] += entry->seen;
}

static void
test_retrieve_marks_seen_and_list_is_oldest_first (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    int64_t d1 = s_publish (f->store, "one", bob.id);
    int64_t d2 = s_publish (f->store, "two", bob.id);
    assert_int_equal (store_delivery_last_id (f->store, bob.id), d2);
    void *body = NULL;
    size_t size = 0;
    assert_int_equal (store_delivery_read (f->store, bob.id, d1, &body, &size), 1);
    free (body);
    int counts[2] = {0, 0};
    assert_int_equal (store_delivery_each (f->store, bob.id, 0, -1, count_entry, counts), 0);
    assert_int_equal (counts[0], 2);
    assert_int_equal (counts[1], 1);
}

/* A page of LIST: the deliveries after a cursor, at most limit of them, oldest first */
static void
test_list_pages_after_a_cursor (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    int64_t d[5];
    for (int i = 0; i < 5; i++)
        d[i] = s_publish (f->store, "paged", bob.id);
    int counts[2] = {0, 0};
    assert_int_equal (store_delivery_each (f->store, bob.id, 0, 2, count_entry, counts), 0);
    assert_int_equal (counts[0], 2);
    counts[0] = 0;
    assert_int_equal (store_delivery_each (f->store, bob.id, d[1], 2, count_entry, counts), 0);
    assert_int_equal (counts[0], 2);
    counts[0] = 0;
    assert_int_equal (store_delivery_each (f->store, bob.id, d[3], 2, count_entry, counts), 0);
    assert_int_equal (counts[0], 1); /* the last page is short */
    counts[0] = 0;
    assert_int_equal (store_delivery_each (f->store, bob.id, d[4], 10, count_entry, counts), 0);
    assert_int_equal (counts[0], 0); /* past the end: empty, no error */
    counts[0] = 0;
    assert_int_equal (store_delivery_each (f->store, bob.id, d[0], -1, count_entry, counts), 0);
    assert_int_equal (counts[0], 4);
}

/* A dedupe key: sender, Message-ID, recipient, and a digest filled with one octet */
static store_publication_t
s_key (const char *sender, const char *message_id, const char *recipient, uint8_t *digest, uint8_t fill)
{
    memset (digest, fill, STORE_CONTENT_BYTES);
    return (store_publication_t){sender, message_id, recipient, digest};
}

/* The reply line found for that key ("" when none): compared, then freed */
static void
s_assert_found (store_t *store, store_publication_t key, const char *expected)
{
    char *reply = store_publication_find (store, &key);
    assert_string_equal (reply ? reply : "", expected);
    free (reply);
}

/* The purge's look before its write transaction: due exactly while store_purge or
   store_publications_forget would find something, each of its four parts */
static void
test_the_purge_is_due_only_when_it_has_something_to_purge (void **state)
{
    fixture_t *f = *state;
    int64_t now = (int64_t)time (NULL);
    store_mailbox_t bob;
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 1);
    assert_false (store_purge_due (f->store, now));
    /* an expired message */
    const char *body = "Subject: x\r\n\r\nhello\r\n";
    int64_t message =
        store_message_add (f->store, "alice@demo.test", NULL, "x", body, strlen (body), now - 1);
    assert_true (store_delivery_add (f->store, message, bob.id, strlen (body)) > 0);
    assert_true (store_purge_due (f->store, now));
    assert_int_equal (store_purge (f->store, NULL, NULL), 1);
    assert_false (store_purge_due (f->store, now));
    /* three messages where the retention keeps two */
    for (int i = 0; i < 3; i++)
        s_publish (f->store, "kept", bob.id);
    assert_false (store_purge_due (f->store, now));
    assert_int_equal (store_mailbox_retention (f->store, "bob@demo.test", 2, 0, NULL), STORE_OK);
    assert_true (store_purge_due (f->store, now));
    assert_int_equal (store_purge (f->store, NULL, NULL), 1);
    assert_false (store_purge_due (f->store, now));
    /* past the retention's age: two messages delivered a minute ago, by another writer */
    assert_int_equal (store_mailbox_retention (f->store, "bob@demo.test", 0, 30, NULL), STORE_OK);
    assert_false (store_purge_due (f->store, now));
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    assert_int_equal (
        sqlite3_exec (db, "UPDATE deliveries SET delivered_at = delivered_at - 60", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close (db);
    assert_true (store_purge_due (f->store, now));
    assert_int_equal (store_purge (f->store, NULL, NULL), 2);
    assert_false (store_purge_due (f->store, now));
    /* a dedupe record published before the window's start, not one after it */
    uint8_t digest[STORE_CONTENT_BYTES];
    store_publication_t key = s_key ("a@demo.test", "<d>", "x@demo.test", digest, 7);
    assert_int_equal (store_publication_add (f->store, &key, "250 2.0.0 x@demo.test queued as 9"), 0);
    assert_false (store_purge_due (f->store, now - 60));
    assert_true (store_purge_due (f->store, now + 60));
}

static void
test_publication_is_found_again_for_that_recipient_and_content_only (void **state)
{
    fixture_t *f = *state;
    uint8_t digest[STORE_CONTENT_BYTES];
    store_publication_t key = s_key ("alice@demo.test", "<m@x>", "bob@demo.test", digest, 1);
    assert_null (store_publication_find (f->store, &key));
    assert_int_equal (store_publication_add (f->store, &key, "250 2.0.0 bob@demo.test queued as 1"), 0);
    s_assert_found (f->store, key, "250 2.0.0 bob@demo.test queued as 1");
    /* another recipient of the same message (a split transaction) is not a copy */
    s_assert_found (f->store, s_key ("alice@demo.test", "<m@x>", "carol@demo.test", digest, 1), "");
    /* nor is other content under the same Message-ID (a pre-empted Message-ID) */
    s_assert_found (f->store, s_key ("alice@demo.test", "<m@x>", "bob@demo.test", digest, 2), "");
    /* nor the same Message-ID from another sender */
    s_assert_found (f->store, s_key ("bob@demo.test", "<m@x>", "bob@demo.test", digest, 1), "");
    /* the second content gets a record of its own; both are found */
    key = s_key ("alice@demo.test", "<m@x>", "bob@demo.test", digest, 2);
    assert_int_equal (store_publication_add (f->store, &key, "250 2.0.0 bob@demo.test queued as 2"), 0);
    s_assert_found (f->store, key, "250 2.0.0 bob@demo.test queued as 2");
    s_assert_found (f->store, s_key ("alice@demo.test", "<m@x>", "bob@demo.test", digest, 1),
                    "250 2.0.0 bob@demo.test queued as 1");
}

static void
test_rolled_back_transaction_leaves_nothing (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    assert_int_equal (store_begin (f->store), 0);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    s_publish (f->store, "gone", bob.id);
    store_rollback (f->store);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 0);
    assert_int_equal (bob.used_bytes, 0);
    /* the counters of the rolled-back deliveries are not written by the next transaction */
    assert_int_equal (store_begin (f->store), 0);
    assert_int_equal (store_commit (f->store, NULL), 0);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 0);
}

static void
test_counters_inside_a_transaction_and_after_commit (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob, alice;
    const size_t size = strlen ("Subject: x\r\n\r\nhello\r\n");
    assert_int_equal (store_begin (f->store), 0);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    store_mailbox_find (f->store, "alice@demo.test", &alice);
    for (int i = 0; i < 3; i++)
        s_publish (f->store, "n", bob.id);
    s_publish (f->store, "n", alice.id);
    /* seen at once by the transaction that delivered them (quota checks rely on it) */
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 3);
    assert_int_equal (bob.used_bytes, (int64_t)(3 * size));
    assert_int_equal (store_commit (f->store, NULL), 0);

    /* and written by the commit: another connection reads them */
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_prepare_v2 (db,
                                          "SELECT message_count, used_bytes FROM mailboxes "
                                          "WHERE address = 'bob@demo.test'",
                                          -1, &stmt, NULL),
                      SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_int_equal (sqlite3_column_int64 (stmt, 0), 3);
    assert_int_equal (sqlite3_column_int64 (stmt, 1), (int64_t)(3 * size));
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    store_mailbox_find (f->store, "alice@demo.test", &alice);
    assert_int_equal (alice.message_count, 1);
    assert_int_equal (store_recount (f->store), 0); /* nothing to mend */
}

static void
test_more_mailboxes_than_held_in_memory_are_all_counted (void **state)
{
    fixture_t *f = *state;
    char *error = NULL;
    char address[64];
    assert_int_equal (store_begin (f->store), 0);
    for (int i = 0; i < 100; i++) {
        snprintf (address, sizeof address, "user%d@demo.test", i);
        assert_int_equal (store_mailbox_add (f->store, address, "$argon2id$z", "user", &error), 0);
        store_mailbox_t mailbox;
        assert_int_equal (store_mailbox_find (f->store, address, &mailbox), 1);
        s_publish (f->store, "n", mailbox.id);
        s_publish (f->store, "n", mailbox.id);
    }
    assert_int_equal (store_commit (f->store, NULL), 0);
    for (int i = 0; i < 100; i++) {
        snprintf (address, sizeof address, "user%d@demo.test", i);
        store_mailbox_t mailbox;
        assert_int_equal (store_mailbox_find (f->store, address, &mailbox), 1);
        assert_int_equal (mailbox.message_count, 2);
    }
    assert_int_equal (store_recount (f->store), 0);
}

static void
test_mailbox_reads_inside_a_transaction_follow_every_change (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    char *error = NULL;
    assert_int_equal (store_begin (f->store), 0);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    int64_t d1 = s_publish (f->store, "one", bob.id);
    s_publish (f->store, "two", bob.id);
    store_mailbox_find (f->store, "bob@demo.test", &bob); /* read again: the pending two count */
    assert_int_equal (bob.message_count, 2);
    assert_int_equal (store_delivery_delete (f->store, bob.id, d1), 1);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 1);
    assert_int_equal (store_mailbox_passwd (f->store, "bob@demo.test", "$argon2id$new", &error), 0);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_string_equal (bob.password_hash, "$argon2id$new");
    assert_int_equal (store_mailbox_delete (f->store, "bob@demo.test", &error), 0);
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 0);
    store_rollback (f->store);
    /* and the rollback leaves the row as it was */
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &bob), 1);
    assert_int_equal (bob.message_count, 0);
    assert_string_not_equal (bob.password_hash, "$argon2id$new");
}

static int
s_exec_sql (sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec (db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf (stderr, "sql: %s\n", err);
    sqlite3_free (err);
    return rc;
}

/* Makes dir/vVERSION.db (its name into path) as release `version` left it: its migrations,
   then rows; closed */
static void
s_old_database (char *path, size_t size, const char *dir, int version, const char *rows)
{
    snprintf (path, size, "%s/v%d.db", dir, version);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (s_exec_sql (db, "PRAGMA journal_mode = WAL"), SQLITE_OK);
    for (int v = 0; v < version; v++)
        assert_int_equal (s_exec_sql (db, schema_migrations[v]), SQLITE_OK);
    char pragmas[96];
    snprintf (pragmas, sizeof pragmas, "PRAGMA user_version = %d; PRAGMA application_id = 1296192851;",
              version);
    assert_int_equal (s_exec_sql (db, pragmas), SQLITE_OK);
    assert_int_equal (s_exec_sql (db, rows), SQLITE_OK);
    sqlite3_close (db);
}

static void
test_a_version_5_database_keeps_its_mail_and_never_reuses_an_id (void **state)
{
    /* what the previous release made: AUTOINCREMENT ids, the last message deleted */
    char path[160];
    s_old_database (path, sizeof path, ((fixture_t *)*state)->dir, 5,
                    "INSERT INTO mailboxes (address, password_hash) VALUES ('bob@demo.test', 'x');"
                    "INSERT INTO messages (sender, subject, size, body, received_at) VALUES "
                    "('a@demo.test', 's1', 5, 'hello', 0), ('a@demo.test', 's2', 5, 'world', 0),"
                    "('a@demo.test', 's3', 5, 'third', 0);"
                    "INSERT INTO deliveries (mailbox_id, message_id, delivered_at) "
                    "SELECT 1, id, 0 FROM messages;"
                    "DELETE FROM deliveries WHERE id = 3;");

    char *error = NULL;
    store_t *store = store_open (path, true, &error);
    assert_non_null (store);
    store_mailbox_t bob;
    assert_int_equal (store_mailbox_find (store, "bob@demo.test", &bob), 1);
    assert_int_equal (bob.message_count, 2);
    void *body = NULL;
    size_t size = 0;
    assert_int_equal (store_delivery_read (store, bob.id, 1, &body, &size), 1);
    assert_memory_equal (body, "hello", 5);
    free (body);
    /* 3 was given once (and deleted): the next message and delivery are 4 */
    int64_t message = store_message_add (store, "a@demo.test", NULL, "s4", "fresh", 5, 0);
    assert_int_equal (message, 4);
    assert_int_equal (store_delivery_add (store, message, bob.id, 5), 4);
    /* and that survives a restart */
    store_close (&store);
    store = store_open (path, true, &error);
    assert_non_null (store);
    assert_int_equal (store_begin (store), 0);
    assert_int_equal (store_message_add (store, "a@demo.test", NULL, "s5", "again", 5, 0), 5);
    assert_int_equal (store_commit (store, NULL), 0);
    store_close (&store);

    /* the rebuilt tables keep their keys, views and triggers */
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_prepare_v2 (db,
                                          "SELECT (SELECT count(*) FROM pragma_foreign_key_check), "
                                          "(SELECT count(*) FROM inbox), (SELECT waiting FROM queue), "
                                          "(SELECT count(*) FROM sqlite_master WHERE type = 'trigger')",
                                          -1, &stmt, NULL),
                      SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_int_equal (sqlite3_column_int (stmt, 0), 0);
    assert_int_equal (sqlite3_column_int (stmt, 1), 3);
    assert_int_equal (sqlite3_column_int (stmt, 2), 3);
    assert_int_equal (sqlite3_column_int (stmt, 3), 5); /* and deliveries_folder_out (schema 11) */
    sqlite3_finalize (stmt);
    sqlite3_close (db);
}

/* An old reply text: a status line, then one line per recipient */
#define OLD_REPLY(rcpt_lines) "'250 2.0.0 1 of 1 recipients accepted' || char(10) || " rcpt_lines

static void
test_version_7_dedupe_records_survive_and_are_forgotten_oldest_first (void **state)
{
    /* inserted out of time order: the migration puts them in order */
    char path[160];
    s_old_database (
        path, sizeof path, ((fixture_t *)*state)->dir, 7,
        "INSERT INTO publications VALUES "
        "('a@demo.test', '<c>', " OLD_REPLY (
            "'250 2.0.0 x@demo.test queued as 3' || char(10)") ", 300),"
                                                               "('a@demo.test', '<a>', " OLD_REPLY (
                                                                   "'250 2.0.0 x@demo.test queued as 1' || "
                                                                   "char(10)") ", 100),"
                                                                               "('b@demo.test', "
                                                                               "'<b>', " OLD_REPLY (
                                                                                   "'250 "
                                                                                   "2.0.0 "
                                                                                   "x@demo."
                                                                                   "test "
                                                                                   "queued "
                                                                                   "as 2' "
                                                                                   "|| "
                                                                                   "char("
                                                                                   "10)") ","
                                                                                          " "
                                                                                          "2"
                                                                                          "0"
                                                                                          "0"
                                                                                          ")"
                                                                                          ";");

    char *error = NULL;
    store_t *store = store_open (path, true, &error);
    assert_non_null (store);
    uint8_t digest[STORE_CONTENT_BYTES];
    /* a record from before schema 9 matches any content */
    s_assert_found (store, s_key ("a@demo.test", "<a>", "x@demo.test", digest, 7),
                    "250 2.0.0 x@demo.test queued as 1");
    s_assert_found (store, s_key ("b@demo.test", "<a>", "x@demo.test", digest, 7), ""); /* the key is all */
    assert_int_equal (store_begin (store), 0);
    /* nothing older than 100: nothing goes */
    assert_int_equal (store_publications_forget (store, 100, 10), 0);
    /* older than 250, at most one at a time: <a>, then <b>, then none */
    assert_int_equal (store_publications_forget (store, 250, 1), 1);
    s_assert_found (store, s_key ("a@demo.test", "<a>", "x@demo.test", digest, 7), "");
    s_assert_found (store, s_key ("b@demo.test", "<b>", "x@demo.test", digest, 7),
                    "250 2.0.0 x@demo.test queued as 2");
    assert_int_equal (store_publications_forget (store, 250, 1), 1);
    assert_int_equal (store_publications_forget (store, 250, 1), 0);
    s_assert_found (store, s_key ("a@demo.test", "<c>", "x@demo.test", digest, 7),
                    "250 2.0.0 x@demo.test queued as 3");
    /* a new record goes after the old ones and stays while they go */
    store_publication_t key = s_key ("a@demo.test", "<d>", "x@demo.test", digest, 7);
    assert_int_equal (store_publication_add (store, &key, "rd"), 0);
    assert_int_equal (store_publications_forget (store, 1000, 10), 1);
    s_assert_found (store, key, "rd");
    assert_int_equal (store_commit (store, NULL), 0);
    store_close (&store);
}

static void
test_version_8_dedupe_records_become_one_per_accepted_recipient (void **state)
{
    /* one SEND to a mailbox, an unknown mailbox, a list and a remote address, and a repeat */
    char path[160];
    s_old_database (path, sizeof path, ((fixture_t *)*state)->dir, 8,
                    "INSERT INTO publications VALUES ('a@demo.test', '<m@x>', "
                    "'250 2.0.0 4 of 5 recipients accepted' || char(10) || "
                    "'250 2.0.0 bob@demo.test queued as 5' || char(10) || "
                    "'550 5.1.1 nobody@demo.test no such mailbox' || char(10) || "
                    "'250 2.0.0 news@demo.test list: 2 deliveries, message 3' || char(10) || "
                    "'250 2.0.0 x@remote.test queued for relay as 7' || char(10) || "
                    "'250 2.0.0 bob@demo.test already queued (duplicate recipient)' || char(10), 100);");
    char *error = NULL;
    store_t *store = store_open (path, true, &error);
    assert_non_null (store);
    uint8_t digest[STORE_CONTENT_BYTES];
    s_assert_found (store, s_key ("a@demo.test", "<m@x>", "bob@demo.test", digest, 0),
                    "250 2.0.0 bob@demo.test queued as 5");
    s_assert_found (store, s_key ("a@demo.test", "<m@x>", "news@demo.test", digest, 0),
                    "250 2.0.0 news@demo.test list: 2 deliveries, message 3");
    s_assert_found (store, s_key ("a@demo.test", "<m@x>", "x@remote.test", digest, 0),
                    "250 2.0.0 x@remote.test queued for relay as 7");
    /* a refused recipient was never stored: a retry tries it again */
    s_assert_found (store, s_key ("a@demo.test", "<m@x>", "nobody@demo.test", digest, 0), "");
    /* and a recipient of a later split transaction was never given the message */
    s_assert_found (store, s_key ("a@demo.test", "<m@x>", "carol@demo.test", digest, 0), "");
    store_close (&store);
}

static void
test_ids_start_above_rows_another_writer_inserted (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    int64_t first = s_publish (f->store, "one", bob.id);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    char sql[200];
    snprintf (sql, sizeof sql,
              "INSERT INTO deliveries (id, mailbox_id, message_id, delivered_at) "
              "SELECT %lld, %lld, message_id, 0 FROM deliveries",
              (long long)first + 10, (long long)bob.id);
    assert_int_equal (s_exec_sql (db, sql), SQLITE_OK);
    sqlite3_close (db);
    /* in a transaction, as the broker works, and outside one */
    assert_int_equal (store_begin (f->store), 0);
    assert_int_equal (s_publish (f->store, "two", bob.id), first + 11);
    assert_int_equal (store_commit (f->store, NULL), 0);
    assert_int_equal (s_publish (f->store, "three", bob.id), first + 12);
    /* a rolled-back transaction's ids were never shown: the next one gets them */
    assert_int_equal (store_begin (f->store), 0);
    assert_int_equal (s_publish (f->store, "gone", bob.id), first + 13);
    store_rollback (f->store);
    assert_int_equal (s_publish (f->store, "four", bob.id), first + 13);
}

static void
test_recount_mends_deliveries_inserted_by_hand (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    s_publish (f->store, "kept", bob.id);
    /* what a student might do in sqlite3: a delivery row added by hand, counters unchanged */
    sqlite3 *db;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    char sql[256];
    snprintf (sql, sizeof sql,
              "INSERT INTO deliveries (mailbox_id, message_id, delivered_at) "
              "SELECT %lld, id, unixepoch() FROM messages",
              (long long)bob.id);
    assert_int_equal (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 1);
    assert_int_equal (store_recount (f->store), 1);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 2);
    assert_int_equal (store_recount (f->store), 0);
}

static void
test_reopening_keeps_data_and_a_newer_schema_is_refused (void **state)
{
    fixture_t *f = *state;
    store_mailbox_t bob;
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    s_publish (f->store, "kept", bob.id);
    store_close (&f->store);
    char *error = NULL;
    f->store = store_open (f->path, true, &error);
    assert_non_null (f->store);
    store_mailbox_find (f->store, "bob@demo.test", &bob);
    assert_int_equal (bob.message_count, 1);
    store_close (&f->store);

    sqlite3 *db;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
    assert_null (store_open (f->path, true, &error));
    assert_non_null (strstr (error, "newer"));
    free (error);
}

static void
test_a_foreign_database_is_refused_and_left_alone (void **state)
{
    fixture_t *f = *state;
    char path[200];
    snprintf (path, sizeof path, "%s/other.db", f->dir);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "CREATE TABLE t (x); INSERT INTO t VALUES (42)", NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);
    char *error = NULL;
    assert_null (store_open (path, true, &error));
    assert_non_null (strstr (error, "not a mailbus database"));
    free (error);
    /* untouched */
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_prepare_v2 (db, "SELECT x FROM t", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_int_equal (sqlite3_column_int (stmt, 0), 42);
    sqlite3_finalize (stmt);
    sqlite3_close (db);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_adding_a_mailbox_twice_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_the_purge_is_due_only_when_it_has_something_to_purge, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_changes_refused_say_exists_or_not_found, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_database_failure_is_store_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_delivery_updates_counters_and_delete_removes_the_body, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_deleting_twice_gives_zero_the_second_time, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (
            test_batched_remove_keeps_counters_and_bodies_and_leaves_others_alone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_another_mailbox_cannot_read_or_delete_a_delivery, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_list_pages_after_a_cursor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_retrieve_marks_seen_and_list_is_oldest_first, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_publication_is_found_again_for_that_recipient_and_content_only,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_version_8_dedupe_records_become_one_per_accepted_recipient,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rolled_back_transaction_leaves_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_counters_inside_a_transaction_and_after_commit, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_more_mailboxes_than_held_in_memory_are_all_counted, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_mailbox_reads_inside_a_transaction_follow_every_change, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_recount_mends_deliveries_inserted_by_hand, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_version_5_database_keeps_its_mail_and_never_reuses_an_id,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_version_7_dedupe_records_survive_and_are_forgotten_oldest_first,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ids_start_above_rows_another_writer_inserted, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_reopening_keeps_data_and_a_newer_schema_is_refused, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_a_foreign_database_is_refused_and_left_alone, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
