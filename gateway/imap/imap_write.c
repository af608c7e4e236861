/*  imap_write.c — the writing half of imap_parse.h: strings, flags and dates as IMAP sends
    them (RFC 9051 4.3, 2.3.2, 9 "date-time"). The reading half is imap_parse.c. */
#include "imap_parse.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* RFC 9051 4.3: a quoted string holds no CR, LF or NUL (and 8-bit only under UTF8=ACCEPT);
   long strings go as literals so the line stays readable */
static bool
s_quotable (const char *s, size_t len, bool utf8)
{
    if (len >= 1024)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\0' || (c >= 0x80 && !utf8))
            return false;
    }
    return true;
}

int
imap_string_append (buffer_t *out, const char *s, size_t len, bool utf8)
{
    if (!s)
        return buffer_append (out, "NIL", 3);
    if (!s_quotable (s, len, utf8)) {
        if (buffer_appendf (out, "{%zu}\r\n", len) != 0)
            return -1;
        return buffer_append (out, s, len);
    }
    if (buffer_append (out, "\"", 1) != 0)
        return -1;
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        if (buffer_append (out, s + from, i - from) != 0 || buffer_append (out, "\\", 1) != 0)
            return -1;
        from = i;
    }
    if (buffer_append (out, s + from, len - from) != 0)
        return -1;
    return buffer_append (out, "\"", 1);
}

/* The system flags, their Maildir letter and their IMAP name; "DFRST" order */
static const struct {
    unsigned flag;
    char letter;
    const char *name;
} s_flags[] = {
    {IMAP_DRAFT, 'D', "\\Draft"}, {IMAP_FLAGGED, 'F', "\\Flagged"}, {IMAP_ANSWERED, 'R', "\\Answered"},
    {IMAP_SEEN, 'S', "\\Seen"},   {IMAP_DELETED, 'T', "\\Deleted"},
};
#define S_NFLAGS (sizeof s_flags / sizeof s_flags[0])

void
imap_flags_to_letters (unsigned flags, char out[6])
{
    size_t n = 0;
    for (size_t i = 0; i < S_NFLAGS; i++)
        if (flags & s_flags[i].flag)
            out[n++] = s_flags[i].letter;
    out[n] = '\0';
}

unsigned
imap_flags_from_letters (const char *letters)
{
    unsigned flags = 0;
    for (const char *p = letters; p && *p; p++)
        for (size_t i = 0; i < S_NFLAGS; i++)
            if (*p == s_flags[i].letter)
                flags |= s_flags[i].flag;
    return flags;
}

int
imap_flags_append (buffer_t *out, unsigned flags)
{
    const char *sep = "";
    if (buffer_append (out, "(", 1) != 0)
        return -1;
    for (size_t i = 0; i < S_NFLAGS; i++) {
        if (!(flags & s_flags[i].flag))
            continue;
        if (buffer_appendf (out, "%s%s", sep, s_flags[i].name) != 0)
            return -1;
        sep = " ";
    }
    return buffer_append (out, ")", 1);
}

void
imap_date_time (int64_t unix_time, char out[32])
{
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)unix_time;
    struct tm tm;
    if (!gmtime_r (&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
        t = 0;
        gmtime_r (&t, &tm);
    }
    /* RFC 9051 9: date-day-fixed is (SP DIGIT) / 2DIGIT */
    snprintf (out, 32, "%2d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
              tm.tm_hour, tm.tm_min, tm.tm_sec);
}
