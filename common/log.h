/*  log.h — one line per event, greppable: "TIME level component event key=value ...".
    Lines go to stderr; MAILBUS_LOG=debug|info|warn|error sets the threshold. */
#ifndef MAILBUS_LOG_H
#define MAILBUS_LOG_H

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

/* Writes up to max bytes of data into buf as a printable, quoted log value ("a\r\n" -> "a\\r\\n") */
const char *log_quote (char *buf, size_t size, const void *data, size_t len);

#endif
