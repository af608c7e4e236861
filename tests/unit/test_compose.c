/*  test_compose.c — mailbus-pub's message building through compose.h: what it builds
    parses back with GMime to the same subject, body and attachment, and has CRLF line
    endings only (the broker refuses a bare LF or CR with 550 5.6.0). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compose.h"

typedef struct {
    char dir[64];
    char path[128];
    unsigned char data[3000]; /* every octet value, and a few bare CR and LF */
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-compose-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->path, sizeof f->path, "%s/report 2024.bin", f->dir);
    for (size_t i = 0; i < sizeof f->data; i++)
        f->data[i] = (unsigned char)(i * 7 + i / 256);
    f->data[10] = '\n';
    f->data[20] = '\r';
    FILE *file = fopen (f->path, "wb");
    assert_non_null (file);
    assert_int_equal (fwrite (f->data, 1, sizeof f->data, file), sizeof f->data);
    fclose (file);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    unlink (f->path);
    rmdir (f->dir);
    free (f);
    return 0;
}

static GMimeMessage *
s_parse (const char *data, size_t size)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (data, size);
    GMimeParser *parser = g_mime_parser_new_with_stream (stream);
    GMimeMessage *message = g_mime_parser_construct_message (parser, NULL);
    g_object_unref (parser);
    g_object_unref (stream);
    return message;
}

static void
s_assert_no_bare_line_ending (const char *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n')
            assert_true (i > 0 && data[i - 1] == '\r');
        if (data[i] == '\r')
            assert_true (i + 1 < size && data[i + 1] == '\n');
    }
}

static void
test_message_with_attachment_round_trips (void **state)
{
    fixture_t *f = *state;
    const char *to[] = {"bob@demo.test", "carol@demo.test", NULL};
    const char *cc[] = {"dave@demo.test", NULL};
    const char *attachments[] = {f->path, NULL};
    const char *body = "Hello Bob,\nlunch at noon? Ça va très bien.\r\nA bare CR\rends a line too.\n";
    compose_t spec = {
        .from = "alice@demo.test",
        .to = to,
        .cc = cc,
        .subject = "Lunch? — déjà vu",
        .body = body,
        .body_size = strlen (body),
        .attachments = attachments,
    };
    size_t size = 0;
    char *error = NULL;
    char *out = compose_build (&spec, &size, &error);
    assert_non_null (out);
    assert_null (error);
    assert_true (size > 0);
    s_assert_no_bare_line_ending (out, size);
    assert_true (compose_is_crlf (out, size));

    GMimeMessage *message = s_parse (out, size);
    assert_non_null (message);
    assert_string_equal (g_mime_message_get_subject (message), "Lunch? — déjà vu");
    const char *id = g_mime_message_get_message_id (message);
    assert_non_null (id);
    assert_non_null (strstr (id, "@demo.test"));
    assert_non_null (g_mime_object_get_header (GMIME_OBJECT (message), "Date"));
    assert_string_equal (g_mime_object_get_header (GMIME_OBJECT (message), "MIME-Version"), "1.0");
    char *from = internet_address_list_to_string (g_mime_message_get_from (message), NULL, FALSE);
    assert_string_equal (from, "alice@demo.test");
    g_free (from);
    char *rcpt = internet_address_list_to_string (g_mime_message_get_to (message), NULL, FALSE);
    assert_string_equal (rcpt, "bob@demo.test, carol@demo.test");
    g_free (rcpt);
    rcpt = internet_address_list_to_string (g_mime_message_get_cc (message), NULL, FALSE);
    assert_string_equal (rcpt, "dave@demo.test");
    g_free (rcpt);

    GMimeObject *top = g_mime_message_get_mime_part (message);
    assert_true (GMIME_IS_MULTIPART (top));
    assert_true (g_mime_content_type_is_type (g_mime_object_get_content_type (top), "multipart", "mixed"));
    assert_int_equal (g_mime_multipart_get_count (GMIME_MULTIPART (top)), 2);

    GMimeObject *text = g_mime_multipart_get_part (GMIME_MULTIPART (top), 0);
    assert_true (GMIME_IS_TEXT_PART (text));
    assert_string_equal (g_mime_object_get_content_type_parameter (text, "charset"), "utf-8");
    char *decoded = g_mime_text_part_get_text (GMIME_TEXT_PART (text));
    /* line endings on the wire are CRLF; the text is the same once they are taken out */
    GString *lines = g_string_new (NULL);
    for (const char *p = decoded; *p; p++)
        if (*p != '\r')
            g_string_append_c (lines, *p);
    assert_string_equal (lines->str,
                         "Hello Bob,\nlunch at noon? Ça va très bien.\nA bare CR\nends a line too.\n");
    g_string_free (lines, TRUE);
    g_free (decoded);

    GMimeObject *attachment = g_mime_multipart_get_part (GMIME_MULTIPART (top), 1);
    assert_true (GMIME_IS_PART (attachment));
    assert_true (g_mime_part_is_attachment (GMIME_PART (attachment)));
    assert_string_equal (g_mime_part_get_filename (GMIME_PART (attachment)), "report 2024.bin");
    assert_int_equal (g_mime_part_get_content_encoding (GMIME_PART (attachment)),
                      GMIME_CONTENT_ENCODING_BASE64);
    GMimeStream *bytes = g_mime_stream_mem_new ();
    g_mime_data_wrapper_write_to_stream (g_mime_part_get_content (GMIME_PART (attachment)), bytes);
    GByteArray *array = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (bytes));
    assert_int_equal (array->len, sizeof f->data);
    assert_memory_equal (array->data, f->data, sizeof f->data);
    g_object_unref (bytes);

    g_object_unref (message);
    free (out);
}

static void
test_plain_message_is_single_part_with_given_message_id (void **state)
{
    (void)state;
    const char *to[] = {"bob@demo.test", NULL};
    compose_t spec = {
        .from = "alice@demo.test",
        .to = to,
        .subject = "hi\r\nBcc: injected@evil.test",
        .body = "one line",
        .body_size = 8,
        .message_id = "fixed.1@demo.test",
        .date = 1700000000,
    };
    size_t size = 0;
    char *error = NULL;
    char *out = compose_build (&spec, &size, &error);
    assert_non_null (out);
    assert_true (compose_is_crlf (out, size));
    /* a subject cannot add a header of its own */
    assert_null (strstr (out, "\r\nBcc:"));
    GMimeMessage *message = s_parse (out, size);
    assert_non_null (message);
    assert_string_equal (g_mime_message_get_message_id (message), "fixed.1@demo.test");
    GMimeObject *body = g_mime_message_get_mime_part (message);
    assert_true (GMIME_IS_TEXT_PART (body));
    char *text = g_mime_text_part_get_text (GMIME_TEXT_PART (body));
    assert_string_equal (text, "one line\r\n");
    g_free (text);
    g_object_unref (message);
    free (out);
}

static void
test_missing_attachment_is_an_error (void **state)
{
    (void)state;
    const char *to[] = {"bob@demo.test", NULL};
    const char *attachments[] = {"/nonexistent/file.pdf", NULL};
    compose_t spec = {.from = "alice@demo.test", .to = to, .attachments = attachments};
    size_t size = 0;
    char *error = NULL;
    assert_null (compose_build (&spec, &size, &error));
    assert_non_null (error);
    assert_non_null (strstr (error, "/nonexistent/file.pdf"));
    free (error);
}

static void
test_crlf_mends_bare_line_endings (void **state)
{
    (void)state;
    const char *raw = "Subject: x\nA: b\r\nC: d\r\rbody\n";
    size_t size = 0;
    assert_false (compose_is_crlf (raw, strlen (raw)));
    char *out = compose_crlf (raw, strlen (raw), &size);
    assert_string_equal (out, "Subject: x\r\nA: b\r\nC: d\r\n\r\nbody\r\n");
    assert_int_equal (size, strlen (out));
    assert_true (compose_is_crlf (out, size));
    free (out);
    assert_true (compose_is_crlf ("a\r\nb", 4));
    assert_false (compose_is_crlf ("a\r", 2));
    assert_false (compose_is_crlf ("\n", 1));
}

static void
test_raw_gets_final_crlf_and_missing_empty_line (void **state)
{
    (void)state;
    const struct {
        const char *in, *out;
        size_t at;
    } cases[] = {
        /* RFC 5322: a message may be header fields only; the empty line goes after them all */
        {"From: a@b\nSubject: s\n", "From: a@b\r\nSubject: s\r\n\r\n", 23},
        {"Subject: no newline", "Subject: no newline\r\n\r\n", 21},
        /* plain text: no fields, so the empty line goes in front */
        {"just text\n", "\r\njust text\r\n", 0},
        /* a folded field is still a field; the first line that is none starts the body */
        {"Subject: a\n b\nbody\n", "Subject: a\r\n b\r\n\r\nbody\r\n", 16},
        /* complete already: untouched but for the final CRLF */
        {"Subject: x\n\nbody", "Subject: x\r\n\r\nbody\r\n", (size_t)-1},
        {"\nbody\n", "\r\nbody\r\n", (size_t)-1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size = 0, at = 0;
        char *out = compose_raw (cases[i].in, strlen (cases[i].in), &size, &at);
        assert_string_equal (out, cases[i].out);
        assert_int_equal (size, strlen (out));
        assert_int_equal (at, cases[i].at);
        assert_true (compose_is_crlf (out, size));
        free (out);
    }
}

static void
test_content_type_guess (void **state)
{
    (void)state;
    char *type = compose_content_type ("menu.PDF", "%PDF-1.4", 8);
    assert_string_equal (type, "application/pdf");
    free (type);
    type = compose_content_type ("notes.txt", "hello", 5);
    assert_string_equal (type, "text/plain");
    free (type);
    /* never message/rfc822: an attachment is base64, which RFC 2046 forbids for it */
    type = compose_content_type ("forward.eml", "From: a@b\r\n\r\nx\r\n", 16);
    assert_null (strstr (type, "message/"));
    free (type);
    type = compose_content_type ("blob", "\x00\x01\x02\x03", 4);
    assert_non_null (strchr (type, '/'));
    free (type);
}

int
main (void)
{
    compose_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_message_with_attachment_round_trips, s_setup, s_teardown),
        cmocka_unit_test (test_plain_message_is_single_part_with_given_message_id),
        cmocka_unit_test (test_missing_attachment_is_an_error),
        cmocka_unit_test (test_crlf_mends_bare_line_endings),
        cmocka_unit_test (test_raw_gets_final_crlf_and_missing_empty_line),
        cmocka_unit_test (test_content_type_guess),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    compose_shutdown ();
    return failed;
}
