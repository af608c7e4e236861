/*  imap_seqset_weak.c — imap_seqset_contains for the programs that test imap_mime.c while
    imap_parse.c (which owns it) is being written in parallel: a weak definition, so the real one
    wins as soon as gateway/meson.build builds imap_parse.c. Remove this file then. */
#include "imap_parse.h"

__attribute__ ((weak)) bool
imap_seqset_contains (const imap_seqset_t *set, uint32_t n, uint32_t max)
{
    for (size_t i = 0; i < set->count; i++) {
        uint32_t lo = set->ranges[i].lo ? set->ranges[i].lo : max,
                 hi = set->ranges[i].hi ? set->ranges[i].hi : max;
        if (lo > hi) {
            uint32_t t = lo;
            lo = hi, hi = t;
        }
        if (max && n >= lo && n <= hi)
            return true;
        if (!max && set->ranges[i].lo && set->ranges[i].hi && n >= lo && n <= hi)
            return true;
    }
    return false;
}
