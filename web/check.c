/*  check.c — see check.h */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_limits.h"

int
check_number (const char *text, int64_t max, int64_t *value)
{
    if (!text || !*text || strlen (text) > 18 || (text[0] == '0' && text[1]))
        return -1;
    int64_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
    }
    if (n > max)
        return -1;
    *value = n;
    return 0;
}

bool
check_token (const char *text)
{
    if (!text || strlen (text) != CHECK_TOKEN_HEX)
        return false;
    for (const char *p = text; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

int
check_recipients (const char *text, char **copy, const char **out, int max)
{
    *copy = strdup (text ? text : "");
    if (!*copy)
        return CHECK_NO_MEMORY;
    int count = 0;
    char *save = NULL;
    for (char *word = strtok_r (*copy, ", ;\t\r\n", &save); word;
         word = strtok_r (NULL, ", ;\t\r\n", &save)) {
        if (count == max || strlen (word) > MAX_ADDRESS)
            return -1;
        out[count++] = word;
    }
    out[count] = NULL;
    return count;
}

int
check_listen (const char *text, char *host, size_t size, int *port)
{
    if (!text)
        return -1;
    const char *colon = strrchr (text, ':');
    if (!colon || colon == text)
        return -1;
    const char *start = text, *end = colon;
    if (text[0] == '[') {
        if (colon[-1] != ']')
            return -1;
        start = text + 1;
        end = colon - 1;
    }
    else if (memchr (text, ':', (size_t)(colon - text)))
        return -1; /* a bare IPv6 address needs brackets */
    size_t len = (size_t)(end - start);
    int64_t number;
    if (len == 0 || len >= size || check_number (colon + 1, 65535, &number) != 0)
        return -1;
    memcpy (host, start, len);
    host[len] = '\0';
    *port = (int)number;
    return 0;
}

void
check_filename (const char *name, int index, char *out, size_t size)
{
    const char *slash = name ? strrchr (name, '/') : NULL;
    const char *base = slash ? slash + 1 : name;
    size_t n = 0;
    for (const char *p = base; p && *p && n + 1 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != 0x7f && !strchr ("\"\\/;:", c))
            out[n++] = (char)c;
    }
    out[n] = '\0';
    if (n == 0 || strcmp (out, ".") == 0 || strcmp (out, "..") == 0)
        snprintf (out, size, "part-%d", index);
}
