/*  fuzz_imap_mime.c — what IMAP shows of a stored message from anyone (gateway/imap/imap_mime.h):
    the input is the message. ENVELOPE and BODYSTRUCTURE/BODY (with and without UTF8=ACCEPT)
    are balanced IMAP lists; every section kind of a set of part paths, BODY and BINARY, points
    inside the message or into its own buffer, and a BODY[n] is never longer than the message;
    SEARCH over headers, body text and sent date answers, and the empty string matches. */
#include <string.h>

#include "fuzz.h"
#include "imap_mime.h"

/* Parentheses balance outside quoted strings and literals, and the list is one value */
static void
s_check_list (const buffer_t *b)
{
    int depth = 0;
    FUZZ_CHECK (b->size > 0 && b->data[0] == '(');
    for (size_t i = 0; i < b->size; i++) {
        char c = b->data[i];
        if (c == '"') {
            for (i++; i < b->size && b->data[i] != '"'; i++)
                i += b->data[i] == '\\';
            FUZZ_CHECK (i < b->size);
        }
        else if (c == '{') {
            char *end;
            unsigned long n = strtoul (b->data + i + 1, &end, 10);
            FUZZ_CHECK (end[0] == '}' && end[1] == '\r' && end[2] == '\n');
            i = (size_t)(end + 2 - b->data) + n;
            FUZZ_CHECK (i < b->size);
        }
        else if (c == '(')
            depth++;
        else if (c == ')')
            FUZZ_CHECK (--depth >= 0 && (depth > 0 || i == b->size - 1));
    }
    FUZZ_CHECK (depth == 0);
}

static void
s_check_structure (imap_mime_t *mime, bool utf8)
{
    buffer_t b = BUFFER_INIT (4 << 20);
    if (imap_mime_envelope (mime, &b, utf8) == 0)
        s_check_list (&b);
    buffer_free (&b);
    for (int ext = 0; ext < 2; ext++) {
        if (imap_mime_bodystructure (mime, &b, ext, utf8) == 0)
            s_check_list (&b);
        buffer_free (&b);
    }
}

static const uint32_t s_paths[][3] = {{0},    {1},    {2},    {3},       {1, 1},
                                      {1, 2}, {2, 1}, {2, 2}, {1, 1, 1}, {2, 1, 1}};
static const int s_depths[] = {0, 1, 1, 1, 2, 2, 2, 2, 3, 3};

static void
s_check_sections (imap_mime_t *mime, const char *data, size_t size)
{
    static const char *fields[] = {"From", "subject", "CONTENT-TYPE"};
    for (size_t p = 0; p < sizeof s_depths / sizeof s_depths[0]; p++)
        for (int kind = IMAP_SECTION_ALL; kind <= IMAP_SECTION_MIME; kind++)
            for (int binary = 0; binary < 2; binary++) {
                imap_section_t s = {.binary = binary, .depth = s_depths[p], .kind = kind, .nfields = 3};
                memcpy (s.part, s_paths[p], sizeof s_paths[p]);
                memcpy (s.fields, fields, sizeof fields);
                const char *out;
                size_t len;
                char *owned;
                int rc = imap_mime_section (mime, &s, &out, &len, &owned);
                FUZZ_CHECK (rc >= -1 && rc <= 1);
                if (rc == 0 && !owned)
                    FUZZ_CHECK (out >= data && out + len <= data + size);
                if (rc == 0 && kind == IMAP_SECTION_ALL)
                    FUZZ_CHECK (len <= size);
                free (owned);
            }
}

static void
s_check_search (imap_mime_t *mime, const char *data, size_t size)
{
    char needle[9] = {0};
    memcpy (needle, data + size / 2, size - size / 2 < 8 ? size - size / 2 : 8);
    imap_search_t body = {.kind = IMAP_SK_BODY, .text = needle},
                  text = {.kind = IMAP_SK_TEXT, .text = needle};
    imap_search_t subject = {.kind = IMAP_SK_HEADER, .field = "Subject", .text = needle, .next = &body};
    imap_search_t sent = {.kind = IMAP_SK_SENTSINCE, .day = 0};
    imap_search_t either = {.kind = IMAP_SK_OR, .a = &text, .b = &sent};
    imap_search_msg_t msg = {.seq = 1, .uid = 1, .size = size, .internal_date = 0, .mime = mime};
    FUZZ_CHECK (imap_search_needs_message (&subject));
    imap_search_match (&subject, &msg, 1, 1);
    imap_search_match (&either, &msg, 1, 1);
    /* a message without a body part holds no body text; the empty string is in every message */
    body.text = "";
    FUZZ_CHECK (imap_search_match (&body, &msg, 1, 1));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    imap_mime_t *mime = imap_mime_new (text, size);
    FUZZ_CHECK (mime);
    s_check_structure (mime, false);
    s_check_structure (mime, true);
    s_check_sections (mime, text, size);
    s_check_search (mime, text, size);
    imap_mime_destroy (&mime);
    FUZZ_CHECK (!mime);
    return 0;
}
