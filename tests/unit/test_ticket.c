/*  test_ticket.c — broker/ticket.h: sealing and opening resumption tickets, what each refusal
    says, and the key file (made 0600 once, read back the same, refused when open to others). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <czmq.h>
#include <string.h>
#include <sys/stat.h>

#include "ticket.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA"
#define NOW 1700000000

static uint8_t s_key[TICKET_KEY_BYTES];

static ticket_t
s_ticket (int64_t mailbox_id, int64_t expires)
{
    ticket_t ticket = {.mailbox_id = mailbox_id, .expires = expires};
    ticket_fingerprint (s_key, HASH, ticket.fingerprint);
    return ticket;
}

static void
test_a_sealed_ticket_opens_to_what_was_sealed (void **state)
{
    (void)state;
    ticket_t ticket = s_ticket (42, NOW + 60), opened = {0};
    char text[TICKET_TEXT_BYTES], again[TICKET_TEXT_BYTES];
    ticket_seal (s_key, &ticket, text);
    assert_int_equal (strlen (text), TICKET_TEXT_BYTES - 1);
    /* printable base64url: a frame a student can read in a capture */
    assert_int_equal (strspn (text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      strlen (text));
    const char *why = NULL;
    assert_int_equal (ticket_open (s_key, text, strlen (text), &opened, &why), 0);
    assert_int_equal (opened.mailbox_id, 42);
    assert_int_equal (opened.expires, NOW + 60);
    assert_memory_equal (opened.fingerprint, ticket.fingerprint, TICKET_FINGERPRINT_BYTES);
    assert_int_equal (ticket_check (s_key, &opened, 42, HASH, NOW, &why), 0);
    /* a fresh nonce each time: two tickets of the same login differ */
    ticket_seal (s_key, &ticket, again);
    assert_string_not_equal (text, again);
}

static void
test_every_altered_truncated_or_extended_ticket_is_refused (void **state)
{
    (void)state;
    ticket_t ticket = s_ticket (7, NOW + 60), opened;
    char text[TICKET_TEXT_BYTES], bad[TICKET_TEXT_BYTES + 4];
    ticket_seal (s_key, &ticket, text);
    size_t size = strlen (text);
    const char *why = NULL;
    for (size_t i = 0; i < size; i++) { /* every position, changed to another base64url letter */
        memcpy (bad, text, size + 1);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_equal (ticket_open (s_key, bad, size, &opened, &why), -1);
    }
    for (size_t cut = 0; cut < size; cut++) /* every truncation */
        assert_int_equal (ticket_open (s_key, text, cut, &opened, &why), -1);
    assert_string_equal (why, "malformed");
    snprintf (bad, sizeof bad, "%sA", text);
    assert_int_equal (ticket_open (s_key, bad, size + 1, &opened, &why), -1);
    assert_string_equal (why, "malformed");
    memcpy (bad, text, size + 1);
    bad[5] = '+'; /* the other base64 alphabet */
    assert_int_equal (ticket_open (s_key, bad, size, &opened, &why), -1);
    assert_string_equal (why, "malformed");
    assert_int_equal (ticket_open (s_key, NULL, 0, &opened, &why), -1);
}

static void
test_another_key_gives_forged (void **state)
{
    (void)state;
    uint8_t other[TICKET_KEY_BYTES];
    randombytes_buf (other, sizeof other);
    ticket_t ticket = s_ticket (7, NOW + 60), opened;
    char text[TICKET_TEXT_BYTES];
    ticket_seal (other, &ticket, text);
    const char *why = NULL;
    assert_int_equal (ticket_open (s_key, text, strlen (text), &opened, &why), -1);
    assert_string_equal (why, "forged or altered");
}

static void
test_check_refuses_another_mailbox_expiry_and_a_changed_password (void **state)
{
    (void)state;
    ticket_t ticket = s_ticket (7, NOW + 60);
    const char *why = NULL;
    assert_int_equal (ticket_check (s_key, &ticket, 8, HASH, NOW, &why), -1);
    assert_string_equal (why, "another mailbox's");
    assert_int_equal (ticket_check (s_key, &ticket, 0, HASH, NOW, &why), -1); /* no such mailbox */
    assert_string_equal (why, "another mailbox's");
    assert_int_equal (ticket_check (s_key, &ticket, 7, HASH, NOW + 60, &why), -1);
    assert_string_equal (why, "expired");
    assert_int_equal (ticket_check (s_key, &ticket, 7, HASH, NOW + 59, &why), 0);
    assert_int_equal (ticket_check (s_key, &ticket, 7, HASH "x", NOW, &why), -1);
    assert_string_equal (why, "password changed");
    /* the fingerprint is keyed: another broker key gives another one */
    uint8_t other[TICKET_KEY_BYTES], fingerprint[TICKET_FINGERPRINT_BYTES];
    randombytes_buf (other, sizeof other);
    ticket_fingerprint (other, HASH, fingerprint);
    assert_memory_not_equal (fingerprint, ticket.fingerprint, sizeof fingerprint);
}

static void
test_the_key_file_is_made_0600_once_and_read_back (void **state)
{
    (void)state;
    char dir[] = "/tmp/mailbus-ticket-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char *db = zsys_sprintf ("%s/mailbus.db", dir), *path = zsys_sprintf ("%s/broker.ticket_key", dir);
    uint8_t first[TICKET_KEY_BYTES], second[TICKET_KEY_BYTES];
    char *error = NULL;
    assert_int_equal (ticket_key_load (db, first, &error), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (ticket_key_load (db, second, &error), 0);
    assert_memory_equal (first, second, sizeof first);
    /* open to others: refused, with what to do */
    assert_int_equal (chmod (path, 0644), 0);
    assert_int_equal (ticket_key_load (db, second, &error), -1);
    assert_non_null (strstr (error, "chmod 600"));
    zstr_free (&error);
    /* not a key */
    assert_int_equal (chmod (path, 0600), 0);
    FILE *file = fopen (path, "w");
    fputs ("not hex\n", file);
    fclose (file);
    assert_int_equal (ticket_key_load (db, second, &error), -1);
    assert_non_null (strstr (error, "cannot read"));
    zstr_free (&error);
    unlink (path);
    rmdir (dir);
    free (db);
    free (path);
}

int
main (void)
{
    assert_int_equal (sodium_init () >= 0, 1);
    randombytes_buf (s_key, sizeof s_key);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_sealed_ticket_opens_to_what_was_sealed),
        cmocka_unit_test (test_every_altered_truncated_or_extended_ticket_is_refused),
        cmocka_unit_test (test_another_key_gives_forged),
        cmocka_unit_test (test_check_refuses_another_mailbox_expiry_and_a_changed_password),
        cmocka_unit_test (test_the_key_file_is_made_0600_once_and_read_back),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
