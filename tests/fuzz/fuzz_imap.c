/*  fuzz_imap.c — the IMAP wire-format parser (gateway/imap/imap_parse.h): one input is one
    whole command as the server hands it over (lines and literal octets; a missing last CRLF is
    added and the command parsed again). Also taken as a literal announcement, an APPEND
    date-time, and a LIST pattern (first line) against a mailbox name (second line). */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "imap_parse.h"

/* A decoded string: NUL-terminated; len counts octets; no NUL inside but in APPEND's message */
static void
s_check_string (const imap_string_t *s)
{
    if (!s->data)
        return;
    FUZZ_CHECK (s->data[s->len] == '\0');
    FUZZ_CHECK (strlen (s->data) == s->len);
}

/* The search tree: bounded depth, each node's argument present */
static void
s_check_search (const imap_search_t *k, int depth)
{
    FUZZ_CHECK (depth <= IMAP_MAX_DEPTH + 1);
    for (; k; k = k->next) {
        FUZZ_CHECK (k->kind >= IMAP_SK_ALL && k->kind <= IMAP_SK_AND);
        if (k->kind == IMAP_SK_HEADER)
            FUZZ_CHECK (k->field && k->text);
        if (k->kind == IMAP_SK_BODY || k->kind == IMAP_SK_TEXT)
            FUZZ_CHECK (k->text != NULL);
        if (k->kind == IMAP_SK_NOT || k->kind == IMAP_SK_AND)
            FUZZ_CHECK (k->a != NULL);
        if (k->kind == IMAP_SK_OR)
            FUZZ_CHECK (k->a && k->b);
        if (k->kind == IMAP_SK_UID || k->kind == IMAP_SK_SEQ)
            FUZZ_CHECK (k->set.count > 0 || k->set.saved);
        if (k->a)
            s_check_search (k->a, depth + 1);
        if (k->b)
            s_check_search (k->b, depth + 1);
    }
}

static void
s_check_fetch (const imap_fetch_t *f)
{
    FUZZ_CHECK (f->nsections >= 0 && f->nsections <= IMAP_MAX_SECTIONS);
    FUZZ_CHECK (f->items || f->nsections);
    for (int i = 0; i < f->nsections; i++) {
        const imap_section_t *s = &f->sections[i];
        FUZZ_CHECK (s->depth >= 0 && s->depth <= IMAP_MAX_PART_DEPTH);
        FUZZ_CHECK (s->nfields >= 0 && s->nfields <= IMAP_MAX_FIELDS);
        FUZZ_CHECK (s->name && strncmp (s->name, s->binary ? "BINARY" : "BODY[", s->binary ? 6 : 5) == 0);
        FUZZ_CHECK (s->kind != IMAP_SECTION_MIME || s->depth > 0);
        FUZZ_CHECK (!s->binary || s->kind == IMAP_SECTION_ALL);
        for (int j = 0; j < s->depth; j++)
            FUZZ_CHECK (s->part[j] > 0);
        for (int j = 0; j < s->nfields; j++)
            FUZZ_CHECK (s->fields[j][0] && !strchr (s->fields[j], ':'));
    }
}

/* A "*" of an empty mailbox matches nothing; a set matches what its ranges hold */
static void
s_check_set (const imap_seqset_t *set)
{
    for (size_t i = 0; i < set->count && i < 64; i++) {
        imap_range_t r = set->ranges[i];
        if (r.lo && r.hi) {
            FUZZ_CHECK (imap_seqset_contains (set, r.lo, 0));
            FUZZ_CHECK (imap_seqset_contains (set, r.hi, UINT32_MAX));
        }
    }
    FUZZ_CHECK (!imap_seqset_contains (set, 0, UINT32_MAX));
}

static void
s_check_command (const char *text, size_t len)
{
    imap_command_t cmd;
    const char *why = "unset";
    int rc = imap_parse (text, len, &cmd, &why);
    FUZZ_CHECK (rc == 0 ? why == NULL : (rc == -1 && why && *why));
    FUZZ_CHECK (memchr (cmd.tag, '\0', sizeof cmd.tag) && memchr (cmd.verb, '\0', sizeof cmd.verb));
    if (rc == 0) {
        FUZZ_CHECK (cmd.id != IMAP_UNKNOWN && cmd.tag[0] && !strchr (cmd.tag, '+'));
        for (int i = 0; i < 2; i++)
            s_check_string (&cmd.str[i]);
        /* RFC 9051 5.1: INBOX in any case is INBOX */
        FUZZ_CHECK (!cmd.str[0].data || cmd.str[0].len != 5 || strcasecmp (cmd.str[0].data, "INBOX") != 0 ||
                    strcmp (cmd.str[0].data, "INBOX") == 0);
        FUZZ_CHECK ((cmd.id == IMAP_FETCH) == (cmd.fetch != NULL));
        FUZZ_CHECK ((cmd.id == IMAP_SEARCH) == (cmd.search != NULL));
        FUZZ_CHECK (cmd.flags <= IMAP_ALL_FLAGS);
        FUZZ_CHECK (cmd.id != IMAP_APPEND || cmd.append_message.data);
        if (cmd.fetch)
            s_check_fetch (cmd.fetch);
        if (cmd.search)
            s_check_search (cmd.search, 0);
        s_check_set (&cmd.set);
    }
    imap_command_free (&cmd);
    imap_command_free (&cmd);
    /* the same input, the same answer */
    const char *again = NULL;
    FUZZ_CHECK (imap_parse (text, len, &cmd, &again) == rc);
    FUZZ_CHECK (rc == 0 || strcmp (why, again) == 0);
    imap_command_free (&cmd);
}

/* The first line as a literal announcement, a date-time and a LIST pattern */
static void
s_check_helpers (const char *data, size_t size)
{
    const char *lf = memchr (data, '\n', size);
    size_t line = lf ? (size_t)(lf + 1 - data) : size;
    uint64_t n = 0;
    bool nonsync = false;
    int rc = imap_literal_at_end (data, line, &n, &nonsync);
    FUZZ_CHECK (rc >= -1 && rc <= 1);
    int64_t t = imap_parse_date_time (data, line);
    FUZZ_CHECK (t >= -1);
    if (t >= 0) {
        /* imap_write.c writes it back in the form this reads */
        char again[32];
        imap_date_time (t, again);
        FUZZ_CHECK (imap_parse_date_time (again, strlen (again)) == t);
    }
    if (!lf || size - line > 300 || line > 300)
        return;
    char pattern[301], name[301];
    memcpy (pattern, data, line - 1);
    pattern[line - 1] = '\0';
    memcpy (name, lf + 1, size - line);
    name[size - line] = '\0';
    bool match = imap_list_match (pattern, name);
    FUZZ_CHECK (!match || strchr (pattern, '*') || strchr (pattern, '%') ||
                strlen (pattern) == strlen (name));
    FUZZ_CHECK (imap_list_match ("*", name));
    FUZZ_CHECK (imap_list_match (name, name));
}

/* The input written as an IMAP string (imap_write.c) reads back as itself */
static void
s_check_string_round_trip (const char *data, size_t size)
{
    if (size > 2000 || memchr (data, '\0', size))
        return;
    buffer_t b = BUFFER_INIT (0);
    FUZZ_CHECK (buffer_append (&b, "a SUBSCRIBE ", 12) == 0);
    FUZZ_CHECK (imap_string_append (&b, data, size, size % 2) == 0);
    FUZZ_CHECK (buffer_append (&b, "\r\n", 2) == 0);
    imap_command_t cmd;
    const char *why = NULL;
    FUZZ_CHECK (imap_parse (b.data, b.size, &cmd, &why) == 0 || strstr (why, "[LIMIT]"));
    if (!why && !(size == 5 && strncasecmp (data, "INBOX", 5) == 0))
        FUZZ_CHECK (cmd.str[0].len == size && memcmp (cmd.str[0].data, data, size) == 0);
    imap_command_free (&cmd);
    buffer_free (&b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_check_command ((const char *)data, size);
    if (size < 2 || memcmp (data + size - 2, "\r\n", 2) != 0) {
        char *copy = malloc (size + 2);
        FUZZ_CHECK (copy != NULL);
        memcpy (copy, data, size);
        memcpy (copy + size, "\r\n", 2);
        s_check_command (copy, size + 2);
        free (copy);
    }
    s_check_helpers ((const char *)data, size);
    s_check_string_round_trip ((const char *)data, size);
    return 0;
}
