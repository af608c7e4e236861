/*  prompt.c — interactive composing. */
#include "prompt.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "mb_limits.h"

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

/* the terminal as it was before echo was turned off, for the signal handler */
static int s_tty = -1;
static struct termios s_saved;

static void
s_restore_and_die (int sig)
{
    tcsetattr (s_tty, TCSADRAIN, &s_saved);
    if (write (s_tty, "\n", 1) < 0) {
        /* dying anyway */
    }
    signal (sig, SIG_DFL);
    raise (sig);
}

/* One line from the terminal fd with echo off; NULL at EOF or when too long */
static char *
s_read_hidden (int fd)
{
    char line[MAX_PASSWORD + 2];
    size_t n = 0;
    char c;
    ssize_t got;
    while ((got = read (fd, &c, 1)) == 1 && c != '\n' && c != '\r')
        if (n < sizeof line - 1)
            line[n++] = c;
    line[n] = '\0';
    char *password = got == 1 && n > 0 && n <= MAX_PASSWORD ? strdup (line) : NULL;
    explicit_bzero (line, sizeof line);
    return password;
}

char *
prompt_password (const char *user)
{
    s_tty = open ("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (s_tty < 0 || tcgetattr (s_tty, &s_saved) != 0) {
        fprintf (stderr, "error: no password and no terminal to ask for it on: give -p, --password-stdin "
                         "or set MAILBUS_PASSWORD\n");
        if (s_tty >= 0)
            close (s_tty);
        return NULL;
    }
    struct termios quiet = s_saved;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    struct sigaction on_signal = {.sa_handler = s_restore_and_die}, old_int, old_term;
    sigaction (SIGINT, &on_signal, &old_int);
    sigaction (SIGTERM, &on_signal, &old_term);
    /* echo off (dropping what was typed before) and only then the prompt: a
       password typed as soon as the prompt shows is never flushed away */
    tcsetattr (s_tty, TCSAFLUSH, &quiet);
    dprintf (s_tty, "Password for %s: ", user ? user : "the mailbox");
    char *password = s_read_hidden (s_tty);
    /* echo back on, keeping what was typed ahead after the password */
    tcsetattr (s_tty, TCSADRAIN, &s_saved);
    sigaction (SIGINT, &old_int, NULL);
    sigaction (SIGTERM, &old_term, NULL);
    dprintf (s_tty, "\n");
    close (s_tty);
    s_tty = -1;
    if (!password)
        fprintf (stderr, "error: no password typed (at most %d characters)\n", MAX_PASSWORD);
    return password;
}
