/*  log.c — event logging. */
#include <stddef.h>

#include "log.h"
#include "text.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static log_level_t s_level = LOGLEVEL_INFO;
static const char *s_names[] = {"debug", "info", "warn", "error"};

void
log_init (void)
{
    const char *env = getenv ("MAILBUS_LOG");
    if (!env)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp (env, s_names[i]) == 0)
            s_level = (log_level_t)i;
}

void
log_set_level (log_level_t level)
{
    s_level = level;
}

void
log_event (log_level_t level, const char *component, const char *event, const char *format, ...)
{
    if (level < s_level)
        return;
    char line[2048];
    struct timeval tv;
    gettimeofday (&tv, NULL);
    struct tm tm;
    gmtime_r (&tv.tv_sec, &tm);
    size_t n = strftime (line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n = text_appendf (line, sizeof line, n, ".%03dZ %s %s %s", (int)(tv.tv_usec / 1000), s_names[level],
                      component, event);
    if (format && *format && n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start (ap, format);
        int k = vsnprintf (line + n, sizeof line - n, format, ap);
        va_end (ap);
        if (k > 0)
            n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    }
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    fwrite (line, 1, n, stderr);
}

const char *
log_quote (char *buf, size_t size, const void *data, size_t len)
{
    const unsigned char *p = data;
    /* room kept at the end: the longest escape (4), ".." (2), the closing quote and the NUL */
    const size_t tail = 8;
    size_t o = 0, i = 0;
    if (size < tail + 2)
        return "";
    buf[o++] = '"';
    for (; i < len && o + tail < size; i++) {
        unsigned char c = p[i];
        if (c == '\r' || c == '\n' || c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = c == '\r' ? 'r' : c == '\n' ? 'n' : (char)c;
        }
        else if (c < 0x20 || c >= 0x7f)
            o = text_appendf (buf, size, o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (i < len) {
        buf[o++] = '.';
        buf[o++] = '.';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static pthread_mutex_t s_limit_lock = PTHREAD_MUTEX_INITIALIZER;

bool
log_limit_pass_at (log_limit_t *self, int64_t second, uint64_t *suppressed)
{
    pthread_mutex_lock (&s_limit_lock);
    if (second != self->second) {
        self->second = second;
        self->written = 0;
    }
    bool pass = self->written < self->per_second;
    *suppressed = 0;
    if (pass) {
        self->written++;
        *suppressed = self->suppressed;
        self->suppressed = 0;
    }
    else
        self->suppressed++;
    pthread_mutex_unlock (&s_limit_lock);
    return pass;
}

bool
log_limit_pass (log_limit_t *self, uint64_t *suppressed)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return log_limit_pass_at (self, (int64_t)now.tv_sec, suppressed);
}
