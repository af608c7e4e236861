/*  test_folders.c — folders and flags in the store (schema 011) and the folder name rule of
    folders.c, on a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "folders.h"
#include "store.h"

typedef struct {
    char dir[64];
    char path[128];
    store_t *store;
    int64_t bob, alice;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-folders-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/var/mailbus.db", f->dir);
    char *error = NULL;
    f->store = store_open (f->path, true, &error);
    assert_non_null (f->store);
    assert_int_equal (store_mailbox_add (f->store, "bob@demo.test", "$argon2id$x", "user", &error), 0);
    assert_int_equal (store_mailbox_add (f->store, "alice@demo.test", "$argon2id$y", "user", &error), 0);
    store_mailbox_t mailbox;
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &mailbox), 1);
    f->bob = mailbox.id;
    assert_int_equal (store_mailbox_find (f->store, "alice@demo.test", &mailbox), 1);
    f->alice = mailbox.id;
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

#define BODY "Subject: x\r\n\r\nhello\r\n"

/* A message delivered into mailbox's folder (0: the INBOX) with flags; its delivery id */
static int64_t
s_put (store_t *store, int64_t mailbox, int64_t folder, unsigned flags)
{
    int64_t message = store_message_add (store, "alice@demo.test", NULL, "x", BODY, strlen (BODY), 0);
    assert_true (message > 0);
    int64_t id = store_delivery_put (store, mailbox, message, strlen (BODY), folder, flags, 1700000000);
    assert_true (id > 0);
    return id;
}

static int64_t
s_folder (store_t *store, int64_t mailbox, const char *name)
{
    int64_t folder = 0;
    assert_int_equal (store_folder_create (store, mailbox, name, NULL, NULL), STORE_OK);
    assert_int_equal (store_folder_find (store, mailbox, name, &folder), 1);
    return folder;
}

static void
s_collect (const store_item_t *item, void *arg)
{
    zlistx_add_end (arg, (void *)(intptr_t)item->id);
}

/* The ids SCAN gives for folder, space-separated */
static char *
s_scan (store_t *store, int64_t mailbox, int64_t folder)
{
    zlistx_t *ids = zlistx_new ();
    assert_int_equal (store_scan (store, mailbox, folder, 0, -1, s_collect, ids), 0);
    char *text = strdup ("");
    for (void *id = zlistx_first (ids); id; id = zlistx_next (ids)) {
        char *more = zsys_sprintf ("%s%s%lld", text, *text ? " " : "", (long long)(intptr_t)id);
        free (text);
        text = more;
    }
    zlistx_destroy (&ids);
    return text;
}

static void
test_flags_are_letters_in_ascii_order (void **state)
{
    (void)state;
    unsigned bits = 0;
    char out[STORE_FLAGS_MAX];
    assert_int_equal (store_flags_parse ("TSFRDT", 6, &bits), 0);
    assert_string_equal (store_flags_format (bits, out), "DFRST");
    assert_int_equal (store_flags_parse ("", 0, &bits), 0);
    assert_int_equal (bits, 0);
    assert_string_equal (store_flags_format (bits, out), "");
    assert_int_equal (store_flags_parse ("S", 1, &bits), 0);
    assert_int_equal (bits, STORE_FLAG_SEEN);
    assert_int_equal (store_flags_parse ("f", 1, &bits), -1);
    assert_int_equal (store_flags_parse ("X", 1, &bits), -1);
    assert_int_equal (store_flags_parse ("F\0", 2, &bits), -1);
}

static void
test_folder_names (void **state)
{
    (void)state;
    static const char *const good[] = {"Work", "Work/2026", "a", "Été", "INBOX/child", "Sent Items"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_null (folder_name_check (good[i], strlen (good[i])));
    static const char *const bad[] = {"",
                                      "INBOX",
                                      "inbox",
                                      "a//b",
                                      "/a",
                                      "a/",
                                      "*",
                                      "a%",
                                      "a\tb",
                                      "a\x7f",
                                      "\xff",
                                      "\xc0\xaf",
                                      "\xed\xa0\x80",
                                      "\xe2\x82",
                                      "\xf8\x80\x80",
                                      "\xfe\x80\x80\x80",
                                      "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_non_null (folder_name_check (bad[i], strlen (bad[i])));
    char name[STORE_FOLDER_NAME_MAX + 2];
    memset (name, 'x', sizeof name);
    assert_null (folder_name_check (name, STORE_FOLDER_NAME_MAX));
    assert_non_null (folder_name_check (name, STORE_FOLDER_NAME_MAX + 1));
    assert_non_null (folder_name_check ("a\0b", 3));
}

static void
test_default_folders_are_made_once (void **state)
{
    fixture_t *f = *state;
    int64_t sent = 0;
    assert_int_equal (store_folder_defaults (f->store, f->bob), 0);
    assert_int_equal (store_folder_find (f->store, f->bob, "Sent", &sent), 1);
    char *error = NULL;
    assert_int_equal (store_folder_delete (f->store, f->bob, "Sent", NULL, NULL, &error), STORE_OK);
    assert_int_equal (store_folder_defaults (f->store, f->bob), 0);
    assert_int_equal (store_folder_find (f->store, f->bob, "Sent", &sent), 0);
    assert_int_equal (store_folder_find (f->store, f->alice, "Trash", &sent), 0);
}

static void
test_create_rename_and_the_limit (void **state)
{
    fixture_t *f = *state;
    char *error = NULL;
    int64_t work = s_folder (f->store, f->bob, "Work");
    s_folder (f->store, f->bob, "Work/Old");
    s_folder (f->store, f->bob, "Workshop");
    assert_int_equal (store_folder_create (f->store, f->bob, "Work", NULL, &error), STORE_EXISTS);
    free (error);
    /* the same name in another mailbox is another folder */
    assert_true (s_folder (f->store, f->alice, "Work") > work);
    assert_int_equal (store_folder_rename (f->store, f->bob, "Work", "Job", NULL), STORE_OK);
    int64_t id = 0;
    assert_int_equal (store_folder_find (f->store, f->bob, "Job", &id), 1);
    assert_int_equal (id, work); /* a rename keeps the UIDVALIDITY */
    assert_int_equal (store_folder_find (f->store, f->bob, "Job/Old", &id), 1);
    assert_int_equal (store_folder_find (f->store, f->bob, "Workshop", &id), 1); /* not below Work */
    assert_int_equal (store_folder_rename (f->store, f->bob, "Job", "Workshop", &error), STORE_EXISTS);
    free (error);
    assert_int_equal (store_folder_rename (f->store, f->bob, "Nope", "X", &error), STORE_NOT_FOUND);
    free (error);
    assert_int_equal (store_begin (f->store), 0);
    for (int i = 3; i < STORE_FOLDERS_MAX; i++) {
        char name[16];
        snprintf (name, sizeof name, "f%d", i);
        assert_int_equal (store_folder_create (f->store, f->bob, name, NULL, NULL), STORE_OK);
    }
    assert_int_equal (store_folder_create (f->store, f->bob, "one more", NULL, &error), STORE_LIMIT);
    free (error);
    assert_int_equal (store_commit (f->store, NULL), 0);
}

static void
s_no_lease (int64_t id, const void *body, size_t size, void *arg)
{
    (void)id, (void)body, (void)size, (void)arg;
}

static void
s_gone (int64_t id, void *arg)
{
    zlistx_add_end (arg, (void *)(intptr_t)id);
}

static void
test_the_inbox_is_what_the_maildrop_verbs_see (void **state)
{
    fixture_t *f = *state;
    int64_t work = s_folder (f->store, f->bob, "Work");
    int64_t in = s_put (f->store, f->bob, 0, 0);
    int64_t filed = s_put (f->store, f->bob, work, STORE_FLAG_SEEN | STORE_FLAG_FLAGGED);
    char *ids = s_scan (f->store, f->bob, 0);
    char want[64];
    snprintf (want, sizeof want, "%lld", (long long)in);
    assert_string_equal (ids, want);
    free (ids);
    ids = s_scan (f->store, f->bob, work);
    snprintf (want, sizeof want, "%lld", (long long)filed);
    assert_string_equal (ids, want);
    free (ids);
    assert_int_equal (store_delivery_last_id (f->store, f->bob), in);
    store_mailbox_t mailbox;
    int64_t unseen = -1;
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &mailbox), 1);
    assert_int_equal (mailbox.message_count, 2); /* the quota's view: every folder */
    assert_int_equal (
        store_inbox_totals (f->store, f->bob, &mailbox.message_count, &mailbox.used_bytes, &unseen), 0);
    assert_int_equal (mailbox.message_count, 1);
    assert_int_equal (mailbox.used_bytes, (int64_t)strlen (BODY));
    assert_int_equal (unseen, 1);
    /* a lease hands out the INBOX only */
    assert_int_equal (store_lease (f->store, f->bob, "c1", 10, 1000, s_no_lease, NULL), 1);
    /* the folder's deletion takes its deliveries (each named) and their bodies */
    zlistx_t *gone = zlistx_new ();
    assert_int_equal (store_folder_delete (f->store, f->bob, "Work", s_gone, gone, NULL), STORE_OK);
    assert_int_equal (zlistx_size (gone), 1);
    assert_int_equal ((intptr_t)zlistx_first (gone), filed);
    zlistx_destroy (&gone);
    store_delivery_t delivery;
    assert_int_equal (store_delivery_get (f->store, f->bob, filed, &delivery), 0);
    assert_int_equal (store_mailbox_find (f->store, "bob@demo.test", &mailbox), 1);
    assert_int_equal (mailbox.message_count, 1);
}

static void
test_flags_and_seen_are_one_state (void **state)
{
    fixture_t *f = *state;
    int64_t id = s_put (f->store, f->bob, 0, STORE_FLAG_DRAFT);
    store_delivery_t delivery;
    bool changed = false;
    assert_int_equal (store_delivery_flag (f->store, f->bob, id, '+', STORE_FLAG_SEEN | STORE_FLAG_DELETED,
                                           &delivery, &changed),
                      1);
    assert_true (changed);
    assert_int_equal (delivery.flags, STORE_FLAG_DRAFT | STORE_FLAG_SEEN | STORE_FLAG_DELETED);
    assert_int_equal (store_delivery_flag (f->store, f->bob, id, '+', STORE_FLAG_SEEN, &delivery, &changed),
                      1);
    assert_false (changed);
    assert_int_equal (store_delivery_flag (f->store, f->bob, id, '-', STORE_FLAG_SEEN, &delivery, &changed),
                      1);
    assert_int_equal (delivery.flags, STORE_FLAG_DRAFT | STORE_FLAG_DELETED);
    /* another mailbox's delivery is not there, and is left as it is */
    assert_int_equal (store_delivery_flag (f->store, f->alice, id, '=', 0, &delivery, &changed), 0);
    assert_int_equal (store_delivery_get (f->store, f->bob, id, &delivery), 1);
    assert_int_equal (delivery.flags, STORE_FLAG_DRAFT | STORE_FLAG_DELETED);
    /* a peek leaves it unseen; a read marks it, and says where it is */
    void *body = NULL;
    size_t size = 0;
    bool marked = true;
    int64_t folder = -1;
    unsigned flags = 0;
    assert_int_equal (
        store_delivery_fetch (f->store, f->bob, id, false, &body, &size, &marked, &folder, &flags), 1);
    free (body);
    assert_false (marked);
    assert_int_equal (
        store_delivery_fetch (f->store, f->bob, id, true, &body, &size, &marked, &folder, &flags), 1);
    free (body);
    assert_true (marked);
    assert_int_equal (folder, 0);
    assert_int_equal (flags, STORE_FLAG_DRAFT | STORE_FLAG_DELETED | STORE_FLAG_SEEN);
    assert_int_equal (
        store_delivery_fetch (f->store, f->bob, id, true, &body, &size, &marked, &folder, &flags), 1);
    free (body);
    assert_false (marked);
    assert_int_equal (store_delivery_fetch (f->store, f->alice, id, true, &body, &size, &marked, NULL, NULL),
                      0);
    /* EXPUNGE picks the T ones of that folder only */
    int64_t kept = s_put (f->store, f->bob, 0, 0);
    int64_t *ids = NULL;
    size_t count = 0;
    assert_int_equal (store_expunge_pick (f->store, f->bob, 0, &ids, &count), 0);
    assert_int_equal (count, 1);
    assert_int_equal (ids[0], id);
    free (ids);
    assert_int_equal (store_expunge_pick (f->store, f->alice, 0, &ids, &count), 0);
    assert_int_equal (count, 0);
    assert_int_equal (store_delivery_remove (f->store, f->bob, id, &folder), 1);
    assert_int_equal (store_delivery_remove (f->store, f->bob, id, &folder), 0);
    assert_int_equal (store_lease (f->store, f->bob, "c", 10, 1000, s_no_lease, NULL), 1);
    assert_int_equal (store_delivery_get (f->store, f->bob, kept, &delivery), 1);
}

static void
test_folder_counters_follow_and_a_recount_heals_them (void **state)
{
    fixture_t *f = *state;
    int64_t work = s_folder (f->store, f->bob, "Work");
    assert_int_equal (store_begin (f->store), 0);
    int64_t a = s_put (f->store, f->bob, work, 0);
    s_put (f->store, f->bob, work, STORE_FLAG_SEEN);
    assert_int_equal (store_commit (f->store, NULL), 0);
    assert_int_equal (store_delivery_remove (f->store, f->bob, a, NULL), 1);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (f->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    const char *count = "SELECT message_count, used_bytes FROM folders WHERE name = 'Work'";
    assert_int_equal (sqlite3_prepare_v2 (db, count, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_int_equal (sqlite3_column_int (stmt, 0), 1);
    assert_int_equal (sqlite3_column_int (stmt, 1), (int)strlen (BODY));
    sqlite3_finalize (stmt);
    /* sqlite3 by hand gets them wrong; the start's recount puts them right */
    assert_int_equal (sqlite3_exec (db, "UPDATE folders SET message_count = 7", NULL, NULL, NULL), SQLITE_OK);
    assert_true (store_recount (f->store) >= 0);
    assert_int_equal (sqlite3_prepare_v2 (db, count, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_int_equal (sqlite3_column_int (stmt, 0), 1);
    sqlite3_finalize (stmt);
    sqlite3_close (db);
}

static void
test_folder_ids_are_never_given_twice (void **state)
{
    fixture_t *f = *state;
    int64_t first = s_folder (f->store, f->bob, "Work");
    assert_int_equal (store_folder_delete (f->store, f->bob, "Work", NULL, NULL, NULL), STORE_OK);
    store_close (&f->store);
    char *error = NULL;
    f->store = store_open (f->path, true, &error);
    assert_non_null (f->store);
    assert_true (s_folder (f->store, f->bob, "Work") > first);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_flags_are_letters_in_ascii_order),
        cmocka_unit_test (test_folder_names),
        cmocka_unit_test_setup_teardown (test_default_folders_are_made_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_create_rename_and_the_limit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_the_inbox_is_what_the_maildrop_verbs_see, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_flags_and_seen_are_one_state, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_folder_counters_follow_and_a_recount_heals_them, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_folder_ids_are_never_given_twice, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
