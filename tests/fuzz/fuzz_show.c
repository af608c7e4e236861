/*  fuzz_show.c — what `mailbus-sub read` and `save` do with a message from anyone
    (subscriber/show.h, outfile.h): GMime parses it, the terminal text holds no control
    character, and every attachment lands inside the directory under a safe name. The input is
    the message; its first line is also taken as an attachment's file name. */
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "outfile.h"
#include "show.h"

static char s_dir[64];

static void
s_cleanup (void)
{
    show_shutdown ();
    rmdir (s_dir);
}

/* Terminal output: text, newlines and tabs only (no escape sequence reaches the terminal) */
static void
s_check_print (show_t *show)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&text, &len);
    show_print (show, out);
    fclose (out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        FUZZ_CHECK (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    free (text);
}

/* Each path printed is a new file right inside s_dir; removed again for the next input */
static void
s_check_save (show_t *show)
{
    char *paths = NULL, *error = NULL;
    size_t len = 0, dir_len = strlen (s_dir);
    FILE *out = open_memstream (&paths, &len);
    int rc = show_save_attachments (show, s_dir, out, &error);
    fclose (out);
    size_t count = 0;
    for (char *line = paths, *next; line && *line; line = next) {
        next = strchr (line, '\n');
        FUZZ_CHECK (next);
        *next++ = '\0';
        FUZZ_CHECK (strncmp (line, s_dir, dir_len) == 0 && line[dir_len] == '/');
        FUZZ_CHECK (!strchr (line + dir_len + 1, '/') && line[dir_len + 1] != '.');
        FUZZ_CHECK (unlink (line) == 0);
        count++;
    }
    FUZZ_CHECK (rc != 0 || count == show_attachment_count (show));
    free (paths);
    free (error);
}

/* A sender's file name becomes one component, never hidden, and UTF-8 stays UTF-8 */
static void
s_check_name (const uint8_t *data, size_t size)
{
    const uint8_t *eol = memchr (data, '\n', size);
    size_t n = eol ? (size_t)(eol - data) : size;
    char *name = malloc (n + 1);
    memcpy (name, data, n);
    name[n] = '\0';
    char *safe = outfile_safe_name (name, "fallback");
    size_t len = strlen (safe);
    FUZZ_CHECK (len >= 1 && len <= 200 && safe[0] != '.' && !strchr (safe, '/') && !strchr (safe, '\\'));
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK ((unsigned char)safe[i] >= 0x20 && safe[i] != 0x7f);
    if (g_utf8_validate (name, -1, NULL))
        FUZZ_CHECK (g_utf8_validate (safe, -1, NULL));
    free (safe);
    free (name);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_dir[0]) {
        show_init ();
        const char *base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf (s_dir, sizeof s_dir, "%s/mailbus-fuzz-show-XXXXXX", base);
        FUZZ_CHECK (mkdtemp (s_dir));
        atexit (s_cleanup);
    }
    s_check_name (data, size);
    show_t *show = show_new ((const char *)data, size);
    if (!show)
        return 0;
    s_check_print (show);
    s_check_save (show);
    show_destroy (&show);
    return 0;
}
