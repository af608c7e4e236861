/*  alloc_fail.h — allocations that fail on demand, for unit tests of what a process does short
    of memory. The test executable is linked with alloc_fail.c and -Wl,--wrap=malloc,
    --wrap=calloc, --wrap=realloc and --wrap=strdup (tests/meson.build: alloc_fail_args). */
#ifndef MAILBUS_ALLOC_FAIL_H
#define MAILBUS_ALLOC_FAIL_H

#include <stddef.h>

extern size_t alloc_fail_malloc_of; /* a malloc of this many octets fails; 0: none */
extern int alloc_fail_callocs;      /* the next n callocs fail */
extern int alloc_fail_reallocs;     /* the next n reallocs fail */
extern int alloc_fail_strdups;      /* the next n strdups fail */

#endif
