/*  prompt.h — mailbus-pub -i: asks on the terminal for what the command line did not give
    (To, Subject, attachments, body), like the classic classroom SMTP sender. Prompts go
    to out, answers come from in, so a script can drive it through a pipe. */
#ifndef MAILBUS_PROMPT_H
#define MAILBUS_PROMPT_H

#include <glib.h>
#include <stdio.h>

/* Asks for To (comma separated) when to is empty, Subject when *subject is NULL,
   attachment paths (one per prompt, empty answer = none / no more) when attachments is
   empty, and the body when *body is NULL, ended by a line holding a single "." or by EOF.
   to and attachments hold g_strdup'ed strings; *subject and *body are malloc'ed.
   Returns 0, or -1 with a message on stderr (no recipient given). */
int prompt_message (FILE *in, FILE *out, GPtrArray *to, char **subject, GPtrArray *attachments, char **body);

/* Splits a comma-separated list of addresses into list (trimmed, empty ones skipped);
   returns how many were added */
size_t prompt_split_addresses (const char *text, GPtrArray *list);

/* Asks for user's password on the controlling terminal (/dev/tty, never standard input)
   without echoing it, as passwd and ssh do; the terminal is restored even on Ctrl-C.
   Returns the password (caller zeroes and frees), or NULL with a message on stderr when
   there is no terminal or nothing was typed. */
char *prompt_password (const char *user);

#endif
