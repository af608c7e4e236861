/*  fuzz_address.c — mail addresses (common/address.h): what HELO, SEND, MAIL FROM and RCPT TO
    hand over. An accepted address is within RFC 5321 4.5.3.1's limits, lower case, and
    parses again to itself. */
#include <ctype.h>
#include <string.h>

#include "address.h"
#include "fuzz.h"

static void
s_check_accepted (const address_t *addr)
{
    size_t local = strlen (addr->local), domain = strlen (addr->domain), full = strlen (addr->full);
    FUZZ_CHECK (local >= 1 && local <= MAX_LOCAL_PART);
    FUZZ_CHECK (domain >= 1 && domain <= MAX_DOMAIN);
    FUZZ_CHECK (full == local + 1 + domain && full <= MAX_ADDRESS);
    FUZZ_CHECK (memcmp (addr->full, addr->local, local) == 0 && addr->full[local] == '@');
    FUZZ_CHECK (strcmp (addr->full + local + 1, addr->domain) == 0);
    for (size_t i = 0; i < full; i++)
        FUZZ_CHECK (addr->full[i] > ' ' && addr->full[i] < 0x7f && !isupper ((unsigned char)addr->full[i]));
    address_t again;
    const char *why = NULL;
    FUZZ_CHECK (address_parse (addr->full, full, &again, &why) == 0);
    FUZZ_CHECK (strcmp (again.full, addr->full) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const char *const domains[] = {"demo.local", "example.org", NULL};
    address_t addr;
    const char *why = NULL;
    if (address_parse ((const char *)data, size, &addr, &why) == 0) {
        s_check_accepted (&addr);
        int in = address_domain_in (&addr, domains);
        FUZZ_CHECK (in ==
                    (strcmp (addr.domain, "demo.local") == 0 || strcmp (addr.domain, "example.org") == 0));
    }
    else
        FUZZ_CHECK (why && *why && addr.full[0] == '\0');
    return 0;
}
