/*  options.c — settings from a table: command line, environment, config file, default. */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "argv_scrub.h"
#include "config.h"

/* getopt_long returns OPTION_VAL + row for a long option without a letter */
#define OPTION_VAL 256
/* --help: where the text of an option starts */
#define HELP_COLUMN 29

struct _options_t {
    const options_spec_t *spec;
    char *settings;    /* the program's struct */
    size_t count;      /* rows in spec->options */
    const char **text; /* per row: the argument the command line gave */
    bool *given;       /* per row: the command line gave it */
    zlist_t *words;    /* char ** of config_words, freed at the end */
};

#define FIELD(self, row, type) ((type *)((self)->settings + (row)->offset))

options_t *
options_new (const options_spec_t *spec, void *settings)
{
    assert (spec && spec->options && settings);
    options_t *self = calloc (1, sizeof *self);
    self->spec = spec;
    self->settings = settings;
    while (spec->options[self->count].name)
        self->count++;
    self->text = calloc (self->count + 1, sizeof (char *));
    self->given = calloc (self->count + 1, sizeof (bool));
    self->words = zlist_new ();
    return self;
}

void
options_destroy (options_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    options_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        if (self->spec->options[i].kind == OPTION_SECRET)
            argv_secret_free (FIELD (self, &self->spec->options[i], char *));
    for (char **words = zlist_first (self->words); words; words = zlist_next (self->words))
        config_words_free (&words);
    zlist_destroy (&self->words);
    free (self->text);
    free (self->given);
    free (self);
    *self_p = NULL;
}

/* "a or b", "a, b or c" */
static void
s_print_words (FILE *out, const char *const *words)
{
    for (size_t i = 0; words && words[i]; i++)
        fprintf (out, "%s%s", i == 0 ? "" : words[i + 1] ? ", " : " or ", words[i]);
}

/* Prints template with its {tokens} filled from row; after each inner newline, indent spaces */
static void
s_expand (FILE *out, const char *template, const option_t *row, const char *value, int indent)
{
    for (const char *p = template; *p; p++) {
        const char *close = *p == '{' ? strchr (p, '}') : NULL;
        size_t len = close ? (size_t)(close - p + 1) : 0;
        if (len && strncmp (p, "{name}", len) == 0)
            fputs (row->name, out);
        else if (len && strncmp (p, "{value}", len) == 0)
            fputs (value ? value : "", out);
        else if (len && strncmp (p, "{min}", len) == 0)
            fprintf (out, "%lld", (long long)row->min);
        else if (len && strncmp (p, "{max}", len) == 0)
            fprintf (out, "%lld", (long long)row->max);
        else if (len && strncmp (p, "{unit}", len) == 0)
            fputs (row->unit ? row->unit : "", out);
        else if (len && strncmp (p, "{words}", len) == 0)
            s_print_words (out, row->words);
        else if (len && strncmp (p, "{default}", len) == 0 && row->kind == OPTION_NUMBER)
            fprintf (out, "%lld", (long long)row->dflt_number);
        else if (len && strncmp (p, "{default}", len) == 0)
            fputs (row->dflt ? row->dflt : "", out);
        else {
            fputc (*p, out);
            if (*p == '\n' && p[1])
                fprintf (out, "%*s", indent, "");
            len = 1;
        }
        p += len - 1;
    }
}

/* prefix, the message, a newline, suffix: on stderr; returns OPTIONS_USAGE */
static int
s_report (const options_t *self, const option_t *row, const char *template, const char *value)
{
    fputs (self->spec->prefix ? self->spec->prefix : "", stderr);
    s_expand (stderr, template, row, value, 0);
    fputc ('\n', stderr);
    fputs (self->spec->suffix ? self->spec->suffix : "", stderr);
    return OPTIONS_USAGE;
}

/* A bad value: the row's own error text when it has one, else template */
static int
s_error (const options_t *self, const option_t *row, const char *template, const char *value)
{
    return s_report (self, row, row->error ? row->error : template, value);
}

static void
s_print_option (const option_t *row, int column, FILE *out)
{
    if (row->heading)
        s_expand (out, row->heading, row, NULL, 0);
    if (!row->help)
        return;
    int width = fprintf (out, "  %c%c%s--%s%s%s", row->letter ? '-' : ' ', row->letter ? row->letter : ' ',
                         row->letter ? ", " : "  ", row->name, row->arg ? " " : "", row->arg ? row->arg : "");
    /* a name too long for the column keeps two spaces before its text */
    fprintf (out, "%*s", width < column ? column - width : 2, "");
    s_expand (out, row->help, row, NULL, column);
    fputc ('\n', out);
}

void
options_help (const options_spec_t *spec, FILE *out)
{
    fputs (spec->usage ? spec->usage : "", out);
    for (const option_t *row = spec->options; row->name; row++)
        s_print_option (row, spec->help_column ? spec->help_column : HELP_COLUMN, out);
    fputs (spec->epilogue ? spec->epilogue : "", out);
}

size_t
options_count (const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

bool
options_given (options_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq (self->spec->options[i].name, name))
            return self->given[i];
    return false;
}

/* One more item of a repeatable option, within its capacity and its check */
static int
s_list_add (options_t *self, const option_t *row, const char *value)
{
    const char **list = FIELD (self, row, const char *);
    size_t n = options_count (list);
    if (n >= (size_t)row->max) {
        /* not the row's error text: that one is about a bad value, not one too many */
        char template[48] = "too many --{name} (at most {max})";
        if (row->letter)
            snprintf (template, sizeof template, "too many -%c (at most {max})", row->letter);
        return s_report (self, row, template, value);
    }
    if (row->check && !row->check (value))
        return s_error (self, row, "--{name} takes no '{value}'", value);
    list[n] = value;
    list[n + 1] = NULL;
    return OPTIONS_GO_ON;
}

/* What the command line gave for row: numbers and words are kept as text until
   options_resolve checks them; strings, secrets, flags and lists take effect at once */
static int
s_take (options_t *self, size_t index, char *arg)
{
    const option_t *row = &self->spec->options[index];
    self->given[index] = true;
    switch (row->kind) {
    case OPTION_SECRET: {
        char **secret = FIELD (self, row, char *);
        argv_secret_free (secret);
        *secret = row->take ? row->take (arg) : argv_take_secret (arg);
        break;
    }
    case OPTION_FLAG:
        *FIELD (self, row, bool) = !row->clears;
        break;
    case OPTION_LIST:
        return s_list_add (self, row, arg);
    case OPTION_HELP:
        options_help (self->spec, stdout);
        return 0;
    case OPTION_STRING:
        *FIELD (self, row, const char *) = arg; /* at once: -c names the config file */
        self->text[index] = arg;
        break;
    default:
        self->text[index] = arg;
        if (row->kind == OPTION_STRING) /* at once: -c names the file options_resolve reads */
            *FIELD (self, row, const char *) = arg;
    }
    return OPTIONS_GO_ON;
}

/* The getopt_long table and option string of the spec (caller frees both) */
static struct option *
s_getopt_table (const options_t *self, char **optstring)
{
    struct option *table = calloc (self->count + 1, sizeof *table);
    char *letters = calloc (2 * self->count + 2, 1);
    size_t n = 0;
    if (!self->spec->getopt_messages)
        letters[n++] = ':'; /* a missing argument is ':', not '?' */
    for (size_t i = 0; i < self->count; i++) {
        const option_t *row = &self->spec->options[i];
        bool has_arg = row->kind != OPTION_FLAG && row->kind != OPTION_HELP;
        int val = row->letter ? row->letter : OPTION_VAL + (int)i;
        table[i] = (struct option){row->name, has_arg ? required_argument : no_argument, NULL, val};
        if (row->letter) {
            letters[n++] = (char)row->letter;
            if (has_arg)
                letters[n++] = ':';
        }
    }
    *optstring = letters;
    return table;
}

/* The row of what getopt_long returned, or -1 */
static int
s_row_of (const options_t *self, int opt)
{
    if (opt >= OPTION_VAL && opt < OPTION_VAL + (int)self->count)
        return opt - OPTION_VAL;
    for (size_t i = 0; i < self->count; i++)
        if (self->spec->options[i].letter && self->spec->options[i].letter == opt)
            return (int)i;
    return -1;
}

/* An unknown option or a missing argument */
static int
s_getopt_error (const options_t *self, int opt, char *argv[])
{
    if (self->spec->getopt_messages) {
        options_help (self->spec, stderr); /* after getopt's own line */
        return OPTIONS_USAGE;
    }
    option_t none = {.name = ""};
    return s_error (self, &none, opt == ':' ? "option {value} needs a value" : "unknown option {value}",
                    argv[optind - 1]);
}

int
options_parse (options_t *self, int argc, char *argv[])
{
    char *optstring = NULL;
    struct option *table = s_getopt_table (self, &optstring);
    int status = OPTIONS_GO_ON, opt;
    optind = 0; /* glibc: start afresh, whoever parsed before */
    opterr = self->spec->getopt_messages;
    while (status == OPTIONS_GO_ON && (opt = getopt_long (argc, argv, optstring, table, NULL)) != -1) {
        int row = s_row_of (self, opt);
        status = row < 0 ? s_getopt_error (self, opt, argv) : s_take (self, (size_t)row, optarg);
    }
    free (table);
    free (optstring);
    return status;
}

static bool
s_is_one_of (const char *value, const char *const *words)
{
    for (size_t i = 0; value && words[i]; i++)
        if (streq (value, words[i]))
            return true;
    return false;
}

static const char *const s_true_words[] = {"1", "yes", "true", "on", NULL};
static const char *const s_false_words[] = {"0", "no", "false", "off", NULL};

static int
s_resolve_number (options_t *self, const option_t *row, const char *text)
{
    int64_t *field = FIELD (self, row, int64_t);
    if (!text) {
        *field = row->dflt_number;
        return OPTIONS_GO_ON;
    }
    char *end = NULL;
    errno = 0;
    long long n = strtoll (text, &end, 10);
    if (errno || end == text || *end || n < row->min || n > row->max)
        return s_error (self, row,
                        row->unit ? "--{name} takes a number of {unit} from {min} to {max}"
                                  : "--{name} takes a number from {min} to {max}",
                        text);
    *field = n;
    return OPTIONS_GO_ON;
}

static int
s_resolve_word (options_t *self, const option_t *row, const char *text)
{
    text = text ? text : row->dflt;
    for (size_t i = 0; text && row->words[i]; i++)
        if (streq (text, row->words[i])) {
            *FIELD (self, row, const char *) = row->words[i];
            return OPTIONS_GO_ON;
        }
    return s_error (self, row, "--{name} takes {words}, not '{value}'", text);
}

/* A list the command line did not give: the words of the config file or the default */
static void
s_resolve_list (options_t *self, const option_t *row, const char *text)
{
    char **words = config_words (text ? text : row->dflt);
    if (!words)
        return;
    zlist_append (self->words, words);
    const char **list = FIELD (self, row, const char *);
    size_t n = 0;
    for (; words[n] && n < (size_t)row->max; n++)
        list[n] = words[n];
    list[n] = NULL;
}

/* The value of a row the command line did not give: environment, else config file */
static const char *
s_lookup (const option_t *row, zconfig_t *config)
{
    if (row->env && getenv (row->env))
        return getenv (row->env);
    return row->key ? config_get (config, row->key, NULL) : NULL;
}

static int
s_resolve (options_t *self, size_t index, zconfig_t *config)
{
    const option_t *row = &self->spec->options[index];
    bool given = self->given[index];
    const char *text = given ? self->text[index] : s_lookup (row, config);
    switch (row->kind) {
    case OPTION_STRING:
        *FIELD (self, row, const char *) = text ? text : row->dflt;
        break;
    case OPTION_SECRET:
        if (!given && text)
            *FIELD (self, row, char *) = strdup (text);
        break;
    case OPTION_FLAG:
        if (!given && s_is_one_of (text, row->config_negated ? s_false_words : s_true_words))
            *FIELD (self, row, bool) = !row->clears;
        break;
    case OPTION_NUMBER:
        return s_resolve_number (self, row, text);
    case OPTION_WORD:
        return s_resolve_word (self, row, text);
    case OPTION_LIST:
        if (!given)
            s_resolve_list (self, row, text);
        break;
    case OPTION_HELP:
        break;
    }
    return OPTIONS_GO_ON;
}

int
options_resolve (options_t *self, zconfig_t *config)
{
    for (size_t i = 0; i < self->count; i++)
        if (s_resolve (self, i, config) != OPTIONS_GO_ON)
            return OPTIONS_USAGE;
    return OPTIONS_GO_ON;
}
