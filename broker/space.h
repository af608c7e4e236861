/*  space.h — the disk under the database. Deleting must always work, even on a full disk:
    a reserve file beside the database (DB.reserve, 0600) is given back to the file system
    when SQLite reports the disk full, and made again once there is room. Publishing is
    refused (452 4.3.1) below --min-free, and while the disk is full. The free space is read
    (statvfs) at most every SPACE_CHECK_MS, never per message. The broker's thread owns it. */
#ifndef MAILBUS_SPACE_H
#define MAILBUS_SPACE_H

#include <stdbool.h>
#include <stdint.h>

/* statvfs at most this often: a batch in between reuses the last answer */
#define SPACE_CHECK_MS 100
/* The default reserve: what a drain of a full disk needs while the WAL is checkpointed
   every SPACE_TIGHT_CHECKPOINT bytes (store_checkpoint_eager), with room to spare */
#define SPACE_DEFAULT_RESERVE (8LL << 20)

typedef struct space_t space_t;

/* A --min-free value: "0", bytes with an optional K, M, G or T suffix (powers of 1024), or a
   percentage of the file system ("5%", "0.5%", at most 50%). 0 and *bytes or *percent set
   (the other 0), or -1 and *why. Touches nothing: the unit tests call it. */
int space_min_free_parse (const char *text, int64_t *bytes, double *percent, const char **why);

/* For the database at db_path: the reserve made now when reserve_bytes > 0 (a failure is
   logged, not fatal); min_free as space_min_free_parse reads it. NULL when min_free is bad. */
space_t *space_new (const char *db_path, int64_t reserve_bytes, const char *min_free);
void space_destroy (space_t **self_p); /* the reserve file stays for the next start */

/* True when the free space is due to be read again (SPACE_CHECK_MS since the last time) */
bool space_due (const space_t *self);
/* Reads the free space; inside_bytes is what the database has free inside (its free pages,
   reused before the file grows). Logs entering and leaving the low-space state once each;
   makes the reserve again when the file system has room for it. */
void space_update (space_t *self, int64_t inside_bytes);
/* A message of bytes was stored: the free space is lowered by it (what the WAL takes) until
   the next reading, so that a fast publisher between two readings cannot write far past
   --min-free (it wrote ~10 MiB in 100 ms) */
void space_written (space_t *self, int64_t bytes);
/* SQLite said the disk is full: the reserve goes (logged); publishing is refused until
   space_update sees room again. True when the reserve was there to release. */
bool space_full (space_t *self);
/* Publishing refused: below --min-free, or full */
bool space_refuses (const space_t *self);
/* Space is short enough that the WAL should be checkpointed eagerly (so that what it holds
   fits in the reserve) */
bool space_tight (const space_t *self);

/* What `mailbus-broker status` shows */
typedef struct {
    int64_t free_bytes;     /* the file system's, for unprivileged users */
    int64_t inside_bytes;   /* free pages inside the database */
    int64_t total_bytes;    /* the file system's size */
    int64_t min_free_bytes; /* --min-free as bytes of this file system */
    const char *min_free;   /* as given */
    int64_t reserve_bytes;  /* its size when held */
    bool reserve_held;
    bool low, full;
} space_info_t;
void space_info (const space_t *self, space_info_t *info);

#endif
