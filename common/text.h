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

#endif
