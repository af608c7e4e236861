/*  text.h — text built piece by piece into a fixed buffer: snprintf whose count is clamped,
    so a long piece truncates the text instead of moving the write position past the end
    (the EHLO reply overflow of issue 11). One helper for every folder. */
#ifndef MAILBUS_TEXT_H
#define MAILBUS_TEXT_H

#include <stddef.h>

/* Appends to buf (size bytes, used already written, NUL-terminated) and returns the new
   used: at most size - 1, whatever the format gave. Safe when the buffer is already full. */
size_t text_appendf (char *buf, size_t size, size_t used, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

/* words[0..n-1] joined with single spaces (an id list of the batched verbs), a new string the
   caller frees; NULL when out of memory */
char *text_join (char *const *words, size_t n);

/* RFC 3629: the length (1..4) of the valid UTF-8 sequence at p (left octets there), or 0 when
   it is not one (overlong forms, surrogates and beyond U+10FFFF included) */
size_t text_utf8_length (const unsigned char *p, size_t left);

#endif
