/*  command.h — the commands of mailbus-sub (stat, list, read N, ... watch, keygen FILE) as a
    table: each row says how many words follow the command, checks them before anything
    goes to the broker, and runs the command over a logged-in client. */
#ifndef MAILBUS_COMMAND_H
#define MAILBUS_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "consume.h"

/* The options that belong to one command each */
typedef struct {
    int64_t window;            /* watch --window (0: the default) */
    const char *filter;        /* subscribe --filter HEADER:GLOB */
    bool keep;                 /* drain --keep */
    consume_options_t consume; /* consume --ack/--auto-ack/--prefetch/--lease/--dir/--max/... */
} command_options_t;

typedef struct command_t command_t;

/* The command called name, or NULL */
const command_t *command_find (const char *name);

/* Checks the words that follow the command (argv, words of them): 0, or the exit status
   with the usage error on stderr */
int command_check (const command_t *self, int words, char **argv);

/* Whether the command talks to the broker (keygen does not) */
bool command_needs_broker (const command_t *self);

/* Runs the command (client NULL when it needs no broker); returns the exit status */
int command_run (const command_t *self, client_t *client, char **argv, const command_options_t *options);

#endif
