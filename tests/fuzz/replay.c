/*  replay.c — runs LLVMFuzzerTestOneInput over every file of the corpus directories (or
    files) given, in name order: the corpus replay that `meson test --suite fuzz` runs with
    any compiler, sanitizers or not. A crash or failed check ends the run with the file's
    name printed first. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Reads a whole file; NULL on error. Never returns NULL for an empty file. */
static uint8_t *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    uint8_t *data = NULL;
    size_t used = 0, max = 0;
    for (;;) {
        if (used == max) {
            max = max ? 2 * max : 4096;
            uint8_t *bigger = realloc (data, max);
            if (!bigger)
                break;
            data = bigger;
        }
        size_t n = fread (data + used, 1, max - used, file);
        used += n;
        if (n == 0)
            break;
    }
    int failed = ferror (file);
    fclose (file);
    if (failed) {
        free (data);
        return NULL;
    }
    *size = used;
    return data;
}

static int
s_replay_file (const char *path)
{
    size_t size = 0;
    uint8_t *data = s_read_file (path, &size);
    if (!data) {
        dprintf (STDERR_FILENO, "replay: cannot read %s: %s\n", path, strerror (errno));
        return -1;
    }
    /* said before the input runs, so a crash names its file (on fd 2: a harness may capture stderr) */
    dprintf (STDERR_FILENO, "replay: %s (%zu bytes)\n", path, size);
    /* libFuzzer hands over a copy of exactly size bytes: so does this, for ASan to see overreads */
    uint8_t *copy = malloc (size ? size : 1);
    memcpy (copy, data, size);
    free (data);
    LLVMFuzzerTestOneInput (copy, size);
    free (copy);
    return 0;
}

static int
s_by_name (const struct dirent **a, const struct dirent **b)
{
    return strcmp ((*a)->d_name, (*b)->d_name);
}

/* Replays every regular file of dir; returns how many, or -1 */
static long
s_replay_dir (const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir (dir, &names, NULL, s_by_name);
    if (n < 0) {
        dprintf (STDERR_FILENO, "replay: cannot read %s: %s\n", dir, strerror (errno));
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat (path, &st) == 0 && S_ISREG (st.st_mode)) {
            if (s_replay_file (path) != 0)
                done = -1;
            else if (done >= 0)
                done++;
        }
        free (names[i]);
    }
    free (names);
    return done;
}

int
main (int argc, char *argv[])
{
    if (argc < 2) {
        dprintf (STDERR_FILENO,
                 "usage: %s CORPUS-DIR|FILE...\n"
                 "Runs the harness over every file given and every file of each directory.\n",
                 argv[0]);
        return 64;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long done = stat (argv[i], &st) == 0 && S_ISDIR (st.st_mode)
                        ? s_replay_dir (argv[i])
                        : (s_replay_file (argv[i]) == 0 ? 1 : -1);
        if (done < 0)
            return 1;
        total += done;
    }
    if (total == 0) {
        dprintf (STDERR_FILENO, "replay: no input found\n");
        return 1;
    }
    printf ("replay: %ld inputs, no crash\n", total);
    return 0;
}
