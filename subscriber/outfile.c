/*  outfile.c — safe names, no overwriting, durable writes. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_NAME 200
/* dir/name-N.ext: how many N to try before giving up */
#define MAX_SUFFIX 10000

static char *
s_error (const char *what, const char *path)
{
    char text[1024];
    snprintf (text, sizeof text, "%s %s: %s", what, path, strerror (errno));
    return strdup (text);
}

int
outfile_check_dir (const char *dir, char **error)
{
    struct stat st;
    if (stat (dir, &st) != 0) {
        *error = s_error ("cannot use directory", dir);
        return -1;
    }
    if (!S_ISDIR (st.st_mode)) {
        errno = ENOTDIR;
        *error = s_error ("cannot use directory", dir);
        return -1;
    }
    if (access (dir, W_OK | X_OK) != 0) {
        *error = s_error ("cannot write into directory", dir);
        return -1;
    }
    return 0;
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
    char *out = malloc (MAX_NAME + 1);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)base; *p && n < MAX_NAME; p++)
        out[n++] = (*p < 0x20 || *p == 0x7f || *p == ':') ? '_' : (char)*p;
    /* do not cut a UTF-8 sequence in two: base[n] is the first octet left out (out[n] was
       never written) */
    if (n == MAX_NAME)
        while (n > 0 && ((unsigned char)base[n] & 0xc0) == 0x80)
            n--;
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

int
outfile_write_new (const char *dir, const char *name, const void *data, size_t size, char **path,
                   char **error)
{
    /* report.pdf, report-1.pdf, report-2.pdf ...: O_EXCL, so an existing file is never touched */
    const char *dot = strrchr (name, '.');
    int stem = (int)(dot && dot != name ? (size_t)(dot - name) : strlen (name));
    const char *ext = dot && dot != name ? dot : "";
    for (int i = 0; i < MAX_SUFFIX; i++) {
        char *candidate = NULL;
        int rc = i == 0 ? asprintf (&candidate, "%s/%s", dir, name)
                        : asprintf (&candidate, "%s/%.*s-%d%s", dir, stem, name, i, ext);
        if (rc < 0)
            break;
        int fd = open (candidate, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) {
            free (candidate);
            continue;
        }
        if (fd < 0 || s_write_all (fd, data, size) != 0 || fsync (fd) != 0) {
            *error = s_error ("cannot write", candidate);
            if (fd >= 0) {
                close (fd);
                unlink (candidate);
            }
            free (candidate);
            return -1;
        }
        if (close (fd) != 0) {
            *error = s_error ("cannot write", candidate);
            free (candidate);
            return -1;
        }
        *path = candidate;
        return 0;
    }
    errno = EEXIST;
    char *base = NULL;
    if (asprintf (&base, "%s/%s", dir, name) < 0)
        base = NULL;
    *error = s_error ("too many files named like", base ? base : name);
    free (base);
    return -1;
}

static int
s_sync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int
outfile_write_durable (const char *dir, const char *name, const void *data, size_t size, char **path,
                       char **error)
{
    char *final = NULL, *tmp = NULL;
    if (asprintf (&final, "%s/%s", dir, name) < 0 || asprintf (&tmp, "%s/%s.tmp", dir, name) < 0) {
        free (final);
        *error = strdup ("out of memory");
        return -1;
    }
    /* a .tmp left by an earlier run that was killed is simply replaced */
    int rc = -1;
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = s_error ("cannot create", tmp);
        goto done;
    }
    if (s_write_all (fd, data, size) != 0 || fsync (fd) != 0) {
        *error = s_error ("cannot write", tmp);
        close (fd);
        goto done;
    }
    if (close (fd) != 0) {
        *error = s_error ("cannot write", tmp);
        goto done;
    }
    if (rename (tmp, final) != 0) {
        *error = s_error ("cannot rename into", final);
        goto done;
    }
    /* the rename itself is durable only once the directory is synced */
    if (s_sync_dir (dir) != 0) {
        *error = s_error ("cannot sync directory", dir);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        unlink (tmp);
    free (tmp);
    if (rc == 0)
        *path = final;
    else
        free (final);
    return rc;
}
