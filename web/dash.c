/*  dash.c — see dash.h */
#include "dash.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sse.h"

typedef struct {
    uint64_t seq;
    const char *type; /* "delivery", "counters", "status" */
    char *data;       /* one line of JSON */
} event_t;

struct feed_t {
    web_t *web;
    char *uri;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    volatile bool stop;
    bool db_ok;
    event_t ring[FEED_RING];
    uint64_t seq;                /* the last event's number */
    char *history[FEED_HISTORY]; /* JSON samples, oldest first */
    size_t history_len;
    /* the feed thread's own */
    sqlite3 *db;
    int64_t last_delivery, last_messages, last_deliveries, last_waiting;
    bool counted;
};

/* file:PATH?mode=ro: SQLite never writes; the URI form needs the path's % ? # escaped */
static char *
s_uri (const char *path)
{
    json_t uri;
    json_init (&uri);
    json_raw (&uri, "file:");
    for (const char *p = path; *p; p++)
        if (strchr ("%?#", *p))
            json_printf (&uri, "%%%02X", (unsigned char)*p);
        else
            json_printf (&uri, "%c", *p);
    json_raw (&uri, "?mode=ro");
    return json_take (&uri, NULL);
}

static sqlite3 *
s_open (const char *uri)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        sqlite3_close (db);
        return NULL;
    }
    sqlite3_busy_timeout (db, 1000);
    /* a database the broker has not made yet has no tables: not ready */
    if (sqlite3_exec (db, "SELECT 1 FROM deliveries LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close (db);
        return NULL;
    }
    return db;
}

/* The rows of sql as a JSON array of objects keyed by column name. 0 or -1. */
static int
s_rows (sqlite3 *db, const char *sql, json_t *out)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    json_raw (out, "[");
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        json_comma (out);
        json_raw (out, "{");
        for (int i = 0; i < sqlite3_column_count (stmt); i++) {
            const char *name = sqlite3_column_name (stmt, i);
            if (sqlite3_column_type (stmt, i) == SQLITE_INTEGER)
                json_int (out, name, sqlite3_column_int64 (stmt, i));
            else if (sqlite3_column_type (stmt, i) == SQLITE_NULL)
                json_kstr (out, name, NULL);
            else {
                json_key (out, name);
                json_strn (out, (const char *)sqlite3_column_text (stmt, i),
                           (size_t)sqlite3_column_bytes (stmt, i));
            }
        }
        json_raw (out, "}");
    }
    json_raw (out, "]");
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Adds an event to the ring and wakes the streams (the lock is held) */
static void
s_publish (feed_t *self, const char *type, char *data)
{
    event_t *slot = &self->ring[++self->seq % FEED_RING];
    free (slot->data);
    *slot = (event_t){self->seq, type, data};
    pthread_cond_broadcast (&self->changed);
}

static void
s_set_db_ok (feed_t *self, bool ok)
{
    if (self->db_ok == ok)
        return;
    char *status = strdup (ok ? "{\"db\":\"ok\"}" : "{\"db\":\"down\"}");
    pthread_mutex_lock (&self->lock);
    self->db_ok = ok;
    if (status) /* short of memory: the viewers miss this one, the next poll says it again */
        s_publish (self, "status", status);
    pthread_mutex_unlock (&self->lock);
    log_info ("web", ok ? "db-open" : "db-down", NULL);
}

static int64_t
s_number (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        n = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return n;
}

#define DELIVERY_SQL                                                                                         \
    "SELECT d.id, mb.address, m.sender, m.subject, m.size, d.delivered_at"                                   \
    "  FROM deliveries d JOIN mailboxes mb ON mb.id = d.mailbox_id JOIN messages m ON m.id = d.message_id"   \
    " WHERE d.id > ? ORDER BY d.id LIMIT ?"

/* Up to FEED_BATCH new deliveries since the last poll, one event each: how many, or -1 (the
   database failed) */
static int
s_poll_batch (feed_t *self)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, DELIVERY_SQL, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64 (stmt, 1, self->last_delivery);
    sqlite3_bind_int (stmt, 2, FEED_BATCH);
    int rc, count = 0;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        count++;
        json_t e;
        json_init (&e);
        json_raw (&e, "{");
        self->last_delivery = sqlite3_column_int64 (stmt, 0);
        json_int (&e, "id", self->last_delivery);
        json_kstr (&e, "to", (const char *)sqlite3_column_text (stmt, 1));
        json_kstr (&e, "from", (const char *)sqlite3_column_text (stmt, 2));
        json_kstr (&e, "subject", (const char *)sqlite3_column_text (stmt, 3));
        json_int (&e, "size", sqlite3_column_int64 (stmt, 4));
        json_int (&e, "at", sqlite3_column_int64 (stmt, 5));
        json_raw (&e, "}");
        pthread_mutex_lock (&self->lock);
        s_publish (self, "delivery", json_take (&e, NULL));
        pthread_mutex_unlock (&self->lock);
    }
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? count : -1;
}

/* The new deliveries, batch after batch (each its own short read) while a batch comes full,
   so the feed keeps up with a publish benchmark. 0 or -1 */
static int
s_poll_deliveries (feed_t *self)
{
    for (int i = 0; i < FEED_BATCHES; i++) {
        int count = s_poll_batch (self);
        if (count < FEED_BATCH)
            return count < 0 ? -1 : 0;
    }
    return 0;
}

/* One sample a second: published, delivered and drained in that second (from the id
   sequences the broker writes back each transaction, and the mailboxes' counters) */
static int
s_poll_counters (feed_t *self)
{
    int64_t messages = s_number (self->db, "SELECT next FROM sequences WHERE name = 'messages'");
    int64_t deliveries = s_number (self->db, "SELECT next FROM sequences WHERE name = 'deliveries'");
    int64_t waiting = s_number (self->db, "SELECT coalesce(sum(message_count), 0) FROM mailboxes");
    if (messages < 0 || deliveries < 0 || waiting < 0)
        return -1;
    if (self->counted) {
        int64_t delivered = deliveries - self->last_deliveries;
        int64_t drained = delivered - (waiting - self->last_waiting);
        char *sample = NULL;
        if (asprintf (&sample,
                      "{\"t\":%lld,\"published\":%lld,\"delivered\":%lld,\"drained\":%lld,\"waiting\":%lld}",
                      (long long)time (NULL), (long long)(messages - self->last_messages),
                      (long long)delivered, (long long)(drained < 0 ? 0 : drained), (long long)waiting) < 0)
            return -1;
        char *kept = strdup (sample); /* NULL: the history misses this one, the stream has it */
        pthread_mutex_lock (&self->lock);
        if (kept && self->history_len == FEED_HISTORY) {
            free (self->history[0]);
            memmove (self->history, self->history + 1, (FEED_HISTORY - 1) * sizeof (char *));
            self->history_len--;
        }
        if (kept)
            self->history[self->history_len++] = kept;
        s_publish (self, "counters", sample);
        pthread_mutex_unlock (&self->lock);
    }
    self->last_messages = messages, self->last_deliveries = deliveries, self->last_waiting = waiting;
    self->counted = true;
    return 0;
}

/* (Re)opens the database; the first time, the feed starts after the deliveries already there */
static bool
s_ensure_db (feed_t *self)
{
    if (self->db)
        return true;
    self->db = s_open (self->uri);
    if (!self->db)
        return false;
    if (self->last_delivery == 0)
        self->last_delivery = s_number (self->db, "SELECT coalesce(max(id), 0) FROM deliveries");
    self->counted = false;
    return true;
}

static void *
s_feed_thread (void *arg)
{
    feed_t *self = arg;
    for (unsigned tick = 0; !self->stop; tick++) {
        if (s_ensure_db (self)) {
            bool second = tick % (1000 / FEED_POLL_MS) == 0;
            int rc = s_poll_deliveries (self);
            if (rc == 0 && second)
                rc = s_poll_counters (self);
            if (rc != 0) {
                sqlite3_close (self->db);
                self->db = NULL;
            }
        }
        s_set_db_ok (self, self->db != NULL);
        usleep (FEED_POLL_MS * 1000);
    }
    sqlite3_close (self->db);
    return NULL;
}

feed_t *
feed_new (const char *path, web_t *web)
{
    feed_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->web = web;
    self->uri = s_uri (path);
    self->db_ok = true; /* the first failure is then announced */
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    if (pthread_create (&self->thread, NULL, s_feed_thread, self) != 0)
        abort ();
    return self;
}

void
feed_destroy (feed_t **self_p)
{
    feed_t *self = *self_p;
    if (!self)
        return;
    self->stop = true;
    pthread_join (self->thread, NULL);
    for (size_t i = 0; i < FEED_RING; i++)
        free (self->ring[i].data);
    for (size_t i = 0; i < self->history_len; i++)
        free (self->history[i]);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self->uri);
    free (self);
    *self_p = NULL;
}

/* The snapshot's tables: name, query */
static const char *const s_tables[][2] = {
    {"mailboxes", "SELECT mailbox AS address, waiting, bytes, coalesce(oldest, '') AS oldest FROM queue"},
    {"lists", "SELECT l.address AS list, CASE l.open WHEN 1 THEN 'open' ELSE 'closed' END AS kind, l.posting,"
              " (SELECT count(*) FROM subscriptions s WHERE s.list_id = l.id) AS count"
              " FROM lists l ORDER BY l.address"},
    {"members", "SELECT list, member, filter FROM members"},
    {"outbound", "SELECT id, sender, recipient, state, attempts, next_attempt, last_error, size"
                 " FROM outbound_queue"},
    {"leases", "SELECT mailbox, id, consumer, until FROM leases"
               " WHERE until > datetime('now') ORDER BY mailbox, id"},
};

/* The tables in one short read transaction (a consistent picture; the WAL is not pinned) */
static int
s_snapshot_tables (sqlite3 *db, json_t *out)
{
    if (sqlite3_exec (db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof s_tables / sizeof s_tables[0]; i++) {
        json_key (out, s_tables[i][0]);
        rc = s_rows (db, s_tables[i][1], out);
    }
    sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* The chart's samples and the latest deliveries from the ring */
static void
s_snapshot_feed (feed_t *feed, json_t *out)
{
    pthread_mutex_lock (&feed->lock);
    json_key (out, "history");
    json_raw (out, "[");
    for (size_t i = 0; i < feed->history_len; i++) {
        json_comma (out);
        json_raw (out, feed->history[i]);
    }
    json_raw (out, "]");
    json_key (out, "recent");
    json_raw (out, "[");
    int shown = 0;
    for (uint64_t seq = feed->seq; seq > 0 && feed->seq - seq < FEED_RING && shown < 20; seq--) {
        event_t *e = &feed->ring[seq % FEED_RING];
        if (e->seq == seq && strcmp (e->type, "delivery") == 0) {
            json_comma (out);
            json_raw (out, e->data);
            shown++;
        }
    }
    json_raw (out, "]");
    json_int (out, "seq", (int64_t)feed->seq);
    pthread_mutex_unlock (&feed->lock);
}

enum MHD_Result
dash_snapshot (request_t *req)
{
    feed_t *feed = req->web->feed;
    sqlite3 *db = s_open (feed->uri);
    if (!db)
        return web_error (req, 503, "the database cannot be read now (is the broker running?)");
    json_t out;
    json_init (&out);
    json_raw (&out, "{");
    int rc = s_snapshot_tables (db, &out);
    sqlite3_close (db);
    if (rc != 0) {
        json_free (&out);
        return web_error (req, 503, "the database cannot be read now");
    }
    s_snapshot_feed (feed, &out);
    json_raw (&out, "}");
    return web_json (req, 200, &out);
}

typedef struct {
    feed_t *feed;
    uint64_t cursor;
} viewer_t;

static int
s_produce (void *state, json_t *out)
{
    viewer_t *v = state;
    feed_t *feed = v->feed;
    pthread_mutex_lock (&feed->lock);
    if (feed->seq == v->cursor) {
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait (&feed->changed, &feed->lock, &until);
    }
    if (feed->seq - v->cursor > FEED_RING) {
        sse_event (out, "resync", "{}"); /* too slow a reader: start again from the snapshot */
        v->cursor = feed->seq;
    }
    for (; v->cursor < feed->seq; v->cursor++) {
        event_t *e = &feed->ring[(v->cursor + 1) % FEED_RING];
        sse_event (out, e->type, e->data);
    }
    pthread_mutex_unlock (&feed->lock);
    return 0;
}

enum MHD_Result
dash_events (request_t *req)
{
    viewer_t *v = calloc (1, sizeof *v);
    if (!v)
        return web_no_memory (req);
    v->feed = req->web->feed;
    pthread_mutex_lock (&v->feed->lock);
    v->cursor = v->feed->seq;
    pthread_mutex_unlock (&v->feed->lock);
    return web_queue (req, 200, sse_response (req->web, s_produce, v, free));
}
