/*  fuzz_header.c — header lookup and completion (common/header.h), as the broker indexes a
    SEND's message and as pub --raw and the POP3 fetcher complete one. The input is the
    message; its first line (up to 40 octets) is also taken as a field name to look up. */
#include <string.h>

#include "fuzz.h"
#include "header.h"

static void
s_check_find (const char *msg, size_t len, const char *name)
{
    char value[100];
    int found = header_find (msg, len, name, value, sizeof value);
    FUZZ_CHECK (found == 0 || found == 1);
    if (found) {
        /* unfolded, trimmed, no control character left */
        size_t n = strlen (value);
        FUZZ_CHECK (n < sizeof value);
        FUZZ_CHECK (n == 0 || (value[0] != ' ' && value[n - 1] != ' '));
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK ((unsigned char)value[i] >= 0x20 && value[i] != 0x7f);
    }
    int count = header_count (msg, len, name);
    FUZZ_CHECK (count >= found && (count == 0) == (found == 0));
    char tiny[1];
    FUZZ_CHECK (header_find (msg, len, name, tiny, 0) == 0);
}

/* Completing twice changes nothing the second time (pub --raw, fetch) */
static void
s_check_complete (const char *msg, size_t len)
{
    char *copy = malloc (len ? len : 1);
    memcpy (copy, msg, len);
    size_t n = len, at = 0;
    char *done = header_complete (copy, &n, &at);
    FUZZ_CHECK (n >= len && n <= len + 4 && done[n] == '\0');
    FUZZ_CHECK (n >= 2 && done[n - 2] == '\r' && done[n - 1] == '\n');
    FUZZ_CHECK (at == (size_t)-1 || at <= n - 2);
    size_t again_len = n, again_at = 0;
    char *again = malloc (n);
    memcpy (again, done, n);
    again = header_complete (again, &again_len, &again_at);
    FUZZ_CHECK (again_len == n && memcmp (again, done, n) == 0 && again_at == (size_t)-1);
    free (again);
    free (done);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    size_t hlen = header_section_length (msg, size);
    FUZZ_CHECK (hlen <= size);
    FUZZ_CHECK (hlen == 0 || (hlen >= 2 && memcmp (msg + hlen - 2, "\r\n", 2) == 0));
    size_t at = header_missing_empty_line (msg, size);
    FUZZ_CHECK (at <= size + 1);

    static const char *const names[] = {"Subject", "Message-ID", "Received", "From", ""};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        s_check_find (msg, size, names[i]);
    char name[41];
    const char *eol = memchr (msg, '\n', size < 40 ? size : 40);
    size_t nlen = eol ? (size_t)(eol - msg) : 0;
    memcpy (name, msg, nlen);
    name[nlen] = '\0';
    if (!memchr (name, '\0', nlen))
        s_check_find (msg, size, name);
    if (hlen > 0) {
        char value[100];
        FUZZ_CHECK (header_find_in (msg, hlen, "Subject", value, sizeof value) ==
                    header_find (msg, size, "Subject", value, sizeof value));
        FUZZ_CHECK (header_count_in (msg, hlen, "Received") == header_count (msg, size, "Received"));
    }
    s_check_complete (msg, size);
    return 0;
}
