/*  command.c — the table of mailbus-sub's commands and the short ones themselves; the long
    ones live in their own files (listing, drain, consume, watch). */
#include "command.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "call.h"
#include "client_cli.h"
#include "drain.h"
#include "listing.h"
#include "outfile.h"
#include "reply.h"
#include "show.h"
#include "watch.h"

struct command_t {
    const char *name;
    int args; /* how many words follow the command; -1: its check counts them */
    const char *synopsis;
    /* the words, before anything goes to the broker: 0 or the exit status (said why) */
    int (*check) (int words, char **argv);
    /* NULL client: the command needs no broker */
    int (*run) (client_t *client, char **argv, const command_options_t *options);
    bool offline;
};

static int
s_usage_error (const char *format, const char *arg)
{
    return client_cli_usage_error ("mailbus-sub", format, arg);
}

/* ----------------------------------------------------------------- checks */

/* read N, save N DIR, delete N: N is a position as `list` shows it */
static int
s_check_number (int words, char **argv)
{
    (void)words;
    const char *n = argv[0];
    size_t digits = strspn (n, "0123456789");
    if (digits == 0 || n[digits] != '\0' || digits > 9 || atoi (n) < 1)
        return s_usage_error ("\"%s\" is not a message number (1, 2, ... as `list` shows)", n);
    return 0;
}

static int
s_check_keygen (int words, char **argv)
{
    (void)argv;
    if (words != 1)
        return s_usage_error ("%s", "keygen needs one FILE: mailbus-sub keygen FILE");
    return 0;
}

/* A directory to write into, made when missing: 0, or 1 with the reason on stderr */
static int
s_check_dir (const char *dir)
{
    char *error = NULL;
    if (outfile_prepare_dir (dir, &error) == 0)
        return 0;
    fprintf (stderr, "mailbus-sub: %s\n", error);
    free (error);
    return 1;
}

/* ----------------------------------------------------------------- helpers */

/* The broker's id of the message at a user's position: 0, or -1 with *status set */
static int
s_position_id (client_t *client, const char *position, int64_t *id, int *status)
{
    listing_t *listing = listing_fetch (client, status);
    if (!listing)
        return -1;
    const listing_entry_t *entry = listing_at (listing, position);
    if (entry)
        *id = entry->id;
    else
        *status = 1;
    listing_destroy (&listing);
    return entry ? 0 : -1;
}

/* verb with the id of the message at position as its argument; the reply, or NULL with
 *status set */
static zmsg_t *
s_call_at (client_t *client, const char *verb, const char *position, int64_t *id, int *status)
{
    if (s_position_id (client, position, id, status) != 0)
        return NULL;
    char arg[32];
    snprintf (arg, sizeof arg, "%" PRId64, *id);
    return call_verb (client, verb, arg, status);
}

/* RETR of the message at position; returns the reply (data frame 1 is the message) */
static zmsg_t *
s_retrieve (client_t *client, const char *position, int64_t *id, int *status)
{
    zmsg_t *reply = s_call_at (client, "RETR", position, id, status);
    if (reply && zmsg_size (reply) < 2) {
        fprintf (stderr, "mailbus-sub: RETR reply without the message\n");
        zmsg_destroy (&reply);
        *status = 1;
    }
    return reply;
}

static zframe_t *
s_message_frame (zmsg_t *reply)
{
    zmsg_first (reply);
    return zmsg_next (reply);
}

/* SUBSCRIBE / UNSUBSCRIBE a list topic: the broker's answer is the output */
static int
s_list_verb (client_t *client, const char *verb, const char *list, const char *filter)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, list);
    if (filter)
        zmsg_addstr (args, filter);
    zmsg_t *reply = client_call (client, verb, args);
    char *line = reply ? call_frame (reply, 0) : NULL;
    int code = 0, status = 75;
    if (line && reply_parse (line, &code, NULL) == 0)
        status = client_cli_exit_status (code);
    fprintf (status == 0 ? stdout : stderr, "%s\n", line ? line : "mailbus-sub: no answer from the broker");
    free (line);
    zmsg_destroy (&reply);
    return status;
}

/* ----------------------------------------------------------------- commands */

static int
s_run_stat (client_t *client, char **argv, const command_options_t *options)
{
    (void)argv;
    (void)options;
    int status = 0;
    zmsg_t *reply = call_verb (client, "STAT", NULL, &status);
    if (!reply)
        return status;
    char *count = call_frame (reply, 1);
    char *bytes = call_frame (reply, 2);
    if (count && bytes)
        printf ("%s %s, %s bytes\n", count, strcmp (count, "1") ? "messages" : "message", bytes);
    else {
        fprintf (stderr, "mailbus-sub: STAT reply without count and size\n");
        status = 1;
    }
    free (count);
    free (bytes);
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_list (client_t *client, char **argv, const command_options_t *options)
{
    (void)argv;
    (void)options;
    int status = 0;
    listing_t *listing = listing_fetch (client, &status);
    if (!listing)
        return status;
    listing_print (listing, stdout);
    listing_destroy (&listing);
    return 0;
}

static int
s_run_read (client_t *client, char **argv, const command_options_t *options)
{
    (void)options;
    int status = 0;
    int64_t id = 0;
    zmsg_t *reply = s_retrieve (client, argv[0], &id, &status);
    if (!reply)
        return status;
    zframe_t *frame = s_message_frame (reply);
    show_t *show = show_new ((const char *)zframe_data (frame), zframe_size (frame));
    if (show) {
        printf ("Message %s (id %" PRId64 ", %zu bytes)\n", argv[0], id, zframe_size (frame));
        show_print (show, stdout);
        show_destroy (&show);
    }
    else {
        fprintf (stderr, "mailbus-sub: message %" PRId64 " cannot be parsed as a message\n", id);
        status = 1;
    }
    zmsg_destroy (&reply);
    return status;
}

/* save N DIR: the message exactly as stored, then its attachments */
static int
s_save (zframe_t *frame, int64_t id, const char *dir)
{
    char name[48];
    snprintf (name, sizeof name, "%" PRId64 ".eml", id);
    char *path = NULL, *error = NULL;
    if (outfile_write_durable (dir, name, zframe_data (frame), zframe_size (frame), &path, &error) != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        return 1;
    }
    printf ("%s\n", path);
    free (path);
    int status = 0;
    show_t *show = show_new ((const char *)zframe_data (frame), zframe_size (frame));
    if (show && show_save_attachments (show, dir, stdout, &error) != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        status = 1;
    }
    show_destroy (&show);
    return status;
}

static int
s_run_save (client_t *client, char **argv, const command_options_t *options)
{
    (void)options;
    if (s_check_dir (argv[1]) != 0)
        return 1;
    int status = 0;
    int64_t id = 0;
    zmsg_t *reply = s_retrieve (client, argv[0], &id, &status);
    if (!reply)
        return status;
    status = s_save (s_message_frame (reply), id, argv[1]);
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_delete (client_t *client, char **argv, const command_options_t *options)
{
    (void)options;
    int status = 0;
    int64_t id = 0;
    zmsg_t *reply = s_call_at (client, "DELE", argv[0], &id, &status);
    if (reply) {
        char *line = call_frame (reply, 0);
        printf ("%s\n", line);
        free (line);
    }
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_drain (client_t *client, char **argv, const command_options_t *options)
{
    if (s_check_dir (argv[0]) != 0)
        return 1;
    return drain_run (client, argv[0], options->keep);
}

static int
s_run_subscribe (client_t *client, char **argv, const command_options_t *options)
{
    return s_list_verb (client, "SUBSCRIBE", argv[0], options->filter);
}

static int
s_run_unsubscribe (client_t *client, char **argv, const command_options_t *options)
{
    (void)options;
    return s_list_verb (client, "UNSUBSCRIBE", argv[0], NULL);
}

static int
s_run_consume (client_t *client, char **argv, const command_options_t *options)
{
    (void)argv;
    if (options->consume.dir && s_check_dir (options->consume.dir) != 0)
        return 1;
    return consume_run (client, &options->consume);
}

static int
s_run_watch (client_t *client, char **argv, const command_options_t *options)
{
    (void)argv;
    return watch_run (client, (int)options->window);
}

/* keygen FILE: a key pair to log in with --key FILE, once the administrator has added FILE's
   public key to the mailbox (no broker needed) */
static int
s_run_keygen (client_t *client, char **argv, const command_options_t *options)
{
    (void)client;
    (void)options;
    char *error = NULL;
    if (client_keygen (argv[0], &error) != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        return 1;
    }
    printf ("wrote %s (public key: give it to the broker's administrator) and %s_secret (yours alone)\n"
            "the administrator runs: mailbus-broker mailbox key add USER@DOMAIN %s\n"
            "then: mailbus-sub -u USER@DOMAIN --key %s --server-key BROKERKEY watch\n",
            argv[0], argv[0], argv[0], argv[0]);
    return 0;
}

/* ----------------------------------------------------------------- the table */

static const command_t s_commands[] = {
    {"stat", 0, "stat", NULL, s_run_stat, false},
    {"list", 0, "list", NULL, s_run_list, false},
    {"read", 1, "read N", s_check_number, s_run_read, false},
    {"save", 2, "save N DIR", s_check_number, s_run_save, false},
    {"delete", 1, "delete N", s_check_number, s_run_delete, false},
    {"drain", 1, "drain DIR", NULL, s_run_drain, false},
    {"watch", 0, "watch", NULL, s_run_watch, false},
    {"subscribe", 1, "subscribe LIST", NULL, s_run_subscribe, false},
    {"unsubscribe", 1, "unsubscribe LIST", NULL, s_run_unsubscribe, false},
    {"consume", 0, "consume", NULL, s_run_consume, false},
    {"keygen", -1, "keygen FILE", s_check_keygen, s_run_keygen, true},
};

const command_t *
command_find (const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (s_commands[i].name, name) == 0)
            return &s_commands[i];
    return NULL;
}

int
command_check (const command_t *self, int words, char **argv)
{
    assert (self);
    if (self->args >= 0 && words != self->args) {
        fprintf (stderr, "mailbus-sub: %s needs %s: mailbus-sub %s\ntry mailbus-sub --help\n", self->name,
                 words < self->args ? "more words" : "fewer words", self->synopsis);
        return EX_USAGE;
    }
    return self->check ? self->check (words, argv) : 0;
}

bool
command_needs_broker (const command_t *self)
{
    assert (self);
    return !self->offline;
}

int
command_run (const command_t *self, client_t *client, char **argv, const command_options_t *options)
{
    assert (self && options && (client || self->offline));
    return self->run (client, argv, options);
}
