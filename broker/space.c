/*  space.c — the reserve file, --min-free and the low-space state. */
#include "space.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"

/* The reserve is made again only when this much is left beside it */
#define SPACE_SLACK (1LL << 20)
/* Below min-free plus this many reserves, plus SPACE_TIGHT_WAL, the WAL is checkpointed
   eagerly: what a checkpoint must add to the database file stays within the reserve */
#define SPACE_TIGHT_RESERVES 4
#define SPACE_TIGHT_WAL (64LL << 20)
/* --min-free as a percentage: at most this */
#define SPACE_MAX_PERCENT 50.0

struct space_t {
    char *dir;     /* the database's folder, what statvfs reads */
    char *reserve; /* DB.reserve */
    int64_t reserve_bytes;
    bool reserve_held;
    char *min_free_text;
    int64_t min_free_bytes;
    double min_free_percent;
    int64_t checked_at; /* zclock_mono of the last statvfs */
    int64_t free_bytes, inside_bytes, total_bytes;
    bool low, full;
};

int
space_min_free_parse (const char *text, int64_t *bytes, double *percent, const char **why)
{
    *bytes = 0;
    *percent = 0;
    char *end = NULL;
    errno = 0;
    /* digits and a point only: strtod alone would take " 5", "0x10" and "nan" */
    size_t plain = text ? strspn (text, "0123456789.") : 0;
    double value = plain > 0 ? strtod (text, &end) : -1;
    if (plain == 0 || end != text + plain || errno != 0 || !isfinite (value) || value < 0) {
        *why = "--min-free takes bytes (200M, 1G) or a percentage (5%)";
        return -1;
    }
    if (streq (end, "%")) {
        if (value > SPACE_MAX_PERCENT) {
            *why = "--min-free takes at most 50%";
            return -1;
        }
        *percent = value;
        return 0;
    }
    static const char units[] = "KMGT";
    const char *unit = *end ? strchr (units, *end) : NULL;
    if ((*end && (!unit || end[1])) || (!unit && value != floor (value))) {
        *why = "--min-free takes bytes (200M, 1G) or a percentage (5%): a number, then K, M, G, T or %";
        return -1;
    }
    double scale = unit ? ldexp (1.0, 10 * (int)(unit - units + 1)) : 1.0;
    if (value * scale >= (double)INT64_MAX / 2) {
        *why = "--min-free is too large";
        return -1;
    }
    *bytes = (int64_t)(value * scale);
    return 0;
}

/* Makes (or completes) the reserve file: true when it holds reserve_bytes */
static bool
s_reserve_make (space_t *self)
{
    int fd = open (self->reserve, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return false;
    /* the blocks themselves, not a hole: a sparse file would give nothing back */
    int rc = posix_fallocate (fd, 0, (off_t)self->reserve_bytes);
    close (fd);
    if (rc != 0) {
        unlink (self->reserve);
        log_warn ("space", "reserve-failed", "path=%s bytes=%lld error=\"%s\"", self->reserve,
                  (long long)self->reserve_bytes, strerror (rc));
        return false;
    }
    return true;
}

space_t *
space_new (const char *db_path, int64_t reserve_bytes, const char *min_free)
{
    assert (db_path);
    assert (min_free);
    space_t *self = calloc (1, sizeof *self);
    const char *why = NULL;
    if (space_min_free_parse (min_free, &self->min_free_bytes, &self->min_free_percent, &why) != 0) {
        free (self);
        return NULL;
    }
    const char *slash = strrchr (db_path, '/');
    self->dir = slash ? strndup (db_path, slash == db_path ? 1 : (size_t)(slash - db_path)) : strdup (".");
    self->reserve = zsys_sprintf ("%s.reserve", db_path);
    self->min_free_text = strdup (min_free);
    self->reserve_bytes = reserve_bytes;
    if (reserve_bytes > 0)
        self->reserve_held = s_reserve_make (self);
    else
        unlink (self->reserve); /* no reserve wanted: one left from before is space given back */
    space_update (self, 0);
    return self;
}

void
space_destroy (space_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    space_t *self = *self_p;
    free (self->dir);
    free (self->reserve);
    free (self->min_free_text);
    free (self);
    *self_p = NULL;
}

bool
space_due (const space_t *self)
{
    return zclock_mono () - self->checked_at >= SPACE_CHECK_MS;
}

static int64_t
s_min_free (const space_t *self)
{
    return self->min_free_percent > 0 ? (int64_t)((double)self->total_bytes * self->min_free_percent / 100.0)
                                      : self->min_free_bytes;
}

/* The low-space state, logged once on the way in and once on the way out */
static void
s_state (space_t *self, bool low, bool full)
{
    if ((low || full) != (self->low || self->full)) {
        if (low || full)
            log_warn ("space", "low", "free=%lld inside=%lld min-free=%s full=%s why=\"%s\"",
                      (long long)self->free_bytes, (long long)self->inside_bytes, self->min_free_text,
                      full ? "yes" : "no",
                      "publishing refused (452 4.3.1) until space is freed; deleting works");
        else
            log_info ("space", "ok", "free=%lld inside=%lld min-free=%s why=\"publishing accepted again\"",
                      (long long)self->free_bytes, (long long)self->inside_bytes, self->min_free_text);
    }
    self->low = low;
    self->full = full;
}

/* The low-space state from the last reading, lowered by what was written since */
static void
s_evaluate (space_t *self)
{
    /* free pages inside the database are reused before its file grows: they count */
    int64_t room = self->free_bytes + self->inside_bytes, min_free = s_min_free (self);
    /* out of the full state with room for several reserves (not at the first few free MiB
       a checkpoint gives back: publishing would fill them again at once) */
    bool full = self->full && room < min_free + SPACE_TIGHT_RESERVES * self->reserve_bytes + SPACE_SLACK;
    /* out of the low state with a MiB to spare: an estimate and a reading that differ a little
       near the line do not flap it (each change is logged) */
    int64_t line = min_free + (self->low ? SPACE_SLACK : 0);
    s_state (self, min_free > 0 && room < line, full);
}

void
space_written (space_t *self, int64_t bytes)
{
    assert (self && bytes >= 0);
    self->free_bytes -= bytes; /* into the WAL now (the checkpoint's copy: the next reading) */
    if (!self->low)
        s_evaluate (self);
}

void
space_update (space_t *self, int64_t inside_bytes)
{
    self->checked_at = zclock_mono ();
    struct statvfs vfs;
    if (statvfs (self->dir, &vfs) != 0)
        return; /* keep the last answer */
    self->free_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    self->total_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
    self->inside_bytes = inside_bytes;
    if (self->reserve_bytes > 0 && !self->reserve_held &&
        self->free_bytes >= self->reserve_bytes + SPACE_SLACK) {
        self->reserve_held = s_reserve_make (self);
        if (self->reserve_held) {
            log_info ("space", "reserve-made", "path=%s bytes=%lld", self->reserve,
                      (long long)self->reserve_bytes);
            self->free_bytes -= self->reserve_bytes;
        }
    }
    s_evaluate (self);
}

bool
space_full (space_t *self)
{
    bool released = self->reserve_held && unlink (self->reserve) == 0;
    if (released) {
        self->reserve_held = false;
        log_warn ("space", "reserve-released",
                  "path=%s bytes=%lld why=\"the disk is full: deleting goes on\"", self->reserve,
                  (long long)self->reserve_bytes);
    }
    else if (!self->full)
        log_error ("space", "disk-full", "reserve=%s why=\"%s\"",
                   self->reserve_bytes > 0 ? "released" : "none", "publishing refused until space is freed");
    s_state (self, self->low, true);
    return released;
}

bool
space_refuses (const space_t *self)
{
    return self->low || self->full;
}

bool
space_tight (const space_t *self)
{
    return self->full || (self->reserve_bytes > 0 && !self->reserve_held) ||
           self->free_bytes <
               s_min_free (self) + SPACE_TIGHT_RESERVES * self->reserve_bytes + SPACE_TIGHT_WAL;
}

void
space_info (const space_t *self, space_info_t *info)
{
    *info = (space_info_t){.free_bytes = self->free_bytes,
                           .inside_bytes = self->inside_bytes,
                           .total_bytes = self->total_bytes,
                           .min_free_bytes = s_min_free (self),
                           .min_free = self->min_free_text,
                           .reserve_bytes = self->reserve_bytes,
                           .reserve_held = self->reserve_held,
                           .low = self->low,
                           .full = self->full};
}
