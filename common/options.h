/*  options.h — a program's settings described once, as a table (Postfix's habit): long name,
    short letter, config key, environment variable, default, kind, bounds, help text, and
    where the value goes in the program's settings struct. From the table come the getopt_long
    options, the precedence command line > environment > config file > default, validation
    with the messages the programs always printed, and the option list of --help. */
#ifndef MAILBUS_OPTIONS_H
#define MAILBUS_OPTIONS_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What an option holds, and the type of its field in the settings struct */
typedef enum {
    OPTION_STRING, /* const char *: into argv, the environment or the config */
    OPTION_SECRET, /* char *: a copy, scrubbed from argv (.take); options_destroy frees it */
    OPTION_FLAG,   /* bool: takes no argument; a config value yes/true/1/on sets it */
    OPTION_NUMBER, /* int64_t: a decimal number from .min to .max */
    OPTION_WORD,   /* const char *: one of .words (points into .words) */
    OPTION_LIST,   /* const char *[.max + 1]: repeatable, NULL-terminated; the config file and
                      the default give space- or comma-separated words, used only when the
                      command line gives none */
    OPTION_HELP,   /* -h: prints the help on stdout; options_parse returns 0 */
} option_kind_t;

typedef struct {
    const char *name; /* long option without "--": "max-message-size" */
    int letter;       /* short option ('c'), or 0 */
    option_kind_t kind;
    size_t offset;                     /* offsetof (settings_t, field) */
    const char *key;                   /* ZPL path in the config file, "broker/db"; NULL: none */
    const char *env;                   /* environment variable, "MAILBUS_BROKER"; NULL: none */
    const char *dflt;                  /* default of a string, word or list; NULL: none */
    int64_t dflt_number;               /* default of a number */
    int64_t min, max;                  /* bounds of a number; .max is the capacity of a list */
    const char *const *words;          /* OPTION_WORD: the words it takes, NULL-terminated */
    const char *unit;                  /* OPTION_NUMBER: "seconds" gives "takes a number of seconds" */
    bool (*check) (const char *value); /* a list item given on the command line must pass it */
    char *(*take) (char *arg);         /* OPTION_SECRET: copy and scrub (default argv_take_secret) */
    bool clears;                       /* OPTION_FLAG: the option sets the flag to false (--open) */
    bool config_negated;               /* OPTION_FLAG: a config value no/false/0/off sets the flag
                                          (--no-demo is "demo = no" in the file) */
    const char *error;                 /* the message of a bad value instead of the generated one */
    const char *arg;                   /* --help: the argument's name, "FILE" */
    const char *help;                  /* --help text; NULL hides the option; '\n' continues it */
    const char *heading;               /* --help: printed as it is before the option */
} option_t;

/* In .help, .error and .heading: {name} {value} {min} {max} {default} {unit} {words} */

typedef struct {
    const option_t *options; /* ends with a row whose name is NULL */
    const char *usage;       /* --help: what comes before the option list */
    const char *epilogue;    /* --help: what comes after it (exit status, examples) */
    const char *prefix;      /* before each error message: "error: " */
    const char *suffix;      /* after each error line, "try mailbus-pub --help\n"; or NULL */
    bool getopt_messages;    /* on an unknown option or a missing argument: getopt's own message
                                and the whole help on stderr (else prefix "unknown option -x",
                                "option -x needs a value") */
    int help_column;         /* --help: the column where each option's text starts (0: 29) */
} options_spec_t;

/* Returned by options_parse and options_resolve when the program goes on */
#define OPTIONS_GO_ON (-1)
/* The exit status of a usage error (sysexits.h EX_USAGE) */
#define OPTIONS_USAGE 64

typedef struct _options_t options_t;

/* Settings filled from spec; settings is the program's struct the offsets point into */
options_t *options_new (const options_spec_t *spec, void *settings);

/* Frees what the options hold (secrets zeroed, config words); the settings' strings that
   pointed into them are gone too */
void options_destroy (options_t **self_p);

/* Reads the command line (getopt_long; the operands are left from optind on, GNU
   permutation). Strings, secrets, flags and lists are in the settings at once (so -c FILE
   can be read before options_resolve); numbers and words once options_resolve checked them.
   Returns OPTIONS_GO_ON, 0 after --help, or OPTIONS_USAGE with the message on stderr. */
int options_parse (options_t *self, int argc, char *argv[]);

/* Fills each option the command line did not give from its environment variable, else the
   config file (NULL: none), else its default; checks numbers and words. The settings' strings
   may point into config: keep it as long as them. Returns OPTIONS_GO_ON or OPTIONS_USAGE. */
int options_resolve (options_t *self, zconfig_t *config);

/* True when the command line gave this option (by long name) */
bool options_given (options_t *self, const char *name);

/* Prints usage, the option list and the epilogue */
void options_help (const options_spec_t *spec, FILE *out);

/* The number of strings in a NULL-terminated list (an OPTION_LIST field) */
size_t options_count (const char *const *list);

#endif
