/*  client_cli.h — what the client programs (mailbus-pub, mailbus-sub, mailbus-bench) share
    between their options and their first request: which broker, which mailbox, how to log
    in (options > environment > config file), and what a reply code means as an exit status
    (2xx 0, 4xx or no answer EX_TEMPFAIL, 5xx 1). */
#ifndef MAILBUS_CLIENT_CLI_H
#define MAILBUS_CLIENT_CLI_H

#include <czmq.h>
#include <stdbool.h>

#include "client.h"

typedef struct {
    /* from the command line (NULL: not given) */
    const char *endpoint;   /* -b */
    const char *user;       /* -u */
    const char *password;   /* -p (password_copy), else the config file's client/password */
    char *password_copy;    /* -p: taken out of argv (ps shows "-p *") */
    bool password_stdin;    /* --password-stdin */
    const char *config;     /* -c: ZPL file */
    const char *server_key; /* --server-key: the broker's public key (CURVE) */
    const char *key;        /* --key: our key pair, to log in without a password */
    int timeout_s;          /* --timeout */
    /* filled by client_cli_configure and client_cli_credentials */
    zconfig_t *zconfig; /* the -c file; the strings above may point into it */
    char *secret;       /* the password to log in with */
} client_cli_t;

/* The exit status for a reply code: 0 for 2xx, EX_TEMPFAIL for 4xx, 1 otherwise */
int client_cli_exit_status (int code);

/* Prints "PROG: " format (with arg) and "try PROG --help" on stderr; returns EX_USAGE */
int client_cli_usage_error (const char *prog, const char *format, const char *arg);

/* -p PASS: keeps a copy of arg as the password and scrubs arg out of argv */
void client_cli_take_password (client_cli_t *self, char *arg);

/* Loads the -c file, fills what the options left unset from its client/ section (unless the
   environment gives it) and sets the keys (client_set_keys). 0, or EX_USAGE with the reason
   on stderr as "PROG: reason". */
int client_cli_configure (client_cli_t *self, const char *prog);

/* The endpoint, user and password to log in with (client_credentials). 0, or EX_USAGE with
   the reason on stderr. */
int client_cli_credentials (client_cli_t *self);

/* Connects and logs in. NULL with the reason on stderr as "PROG: reason" and *status the
   exit status: the broker's refusal mapped by client_cli_exit_status, EX_TEMPFAIL when it
   gave none (no answer). */
client_t *client_cli_connect (client_cli_t *self, const char *prog, int *status);

/* Zeroes and frees what the functions above made (the config, the password copies); the
   strings that pointed into them are gone too. Safe to call more than once. */
void client_cli_release (client_cli_t *self);

#endif
