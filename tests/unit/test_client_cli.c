/*  test_client_cli.c — common/client_cli.h: the login options every client program shares
    (command line > environment > the -c file's client section), -p scrubbed from argv, and
    reply codes as exit statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "client_cli.h"

typedef struct {
    client_cli_t login;
    bool flag;
} settings_t;

static const option_t s_options[] = {
    CLIENT_CLI_OPTIONS (settings_t, login, "the mailbox", "a key pair"),
    CLIENT_CLI_TIMEOUT (settings_t, login),
    {.name = "flag", .kind = OPTION_FLAG, .offset = offsetof (settings_t, flag), .help = "a flag"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .prefix = "test: ",
    .help_column = 26,
};

static const char *s_env[] = {"MAILBUS_BROKER", "MAILBUS_USER", "MAILBUS_PASSWORD", "MAILBUS_KEY",
                              "MAILBUS_SERVER_KEY"};

static int
s_setup (void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_env / sizeof s_env[0]; i++)
        unsetenv (s_env[i]);
    return 0;
}

/* A ZPL file with a client section; the caller unlinks path */
static void
s_write_config (char *path)
{
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    const char *text = "client\n"
                       "    broker = tcp://127.0.0.1:7777\n"
                       "    user = file@demo.test\n"
                       "    password = fromfile\n"
                       "    server-key = filekey\n";
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
}

/* Parses and resolves argv (NULL-terminated, writable) into settings */
static int
s_run (settings_t *settings, options_t **options, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    memset (settings, 0, sizeof *settings);
    return client_cli_start (&settings->login, &s_spec, settings, argc, argv, "test", options);
}

static void
s_done (settings_t *settings, options_t **options)
{
    client_cli_finish (&settings->login, options);
}

static void
test_reply_codes_map_to_exit_statuses (void **state)
{
    (void)state;
    assert_int_equal (client_cli_exit_status (250), 0);
    assert_int_equal (client_cli_exit_status (221), 0);
    assert_int_equal (client_cli_exit_status (421), EX_TEMPFAIL);
    assert_int_equal (client_cli_exit_status (452), EX_TEMPFAIL);
    assert_int_equal (client_cli_exit_status (535), 1);
    assert_int_equal (client_cli_exit_status (554), 1);
    /* garbage is a permanent failure, never success */
    assert_int_equal (client_cli_exit_status (0), 1);
    assert_int_equal (client_cli_exit_status (999), 1);
}

static void
test_usage_error_is_ex_usage (void **state)
{
    (void)state;
    assert_int_equal (client_cli_usage_error ("test", "bad %s", "thing"), EX_USAGE);
}

static void
test_config_file_fills_what_neither_option_nor_environment_gives (void **state)
{
    (void)state;
    char path[] = "/tmp/test_client_cli_XXXXXX";
    s_write_config (path);
    char a0[] = "prog", a1[] = "-c", a3[] = "-u", a4[] = "option@demo.test";
    char *argv[] = {a0, a1, path, a3, a4, NULL};
    setenv ("MAILBUS_PASSWORD", "fromenv", 1);
    settings_t s;
    options_t *options = NULL;
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_GO_ON);
    assert_string_equal (s.login.user, "option@demo.test");
    assert_string_equal (s.login.endpoint, "tcp://127.0.0.1:7777");
    assert_string_equal (s.login.password, "fromenv");
    assert_string_equal (s.login.server_key, "filekey");
    assert_int_equal (s.login.timeout_s, 10);
    s_done (&s, &options);
    unsetenv ("MAILBUS_PASSWORD");
    /* the environment wins over the file, the file over the default */
    setenv ("MAILBUS_USER", "env@demo.test", 1);
    char *argv2[] = {a0, a1, path, NULL};
    assert_int_equal (s_run (&s, &options, argv2), OPTIONS_GO_ON);
    assert_string_equal (s.login.user, "env@demo.test");
    assert_string_equal (s.login.password, "fromfile");
    s_done (&s, &options);
    unlink (path);
}

static void
test_without_config_file_the_default_endpoint (void **state)
{
    (void)state;
    char a0[] = "prog";
    char *argv[] = {a0, NULL};
    settings_t s;
    options_t *options = NULL;
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_GO_ON);
    assert_string_equal (s.login.endpoint, CLIENT_DEFAULT_ENDPOINT);
    assert_null (s.login.user);
    assert_null (s.login.password);
    assert_false (s.login.password_stdin);
    s_done (&s, &options);
}

static void
test_password_option_is_scrubbed_from_argv (void **state)
{
    (void)state;
    char a0[] = "prog", a1[] = "-p", a2[] = "hunter2", a3[] = "--password-stdin";
    char *argv[] = {a0, a1, a2, a3, NULL};
    settings_t s;
    options_t *options = NULL;
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_GO_ON);
    assert_string_equal (s.login.password, "hunter2");
    assert_string_equal (a2, "*");
    assert_true (s.login.password_stdin);
    s_done (&s, &options);
}

static void
test_missing_config_file_and_bad_timeout_are_usage_errors (void **state)
{
    (void)state;
    char a0[] = "prog", a1[] = "-c", a2[] = "/nonexistent/mailbus.cfg";
    char *argv[] = {a0, a1, a2, NULL};
    settings_t s;
    options_t *options = NULL;
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_USAGE);
    s_done (&s, &options);
    const char *bad[] = {"0", "3601", "ten", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char t1[] = "--timeout", value[16];
        snprintf (value, sizeof value, "%s", bad[i]);
        char *argv2[] = {a0, t1, value, NULL};
        assert_int_equal (s_run (&s, &options, argv2), OPTIONS_USAGE);
        s_done (&s, &options);
    }
}

static void
test_credentials_need_a_user_and_a_password (void **state)
{
    (void)state;
    char a0[] = "prog", a1[] = "-u", a2[] = "bob@demo.test";
    char *argv[] = {a0, a1, a2, NULL};
    settings_t s;
    options_t *options = NULL;
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_GO_ON);
    assert_int_equal (client_cli_credentials (&s.login), EX_USAGE);
    s_done (&s, &options);
    setenv ("MAILBUS_PASSWORD", "demo", 1);
    assert_int_equal (s_run (&s, &options, argv), OPTIONS_GO_ON);
    assert_int_equal (client_cli_credentials (&s.login), 0);
    assert_string_equal (s.login.secret, "demo");
    s_done (&s, &options);
    s_done (&s, &options); /* twice is harmless */
    unsetenv ("MAILBUS_PASSWORD");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_reply_codes_map_to_exit_statuses, s_setup),
        cmocka_unit_test_setup (test_usage_error_is_ex_usage, s_setup),
        cmocka_unit_test_setup (test_config_file_fills_what_neither_option_nor_environment_gives, s_setup),
        cmocka_unit_test_setup (test_without_config_file_the_default_endpoint, s_setup),
        cmocka_unit_test_setup (test_password_option_is_scrubbed_from_argv, s_setup),
        cmocka_unit_test_setup (test_missing_config_file_and_bad_timeout_are_usage_errors, s_setup),
        cmocka_unit_test_setup (test_credentials_need_a_user_and_a_password, s_setup),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
