/*  main.c — mailbus-sub: pulls a mailbox (stat, list, read, save, delete, drain) or watches
    it live. Message numbers are positions in LIST order, as POP3 numbers them. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "client.h"
#include "client_cli.h"
#include "command.h"
#include "show.h"

typedef struct {
    client_cli_t login;        /* -b -u -p --password-stdin -c --server-key --key --timeout */
    command_options_t command; /* the options of one command each */
} options_t;

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
    return client_cli_usage_error ("mailbus-sub", format, arg);
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
            opts->login.endpoint = optarg;
            break;
        case 'u':
            opts->login.user = optarg;
            break;
        case 'p':
            client_cli_take_password (&opts->login, optarg);
            break;
        case OPT_PASSWORD_STDIN:
            opts->login.password_stdin = true;
            break;
        case 'c':
            opts->login.config = optarg;
            break;
        case OPT_TIMEOUT: {
            char *end = NULL;
            errno = 0;
            long v = strtol (optarg, &end, 10);
            if (errno || !end || *end || end == optarg || v < 1 || v > 3600)
                return s_usage_error ("--timeout takes seconds from 1 to 3600, got \"%s\"", optarg);
            opts->login.timeout_s = (int)v;
            break;
        }
        case OPT_FILTER:
            opts->command.filter = optarg;
            break;
        case OPT_KEEP:
            opts->command.keep = true;
            break;
        case OPT_ACK:
            opts->command.consume.auto_ack = false;
            break;
        case OPT_AUTO_ACK:
            opts->command.consume.auto_ack = true;
            break;
        case OPT_UNTIL_EMPTY:
            opts->command.consume.until_empty = true;
            break;
        case OPT_DIR:
            opts->command.consume.dir = optarg;
            break;
        case OPT_SERVER_KEY:
            opts->login.server_key = optarg;
            break;
        case OPT_KEY:
            opts->login.key = optarg;
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
                opts->command.consume.prefetch = (int)v;
            else if (c == OPT_LEASE)
                opts->command.consume.lease_s = (int)v;
            else
                opts->command.consume.max = v;
            break;
        }
        case OPT_WINDOW: {
            char *end = NULL;
            errno = 0;
            long v = strtol (optarg, &end, 10);
            if (errno || !end || *end || end == optarg || v < 1 || v > 1000)
                return s_usage_error ("--window takes a number from 1 to 1000, got \"%s\"", optarg);
            opts->command.window = (int)v;
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

/* The command named after the options, with its words checked; NULL with *status set */
static const command_t *
s_command (int argc, char *argv[], int *status)
{
    *status = EX_USAGE;
    if (optind >= argc) {
        s_usage_error ("%s", "no command: stat, list, read N, save N DIR, delete N, drain DIR or watch");
        return NULL;
    }
    const command_t *command = command_find (argv[optind]);
    if (!command) {
        s_usage_error ("unknown command \"%s\": stat, list, read N, save N DIR, delete N, drain DIR, watch",
                       argv[optind]);
        return NULL;
    }
    *status = command_check (command, argc - optind - 1, argv + optind + 1);
    return *status == 0 ? command : NULL;
}

/* Logs in and runs the command: the exit status */
static int
s_run (const command_t *command, char **words, options_t *opts)
{
    int status = client_cli_configure (&opts->login, "mailbus-sub");
    if (status == 0)
        status = client_cli_credentials (&opts->login);
    if (status != 0)
        return status;
    /* watch catches SIGINT and SIGTERM itself; for the rest, Ctrl-C simply ends the program */
    zsys_handler_set (NULL);
    show_init ();
    client_t *client = client_cli_connect (&opts->login, "mailbus-sub", &status);
    if (client) {
        status = command_run (command, client, words, &opts->command);
        client_destroy (&client);
    }
    show_shutdown ();
    return status;
}

int
main (int argc, char *argv[])
{
    options_t opts = {
        .login = {.timeout_s = CLIENT_DEFAULT_TIMEOUT_MS / 1000},
        .command = {.consume = {NULL, false, 1, 30, 0, false}},
    };
    int status = s_parse_options (argc, argv, &opts);
    const command_t *command = status < 0 ? s_command (argc, argv, &status) : NULL;
    if (command && !command_needs_broker (command))
        status = command_run (command, NULL, argv + optind + 1, &opts.command);
    else if (command)
        status = s_run (command, argv + optind + 1, &opts);
    client_cli_release (&opts.login);
    return status;
}
