/*  alloc_fail.c — see alloc_fail.h */
#include "alloc_fail.h"

void *__real_malloc (size_t size);
void *__real_calloc (size_t count, size_t size);
void *__real_realloc (void *ptr, size_t size);
char *__real_strdup (const char *text);
void *__wrap_malloc (size_t size);
void *__wrap_calloc (size_t count, size_t size);
void *__wrap_realloc (void *ptr, size_t size);
char *__wrap_strdup (const char *text);

size_t alloc_fail_malloc_of;
int alloc_fail_callocs, alloc_fail_reallocs, alloc_fail_strdups;

void *
__wrap_malloc (size_t size)
{
    return alloc_fail_malloc_of && size == alloc_fail_malloc_of ? NULL : __real_malloc (size);
}

void *
__wrap_calloc (size_t count, size_t size)
{
    return alloc_fail_callocs > 0 && alloc_fail_callocs-- ? NULL : __real_calloc (count, size);
}

void *
__wrap_realloc (void *ptr, size_t size)
{
    return alloc_fail_reallocs > 0 && alloc_fail_reallocs-- ? NULL : __real_realloc (ptr, size);
}

char *
__wrap_strdup (const char *text)
{
    return alloc_fail_strdups > 0 && alloc_fail_strdups-- ? NULL : __real_strdup (text);
}
