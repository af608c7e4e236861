/*  test_imap_mime.c — gateway/imap/imap_mime.h and imap_write.c: ENVELOPE, BODYSTRUCTURE,
    sections, BINARY and SEARCH over real messages (tests/gateway/imap_mime_messages/, the
    directory given as argv[1]), and malformed ones built here.

    The expected ENVELOPE and BODYSTRUCTURE strings are Dovecot 2.3's answers to the same
    FETCH, taken once with
        /usr/lib/dovecot/imap -c CONF   # pre-authenticated, "t1 FETCH 1 (ENVELOPE BODYSTRUCTURE)"
    over a Maildir holding the file (see tests/gateway/test_imap_mime_dovecot.py, which
    compares every message live). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "imap_mime.h"

static const char *s_dir;

typedef struct {
    gchar *data;
    gsize len;
    imap_mime_t *mime;
} msg_t;

static msg_t
s_load (const char *name)
{
    msg_t m = {0};
    char *path = g_build_filename (s_dir, name, NULL);
    assert_true (g_file_get_contents (path, &m.data, &m.len, NULL));
    g_free (path);
    m.mime = imap_mime_new (m.data, m.len);
    assert_non_null (m.mime);
    return m;
}

static void
s_unload (msg_t *m)
{
    imap_mime_destroy (&m->mime);
    assert_null (m->mime);
    g_free (m->data);
}

static char *
s_envelope (msg_t *m)
{
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (imap_mime_envelope (m->mime, &b, false), 0);
    return b.data;
}

static char *
s_structure (msg_t *m, bool ext)
{
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (imap_mime_bodystructure (m->mime, &b, ext, false), 0);
    return b.data;
}

/* A section's octets as a NUL-terminated copy; NULL when it does not exist; "-1" for UNKNOWN-CTE */
static char *
s_section (msg_t *m, const char *spec)
{
    imap_section_t s = {0};
    char *copy = strdup (spec), *p = copy, *fields = strchr (copy, ':');
    if (fields)
        *fields++ = '\0';
    if (*p == 'B')
        s.binary = true, p++;
    while (*p >= '0' && *p <= '9')
        s.part[s.depth++] = (uint32_t)strtoul (p, &p, 10), p += *p == '.';
    s.kind = !*p                                    ? IMAP_SECTION_ALL
             : strcmp (p, "HEADER") == 0            ? IMAP_SECTION_HEADER
             : strcmp (p, "TEXT") == 0              ? IMAP_SECTION_TEXT
             : strcmp (p, "MIME") == 0              ? IMAP_SECTION_MIME
             : strcmp (p, "HEADER.FIELDS.NOT") == 0 ? IMAP_SECTION_FIELDS_NOT
                                                    : IMAP_SECTION_FIELDS;
    for (char *f = fields ? strtok (fields, ",") : NULL; f; f = strtok (NULL, ","))
        s.fields[s.nfields++] = f;
    const char *data;
    size_t len;
    char *owned, *out = NULL;
    int rc = imap_mime_section (m->mime, &s, &data, &len, &owned);
    if (rc == 0) { /* octets, NULs included, and a NUL after them */
        out = g_malloc (len + 1);
        memcpy (out, data, len);
        out[len] = '\0';
    }
    else if (rc < 0)
        out = g_strdup ("-1");
    free (owned);
    free (copy);
    return out;
}

static void
test_envelope_of_a_plain_message_with_groups_and_defaults (void **state)
{
    (void)state;
    msg_t m = s_load ("08-groups.eml");
    char *env = s_envelope (&m);
    /* Sender and Reply-To default to From; a group is (NIL NIL name NIL) ... (NIL NIL NIL NIL) */
    assert_string_equal (
        env, "(\"Sun, 6 Jun 2021 06:06:06 -0000\" \"groups\" ((NIL NIL \"list\" \"example.com\")) "
             "((NIL NIL \"list\" \"example.com\")) ((NIL NIL \"list\" \"example.com\")) "
             "((NIL NIL \"A Group\" NIL)(NIL NIL \"one\" \"example.com\")(\"Two\" NIL \"two\" "
             "\"example.com\")(NIL NIL NIL NIL)(NIL NIL \"single\" \"example.com\")) "
             "((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) "
             "((NIL NIL \"hidden\" \"example.com\")) NIL NIL)");
    free (env);
    s_unload (&m);
}

static void
test_missing_headers_are_nil (void **state)
{
    (void)state;
    msg_t m = s_load ("06-missing.eml");
    char *env = s_envelope (&m), *bs = s_structure (&m, true);
    assert_string_equal (env, "(NIL \"no from, no date\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_string_equal (
        bs, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 36 1 NIL NIL NIL NIL)");
    free (env);
    free (bs);
    s_unload (&m);
    m = s_load ("17-local-address.eml"); /* From: root, as cron sends it */
    env = s_envelope (&m);
    assert_string_equal (env,
                         "(NIL \"cron\" ((NIL NIL \"root\" \"MISSING_DOMAIN\")) ((NIL NIL \"root\" "
                         "\"MISSING_DOMAIN\")) ((NIL NIL \"root\" \"MISSING_DOMAIN\")) ((\"Cron Daemon\" NIL "
                         "\"root\" \"MISSING_DOMAIN\")) NIL NIL NIL NIL)");
    free (env);
    s_unload (&m);
}

static void
test_bodystructure_of_mixed_with_a_base64_attachment (void **state)
{
    (void)state;
    msg_t m = s_load ("03-attachment.eml");
    char *bs = s_structure (&m, true), *body = s_structure (&m, false);
    assert_string_equal (
        bs, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 1 NIL NIL NIL NIL)"
            "(\"application\" \"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 16 "
            "\"Q2hlY2sgSW50ZWdyaXR5IQ==\" (\"attachment\" (\"filename\" \"data.bin\" \"size\" \"12\")) "
            "(\"de\") \"http://example.fr/data.bin\") \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
    assert_string_equal (
        body, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 1)(\"application\" "
              "\"octet-stream\" (\"name\" \"data.bin\") NIL NIL \"base64\" 16) \"mixed\")");
    /* the size is the octets BODY[2] gives; BINARY[2] decodes them */
    char *raw = s_section (&m, "2"), *bin = s_section (&m, "B2");
    assert_string_equal (raw, "AAECAwQFBgcICQoL");
    assert_memory_equal (bin, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b", 12);
    free (raw);
    free (bin);
    free (bs);
    free (body);
    s_unload (&m);
}

static void
test_message_rfc822_inside_and_its_sections (void **state)
{
    (void)state;
    msg_t m = s_load ("04-rfc822.eml");
    char *bs = s_structure (&m, false);
    assert_string_equal (bs, "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 15 "
                             "0)(\"message\" \"rfc822\" NIL NIL "
                             "\"forwarded message\" \"7bit\" 290 (\"Mon, 3 Mar 2014 03:03:03 +0000\" "
                             "\"hello\" ((\"Orig\" NIL \"orig\" "
                             "\"example.net\")) ((\"Orig\" NIL \"orig\" \"example.net\")) ((\"Orig\" NIL "
                             "\"orig\" \"example.net\")) "
                             "((NIL NIL \"fwd\" \"example.com\")) NIL NIL NIL NIL) ((\"text\" \"plain\" "
                             "(\"charset\" \"us-ascii\") NIL "
                             "NIL \"7bit\" 10 0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL "
                             "\"7bit\" 12 0) \"alternative\") "
                             "16) \"mixed\")");
    char *inner_text = s_section (&m, "2.1"), *mime = s_section (&m, "2.MIME"),
         *hdr = s_section (&m, "2.HEADER");
    char *fields = s_section (&m, "2.HEADER.FIELDS:subject,FROM"), *none = s_section (&m, "1.HEADER");
    assert_string_equal (inner_text, "inner text");
    assert_string_equal (mime,
                         "Content-Type: message/rfc822\r\nContent-Description: forwarded message\r\n\r\n");
    assert_true (g_str_has_prefix (hdr, "From: Orig <orig@example.net>\r\n") &&
                 g_str_has_suffix (hdr, "\r\n\r\n"));
    assert_string_equal (fields, "From: Orig <orig@example.net>\r\nSubject: hello\r\n\r\n");
    assert_null (none); /* HEADER of a part that is no message */
    char *missing = s_section (&m, "3"), *deep = s_section (&m, "2.1.1.1");
    assert_null (missing);
    assert_null (deep);
    free (inner_text), free (mime), free (hdr), free (fields), free (bs);
    s_unload (&m);
}

static void
test_header_fields_keep_folded_lines_as_stored (void **state)
{
    (void)state;
    msg_t m = s_load ("12-headers-folded.eml");
    char *f = s_section (&m, "HEADER.FIELDS:x-long,Subject"),
         *excluded = s_section (&m, "HEADER.FIELDS.NOT:X-LONG,subject");
    assert_string_equal (f, "X-Long: one\r\n\ttwo\r\n  three\r\nSubject: folded\r\n subject line\r\n\r\n");
    assert_string_equal (excluded, "From: a@example.com\r\nTo: b@example.com\r\n\r\n");
    char *all = s_section (&m, ""), *text = s_section (&m, "TEXT");
    assert_int_equal (strlen (all), m.len);
    assert_string_equal (text, "body\r\n");
    free (f), free (excluded), free (all), free (text);
    s_unload (&m);
    /* a header without its blank line: .NOT gives none back (as Dovecot), and may give nothing */
    m = s_load ("10-no-header-end.eml");
    f = s_section (&m, "HEADER.FIELDS:subject"), excluded = s_section (&m, "HEADER.FIELDS.NOT:From,Subject");
    assert_string_equal (f, "Subject: only a header\r\n\r\n");
    assert_string_equal (excluded, "");
    free (f), free (excluded);
    s_unload (&m);
}

static void
test_binary_decodes_quoted_printable_and_refuses_unknown (void **state)
{
    (void)state;
    msg_t m = s_load ("02-alternative.eml");
    char *qp = s_section (&m, "B1");
    assert_string_equal (qp, "caf\xe9 au lait\r\nsecond line");
    free (qp);
    s_unload (&m);
    const char *odd = "Content-Type: text/plain\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n";
    imap_mime_t *mime = imap_mime_new (odd, strlen (odd));
    imap_section_t s = {.binary = true, .part = {1}, .depth = 1};
    const char *data;
    size_t len;
    char *owned;
    assert_int_equal (imap_mime_section (mime, &s, &data, &len, &owned), -1);
    free (owned);
    s.binary = false; /* BODY[1] still gives the octets */
    assert_int_equal (imap_mime_section (mime, &s, &data, &len, &owned), 0);
    assert_int_equal (len, 7);
    imap_mime_destroy (&mime);
}

static bool
s_search (msg_t *m, imap_search_t *key)
{
    imap_search_msg_t msg = {.seq = 3,
                             .uid = 42,
                             .flags = IMAP_SEEN,
                             .size = m->len,
                             .mime = m->mime,
                             .internal_date = 1646308800 /* 2022-03-03 12:00 UTC */};
    return imap_search_match (key, &msg, 5, 50);
}

static void
test_search_keys (void **state)
{
    (void)state;
    msg_t m = s_load ("02-alternative.eml"); /* Subject: =?ISO-8859-1?Q?a_caf=E9?= and =?UTF-8?B?w6k=?= */
    imap_search_t k = {.kind = IMAP_SK_HEADER, .field = "subject", .text = "CAF\xc3\xa9 AND"};
    assert_true (s_search (&m, &k)); /* decoded, ASCII case-insensitive */
    k.text = "caf=E9";
    assert_false (s_search (&m, &k));
    imap_search_t body = {.kind = IMAP_SK_BODY, .text = "CAF\xc3\xa9 AU"}; /* QP and ISO-8859-1 undone */
    assert_true (s_search (&m, &body));
    body.text = "<html>"; /* the HTML part is a text part too */
    assert_true (s_search (&m, &body));
    body.text = "Content-Type";
    assert_false (s_search (&m, &body));
    imap_search_t text = {.kind = IMAP_SK_TEXT, .text = "bob@example"}; /* TEXT looks at the header */
    assert_true (s_search (&m, &text));
    imap_search_t from = {.kind = IMAP_SK_HEADER, .field = "From", .text = "alice"};
    assert_true (s_search (&m, &from));
    /* Date: Wed, 2 Feb 2022 08:00:00 -0500 is 2022-02-02 (day 19025) as written */
    imap_search_t sent = {.kind = IMAP_SK_SENTON, .day = 19025};
    assert_true (s_search (&m, &sent));
    sent.kind = IMAP_SK_SENTBEFORE;
    assert_false (s_search (&m, &sent));
    imap_search_t since = {.kind = IMAP_SK_SINCE, .day = 19054}; /* internal date 2022-03-03 */
    assert_true (s_search (&m, &since));
    since.kind = IMAP_SK_BEFORE;
    assert_false (s_search (&m, &since));
    imap_search_t larger = {.kind = IMAP_SK_LARGER, .number = m.len - 1},
                  seen = {.kind = IMAP_SK_NOFLAG, .flag = IMAP_SEEN};
    imap_search_t either = {.kind = IMAP_SK_OR, .a = &seen, .b = &larger},
                  neither = {.kind = IMAP_SK_NOT, .a = &either};
    assert_true (s_search (&m, &either));
    assert_false (s_search (&m, &neither));
    imap_range_t star = {40, 0};
    imap_search_t uid = {.kind = IMAP_SK_UID, .set = {&star, 1, false}}; /* 40:* with * = 50 */
    assert_true (s_search (&m, &uid));
    imap_search_t kw = {.kind = IMAP_SK_KEYWORD, .text = "x"};
    imap_search_t both = {.kind = IMAP_SK_AND, .a = &uid};
    uid.next = &kw;
    assert_false (s_search (&m, &both));
    uid.next = NULL;
    assert_false (imap_search_needs_message (&both));
    assert_true (imap_search_needs_message (&neither) == false && imap_search_needs_message (&body));
    s_unload (&m);
}

/* The keys the folder listing answers, without the message (mime NULL): one row per key */
static void
test_search_keys_without_the_message (void **state)
{
    (void)state;
    imap_range_t two_to_four = {2, 4};
    static const int64_t day = 19054; /* 2022-03-03; the message came at 12:00 UTC that day */
    const struct {
        imap_search_t key;
        bool match;
    } rows[] = {
        {{.kind = IMAP_SK_ALL}, true},
        {{.kind = IMAP_SK_FLAG, .flag = IMAP_FLAGGED}, true},
        {{.kind = IMAP_SK_FLAG, .flag = IMAP_DELETED}, false},
        {{.kind = IMAP_SK_NOFLAG, .flag = IMAP_DRAFT}, true},
        {{.kind = IMAP_SK_ON, .day = day}, true},
        {{.kind = IMAP_SK_ON, .day = day + 1}, false},
        {{.kind = IMAP_SK_BEFORE, .day = day + 1}, true},
        {{.kind = IMAP_SK_SINCE, .day = day + 1}, false},
        {{.kind = IMAP_SK_SMALLER, .number = 1001}, true},
        {{.kind = IMAP_SK_SMALLER, .number = 1000}, false},
        {{.kind = IMAP_SK_LARGER, .number = 1000}, false},
        {{.kind = IMAP_SK_SEQ, .set = {&two_to_four, 1, false}}, true},
        {{.kind = IMAP_SK_UID, .set = {&two_to_four, 1, false}}, false},
        {{.kind = IMAP_SK_KEYWORD, .text = "$Junk"}, false},
        {{.kind = IMAP_SK_UNKEYWORD, .text = "$Junk"}, true},
        /* keys that need the message match nothing without it */
        {{.kind = IMAP_SK_SENTSINCE, .day = 0}, false},
        {{.kind = IMAP_SK_BODY, .text = ""}, false},
    };
    imap_search_msg_t msg = {.seq = 3,
                             .uid = 42,
                             .flags = IMAP_SEEN | IMAP_FLAGGED,
                             .size = 1000,
                             .internal_date = day * 86400 + 43200};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        print_message ("row %zu\n", i);
        assert_int_equal (imap_search_match (&rows[i].key, &msg, 5, 50), rows[i].match);
        assert_int_equal (imap_search_needs_message (&rows[i].key), i >= 15);
    }
}

/* With UTF8=ACCEPT 8-bit goes quoted; without, as stored (a literal) or as an RFC 2047 word */
static void
test_utf8_accept_quotes_8bit (void **state)
{
    (void)state;
    msg_t m = s_load ("07-8bit.eml"); /* From: Jörg <joerg@example.de>, Subject: Grüße */
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (imap_mime_envelope (m.mime, &b, true), 0);
    assert_true (g_str_has_prefix (b.data, "(\"Sat, 5 May 2018 05:05:05 +0000\" \"Gr\xc3\xbc\xc3\x9f"
                                           "e\" ((\"J\xc3\xb6rg\" NIL \"joerg\" \"example.de\"))"));
    buffer_free (&b);
    assert_int_equal (imap_mime_envelope (m.mime, &b, false), 0);
    assert_true (g_str_has_prefix (b.data, "(\"Sat, 5 May 2018 05:05:05 +0000\" {7}\r\nGr\xc3\xbc\xc3\x9f"
                                           "e (({5}\r\nJ\xc3\xb6rg NIL \"joerg\" \"example.de\"))"));
    buffer_free (&b);
    s_unload (&m);
    m = s_load ("03-attachment.eml"); /* From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.fr> */
    assert_int_equal (imap_mime_envelope (m.mime, &b, false), 0);
    assert_non_null (strstr (b.data, "((\"=?UTF-8?b?UmVuw6ll?=\" NIL \"renee\" \"example.fr\"))"));
    buffer_free (&b);
    assert_int_equal (imap_mime_envelope (m.mime, &b, true), 0);
    assert_non_null (strstr (b.data, "((\"Ren\xc3\xa9"
                                     "e\" NIL \"renee\" \"example.fr\"))"));
    buffer_free (&b);
    s_unload (&m);
}

/* 1000 nested multiparts, and a Content-Type with 10,000 parameters: answered (meson's timeout
   bounds the time; mailbus-bench-imap-mime measures it) */
static void
test_malformed_messages_are_bounded (void **state)
{
    (void)state;
    GString *g = g_string_new ("Subject: deep\r\n");
    for (int i = 0; i < 1000; i++)
        g_string_append_printf (g, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i);
    g_string_append (g, "Content-Type: text/plain\r\n\r\nbottom\r\n");
    g_string_append (g, "Content-Type: text/plain; a=1");
    for (int i = 0; i < 10000; i++)
        g_string_append_printf (g, "; p%d=v", i);
    g_string_append (g, "\r\n\r\n\xff\xfe junk\r\n");
    imap_mime_t *mime = imap_mime_new (g->str, g->len);
    buffer_t b = BUFFER_INIT (1 << 20);
    assert_int_equal (imap_mime_bodystructure (mime, &b, true, false), 0);
    assert_true (strstr (b.data, "\"application\" \"octet-stream\"") != NULL); /* past the nesting bound */
    buffer_free (&b);
    buffer_t small = BUFFER_INIT (64);
    assert_int_equal (imap_mime_bodystructure (mime, &small, true, false), -1); /* out's bound */
    assert_int_equal (imap_mime_envelope (mime, &small, false), -1);
    buffer_free (&small);
    imap_search_t body = {.kind = IMAP_SK_BODY, .text = "bottom"};
    imap_search_msg_t msg = {.mime = mime};
    imap_search_match (&body, &msg, 1, 1);
    imap_mime_destroy (&mime);
    const char *none = "no header end and no colon";
    mime = imap_mime_new (none, strlen (none));
    imap_section_t s = {.kind = IMAP_SECTION_TEXT};
    const char *data;
    size_t len;
    char *owned;
    assert_int_equal (imap_mime_section (mime, &s, &data, &len, &owned), 0);
    assert_int_equal (len, 0);
    imap_mime_destroy (&mime);
    g_string_free (g, TRUE);
}

static void
test_write_strings_flags_and_dates (void **state)
{
    (void)state;
    buffer_t b = BUFFER_INIT (0);
    assert_int_equal (imap_string_append (&b, "a \"q\" \\", 7, false), 0);
    assert_int_equal (imap_string_append (&b, NULL, 0, false), 0);
    assert_int_equal (imap_string_append (&b, "x\r\ny", 4, false), 0);
    assert_int_equal (imap_string_append (&b, "\xc3\xa9", 2, false), 0);
    assert_int_equal (imap_string_append (&b, "\xc3\xa9", 2, true), 0);
    assert_string_equal (b.data, "\"a \\\"q\\\" \\\\\"NIL{4}\r\nx\r\ny{2}\r\n\xc3\xa9\"\xc3\xa9\"");
    buffer_free (&b);
    char letters[6];
    imap_flags_to_letters (IMAP_ALL_FLAGS, letters);
    assert_string_equal (letters, "DFRST");
    assert_int_equal (imap_flags_from_letters ("TSx"), IMAP_SEEN | IMAP_DELETED);
    assert_int_equal (imap_flags_append (&b, IMAP_SEEN | IMAP_ANSWERED), 0);
    assert_int_equal (imap_flags_append (&b, 0), 0);
    assert_string_equal (b.data, "(\\Answered \\Seen)()");
    buffer_free (&b);
    char date[32];
    imap_date_time (837571465, date);
    assert_string_equal (date, "17-Jul-1996 02:44:25 +0000");
    imap_date_time (1643673600, date);
    assert_string_equal (date, " 1-Feb-2022 00:00:00 +0000");
}

int
main (int argc, char **argv)
{
    s_dir = argc > 1 ? argv[1] : "tests/gateway/imap_mime_messages";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_envelope_of_a_plain_message_with_groups_and_defaults),
        cmocka_unit_test (test_missing_headers_are_nil),
        cmocka_unit_test (test_bodystructure_of_mixed_with_a_base64_attachment),
        cmocka_unit_test (test_message_rfc822_inside_and_its_sections),
        cmocka_unit_test (test_header_fields_keep_folded_lines_as_stored),
        cmocka_unit_test (test_binary_decodes_quoted_printable_and_refuses_unknown),
        cmocka_unit_test (test_search_keys),
        cmocka_unit_test (test_search_keys_without_the_message),
        cmocka_unit_test (test_utf8_accept_quotes_8bit),
        cmocka_unit_test (test_malformed_messages_are_bounded),
        cmocka_unit_test (test_write_strings_flags_and_dates),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
