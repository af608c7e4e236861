/*  test_options.c — settings from a table (common/options.h): precedence command line >
    environment > config file > default, bounds, words, lists, secrets, and the --help list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "options.h"

typedef struct {
    const char *config;
    const char *db;
    const char *endpoint;
    char *password;
    bool verbose, no_demo, closed;
    int64_t max_size, timeout;
    const char *curve;
    const char *binds[3 + 1];
} settings_t;

static bool
s_has_equals (const char *value)
{
    return strchr (value, '=') && value[0] != '=';
}

static const option_t s_options[] = {
    {.name = "config",
     .letter = 'c',
     .kind = OPTION_STRING,
     .offset = offsetof (settings_t, config),
     .arg = "FILE",
     .help = "a ZPL file"},
    {.name = "db",
     .kind = OPTION_STRING,
     .offset = offsetof (settings_t, db),
     .key = "test/db",
     .dflt = "var/x.db",
     .arg = "PATH",
     .help = "the database (default {default})"},
    {.name = "broker",
     .letter = 'b',
     .kind = OPTION_STRING,
     .offset = offsetof (settings_t, endpoint),
     .key = "test/broker",
     .env = "TEST_OPTIONS_BROKER",
     .dflt = "tcp://127.0.0.1:5670"},
    {.name = "password",
     .letter = 'p',
     .kind = OPTION_SECRET,
     .offset = offsetof (settings_t, password),
     .key = "test/password"},
    {.name = "verbose",
     .letter = 'v',
     .kind = OPTION_FLAG,
     .offset = offsetof (settings_t, verbose),
     .key = "test/verbose",
     .help = "say more"},
    {.name = "no-demo",
     .kind = OPTION_FLAG,
     .offset = offsetof (settings_t, no_demo),
     .key = "test/demo",
     .config_negated = true},
    {.name = "closed", .kind = OPTION_FLAG, .offset = offsetof (settings_t, closed)},
    {.name = "open", .kind = OPTION_FLAG, .offset = offsetof (settings_t, closed), .clears = true},
    {.name = "max-message-size",
     .kind = OPTION_NUMBER,
     .offset = offsetof (settings_t, max_size),
     .key = "test/max-message-size",
     .dflt_number = 4096,
     .min = 1024,
     .max = 65536,
     .unit = "bytes",
     .arg = "N",
     .help = "largest message from {min} to {max}\n(default {default})",
     .heading = "\nLimits:\n"},
    {.name = "timeout",
     .kind = OPTION_NUMBER,
     .offset = offsetof (settings_t, timeout),
     .key = "test/timeout",
     .dflt_number = 30,
     .min = 1,
     .max = 3600},
    {.name = "curve",
     .kind = OPTION_WORD,
     .offset = offsetof (settings_t, curve),
     .key = "test/curve",
     .dflt = "auto",
     .words = (const char *const[]){"auto", "always", NULL}},
    {.name = "bind",
     .kind = OPTION_LIST,
     .offset = offsetof (settings_t, binds),
     .key = "test/bind",
     .dflt = "tcp://127.0.0.1:1",
     .max = 3,
     .check = s_has_equals,
     .arg = "X=Y",
     .help = "repeatable"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP},
    {.name = NULL},
};

static const options_spec_t s_spec = {.options = s_options,
                                      .usage = "usage: test [OPTIONS]\n",
                                      .epilogue = "Example: test -v\n",
                                      .prefix = "error: "};

/* Parses a NULL-terminated command line and resolves it with config (may be NULL) */
static int
s_run (settings_t *settings, options_t **options, zconfig_t *config, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset (settings, 0, sizeof *settings);
    *options = options_new (&s_spec, settings);
    int rc = options_parse (*options, argc, argv);
    return rc == OPTIONS_GO_ON ? options_resolve (*options, config) : rc;
}

static zconfig_t *
s_config (const char *key, const char *value)
{
    zconfig_t *config = zconfig_new ("root", NULL);
    zconfig_put (config, key, value);
    return config;
}

static void
test_defaults_fill_what_nothing_gives (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    char *argv[] = {"test", NULL};
    assert_int_equal (s_run (&s, &options, NULL, argv), OPTIONS_GO_ON);
    assert_string_equal (s.db, "var/x.db");
    assert_int_equal (s.max_size, 4096);
    assert_int_equal (s.timeout, 30);
    assert_string_equal (s.curve, "auto");
    assert_string_equal (s.binds[0], "tcp://127.0.0.1:1");
    assert_null (s.binds[1]);
    assert_false (s.verbose);
    assert_null (s.password);
    options_destroy (&options);
    assert_null (options);
}

static void
test_command_line_wins_over_environment_over_config (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    zconfig_t *config = s_config ("test/broker", "tcp://config:1");
    zconfig_put (config, "test/db", "config.db");
    setenv ("TEST_OPTIONS_BROKER", "tcp://env:1", 1);
    char *argv[] = {"test", NULL};
    assert_int_equal (s_run (&s, &options, config, argv), OPTIONS_GO_ON);
    assert_string_equal (s.endpoint, "tcp://env:1");
    assert_string_equal (s.db, "config.db");
    options_destroy (&options);
    char *argv2[] = {"test", "-b", "tcp://argv:1", "--db", "argv.db", NULL};
    assert_int_equal (s_run (&s, &options, config, argv2), OPTIONS_GO_ON);
    assert_string_equal (s.endpoint, "tcp://argv:1");
    assert_string_equal (s.db, "argv.db");
    options_destroy (&options);
    unsetenv ("TEST_OPTIONS_BROKER");
    assert_int_equal (s_run (&s, &options, config, argv), OPTIONS_GO_ON);
    assert_string_equal (s.endpoint, "tcp://config:1");
    options_destroy (&options);
    zconfig_destroy (&config);
}

static void
test_numbers_words_and_flags_from_the_config_file (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    zconfig_t *config = s_config ("test/max-message-size", "2048");
    zconfig_put (config, "test/curve", "always");
    zconfig_put (config, "test/verbose", "yes");
    zconfig_put (config, "test/demo", "no");
    zconfig_put (config, "test/bind", "a=1, b=2 c=3 d=4");
    char *argv[] = {"test", NULL};
    assert_int_equal (s_run (&s, &options, config, argv), OPTIONS_GO_ON);
    assert_int_equal (s.max_size, 2048);
    assert_string_equal (s.curve, "always");
    assert_true (s.verbose);
    assert_true (s.no_demo);
    /* beyond the capacity, the file's words are cut, as before */
    assert_string_equal (s.binds[0], "a=1");
    assert_string_equal (s.binds[2], "c=3");
    assert_null (s.binds[3]);
    options_destroy (&options);
    zconfig_destroy (&config);
}

static void
test_a_list_on_the_command_line_replaces_the_config_file_list (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    zconfig_t *config = s_config ("test/bind", "a=1 b=2");
    char *argv[] = {"test", "--bind", "x=1", "--bind", "y=2", "-v", "--closed", NULL};
    assert_int_equal (s_run (&s, &options, config, argv), OPTIONS_GO_ON);
    assert_int_equal (options_count (s.binds), 2);
    assert_string_equal (s.binds[1], "y=2");
    assert_true (s.verbose);
    assert_true (s.closed);
    assert_true (options_given (options, "bind"));
    assert_false (options_given (options, "db"));
    options_destroy (&options);
    char *argv2[] = {"test", "--closed", "--open", NULL};
    assert_int_equal (s_run (&s, &options, config, argv2), OPTIONS_GO_ON);
    assert_false (s.closed);
    options_destroy (&options);
    zconfig_destroy (&config);
}

static void
test_a_secret_is_copied_and_scrubbed_from_argv (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    char arg[] = "s3cret";
    char *argv[] = {"test", "--password", arg, NULL};
    assert_int_equal (s_run (&s, &options, NULL, argv), OPTIONS_GO_ON);
    assert_string_equal (s.password, "s3cret");
    assert_string_equal (arg, "*");
    options_destroy (&options);
    zconfig_t *config = s_config ("test/password", "fromfile");
    char *argv2[] = {"test", NULL};
    assert_int_equal (s_run (&s, &options, config, argv2), OPTIONS_GO_ON);
    assert_string_equal (s.password, "fromfile");
    options_destroy (&options);
    zconfig_destroy (&config);
}

static void
test_operands_are_left_from_optind (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    char *argv[] = {"test", "mailbox", "add", "x@y", "--db", "a.db", NULL};
    assert_int_equal (s_run (&s, &options, NULL, argv), OPTIONS_GO_ON);
    assert_int_equal (optind, 3);
    assert_string_equal (argv[optind], "mailbox");
    assert_string_equal (s.db, "a.db");
    options_destroy (&options);
}

static void
test_the_config_file_option_is_known_before_resolve (void **state)
{
    (void)state;
    settings_t s = {0};
    char *argv[] = {"test", "-c", "some.cfg", NULL};
    options_t *options = options_new (&s_spec, &s);
    assert_int_equal (options_parse (options, 3, argv), OPTIONS_GO_ON);
    assert_string_equal (s.config, "some.cfg");
    options_destroy (&options);
}

static void
test_bad_command_lines_are_usage_errors (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    char *unknown[] = {"test", "--frobnicate", NULL};
    char *missing[] = {"test", "--db", NULL};
    char *too_big[] = {"test", "--max-message-size", "65537", NULL};
    char *too_small[] = {"test", "--timeout", "0", NULL};
    char *not_a_number[] = {"test", "--timeout", "12s", NULL};
    char *empty_number[] = {"test", "--timeout", "", NULL};
    char *bad_word[] = {"test", "--curve", "sometimes", NULL};
    char *bad_item[] = {"test", "--bind", "=x", NULL};
    char *too_many[] = {"test", "--bind", "a=1", "--bind", "b=1", "--bind", "c=1", "--bind", "d=1", NULL};
    char **cases[] = {unknown,      missing,  too_big,  too_small, not_a_number,
                      empty_number, bad_word, bad_item, too_many};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal (s_run (&s, &options, NULL, cases[i]), OPTIONS_USAGE);
        options_destroy (&options);
    }
}

/* What parsing argv with spec printed on stderr (read back from a temporary file) */
static char *
s_parse_stderr (const options_spec_t *spec, void *settings, char **argv, int *rc)
{
    char path[] = "/tmp/test_options_XXXXXX";
    int fd = mkstemp (path), saved = dup (STDERR_FILENO);
    assert_true (fd >= 0 && saved >= 0);
    fflush (stderr);
    dup2 (fd, STDERR_FILENO);
    int argc = 0;
    while (argv[argc])
        argc++;
    options_t *options = options_new (spec, settings);
    *rc = options_parse (options, argc, argv);
    options_destroy (&options);
    fflush (stderr);
    dup2 (saved, STDERR_FILENO);
    close (saved);
    char *text = calloc (512, 1);
    ssize_t n = pread (fd, text, 511, 0);
    assert_true (n >= 0);
    close (fd);
    unlink (path);
    return text;
}

static void
test_one_item_too_many_says_too_many_not_the_items_error (void **state)
{
    (void)state;
    struct {
        const char *to[2 + 1];
        const char *cc[1 + 1];
    } lists;
    const option_t rows[] = {
        {.name = "to",
         .letter = 't',
         .kind = OPTION_LIST,
         .offset = 0,
         .max = 2,
         .check = s_has_equals,
         .error = "-t needs an X=Y, got \"{value}\""},
        {.name = "cc", .kind = OPTION_LIST, .offset = sizeof lists.to, .max = 1, .error = "--cc is bad"},
        {.name = NULL},
    };
    const options_spec_t spec = {.options = rows, .prefix = "error: "};
    char *three[] = {"test", "-t", "a=1", "-t", "b=1", "-t", "c=1", NULL};
    char *two_cc[] = {"test", "--cc", "a", "--cc", "b", NULL};
    char *bad[] = {"test", "-t", "nothing", NULL};
    char **cases[] = {three, two_cc, bad};
    const char *expected[] = {"error: too many -t (at most 2)\n", "error: too many --cc (at most 1)\n",
                              "error: -t needs an X=Y, got \"nothing\"\n"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset (&lists, 0, sizeof lists);
        int rc = 0;
        char *text = s_parse_stderr (&spec, &lists, cases[i], &rc);
        assert_int_equal (rc, OPTIONS_USAGE);
        assert_int_equal (OPTIONS_USAGE, 64); /* EX_USAGE */
        assert_string_equal (text, expected[i]);
        free (text);
    }
}

static void
test_garbage_in_the_config_file_is_a_usage_error (void **state)
{
    (void)state;
    settings_t s;
    options_t *options;
    const char *cases[][2] = {{"test/max-message-size", "lots"},
                              {"test/max-message-size", "99999999999999999999999"},
                              {"test/timeout", "-5"},
                              {"test/curve", "never"}};
    char *argv[] = {"test", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zconfig_t *config = s_config (cases[i][0], cases[i][1]);
        assert_int_equal (s_run (&s, &options, config, argv), OPTIONS_USAGE);
        options_destroy (&options);
        zconfig_destroy (&config);
    }
}

/* The text one call prints, read back from a temporary file */
static char *
s_help_text (void)
{
    char path[] = "/tmp/test_options_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *out = fdopen (fd, "w+");
    options_help (&s_spec, out);
    rewind (out);
    char *text = calloc (4096, 1);
    size_t n = fread (text, 1, 4095, out);
    text[n] = '\0';
    fclose (out);
    unlink (path);
    return text;
}

static void
test_help_lists_the_options_with_their_defaults_and_bounds (void **state)
{
    (void)state;
    char *text = s_help_text ();
    assert_non_null (strstr (text, "usage: test [OPTIONS]\n"));
    assert_non_null (strstr (text, "  -c, --config FILE          a ZPL file\n"));
    assert_non_null (strstr (text, "      --db PATH              the database (default var/x.db)\n"));
    assert_non_null (strstr (text,
                             "\nLimits:\n      --max-message-size N   largest message from 1024 to 65536\n"
                             "                             (default 4096)\n"));
    assert_non_null (strstr (text, "  -v, --verbose              say more\n"));
    assert_null (strstr (text, "--timeout")); /* no help text: hidden */
    assert_non_null (strstr (text, "Example: test -v\n"));
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults_fill_what_nothing_gives),
        cmocka_unit_test (test_command_line_wins_over_environment_over_config),
        cmocka_unit_test (test_numbers_words_and_flags_from_the_config_file),
        cmocka_unit_test (test_a_list_on_the_command_line_replaces_the_config_file_list),
        cmocka_unit_test (test_a_secret_is_copied_and_scrubbed_from_argv),
        cmocka_unit_test (test_operands_are_left_from_optind),
        cmocka_unit_test (test_the_config_file_option_is_known_before_resolve),
        cmocka_unit_test (test_bad_command_lines_are_usage_errors),
        cmocka_unit_test (test_one_item_too_many_says_too_many_not_the_items_error),
        cmocka_unit_test (test_garbage_in_the_config_file_is_a_usage_error),
        cmocka_unit_test (test_help_lists_the_options_with_their_defaults_and_bounds),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
