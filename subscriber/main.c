/*  main.c — mailbus-sub: pulls a mailbox (stat, list, read, save, delete, drain) or watches
    it live. Message numbers are positions in LIST order, as POP3 numbers them. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "call.h"
#include "argv_scrub.h"
#include "client.h"
#include "client_config.h"
#include "config.h"
#include "consume.h"
#include "drain.h"
#include "listing.h"
#include "outfile.h"
#include "reply.h"
#include "show.h"
#include "watch.h"

typedef struct {
    const char *endpoint;
    const char *user;
    const char *password;
    char *password_copy; /* -p: taken out of argv (ps shows "-p *") */
    bool password_stdin;
    const char *config;
    const char *server_key; /* --server-key: the broker's public key (CURVE) */
    const char *key;        /* --key: our key pair, to log in without a password */
    int timeout_s;
} options_t;

typedef struct {
    const char *name;
    int args; /* how many words follow the command */
    const char *synopsis;
    int (*run) (client_t *client, char **argv);
} command_t;

static void
s_print_usage (FILE *out)
{
    fprintf (out,
             "usage: mailbus-sub [-b ENDPOINT] -u USER [-p PASSWORD | --password-stdin] [-c FILE] COMMAND\n"
             "\n"
             "Pulls or watches a mailbus mailbox. N is a message's number in `list`.\n"
             "\n"
             "commands:\n"
             "  stat            count and size of the mailbox: \"3 messages, 4120 bytes\"\n"
             "  list            one line per message: number, id, size, from, subject, new/seen\n"
             "  read N          show message N: headers, text body, attachment names and sizes\n"
             "  save N DIR      write DIR/<id>.eml and every attachment of message N into DIR\n"
             "                  (DIR, drain's and consume's too, is made 0700 when missing, and\n"
             "                  refused when others may write into it; files are 0600)\n"
             "  delete N        delete message N\n"
             "  drain DIR       write every message to DIR/<id>.eml, sync it, then delete it\n"
             "  subscribe LIST  join a list topic (--filter HEADER:GLOB, e.g. 'subject:*urgent*')\n"
             "  unsubscribe LIST  leave it\n"
             "  consume         take messages one at a time as a competing consumer (work queue):\n"
             "                  each is leased to this consumer only, handled (printed, or written\n"
             "                  to --dir DIR) and then acknowledged (deleted); a consumer that dies\n"
             "                  loses nothing, its lease runs out and another consumer gets it\n"
             "  keygen FILE     make a key pair for --key (FILE public, FILE_secret yours alone)\n"
             "  watch           print \"watching USER\", the unread messages, then each new message\n"
             "                  the moment it arrives (Ctrl-C ends); reconnects by itself when\n"
             "                  the broker restarts (\"reconnected\") and shows what came meanwhile\n"
             "\n"
             "options:\n"
             "  -b, --broker ENDPOINT   broker endpoint (default %s; env MAILBUS_BROKER)\n"
             "  -u, --user ADDRESS      the mailbox (env MAILBUS_USER)\n"
             "  -p, --password PASS     its password (env MAILBUS_PASSWORD); ps shows it as '*' once\n"
             "                          the options are read, but --password-stdin is safer\n"
             "      --password-stdin    read the password from the first line of standard input\n"
             "      --server-key KEY    the broker's public key (40 characters, or its key file): CURVE,\n"
             "                          needed beyond loopback (env MAILBUS_SERVER_KEY; config\n"
             "                          client/server-key); `mailbus-broker key` prints it\n"
             "      --key FILE          log in with this key pair instead of a password (mailbus-sub\n"
             "                          keygen FILE makes one; env MAILBUS_KEY)\n"
             "  -c, --config FILE       ZPL config; keys client/broker, client/user, client/password\n"
             "                          (options win over the environment, which wins over the file)\n"
             "      --timeout SECONDS   wait this long for each answer (default 10)\n"
             "      --window N          watch: pushes the broker may send ahead of our credit\n"
             "                          (1..1000, default 64); beyond it we catch up with LIST\n"
             "      --keep              drain: leave the messages in the mailbox (marked seen)\n"
             "      --filter HEADER:GLOB  subscribe: deliver only messages whose header matches\n"
             "      --ack | --auto-ack  consume: acknowledge after handling (default, at-least-once)\n"
             "                          or on arrival (at-most-once)\n"
             "      --prefetch N        consume: messages leased at once (1..100, default 1)\n"
             "      --lease SECONDS     consume: how long a lease lasts (default 30)\n"
             "      --dir DIR           consume: write each message to DIR/<id>.eml before the ACK\n"
             "      --max N             consume: stop after N messages\n"
             "      --until-empty       consume: stop when nothing is left to lease\n"
             "  -h, --help              this help\n"
             "\n"
             "Exit status: 0 success; 1 a permanent failure (5xx, bad input); 75 a transient failure\n"
             "(4xx) or no answer from the broker; 64 usage error.\n"
             "\n"
             "Examples:\n"
             "  export MAILBUS_PASSWORD=demo\n"
             "  mailbus-sub -u bob@demo.test list\n"
             "  mailbus-sub -u bob@demo.test read 1\n"
             "  mailbus-sub -u bob@demo.test drain ~/mail\n"
             "  mailbus-sub -u carol@demo.test subscribe news@demo.test --filter 'subject:*release*'\n"
             "  mailbus-sub -u jobs@demo.test consume --prefetch 10 --dir /var/spool/jobs\n",
             CLIENT_DEFAULT_ENDPOINT);
}

static int
s_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "mailbus-sub: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, "\ntry mailbus-sub --help\n");
    return EX_USAGE;
}

/* ----------------------------------------------------------------- commands */

/* watch --window N */
static int s_window = 0;
/* subscribe --filter, drain --keep, consume options */
static const char *s_filter = NULL;
static bool s_keep = false;
static consume_options_t s_consume = {NULL, false, 1, 30, 0, false};

static int
s_run_stat (client_t *client, char **argv)
{
    (void)argv;
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
s_run_list (client_t *client, char **argv)
{
    (void)argv;
    int status = 0;
    listing_t *listing = listing_fetch (client, &status);
    if (!listing)
        return status;
    listing_print (listing, stdout);
    listing_destroy (&listing);
    return 0;
}

/* RETR of the message at position text; returns the reply (data frame 1 is the message) */
static zmsg_t *
s_retrieve (client_t *client, const char *position, int64_t *id, int *status)
{
    listing_t *listing = listing_fetch (client, status);
    if (!listing)
        return NULL;
    const listing_entry_t *entry = listing_at (listing, position);
    if (!entry) {
        listing_destroy (&listing);
        *status = 1;
        return NULL;
    }
    *id = entry->id;
    listing_destroy (&listing);
    char arg[32];
    snprintf (arg, sizeof arg, "%" PRId64, *id);
    zmsg_t *reply = call_verb (client, "RETR", arg, status);
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

static int
s_run_read (client_t *client, char **argv)
{
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

static int
s_run_save (client_t *client, char **argv)
{
    if (s_check_dir (argv[1]) != 0)
        return 1;
    int status = 0;
    int64_t id = 0;
    zmsg_t *reply = s_retrieve (client, argv[0], &id, &status);
    if (!reply)
        return status;
    zframe_t *frame = s_message_frame (reply);
    char name[48];
    snprintf (name, sizeof name, "%" PRId64 ".eml", id);
    char *path = NULL, *error = NULL;
    /* the message exactly as stored */
    if (outfile_write_durable (argv[1], name, zframe_data (frame), zframe_size (frame), &path, &error) != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        zmsg_destroy (&reply);
        return 1;
    }
    printf ("%s\n", path);
    free (path);
    show_t *show = show_new ((const char *)zframe_data (frame), zframe_size (frame));
    if (show && show_save_attachments (show, argv[1], stdout, &error) != 0) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        status = 1;
    }
    show_destroy (&show);
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_delete (client_t *client, char **argv)
{
    int status = 0;
    listing_t *listing = listing_fetch (client, &status);
    if (!listing)
        return status;
    const listing_entry_t *entry = listing_at (listing, argv[0]);
    if (!entry) {
        listing_destroy (&listing);
        return 1;
    }
    char arg[32];
    snprintf (arg, sizeof arg, "%" PRId64, entry->id);
    listing_destroy (&listing);
    zmsg_t *reply = call_verb (client, "DELE", arg, &status);
    if (reply) {
        char *line = call_frame (reply, 0);
        printf ("%s\n", line);
        free (line);
    }
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_drain (client_t *client, char **argv)
{
    if (s_check_dir (argv[0]) != 0)
        return 1;
    return drain_run (client, argv[0], s_keep);
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
        status = call_exit_status (code);
    fprintf (status == 0 ? stdout : stderr, "%s\n", line ? line : "mailbus-sub: no answer from the broker");
    free (line);
    zmsg_destroy (&reply);
    return status;
}

static int
s_run_subscribe (client_t *client, char **argv)
{
    return s_list_verb (client, "SUBSCRIBE", argv[0], s_filter);
}

static int
s_run_unsubscribe (client_t *client, char **argv)
{
    return s_list_verb (client, "UNSUBSCRIBE", argv[0], NULL);
}

static int
s_run_consume (client_t *client, char **argv)
{
    (void)argv;
    if (s_consume.dir && s_check_dir (s_consume.dir) != 0)
        return 1;
    return consume_run (client, &s_consume);
}

static int
s_run_watch (client_t *client, char **argv)
{
    (void)argv;
    return watch_run (client, s_window);
}

static const command_t s_commands[] = {
    {"stat", 0, "stat", s_run_stat},
    {"list", 0, "list", s_run_list},
    {"read", 1, "read N", s_run_read},
    {"save", 2, "save N DIR", s_run_save},
    {"delete", 1, "delete N", s_run_delete},
    {"drain", 1, "drain DIR", s_run_drain},
    {"watch", 0, "watch", s_run_watch},
    {"subscribe", 1, "subscribe LIST", s_run_subscribe},
    {"unsubscribe", 1, "unsubscribe LIST", s_run_unsubscribe},
    {"consume", 0, "consume", s_run_consume},
};

/* Checks the words a command needs before anything goes to the broker */
static int
s_check_command (const command_t *command, char **argv)
{
    if (command->run == s_run_read || command->run == s_run_save || command->run == s_run_delete) {
        const char *n = argv[0];
        size_t digits = strspn (n, "0123456789");
        if (digits == 0 || n[digits] != '\0' || digits > 9 || atoi (n) < 1)
            return s_usage_error ("\"%s\" is not a message number (1, 2, ... as `list` shows)", n);
    }
    return 0;
}

/* ----------------------------------------------------------------- main */

/* Parses the options; returns -1 to go on, or the exit status */
static int
s_parse_options (int argc, char *argv[], options_t *opts)
{
    enum {
        OPT_PASSWORD_STDIN = 256,
        OPT_SERVER_KEY,
        OPT_KEY,
        OPT_TIMEOUT,
        OPT_WINDOW,
        OPT_FILTER,
        OPT_KEEP,
        OPT_ACK,
        OPT_AUTO_ACK,
        OPT_PREFETCH,
        OPT_LEASE,
        OPT_MAX,
        OPT_UNTIL_EMPTY,
        OPT_DIR
    };
    static const struct option long_options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"keep", no_argument, NULL, OPT_KEEP},
        {"ack", no_argument, NULL, OPT_ACK},
        {"auto-ack", no_argument, NULL, OPT_AUTO_ACK},
        {"prefetch", required_argument, NULL, OPT_PREFETCH},
        {"lease", required_argument, NULL, OPT_LEASE},
        {"max", required_argument, NULL, OPT_MAX},
        {"until-empty", no_argument, NULL, OPT_UNTIL_EMPTY},
        {"dir", required_argument, NULL, OPT_DIR},
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},
        {"key", required_argument, NULL, OPT_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":b:u:p:c:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'b':
            opts->endpoint = optarg;
            break;
        case 'u':
            opts->user = optarg;
            break;
        case 'p':
            argv_secret_free (&opts->password_copy);
            opts->password_copy = argv_take_secret (optarg);
            opts->password = opts->password_copy;
            break;
        case OPT_PASSWORD_STDIN:
            opts->password_stdin = true;
            break;
        case 'c':
            opts->config = optarg;
            break;
        case OPT_TIMEOUT: {
            char *end = NULL;
            errno = 0;
            long v = strtol (optarg, &end, 10);
            if (errno || !end || *end || end == optarg || v < 1 || v > 3600)
                return s_usage_error ("--timeout takes seconds from 1 to 3600, got \"%s\"", optarg);
            opts->timeout_s = (int)v;
            break;
        }
        case OPT_FILTER:
            s_filter = optarg;
            break;
        case OPT_KEEP:
            s_keep = true;
            break;
        case OPT_ACK:
            s_consume.auto_ack = false;
            break;
        case OPT_AUTO_ACK:
            s_consume.auto_ack = true;
            break;
        case OPT_UNTIL_EMPTY:
            s_consume.until_empty = true;
            break;
        case OPT_DIR:
            s_consume.dir = optarg;
            break;
        case OPT_SERVER_KEY:
            opts->server_key = optarg;
            break;
        case OPT_KEY:
            opts->key = optarg;
            break;
        case OPT_PREFETCH:
        case OPT_LEASE:
        case OPT_MAX: {
            char *end = NULL;
            long v = strtol (optarg, &end, 10);
            long max = c == OPT_PREFETCH ? 100 : c == OPT_LEASE ? 3600 : 1000000000L;
            if (!end || *end || v < (c == OPT_MAX ? 0 : 1) || v > max)
                return s_usage_error (
                    c == OPT_PREFETCH ? "--prefetch takes a number from 1 to 100, got \"%s\""
                    : c == OPT_LEASE  ? "--lease takes a number of seconds from 1 to 3600, got \"%s\""
                                      : "--max takes a number from 0 up, got \"%s\"",
                    optarg);
            if (c == OPT_PREFETCH)
                s_consume.prefetch = (int)v;
            else if (c == OPT_LEASE)
                s_consume.lease_s = (int)v;
            else
                s_consume.max = v;
            break;
        }
        case OPT_WINDOW: {
            char *end = NULL;
            errno = 0;
            long v = strtol (optarg, &end, 10);
            if (errno || !end || *end || end == optarg || v < 1 || v > 1000)
                return s_usage_error ("--window takes a number from 1 to 1000, got \"%s\"", optarg);
            s_window = (int)v;
            break;
        }
        case 'h':
            s_print_usage (stdout);
            return 0;
        case ':':
            return s_usage_error ("option %s needs a value", argv[optind - 1]);
        default:
            return s_usage_error ("unknown option %s", argv[optind - 1]);
        }
    }
    return -1;
}

/* keygen FILE: a key pair to log in with --key FILE, once the administrator has added FILE's
   public key to the mailbox (no broker needed) */
static int
s_keygen (int words, char **argv)
{
    if (words != 1)
        return s_usage_error ("%s", "keygen needs one FILE: mailbus-sub keygen FILE");
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

static int
s_main (int argc, char *argv[], options_t *opts)
{
    int status = s_parse_options (argc, argv, opts);
    if (status >= 0)
        return status;
    if (optind >= argc)
        return s_usage_error ("%s",
                              "no command: stat, list, read N, save N DIR, delete N, drain DIR or watch");
    if (strcmp (argv[optind], "keygen") == 0)
        return s_keygen (argc - optind - 1, argv + optind + 1);
    const command_t *command = NULL;
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp (s_commands[i].name, argv[optind]) == 0)
            command = &s_commands[i];
    if (!command)
        return s_usage_error (
            "unknown command \"%s\": stat, list, read N, save N DIR, delete N, drain DIR, watch",
            argv[optind]);
    int words = argc - optind - 1;
    if (words != command->args) {
        fprintf (stderr, "mailbus-sub: %s needs %s: mailbus-sub %s\ntry mailbus-sub --help\n", command->name,
                 words < command->args ? "more words" : "fewer words", command->synopsis);
        return EX_USAGE;
    }
    char **command_argv = argv + optind + 1;
    if ((status = s_check_command (command, command_argv)) != 0)
        return status;

    char *error = NULL;
    zconfig_t *config =
        client_config_apply (opts->config, &opts->endpoint, &opts->user, &opts->password, &error);
    if (!config) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        free (error);
        return EX_USAGE;
    }
    client_set_keys (opts->server_key ? opts->server_key : config_get (config, "client/server-key", NULL),
                     opts->key);
    char *password = NULL;
    if (client_credentials (&opts->endpoint, &opts->user, &password, opts->password, opts->password_stdin) !=
        0) {
        zconfig_destroy (&config);
        return EX_USAGE;
    }

    /* watch catches SIGINT and SIGTERM itself; for the rest, Ctrl-C simply ends the program */
    zsys_handler_set (NULL);
    show_init ();
    client_t *client = client_new (opts->endpoint, opts->user, password, opts->timeout_s * 1000, &error);
    if (!client) {
        fprintf (stderr, "mailbus-sub: %s\n", error);
        int code = 0;
        status = reply_parse (error, &code, NULL) == 0 ? call_exit_status (code) : EX_TEMPFAIL;
        free (error);
    }
    else {
        status = command->run (client, command_argv);
        client_destroy (&client);
    }
    show_shutdown ();
    argv_secret_free (&password);
    zconfig_destroy (&config);
    return status;
}

int
main (int argc, char *argv[])
{
    options_t opts = {.timeout_s = CLIENT_DEFAULT_TIMEOUT_MS / 1000};
    int status = s_main (argc, argv, &opts);
    argv_secret_free (&opts.password_copy);
    return status;
}
