/*  imap_parse.c — IMAP commands into structs (RFC 9051 9, the formal syntax, with what clients
    still send from RFC 3501), and the pure helpers of imap_parse.h that read: sequence sets,
    dates, LIST patterns. Strict at the edge: one SP between tokens, CRLF only, numbers within
    32 (or 63) bits; every refusal has a reason the server sends after "BAD". The writing
    helpers are in imap_write.c. */
#include "imap_parse.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ arena */

/* A command's memory: a few blocks, each twice the last, freed at once by imap_command_free.
   Bounded: the command's length plus ARENA_SLACK (a search of 256 KiB of "ALL ALL ..." makes
   about 20 times its size in nodes) */
#define ARENA_FIRST 4096
#define ARENA_SLACK ((size_t)32 << 20)

typedef struct s_block_t {
    struct s_block_t *next;
    size_t size, used;
    max_align_t data[];
} s_block_t;

struct imap_arena_t {
    s_block_t *head;
    size_t total, limit;
};

static void *
s_arena_alloc (imap_arena_t *arena, size_t size)
{
    size = (size + sizeof (max_align_t) - 1) / sizeof (max_align_t) * sizeof (max_align_t);
    s_block_t *block = arena->head;
    if (!block || block->size - block->used < size) {
        size_t want = block ? block->size * 2 : ARENA_FIRST;
        if (want < size)
            want = size;
        if (size > arena->limit || arena->total > arena->limit - size)
            return NULL;
        if (want > arena->limit - arena->total)
            want = arena->limit - arena->total;
        block = malloc (sizeof *block + want);
        if (!block)
            return NULL;
        block->next = arena->head;
        block->size = want;
        block->used = 0;
        arena->head = block;
        arena->total += want;
    }
    void *p = (char *)block->data + block->used;
    block->used += size;
    return p;
}

void
imap_command_free (imap_command_t *cmd)
{
    if (!cmd || !cmd->arena)
        return;
    /* LOGIN's and AUTHENTICATE's arguments hold a password: wiped, not just freed */
    bool secret = cmd->id == IMAP_LOGIN || cmd->id == IMAP_AUTHENTICATE;
    s_block_t *block = cmd->arena->head;
    while (block) {
        s_block_t *next = block->next;
        if (secret)
            sodium_memzero (block->data, block->used);
        free (block);
        block = next;
    }
    free (cmd->arena);
    cmd->arena = NULL;
    cmd->fetch = NULL;
    cmd->search = NULL;
    cmd->set.ranges = NULL;
}

/* ------------------------------------------------------------------ the reader */

typedef struct {
    const char *start, *p, *end; /* the command; the text ends in CRLF (s_lines checked it) */
    imap_command_t *cmd;
    const char *why; /* the first reason given wins: the innermost, most precise one */
    int depth;       /* parentheses and NOT/OR nesting of SEARCH */
} s_parser_t;

static int
s_bad (s_parser_t *ps, const char *why)
{
    if (!ps->why)
        ps->why = why;
    return -1;
}

static void *
s_zalloc (s_parser_t *ps, size_t size)
{
    void *p = s_arena_alloc (ps->cmd->arena, size);
    if (p)
        memset (p, 0, size);
    else
        s_bad (ps, "[LIMIT] the command needs too much memory");
    return p;
}

static bool
s_peek (const s_parser_t *ps, char c)
{
    return ps->p < ps->end && *ps->p == c;
}

static int
s_expect (s_parser_t *ps, char c, const char *why)
{
    if (!s_peek (ps, c))
        return s_bad (ps, why);
    ps->p++;
    return 0;
}

/* RFC 9051 9: exactly one SP between tokens */
static int
s_sp (s_parser_t *ps)
{
    return s_expect (ps, ' ',
                     ps->p < ps->end && (*ps->p == '\r') ? "an argument is missing" : "expected a space");
}

/* Takes one SP when one follows (an optional argument or a list's next item) */
static bool
s_more (s_parser_t *ps)
{
    if (!s_peek (ps, ' '))
        return false;
    ps->p++;
    return true;
}

static bool
s_is_digit (int c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_alpha (int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static char
s_upper (char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* ATOM-CHAR: any CHAR (%x01-7F) but atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]" */
static bool
s_is_atom_char (int c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return !strchr ("(){%*\"\\]", c);
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials ("]") */
static bool
s_is_astring_char (int c)
{
    return c == ']' || s_is_atom_char (c);
}

/* list-char = ATOM-CHAR / list-wildcards / resp-specials */
static bool
s_is_list_char (int c)
{
    return c == '%' || c == '*' || s_is_astring_char (c);
}

/* A keyword (command, FETCH item, SEARCH key, option): letters, digits, "." and "-", upper-cased
   into out[32]. It stops at "[" so that BODY.PEEK[ reads as BODY.PEEK. */
static int
s_keyword (s_parser_t *ps, char out[32])
{
    size_t n = 0;
    while (ps->p < ps->end &&
           (s_is_alpha (*ps->p) || s_is_digit (*ps->p) || *ps->p == '.' || *ps->p == '-')) {
        if (n == 31)
            return s_bad (ps, "unknown keyword");
        out[n++] = s_upper (*ps->p++);
    }
    out[n] = '\0';
    return n ? 0 : s_bad (ps, "expected a keyword");
}

/* Reads a keyword only when it is word; the position is kept otherwise */
static bool
s_take_keyword (s_parser_t *ps, const char *word)
{
    const char *save = ps->p, *why = ps->why;
    char got[32];
    if (s_keyword (ps, got) == 0 && strcmp (got, word) == 0)
        return true;
    ps->p = save;
    ps->why = why;
    return false;
}

/* number (RFC 9051 9): 1*DIGIT within max; nz-number when nz. No sign, no overflow. */
static int
s_number (s_parser_t *ps, uint64_t max, bool nz, uint64_t *out)
{
    const char *start = ps->p;
    uint64_t n = 0;
    while (ps->p < ps->end && s_is_digit (*ps->p)) {
        unsigned d = (unsigned)(*ps->p - '0');
        if (n > (max - d) / 10)
            return s_bad (ps, "number out of range");
        n = n * 10 + d;
        ps->p++;
    }
    if (ps->p == start)
        return s_bad (ps, "expected a number");
    if (nz && n == 0)
        return s_bad (ps, "expected a number above 0");
    *out = n;
    return 0;
}

static int
s_number32 (s_parser_t *ps, bool nz, uint32_t *out)
{
    uint64_t n = 0;
    if (s_number (ps, UINT32_MAX, nz, &n))
        return -1;
    *out = (uint32_t)n;
    return 0;
}

/* ------------------------------------------------------------------ strings */

static int
s_copy (s_parser_t *ps, const char *data, size_t len, imap_string_t *out)
{
    char *copy = s_arena_alloc (ps->cmd->arena, len + 1);
    if (!copy)
        return s_bad (ps, "[LIMIT] the command needs too much memory");
    memcpy (copy, data, len);
    copy[len] = '\0';
    out->data = copy;
    out->len = len;
    return 0;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; only \" and \\ are escapes; 8-bit is taken (UTF-8) */
static int
s_quoted (s_parser_t *ps, imap_string_t *out)
{
    const char *start = ++ps->p;
    size_t n = 0;
    for (;; n++) {
        if (ps->p >= ps->end)
            return s_bad (ps, "unterminated quoted string");
        char c = *ps->p;
        if (c == '"')
            break;
        if (c == '\r' || c == '\n' || c == '\0')
            return s_bad (ps, "a quoted string holds no CR, LF or NUL (send a literal)");
        if (c == '\\' && (ps->p + 1 >= ps->end || (ps->p[1] != '"' && ps->p[1] != '\\')))
            return s_bad (ps, "only \\\" and \\\\ are escapes in a quoted string");
        ps->p += c == '\\' ? 2 : 1;
    }
    char *copy = s_arena_alloc (ps->cmd->arena, n + 1);
    if (!copy)
        return s_bad (ps, "[LIMIT] the command needs too much memory");
    for (size_t i = 0; i < n; i++, start++)
        copy[i] = *start == '\\' ? *++start : *start;
    copy[n] = '\0';
    out->data = copy;
    out->len = n;
    ps->p++;
    return 0;
}

/* literal = "{" number64 ["+"] "}" CRLF *CHAR8 (RFC 9051 4.3, RFC 7888); literal8 "~{n}" only
   when binary_ok (APPEND, RFC 3516). At most max octets; a plain literal holds no NUL. */
static int
s_literal (s_parser_t *ps, imap_string_t *out, uint64_t max, bool binary_ok)
{
    bool binary = s_peek (ps, '~');
    if (binary && !binary_ok)
        return s_bad (ps, "a literal8 (~{n}) is taken by APPEND only");
    ps->p += binary;
    uint64_t n = 0;
    if (s_expect (ps, '{', "expected a literal") || s_number (ps, INT64_MAX, false, &n))
        return -1;
    bool nonsync = s_peek (ps, '+');
    ps->p += nonsync;
    if (s_expect (ps, '}', "a literal's size ends with }") ||
        s_expect (ps, '\r', "a literal's size ends the line") ||
        s_expect (ps, '\n', "a literal's size ends the line"))
        return -1;
    if (nonsync && n > 4096)
        return s_bad (ps, "[TOOBIG] a non-synchronizing literal is at most 4096 octets (RFC 7888 LITERAL-)");
    if (n > max)
        return s_bad (ps, "[LIMIT] a literal is at most 65536 octets here");
    if (n > (uint64_t)(ps->end - ps->p))
        return s_bad (ps, "the literal's octets are missing");
    if (!binary && memchr (ps->p, '\0', (size_t)n))
        return s_bad (ps, "a literal holds no NUL (RFC 9051 4.3)");
    if (s_copy (ps, ps->p, (size_t)n, out))
        return -1;
    ps->p += n;
    return 0;
}

/* string = quoted / literal */
static int
s_string (s_parser_t *ps, imap_string_t *out)
{
    if (s_peek (ps, '"'))
        return s_quoted (ps, out);
    if (s_peek (ps, '{'))
        return s_literal (ps, out, IMAP_MAX_LITERAL, false);
    return s_bad (ps, "expected a quoted string or a literal");
}

/* astring = 1*ASTRING-CHAR / string; list-mailbox (list) also takes "%" and "*" */
static int
s_astring_chars (s_parser_t *ps, imap_string_t *out, bool list)
{
    if (s_peek (ps, '"') || s_peek (ps, '{'))
        return s_string (ps, out);
    const char *start = ps->p;
    while (ps->p < ps->end && (list ? s_is_list_char (*ps->p) : s_is_astring_char (*ps->p)))
        ps->p++;
    if (ps->p == start)
        return s_bad (ps, ps->p < ps->end && *ps->p == '\r' ? "an argument is missing" : "expected a string");
    return s_copy (ps, start, (size_t)(ps->p - start), out);
}

static int
s_astring (s_parser_t *ps, imap_string_t *out)
{
    return s_astring_chars (ps, out, false);
}

/* An atom, as written (ENABLE's capabilities, KEYWORD's flag, AUTHENTICATE's mechanism) */
static int
s_atom (s_parser_t *ps, imap_string_t *out)
{
    const char *start = ps->p;
    while (ps->p < ps->end && s_is_atom_char (*ps->p))
        ps->p++;
    if (ps->p == start)
        return s_bad (ps, "expected an atom");
    return s_copy (ps, start, (size_t)(ps->p - start), out);
}

/* mailbox = "INBOX" / astring; INBOX in any case is INBOX (RFC 9051 5.1) */
static int
s_mailbox_chars (s_parser_t *ps, imap_string_t *out, bool list)
{
    if (s_astring_chars (ps, out, list))
        return -1;
    if (out->len > IMAP_MAX_MAILBOX_NAME)
        return s_bad (ps, "[LIMIT] a mailbox name is at most 200 octets");
    if (out->len == 5 && strncasecmp (out->data, "INBOX", 5) == 0)
        memcpy ((char *)out->data, "INBOX", 5);
    return 0;
}

static int
s_mailbox (s_parser_t *ps, imap_string_t *out)
{
    return s_mailbox_chars (ps, out, false);
}

/* ------------------------------------------------------------------ flags, sets, dates */

static const struct {
    const char *name;
    unsigned flag;
} s_flags[] = {
    {"\\Seen", IMAP_SEEN},       {"\\Answered", IMAP_ANSWERED}, {"\\Flagged", IMAP_FLAGGED},
    {"\\Deleted", IMAP_DELETED}, {"\\Draft", IMAP_DRAFT},
};

/* flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / keyword / extension: we
   keep the five system flags only (PERMANENTFLAGS says so, without \*). Any other flag is taken
   and ignored, as RFC 9051 7.1 says a server does with a flag it cannot keep ("will either ignore
   the change or store the state change for the remainder of the current session only"): a
   client that sets $Forwarded or NonJunk anyway still gets its system flags stored. */
static int
s_flag (s_parser_t *ps, unsigned *flags)
{
    const char *start = ps->p;
    ps->p += s_peek (ps, '\\');
    while (ps->p < ps->end && s_is_atom_char (*ps->p))
        ps->p++;
    size_t n = (size_t)(ps->p - start);
    if (n == 0 || (n == 1 && *start == '\\'))
        return s_bad (ps, "expected a flag");
    for (size_t i = 0; i < sizeof s_flags / sizeof s_flags[0]; i++)
        if (strlen (s_flags[i].name) == n && strncasecmp (s_flags[i].name, start, n) == 0) {
            *flags |= s_flags[i].flag;
            return 0;
        }
    ps->cmd->flags_ignored++;
    return 0;
}

/* flag-list = "(" [flag *(SP flag)] ")" */
static int
s_flag_list (s_parser_t *ps, unsigned *flags)
{
    if (s_expect (ps, '(', "expected a flag list"))
        return -1;
    if (!s_peek (ps, ')'))
        do {
            if (s_flag (ps, flags))
                return -1;
        } while (s_more (ps));
    return s_expect (ps, ')', "a flag list ends with )");
}

/* seq-number = nz-number / "*" ("*" is 0 here) */
static int
s_seq_number (s_parser_t *ps, uint32_t *n)
{
    if (s_peek (ps, '*')) {
        ps->p++;
        *n = 0;
        return 0;
    }
    return s_number32 (ps, true, n);
}

/* sequence-set = (seq-number / seq-range) ["," sequence-set], or "$" (RFC 9051 6.4.4.1) */
static int
s_seqset (s_parser_t *ps, imap_seqset_t *set)
{
    if (s_peek (ps, '$')) {
        ps->p++;
        set->saved = true;
        return 0;
    }
    size_t cap = 0;
    do {
        imap_range_t r;
        if (s_seq_number (ps, &r.lo))
            return -1;
        r.hi = r.lo;
        if (s_peek (ps, ':') && (ps->p++, s_seq_number (ps, &r.hi)))
            return -1;
        if (set->count == cap) {
            cap = cap ? cap * 2 : 8;
            imap_range_t *grown = s_zalloc (ps, cap * sizeof *grown);
            if (!grown)
                return -1;
            if (set->count)
                memcpy (grown, set->ranges, set->count * sizeof *grown);
            set->ranges = grown;
        }
        set->ranges[set->count++] = r;
    } while (s_peek (ps, ',') && ps->p++);
    return 0;
}

bool
imap_seqset_contains (const imap_seqset_t *set, uint32_t n, uint32_t max)
{
    if (!set || n == 0)
        return false;
    for (size_t i = 0; i < set->count; i++) {
        uint32_t lo = set->ranges[i].lo, hi = set->ranges[i].hi;
        if ((lo == 0 || hi == 0) && max == 0)
            continue; /* "*" of an empty mailbox */
        lo = lo ? lo : max;
        hi = hi ? hi : max;
        if ((n >= lo && n <= hi) || (n >= hi && n <= lo))
            return true;
    }
    return false;
}

static const char *s_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil) */
static int64_t
s_days (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* Reads n digits at s into *out; false when one is not a digit */
static bool
s_digits (const char *s, int n, unsigned *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (!s_is_digit (s[i]))
            return false;
        *out = *out * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

/* date-text "1-Feb-2024" / "01-Feb-2024", and date-day-fixed " 1-Feb-2024": the day since the
   epoch in *day and the octets read, or 0 */
static size_t
s_date (const char *s, size_t len, int64_t *day)
{
    size_t i = len > 0 && s[0] == ' ' ? 1 : 0;
    unsigned d = 0, y = 0, m = 0;
    size_t nd = i + 1 < len && s_is_digit (s[i]) && s_is_digit (s[i + 1]) && s[0] != ' ' ? 2 : 1;
    if (len < i + nd + 9 || !s_digits (s + i, (int)nd, &d) || s[i + nd] != '-' || s[i + nd + 4] != '-')
        return 0;
    i += nd + 1;
    while (m < 12 && strncasecmp (s + i, s_months[m], 3) != 0)
        m++;
    if (m == 12 || !s_digits (s + i + 4, 4, &y))
        return 0;
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d == 0 || d > mdays[m] || (m == 1 && d == 29 && !leap))
        return 0;
    *day = s_days (y, m + 1, d);
    return i + 8;
}

int64_t
imap_parse_date_time (const char *s, size_t len)
{
    int64_t day = 0;
    size_t i = s ? s_date (s, len, &day) : 0;
    /* SP time SP zone: " hh:mm:ss +zzzz" */
    unsigned h, m, sec, zh, zm;
    if (i == 0 || len != i + 15 || s[i] != ' ' || s[i + 3] != ':' || s[i + 6] != ':' || s[i + 9] != ' ' ||
        (s[i + 10] != '+' && s[i + 10] != '-') || !s_digits (s + i + 1, 2, &h) ||
        !s_digits (s + i + 4, 2, &m) || !s_digits (s + i + 7, 2, &sec) || !s_digits (s + i + 11, 2, &zh) ||
        !s_digits (s + i + 13, 2, &zm))
        return -1;
    if (h > 23 || m > 59 || sec > 60 || zm > 59)
        return -1;
    int64_t zone = (int64_t)(zh * 3600 + zm * 60) * (s[i + 10] == '-' ? -1 : 1);
    int64_t t = day * 86400 + h * 3600 + m * 60 + sec - zone;
    return t < 0 ? -1 : t;
}

/* date = date-text / DQUOTE date-text DQUOTE (SEARCH) */
static int
s_search_date (s_parser_t *ps, int64_t *day)
{
    bool quoted = s_peek (ps, '"');
    ps->p += quoted;
    const char *start = ps->p;
    while (ps->p < ps->end && (s_is_alpha (*ps->p) || s_is_digit (*ps->p) || *ps->p == '-'))
        ps->p++;
    size_t n = (size_t)(ps->p - start);
    if (n == 0 || *start == ' ' || s_date (start, n, day) != n)
        return s_bad (ps, "expected a date such as 1-Feb-2024");
    return quoted ? s_expect (ps, '"', "a quoted date ends with a quote") : 0;
}

/* ------------------------------------------------------------------ literals and lines */

int
imap_literal_at_end (const char *line, size_t len, uint64_t *size, bool *nonsync)
{
    if (!line || len < 3 || line[len - 1] != '\n' || line[len - 2] != '\r' || line[len - 3] != '}')
        return 0;
    size_t i = len - 3, close = i;
    bool plus = i > 0 && line[i - 1] == '+';
    i -= plus;
    size_t digits_end = i;
    while (i > 0 && s_is_digit (line[i - 1]))
        i--;
    if (i == 0 || line[i - 1] != '{') {
        /* a "}" ends the line: a literal only if "{" opens it in the same word */
        for (size_t j = close; j > 0 && line[j - 1] != ' '; j--)
            if (line[j - 1] == '{')
                return -1;
        return 0;
    }
    if (digits_end == i || digits_end - i > 20)
        return -1;
    uint64_t n = 0;
    for (size_t j = i; j < digits_end; j++) {
        unsigned d = (unsigned)(line[j] - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *size = n;
    *nonsync = plus;
    return 1;
}

/* The command's lines: each ends in CRLF and is at most IMAP_MAX_LINE octets; a line that
   announces a literal is followed by its octets, and the last line ends the text */
static int
s_lines (s_parser_t *ps)
{
    const char *p = ps->start;
    while (p < ps->end) {
        const char *lf = memchr (p, '\n', (size_t)(ps->end - p));
        if (!lf)
            return s_bad (ps, "a command ends with CRLF");
        size_t n = (size_t)(lf + 1 - p);
        if (n > IMAP_MAX_LINE)
            return s_bad (ps, "[LIMIT] a command line is at most 8192 octets (RFC 7162 4)");
        if (n < 2 || lf[-1] != '\r')
            return s_bad (ps, "a bare LF: lines end with CRLF");
        if (memchr (p, '\r', n - 2))
            return s_bad (ps, "a bare CR: lines end with CRLF");
        uint64_t size = 0;
        bool nonsync = false;
        int rc = imap_literal_at_end (p, n, &size, &nonsync);
        if (rc < 0)
            return s_bad (ps, "a literal's size is not a number");
        p = lf + 1;
        if (rc == 0 && p != ps->end)
            return s_bad (ps, "text after the command's CRLF");
        if (rc == 1 && size >= (uint64_t)(ps->end - p))
            return s_bad (ps, "the literal's octets are missing");
        p += rc == 1 ? size : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ FETCH */

static const struct {
    const char *name;
    unsigned items;
    bool macro; /* ALL FAST FULL: alone, never inside a list */
} s_fetch_items[] = {
    {"FLAGS", IMAP_FETCH_FLAGS, false},
    {"UID", IMAP_FETCH_UID, false},
    {"RFC822.SIZE", IMAP_FETCH_SIZE, false},
    {"INTERNALDATE", IMAP_FETCH_INTERNALDATE, false},
    {"ENVELOPE", IMAP_FETCH_ENVELOPE, false},
    {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE, false},
    {"BODY", IMAP_FETCH_BODY, false},
    {"RFC822", IMAP_FETCH_RFC822, false},
    {"RFC822.HEADER", IMAP_FETCH_RFC822_HEADER, false},
    {"RFC822.TEXT", IMAP_FETCH_RFC822_TEXT, false},
    {"FAST", IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_SIZE, true},
    {"ALL", IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_SIZE | IMAP_FETCH_ENVELOPE, true},
    {"FULL",
     IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_SIZE | IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY,
     true},
};

/* section-part = nz-number *("." nz-number); a "." before a letter is left for section-text */
static int
s_part_path (s_parser_t *ps, imap_section_t *s)
{
    for (;;) {
        if (s->depth == IMAP_MAX_PART_DEPTH)
            return s_bad (ps, "[LIMIT] a part number has at most 16 levels");
        if (s_number32 (ps, true, &s->part[s->depth++]))
            return -1;
        if (!s_peek (ps, '.') || ps->p + 1 >= ps->end || !s_is_digit (ps->p[1]))
            return 0;
        ps->p++;
    }
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")"; a name is an RFC 5322 field
   name that is also an atom (so the response can name it as sent) */
static int
s_header_list (s_parser_t *ps, imap_section_t *s)
{
    if (s_sp (ps) || s_expect (ps, '(', "HEADER.FIELDS takes a list of names"))
        return -1;
    do {
        imap_string_t name;
        if (s->nfields == IMAP_MAX_FIELDS)
            return s_bad (ps, "[LIMIT] HEADER.FIELDS names at most 64 fields");
        if (s_astring (ps, &name))
            return -1;
        for (size_t i = 0; i < name.len; i++)
            if (!s_is_atom_char (name.data[i]) || name.data[i] == ':')
                return s_bad (ps, "not a header field name");
        if (name.len == 0)
            return s_bad (ps, "not a header field name");
        s->fields[s->nfields++] = name.data;
    } while (s_more (ps));
    return s_expect (ps, ')', "a header list ends with )");
}

/* section-text after a part, or section-msgtext: HEADER, HEADER.FIELDS[.NOT] list, TEXT, MIME */
static int
s_section_text (s_parser_t *ps, imap_section_t *s)
{
    char word[32];
    if (s_keyword (ps, word))
        return -1;
    if (strcmp (word, "HEADER") == 0)
        s->kind = IMAP_SECTION_HEADER;
    else if (strcmp (word, "TEXT") == 0)
        s->kind = IMAP_SECTION_TEXT;
    else if (strcmp (word, "MIME") == 0 && s->depth > 0)
        s->kind = IMAP_SECTION_MIME;
    else if (strcmp (word, "HEADER.FIELDS") == 0 || strcmp (word, "HEADER.FIELDS.NOT") == 0) {
        s->kind = word[13] ? IMAP_SECTION_FIELDS_NOT : IMAP_SECTION_FIELDS;
        return s_header_list (ps, s);
    }
    else
        return s_bad (ps,
                      "unknown section (HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, or a part's MIME)");
    return 0;
}

/* The section's name in the response (RFC 9051 7.5.2): no .PEEK, the origin only */
static int
s_section_name (s_parser_t *ps, imap_section_t *s)
{
    static const char *kinds[] = {"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"};
    buffer_t b = BUFFER_INIT (0);
    int rc = buffer_appendf (&b, "%s[", s->binary ? (s->size_only ? "BINARY.SIZE" : "BINARY") : "BODY");
    for (int i = 0; i < s->depth; i++)
        rc |= buffer_appendf (&b, "%s%u", i ? "." : "", (unsigned)s->part[i]);
    if (s->kind != IMAP_SECTION_ALL)
        rc |= buffer_appendf (&b, "%s%s", s->depth ? "." : "", kinds[s->kind]);
    for (int i = 0; i < s->nfields; i++)
        rc |= buffer_appendf (&b, "%s%s", i ? " " : " (", s->fields[i]);
    rc |= buffer_appendf (&b, "%s]", s->nfields ? ")" : "");
    if (s->partial)
        rc |= buffer_appendf (&b, "<%u>", (unsigned)s->offset);
    imap_string_t name = {NULL, 0};
    if (rc == 0)
        rc = s_copy (ps, b.data, b.size, &name);
    else
        s_bad (ps, "[LIMIT] the command needs too much memory");
    buffer_free (&b);
    for (char *c = (char *)name.data; c && *c; c++)
        *c = s_upper (*c);
    s->name = name.data;
    return rc ? -1 : 0;
}

/* section = "[" [section-spec] "]" [partial]; section-binary = "[" [section-part] "]" */
static int
s_section (s_parser_t *ps, imap_fetch_t *f, bool binary, bool peek, bool size_only)
{
    if (f->nsections == IMAP_MAX_SECTIONS)
        return s_bad (ps, "[LIMIT] a FETCH names at most 32 sections");
    imap_section_t *s = &f->sections[f->nsections++];
    s->binary = binary;
    s->peek = peek;
    s->size_only = size_only;
    if (s_expect (ps, '[', "a section starts with ["))
        return -1;
    if (ps->p < ps->end && s_is_digit (*ps->p) && s_part_path (ps, s))
        return -1;
    /* section-msgtext alone, or "." section-text after a part */
    bool text = !binary && (s->depth == 0 ? !s_peek (ps, ']') : s_peek (ps, '.'));
    if (text && (ps->p += s->depth > 0, s_section_text (ps, s)))
        return -1;
    if (s_expect (ps, ']', binary ? "a BINARY section is a part number" : "a section ends with ]"))
        return -1;
    if (s_peek (ps, '<')) {
        ps->p++;
        if (size_only)
            return s_bad (ps, "BINARY.SIZE takes no partial range");
        s->partial = true;
        if (s_number32 (ps, false, &s->offset) || s_expect (ps, '.', "a partial range is <offset.count>") ||
            s_number32 (ps, true, &s->count) || s_expect (ps, '>', "a partial range ends with >"))
            return -1;
    }
    return s_section_name (ps, s);
}

/* fetch-att, or a macro when alone */
static int
s_fetch_att (s_parser_t *ps, imap_fetch_t *f, bool alone)
{
    char word[32];
    if (s_keyword (ps, word))
        return -1;
    bool bracket = s_peek (ps, '[');
    if (strcmp (word, "BODY") == 0 && bracket)
        return s_section (ps, f, false, false, false);
    if (strcmp (word, "BODY.PEEK") == 0)
        return s_section (ps, f, false, true, false);
    if (strcmp (word, "BINARY") == 0 || strcmp (word, "BINARY.PEEK") == 0)
        return s_section (ps, f, true, word[6] == '.', false);
    if (strcmp (word, "BINARY.SIZE") == 0)
        return s_section (ps, f, true, true, true);
    for (size_t i = 0; i < sizeof s_fetch_items / sizeof s_fetch_items[0]; i++)
        if (strcmp (word, s_fetch_items[i].name) == 0) {
            if (s_fetch_items[i].macro && !alone)
                return s_bad (ps, "ALL, FAST and FULL stand alone, not in a list");
            f->items |= s_fetch_items[i].items;
            return 0;
        }
    return s_bad (ps, "unknown FETCH item");
}

/* ------------------------------------------------------------------ SEARCH */

typedef enum {
    ARG_NONE,
    ARG_STRING,
    ARG_HEADER,
    ARG_DATE,
    ARG_NUMBER,
    ARG_SET,
    ARG_ATOM,
    ARG_KEY,
    ARG_KEY2
} s_arg_t;

static const struct {
    const char *name;
    imap_search_kind_t kind;
    s_arg_t arg;
    unsigned flag;
    const char *field;
} s_keys[] = {
    {"ALL", IMAP_SK_ALL, ARG_NONE, 0, NULL},
    {"ANSWERED", IMAP_SK_FLAG, ARG_NONE, IMAP_ANSWERED, NULL},
    {"DELETED", IMAP_SK_FLAG, ARG_NONE, IMAP_DELETED, NULL},
    {"DRAFT", IMAP_SK_FLAG, ARG_NONE, IMAP_DRAFT, NULL},
    {"FLAGGED", IMAP_SK_FLAG, ARG_NONE, IMAP_FLAGGED, NULL},
    {"SEEN", IMAP_SK_FLAG, ARG_NONE, IMAP_SEEN, NULL},
    {"UNANSWERED", IMAP_SK_NOFLAG, ARG_NONE, IMAP_ANSWERED, NULL},
    {"UNDELETED", IMAP_SK_NOFLAG, ARG_NONE, IMAP_DELETED, NULL},
    {"UNDRAFT", IMAP_SK_NOFLAG, ARG_NONE, IMAP_DRAFT, NULL},
    {"UNFLAGGED", IMAP_SK_NOFLAG, ARG_NONE, IMAP_FLAGGED, NULL},
    {"UNSEEN", IMAP_SK_NOFLAG, ARG_NONE, IMAP_SEEN, NULL},
    {"FROM", IMAP_SK_HEADER, ARG_STRING, 0, "From"},
    {"TO", IMAP_SK_HEADER, ARG_STRING, 0, "To"},
    {"CC", IMAP_SK_HEADER, ARG_STRING, 0, "Cc"},
    {"BCC", IMAP_SK_HEADER, ARG_STRING, 0, "Bcc"},
    {"SUBJECT", IMAP_SK_HEADER, ARG_STRING, 0, "Subject"},
    {"HEADER", IMAP_SK_HEADER, ARG_HEADER, 0, NULL},
    {"BODY", IMAP_SK_BODY, ARG_STRING, 0, NULL},
    {"TEXT", IMAP_SK_TEXT, ARG_STRING, 0, NULL},
    {"BEFORE", IMAP_SK_BEFORE, ARG_DATE, 0, NULL},
    {"ON", IMAP_SK_ON, ARG_DATE, 0, NULL},
    {"SINCE", IMAP_SK_SINCE, ARG_DATE, 0, NULL},
    {"SENTBEFORE", IMAP_SK_SENTBEFORE, ARG_DATE, 0, NULL},
    {"SENTON", IMAP_SK_SENTON, ARG_DATE, 0, NULL},
    {"SENTSINCE", IMAP_SK_SENTSINCE, ARG_DATE, 0, NULL},
    {"LARGER", IMAP_SK_LARGER, ARG_NUMBER, 0, NULL},
    {"SMALLER", IMAP_SK_SMALLER, ARG_NUMBER, 0, NULL},
    {"UID", IMAP_SK_UID, ARG_SET, 0, NULL},
    {"KEYWORD", IMAP_SK_KEYWORD, ARG_ATOM, 0, NULL},
    {"UNKEYWORD", IMAP_SK_UNKEYWORD, ARG_ATOM, 0, NULL},
    {"NOT", IMAP_SK_NOT, ARG_KEY, 0, NULL},
    {"OR", IMAP_SK_OR, ARG_KEY2, 0, NULL},
    /* RFC 3501 only: no message is ever \Recent here, so NEW and RECENT match nothing */
    {"OLD", IMAP_SK_ALL, ARG_NONE, 0, NULL},
    {"NEW", IMAP_SK_KEYWORD, ARG_NONE, 0, NULL},
    {"RECENT", IMAP_SK_KEYWORD, ARG_NONE, 0, NULL},
};

static int s_search_key (s_parser_t *ps, imap_search_t **out);

/* search-key *(SP search-key) as an AND node, until ")" or the end of the line */
static int
s_search_keys (s_parser_t *ps, imap_search_t **out)
{
    imap_search_t *and = s_zalloc (ps, sizeof *and), **tail = &and->a;
    if (!and)
        return -1;
    and->kind = IMAP_SK_AND;
    do {
        if (s_search_key (ps, tail))
            return -1;
        tail = &(*tail)->next;
    } while (s_more (ps));
    *out = and;
    return 0;
}

/* A key's argument, as its table row says */
static int
s_search_arg (s_parser_t *ps, s_arg_t arg, imap_search_t *k)
{
    imap_string_t s;
    if (arg == ARG_NONE)
        return 0;
    if (s_sp (ps))
        return -1;
    switch (arg) {
    case ARG_HEADER:
        if (s_astring (ps, &s) || s_sp (ps))
            return -1;
        k->field = s.data;
        /* fall through */
    case ARG_STRING:
        if (s_astring (ps, &s))
            return -1;
        k->text = s.data;
        return 0;
    case ARG_ATOM:
        if (s_atom (ps, &s))
            return -1;
        k->text = s.data;
        return 0;
    case ARG_DATE:
        return s_search_date (ps, &k->day);
    case ARG_NUMBER:
        return s_number (ps, INT64_MAX, false, &k->number);
    case ARG_SET:
        return s_seqset (ps, &k->set);
    case ARG_KEY2:
        if (s_search_key (ps, &k->a) || s_sp (ps))
            return -1;
        return s_search_key (ps, &k->b);
    default:
        return s_search_key (ps, &k->a);
    }
}

static int
s_search_key (s_parser_t *ps, imap_search_t **out)
{
    if (++ps->depth > IMAP_MAX_DEPTH)
        return s_bad (ps, "[LIMIT] search keys nest at most 32 deep");
    int rc = -1;
    if (s_peek (ps, '(')) {
        ps->p++;
        rc = s_search_keys (ps, out) || s_expect (ps, ')', "unbalanced parentheses") ? -1 : 0;
    }
    else if (ps->p < ps->end && (s_is_digit (*ps->p) || *ps->p == '*' || *ps->p == '$')) {
        imap_search_t *k = *out = s_zalloc (ps, sizeof *k);
        if (k)
            k->kind = IMAP_SK_SEQ;
        rc = k ? s_seqset (ps, &k->set) : -1;
    }
    else {
        char word[32];
        size_t i = 0, n = sizeof s_keys / sizeof s_keys[0];
        if (s_keyword (ps, word))
            return -1;
        while (i < n && strcmp (word, s_keys[i].name) != 0)
            i++;
        imap_search_t *k = i < n ? s_zalloc (ps, sizeof *k) : NULL;
        if (i == n)
            return s_bad (ps, "unknown search key");
        if (!k)
            return -1;
        *out = k;
        k->kind = s_keys[i].kind;
        k->flag = s_keys[i].flag;
        k->field = s_keys[i].field;
        rc = s_search_arg (ps, s_keys[i].arg, k);
    }
    ps->depth--;
    return rc;
}

/* search-return-opts: "RETURN" SP "(" [MIN / MAX / ALL / COUNT *(SP ...)] ")" */
static int
s_search_return (s_parser_t *ps)
{
    static const char *opts[] = {"MIN", "MAX", "ALL", "COUNT"};
    imap_command_t *cmd = ps->cmd;
    if (s_sp (ps) || s_expect (ps, '(', "RETURN takes a list"))
        return -1;
    cmd->search_return_all = true;
    while (!s_peek (ps, ')')) {
        char word[32];
        unsigned i = 0;
        if (cmd->search_return && s_sp (ps))
            return -1;
        if (s_keyword (ps, word))
            return -1;
        while (i < 4 && strcmp (word, opts[i]) != 0)
            i++;
        if (i == 4)
            return s_bad (ps, strcmp (word, "SAVE") ? "unknown RETURN option"
                                                    : "SEARCH RETURN (SAVE) is not supported");
        cmd->search_return |= 1u << i;
    }
    if (!cmd->search_return)
        cmd->search_return = 4; /* RETURN () is RETURN (ALL) */
    ps->p++;
    return s_sp (ps);
}

/* ------------------------------------------------------------------ arguments of each command */

/* LOGIN SP userid SP password */
static int
s_args_login (s_parser_t *ps)
{
    return s_sp (ps) || s_astring (ps, &ps->cmd->str[0]) || s_sp (ps) || s_astring (ps, &ps->cmd->str[1]) ? -1
                                                                                                          : 0;
}

/* AUTHENTICATE SP auth-type [SP (base64 / "=")] (RFC 9051 6.2.2, SASL-IR) */
static int
s_args_authenticate (s_parser_t *ps)
{
    if (s_sp (ps) || s_atom (ps, &ps->cmd->str[0]))
        return -1;
    for (char *c = (char *)ps->cmd->str[0].data; *c; c++)
        *c = s_upper (*c);
    if (!s_more (ps))
        return 0;
    const char *start = ps->p;
    while (ps->p < ps->end && (s_is_alpha (*ps->p) || s_is_digit (*ps->p) || *ps->p == '+' || *ps->p == '/'))
        ps->p++;
    while (ps->p < ps->end && *ps->p == '=')
        ps->p++;
    if (ps->p == start)
        return s_bad (ps, "the initial response is base64 or =");
    return s_copy (ps, start, (size_t)(ps->p - start), &ps->cmd->str[1]);
}

/* ENABLE 1*(SP capability) */
static int
s_args_enable (s_parser_t *ps)
{
    do {
        imap_string_t cap;
        if (s_sp (ps) || s_atom (ps, &cap))
            return -1;
        ps->cmd->enable_utf8 |= strcasecmp (cap.data, "UTF8=ACCEPT") == 0;
        ps->cmd->enable_rev2 |= strcasecmp (cap.data, "IMAP4REV2") == 0;
    } while (s_peek (ps, ' '));
    return 0;
}

/* ID SP (NIL / "(" [string SP nstring *(SP string SP nstring)] ")") (RFC 2971): read, not kept */
static int
s_args_id (s_parser_t *ps)
{
    if (s_sp (ps))
        return -1;
    if (s_take_keyword (ps, "NIL"))
        return 0;
    if (s_expect (ps, '(', "ID takes NIL or a list"))
        return -1;
    for (int n = 0; !s_peek (ps, ')'); n++) {
        imap_string_t s;
        if (n == 30)
            return s_bad (ps, "[LIMIT] ID takes at most 30 fields (RFC 2971 3.3)");
        if ((n && s_sp (ps)) || s_string (ps, &s) || s_sp (ps))
            return -1;
        if (!s_take_keyword (ps, "NIL") && s_string (ps, &s))
            return -1;
    }
    ps->p++;
    return 0;
}

/* SELECT / EXAMINE / DELETE / SUBSCRIBE / UNSUBSCRIBE / CREATE SP mailbox (no parameters) */
static int
s_args_mailbox (s_parser_t *ps)
{
    if (s_sp (ps) || s_mailbox (ps, &ps->cmd->str[0]))
        return -1;
    if (s_peek (ps, ' '))
        return s_bad (ps, "parameters (CONDSTORE, QRESYNC, USE) are not supported");
    return 0;
}

/* RENAME SP mailbox SP mailbox */
static int
s_args_rename (s_parser_t *ps)
{
    return s_sp (ps) || s_mailbox (ps, &ps->cmd->str[0]) || s_sp (ps) || s_mailbox (ps, &ps->cmd->str[1]) ? -1
                                                                                                          : 0;
}

/* status-att-list = status-att *(SP status-att), in parentheses */
static int
s_status_atts (s_parser_t *ps, unsigned *status)
{
    static const char *names[] = {"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN",
                                  "DELETED",  "SIZE",    "RECENT"};
    if (s_expect (ps, '(', "expected a list of status items"))
        return -1;
    do {
        char word[32];
        unsigned i = 0;
        if (s_keyword (ps, word))
            return -1;
        while (i < 7 && strcmp (word, names[i]) != 0)
            i++;
        if (i == 7)
            return s_bad (ps, "unknown status item");
        *status |= 1u << i;
    } while (s_more (ps));
    return s_expect (ps, ')', "a list of status items ends with )");
}

/* STATUS SP mailbox SP "(" status-att *(SP status-att) ")" */
static int
s_args_status (s_parser_t *ps)
{
    return s_sp (ps) || s_mailbox (ps, &ps->cmd->str[0]) || s_sp (ps) || s_status_atts (ps, &ps->cmd->status)
               ? -1
               : 0;
}

static const struct {
    const char *name;
    unsigned bit;
    bool ret; /* a return option, else a selection option (RFC 5258, RFC 6154, RFC 5819) */
} s_list_opts[] = {
    {"SUBSCRIBED", IMAP_LIST_SUBSCRIBED, false},         {"REMOTE", IMAP_LIST_REMOTE, false},
    {"RECURSIVEMATCH", IMAP_LIST_RECURSIVEMATCH, false}, {"SPECIAL-USE", IMAP_LIST_SPECIAL_USE, false},
    {"SUBSCRIBED", IMAP_LIST_RET_SUBSCRIBED, true},      {"CHILDREN", IMAP_LIST_RET_CHILDREN, true},
    {"SPECIAL-USE", IMAP_LIST_RET_SPECIAL_USE, true},    {"STATUS", IMAP_LIST_RET_STATUS, true},
};

/* "(" [option *(SP option)] ")": selection or return options of LIST */
static int
s_list_options (s_parser_t *ps, bool ret, unsigned *bits)
{
    ps->cmd->list_extended = true;
    if (s_expect (ps, '(', "LIST options are a list"))
        return -1;
    for (bool first = true; !s_peek (ps, ')'); first = false) {
        char word[32];
        size_t i = 0, n = sizeof s_list_opts / sizeof s_list_opts[0];
        if ((!first && s_sp (ps)) || s_keyword (ps, word))
            return -1;
        while (i < n && (s_list_opts[i].ret != ret || strcmp (word, s_list_opts[i].name) != 0))
            i++;
        if (i == n)
            return s_bad (ps, "unknown LIST option");
        *bits |= s_list_opts[i].bit;
        if (s_list_opts[i].bit == IMAP_LIST_RET_STATUS && ret &&
            (s_sp (ps) || s_status_atts (ps, &ps->cmd->status)))
            return -1;
    }
    ps->p++;
    if (*bits == IMAP_LIST_RECURSIVEMATCH && !ret)
        return s_bad (ps, "RECURSIVEMATCH needs another selection option (RFC 5258 3)");
    return 0;
}

/* LIST [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts] */
static int
s_args_list (s_parser_t *ps)
{
    imap_command_t *cmd = ps->cmd;
    if (s_sp (ps))
        return -1;
    if (s_peek (ps, '(') && (s_list_options (ps, false, &cmd->list_select) || s_sp (ps)))
        return -1;
    if (s_mailbox (ps, &cmd->str[0]) || s_sp (ps))
        return -1;
    bool list = s_peek (ps, '(');
    ps->p += list;
    if (s_mailbox_chars (ps, &cmd->str[1], true))
        return -1;
    if (list && s_peek (ps, ' '))
        return s_bad (ps, "LIST takes one pattern at a time");
    if (list && s_expect (ps, ')', "a pattern list ends with )"))
        return -1;
    if (!s_more (ps))
        return 0;
    if (!s_take_keyword (ps, "RETURN"))
        return s_bad (ps, "expected RETURN");
    return s_sp (ps) || s_list_options (ps, true, &cmd->list_return) ? -1 : 0;
}

/* LSUB SP mailbox SP list-mailbox (RFC 3501) */
static int
s_args_lsub (s_parser_t *ps)
{
    return s_sp (ps) || s_mailbox (ps, &ps->cmd->str[0]) || s_sp (ps) ||
                   s_mailbox_chars (ps, &ps->cmd->str[1], true)
               ? -1
               : 0;
}

/* APPEND SP mailbox [SP flag-list] [SP date-time] SP literal (or literal8, RFC 3516) */
static int
s_args_append (s_parser_t *ps)
{
    imap_command_t *cmd = ps->cmd;
    if (s_sp (ps) || s_mailbox (ps, &cmd->str[0]) || s_sp (ps))
        return -1;
    if (s_peek (ps, '(') && (s_flag_list (ps, &cmd->flags) || s_sp (ps)))
        return -1;
    if (s_peek (ps, '"')) {
        imap_string_t date;
        if (s_quoted (ps, &date))
            return -1;
        cmd->append_date = imap_parse_date_time (date.data, date.len);
        if (cmd->append_date < 0)
            return s_bad (ps, "expected a date-time such as \"17-Jul-1996 02:44:25 -0700\"");
        if (s_sp (ps))
            return -1;
    }
    if (!s_peek (ps, '{') && !s_peek (ps, '~'))
        return s_bad (ps, "APPEND's message is a literal");
    if (s_literal (ps, &cmd->append_message, INT64_MAX, true))
        return -1;
    if (s_peek (ps, ' '))
        return s_bad (ps, "one message per APPEND (MULTIAPPEND is not supported)");
    return 0;
}

/* SEARCH [SP search-return-opts] [SP "CHARSET" SP charset] 1*(SP search-key) */
static int
s_args_search (s_parser_t *ps)
{
    if (s_sp (ps))
        return -1;
    if (s_take_keyword (ps, "RETURN") && s_search_return (ps))
        return -1;
    if (s_take_keyword (ps, "CHARSET")) {
        imap_string_t charset;
        if (s_sp (ps) || s_astring (ps, &charset))
            return -1;
        if (strcasecmp (charset.data, "UTF-8") != 0 && strcasecmp (charset.data, "US-ASCII") != 0)
            return s_bad (ps, "[BADCHARSET (US-ASCII UTF-8)] unsupported charset");
        if (s_sp (ps))
            return -1;
    }
    return s_search_keys (ps, &ps->cmd->search);
}

/* FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")") */
static int
s_args_fetch (s_parser_t *ps)
{
    imap_command_t *cmd = ps->cmd;
    if (s_sp (ps) || s_seqset (ps, &cmd->set) || s_sp (ps) ||
        !(cmd->fetch = s_zalloc (ps, sizeof *cmd->fetch)))
        return -1;
    if (!s_peek (ps, '('))
        return s_fetch_att (ps, cmd->fetch, true);
    ps->p++;
    do {
        if (s_fetch_att (ps, cmd->fetch, false))
            return -1;
    } while (s_more (ps));
    if (s_expect (ps, ')', "a FETCH list ends with )"))
        return -1;
    if (s_peek (ps, ' '))
        return s_bad (ps, "FETCH modifiers (CHANGEDSINCE) are not supported");
    return 0;
}

/* STORE SP sequence-set SP ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / (flag *(SP flag))) */
static int
s_args_store (s_parser_t *ps)
{
    imap_command_t *cmd = ps->cmd;
    if (s_sp (ps) || s_seqset (ps, &cmd->set) || s_sp (ps))
        return -1;
    if (s_peek (ps, '('))
        return s_bad (ps, "STORE modifiers (UNCHANGEDSINCE) are not supported");
    cmd->store_op = s_peek (ps, '+') ? IMAP_STORE_ADD : s_peek (ps, '-') ? IMAP_STORE_REMOVE : IMAP_STORE_SET;
    ps->p += cmd->store_op != IMAP_STORE_SET;
    char word[32];
    if (s_keyword (ps, word))
        return -1;
    cmd->store_silent = strcmp (word, "FLAGS.SILENT") == 0;
    if (!cmd->store_silent && strcmp (word, "FLAGS") != 0)
        return s_bad (ps, "STORE takes FLAGS or FLAGS.SILENT");
    if (s_sp (ps))
        return -1;
    if (s_peek (ps, '('))
        return s_flag_list (ps, &cmd->flags);
    do {
        if (s_flag (ps, &cmd->flags))
            return -1;
    } while (s_more (ps));
    return 0;
}

/* COPY / MOVE SP sequence-set SP mailbox */
static int
s_args_copy (s_parser_t *ps)
{
    return s_sp (ps) || s_seqset (ps, &ps->cmd->set) || s_sp (ps) || s_mailbox (ps, &ps->cmd->str[0]) ? -1
                                                                                                      : 0;
}

/* EXPUNGE, and UID EXPUNGE SP sequence-set (RFC 9051 6.4.9) */
static int
s_args_expunge (s_parser_t *ps)
{
    if (!ps->cmd->uid)
        return 0;
    return s_sp (ps) || s_seqset (ps, &ps->cmd->set) ? -1 : 0;
}

/* ------------------------------------------------------------------ commands */

typedef int (*s_args_fn) (s_parser_t *ps);

static const struct {
    const char *name;
    imap_cmd_id_t id;
    s_args_fn args; /* NULL: none */
    bool uid;       /* may follow "UID" */
} s_commands[] = {
    {"CAPABILITY", IMAP_CAPABILITY, NULL, false},
    {"NOOP", IMAP_NOOP, NULL, false},
    {"LOGOUT", IMAP_LOGOUT, NULL, false},
    {"STARTTLS", IMAP_STARTTLS, NULL, false},
    {"AUTHENTICATE", IMAP_AUTHENTICATE, s_args_authenticate, false},
    {"LOGIN", IMAP_LOGIN, s_args_login, false},
    {"ENABLE", IMAP_ENABLE, s_args_enable, false},
    {"ID", IMAP_ID, s_args_id, false},
    {"SELECT", IMAP_SELECT, s_args_mailbox, false},
    {"EXAMINE", IMAP_EXAMINE, s_args_mailbox, false},
    {"CREATE", IMAP_CREATE, s_args_mailbox, false},
    {"DELETE", IMAP_DELETE, s_args_mailbox, false},
    {"RENAME", IMAP_RENAME, s_args_rename, false},
    {"SUBSCRIBE", IMAP_SUBSCRIBE, s_args_mailbox, false},
    {"UNSUBSCRIBE", IMAP_UNSUBSCRIBE, s_args_mailbox, false},
    {"LIST", IMAP_LIST, s_args_list, false},
    {"LSUB", IMAP_LSUB, s_args_lsub, false},
    {"NAMESPACE", IMAP_NAMESPACE, NULL, false},
    {"STATUS", IMAP_STATUS, s_args_status, false},
    {"APPEND", IMAP_APPEND, s_args_append, false},
    {"IDLE", IMAP_IDLE, NULL, false},
    {"CHECK", IMAP_CHECK, NULL, false},
    {"CLOSE", IMAP_CLOSE, NULL, false},
    {"UNSELECT", IMAP_UNSELECT, NULL, false},
    {"EXPUNGE", IMAP_EXPUNGE, s_args_expunge, true},
    {"SEARCH", IMAP_SEARCH, s_args_search, true},
    {"FETCH", IMAP_FETCH, s_args_fetch, true},
    {"STORE", IMAP_STORE, s_args_store, true},
    {"COPY", IMAP_COPY, s_args_copy, true},
    {"MOVE", IMAP_MOVE, s_args_copy, true},
};

/* tag = 1*<any ASTRING-CHAR except "+"> */
static int
s_tag (s_parser_t *ps)
{
    const char *start = ps->p;
    while (ps->p < ps->end && s_is_astring_char (*ps->p) && *ps->p != '+')
        ps->p++;
    size_t n = (size_t)(ps->p - start);
    if (n == 0)
        return s_bad (ps, "a command starts with a tag");
    if (n > IMAP_MAX_TAG)
        return s_bad (ps, "[LIMIT] a tag is at most 64 octets");
    memcpy (ps->cmd->tag, start, n);
    ps->cmd->tag[n] = '\0';
    return 0;
}

/* The command name (and UID's): the row of s_commands, or -1 */
static int
s_verb (s_parser_t *ps)
{
    imap_command_t *cmd = ps->cmd;
    char word[32];
    if (!s_is_alpha (ps->p < ps->end ? *ps->p : 0))
        return s_bad (ps, "expected a command");
    if (s_keyword (ps, word))
        return -1;
    if (strcmp (word, "UID") == 0) {
        cmd->uid = true;
        if (s_sp (ps) || s_keyword (ps, word))
            return -1;
    }
    size_t at = cmd->uid ? 4 : 0;
    memcpy (cmd->verb, "UID ", at);
    for (size_t i = 0; word[i] && at + 1 < sizeof cmd->verb; i++)
        cmd->verb[at++] = word[i];
    cmd->verb[at] = '\0';
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (word, s_commands[i].name) == 0) {
            if (cmd->uid && !s_commands[i].uid)
                return s_bad (ps, "UID goes with FETCH, STORE, COPY, MOVE, SEARCH or EXPUNGE");
            cmd->id = s_commands[i].id;
            return (int)i;
        }
    return s_bad (ps, "unknown command");
}

/* The command's end: its last CRLF */
static int
s_end (s_parser_t *ps)
{
    if (ps->end - ps->p == 2 && ps->p[0] == '\r' && ps->p[1] == '\n')
        return 0;
    return s_bad (ps, s_peek (ps, ' ') ? "unexpected argument" : "unexpected text in the command");
}

/* IMAP_MAX_COMMAND bounds the command but APPEND's message */
static int
s_size (s_parser_t *ps, size_t len)
{
    size_t message = ps->cmd->id == IMAP_APPEND ? ps->cmd->append_message.len : 0;
    if (len - message > IMAP_MAX_COMMAND)
        return s_bad (ps, "[LIMIT] a command is at most 256 KiB");
    return 0;
}

static int
s_parse (s_parser_t *ps, size_t len)
{
    if (s_tag (ps) || s_lines (ps) || s_sp (ps))
        return -1;
    int row = s_verb (ps);
    if (row < 0)
        return -1;
    if (ps->cmd->id != IMAP_APPEND && s_size (ps, len))
        return -1;
    if (s_commands[row].args && s_commands[row].args (ps))
        return -1;
    return s_end (ps) || s_size (ps, len) ? -1 : 0;
}

int
imap_parse (const char *text, size_t len, imap_command_t *cmd, const char **why)
{
    memset (cmd, 0, sizeof *cmd);
    cmd->id = IMAP_UNKNOWN;
    cmd->append_date = -1;
    *why = NULL;
    cmd->arena = calloc (1, sizeof *cmd->arena);
    if (!cmd->arena) {
        *why = "out of memory";
        return -1;
    }
    cmd->arena->limit = ARENA_SLACK + len;
    s_parser_t ps = {text, text, text + len, cmd, NULL, 0};
    if (!text || s_parse (&ps, len) != 0) {
        *why = ps.why ? ps.why : "syntax error";
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ LIST patterns */

/* INBOX's own octets (the first five of "INBOX" or "INBOX/...") compare without case */
static bool
s_same (char p, char n, bool fold)
{
    return fold ? s_upper (p) == s_upper (n) : p == n;
}

bool
imap_list_match (const char *pattern, const char *name)
{
    size_t n = strlen (name);
    size_t inbox = strncasecmp (name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/') ? 5 : 0;
    /* row[j]: the pattern read so far matches name[0..j); O(pattern * name), no backtracking */
    bool *row = calloc (2 * (n + 1), sizeof *row);
    if (!row)
        return false;
    bool *next = row + n + 1;
    row[0] = true;
    for (const char *p = pattern; *p; p++) {
        next[0] = (*p == '*' || *p == '%') && row[0];
        for (size_t j = 1; j <= n; j++) {
            if (*p == '*')
                next[j] = row[j] || next[j - 1];
            else if (*p == '%')
                next[j] = row[j] || (next[j - 1] && name[j - 1] != '/');
            else
                next[j] = row[j - 1] && s_same (*p, name[j - 1], j - 1 < inbox);
        }
        bool *swap = row;
        row = next;
        next = swap;
    }
    bool match = row[n];
    free (row < next ? row : next);
    return match;
}
