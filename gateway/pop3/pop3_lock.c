/*  pop3_lock.c — a mutex-protected set of locked mailbox addresses. */
#include "pop3_lock.h"

#include <assert.h>
#include <czmq.h>
#include <pthread.h>

static pthread_mutex_t s_mutex = PTHREAD_MUTEX_INITIALIZER;
/* address -> (void *) 1; created on first use, destroyed when it empties again */
static zhash_t *s_locked = NULL;

bool
pop3_lock_acquire (const char *mailbox)
{
    assert (mailbox && *mailbox);
    pthread_mutex_lock (&s_mutex);
    if (!s_locked)
        s_locked = zhash_new ();
    /* zhash_insert refuses a key that is present: that is the lock */
    bool taken = s_locked && zhash_insert (s_locked, mailbox, (void *)1) == 0;
    pthread_mutex_unlock (&s_mutex);
    return taken;
}

void
pop3_lock_release (const char *mailbox)
{
    assert (mailbox);
    pthread_mutex_lock (&s_mutex);
    if (s_locked) {
        zhash_delete (s_locked, mailbox);
        if (zhash_size (s_locked) == 0)
            zhash_destroy (&s_locked);
    }
    pthread_mutex_unlock (&s_mutex);
}

size_t
pop3_lock_count (void)
{
    pthread_mutex_lock (&s_mutex);
    size_t count = s_locked ? zhash_size (s_locked) : 0;
    pthread_mutex_unlock (&s_mutex);
    return count;
}
