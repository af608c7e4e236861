/*  outfile.c — safe names, no overwriting, no link following, durable writes. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* dir/name-N.ext: how many N to try before giving up */
#define MAX_SUFFIX 10000
/* random temporary names to try before giving up (each is 64 random bits) */
#define MAX_TEMP_TRIES 100

static char *
s_error (const char *what, const char *path)
{
    char text[1024];
    snprintf (text, sizeof text, "%s %s: %s", what, path, strerror (errno));
    return strdup (text);
}

/* mkdir -p -m 0700: each missing component is made 0700, existing ones are left alone */
static int
s_make_dirs (const char *dir, char **error)
{
    char *path = strdup (dir);
    int rc = 0;
    for (char *p = path + 1; rc == 0; p++) {
        bool end = *p == '\0';
        if (!end && *p != '/')
            continue;
        *p = '\0';
        if (mkdir (path, 0700) != 0 && errno != EEXIST) {
            *error = s_error ("cannot make directory", path);
            rc = -1;
        }
        if (end)
            break;
        *p = '/';
    }
    free (path);
    return rc;
}

/* Opens dir and checks it as outfile_prepare_dir says; -1 with *error */
static int
s_open_dir (const char *dir, char **error)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        *error = s_error ("cannot use directory", dir);
        if (fd >= 0)
            close (fd);
        return -1;
    }
    char text[1024] = "";
    if (st.st_uid != geteuid ())
        snprintf (text, sizeof text, "refusing directory %s: it belongs to uid %u, not to you (uid %u)", dir,
                  (unsigned)st.st_uid, (unsigned)geteuid ());
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        /* someone else could plant links or swap files in it, sticky bit or not */
        snprintf (text, sizeof text,
                  "refusing directory %s: group or others may write into it (mode %04o); "
                  "chmod go-w it or use another one",
                  dir, (unsigned)(st.st_mode & 07777));
    if (*text) {
        close (fd);
        *error = strdup (text);
        return -1;
    }
    return fd;
}

int
outfile_prepare_dir (const char *dir, char **error)
{
    if (!*dir) {
        *error = strdup ("an empty directory name");
        return -1;
    }
    struct stat st;
    if (stat (dir, &st) != 0 && errno == ENOENT && s_make_dirs (dir, error) != 0)
        return -1;
    int fd = s_open_dir (dir, error);
    if (fd < 0)
        return -1;
    close (fd);
    if (access (dir, W_OK | X_OK) != 0) {
        *error = s_error ("cannot write into directory", dir);
        return -1;
    }
    return 0;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 section 4: no overlong forms,
   no surrogates, nothing past U+10FFFF), 0 when there is none. Stops at a NUL. */
static size_t
s_utf8_length (const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0)
        return 0;
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    uint32_t cp = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* True when the sequence of length len at p must not appear in a file name: ASCII and C1
   control characters, and ':' (a drive or stream separator elsewhere) */
static bool
s_unwanted (const unsigned char *p, size_t len)
{
    if (len == 1)
        return p[0] < 0x20 || p[0] == 0x7f || p[0] == ':';
    return len == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

char *
outfile_safe_name (const char *name, const char *fallback)
{
    const char *base = name ? name : "";
    /* the last component, whichever separator the sender's system used */
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    while (*base == '.' || *base == ' ')
        base++;
    char *out = malloc (OUTFILE_MAX_NAME + 1);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)base; *p;) {
        size_t len = s_utf8_length (p);
        bool replace = len == 0 || s_unwanted (p, len);
        size_t take = len ? len : 1;
        /* whole sequences only: a name is never cut inside a UTF-8 character */
        if (n + (replace ? 1 : len) > OUTFILE_MAX_NAME)
            break;
        if (replace)
            out[n++] = '_';
        else {
            memcpy (out + n, p, len);
            n += len;
        }
        p += take;
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '.'))
        n--;
    out[n] = '\0';
    if (n == 0) {
        free (out);
        return strdup (fallback);
    }
    return out;
}

static int
s_write_all (int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t n = write (fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Creates name in dirfd, never through a link, never over anything: -1 with errno */
static int
s_create (int dirfd, const char *name)
{
    return openat (dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* Writes data to the new file fd and syncs it; on failure removes name from dirfd.
   Closes fd. 0, or -1 with *error. */
static int
s_fill (int dirfd, int fd, const char *name, const char *shown, const void *data, size_t size, char **error)
{
    if (s_write_all (fd, data, size) != 0 || fsync (fd) != 0) {
        *error = s_error ("cannot write", shown);
        close (fd);
        unlinkat (dirfd, name, 0);
        return -1;
    }
    if (close (fd) != 0) {
        *error = s_error ("cannot write", shown);
        unlinkat (dirfd, name, 0);
        return -1;
    }
    return 0;
}

outfile_state_t
outfile_state (const char *dir, const char *name, const void *data, size_t size)
{
    int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return OUTFILE_OTHER;
    struct stat st;
    outfile_state_t state = OUTFILE_OTHER;
    if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        state = errno == ENOENT ? OUTFILE_ABSENT : OUTFILE_OTHER;
    else if (S_ISREG (st.st_mode) && (size_t)st.st_size == size) {
        int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        FILE *file = fd >= 0 ? fdopen (fd, "rb") : NULL;
        if (file) {
            char *buf = malloc (size + 1);
            if (fread (buf, 1, size + 1, file) == size && memcmp (buf, data, size) == 0)
                state = OUTFILE_SAME;
            free (buf);
            fclose (file);
        }
        else if (fd >= 0)
            close (fd);
    }
    close (dirfd);
    return state;
}

int
outfile_write_new (const char *dir, const char *name, const void *data, size_t size, char **path,
                   char **error)
{
    int dirfd = s_open_dir (dir, error);
    if (dirfd < 0)
        return -1;
    /* report.pdf, report-1.pdf, report-2.pdf ...: O_EXCL, so an existing file is never touched */
    const char *dot = strrchr (name, '.');
    int stem = (int)(dot && dot != name ? (size_t)(dot - name) : strlen (name));
    const char *ext = dot && dot != name ? dot : "";
    int rc = -1;
    bool reported = false;
    for (int i = 0; i < MAX_SUFFIX && rc != 0 && !reported; i++) {
        char *candidate = i == 0 ? strdup (name) : NULL;
        if (i > 0 && asprintf (&candidate, "%.*s-%d%s", stem, name, i, ext) < 0)
            break;
        int fd = s_create (dirfd, candidate);
        if (fd < 0 && (errno == EEXIST || errno == ELOOP)) {
            free (candidate);
            continue;
        }
        char *shown = NULL;
        if (asprintf (&shown, "%s/%s", dir, candidate) < 0)
            shown = NULL;
        if (fd < 0)
            *error = s_error ("cannot create", shown ? shown : candidate);
        else if (s_fill (dirfd, fd, candidate, shown ? shown : candidate, data, size, error) == 0) {
            fsync (dirfd);
            *path = shown;
            shown = NULL;
            rc = 0;
        }
        reported = rc != 0;
        free (shown);
        free (candidate);
    }
    if (rc != 0 && !reported) {
        errno = EEXIST;
        *error = s_error ("too many files named like", name);
    }
    close (dirfd);
    return rc;
}

/* A new file .NAME.<16 random hex>.tmp in dirfd: its fd, and its name in tmp (caller
   frees); -1 with errno. A name nobody can guess, so nobody can plant a link there. */
static int
s_create_temp (int dirfd, const char *name, char **tmp)
{
    for (int i = 0; i < MAX_TEMP_TRIES; i++) {
        uint64_t r = 0;
        if (getrandom (&r, sizeof r, 0) != (ssize_t)sizeof r)
            return -1;
        if (asprintf (tmp, ".%s.%016" PRIx64 ".tmp", name, r) < 0)
            return -1;
        int fd = s_create (dirfd, *tmp);
        if (fd >= 0)
            return fd;
        free (*tmp);
        *tmp = NULL;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

int
outfile_write_durable (const char *dir, const char *name, const void *data, size_t size, char **path,
                       char **error)
{
    int dirfd = s_open_dir (dir, error);
    if (dirfd < 0)
        return -1;
    char *final = NULL, *tmp = NULL;
    if (asprintf (&final, "%s/%s", dir, name) < 0) {
        close (dirfd);
        *error = strdup ("out of memory");
        return -1;
    }
    int rc = -1;
    int fd = s_create_temp (dirfd, name, &tmp);
    if (fd < 0)
        *error = s_error ("cannot create a temporary file for", final);
    else if (s_fill (dirfd, fd, tmp, final, data, size, error) == 0) {
        /* renameat replaces whatever is at name, a link included, and never follows it */
        if (renameat (dirfd, tmp, dirfd, name) != 0) {
            *error = s_error ("cannot rename into", final);
            unlinkat (dirfd, tmp, 0);
        }
        /* the rename itself is durable only once the directory is synced */
        else if (fsync (dirfd) != 0)
            *error = s_error ("cannot sync directory", dir);
        else
            rc = 0;
    }
    free (tmp);
    close (dirfd);
    if (rc == 0)
        *path = final;
    else
        free (final);
    return rc;
}
