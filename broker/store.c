/*  store.c — the SQLite store. */
#include "store.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "schema_sql.h"

/* PRAGMA application_id of a mailbus database: "MBUS" */
#define STORE_APPLICATION_ID 0x4d425553

enum {
    ST_MAILBOX_FIND,
    ST_MAILBOX_ADD,
    ST_MAILBOX_DELETE,
    ST_MAILBOX_PASSWD,
    ST_MAILBOX_EACH,
    ST_MESSAGE_ADD,
    ST_DELIVER,
    ST_PUBLICATION_FIND,
    ST_PUBLICATION_ADD,
    ST_LIST,
    ST_LAST_ID,
    ST_RETRIEVE,
    ST_MARK_SEEN,
    ST_DELETE,
    ST_LIST_FIND,
    ST_LIST_ADD,
    ST_LIST_DELETE,
    ST_LIST_MEMBERS,
    ST_SUBSCRIBE,
    ST_UNSUBSCRIBE,
    ST_IS_MEMBER,
    ST_ADDRESS_TAKEN,
    ST_COUNTED_ON,
    ST_COUNTED_OFF,
    ST_REMOVE_IDS,
    ST_ACK_IDS,
    ST_BODIES_DROP,
    ST_LEASE_PICK,
    ST_LEASE_TAKE,
    ST_LEASE_ACK,
    ST_LEASE_NACK,
    ST_LEASE_RELEASE,
    ST_LEASE_RELEASE_ALL,
    ST_PURGE_EXPIRED,
    ST_PURGE_COUNT,
    ST_PURGE_AGE,
    ST_PURGE_DUE,
    ST_PUBLICATION_OLDEST,
    ST_PUBLICATION_FORGET,
    ST_RETENTION,
    ST_OUT_ADD,
    ST_OUT_PICK,
    ST_OUT_TAKE,
    ST_OUT_GET,
    ST_OUT_DELETE,
    ST_OUT_RETRY,
    ST_OUT_EACH,
    ST_OUT_FLUSH,
    ST_OUT_RELEASE,
    ST_COUNTERS_ADD,
    ST_RECOUNT,
    ST_SEQ_MESSAGES,
    ST_SEQ_DELIVERIES,
    ST_SEQ_SAVE,
    ST_DATA_VERSION,
    ST_SEQ_MAILBOXES,
    ST_KEY_ADD,
    ST_KEY_DELETE,
    ST_KEY_OWNER,
    ST_KEY_EACH,
    /* folders and flags (schema 011) */
    ST_FOLDER_FIND,
    ST_FOLDER_NAME,
    ST_FOLDER_EACH,
    ST_FOLDER_TOTALS,
    ST_FOLDER_ADD,
    ST_FOLDERS_MADE,
    ST_FOLDER_EMPTY,
    ST_FOLDER_DELETE,
    ST_FOLDER_RENAME,
    ST_FOLDER_SUBSCRIBE,
    ST_FOLDER_RECOUNT,
    ST_SEQ_FOLDERS,
    ST_INBOX_UNSEEN,
    ST_SCAN,
    ST_DELIVERY_GET,
    ST_FLAGS_SET,
    ST_DELIVER_IN,
    ST_EXPUNGE_PICK,
    ST_FOLDER_COUNT_IN,
    ST_DELIVERY_FOLDER,
    ST__COUNT
};

/* What the purge deletes (store_purge), and store_purge_due looks for. Both retention parts
   start from the (few) mailboxes that have a limit and walk only their deliveries, by index:
   they run every second, whatever the store holds. */
#define PURGE_EXPIRED                                                                                        \
    "message_id IN (SELECT id FROM messages WHERE expires_at IS NOT NULL AND expires_at <= unixepoch())"
#define PURGE_OVER_COUNT                                                                                     \
    "SELECT id FROM (SELECT d.id AS id, mb.retention_count AS keep, row_number () OVER (PARTITION BY "       \
    "d.mailbox_id ORDER BY d.id DESC) AS newest FROM mailboxes mb CROSS JOIN deliveries d ON d.mailbox_id "  \
    "= mb.id WHERE mb.retention_count > 0 AND d.folder_id IS NULL) WHERE newest > keep"
#define PURGE_TOO_OLD                                                                                        \
    "SELECT d.id FROM mailboxes mb CROSS JOIN deliveries d ON d.mailbox_id = mb.id WHERE "                   \
    "mb.retention_seconds > 0 AND d.folder_id IS NULL AND d.delivered_at < unixepoch() - "                   \
    "mb.retention_seconds"

static const char *s_sql[ST__COUNT] = {
    [ST_MAILBOX_FIND] = "SELECT id, address, password_hash, quota_bytes, used_bytes, message_count, role "
                        "FROM mailboxes WHERE address = ?1",
    [ST_MAILBOX_ADD] = "INSERT INTO mailboxes (address, password_hash, role, id) VALUES (?1, ?2, ?3, ?4)",
    [ST_MAILBOX_DELETE] = "DELETE FROM mailboxes WHERE address = ?1",
    [ST_MAILBOX_PASSWD] = "UPDATE mailboxes SET password_hash = ?2 WHERE address = ?1",
    [ST_MAILBOX_EACH] = "SELECT id, address, '', quota_bytes, used_bytes, message_count, role "
                        "FROM mailboxes ORDER BY address",
    [ST_MESSAGE_ADD] =
        "INSERT INTO messages (id, sender, message_id, subject, size, body, received_at, expires_at) "
        "VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, nullif(?7, 0))",
    [ST_DELIVER] =
        "INSERT INTO deliveries (id, mailbox_id, message_id, delivered_at) VALUES (?4, ?1, ?2, ?3)",
    /* a record of before schema 9 has no content: it matches any (schema/009) */
    [ST_PUBLICATION_FIND] = "SELECT reply FROM publications WHERE sender = ?1 AND message_id = ?2 "
                            "AND recipient = ?3 AND (content = ?4 OR content IS NULL) LIMIT 1",
    [ST_PUBLICATION_ADD] =
        "INSERT INTO publications (sender, message_id, recipient, content, reply, published_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_PUBLICATION_OLDEST] = "SELECT rowid, published_at FROM publications ORDER BY rowid LIMIT ?1",
    [ST_PUBLICATION_FORGET] = "DELETE FROM publications WHERE rowid <= ?1",
    [ST_LIST] = "SELECT d.id, m.size, d.state, d.delivered_at, m.sender, m.subject "
                "FROM deliveries d JOIN messages m ON m.id = d.message_id "
                "WHERE d.mailbox_id = ?1 AND d.folder_id IS NULL AND d.id > ?2 "
                "AND (m.expires_at IS NULL OR m.expires_at > unixepoch()) ORDER BY d.id LIMIT ?3",
    [ST_LAST_ID] = "SELECT coalesce(max(id), 0) FROM deliveries WHERE mailbox_id = ?1 AND folder_id IS NULL",
    [ST_RETRIEVE] = "SELECT m.body, coalesce(d.folder_id, 0), d.flags, d.state FROM deliveries d "
                    "JOIN messages m ON m.id = d.message_id WHERE d.id = ?2 AND d.mailbox_id = ?1 "
                    "AND (m.expires_at IS NULL OR m.expires_at > unixepoch())",
    [ST_MARK_SEEN] =
        "UPDATE deliveries SET state = 'seen' WHERE id = ?2 AND mailbox_id = ?1 AND state = 'new'",
    /* no RETURNING on these two: it made RETR and DELE many times slower (the bench's drain) */
    [ST_DELETE] = "DELETE FROM deliveries WHERE id = ?2 AND mailbox_id = ?1",
    [ST_LIST_FIND] = "SELECT id, address, open, posting FROM lists WHERE address = ?1",
    [ST_LIST_ADD] = "INSERT INTO lists (address, open, posting) VALUES (?1, ?2, ?3)",
    [ST_LIST_DELETE] = "DELETE FROM lists WHERE address = ?1",
    [ST_LIST_MEMBERS] =
        "SELECT member, coalesce(filter, '') FROM subscriptions WHERE list_id = ?1 ORDER BY member",
    [ST_SUBSCRIBE] = "INSERT INTO subscriptions (list_id, member, filter) VALUES (?1, ?2, nullif(?3, '')) "
                     "ON CONFLICT (list_id, member) DO UPDATE SET filter = excluded.filter",
    [ST_UNSUBSCRIBE] = "DELETE FROM subscriptions WHERE list_id = ?1 AND member = ?2",
    [ST_IS_MEMBER] = "SELECT 1 FROM subscriptions WHERE list_id = ?1 AND member = ?2",
    [ST_LEASE_PICK] = "SELECT d.id, m.body FROM deliveries d JOIN messages m ON m.id = d.message_id "
                      "WHERE d.mailbox_id = ?1 AND d.folder_id IS NULL AND d.lease_until < ?2 "
                      "AND (m.expires_at IS NULL OR m.expires_at > unixepoch()) ORDER BY d.id LIMIT ?3",
    [ST_LEASE_TAKE] = "UPDATE deliveries SET lease_until = ?2, leased_by = ?3, state = 'seen' WHERE id = ?1",
    [ST_LEASE_ACK] =
        "DELETE FROM deliveries WHERE id = ?2 AND mailbox_id = ?1 AND leased_by = ?3 AND lease_until > 0",
    [ST_LEASE_NACK] = "UPDATE deliveries SET lease_until = 0, leased_by = NULL "
                      "WHERE id = ?2 AND mailbox_id = ?1 AND leased_by = ?3 AND lease_until > 0",
    [ST_LEASE_RELEASE] = "UPDATE deliveries SET lease_until = 0, leased_by = NULL WHERE leased_by = ?1",
    [ST_LEASE_RELEASE_ALL] = "UPDATE deliveries SET lease_until = 0, leased_by = NULL WHERE lease_until > 0",
    [ST_PURGE_EXPIRED] =
        "DELETE FROM deliveries WHERE " PURGE_EXPIRED " RETURNING id, mailbox_id, coalesce(folder_id, 0)",
    [ST_PURGE_COUNT] =
        "DELETE FROM deliveries WHERE id IN (" PURGE_OVER_COUNT ") RETURNING id, mailbox_id, 0",
    [ST_PURGE_AGE] = "DELETE FROM deliveries WHERE id IN (" PURGE_TOO_OLD ") RETURNING id, mailbox_id, 0",
    /* read only: whether the purge has anything to do, each part as the purge itself finds it */
    [ST_PURGE_DUE] =
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE " PURGE_EXPIRED ") OR EXISTS (" PURGE_OVER_COUNT
        ") OR EXISTS (" PURGE_TOO_OLD ") OR (SELECT published_at FROM publications ORDER BY rowid "
        "LIMIT 1) < ?1",
    [ST_RETENTION] = "UPDATE mailboxes SET retention_count = ?2, retention_seconds = ?3 WHERE address = ?1",
    [ST_OUT_ADD] = "INSERT INTO outbound (message_id, sender, recipient, next_attempt, queued_at) "
                   "VALUES (?1, ?2, ?3, unixepoch(), unixepoch())",
    [ST_OUT_PICK] =
        "SELECT o.id, o.message_id, o.sender, o.recipient, o.state, o.attempts, o.next_attempt, "
        "o.queued_at, o.last_error, m.body FROM outbound o JOIN messages m ON m.id = o.message_id "
        "WHERE o.state = 'queued' AND o.next_attempt <= unixepoch() AND o.claimed_until < ?1 "
        "ORDER BY o.next_attempt, o.id LIMIT ?2",
    [ST_OUT_TAKE] = "UPDATE outbound SET claimed_until = ?2 WHERE id = ?1",
    [ST_OUT_GET] = "SELECT o.id, o.message_id, o.sender, o.recipient, o.state, o.attempts, o.next_attempt, "
                   "o.queued_at, o.last_error, NULL FROM outbound o WHERE o.id = ?1",
    [ST_OUT_DELETE] = "DELETE FROM outbound WHERE id = ?1",
    [ST_OUT_RETRY] = "UPDATE outbound SET attempts = attempts + 1, claimed_until = 0, last_error = ?2, "
                     "next_attempt = CASE WHEN ?3 > 0 THEN ?3 ELSE next_attempt END, "
                     "state = CASE WHEN ?3 > 0 THEN 'queued' ELSE 'failed' END WHERE id = ?1",
    [ST_OUT_EACH] = "SELECT o.id, o.message_id, o.sender, o.recipient, o.state, o.attempts, o.next_attempt, "
                    "o.queued_at, o.last_error, NULL FROM outbound o ORDER BY o.id",
    [ST_OUT_RELEASE] = "UPDATE outbound SET claimed_until = 0 WHERE id = ?1 AND state = 'queued'",
    [ST_OUT_FLUSH] =
        "UPDATE outbound SET next_attempt = unixepoch(), claimed_until = 0 WHERE state = 'queued'",
    /* new deliveries' share of the mailbox counters, once per mailbox per transaction */
    [ST_COUNTERS_ADD] =
        "UPDATE mailboxes SET message_count = message_count + ?2, used_bytes = used_bytes + ?3 WHERE id = ?1",
    /* the next id of each table: what sequences says, or above any row another writer added */
    [ST_SEQ_MESSAGES] = "SELECT max(coalesce((SELECT next FROM sequences WHERE name = 'messages'), 1), "
                        "(SELECT coalesce(max(id), 0) + 1 FROM messages))",
    [ST_SEQ_DELIVERIES] = "SELECT max(coalesce((SELECT next FROM sequences WHERE name = 'deliveries'), 1), "
                          "(SELECT coalesce(max(id), 0) + 1 FROM deliveries))",
    [ST_SEQ_SAVE] = "UPDATE sequences SET next = ?2 WHERE name = ?1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
    [ST_SEQ_MAILBOXES] = "SELECT max(coalesce((SELECT next FROM sequences WHERE name = 'mailboxes'), 1), "
                         "(SELECT coalesce(max(id), 0) + 1 FROM mailboxes))",
    [ST_KEY_ADD] =
        "INSERT INTO mailbox_keys (key, mailbox_id) SELECT ?2, id FROM mailboxes WHERE address = ?1",
    [ST_KEY_DELETE] = "DELETE FROM mailbox_keys WHERE key = ?2 "
                      "AND mailbox_id = (SELECT id FROM mailboxes WHERE address = ?1)",
    [ST_KEY_OWNER] = "SELECT mailbox_id FROM mailbox_keys WHERE key = ?1",
    [ST_KEY_EACH] = "SELECT k.key FROM mailbox_keys k JOIN mailboxes mb ON mb.id = k.mailbox_id "
                    "WHERE mb.address = ?1 ORDER BY k.added_at, k.key",
    /* at start: counters as the deliveries say (heals rows inserted by hand with sqlite3) */
    [ST_RECOUNT] = "UPDATE mailboxes SET (message_count, used_bytes) = "
                   "(SELECT count(*), coalesce(sum(m.size), 0) FROM deliveries d "
                   "JOIN messages m ON m.id = d.message_id WHERE d.mailbox_id = mailboxes.id) "
                   "WHERE (message_count, used_bytes) IS NOT "
                   "(SELECT count(*), coalesce(sum(m.size), 0) FROM deliveries d "
                   "JOIN messages m ON m.id = d.message_id WHERE d.mailbox_id = mailboxes.id)",
    /* folders and flags (schema 011): a folder id 0 is the INBOX, folder_id NULL */
    [ST_FOLDER_FIND] = "SELECT id FROM folders WHERE mailbox_id = ?1 AND name = ?2",
    [ST_FOLDER_NAME] = "SELECT name FROM folders WHERE id = ?1",
    [ST_FOLDER_EACH] = "SELECT f.id, f.name, f.message_count, f.subscribed, f.special_use, "
                       "(SELECT count(*) FROM deliveries d WHERE d.mailbox_id = f.mailbox_id "
                       "AND d.folder_id = f.id AND d.state = 'new') FROM folders f "
                       "WHERE f.mailbox_id = ?1 AND (?2 IS NULL OR f.name = ?2) ORDER BY f.name",
    [ST_FOLDER_TOTALS] = "SELECT coalesce(sum(message_count), 0), coalesce(sum(used_bytes), 0), count(*) "
                         "FROM folders WHERE mailbox_id = ?1",
    [ST_FOLDER_ADD] = "INSERT INTO folders (id, mailbox_id, name, special_use) VALUES (?1, ?2, ?3, ?4)",
    [ST_FOLDERS_MADE] = "UPDATE mailboxes SET folders_made = 1 WHERE id = ?1 AND folders_made = 0",
    [ST_FOLDER_EMPTY] = "DELETE FROM deliveries WHERE mailbox_id = ?1 AND folder_id = ?2 RETURNING id",
    [ST_FOLDER_DELETE] = "DELETE FROM folders WHERE id = ?1",
    [ST_FOLDER_RENAME] = "UPDATE folders SET name = ?3 || substr(name, length(?2) + 1) WHERE mailbox_id = ?1 "
                         "AND (name = ?2 OR substr(name, 1, length(?2) + 1) = ?2 || '/')",
    [ST_FOLDER_SUBSCRIBE] = "UPDATE folders SET subscribed = ?3 WHERE mailbox_id = ?1 AND name = ?2",
    [ST_FOLDER_RECOUNT] =
        "UPDATE folders SET (message_count, used_bytes) = "
        "(SELECT count(*), coalesce(sum(m.size), 0) FROM deliveries d JOIN messages m "
        "ON m.id = d.message_id WHERE d.mailbox_id = folders.mailbox_id AND d.folder_id = folders.id) "
        "WHERE (message_count, used_bytes) IS NOT "
        "(SELECT count(*), coalesce(sum(m.size), 0) FROM deliveries d JOIN messages m "
        "ON m.id = d.message_id WHERE d.mailbox_id = folders.mailbox_id AND d.folder_id = folders.id)",
    [ST_SEQ_FOLDERS] = "SELECT max(coalesce((SELECT next FROM sequences WHERE name = 'folders'), 1), "
                       "(SELECT coalesce(max(id), 0) + 1 FROM folders))",
    [ST_INBOX_UNSEEN] =
        "SELECT count(*) FROM deliveries WHERE mailbox_id = ?1 AND folder_id IS NULL AND state = 'new'",
    [ST_SCAN] = "SELECT d.id, m.size, d.flags, d.state, d.delivered_at "
                "FROM deliveries d JOIN messages m ON m.id = d.message_id "
                "WHERE d.mailbox_id = ?1 AND d.folder_id IS ?2 AND d.id > ?3 "
                "AND (m.expires_at IS NULL OR m.expires_at > unixepoch()) ORDER BY d.id LIMIT ?4",
    [ST_DELIVERY_GET] =
        "SELECT coalesce(d.folder_id, 0), d.flags, d.state, d.delivered_at, m.size, d.message_id, "
        "m.sender, m.subject FROM deliveries d JOIN messages m ON m.id = d.message_id "
        "WHERE d.id = ?2 AND d.mailbox_id = ?1",
    [ST_FLAGS_SET] = "UPDATE deliveries SET flags = ?2, state = ?3 WHERE id = ?1",
    [ST_DELIVER_IN] =
        "INSERT INTO deliveries (id, mailbox_id, message_id, state, delivered_at, folder_id, flags) "
        "VALUES (?1, ?2, ?3, ?4, ?5, nullif(?6, 0), ?7)",
    [ST_EXPUNGE_PICK] = "SELECT id FROM deliveries WHERE mailbox_id = ?1 AND folder_id IS ?2 "
                        "AND instr(flags, 'T') > 0 ORDER BY id",
    [ST_DELIVERY_FOLDER] = "SELECT coalesce(folder_id, 0) FROM deliveries WHERE id = ?2 AND mailbox_id = ?1",
    [ST_FOLDER_COUNT_IN] =
        "UPDATE folders SET message_count = message_count + 1, used_bytes = used_bytes + ?2 WHERE id = ?1",
    [ST_ADDRESS_TAKEN] =
        "SELECT 1 FROM mailboxes WHERE address = ?1 UNION ALL SELECT 1 FROM lists WHERE address = ?1",
    /* the batched DELE and ACK (schema 012): ids as a JSON array, one statement a request; the
       unary + keeps the planner off deliveries_by_folder (a scan of the whole mailbox per
       request): each id is looked up by its rowid */
    [ST_COUNTED_ON] = "INSERT INTO counted_by_broker (mark) VALUES (1)",
    [ST_COUNTED_OFF] = "DELETE FROM counted_by_broker",
    [ST_REMOVE_IDS] =
        "DELETE FROM deliveries WHERE +mailbox_id = ?1 AND id IN (SELECT value FROM json_each(?2)) "
        "RETURNING id, coalesce(folder_id, 0), message_id, "
        "(SELECT m.size FROM messages m WHERE m.id = deliveries.message_id)",
    [ST_ACK_IDS] =
        "DELETE FROM deliveries WHERE +mailbox_id = ?1 AND id IN (SELECT value FROM json_each(?2)) "
        "AND leased_by = ?3 AND lease_until > 0 "
        "RETURNING id, coalesce(folder_id, 0), message_id, "
        "(SELECT m.size FROM messages m WHERE m.id = deliveries.message_id)",
    [ST_BODIES_DROP] = "DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1)) "
                       "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = messages.id) "
                       "AND NOT EXISTS (SELECT 1 FROM outbound o WHERE o.message_id = messages.id)",
};

/* What this transaction's deliveries add to one mailbox's counters, not yet written */
typedef struct {
    int64_t mailbox;
    int64_t count;
    int64_t bytes;
} counter_delta_t;

/* distinct mailboxes held in memory before they are written out early */
#define STORE_MAX_DELTAS 64

/* WAL checkpoints in the background: past this many WAL frames (pages) after a commit the
   checkpointer thread copies them into the database file; past the limit the broker's own
   thread does (it then finds little left to copy, and the next commit starts the WAL over) */
#define STORE_CHECKPOINT_BYTES (16 << 20)
#define STORE_WAL_LIMIT_BYTES (128 << 20)
/* After a checkpoint that completes, the next commit starts the WAL over and cuts its file
   back to this (PRAGMA journal_size_limit); a WAL file bigger than this once the broker is
   idle is truncated to nothing (store_wal_tick) */
#define STORE_WAL_KEEP_BYTES (32 << 20)
/* On a disk short of space the checkpoint comes this often, so that the database file's
   growth a checkpoint needs always fits in the reserve (space.h) */
#define STORE_EAGER_CHECKPOINT_BYTES (1 << 20)
/* A checkpoint a reader has held up this long is logged (wal-pinned); a shorter hold is
   someone's quick query */
#define STORE_PIN_LOG_MS 1000

/* The statements that change mailbox rows (their counters, by trigger or not): running one
   empties the mailbox cache */
static const bool s_changes_mailboxes[ST__COUNT] = {
    [ST_MAILBOX_ADD] = true, [ST_MAILBOX_DELETE] = true, [ST_MAILBOX_PASSWD] = true, [ST_DELETE] = true,
    [ST_LEASE_ACK] = true,   [ST_PURGE_EXPIRED] = true,  [ST_PURGE_COUNT] = true,    [ST_PURGE_AGE] = true,
    [ST_RETENTION] = true,   [ST_COUNTERS_ADD] = true,   [ST_RECOUNT] = true,        [ST_FOLDER_EMPTY] = true,
};

/* Mailboxes read in the current transaction, by address, as their rows were (without the
   transaction's pending counters): a batch of SENDs to one mailbox reads its row once */
#define STORE_CACHE_MAX 1024

/* The tables whose ids the store hands out (schema 007) */
typedef enum { SEQ_MESSAGES, SEQ_DELIVERIES, SEQ_MAILBOXES, SEQ_FOLDERS, SEQ__COUNT } seq_t;
static const char *const s_seq_name[SEQ__COUNT] = {"messages", "deliveries", "mailboxes", "folders"};
static const int s_seq_load_stmt[SEQ__COUNT] = {ST_SEQ_MESSAGES, ST_SEQ_DELIVERIES, ST_SEQ_MAILBOXES,
                                                ST_SEQ_FOLDERS};

struct store_t {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST__COUNT];
    zhashx_t *cache;
    counter_delta_t deltas[STORE_MAX_DELTAS];
    size_t delta_count;
    int64_t next_id[SEQ__COUNT];  /* the id the next row of each table gets */
    int64_t saved_id[SEQ__COUNT]; /* what sequences holds (committed) */
    int64_t data_version;         /* PRAGMA data_version when the ids were read */
    char *path;
    int64_t checkpoint_frames, wal_limit_frames; /* the two sizes above, in this file's pages */
    int64_t eager_frames, page_size;
    zactor_t *checkpointer;
    atomic_bool checkpointing; /* the checkpointer is at work */
    atomic_bool eager;         /* checkpoint every eager_frames (space is short) */
    bool full;                 /* the last failure was SQLITE_FULL */
    /* what the checkpointer saw last (it writes, the broker's thread reads) */
    _Atomic int64_t checkpoint_at;   /* unix ms of the last checkpoint, 0 none yet */
    _Atomic int64_t checkpoint_wal;  /* frames in the WAL then */
    _Atomic int64_t checkpoint_done; /* and how many of them it copied */
    _Atomic int64_t pinned_since;    /* unix ms a reader first held a checkpoint up, 0 none */
    atomic_bool pinned_logged;
    atomic_bool capped;             /* pinned past STORE_WAL_LIMIT_BYTES: publishing is refused */
    atomic_bool checkpoint_failing; /* logged once a streak */
    atomic_bool checkpoint_full;    /* a checkpoint found the disk full (taken by store_full) */
};

static void
s_cache_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_cache_clear (store_t *self)
{
    if (self->cache && zhashx_size (self->cache) > 0)
        zhashx_purge (self->cache);
}

static sqlite3_stmt *
s_stmt (store_t *self, int which)
{
    if (s_changes_mailboxes[which])
        s_cache_clear (self);
    sqlite3_stmt *stmt = self->stmt[which];
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return stmt;
}

static int
s_exec (store_t *self, const char *sql)
{
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static int64_t
s_step_int (store_t *self, int which)
{
    sqlite3_stmt *stmt = s_stmt (self, which);
    int64_t value = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : -1;
    sqlite3_reset (stmt);
    return value;
}

/* Ids. AUTOINCREMENT would read and rewrite sqlite_sequence at every insert; the store
   hands ids out from memory instead, and writes the sequences table once per transaction
   (s_ids_save, before COMMIT). A rolled-back transaction gives its ids back: none of them
   was ever shown to a client. Another writer (sqlite3 by hand) shows in data_version: the
   ids are read again, above anything it inserted. */
static int
s_ids_load (store_t *self)
{
    self->data_version = s_step_int (self, ST_DATA_VERSION);
    for (int i = 0; i < SEQ__COUNT; i++) {
        int64_t next = s_step_int (self, s_seq_load_stmt[i]);
        if (next < 1)
            return -1;
        self->next_id[i] = self->saved_id[i] = next;
    }
    return self->data_version < 0 ? -1 : 0;
}

/* Inside a transaction, or before a write in autocommit mode: read the ids again when
   another connection has committed since */
static int
s_ids_check (store_t *self)
{
    int64_t version = s_step_int (self, ST_DATA_VERSION);
    return version == self->data_version ? 0 : s_ids_load (self);
}

static int
s_ids_save (store_t *self)
{
    for (int i = 0; i < SEQ__COUNT; i++) {
        if (self->next_id[i] == self->saved_id[i])
            continue;
        sqlite3_stmt *stmt = s_stmt (self, ST_SEQ_SAVE);
        sqlite3_bind_text (stmt, 1, s_seq_name[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64 (stmt, 2, self->next_id[i]);
        int rc = sqlite3_step (stmt);
        sqlite3_reset (stmt);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

static void
s_ids_saved (store_t *self, bool committed)
{
    for (int i = 0; i < SEQ__COUNT; i++)
        if (committed)
            self->saved_id[i] = self->next_id[i];
        else
            self->next_id[i] = self->saved_id[i];
}

/* The id for a new row of that table, or -1 */
static int64_t
s_id_take (store_t *self, seq_t seq)
{
    if (sqlite3_get_autocommit (self->db) && s_ids_check (self) != 0)
        return -1;
    return self->next_id[seq]++;
}

/* After an insert: in autocommit mode it is committed already, and so must its id be */
static int
s_id_done (store_t *self, bool inserted)
{
    if (!sqlite3_get_autocommit (self->db))
        return inserted ? 0 : -1;
    if (!inserted) {
        s_ids_saved (self, false);
        return -1;
    }
    if (s_ids_save (self) != 0)
        return -1;
    s_ids_saved (self, true);
    return 0;
}

static int64_t
s_pragma_int (store_t *self, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t value = -1;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        value = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

/* The folder that holds path ("." for a bare name, "/" for a file at the root; caller frees) */
static char *
s_parent (const char *path)
{
    const char *slash = strrchr (path, '/');
    if (!slash)
        return strdup (".");
    return strndup (path, slash == path ? 1 : (size_t)(slash - path));
}

int
store_dir_create (const char *path)
{
    /* mkdir -p; a folder made here is 0700 whatever the umask (it only takes bits away) */
    char *dir = s_parent (path);
    int rc = 0;
    for (char *p = dir + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir (dir, 0700) != 0 && errno != EEXIST)
            rc = -1;
        *p = c;
        if (c == '\0')
            break;
    }
    free (dir);
    return rc;
}

/* A file or folder that group or others may use becomes the owner's alone (0600, 0700),
   with a warning naming it; one that is not ours (chmod would fail) is only named. 1 fixed. */
static int
s_make_private (const char *path, const struct stat *st, const char *kind)
{
    char quoted[PATH_MAX + 16];
    log_quote (quoted, sizeof quoted, path, strlen (path));
    mode_t was = st->st_mode & 07777, now = st->st_mode & 0700;
    if (st->st_uid == geteuid () && chmod (path, now) == 0) {
        log_warn ("store", "mode-fixed", "%s=%s was=%04o now=%04o", kind, quoted, (unsigned)was,
                  (unsigned)now);
        return 1;
    }
    log_warn ("store", "mode-open", "%s=%s mode=%04o why=\"%s\"", kind, quoted, (unsigned)was,
              st->st_uid == geteuid () ? strerror (errno) : "owned by another user");
    return 0;
}

/* The database's own folder: var/ in the folder the broker runs from (the layout's
   var/mailbus.db, given relatively or not), unless that is the system's /var. Any other
   folder (/tmp, /srv, a home) may hold more than the database: it is left as it is. */
static bool
s_own_dir (const char *dir)
{
    char real[PATH_MAX], cwd[PATH_MAX], var[PATH_MAX + 8];
    if (!realpath (dir, real) || !getcwd (cwd, sizeof cwd) || streq (cwd, "/"))
        return false;
    snprintf (var, sizeof var, "%s/var", cwd);
    return streq (real, var);
}

int
store_secure (const char *path)
{
    int fixed = 0;
    struct stat st;
    char *dir = s_parent (path);
    if (stat (dir, &st) == 0 && S_ISDIR (st.st_mode) && (st.st_mode & 077)) {
        if (s_own_dir (dir))
            fixed += s_make_private (dir, &st, "folder");
        else {
            char quoted[PATH_MAX + 16];
            log_info ("store", "folder-shared",
                      "folder=%s mode=%04o why=\"not the database's own folder: "
                      "left as it is, the database's files in it are 0600\"",
                      log_quote (quoted, sizeof quoted, dir, strlen (dir)), (unsigned)(st.st_mode & 07777));
        }
    }
    /* the database, its WAL and shared memory, the lock, and the gateway's password */
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal", ".lock", ".reserve"};
    for (size_t i = 0; i <= sizeof suffixes / sizeof suffixes[0]; i++) {
        char *file = i < sizeof suffixes / sizeof suffixes[0] ? zsys_sprintf ("%s%s", path, suffixes[i])
                                                              : zsys_sprintf ("%s/gateway.secret", dir);
        if (lstat (file, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 077)) /* not through a link */
            fixed += s_make_private (file, &st, "file");
        free (file);
    }
    free (dir);
    return fixed;
}

static int
s_migrate (store_t *self, char **error)
{
    int64_t version = s_pragma_int (self, "PRAGMA user_version");
    int64_t app = s_pragma_int (self, "PRAGMA application_id");
    int64_t tables = s_pragma_int (self, "SELECT count(*) FROM sqlite_master");
    if (version < 0 || app < 0 || tables < 0) {
        *error = zsys_sprintf ("cannot read database: %s", sqlite3_errmsg (self->db));
        return -1;
    }
    if ((version == 0 && tables > 0) || (version > 0 && app != STORE_APPLICATION_ID)) {
        *error = strdup ("this file is not a mailbus database (it has other tables); refusing to touch it");
        return -1;
    }
    if (version > SCHEMA_VERSION) {
        *error = zsys_sprintf ("database schema version %lld is newer than this broker's (%d): "
                               "run a newer mailbus-broker",
                               (long long)version, SCHEMA_VERSION);
        return -1;
    }
    for (int64_t v = version; v < SCHEMA_VERSION; v++) {
        char *err = NULL;
        char pragma[80];
        snprintf (pragma, sizeof pragma, "PRAGMA user_version = %lld; PRAGMA application_id = %d;",
                  (long long)v + 1, STORE_APPLICATION_ID);
        if (s_exec (self, "BEGIN IMMEDIATE") != 0 ||
            sqlite3_exec (self->db, schema_migrations[v], NULL, NULL, &err) != SQLITE_OK ||
            sqlite3_exec (self->db, pragma, NULL, NULL, &err) != SQLITE_OK || s_exec (self, "COMMIT") != 0) {
            *error = zsys_sprintf ("schema migration %lld failed: %s", (long long)v + 1,
                                   err ? err : sqlite3_errmsg (self->db));
            sqlite3_free (err);
            s_exec (self, "ROLLBACK");
            return -1;
        }
    }
    return 0;
}

store_t *
store_open (const char *path, bool synchronous_full, char **error)
{
    /* one thread owns the connection: SQLite's connection mutexes and memory statistics
       would only cost time (this fails harmlessly when SQLite was initialised already) */
    static bool configured = false;
    if (!configured) {
        /* multi-thread: each connection is used by one thread only (the checkpointer has
           its own) */
        sqlite3_config (SQLITE_CONFIG_MULTITHREAD);
        sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
        configured = true;
    }
    store_t *self = calloc (1, sizeof *self);
    self->path = strdup (path);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, s_cache_free);
    store_dir_create (path);
    store_secure (path);
    /* a new database is 0600 whatever the umask; SQLite gives its WAL and shared memory
       the database's mode */
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close (fd);
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                         NULL) != SQLITE_OK) {
        *error =
            zsys_sprintf ("cannot open %s: %s", path, self->db ? sqlite3_errmsg (self->db) : "out of memory");
        store_close (&self);
        return NULL;
    }
    /* statements' small allocations (cursors, records) come from the connection's own
       lookaside slots rather than malloc: 2000 of 1200 octets, 2.3 MiB */
    sqlite3_db_config (self->db, SQLITE_DBCONFIG_LOOKASIDE, NULL, 1200, 2000);
    /* readers (sqlite3 in another terminal) never block the broker in WAL mode; a reader
       holding the write lock briefly (sqlite3 .dump) is waited for up to 5 s */
    sqlite3_busy_timeout (self->db, 5000);
    /* a new database gets 8 KiB pages: half the WAL frames (two writes each) of the 4 KiB
       default for the same mail; an existing one keeps what it has */
    s_exec (self, "PRAGMA page_size = 8192");
    char *mode = NULL;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW)
        mode = strdup ((const char *)sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    if (!mode || strcmp (mode, "wal") != 0) {
        *error = zsys_sprintf ("cannot use WAL mode on %s: %s", path, sqlite3_errmsg (self->db));
        free (mode);
        store_close (&self);
        return NULL;
    }
    free (mode);
    s_exec (self, synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    s_exec (self, "PRAGMA wal_autocheckpoint = 10000");
    char limit[64];
    snprintf (limit, sizeof limit, "PRAGMA journal_size_limit = %d", STORE_WAL_KEEP_BYTES);
    s_exec (self, limit);
    /* statement journals (a DELETE that fires the counter trigger) stay in memory, not a temp file */
    s_exec (self, "PRAGMA temp_store = MEMORY");
    /* off while migrating: rebuilding a table (schema 007) drops it while rows refer to it */
    if (s_migrate (self, error) != 0) {
        store_close (&self);
        return NULL;
    }
    s_exec (self, "PRAGMA foreign_keys = ON");
    for (int i = 0; i < ST__COUNT; i++)
        if (sqlite3_prepare_v3 (self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->stmt[i], NULL) !=
            SQLITE_OK) {
            *error = zsys_sprintf ("cannot prepare statement %d: %s", i, sqlite3_errmsg (self->db));
            store_close (&self);
            return NULL;
        }
    if (s_ids_load (self) != 0) {
        *error = zsys_sprintf ("cannot read the id sequences: %s", sqlite3_errmsg (self->db));
        store_close (&self);
        return NULL;
    }
    return self;
}

void
store_close (store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    /* the checkpointer first: the last connection to close checkpoints and removes the WAL */
    zactor_destroy (&self->checkpointer);
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize (self->stmt[i]);
    if (self->db)
        sqlite3_close (self->db);
    zhashx_destroy (&self->cache);
    free (self->path);
    free (self);
    *self_p = NULL;
}

static int64_t
s_wal_bytes (const char *path)
{
    char wal[PATH_MAX];
    struct stat st;
    snprintf (wal, sizeof wal, "%s-wal", path);
    return stat (wal, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* A reader (sqlite3 in a transaction) keeps the checkpoint from copying every frame: the WAL
   cannot start over and grows. Logged once it has lasted STORE_PIN_LOG_MS, and once more when
   it ends. */
static void
s_pin_seen (store_t *store, bool pinned, int64_t now)
{
    int64_t since = atomic_load (&store->pinned_since);
    if (pinned && since == 0)
        atomic_store (&store->pinned_since, now);
    else if (pinned && !atomic_load (&store->pinned_logged) && now - since >= STORE_PIN_LOG_MS) {
        atomic_store (&store->pinned_logged, true);
        log_warn ("store", "wal-pinned",
                  "wal-bytes=%lld held-up=checkpoint held-ms=%lld wal-cap=%d why=\"a reader's transaction "
                  "keeps the WAL from being copied back and restarted (every %d MiB): it grows until the "
                  "reader ends; past the cap publishing is refused (452 4.3.1)\"",
                  (long long)s_wal_bytes (store->path), (long long)(now - since), STORE_WAL_LIMIT_BYTES,
                  STORE_CHECKPOINT_BYTES >> 20);
    }
    else if (!pinned && since != 0) {
        if (atomic_load (&store->pinned_logged))
            log_info ("store", "wal-released", "held-ms=%lld wal-bytes=%lld capped=%s",
                      (long long)(now - since), (long long)s_wal_bytes (store->path),
                      atomic_load (&store->capped) ? "yes" : "no");
        atomic_store (&store->pinned_since, 0);
        atomic_store (&store->pinned_logged, false);
        atomic_store (&store->capped, false);
    }
}

/* One checkpoint on the checkpointer's connection: PASSIVE (never waits for, nor blocks, the
   broker's writes), or TRUNCATE (the same when anyone is busy; else the WAL file is cut to
   nothing). Neither waits: the connection has no busy timeout. */
static void
s_checkpoint (store_t *store, sqlite3 *db, const char *command)
{
    int64_t start = zclock_usecs ();
    int frames = 0, copied = 0;
    bool truncate = streq (command, "TRUNCATE");
    int rc = sqlite3_wal_checkpoint_v2 (
        db, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        /* once a streak: the disk stays full for many checkpoints */
        if (!atomic_exchange (&store->checkpoint_failing, true))
            log_warn ("store", "checkpoint-failed", "error=\"%s\"", sqlite3_errmsg (db));
        if (sqlite3_errcode (db) == SQLITE_FULL)
            atomic_store (&store->checkpoint_full, true);
        return;
    }
    atomic_store (&store->checkpoint_failing, false);
    int64_t now = zclock_time ();
    atomic_store (&store->checkpoint_at, now);
    atomic_store (&store->checkpoint_wal, frames);
    atomic_store (&store->checkpoint_done, copied);
    s_pin_seen (store, frames > 0 && copied < frames, now);
    log_debug ("store", "checkpoint", "mode=%s rc=%d wal-frames=%d copied=%d ms=%.1f", command, rc, frames,
               copied, (double)(zclock_usecs () - start) / 1000.0);
}

/* The checkpointer thread: its own connection, a checkpoint each time it is asked */
static void
s_checkpointer (zsock_t *pipe, void *arg)
{
    store_t *store = arg;
    sqlite3 *db = NULL;
    bool opened =
        sqlite3_open_v2 (store->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK;
    if (opened) {
        sqlite3_exec (db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
        atomic_store (&store->checkpointing, false); /* ready for work */
    }
    else
        log_warn ("store", "checkpointer-failed", "error=\"%s\"", db ? sqlite3_errmsg (db) : "out of memory");
    zsock_signal (pipe, 0);
    while (opened) {
        char *command = zstr_recv (pipe);
        if (!command || streq (command, "$TERM")) {
            free (command);
            break;
        }
        s_checkpoint (store, db, command);
        atomic_store (&store->checkpointing, false);
        free (command);
    }
    sqlite3_close (db);
}

/* Asks the checkpointer for a checkpoint unless it is at one */
static void
s_checkpoint_ask (store_t *self, const char *command)
{
    if (!self->checkpointer || atomic_load (&self->checkpointing))
        return;
    atomic_store (&self->checkpointing, true);
    if (zstr_send (self->checkpointer, command) != 0)
        atomic_store (&self->checkpointing, false);
}

/* A checkpoint on the broker's own connection, after its commit: nothing else writes then,
   so it copies every frame no reader holds, and the next commit starts the WAL over */
static void
s_checkpoint_inline (store_t *self, sqlite3 *db, const char *name, int frames, bool eager)
{
    int rc = sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc == SQLITE_FULL)
        atomic_store (&self->checkpoint_full, true);
    else if (rc == SQLITE_OK && !eager)
        log_info ("store", "checkpoint-inline", "wal-frames=%d", frames);
}

/* Called by SQLite after each commit with the number of frames in the WAL. On a disk short of
   space (eager) the checkpoint is inline past a MiB: what the database file must grow by to
   take the WAL in stays below the reserve whatever the load; else the checkpointer thread
   does it past 16 MiB, the broker's thread only when the thread fell behind (the cap). */
static int
s_wal_hook (void *arg, sqlite3 *db, const char *name, int frames)
{
    store_t *self = arg;
    bool pinned = atomic_load (&self->pinned_since) != 0, eager = atomic_load (&self->eager);
    if (frames >= self->wal_limit_frames && pinned) {
        /* a reader holds it: copying here would find nothing more to copy, at every commit */
        if (!atomic_exchange (&self->capped, true))
            log_error ("store", "wal-capped",
                       "wal-bytes=%lld why=\"a reader pins the WAL: publishing refused (452 4.3.1) until it "
                       "ends; deleting works\"",
                       (long long)frames * self->page_size);
    }
    else if (!pinned && (frames >= self->wal_limit_frames || (eager && frames >= self->eager_frames)))
        s_checkpoint_inline (self, db, name, frames, eager);
    else if (frames >= (eager ? self->eager_frames : self->checkpoint_frames))
        s_checkpoint_ask (self, "CHECKPOINT");
    return SQLITE_OK;
}

int
store_checkpoint_in_background (store_t *self)
{
    int64_t page = s_pragma_int (self, "PRAGMA page_size");
    if (page <= 0)
        return -1;
    self->page_size = page;
    self->checkpoint_frames = STORE_CHECKPOINT_BYTES / page;
    self->wal_limit_frames = STORE_WAL_LIMIT_BYTES / page;
    self->eager_frames = STORE_EAGER_CHECKPOINT_BYTES / page;
    atomic_store (&self->checkpointing, true); /* until the thread has its connection */
    self->checkpointer = zactor_new (s_checkpointer, self);
    if (!self->checkpointer)
        return -1;
    sqlite3_wal_hook (self->db, s_wal_hook, self);
    return 0;
}

void
store_checkpoint_eager (store_t *self, bool eager)
{
    atomic_store (&self->eager, eager);
}

void
store_wal_tick (store_t *self, bool idle)
{
    /* held up by a reader: try again (its end is seen, and logged, by the next attempt); a
       big WAL with nobody on it goes back to nothing */
    int64_t wal = s_wal_bytes (self->path);
    if (atomic_load (&self->pinned_since) != 0 || wal > STORE_WAL_KEEP_BYTES ||
        ((idle || atomic_load (&self->eager)) && wal > 0))
        s_checkpoint_ask (self, "TRUNCATE");
}

bool
store_wal_capped (store_t *self)
{
    return atomic_load (&self->capped);
}

void
store_wal_info (store_t *self, store_wal_info_t *info)
{
    *info = (store_wal_info_t){.wal_bytes = s_wal_bytes (self->path),
                               .keep_bytes = STORE_WAL_KEEP_BYTES,
                               .cap_bytes = STORE_WAL_LIMIT_BYTES,
                               .checkpoint_at = atomic_load (&self->checkpoint_at),
                               .checkpoint_frames = atomic_load (&self->checkpoint_wal),
                               .checkpoint_copied = atomic_load (&self->checkpoint_done),
                               .pinned_since = atomic_load (&self->pinned_since),
                               .capped = atomic_load (&self->capped)};
}

int64_t
store_free_inside (store_t *self)
{
    int64_t pages = s_pragma_int (self, "PRAGMA freelist_count");
    int64_t page = self->page_size > 0 ? self->page_size : s_pragma_int (self, "PRAGMA page_size");
    return pages > 0 && page > 0 ? pages * page : 0;
}

bool
store_full (store_t *self)
{
    return self->full || sqlite3_errcode (self->db) == SQLITE_FULL;
}

bool
store_checkpoint_found_full (store_t *self)
{
    return atomic_exchange (&self->checkpoint_full, false);
}

/* Mailbox counters. A trigger per delivery would update the mailbox row (and open a
   statement journal) for every recipient of every message; the broker instead adds up what
   its transaction delivers and writes each mailbox's share once, before COMMIT. So do the
   batched DELE and ACK (schema 012, store_deliveries_remove); every other delete goes through
   the trigger (schema 007), so sqlite3 by hand keeps them right too. */
static int
s_counters_flush (store_t *self)
{
    int rc = 0;
    for (size_t i = 0; i < self->delta_count && rc == 0; i++) {
        const counter_delta_t *delta = &self->deltas[i];
        sqlite3_stmt *stmt = s_stmt (self, ST_COUNTERS_ADD);
        sqlite3_bind_int64 (stmt, 1, delta->mailbox);
        sqlite3_bind_int64 (stmt, 2, delta->count);
        sqlite3_bind_int64 (stmt, 3, delta->bytes);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset (stmt);
    }
    self->delta_count = 0;
    return rc;
}

/* count messages of bytes in all into mailbox (negative: out of it), written before COMMIT */
static int
s_counters_move (store_t *self, int64_t mailbox, int64_t count, int64_t bytes)
{
    for (size_t i = 0; i < self->delta_count; i++)
        if (self->deltas[i].mailbox == mailbox) {
            self->deltas[i].count += count;
            self->deltas[i].bytes += bytes;
            return 0;
        }
    if (self->delta_count == STORE_MAX_DELTAS && s_counters_flush (self) != 0)
        return -1;
    self->deltas[self->delta_count++] = (counter_delta_t){mailbox, count, bytes};
    /* outside a transaction nothing would write them later: now */
    return sqlite3_get_autocommit (self->db) ? s_counters_flush (self) : 0;
}

static int
s_counters_add (store_t *self, int64_t mailbox, int64_t bytes)
{
    return s_counters_move (self, mailbox, 1, bytes);
}

/* A mailbox as read, plus what this transaction has delivered to it so far */
static void
s_counters_apply (const store_t *self, store_mailbox_t *mailbox)
{
    for (size_t i = 0; i < self->delta_count; i++)
        if (self->deltas[i].mailbox == mailbox->id) {
            mailbox->message_count += self->deltas[i].count;
            mailbox->used_bytes += self->deltas[i].bytes;
        }
}

int
store_recount (store_t *self)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_RECOUNT);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    int wrong = rc == SQLITE_DONE ? sqlite3_changes (self->db) : -1;
    /* the folders' counters too (cheap: one pass over the folders' deliveries by index) */
    stmt = s_stmt (self, ST_FOLDER_RECOUNT);
    rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? wrong : -1;
}

int
store_begin (store_t *self)
{
    self->delta_count = 0;
    self->full = false;
    s_cache_clear (self);
    if (s_exec (self, "BEGIN IMMEDIATE") != 0)
        return -1;
    if (s_ids_check (self) != 0) {
        store_rollback (self);
        return -1;
    }
    return 0;
}

int
store_commit (store_t *self, char **error)
{
    int flushed = s_counters_flush (self);
    s_cache_clear (self);
    if (flushed == 0 && s_ids_save (self) == 0 && s_exec (self, "COMMIT") == 0) {
        s_ids_saved (self, true);
        return 0;
    }
    self->full = sqlite3_errcode (self->db) == SQLITE_FULL;
    if (error)
        *error = strdup (sqlite3_errmsg (self->db));
    store_rollback (self);
    return -1;
}

void
store_rollback (store_t *self)
{
    self->delta_count = 0;
    s_cache_clear (self);
    s_ids_saved (self, false);
    if (!sqlite3_get_autocommit (self->db))
        s_exec (self, "ROLLBACK");
}

static void
s_read_mailbox (sqlite3_stmt *stmt, store_mailbox_t *mailbox)
{
    memset (mailbox, 0, sizeof *mailbox);
    mailbox->id = sqlite3_column_int64 (stmt, 0);
    snprintf (mailbox->address, sizeof mailbox->address, "%s", (const char *)sqlite3_column_text (stmt, 1));
    snprintf (mailbox->password_hash, sizeof mailbox->password_hash, "%s",
              (const char *)sqlite3_column_text (stmt, 2));
    mailbox->quota_bytes = sqlite3_column_int64 (stmt, 3);
    mailbox->used_bytes = sqlite3_column_int64 (stmt, 4);
    mailbox->message_count = sqlite3_column_int64 (stmt, 5);
    snprintf (mailbox->role, sizeof mailbox->role, "%s", (const char *)sqlite3_column_text (stmt, 6));
}

int
store_mailbox_find (store_t *self, const char *address, store_mailbox_t *mailbox)
{
    /* only inside a transaction: outside, another connection may change the row meanwhile */
    bool in_transaction = !sqlite3_get_autocommit (self->db);
    const store_mailbox_t *cached = in_transaction ? zhashx_lookup (self->cache, address) : NULL;
    if (cached) {
        *mailbox = *cached;
        s_counters_apply (self, mailbox);
        return 1;
    }
    sqlite3_stmt *stmt = s_stmt (self, ST_MAILBOX_FIND);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        s_read_mailbox (stmt, mailbox);
        sqlite3_reset (stmt);
        if (in_transaction) {
            if (zhashx_size (self->cache) >= STORE_CACHE_MAX)
                zhashx_purge (self->cache);
            store_mailbox_t *copy = malloc (sizeof *copy);
            *copy = *mailbox;
            zhashx_update (self->cache, address, copy);
        }
        s_counters_apply (self, mailbox);
        return 1;
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Mailboxes and lists share one namespace: 1 when address is either */
static int
s_address_taken (store_t *self, const char *address)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_ADDRESS_TAKEN);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A change refused: text (taken) into *error when the caller wants it; returns status */
static store_status_t
s_refuse (char **error, store_status_t status, char *text)
{
    if (error)
        *error = text;
    else
        zstr_free (&text);
    return status;
}

/* The database failed: STORE_ERROR, with SQLite's text */
static store_status_t
s_failed (store_t *self, char **error)
{
    return s_refuse (error, STORE_ERROR, zsys_sprintf ("store: %s", sqlite3_errmsg (self->db)));
}

/* Runs a one-row change; fills *error when it changed nothing (STORE_NOT_FOUND, "none
   address") or failed */
static store_status_t
s_change (store_t *self, sqlite3_stmt *stmt, const char *address, char **error, const char *none)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_CONSTRAINT)
        return s_refuse (error, STORE_EXISTS, zsys_sprintf ("mailbox %s exists", address));
    if (rc != SQLITE_DONE)
        return s_failed (self, error);
    if (sqlite3_changes (self->db) == 0)
        return s_refuse (error, STORE_NOT_FOUND, zsys_sprintf ("%s %s", none, address));
    return STORE_OK;
}

/* The check before adding a mailbox or list (what names the address): STORE_OK when it is
   free, STORE_EXISTS, or STORE_ERROR */
static store_status_t
s_address_free (store_t *self, const char *address, const char *what, char **error)
{
    int taken = s_address_taken (self, address);
    if (taken < 0)
        return s_failed (self, error);
    if (taken)
        return s_refuse (error, STORE_EXISTS,
                         zsys_sprintf ("%s %s exists (as a mailbox or a list)", what, address));
    return STORE_OK;
}

store_status_t
store_mailbox_add (store_t *self, const char *address, const char *password_hash, const char *role,
                   char **error)
{
    store_status_t status = s_address_free (self, address, "mailbox", error);
    if (status != STORE_OK)
        return status;
    /* from the sequence: a deleted mailbox's id is never given to another (schema 10) */
    int64_t id = s_id_take (self, SEQ_MAILBOXES);
    if (id < 0)
        return s_failed (self, error);
    sqlite3_stmt *stmt = s_stmt (self, ST_MAILBOX_ADD);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, role ? role : "user", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 4, id);
    status = s_change (self, stmt, address, error, "cannot add");
    if (s_id_done (self, status == STORE_OK) != 0 && status == STORE_OK)
        return s_failed (self, error);
    return status;
}

/* Runs a mailbox key statement (?1 address, ?2 key) that must change one row; the errors
   say what the caller may show */
static store_status_t
s_key_change (store_t *self, int which, const char *address, const char *key, const char *none, char **error)
{
    sqlite3_stmt *stmt = s_stmt (self, which);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_CONSTRAINT)
        return s_refuse (error, STORE_EXISTS,
                         zsys_sprintf ("that key exists already (a key belongs to one mailbox)"));
    if (rc != SQLITE_DONE)
        return s_failed (self, error);
    if (sqlite3_changes (self->db) == 0)
        return s_refuse (error, STORE_NOT_FOUND, zsys_sprintf ("%s %s", none, address));
    return STORE_OK;
}

store_status_t
store_key_add (store_t *self, const char *address, const char *key, char **error)
{
    return s_key_change (self, ST_KEY_ADD, address, key, "no such mailbox", error);
}

store_status_t
store_key_delete (store_t *self, const char *address, const char *key, char **error)
{
    return s_key_change (self, ST_KEY_DELETE, address, key, "no such mailbox key of", error);
}

int
store_key_owner (store_t *self, const char *key, int64_t *mailbox_id)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_KEY_OWNER);
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        *mailbox_id = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_key_each (store_t *self, const char *address, void (*fn) (const char *key, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_KEY_EACH);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        fn ((const char *)sqlite3_column_text (stmt, 0), arg);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

store_status_t
store_mailbox_delete (store_t *self, const char *address, char **error)
{
    /* the cascade removes the deliveries; the trigger removes bodies nobody else holds.
       Pending counters first: a mailbox added next may get this one's id. */
    if (s_counters_flush (self) != 0)
        return s_failed (self, error);
    sqlite3_stmt *stmt = s_stmt (self, ST_MAILBOX_DELETE);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    return s_change (self, stmt, address, error, "no such mailbox");
}

store_status_t
store_mailbox_passwd (store_t *self, const char *address, const char *password_hash, char **error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_MAILBOX_PASSWD);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, password_hash, -1, SQLITE_STATIC);
    return s_change (self, stmt, address, error, "no such mailbox");
}

int
store_mailbox_each (store_t *self, void (*fn) (const store_mailbox_t *mailbox, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_MAILBOX_EACH);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        store_mailbox_t mailbox;
        s_read_mailbox (stmt, &mailbox);
        fn (&mailbox, arg);
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int64_t
store_mailbox_count (store_t *self)
{
    return s_pragma_int (self, "SELECT count(*) FROM mailboxes");
}

int64_t
store_message_add (store_t *self, const char *sender, const char *message_id, const char *subject,
                   const void *body, size_t size, int64_t expires_at)
{
    int64_t id = s_id_take (self, SEQ_MESSAGES);
    if (id < 0)
        return -1;
    sqlite3_stmt *stmt = s_stmt (self, ST_MESSAGE_ADD);
    sqlite3_bind_int64 (stmt, 8, id);
    sqlite3_bind_text (stmt, 1, sender, -1, SQLITE_STATIC);
    if (message_id)
        sqlite3_bind_text (stmt, 2, message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, subject ? subject : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 4, (sqlite3_int64)size);
    sqlite3_bind_blob64 (stmt, 5, body, size, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, time (NULL));
    sqlite3_bind_int64 (stmt, 7, expires_at);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return s_id_done (self, rc == SQLITE_DONE) == 0 ? id : -1;
}

int64_t
store_delivery_add (store_t *self, int64_t message, int64_t mailbox, size_t size)
{
    int64_t delivery = s_id_take (self, SEQ_DELIVERIES);
    if (delivery < 0)
        return -1;
    sqlite3_stmt *stmt = s_stmt (self, ST_DELIVER);
    sqlite3_bind_int64 (stmt, 4, delivery);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, message);
    sqlite3_bind_int64 (stmt, 3, time (NULL));
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (s_id_done (self, rc == SQLITE_DONE) != 0)
        return -1;
    return s_counters_add (self, mailbox, (int64_t)size) == 0 ? delivery : -1;
}

/* Binds the dedupe key: sender, Message-ID, recipient, content digest */
static void
s_bind_publication (sqlite3_stmt *stmt, const store_publication_t *key)
{
    sqlite3_bind_text (stmt, 1, key->sender, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, key->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, key->recipient, -1, SQLITE_STATIC);
    sqlite3_bind_blob (stmt, 4, key->content, STORE_CONTENT_BYTES, SQLITE_STATIC);
}

char *
store_publication_find (store_t *self, const store_publication_t *key)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_PUBLICATION_FIND);
    s_bind_publication (stmt, key);
    char *reply = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        reply = strdup ((const char *)sqlite3_column_text (stmt, 0));
    sqlite3_reset (stmt);
    return reply;
}

int
store_publication_add (store_t *self, const store_publication_t *key, const char *reply)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_PUBLICATION_ADD);
    s_bind_publication (stmt, key);
    sqlite3_bind_text (stmt, 5, reply, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 6, time (NULL));
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
store_delivery_each (store_t *self, int64_t mailbox, int64_t after, int64_t limit,
                     void (*fn) (const store_entry_t *entry, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_LIST);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, after);
    sqlite3_bind_int64 (stmt, 3, limit); /* SQLite: a negative LIMIT is none */
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        store_entry_t entry = {
            .id = sqlite3_column_int64 (stmt, 0),
            .size = sqlite3_column_int64 (stmt, 1),
            .seen = strcmp ((const char *)sqlite3_column_text (stmt, 2), "seen") == 0,
            .delivered_at = sqlite3_column_int64 (stmt, 3),
            .sender = (const char *)sqlite3_column_text (stmt, 4),
            .subject = (const char *)sqlite3_column_text (stmt, 5),
        };
        fn (&entry, arg);
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int64_t
store_delivery_last_id (store_t *self, int64_t mailbox)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_LAST_ID);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    int64_t id = -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        id = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return id;
}

int
store_delivery_read (store_t *self, int64_t mailbox, int64_t delivery, void **body, size_t *size)
{
    return store_delivery_fetch (self, mailbox, delivery, true, body, size, NULL, NULL, NULL);
}

int
store_delivery_delete (store_t *self, int64_t mailbox, int64_t delivery)
{
    return store_delivery_remove (self, mailbox, delivery, NULL);
}

/* Marks delivery seen: 1 it changed, 0 it was seen already or is not there, -1 error */
static int
s_mark_seen (store_t *self, int64_t mailbox, int64_t delivery)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_MARK_SEEN);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, delivery);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc != SQLITE_DONE ? -1 : sqlite3_changes (self->db) > 0;
}

static unsigned s_flags_of (sqlite3_stmt *stmt, int flags_column, int state_column);

int
store_delivery_fetch (store_t *self, int64_t mailbox, int64_t delivery, bool mark, void **body, size_t *size,
                      bool *marked, int64_t *folder, unsigned *flags)
{
    if (marked)
        *marked = false;
    sqlite3_stmt *stmt = s_stmt (self, ST_RETRIEVE);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, delivery);
    int rc = sqlite3_step (stmt);
    if (rc != SQLITE_ROW) {
        sqlite3_reset (stmt);
        return rc == SQLITE_DONE ? 0 : -1;
    }
    *size = (size_t)sqlite3_column_bytes (stmt, 0);
    *body = malloc (*size ? *size : 1);
    memcpy (*body, sqlite3_column_blob (stmt, 0), *size);
    if (folder)
        *folder = sqlite3_column_int64 (stmt, 1);
    unsigned was = s_flags_of (stmt, 2, 3);
    if (flags)
        *flags = was | (mark ? STORE_FLAG_SEEN : 0);
    sqlite3_reset (stmt);
    if (!mark || (was & STORE_FLAG_SEEN))
        return 1;
    int changed = s_mark_seen (self, mailbox, delivery);
    if (changed < 0) {
        free (*body);
        *body = NULL;
        return -1;
    }
    if (marked)
        *marked = changed == 1;
    return 1;
}

int
store_delivery_mark_seen (store_t *self, int64_t mailbox, int64_t delivery)
{
    return s_mark_seen (self, mailbox, delivery);
}

int
store_delivery_remove (store_t *self, int64_t mailbox, int64_t delivery, int64_t *folder)
{
    if (folder) { /* where it is, for the GONE push (a watcher wants it) */
        sqlite3_stmt *stmt = s_stmt (self, ST_DELIVERY_FOLDER);
        sqlite3_bind_int64 (stmt, 1, mailbox);
        sqlite3_bind_int64 (stmt, 2, delivery);
        int rc = sqlite3_step (stmt);
        *folder = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
        sqlite3_reset (stmt);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_stmt *stmt = s_stmt (self, ST_DELETE);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, delivery);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

int
store_topic_find (store_t *self, const char *address, store_topic_t *list)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_LIST_FIND);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        memset (list, 0, sizeof *list);
        list->id = sqlite3_column_int64 (stmt, 0);
        snprintf (list->address, sizeof list->address, "%s", (const char *)sqlite3_column_text (stmt, 1));
        list->open = sqlite3_column_int (stmt, 2) != 0;
        list->members_post = strcmp ((const char *)sqlite3_column_text (stmt, 3), "members") == 0;
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

store_status_t
store_topic_add (store_t *self, const char *address, bool open, bool members_post, char **error)
{
    store_status_t status = s_address_free (self, address, "list", error);
    if (status != STORE_OK)
        return status;
    sqlite3_stmt *stmt = s_stmt (self, ST_LIST_ADD);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 2, open);
    sqlite3_bind_text (stmt, 3, members_post ? "members" : "anyone", -1, SQLITE_STATIC);
    return s_change (self, stmt, address, error, "cannot add");
}

store_status_t
store_topic_delete (store_t *self, const char *address, char **error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_LIST_DELETE);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    return s_change (self, stmt, address, error, "no such list");
}

store_member_t *
store_topic_members (store_t *self, int64_t list, int64_t *count)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_LIST_MEMBERS);
    sqlite3_bind_int64 (stmt, 1, list);
    store_member_t *members = NULL;
    int64_t n = 0, max = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if (n == max) {
            max = max ? max * 2 : 16;
            members = realloc (members, (size_t)max * sizeof *members);
        }
        snprintf (members[n].member, sizeof members[n].member, "%s",
                  (const char *)sqlite3_column_text (stmt, 0));
        snprintf (members[n].filter, sizeof members[n].filter, "%s",
                  (const char *)sqlite3_column_text (stmt, 1));
        n++;
    }
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE) {
        free (members);
        *count = -1;
        return NULL;
    }
    *count = n;
    return members;
}

int
store_subscribe (store_t *self, int64_t list, const char *member, const char *filter)
{
    int was = store_is_member (self, list, member);
    if (was < 0)
        return -1;
    sqlite3_stmt *stmt = s_stmt (self, ST_SUBSCRIBE);
    sqlite3_bind_int64 (stmt, 1, list);
    sqlite3_bind_text (stmt, 2, member, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, filter ? filter : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc != SQLITE_DONE ? -1 : was ? 0 : 1;
}

int
store_unsubscribe (store_t *self, int64_t list, const char *member)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_UNSUBSCRIBE);
    sqlite3_bind_int64 (stmt, 1, list);
    sqlite3_bind_text (stmt, 2, member, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

int
store_is_member (store_t *self, int64_t list, const char *member)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_IS_MEMBER);
    sqlite3_bind_int64 (stmt, 1, list);
    sqlite3_bind_text (stmt, 2, member, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_lease (store_t *self, int64_t mailbox, const char *consumer, int n, int64_t lease_ms,
             void (*fn) (int64_t id, const void *body, size_t size, void *arg), void *arg)
{
    int64_t now = zclock_time ();
    sqlite3_stmt *pick = s_stmt (self, ST_LEASE_PICK);
    sqlite3_bind_int64 (pick, 1, mailbox);
    sqlite3_bind_int64 (pick, 2, now);
    sqlite3_bind_int (pick, 3, n);
    int64_t ids[100];
    int count = 0, rc;
    while (count < n && count < 100 && (rc = sqlite3_step (pick)) == SQLITE_ROW) {
        ids[count++] = sqlite3_column_int64 (pick, 0);
        fn (ids[count - 1], sqlite3_column_blob (pick, 1), (size_t)sqlite3_column_bytes (pick, 1), arg);
    }
    sqlite3_reset (pick);
    for (int i = 0; i < count; i++) {
        sqlite3_stmt *take = s_stmt (self, ST_LEASE_TAKE);
        sqlite3_bind_int64 (take, 1, ids[i]);
        sqlite3_bind_int64 (take, 2, now + lease_ms);
        sqlite3_bind_text (take, 3, consumer, -1, SQLITE_STATIC);
        rc = sqlite3_step (take);
        sqlite3_reset (take);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return count;
}

static int
s_lease_change (store_t *self, int which, int64_t mailbox, int64_t delivery, const char *consumer)
{
    sqlite3_stmt *stmt = s_stmt (self, which);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, delivery);
    sqlite3_bind_text (stmt, 3, consumer, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

int
store_lease_ack (store_t *self, int64_t mailbox, int64_t delivery, const char *consumer)
{
    return s_lease_change (self, ST_LEASE_ACK, mailbox, delivery, consumer);
}

/* ids as a JSON array into text (at least count * 21 + 3 octets), for json_each */
static void
s_ids_json (char *text, const int64_t *ids, size_t count)
{
    size_t used = 0;
    text[used++] = '[';
    for (size_t i = 0; i < count; i++)
        used += (size_t)sprintf (text + used, "%s%lld", i ? "," : "", (long long)ids[i]);
    text[used++] = ']';
    text[used] = '\0';
}

static int
s_step_done (store_t *self, int which)
{
    sqlite3_stmt *stmt = s_stmt (self, which);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The batched delete's one statement, the trigger held off (schema 012): how many rows it
   removed, their message ids into messages and their sizes added to *bytes; or -1 */
static int
s_remove_rows (store_t *self, int64_t mailbox, const char *json, const char *consumer, int64_t *messages,
               int64_t *bytes, store_removed_fn *fn, void *arg)
{
    if (s_step_done (self, ST_COUNTED_ON) != 0)
        return -1;
    sqlite3_stmt *stmt = s_stmt (self, consumer ? ST_ACK_IDS : ST_REMOVE_IDS);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_text (stmt, 2, json, -1, SQLITE_STATIC);
    if (consumer)
        sqlite3_bind_text (stmt, 3, consumer, -1, SQLITE_STATIC);
    int removed = 0, rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) { /* RETURNING: after every row is gone */
        messages[removed++] = sqlite3_column_int64 (stmt, 2);
        *bytes += sqlite3_column_int64 (stmt, 3);
        if (fn)
            fn (sqlite3_column_int64 (stmt, 0), sqlite3_column_int64 (stmt, 1), arg);
    }
    sqlite3_reset (stmt);
    /* always out again: a row left there would hide hand deletes from the trigger */
    if (s_step_done (self, ST_COUNTED_OFF) != 0)
        return -1;
    return rc == SQLITE_DONE ? removed : -1;
}

/* The mailbox's counters down by what went, and the bodies nothing refers to any more */
static int
s_removed_count (store_t *self, int64_t mailbox, int64_t *messages, int removed, int64_t bytes, char *json)
{
    if (s_counters_move (self, mailbox, -removed, -bytes) != 0)
        return -1;
    s_ids_json (json, messages, (size_t)removed);
    sqlite3_stmt *stmt = s_stmt (self, ST_BODIES_DROP);
    sqlite3_bind_text (stmt, 1, json, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
store_deliveries_remove (store_t *self, int64_t mailbox, const int64_t *ids, size_t count,
                         const char *consumer, store_removed_fn *fn, void *arg)
{
    if (count == 0)
        return 0;
    bool own = sqlite3_get_autocommit (self->db); /* outside a transaction: one of its own */
    if (own && store_begin (self) != 0)
        return -1;
    char *json = malloc (count * 21 + 3);
    int64_t *messages = malloc (count * sizeof *messages), bytes = 0;
    int removed = -1;
    if (json && messages) {
        s_ids_json (json, ids, count);
        removed = s_remove_rows (self, mailbox, json, consumer, messages, &bytes, fn, arg);
    }
    if (removed > 0 && s_removed_count (self, mailbox, messages, removed, bytes, json) != 0)
        removed = -1;
    free (json);
    free (messages);
    if (own && removed < 0)
        store_rollback (self);
    else if (own && store_commit (self, NULL) != 0)
        removed = -1;
    return removed;
}

int
store_lease_nack (store_t *self, int64_t mailbox, int64_t delivery, const char *consumer)
{
    return s_lease_change (self, ST_LEASE_NACK, mailbox, delivery, consumer);
}

int
store_lease_release_all (store_t *self, const char *consumer)
{
    sqlite3_stmt *stmt = s_stmt (self, consumer ? ST_LEASE_RELEASE : ST_LEASE_RELEASE_ALL);
    if (consumer)
        sqlite3_bind_text (stmt, 1, consumer, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? sqlite3_changes (self->db) : -1;
}

int
store_purge (store_t *self, void (*gone) (int64_t id, int64_t mailbox, int64_t folder, void *arg), void *arg)
{
    static const int which[] = {ST_PURGE_EXPIRED, ST_PURGE_COUNT, ST_PURGE_AGE};
    int total = 0;
    for (size_t i = 0; i < sizeof which / sizeof which[0]; i++) {
        sqlite3_stmt *stmt = s_stmt (self, which[i]);
        int rc;
        while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            if (gone)
                gone (sqlite3_column_int64 (stmt, 0), sqlite3_column_int64 (stmt, 1),
                      sqlite3_column_int64 (stmt, 2), arg);
            total++;
        }
        sqlite3_reset (stmt);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return total;
}

bool
store_purge_due (store_t *self, int64_t forget_before)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_PURGE_DUE);
    sqlite3_bind_int64 (stmt, 1, forget_before);
    /* an error reads as due: the purge's own transaction then meets it, and says so */
    bool due = sqlite3_step (stmt) != SQLITE_ROW || sqlite3_column_int (stmt, 0) != 0;
    sqlite3_reset (stmt);
    return due;
}

int
store_publications_forget (store_t *self, int64_t before, int limit)
{
    /* rows in rowid order are in time order (schema 8): the old ones are a prefix, found by
       reading from the start until a row inside the window, then deleted as one range */
    sqlite3_stmt *oldest = s_stmt (self, ST_PUBLICATION_OLDEST);
    sqlite3_bind_int (oldest, 1, limit);
    int64_t last = 0;
    int count = 0, rc;
    while ((rc = sqlite3_step (oldest)) == SQLITE_ROW && sqlite3_column_int64 (oldest, 1) < before) {
        last = sqlite3_column_int64 (oldest, 0);
        count++;
    }
    sqlite3_reset (oldest);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    if (count == 0)
        return 0;
    sqlite3_stmt *forget = s_stmt (self, ST_PUBLICATION_FORGET);
    sqlite3_bind_int64 (forget, 1, last);
    rc = sqlite3_step (forget);
    sqlite3_reset (forget);
    return rc == SQLITE_DONE ? count : -1;
}

store_status_t
store_mailbox_retention (store_t *self, const char *address, int64_t count, int64_t seconds, char **error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_RETENTION);
    sqlite3_bind_text (stmt, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, count);
    sqlite3_bind_int64 (stmt, 3, seconds);
    return s_change (self, stmt, address, error, "no such mailbox");
}

int64_t
store_outbound_add (store_t *self, int64_t message, const char *sender, const char *recipient)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_OUT_ADD);
    sqlite3_bind_int64 (stmt, 1, message);
    sqlite3_bind_text (stmt, 2, sender, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, recipient, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? sqlite3_last_insert_rowid (self->db) : -1;
}

static void
s_read_outbound (sqlite3_stmt *stmt, store_outbound_t *entry)
{
    memset (entry, 0, sizeof *entry);
    entry->id = sqlite3_column_int64 (stmt, 0);
    entry->message = sqlite3_column_int64 (stmt, 1);
    entry->sender = (const char *)sqlite3_column_text (stmt, 2);
    entry->recipient = (const char *)sqlite3_column_text (stmt, 3);
    entry->state = (const char *)sqlite3_column_text (stmt, 4);
    entry->attempts = sqlite3_column_int64 (stmt, 5);
    entry->next_attempt = sqlite3_column_int64 (stmt, 6);
    entry->queued_at = sqlite3_column_int64 (stmt, 7);
    entry->last_error = (const char *)sqlite3_column_text (stmt, 8);
    entry->body = sqlite3_column_blob (stmt, 9);
    entry->size = (size_t)sqlite3_column_bytes (stmt, 9);
}

int
store_outbound_claim (store_t *self, int n, int64_t lease_ms,
                      void (*fn) (const store_outbound_t *entry, void *arg), void *arg)
{
    int64_t now = zclock_time ();
    sqlite3_stmt *pick = s_stmt (self, ST_OUT_PICK);
    sqlite3_bind_int64 (pick, 1, now);
    sqlite3_bind_int (pick, 2, n);
    int64_t ids[100];
    int count = 0, rc;
    while (count < n && count < 100 && (rc = sqlite3_step (pick)) == SQLITE_ROW) {
        store_outbound_t entry;
        s_read_outbound (pick, &entry);
        ids[count++] = entry.id;
        fn (&entry, arg);
    }
    sqlite3_reset (pick);
    for (int i = 0; i < count; i++) {
        sqlite3_stmt *take = s_stmt (self, ST_OUT_TAKE);
        sqlite3_bind_int64 (take, 1, ids[i]);
        sqlite3_bind_int64 (take, 2, now + lease_ms);
        rc = sqlite3_step (take);
        sqlite3_reset (take);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return count;
}

int
store_outbound_get (store_t *self, int64_t id, store_outbound_t *entry)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_OUT_GET);
    sqlite3_bind_int64 (stmt, 1, id);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        s_read_outbound (stmt, entry);
        /* the texts live in the statement, which is reset now: only numbers are returned */
        bool failed = strcmp (entry->state, "failed") == 0;
        entry->sender = entry->recipient = entry->last_error = NULL;
        entry->state = failed ? "failed" : "queued";
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a statement that takes an outbound id: 1 it changed the entry, 0 none, -1 error */
static int
s_outbound_change (store_t *self, int which, int64_t id)
{
    sqlite3_stmt *stmt = s_stmt (self, which);
    sqlite3_bind_int64 (stmt, 1, id);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

int
store_outbound_delete (store_t *self, int64_t id)
{
    return s_outbound_change (self, ST_OUT_DELETE, id);
}

int
store_outbound_release (store_t *self, int64_t id)
{
    return s_outbound_change (self, ST_OUT_RELEASE, id);
}

int
store_outbound_retry (store_t *self, int64_t id, const char *error, int64_t next_attempt)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_OUT_RETRY);
    sqlite3_bind_int64 (stmt, 1, id);
    sqlite3_bind_text (stmt, 2, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, next_attempt);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}

int
store_outbound_each (store_t *self, void (*fn) (const store_outbound_t *entry, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_OUT_EACH);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        store_outbound_t entry;
        s_read_outbound (stmt, &entry);
        fn (&entry, arg);
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
store_outbound_flush (store_t *self)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_OUT_FLUSH);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? sqlite3_changes (self->db) : -1;
}

const char *
store_error (store_t *self)
{
    return sqlite3_errmsg (self->db);
}

int
store_queue_depth (store_t *self, int64_t *messages, int64_t *bytes)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (
            self->db, "SELECT coalesce(sum(message_count), 0), coalesce(sum(used_bytes), 0) FROM mailboxes",
            -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step (stmt) == SQLITE_ROW) {
        *messages = sqlite3_column_int64 (stmt, 0);
        *bytes = sqlite3_column_int64 (stmt, 1);
        rc = 0;
    }
    sqlite3_finalize (stmt);
    return rc;
}

/* --------------------------------------------------------------------- folders and flags */

static const char s_flag_letters[] = "DFRST"; /* bit i is letter i: ASCII order */

int
store_flags_parse (const char *letters, size_t size, unsigned *bits)
{
    *bits = 0;
    for (size_t i = 0; i < size; i++) {
        const char *at = letters[i] ? strchr (s_flag_letters, letters[i]) : NULL;
        if (!at)
            return -1;
        *bits |= 1u << (at - s_flag_letters);
    }
    return 0;
}

char *
store_flags_format (unsigned bits, char *out)
{
    char *p = out;
    for (int i = 0; s_flag_letters[i]; i++)
        if (bits & (1u << i))
            *p++ = s_flag_letters[i];
    *p = '\0';
    return out;
}

/* Binds a folder id, 0 (the INBOX) as NULL */
static void
s_bind_folder (sqlite3_stmt *stmt, int index, int64_t folder)
{
    if (folder > 0)
        sqlite3_bind_int64 (stmt, index, folder);
    else
        sqlite3_bind_null (stmt, index);
}

int
store_folder_find (store_t *self, int64_t mailbox, const char *name, int64_t *folder)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_FIND);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        *folder = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_folder_name (store_t *self, int64_t folder, char *name, size_t size)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_NAME);
    sqlite3_bind_int64 (stmt, 1, folder);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        snprintf (name, size, "%s", (const char *)sqlite3_column_text (stmt, 0));
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_folder_defaults (store_t *self, int64_t mailbox)
{
    static const char *const made[][2] = {{"Drafts", "\\Drafts"}, {"Sent", "\\Sent"}, {"Trash", "\\Trash"}};
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDERS_MADE);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    if (sqlite3_changes (self->db) == 0)
        return 0; /* made before (and perhaps deleted by the user since) */
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        store_status_t status = store_folder_create (self, mailbox, made[i][0], made[i][1], NULL);
        if (status != STORE_OK && status != STORE_EXISTS)
            return -1;
    }
    return 0;
}

int
store_folder_each (store_t *self, int64_t mailbox, const char *name,
                   void (*fn) (const store_folder_t *folder, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_EACH);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    if (name)
        sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
    int rc, count = 0;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        store_folder_t folder = {
            .id = sqlite3_column_int64 (stmt, 0),
            .name = (const char *)sqlite3_column_text (stmt, 1),
            .messages = sqlite3_column_int64 (stmt, 2),
            .subscribed = sqlite3_column_int (stmt, 3) != 0,
            .special_use = (const char *)sqlite3_column_text (stmt, 4),
            .unseen = sqlite3_column_int64 (stmt, 5),
        };
        fn (&folder, arg);
        count++;
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? count : -1;
}

/* The sums of mailbox's folders' counters, and how many folders: 0, or -1 */
static int
s_folder_totals (store_t *self, int64_t mailbox, int64_t *messages, int64_t *bytes, int64_t *folders)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_TOTALS);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        *messages = sqlite3_column_int64 (stmt, 0);
        *bytes = sqlite3_column_int64 (stmt, 1);
        *folders = sqlite3_column_int64 (stmt, 2);
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

int
store_inbox_totals (store_t *self, int64_t mailbox, int64_t *messages, int64_t *bytes, int64_t *unseen)
{
    int64_t in_folders = 0, folder_bytes = 0, folders = 0;
    if (s_folder_totals (self, mailbox, &in_folders, &folder_bytes, &folders) != 0)
        return -1;
    *messages -= in_folders; /* the caller's mailbox counters, pending ones included */
    *bytes -= folder_bytes;
    if (!unseen)
        return 0;
    sqlite3_stmt *stmt = s_stmt (self, ST_INBOX_UNSEEN);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        *unseen = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 0 : -1;
}

int64_t
store_next_delivery_id (store_t *self)
{
    if (sqlite3_get_autocommit (self->db) && s_ids_check (self) != 0)
        return -1;
    return self->next_id[SEQ_DELIVERIES];
}

store_status_t
store_folder_create (store_t *self, int64_t mailbox, const char *name, const char *special_use, char **error)
{
    int64_t messages, bytes, folders;
    if (s_folder_totals (self, mailbox, &messages, &bytes, &folders) != 0)
        return s_failed (self, error);
    if (folders >= STORE_FOLDERS_MAX)
        return s_refuse (error, STORE_LIMIT, zsys_sprintf ("at most %d folders", STORE_FOLDERS_MAX));
    int64_t id = s_id_take (self, SEQ_FOLDERS);
    if (id < 0)
        return s_failed (self, error);
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_ADD);
    sqlite3_bind_int64 (stmt, 1, id);
    sqlite3_bind_int64 (stmt, 2, mailbox);
    sqlite3_bind_text (stmt, 3, name, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 4, special_use ? special_use : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (s_id_done (self, rc == SQLITE_DONE) != 0 && rc == SQLITE_DONE)
        return s_failed (self, error);
    if (rc == SQLITE_CONSTRAINT)
        return s_refuse (error, STORE_EXISTS, strdup ("folder exists"));
    return rc == SQLITE_DONE ? STORE_OK : s_failed (self, error);
}

store_status_t
store_folder_delete (store_t *self, int64_t mailbox, const char *name, void (*gone) (int64_t id, void *arg),
                     void *arg, char **error)
{
    int64_t folder = 0;
    int found = store_folder_find (self, mailbox, name, &folder);
    if (found <= 0)
        return found < 0 ? s_failed (self, error)
                         : s_refuse (error, STORE_NOT_FOUND, strdup ("no such folder"));
    /* its deliveries one statement, each named for the pushes, then the folder */
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_EMPTY);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, folder);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        if (gone)
            gone (sqlite3_column_int64 (stmt, 0), arg);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return s_failed (self, error);
    stmt = s_stmt (self, ST_FOLDER_DELETE);
    sqlite3_bind_int64 (stmt, 1, folder);
    rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? STORE_OK : s_failed (self, error);
}

store_status_t
store_folder_rename (store_t *self, int64_t mailbox, const char *from, const char *to, char **error)
{
    int64_t folder = 0;
    int found = store_folder_find (self, mailbox, from, &folder);
    if (found <= 0)
        return found < 0 ? s_failed (self, error)
                         : s_refuse (error, STORE_NOT_FOUND, strdup ("no such folder"));
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_RENAME);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_text (stmt, 2, from, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, to, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_CONSTRAINT)
        return s_refuse (error, STORE_EXISTS, strdup ("folder exists"));
    return rc == SQLITE_DONE ? STORE_OK : s_failed (self, error);
}

store_status_t
store_folder_subscribe (store_t *self, int64_t mailbox, const char *name, bool subscribed, char **error)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_FOLDER_SUBSCRIBE);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_text (stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 3, subscribed);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return s_failed (self, error);
    return sqlite3_changes (self->db) ? STORE_OK
                                      : s_refuse (error, STORE_NOT_FOUND, strdup ("no such folder"));
}

/* The bits of a row's flags and state columns */
static unsigned
s_flags_of (sqlite3_stmt *stmt, int flags_column, int state_column)
{
    const char *letters = (const char *)sqlite3_column_text (stmt, flags_column);
    unsigned bits = 0;
    store_flags_parse (letters, strlen (letters), &bits);
    if (streq ((const char *)sqlite3_column_text (stmt, state_column), "seen"))
        bits |= STORE_FLAG_SEEN;
    return bits;
}

int
store_scan (store_t *self, int64_t mailbox, int64_t folder, int64_t after, int64_t limit,
            void (*fn) (const store_item_t *item, void *arg), void *arg)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_SCAN);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    s_bind_folder (stmt, 2, folder);
    sqlite3_bind_int64 (stmt, 3, after);
    sqlite3_bind_int64 (stmt, 4, limit);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        store_item_t item = {.id = sqlite3_column_int64 (stmt, 0),
                             .size = sqlite3_column_int64 (stmt, 1),
                             .flags = s_flags_of (stmt, 2, 3),
                             .delivered_at = sqlite3_column_int64 (stmt, 4)};
        fn (&item, arg);
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
store_delivery_get (store_t *self, int64_t mailbox, int64_t id, store_delivery_t *delivery)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_DELIVERY_GET);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    sqlite3_bind_int64 (stmt, 2, id);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        delivery->folder = sqlite3_column_int64 (stmt, 0);
        delivery->flags = s_flags_of (stmt, 1, 2);
        delivery->delivered_at = sqlite3_column_int64 (stmt, 3);
        delivery->size = sqlite3_column_int64 (stmt, 4);
        delivery->message = sqlite3_column_int64 (stmt, 5);
        snprintf (delivery->sender, sizeof delivery->sender, "%s",
                  (const char *)sqlite3_column_text (stmt, 6));
        snprintf (delivery->subject, sizeof delivery->subject, "%s",
                  (const char *)sqlite3_column_text (stmt, 7));
    }
    sqlite3_reset (stmt);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_delivery_flag (store_t *self, int64_t mailbox, int64_t id, char op, unsigned bits,
                     store_delivery_t *delivery, bool *changed)
{
    *changed = false;
    int found = store_delivery_get (self, mailbox, id, delivery);
    if (found <= 0)
        return found;
    unsigned now = op == '+' ? delivery->flags | bits : op == '-' ? delivery->flags & ~bits : bits;
    if (now == delivery->flags)
        return 1;
    char letters[STORE_FLAGS_MAX];
    sqlite3_stmt *stmt = s_stmt (self, ST_FLAGS_SET);
    sqlite3_bind_int64 (stmt, 1, id);
    sqlite3_bind_text (stmt, 2, store_flags_format (now & ~(unsigned)STORE_FLAG_SEEN, letters), -1,
                       SQLITE_TRANSIENT);
    sqlite3_bind_text (stmt, 3, now & STORE_FLAG_SEEN ? "seen" : "new", -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE)
        return -1;
    delivery->flags = now;
    *changed = true;
    return 1;
}

int64_t
store_delivery_put (store_t *self, int64_t mailbox, int64_t message, int64_t size, int64_t folder,
                    unsigned flags, int64_t delivered_at)
{
    int64_t delivery = s_id_take (self, SEQ_DELIVERIES);
    if (delivery < 0)
        return -1;
    char letters[STORE_FLAGS_MAX];
    sqlite3_stmt *stmt = s_stmt (self, ST_DELIVER_IN);
    sqlite3_bind_int64 (stmt, 1, delivery);
    sqlite3_bind_int64 (stmt, 2, mailbox);
    sqlite3_bind_int64 (stmt, 3, message);
    sqlite3_bind_text (stmt, 4, flags & STORE_FLAG_SEEN ? "seen" : "new", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 5, delivered_at);
    sqlite3_bind_int64 (stmt, 6, folder);
    sqlite3_bind_text (stmt, 7, store_flags_format (flags & ~(unsigned)STORE_FLAG_SEEN, letters), -1,
                       SQLITE_TRANSIENT);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    if (rc == SQLITE_DONE && folder > 0) { /* its folder's counters (schema 011) */
        stmt = s_stmt (self, ST_FOLDER_COUNT_IN);
        sqlite3_bind_int64 (stmt, 1, folder);
        sqlite3_bind_int64 (stmt, 2, size);
        rc = sqlite3_step (stmt);
        sqlite3_reset (stmt);
    }
    if (s_id_done (self, rc == SQLITE_DONE) != 0)
        return -1;
    return s_counters_add (self, mailbox, size) == 0 ? delivery : -1;
}

int
store_expunge_pick (store_t *self, int64_t mailbox, int64_t folder, int64_t **ids, size_t *count)
{
    sqlite3_stmt *stmt = s_stmt (self, ST_EXPUNGE_PICK);
    sqlite3_bind_int64 (stmt, 1, mailbox);
    s_bind_folder (stmt, 2, folder);
    size_t max = 0;
    int rc;
    *ids = NULL;
    *count = 0;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if (*count == max) {
            int64_t *more = realloc (*ids, (max ? max * 2 : 16) * sizeof **ids);
            if (!more)
                break;
            max = max ? max * 2 : 16;
            *ids = more;
        }
        (*ids)[(*count)++] = sqlite3_column_int64 (stmt, 0);
    }
    sqlite3_reset (stmt);
    if (rc == SQLITE_DONE)
        return 0;
    free (*ids);
    *ids = NULL;
    *count = 0;
    return -1;
}
