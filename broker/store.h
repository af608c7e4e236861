/*  store.h — the broker's SQLite store: mailboxes, messages (one body each), deliveries
    (one row per recipient mailbox), publications (dedupe). The broker's one thread owns
    it; the schema lives in schema/ (.sql files) and is applied by store_open. */
#ifndef MAILBUS_STORE_H
#define MAILBUS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_limits.h"

typedef struct store_t store_t;

/* What an administrative change (mailbox, key, list, retention) came to. The failures are
   negative, so a caller testing != 0 or < 0 sees them all; the text in *error says the same
   for logs and replies, the status is what a caller decides on. */
typedef enum {
    STORE_OK = 0,
    STORE_ERROR = -1,     /* the database failed ("store: ..." in *error) */
    STORE_EXISTS = -2,    /* the mailbox, list or key exists already */
    STORE_NOT_FOUND = -3, /* no such mailbox, list or key of that mailbox */
    STORE_LIMIT = -4,     /* a mailbox has STORE_FOLDERS_MAX folders already */
} store_status_t;

typedef struct {
    int64_t id;
    char address[MAX_ADDRESS + 1];
    char password_hash[160];
    int64_t quota_bytes;
    int64_t used_bytes;
    int64_t message_count;
    char role[16]; /* user or gateway */
} store_mailbox_t;

typedef struct {
    int64_t id; /* delivery id */
    int64_t size;
    bool seen;
    int64_t delivered_at;
    const char *sender;
    const char *subject;
} store_entry_t;

/* Files under var/ are the owner's alone. dir_create makes the folders that hold path
   (mkdir -p), each new one 0700: 0, or -1 with errno. secure makes the database's files
   (path, -wal, -shm, -journal, .lock, gateway.secret beside it) 0600 and the database's own
   folder (var/ in the folder the broker runs from) 0700 where group or others could use
   them, with a warning naming each; another folder is only named. Returns how many it fixed.
   store_open calls both. */
int store_dir_create (const char *path);
int store_secure (const char *path);

/* Opens (creating it and its directory, 0600 and 0700) and migrates the database. synchronous_full false
   gives synchronous=NORMAL (faster, may lose the last commits on power loss).
   Refuses a database of a newer version or of another application. */
store_t *store_open (const char *path, bool synchronous_full, char **error);
void store_close (store_t **self_p);
/* WAL checkpoints from then on run in a thread of their own with its own connection, off
   the path of requests (the broker calls it; the admin commands do not). 0 or -1. */
int store_checkpoint_in_background (store_t *self);

/* The WAL's bound (docs/OPERATIONS.md "The WAL"). eager: space is short, checkpoint every
   MiB instead of every 16. tick (once a second): a checkpoint a reader held up is tried again,
   and a WAL file past what is kept (or any, when the broker was idle since the last tick, or
   space is short) is truncated to nothing when nobody is on it. capped: a reader pins
   the WAL and it has reached its cap: publishing is refused until the reader ends. */
void store_checkpoint_eager (store_t *self, bool eager);
void store_wal_tick (store_t *self, bool idle);
bool store_wal_capped (store_t *self);
typedef struct {
    int64_t wal_bytes;     /* the -wal file's size now */
    int64_t keep_bytes;    /* cut back to this after a checkpoint (journal_size_limit) */
    int64_t cap_bytes;     /* the bound */
    int64_t checkpoint_at; /* unix ms of the last checkpoint, 0 none since the start */
    int64_t checkpoint_frames, checkpoint_copied;
    int64_t pinned_since; /* unix ms a reader first held a checkpoint up, 0 not held */
    bool capped;
} store_wal_info_t;
void store_wal_info (store_t *self, store_wal_info_t *info);
/* Bytes free inside the database (its free pages, reused before the file grows) */
int64_t store_free_inside (store_t *self);
/* The last failure (a statement, or store_commit) was SQLITE_FULL: the disk is full */
bool store_full (store_t *self);
/* A background checkpoint found the disk full since the last call (the WAL cannot start
   over: what it holds grows until publishing stops) */
bool store_checkpoint_found_full (store_t *self);
/* Messages and bytes waiting in every mailbox (their counters): 0, or -1 */
int store_queue_depth (store_t *self, int64_t *messages, int64_t *bytes);

/* Transactions. begin/commit return 0 or -1; commit fills *error (caller frees). */
int store_begin (store_t *self);
int store_commit (store_t *self, char **error);
void store_rollback (store_t *self);
/* Sets every mailbox's message_count and used_bytes from its deliveries; returns how many
   mailboxes were wrong, or -1. The broker runs it at start. */
int store_recount (store_t *self);

/* Mailboxes. find returns 1 found, 0 not found, -1 error. */
int store_mailbox_find (store_t *self, const char *address, store_mailbox_t *mailbox);
/* role: "user" or "gateway". add: STORE_EXISTS when a mailbox or list has the address;
   delete and passwd: STORE_NOT_FOUND when no mailbox has it. */
store_status_t store_mailbox_add (store_t *self, const char *address, const char *password_hash,
                                  const char *role, char **error);
store_status_t store_mailbox_delete (store_t *self, const char *address, char **error);
store_status_t store_mailbox_passwd (store_t *self, const char *address, const char *password_hash,
                                     char **error);
/* Calls fn for each mailbox, ordered by address */
int store_mailbox_each (store_t *self, void (*fn) (const store_mailbox_t *mailbox, void *arg), void *arg);
int64_t store_mailbox_count (store_t *self);

/* Mailbox keys: CURVE public keys (Z85) that identify a mailbox without a password. A key
   belongs to one mailbox. add: STORE_NOT_FOUND (no such mailbox), STORE_EXISTS (the key
   belongs to a mailbox already); delete: STORE_NOT_FOUND (not that mailbox's key). owner: 1
   and *mailbox_id, 0 when no mailbox has the key, -1. */
store_status_t store_key_add (store_t *self, const char *address, const char *key, char **error);
store_status_t store_key_delete (store_t *self, const char *address, const char *key, char **error);
int store_key_owner (store_t *self, const char *key, int64_t *mailbox_id);
int store_key_each (store_t *self, const char *address, void (*fn) (const char *key, void *arg), void *arg);

/* List topics. */
typedef struct {
    int64_t id;
    char address[MAX_ADDRESS + 1];
    bool open;         /* anyone may subscribe */
    bool members_post; /* only members may publish to it */
} store_topic_t;

typedef struct {
    char member[MAX_ADDRESS + 1];
    char filter[256]; /* empty: every message */
} store_member_t;

/* 1 found, 0 not, -1 error */
int store_topic_find (store_t *self, const char *address, store_topic_t *list);
/* add: STORE_EXISTS when a mailbox or list has that address; delete: STORE_NOT_FOUND */
store_status_t store_topic_add (store_t *self, const char *address, bool open, bool members_post,
                                char **error);
store_status_t store_topic_delete (store_t *self, const char *address, char **error);
/* The members of a list, read into a new array (caller frees); *count gets their number.
   NULL with *count 0 when empty; NULL with *count -1 on error. */
store_member_t *store_topic_members (store_t *self, int64_t list, int64_t *count);
/* 1 added, 0 already a member (filter updated), -1 error */
int store_subscribe (store_t *self, int64_t list, const char *member, const char *filter);
/* 1 removed, 0 was not a member, -1 error */
int store_unsubscribe (store_t *self, int64_t list, const char *member);
/* 1 when member is subscribed to list */
int store_is_member (store_t *self, int64_t list, const char *member);

/* Stores one message body; returns its id, or -1. message_id may be NULL; expires_at is a
   unix time after which it is never handed out (0: never expires). */
int64_t store_message_add (store_t *self, const char *sender, const char *message_id, const char *subject,
                           const void *body, size_t size, int64_t expires_at);
/* Adds a delivery of message (size octets) into mailbox; returns the delivery id, or -1.
   The mailbox counters take it at commit (store_mailbox_find shows it at once). */
int64_t store_delivery_add (store_t *self, int64_t message, int64_t mailbox, size_t size);

/* Dedupe (schema/009): one record per recipient a message was stored for, keyed on the
   envelope sender, the Message-ID, the recipient and a digest of the content, so that only a
   retry of the same message to the same recipient is taken for a copy. */
#define STORE_CONTENT_BYTES 16 /* BLAKE2b-128 */
typedef struct {
    const char *sender;
    const char *message_id;
    const char *recipient;
    const uint8_t *content; /* STORE_CONTENT_BYTES */
} store_publication_t;

/* The reply line first given to that recipient of that message, or NULL (caller frees) */
char *store_publication_find (store_t *self, const store_publication_t *key);
int store_publication_add (store_t *self, const store_publication_t *key, const char *reply);

/* Deliveries (a mailbox's messages; list topics are store_topic_*). each calls fn for
   each delivery of mailbox with an id above after (0: from the first), oldest first, at most
   limit of them (< 0: all): a page of LIST. */
int store_delivery_each (store_t *self, int64_t mailbox, int64_t after, int64_t limit,
                         void (*fn) (const store_entry_t *entry, void *arg), void *arg);
/* Highest delivery id in mailbox (0 when empty), or -1 */
int64_t store_delivery_last_id (store_t *self, int64_t mailbox);
/* Copies the body of delivery (in any folder of mailbox) into *body (caller frees) and marks
   it seen. Returns 1, 0 when there is no such delivery in that mailbox, -1 on error. */
int store_delivery_read (store_t *self, int64_t mailbox, int64_t delivery, void **body, size_t *size);
/* 1 deleted, 0 no such delivery in that mailbox, -1 error */
int store_delivery_delete (store_t *self, int64_t mailbox, int64_t delivery);

/* ------------------------------------------------------------ folders and flags (schema 011)
   A folder id 0 is the INBOX (deliveries with folder_id NULL: what LIST, STAT, LEASE and
   WATCH see). Flags are the bits below; on the wire Maildir letters in ASCII order. */
#define STORE_FOLDER_NAME_MAX 200 /* octets */
#define STORE_FOLDERS_MAX 1000    /* per mailbox */
enum {
    STORE_FLAG_DRAFT = 1,    /* D */
    STORE_FLAG_FLAGGED = 2,  /* F */
    STORE_FLAG_ANSWERED = 4, /* R */
    STORE_FLAG_SEEN = 8,     /* S: state 'seen' */
    STORE_FLAG_DELETED = 16, /* T */
};
#define STORE_FLAGS_MAX 6 /* "DFRST" and its NUL */
/* letters (size octets, any order, repeats allowed) to bits: 0, or -1 for another octet */
int store_flags_parse (const char *letters, size_t size, unsigned *bits);
/* bits to letters in ASCII order into out (STORE_FLAGS_MAX); returns out */
char *store_flags_format (unsigned bits, char *out);

typedef struct {
    int64_t id; /* its UIDVALIDITY */
    const char *name;
    int64_t messages, unseen;
    bool subscribed;
    const char *special_use; /* "\Sent", "\Drafts", "\Trash" or "" */
} store_folder_t;

/* 1 and *folder, 0 no such folder of mailbox, -1 error */
int store_folder_find (store_t *self, int64_t mailbox, const char *name, int64_t *folder);
/* The folder's name into name (size octets): 1, 0 no such folder, -1 */
int store_folder_name (store_t *self, int64_t folder, char *name, size_t size);
/* Makes Sent, Drafts and Trash, the first time it is called for mailbox: 0, or -1 */
int store_folder_defaults (store_t *self, int64_t mailbox);
/* fn for each folder of mailbox (only the one called name, unless NULL), by name; the INBOX
   is not one of them. Returns how many, or -1. */
int store_folder_each (store_t *self, int64_t mailbox, const char *name,
                       void (*fn) (const store_folder_t *folder, void *arg), void *arg);
/* The INBOX: messages and bytes (the mailbox's counters less its folders'), unread messages */
int store_inbox_totals (store_t *self, int64_t mailbox, int64_t *messages, int64_t *bytes, int64_t *unseen);
/* The id the next delivery will get (any folder's UIDNEXT) */
int64_t store_next_delivery_id (store_t *self);
/* create: STORE_EXISTS, STORE_LIMIT; delete: STORE_NOT_FOUND, and gone gets each delivery it
   took; rename (the folder and those below it): STORE_NOT_FOUND, STORE_EXISTS; subscribe:
   STORE_NOT_FOUND. Names are checked by the caller. */
store_status_t store_folder_create (store_t *self, int64_t mailbox, const char *name, const char *special_use,
                                    char **error);
store_status_t store_folder_delete (store_t *self, int64_t mailbox, const char *name,
                                    void (*gone) (int64_t id, void *arg), void *arg, char **error);
store_status_t store_folder_rename (store_t *self, int64_t mailbox, const char *from, const char *to,
                                    char **error);
store_status_t store_folder_subscribe (store_t *self, int64_t mailbox, const char *name, bool subscribed,
                                       char **error);

/* One delivery of a folder as SCAN shows it */
typedef struct {
    int64_t id, size, delivered_at;
    unsigned flags;
} store_item_t;
/* fn for each delivery of folder with an id above after, oldest first, at most limit (< 0 all) */
int store_scan (store_t *self, int64_t mailbox, int64_t folder, int64_t after, int64_t limit,
                void (*fn) (const store_item_t *item, void *arg), void *arg);

/* A delivery of mailbox, any folder */
typedef struct {
    int64_t folder, message, size, delivered_at;
    unsigned flags; /* with STORE_FLAG_SEEN */
    char sender[MAX_ADDRESS + 1];
    char subject[256];
} store_delivery_t;
/* 1 found, 0 not a delivery of mailbox, -1 error */
int store_delivery_get (store_t *self, int64_t mailbox, int64_t id, store_delivery_t *delivery);
/* op '+' adds bits, '-' removes them, '=' sets them. 1 (delivery filled as it is now, *changed
   when it changed), 0 not a delivery of mailbox, -1 error */
int store_delivery_flag (store_t *self, int64_t mailbox, int64_t id, char op, unsigned bits,
                         store_delivery_t *delivery, bool *changed);
/* A new delivery of message (size octets) into folder with those flags and that time, the
   mailbox counters taking it at commit: its id, or -1 */
int64_t store_delivery_put (store_t *self, int64_t mailbox, int64_t message, int64_t size, int64_t folder,
                            unsigned flags, int64_t delivered_at);
/* RETR: as store_delivery_read, marking it seen only when mark; *marked (may be NULL) true
   when that changed its flags, *folder and *flags then what it is in and has now */
int store_delivery_fetch (store_t *self, int64_t mailbox, int64_t delivery, bool mark, void **body,
                          size_t *size, bool *marked, int64_t *folder, unsigned *flags);
/* Marks delivery seen (the batched RETR, after it read them all): 1 it changed, 0 it was seen
   already or is not there, -1 */
int store_delivery_mark_seen (store_t *self, int64_t mailbox, int64_t delivery);
/* DELE: 1 deleted (*folder, may be NULL: where it was), 0 not a delivery of mailbox, -1 */
int store_delivery_remove (store_t *self, int64_t mailbox, int64_t delivery, int64_t *folder);
/* The deliveries of folder flagged \Deleted (T), in id order, into *ids (a new array, caller
   frees; NULL when none) and *count: 0, or -1 */
int store_expunge_pick (store_t *self, int64_t mailbox, int64_t folder, int64_t **ids, size_t *count);

/* Consumers (competing, work-queue style). lease hands out up to n deliveries of mailbox that
   no consumer holds (or whose lease ran out), oldest first, to consumer for lease_ms; fn gets
   each. Returns how many, or -1. */
int store_lease (store_t *self, int64_t mailbox, const char *consumer, int n, int64_t lease_ms,
                 void (*fn) (int64_t id, const void *body, size_t size, void *arg), void *arg);
/* The batched DELE (consumer NULL) and ACK (consumer: only what it holds): removes those of
   ids (count of them, at most 1000) that are mailbox's in one statement; fn, may be NULL, gets
   each removed id and its folder (0: the INBOX). The mailbox's counters go down once a
   transaction and bodies left without a delivery go (schema 012). Outside a transaction it
   is one of its own. Returns how many were removed, or -1 */
typedef void (store_removed_fn) (int64_t id, int64_t folder, void *arg);
int store_deliveries_remove (store_t *self, int64_t mailbox, const int64_t *ids, size_t count,
                             const char *consumer, store_removed_fn *fn, void *arg);
/* ACK: deletes the delivery if consumer holds it. 1 deleted, 0 not held by consumer, -1 error */
int store_lease_ack (store_t *self, int64_t mailbox, int64_t delivery, const char *consumer);
/* NACK: gives it back at once. 1 released, 0 not held, -1 error */
int store_lease_nack (store_t *self, int64_t mailbox, int64_t delivery, const char *consumer);
/* Releases every lease of consumer (NULL: of everyone, at start-up). Returns how many, or -1. */
int store_lease_release_all (store_t *self, const char *consumer);

/* Deletes expired messages' deliveries and what mailbox retention limits (of the INBOX) no
   longer allow; gone (may be NULL) gets each. Returns how many deliveries went, or -1. */
int store_purge (store_t *self, void (*gone) (int64_t id, int64_t mailbox, int64_t folder, void *arg),
                 void *arg);

/* Whether store_purge or store_publications_forget (of records published before
   forget_before) would find anything, read without a write transaction: an idle broker then
   takes no write lock. An error reads as true. */
bool store_purge_due (store_t *self, int64_t forget_before);

/* Deletes at most limit Message-ID dedupe records published before the time before (Unix
   seconds), oldest first. Returns how many went, or -1. */
int store_publications_forget (store_t *self, int64_t before, int limit);

/* Sets a mailbox's retention: keep at most count messages (0: no limit), none older than
   seconds (0: no limit). STORE_NOT_FOUND when no mailbox has the address. */
store_status_t store_mailbox_retention (store_t *self, const char *address, int64_t count, int64_t seconds,
                                        char **error);

/* The outbound queue (relay). */
typedef struct {
    int64_t id;
    int64_t message;
    const char *sender;
    const char *recipient;
    const char *state; /* queued or failed */
    int64_t attempts;
    int64_t next_attempt;
    int64_t queued_at;
    const char *last_error;
    const void *body;
    size_t size;
} store_outbound_t;

/* Queues message for recipient; returns the entry id, or -1 */
int64_t store_outbound_add (store_t *self, int64_t message, const char *sender, const char *recipient);
/* Claims up to n due entries for lease_ms (a relay worker delivers them); fn gets each
   (body included). Returns how many, or -1. */
int store_outbound_claim (store_t *self, int n, int64_t lease_ms,
                          void (*fn) (const store_outbound_t *entry, void *arg), void *arg);
/* 1 found (numbers and state filled; no texts, no body), 0 not, -1 error */
int store_outbound_get (store_t *self, int64_t id, store_outbound_t *entry);
/* Delivered: removes the entry. 1, 0 no such entry, -1 error */
int store_outbound_delete (store_t *self, int64_t id);
/* Untried: the claim ends now, attempts and next attempt stay. 1, 0 no such queued entry, -1 error */
int store_outbound_release (store_t *self, int64_t id);
/* Another try at next_attempt (unix time), or, with next_attempt 0, failed for good */
int store_outbound_retry (store_t *self, int64_t id, const char *error, int64_t next_attempt);
/* Every entry, for `mailbus-broker queue` (body not filled) */
int store_outbound_each (store_t *self, void (*fn) (const store_outbound_t *entry, void *arg), void *arg);
/* Makes every queued entry due now; returns how many, or -1 */
int store_outbound_flush (store_t *self);

/* The last SQLite error text */
const char *store_error (store_t *self);

#endif
