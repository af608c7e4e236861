/*  address.c — RFC 5321 / 5322 dot-atom addresses. */
#include "address.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* RFC 5322 3.2.3 atext */
static int
s_is_atext (unsigned char c)
{
    if (isalnum (c))
        return 1;
    return c && strchr ("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 5321 4.1.2 Dot-string: atoms separated by single dots, no leading/trailing dot */
static int
s_valid_dot_atom (const char *s, size_t len)
{
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        }
        else if (!s_is_atext ((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* RFC 5321 4.1.2 Domain: labels of letters, digits and hyphens, 1..63 each */
static int
s_valid_domain (const char *s, size_t len)
{
    size_t label = 0;
    if (len == 0 || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        }
        else if (isalnum (c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        }
        else
            return 0;
    }
    return s[len - 1] != '-';
}

int
address_parse (const char *text, size_t len, address_t *addr, const char **error)
{
    const char *why = NULL;
    memset (addr, 0, sizeof *addr);
    if (!text) {
        why = "empty address";
        goto fail;
    }
    if (len >= 2 && text[0] == '<' && text[len - 1] == '>') {
        text++;
        len -= 2;
    }
    if (len == 0) {
        why = "empty address";
        goto fail;
    }
    if (len > MAX_ADDRESS) {
        why = "address longer than 254 octets";
        goto fail;
    }
    if (memchr (text, '\0', len)) {
        why = "NUL byte in address";
        goto fail;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] >= 0x7f) {
            why = "control or non-ASCII character in address";
            goto fail;
        }
    const char *at = memrchr (text, '@', len);
    if (!at) {
        why = "address has no @domain";
        goto fail;
    }
    size_t local_len = (size_t)(at - text);
    size_t domain_len = len - local_len - 1;
    if (local_len == 0) {
        why = "empty local part";
        goto fail;
    }
    if (local_len > MAX_LOCAL_PART) {
        why = "local part longer than 64 octets";
        goto fail;
    }
    if (domain_len == 0) {
        why = "empty domain";
        goto fail;
    }
    if (!s_valid_dot_atom (text, local_len)) {
        why = "invalid character in local part";
        goto fail;
    }
    if (!s_valid_domain (at + 1, domain_len)) {
        why = "invalid domain";
        goto fail;
    }
    for (size_t i = 0; i < local_len; i++)
        addr->local[i] = (char)tolower ((unsigned char)text[i]);
    for (size_t i = 0; i < domain_len; i++)
        addr->domain[i] = (char)tolower ((unsigned char)at[1 + i]);
    memcpy (addr->full, addr->local, local_len);
    addr->full[local_len] = '@';
    memcpy (addr->full + local_len + 1, addr->domain, domain_len);
    return 0;
fail:
    if (error)
        *error = why;
    if (addr)
        memset (addr, 0, sizeof *addr);
    return -1;
}

int
address_domain_in (const address_t *addr, const char *const *domains)
{
    for (; domains && *domains; domains++)
        if (strcasecmp (addr->domain, *domains) == 0)
            return 1;
    return 0;
}
