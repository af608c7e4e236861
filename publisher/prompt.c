/*  prompt.c — interactive composing. */
#include "prompt.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t
prompt_split_addresses (const char *text, GPtrArray *list)
{
    size_t added = 0;
    gchar **words = g_strsplit (text, ",", -1);
    for (gchar **w = words; *w; w++) {
        gchar *address = g_strstrip (*w);
        if (*address) {
            g_ptr_array_add (list, g_strdup (address));
            added++;
        }
    }
    g_strfreev (words);
    return added;
}

/* One answer line without its line ending; NULL at EOF. Caller frees. */
static char *
s_read_line (FILE *in)
{
    char *line = NULL;
    size_t size = 0;
    ssize_t n = getline (&line, &size, in);
    if (n < 0) {
        free (line);
        return NULL;
    }
    line[strcspn (line, "\r\n")] = '\0';
    return line;
}

static char *
s_ask (FILE *in, FILE *out, const char *question)
{
    fprintf (out, "%s", question);
    fflush (out);
    return s_read_line (in);
}

int
prompt_message (FILE *in, FILE *out, GPtrArray *to, char **subject, GPtrArray *attachments, char **body)
{
    while (to->len == 0) {
        char *line = s_ask (in, out, "To (comma separated): ");
        if (!line) {
            fprintf (stderr, "error: no recipient given\n");
            return -1;
        }
        prompt_split_addresses (line, to);
        free (line);
    }
    if (!*subject) {
        char *line = s_ask (in, out, "Subject: ");
        *subject = line ? line : strdup ("");
    }
    if (attachments->len == 0) {
        const char *question = "Attachment (file path, empty = none): ";
        char *line;
        while ((line = s_ask (in, out, question)) && *line) {
            if (access (line, R_OK) != 0)
                fprintf (out, "cannot read %s, try again\n", line);
            else {
                g_ptr_array_add (attachments, g_strdup (line));
                question = "Another attachment (empty = no more): ";
            }
            free (line);
        }
        free (line);
    }
    if (!*body) {
        fprintf (out, "Body (end with a line holding a single \".\", or end of input):\n");
        fflush (out);
        GString *text = g_string_new (NULL);
        char *line;
        while ((line = s_read_line (in)) && strcmp (line, ".") != 0) {
            g_string_append (text, line);
            g_string_append_c (text, '\n');
            free (line);
        }
        free (line);
        *body = strdup (text->str);
        g_string_free (text, TRUE);
    }
    return 0;
}
