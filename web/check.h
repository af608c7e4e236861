/*  check.h — the small parsers of what a browser sends that mailbus-web reads itself (the
    rest, form and cookie syntax, is libmicrohttpd's): a message id, a part number, a session
    token, a header value. Pure functions: unit-tested and fuzzed (fuzz_web). */
#ifndef MAILBUS_WEB_CHECK_H
#define MAILBUS_WEB_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A session token or CSRF token: 32 random octets as 64 lower-case hex digits */
#define CHECK_TOKEN_HEX 64

/* A decimal number 0..max written plainly (no sign, no space, no leading zero but "0"):
   0 with *value, -1 otherwise (NULL, empty, too large, any other character) */
int check_number (const char *text, int64_t max, int64_t *value);

/* True when text is exactly CHECK_TOKEN_HEX lower-case hex digits */
bool check_token (const char *text);

/* A list of recipients as typed in the compose form ("a@x, b@y; c@z"): split at commas,
   semicolons and white space into at most max words of at most MAX_ADDRESS octets each,
   written into out[] as pointers into copy (caller frees *copy). Returns the count, or -1
   when there are more than max or one is too long, CHECK_NO_MEMORY when memory ran out. */
#define CHECK_NO_MEMORY -2
int check_recipients (const char *text, char **copy, const char **out, int max);

/* "HOST:PORT" or "[V6]:PORT" of --listen into host (size octets) and port: 0 or -1 */
int check_listen (const char *text, char *host, size_t size, int *port);

/* A file name safe for Content-Disposition, a download and a temporary file: the last path
   component of name without control characters, quotes, backslashes, separators or ':'
   (at most size - 1 octets); "part-N" (N = index) when nothing is left or it is . or .. */
void check_filename (const char *name, int index, char *out, size_t size);

#endif
