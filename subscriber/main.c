/*  main.c — mailbus-sub: pulls a mailbox (stat, list, read, save, delete, drain) or watches
    it live. Message numbers are positions in LIST order, as POP3 numbers them. */
#include <czmq.h>
#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "client_cli.h"
#include "command.h"
#include "mb_limits.h"
#include "options.h"
#include "show.h"

#define PROG "mailbus-sub"

typedef struct {
    client_cli_t login;        /* -b -u -p --password-stdin --server-key --key -c --timeout */
    command_options_t command; /* the options of one command each */
} settings_t;

#define S_CONSUME(field) offsetof (settings_t, command.consume.field)

static const option_t s_options[] = {
    CLIENT_CLI_OPTIONS (settings_t, login, "the mailbox (env MAILBUS_USER)",
                        "log in with this key pair instead of a password (mailbus-sub\n"
                        "keygen FILE makes one; env MAILBUS_KEY)"),
    CLIENT_CLI_TIMEOUT (settings_t, login),
    {.name = "window",
     .kind = OPTION_NUMBER,
     .offset = offsetof (settings_t, command.window),
     .dflt_number = 0, /* watch_run's own default, WATCH_WINDOW */
     .min = 1,
     .max = MAX_WATCH_WINDOW,
     .error = "--window takes a number from {min} to {max}, got \"{value}\"",
     .arg = "N",
     .help = "watch: pushes the broker may send ahead of our credit\n"
             "({min}..{max}, default 64); beyond it we catch up with LIST"},
    {.name = "keep",
     .kind = OPTION_FLAG,
     .offset = offsetof (settings_t, command.keep),
     .help = "drain: leave the messages in the mailbox (marked seen)"},
    {.name = "filter",
     .kind = OPTION_STRING,
     .offset = offsetof (settings_t, command.filter),
     .arg = "HEADER:GLOB",
     .help = "subscribe: deliver only messages whose header matches"},
    {.name = "ack",
     .kind = OPTION_FLAG,
     .offset = S_CONSUME (auto_ack),
     .clears = true,
     .heading = "      --ack | --auto-ack  consume: acknowledge after handling (default, at-least-once)\n"
                "                          or on arrival (at-most-once)\n"},
    {.name = "auto-ack", .kind = OPTION_FLAG, .offset = S_CONSUME (auto_ack)},
    {.name = "prefetch",
     .kind = OPTION_NUMBER,
     .offset = S_CONSUME (prefetch),
     .dflt_number = 1,
     .min = 1,
     .max = MAX_LEASE_COUNT,
     .error = "--prefetch takes a number from {min} to {max}, got \"{value}\"",
     .arg = "N",
     .help = "consume: messages leased at once ({min}..{max}, default {default})"},
    {.name = "lease",
     .kind = OPTION_NUMBER,
     .offset = S_CONSUME (lease_s),
     .dflt_number = DEFAULT_LEASE_SECONDS,
     .min = 1,
     .max = MAX_LEASE_SECONDS,
     .error = "--lease takes a number of seconds from {min} to {max}, got \"{value}\"",
     .arg = "SECONDS",
     .help = "consume: how long a lease lasts (default {default})"},
    {.name = "dir",
     .kind = OPTION_STRING,
     .offset = S_CONSUME (dir),
     .arg = "DIR",
     .help = "consume: write each message to DIR/<id>.eml before the ACK"},
    {.name = "max",
     .kind = OPTION_NUMBER,
     .offset = S_CONSUME (max),
     .min = 0,
     .max = 1000000000,
     .error = "--max takes a number from 0 up, got \"{value}\"",
     .arg = "N",
     .help = "consume: stop after N messages"},
    {.name = "until-empty",
     .kind = OPTION_FLAG,
     .offset = S_CONSUME (until_empty),
     .help = "consume: stop when nothing is left to lease"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-sub [-b ENDPOINT] -u USER [-p PASSWORD | --password-stdin] [-c FILE] COMMAND\n"
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
             "                  (100 at a time: leased, written and synced, then one ACK)\n"
             "  subscribe LIST  join a list topic (--filter HEADER:GLOB, e.g. 'subject:*urgent*')\n"
             "  unsubscribe LIST  leave it\n"
             "  consume         take messages one at a time as a competing consumer (work queue):\n"
             "                  each is leased to this consumer only, handled (printed, or written\n"
             "                  to --dir DIR) and then acknowledged (deleted; one ACK for those of\n"
             "                  a --prefetch batch handled); a consumer that dies\n"
             "                  loses nothing, its lease runs out and another consumer gets it\n"
             "  keygen FILE     make a key pair for --key (FILE public, FILE_secret yours alone)\n"
             "  watch           print \"watching USER\", the unread messages, then each new message\n"
             "                  the moment it arrives (Ctrl-C ends); reconnects by itself when\n"
             "                  the broker restarts (\"reconnected\") and shows what came meanwhile\n"
             "\n"
             "options:\n",
    .epilogue = "\n"
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
    .prefix = PROG ": ",
    .suffix = "try " PROG " --help\n",
    .help_column = 26,
};

/* The command named after the options, with its words checked; NULL with *status set */
static const command_t *
s_command (int argc, char *argv[], int *status)
{
    *status = OPTIONS_USAGE;
    if (optind >= argc) {
        client_cli_usage_error (PROG, "%s",
                                "no command: stat, list, read N, save N DIR, delete N, drain DIR or watch");
        return NULL;
    }
    const command_t *command = command_find (argv[optind]);
    if (!command) {
        client_cli_usage_error (
            PROG, "unknown command \"%s\": stat, list, read N, save N DIR, delete N, drain DIR, watch",
            argv[optind]);
        return NULL;
    }
    *status = command_check (command, argc - optind - 1, argv + optind + 1);
    return *status == 0 ? command : NULL;
}

/* Logs in (unless the command needs no broker) and runs the command: the exit status */
static int
s_run (const command_t *command, char **words, settings_t *settings)
{
    if (!command_needs_broker (command))
        return command_run (command, NULL, words, &settings->command);
    int status = client_cli_credentials (&settings->login);
    if (status != 0)
        return status;
    /* watch catches SIGINT and SIGTERM itself; for the rest, Ctrl-C simply ends the program */
    zsys_handler_set (NULL);
    show_init ();
    client_t *client = client_cli_connect (&settings->login, PROG, &status);
    if (client) {
        status = command_run (command, client, words, &settings->command);
        client_destroy (&client);
    }
    show_shutdown ();
    return status;
}

int
main (int argc, char *argv[])
{
    settings_t settings = {{0}};
    options_t *options = NULL;
    int status = client_cli_start (&settings.login, &s_spec, &settings, argc, argv, PROG, &options);
    const command_t *command = status == OPTIONS_GO_ON ? s_command (argc, argv, &status) : NULL;
    if (command)
        status = s_run (command, argv + optind + 1, &settings);
    client_cli_finish (&settings.login, &options);
    return status;
}
