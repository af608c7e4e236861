/*  slow_fsync.c — an LD_PRELOAD library for tests/stress/run.sh: every fsync and fdatasync
    of the processes it is loaded into waits MAILBUS_SLOW_FSYNC_MS (default 5) first, as a
    slow CI disk would. Never linked into mailbus. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void
s_wait (void)
{
    const char *text = getenv ("MAILBUS_SLOW_FSYNC_MS");
    long ms = text ? atol (text) : 5;
    struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep (&pause, NULL);
}

int
fsync (int fd)
{
    static int (*real) (int);
    if (!real)
        *(void **)&real = dlsym (RTLD_NEXT, "fsync");
    s_wait ();
    return real (fd);
}

int
fdatasync (int fd)
{
    static int (*real) (int);
    if (!real)
        *(void **)&real = dlsym (RTLD_NEXT, "fdatasync");
    s_wait ();
    return real (fd);
}
