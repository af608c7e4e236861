/*  log.h — one line per event, greppable: "TIME level component event key=value ...".
    Lines go to stderr; MAILBUS_LOG=debug|info|warn|error sets the threshold. */
#ifndef MAILBUS_LOG_H
#define MAILBUS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LOGLEVEL_DEBUG = 0, LOGLEVEL_INFO, LOGLEVEL_WARN, LOGLEVEL_ERROR } log_level_t;

/* Reads MAILBUS_LOG; safe to call more than once */
void log_init (void);
void log_set_level (log_level_t level);

/* component and event are single words; format gives the key=value part (may be NULL) */
void log_event (log_level_t level, const char *component, const char *event, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

#define log_debug(c, e, ...) log_event (LOGLEVEL_DEBUG, c, e, __VA_ARGS__)
#define log_info(c, e, ...) log_event (LOGLEVEL_INFO, c, e, __VA_ARGS__)
#define log_warn(c, e, ...) log_event (LOGLEVEL_WARN, c, e, __VA_ARGS__)
#define log_error(c, e, ...) log_event (LOGLEVEL_ERROR, c, e, __VA_ARGS__)

/* A bound on the lines one kind of event may write, so that a flood (a login storm answered
   421, a client sending junk as fast as it can) cannot fill the disk with the same line:
   at most per_second lines in each second; beyond that lines are counted instead of written,
   and the next line written says how many were left out (suppressed=N). Thread-safe. */
typedef struct {
    int per_second;
    int64_t second;      /* the monotonic second being counted */
    int written;         /* lines written in it */
    uint64_t suppressed; /* lines left out since the last one written */
} log_limit_t;

#define LOG_LIMIT(n) ((log_limit_t){(n), -1, 0, 0})

/* Whether a line may be written now; when it may, *suppressed gets how many were left out
   before it (0 when none) */
bool log_limit_pass (log_limit_t *self, uint64_t *suppressed);
/* The same at a given monotonic second (for the tests) */
bool log_limit_pass_at (log_limit_t *self, int64_t second, uint64_t *suppressed);

/* Writes up to max bytes of data into buf as a printable, quoted log value ("a\r\n" -> "a\\r\\n") */
const char *log_quote (char *buf, size_t size, const void *data, size_t len);

#endif
