/*  client_cli.h — what the client programs (mailbus-pub, mailbus-sub) share between their
    options and their first request: the options that say which broker, which mailbox and
    how to log in (command line > environment > the "client" section of the -c file), and
    what a reply code means as an exit status (2xx 0, 4xx or no answer EX_TEMPFAIL, 5xx 1). */
#ifndef MAILBUS_CLIENT_CLI_H
#define MAILBUS_CLIENT_CLI_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "options.h"

typedef struct {
    /* filled by the options (CLIENT_CLI_OPTIONS, CLIENT_CLI_TIMEOUT) */
    const char *endpoint;   /* -b */
    const char *user;       /* -u */
    char *password;         /* -p (scrubbed from argv), MAILBUS_PASSWORD or client/password */
    bool password_stdin;    /* --password-stdin */
    const char *config;     /* -c: ZPL file */
    const char *server_key; /* --server-key: the broker's public key (CURVE) */
    const char *key;        /* --key: our key pair, to log in without a password */
    int64_t timeout_s;      /* --timeout */
    /* filled by client_cli_resolve and client_cli_credentials */
    zconfig_t *zconfig; /* the -c file; the strings above may point into it */
    char *secret;       /* the password to log in with */
} client_cli_t;

/* The option rows of -b, -u, -p, --password-stdin, --server-key, --key and -c for a program's
   table: type is its settings struct, field the client_cli_t in it; user_help and key_help
   are the program's own words for -u and --key. --server-key has no environment variable
   here: client_set_keys falls back on MAILBUS_SERVER_KEY when neither the option nor the
   config file gives a key. */
#define CLIENT_CLI_OPTIONS(type, field, user_help, key_help)                                                 \
    {.name = "broker",                                                                                       \
     .letter = 'b',                                                                                          \
     .kind = OPTION_STRING,                                                                                  \
     .offset = offsetof (type, field.endpoint),                                                              \
     .key = "client/broker",                                                                                 \
     .env = "MAILBUS_BROKER",                                                                                \
     .dflt = CLIENT_DEFAULT_ENDPOINT,                                                                        \
     .arg = "ENDPOINT",                                                                                      \
     .help = "broker endpoint (default {default}; env MAILBUS_BROKER)"},                                     \
        {.name = "user",                                                                                     \
         .letter = 'u',                                                                                      \
         .kind = OPTION_STRING,                                                                              \
         .offset = offsetof (type, field.user),                                                              \
         .key = "client/user",                                                                               \
         .env = "MAILBUS_USER",                                                                              \
         .arg = "ADDRESS",                                                                                   \
         .help = user_help},                                                                                 \
        {.name = "password",                                                                                 \
         .letter = 'p',                                                                                      \
         .kind = OPTION_SECRET,                                                                              \
         .offset = offsetof (type, field.password),                                                          \
         .key = "client/password",                                                                           \
         .env = "MAILBUS_PASSWORD",                                                                          \
         .arg = "PASS",                                                                                      \
         .help = "its password (env MAILBUS_PASSWORD); ps shows it as '*' once\n"                            \
                 "the options are read, but --password-stdin is safer"},                                     \
        {.name = "password-stdin",                                                                           \
         .kind = OPTION_FLAG,                                                                                \
         .offset = offsetof (type, field.password_stdin),                                                    \
         .help = "read the password from the first line of standard input"},                                 \
        {.name = "server-key",                                                                               \
         .kind = OPTION_STRING,                                                                              \
         .offset = offsetof (type, field.server_key),                                                        \
         .key = "client/server-key",                                                                         \
         .arg = "KEY",                                                                                       \
         .help = "the broker's public key (40 characters, or its key file): CURVE,\n"                        \
                 "needed beyond loopback (env MAILBUS_SERVER_KEY; config\n"                                  \
                 "client/server-key); `mailbus-broker key` prints it"},                                      \
        {.name = "key",                                                                                      \
         .kind = OPTION_STRING,                                                                              \
         .offset = offsetof (type, field.key),                                                               \
         .arg = "FILE",                                                                                      \
         .help = key_help},                                                                                  \
    {                                                                                                        \
        .name = "config", .letter = 'c', .kind = OPTION_STRING, .offset = offsetof (type, field.config),     \
        .arg = "FILE",                                                                                       \
        .help = "ZPL config; keys client/broker, client/user, client/password\n"                             \
                "(options win over the environment, which wins over the file)"                               \
    }

/* The option row of --timeout SECONDS (1..3600, default 10) */
#define CLIENT_CLI_TIMEOUT(type, field)                                                                      \
    {                                                                                                        \
        .name = "timeout", .kind = OPTION_NUMBER, .offset = offsetof (type, field.timeout_s),                \
        .dflt_number = CLIENT_DEFAULT_TIMEOUT_MS / 1000, .min = 1, .max = 3600, .arg = "SECONDS",            \
        .error = "--timeout takes seconds from 1 to 3600, got \"{value}\"",                                  \
        .help = "wait this long for each answer (default {default}); a busy broker's\n"                      \
                "421 or 452 4.3.1 is retried after growing random pauses for as long"                        \
    }

/* The exit status for a reply code: 0 for 2xx, EX_TEMPFAIL for 4xx, 1 otherwise */
int client_cli_exit_status (int code);

/* Prints "PROG: " format (with arg) and "try PROG --help" on stderr; returns EX_USAGE */
int client_cli_usage_error (const char *prog, const char *format, const char *arg);

/* Loads the -c file, resolves every option of options (environment, config file, default,
   bounds) and sets the keys (client_set_keys). OPTIONS_GO_ON, or OPTIONS_USAGE with the reason
   on stderr: it follows options_parse. */
int client_cli_resolve (client_cli_t *self, options_t *options, const char *prog);

/* The start of a client program: options_new (settings, spec), options_parse and
   client_cli_resolve of login (a part of settings). OPTIONS_GO_ON, 0 after --help, or
   OPTIONS_USAGE with the reason on stderr; *options is set in every case, for
   client_cli_finish. */
int client_cli_start (client_cli_t *login, const options_spec_t *spec, void *settings, int argc, char *argv[],
                      const char *prog, options_t **options);

/* client_cli_release and options_destroy */
void client_cli_finish (client_cli_t *login, options_t **options);

/* The endpoint, user and password to log in with (client_credentials). 0, or EX_USAGE with
   the reason on stderr. */
int client_cli_credentials (client_cli_t *self);

/* Connects and logs in. NULL with the reason on stderr as "PROG: reason" and *status the
   exit status: the broker's refusal mapped by client_cli_exit_status, EX_TEMPFAIL when it
   gave none (no answer). */
client_t *client_cli_connect (client_cli_t *self, const char *prog, int *status);

/* Zeroes and frees the config file and the login password (the options own -p's copy);
   the strings that pointed into the config are gone too. Safe to call more than once. */
void client_cli_release (client_cli_t *self);

#endif
