/*  watch.c — live notifications with heartbeats, flow control and reconnection. */
#include "watch.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"
#include "mb_limits.h"
#include "proto.h"
#include "reply.h"

/* A heartbeat every 2 s keeps the session (the broker drops a silent watcher after
   WATCH_IDLE_MSEC); a broker that does not answer one within 5 s is taken for gone */
#define HEARTBEAT_MSEC 2000
#define ANSWER_MSEC 5000
/* LIST of a full mailbox may take longer than a NOOP */
#define LIST_MSEC 10000
/* HELO while reconnecting: short, so that the backoff loop goes round */
#define HELLO_MSEC 3000
#define BACKOFF_MIN_MSEC 100
#define BACKOFF_MAX_MSEC 1000

typedef enum { WATCH_OK = 0, WATCH_LOST = -1, WATCH_FATAL = -2 } watch_rc_t;

typedef struct {
    client_t *client;
    int64_t last_id;   /* the highest id printed, or the highest there when watching began */
    int window;        /* pushes WATCH allows before credit comes back */
    int shown;         /* pushes handled since the last CREDIT */
    bool catching_up;  /* while LIST runs, pushes wait in deferred */
    zlist_t *deferred; /* zmsg_t pushes, frames after "*" */
    bool ended;        /* the broker said END: check the session now, not at the next beat */
} watch_t;

static volatile sig_atomic_t s_stop = 0;

static void
s_signal_stop (int signum)
{
    (void)signum;
    s_stop = 1;
}

/* No SA_RESTART: a signal interrupts zmq_poll, so the loop sees s_stop at once */
static void
s_catch_signals (void)
{
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_signal_stop;
    sigemptyset (&action.sa_mask);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGTERM, &action, NULL);
}

static void
s_print_quoted (const char *text)
{
    char *shown = listing_display_text (text);
    putchar ('"');
    for (const char *p = shown; *p; p++) {
        if (*p == '"' || *p == '\\')
            putchar ('\\');
        putchar (*p);
    }
    putchar ('"');
    free (shown);
}

/* One line per message, flushed at once: a test reads it through a pipe. A live push is
   always shown: the broker sends each delivery once per connection. What a catch-up LIST
   brings, and the pushes held back meanwhile, are shown only above the highest id shown,
   as a push and the LIST may both bring the same message. */
static void
s_print_message (watch_t *self, bool live, int64_t id, const char *size, const char *sender,
                 const char *subject)
{
    if (!live && id <= self->last_id)
        return;
    char *from = listing_display_text (sender);
    printf ("NEW id=%" PRId64 " from=%s size=%s subject=", id, from, size);
    s_print_quoted (subject);
    putchar ('\n');
    fflush (stdout);
    free (from);
    if (id > self->last_id)
        self->last_id = id;
}

/* push: "NEW" mailbox id size sender subject */
static void
s_print_push (watch_t *self, bool live, zmsg_t *push)
{
    char *event = zmsg_popstr (push);
    if (event && strcmp (event, "NEW") == 0 && zmsg_size (push) >= 5) {
        char *mailbox = zmsg_popstr (push);
        char *id = zmsg_popstr (push);
        char *size = zmsg_popstr (push);
        char *sender = zmsg_popstr (push);
        char *subject = zmsg_popstr (push);
        char *end = NULL;
        long long value = strtoll (id, &end, 10);
        if (end && end != id && !*end)
            s_print_message (self, live, value, size, sender, subject);
        free (mailbox);
        free (id);
        free (size);
        free (sender);
        free (subject);
    }
    else if (event && strcmp (event, "END") == 0) {
        /* the broker ended the session (mailbox deleted, password or key changed): say why;
           the next request finds out whether identifying again still works */
        char *line = zmsg_popstr (push);
        fprintf (stderr, "mailbus-sub: the broker ended this session: %s\n", line ? line : "");
        free (line);
        self->ended = true;
    }
    free (event);
}

static void
s_take_push (watch_t *self, zmsg_t *push)
{
    self->shown++;
    if (self->catching_up)
        zlist_append (self->deferred, push);
    else {
        s_print_push (self, true, push);
        zmsg_destroy (&push);
    }
}

/* Sends a request and waits for its answer, handling the pushes that arrive meanwhile;
   answers to earlier requests that timed out are dropped. NULL on timeout or signal. */
static zmsg_t *
s_call (watch_t *self, const char *verb, const char *arg, int timeout_ms)
{
    zmsg_t *args = NULL;
    if (arg) {
        args = zmsg_new ();
        zmsg_addstr (args, arg);
    }
    char id[MAX_REQUEST_ID + 1];
    if (client_send (self->client, verb, args, id, sizeof id) != 0)
        return NULL;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!s_stop) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        zmsg_t *msg = client_recv (self->client, (int)left);
        if (!msg)
            continue; /* a signal, or the end of the wait: the loop tells which */
        char *rid = zmsg_popstr (msg);
        if (rid && strcmp (rid, PROTO_PUSH_ID) == 0)
            s_take_push (self, msg);
        else if (rid && strcmp (rid, id) == 0) {
            free (rid);
            return msg;
        }
        else
            zmsg_destroy (&msg);
        free (rid);
    }
    return NULL;
}

static int
s_code (zmsg_t *reply, char *line, size_t size)
{
    int code = 0;
    if (proto_reply_status (reply, &code, line, size) != 0)
        return 0;
    return code;
}

/* WATCH; *highest gets the highest delivery id in the mailbox now */
static watch_rc_t
s_watch (watch_t *self, int64_t *highest)
{
    char window[16];
    snprintf (window, sizeof window, "%d", self->window);
    zmsg_t *reply = s_call (self, "WATCH", window, ANSWER_MSEC);
    if (!reply)
        return WATCH_LOST;
    char line[1025] = "";
    int code = s_code (reply, line, sizeof line);
    watch_rc_t rc = WATCH_OK;
    if (reply_is_success (code)) {
        zmsg_first (reply);
        zframe_t *frame = zmsg_next (reply);
        char *text = frame ? zframe_strdup (frame) : NULL;
        *highest = text ? strtoll (text, NULL, 10) : 0;
        free (text);
    }
    else {
        /* 530: forgotten; 4xx: try later; another 5xx: it will not work however often we ask */
        if (code != 530 && !reply_is_transient (code)) {
            fprintf (stderr, "%s\n", *line ? line : "mailbus-sub: malformed reply to WATCH");
            rc = WATCH_FATAL;
        }
        else
            rc = WATCH_LOST;
    }
    zmsg_destroy (&reply);
    return rc;
}

/* LIST and print what arrived that was not printed yet, then the pushes that came meanwhile.
   unread: when watching starts, the messages nobody has read yet (state new), whatever
   their id, as a mail client opens on the unread mail; afterwards (a reconnection, a
   missed push) every message above the highest id printed, read or not. */
static watch_rc_t
s_catch_up (watch_t *self, bool unread)
{
    self->catching_up = true;
    zmsg_t *reply = s_call (self, "LIST", NULL, LIST_MSEC);
    self->catching_up = false;
    watch_rc_t rc = WATCH_LOST;
    if (reply && reply_is_success (s_code (reply, NULL, 0))) {
        /* LIST is oldest first, so the lines come in delivery order */
        int64_t base = self->last_id;
        zmsg_first (reply);
        for (zframe_t *frame = zmsg_next (reply); frame; frame = zmsg_next (reply)) {
            listing_entry_t entry;
            if (listing_parse_line ((const char *)zframe_data (frame), zframe_size (frame), &entry) != 0)
                continue;
            if (unread ? !entry.seen : entry.id > base) {
                char size[32];
                snprintf (size, sizeof size, "%" PRId64, entry.size);
                s_print_message (self, unread, entry.id, size, entry.sender, entry.subject);
            }
            free (entry.sender);
            free (entry.subject);
        }
        rc = WATCH_OK;
    }
    zmsg_destroy (&reply);
    zmsg_t *push;
    while ((push = zlist_pop (self->deferred))) {
        s_print_push (self, false, push);
        zmsg_destroy (&push);
    }
    return rc;
}

/* WATCH answered for the first time: say so (tests wait for this line), then show the
   unread mail; from here on, only what is above the highest id there was */
static watch_rc_t
s_started (watch_t *self, int64_t highest)
{
    printf ("watching %s\n", client_user (self->client));
    fflush (stdout);
    self->last_id = highest;
    return s_catch_up (self, true);
}

/* Until it works (or a signal): connect anew, identify, WATCH, catch up. When watching
   never started (the broker did not answer the first WATCH), it starts now instead. */
static watch_rc_t
s_reconnect (watch_t *self)
{
    int backoff = BACKOFF_MIN_MSEC;
    while (!s_stop) {
        char *error = NULL;
        client_set_timeout (self->client, HELLO_MSEC);
        if (client_reconnect (self->client, &error) == 0) {
            int64_t highest = 0;
            /* pushes may come the moment WATCH is answered: they wait for the LIST */
            self->catching_up = true;
            watch_rc_t rc = s_watch (self, &highest);
            if (rc == WATCH_OK && self->last_id < 0)
                rc = s_started (self, highest);
            else if (rc == WATCH_OK) {
                printf ("reconnected\n");
                fflush (stdout);
                self->shown = 0;
                rc = s_catch_up (self, false);
            }
            if (rc != WATCH_LOST)
                return rc;
        }
        else {
            int code = 0;
            /* 535: the password no longer works, asking again will not help */
            if (error && reply_parse (error, &code, NULL) == 0 && code >= 500 && code != 530) {
                fprintf (stderr, "mailbus-sub: %s\n", error);
                free (error);
                return WATCH_FATAL;
            }
            free (error);
        }
        for (int slept = 0; slept < backoff && !s_stop; slept += 50)
            zclock_sleep (50);
        backoff = backoff * 2 > BACKOFF_MAX_MSEC ? BACKOFF_MAX_MSEC : backoff * 2;
    }
    return WATCH_OK;
}

/* NOOP proves the broker answers; CREDIT returns the credit the pushes used and proves the
   broker still knows this session as a watcher (it answers 530 after a restart, which NOOP
   does not, as NOOP needs no session), and tells how many pushes were missed */
static watch_rc_t
s_heartbeat (watch_t *self)
{
    zmsg_t *reply = s_call (self, "NOOP", NULL, ANSWER_MSEC);
    int code = reply ? s_code (reply, NULL, 0) : 0;
    zmsg_destroy (&reply);
    if (!reply_is_success (code))
        return WATCH_LOST;

    char credit[16];
    int n = self->shown < 1 ? 1 : self->shown > MAX_WATCH_WINDOW ? MAX_WATCH_WINDOW : self->shown;
    snprintf (credit, sizeof credit, "%d", n);
    reply = s_call (self, "CREDIT", credit, ANSWER_MSEC);
    if (!reply)
        return WATCH_LOST;
    self->shown = 0;
    code = s_code (reply, NULL, 0);
    watch_rc_t rc = WATCH_OK;
    if (reply_is_success (code)) {
        zmsg_first (reply);
        zframe_t *frame = zmsg_next (reply);
        char *missed = frame ? zframe_strdup (frame) : NULL;
        if (missed && strtoll (missed, NULL, 10) > 0)
            rc = s_catch_up (self, false);
        free (missed);
    }
    else if (code == 503) {
        /* the session is known but no longer watching: watch again, and look what came */
        int64_t highest = 0;
        self->catching_up = true;
        rc = s_watch (self, &highest);
        if (rc == WATCH_OK)
            rc = s_catch_up (self, false);
    }
    else
        rc = WATCH_LOST; /* 530: the broker forgot us (it restarted) */
    zmsg_destroy (&reply);
    return rc;
}

int
watch_run (client_t *client, int window)
{
    s_catch_signals ();
    /* last_id -1: "watching" not printed yet */
    watch_t self = {.client = client,
                    .window = window > 0 ? window : WATCH_WINDOW,
                    .last_id = -1,
                    .deferred = zlist_new ()};
    int64_t highest = 0;
    self.catching_up = true;
    watch_rc_t rc = s_watch (&self, &highest);
    if (rc == WATCH_OK)
        rc = s_started (&self, highest);
    if (rc == WATCH_LOST)
        rc = s_reconnect (&self);
    if (rc == WATCH_FATAL) {
        zmsg_t *push;
        while ((push = zlist_pop (self.deferred)))
            zmsg_destroy (&push);
        zlist_destroy (&self.deferred);
        return 1;
    }

    int64_t next_beat = zclock_mono () + HEARTBEAT_MSEC;
    while (!s_stop && rc != WATCH_FATAL) {
        int64_t left = next_beat - zclock_mono ();
        if (left > 0) {
            zmsg_t *msg = client_recv (client, (int)left);
            if (msg) {
                char *rid = zmsg_popstr (msg);
                if (rid && strcmp (rid, PROTO_PUSH_ID) == 0)
                    s_take_push (&self, msg);
                else
                    zmsg_destroy (&msg); /* an answer that came too late */
                free (rid);
            }
            /* return credit before the window runs dry, not only at the heartbeat */
            if (self.shown < (self.window + 1) / 2 && !self.ended)
                continue;
            self.ended = false;
        }
        rc = s_heartbeat (&self);
        if (rc == WATCH_LOST && !s_stop)
            rc = s_reconnect (&self);
        next_beat = zclock_mono () + HEARTBEAT_MSEC;
    }
    zmsg_t *push;
    while ((push = zlist_pop (self.deferred)))
        zmsg_destroy (&push);
    zlist_destroy (&self.deferred);
    return rc == WATCH_FATAL ? 1 : 0;
}
