/*  main.c — mailbus-pub: composes a message (or takes a ready one) and publishes it to
    mailbox topics with SEND, printing the broker's answer for every recipient. */
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "client_cli.h"
#include "compose.h"
#include "draft.h"
#include "options.h"
#include "prompt.h"
#include "publish.h"

#define PROG "mailbus-pub"
/* -t, --cc and -a given this many times at most (each -t or --cc may list several
   addresses; the broker takes MAX_RCPT recipients) */
#define MAX_REPEAT 1024

typedef struct {
    client_cli_t login; /* -b -u -p --password-stdin --server-key --key -c --timeout */
    const char *from;
    const char *to[MAX_REPEAT + 1]; /* comma-separated address lists */
    const char *cc[MAX_REPEAT + 1];
    const char *attach[MAX_REPEAT + 1];
    const char *subject;
    const char *body; /* -m */
    const char *raw;  /* --raw FILE.eml */
    bool interactive;
    bool print_only;
    int64_t retries;
} settings_t;

/* -t and --cc: at least one address in the comma-separated list */
static bool
s_has_address (const char *value)
{
    GPtrArray *addresses = g_ptr_array_new_with_free_func (g_free);
    bool some = prompt_split_addresses (value, addresses) > 0;
    g_ptr_array_free (addresses, TRUE);
    return some;
}

static bool
s_is_readable (const char *path)
{
    return access (path, R_OK) == 0;
}

#define S_FIELD(field) .offset = offsetof (settings_t, field)

static const option_t s_options[] = {
    CLIENT_CLI_OPTIONS (settings_t, login, "the mailbox to identify as (env MAILBUS_USER)",
                        "log in with this key pair instead of a password (made by\n"
                        "`mailbus-sub keygen FILE`; env MAILBUS_KEY)"),
    {.name = "from",
     .kind = OPTION_STRING,
     S_FIELD (from),
     .arg = "ADDRESS",
     .help = "sender (default: USER; the broker refuses others, 553 5.7.1)"},
    {.name = "to",
     .letter = 't',
     .kind = OPTION_LIST,
     S_FIELD (to),
     .max = MAX_REPEAT,
     .check = s_has_address,
     .error = "-t needs an address, got \"{value}\"",
     .arg = "ADDRESS",
     .help = "recipient (repeat, or separate with commas)"},
    {.name = "cc",
     .kind = OPTION_LIST,
     S_FIELD (cc),
     .max = MAX_REPEAT,
     .check = s_has_address,
     .error = "--cc needs an address, got \"{value}\"",
     .arg = "ADDRESS",
     .help = "carbon-copy recipient (repeat, or separate with commas)"},
    {.name = "subject",
     .letter = 's',
     .kind = OPTION_STRING,
     S_FIELD (subject),
     .arg = "TEXT",
     .help = "subject"},
    {.name = "attach",
     .letter = 'a',
     .kind = OPTION_LIST,
     S_FIELD (attach),
     .max = MAX_REPEAT,
     .check = s_is_readable,
     .error = "cannot read attachment {value}",
     .arg = "FILE",
     .help = "attach a file (repeat); makes a multipart/mixed message"},
    {.name = "message",
     .letter = 'm',
     .kind = OPTION_STRING,
     S_FIELD (body),
     .arg = "TEXT",
     .help = "the body text (default: read the body from standard input)"},
    {.name = "raw",
     .kind = OPTION_STRING,
     S_FIELD (raw),
     .arg = "FILE.eml",
     .help = "send a ready RFC 5322 message (LF line endings become CRLF; a\n"
             "missing empty line after the header fields is put in)"},
    {.name = "interactive",
     .letter = 'i',
     .kind = OPTION_FLAG,
     S_FIELD (interactive),
     .help = "ask for To, Subject, attachments and body on the terminal,\n"
             "and for the password (no echo) when none is given"},
    CLIENT_CLI_TIMEOUT (settings_t, login),
    {.name = "retries",
     .kind = OPTION_NUMBER,
     S_FIELD (retries),
     .dflt_number = 3,
     .min = 0,
     .max = 100,
     .error = "--retries takes a number from {min} to {max}, got \"{value}\"",
     .arg = "N",
     .help = "send again this many times after no answer (default {default};\n"
             "the same Message-ID, so the broker stores it once)"},
    {.name = "print",
     .kind = OPTION_FLAG,
     S_FIELD (print_only),
     .help = "write the message to standard output instead of sending it"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-pub [-b ENDPOINT] -u USER [-p PASSWORD | --password-stdin] [--from ADDR]\n"
             "                   -t TO [-t TO]... [--cc ADDR]... [-s SUBJECT] [-a FILE]...\n"
             "                   [-m BODY | --raw FILE.eml | body on stdin] [-i] [-c FILE]\n"
             "\n"
             "Publishes one message to mailbox topics through the mailbus broker and prints the\n"
             "broker's answer for every recipient, e.g. \"250 2.0.0 bob@demo.test queued as 42\".\n"
             "\n",
    .epilogue = "\n"
                "Exit status: 0 every recipient accepted; 1 a permanent failure (5xx); 75 a transient\n"
                "failure (4xx) or no answer from the broker; 64 usage error.\n"
                "\n"
                "Example:\n"
                "  MAILBUS_PASSWORD=demo mailbus-pub -u alice@demo.test -t bob@demo.test \\\n"
                "      -s \"lunch?\" -m \"at noon\" -a menu.pdf\n",
    .prefix = PROG ": ",
    .suffix = "try " PROG " --help\n",
    .help_column = 26,
};

static int
s_usage_error (const char *format, const char *arg)
{
    return client_cli_usage_error (PROG, format, arg);
}

/* What the options cannot say one by one: OPTIONS_GO_ON or the exit status */
static int
s_check (const settings_t *self, int argc, char *argv[])
{
    if (optind < argc)
        return s_usage_error ("unexpected argument \"%s\"", argv[optind]);
    if (self->raw && (self->body || self->subject || self->attach[0] || self->interactive))
        return s_usage_error ("%s: --raw sends the file as it is; -m, -s, -a and -i do not go with it",
                              self->raw);
    if (!self->interactive && !self->to[0] && !self->print_only)
        return s_usage_error ("%s", "no recipient: give -t ADDRESS");
    return OPTIONS_GO_ON;
}

/* -i with no password from -p, --password-stdin, MAILBUS_PASSWORD or the config: ask for
   it on the terminal, as the classroom's interactive sender does. 0, or -1 (said why) */
static int
s_ask_password (settings_t *self)
{
    client_cli_t *login = &self->login;
    if (!self->interactive || login->password || login->password_stdin || login->key ||
        getenv ("MAILBUS_KEY"))
        return 0;
    /* the options own the password field: options_destroy zeroes and frees it */
    login->password = prompt_password (login->user);
    return login->password ? 0 : -1;
}

/* The password to log in with, and the sender: OPTIONS_GO_ON or the exit status */
static int
s_login (settings_t *self)
{
    if (!self->print_only && (s_ask_password (self) != 0 || client_cli_credentials (&self->login) != 0))
        return EX_USAGE;
    if (!self->from)
        self->from = self->login.user;
    if (!self->from)
        return s_usage_error ("%s", "no sender: give -u USER or --from ADDRESS");
    return OPTIONS_GO_ON;
}

/* Connects and publishes: the exit status */
static int
s_publish (settings_t *self, const draft_t *draft, const char *message, size_t size)
{
    if (draft->to->len == 0 && draft->cc->len == 0)
        return s_usage_error ("%s", "no recipient: give -t ADDRESS");
    /* one-shot program: Ctrl-C simply ends it */
    zsys_handler_set (NULL);
    int status = 0;
    client_t *client = client_cli_connect (&self->login, PROG, &status);
    if (!client)
        return status;
    status = publish_send (client, draft, message, size, (int)self->retries, (int)self->login.timeout_s);
    client_destroy (&client);
    return status;
}

/* Composes the message, then prints or publishes it: the exit status */
static int
s_compose_and_send (settings_t *self)
{
    draft_t *draft = draft_new (self->to, self->cc, self->attach, self->subject, self->body);
    draft->from = self->from;
    compose_init ();
    size_t size = 0;
    char *message = draft_message (draft, self->raw, self->interactive, &size);
    int status;
    if (!message)
        status = self->interactive ? EX_USAGE : 1;
    else if (self->print_only)
        status = fwrite (message, 1, size, stdout) == size ? 0 : 1;
    else
        status = s_publish (self, draft, message, size);
    compose_shutdown ();
    free (message);
    draft_destroy (&draft);
    return status;
}

int
main (int argc, char *argv[])
{
    settings_t settings = {{0}};
    options_t *options = NULL;
    int status = client_cli_start (&settings.login, &s_spec, &settings, argc, argv, PROG, &options);
    if (status == OPTIONS_GO_ON)
        status = s_check (&settings, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = s_login (&settings);
    if (status == OPTIONS_GO_ON)
        status = s_compose_and_send (&settings);
    client_cli_finish (&settings.login, &options);
    return status;
}
