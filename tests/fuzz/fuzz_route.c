/*  fuzz_route.c — subscription filters (broker/route.h): the input's first line is a filter
    "header:GLOB" as SUBSCRIBE hands it over, the rest a message it is matched against. */
#include <string.h>

#include "fuzz.h"
#include "route.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *eol = memchr (text, '\n', size);
    size_t flen = eol ? (size_t)(eol - text) : size;
    char *filter = malloc (flen + 1);
    memcpy (filter, text, flen);
    filter[flen] = '\0';
    const char *msg = eol ? eol + 1 : text + size;
    size_t len = eol ? size - flen - 1 : 0;

    const char *why = route_filter_check (filter);
    FUZZ_CHECK (!why || *why);
    /* the broker matches only filters it accepted; one it accepted is at most 200 octets */
    if (!why) {
        FUZZ_CHECK (strlen (filter) <= 200);
        bool match = route_filter_match (filter, msg, len);
        FUZZ_CHECK (!*filter ? match : true);
    }
    free (filter);
    return 0;
}
