/*  client_cli.c — the login options and exit statuses of the client programs. */
#include "client_cli.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "argv_scrub.h"
#include "config.h"
#include "log.h"
#include "reply.h"

int
client_cli_exit_status (int code)
{
    if (reply_is_success (code))
        return 0;
    return reply_is_transient (code) ? EX_TEMPFAIL : 1;
}

int
client_cli_usage_error (const char *prog, const char *format, const char *arg)
{
    assert (prog && format);
    fprintf (stderr, "%s: ", prog);
    fprintf (stderr, format, arg);
    fprintf (stderr, "\ntry %s --help\n", prog);
    return EX_USAGE;
}

int
client_cli_resolve (client_cli_t *self, options_t *options, const char *prog)
{
    assert (self && options && prog);
    char *error = NULL;
    zconfig_destroy (&self->zconfig);
    self->zconfig = config_load (self->config, &error);
    if (!self->zconfig) {
        fprintf (stderr, "%s: %s\n", prog, error);
        free (error);
        return OPTIONS_USAGE;
    }
    if (options_resolve (options, self->zconfig) != OPTIONS_GO_ON)
        return OPTIONS_USAGE;
    client_set_keys (self->server_key, self->key);
    return OPTIONS_GO_ON;
}

int
client_cli_start (client_cli_t *login, const options_spec_t *spec, void *settings, int argc, char *argv[],
                  const char *prog, options_t **options)
{
    assert (login && spec && settings && options);
    log_init (); /* MAILBUS_LOG=debug shows the client library's retries */
    *options = options_new (spec, settings);
    int status = options_parse (*options, argc, argv);
    return status == OPTIONS_GO_ON ? client_cli_resolve (login, *options, prog) : status;
}

void
client_cli_finish (client_cli_t *login, options_t **options)
{
    client_cli_release (login);
    options_destroy (options);
}

int
client_cli_credentials (client_cli_t *self)
{
    assert (self);
    argv_secret_free (&self->secret);
    if (client_credentials (&self->endpoint, &self->user, &self->secret, self->password,
                            self->password_stdin) != 0)
        return EX_USAGE;
    return 0;
}

client_t *
client_cli_connect (client_cli_t *self, const char *prog, int *status)
{
    assert (self && prog && status);
    char *error = NULL;
    client_t *client = client_new (self->endpoint, self->user, self->secret, self->timeout_s * 1000, &error);
    if (client)
        return client;
    fprintf (stderr, "%s: %s\n", prog, error);
    int code = 0;
    *status = reply_parse (error, &code, NULL) == 0 ? client_cli_exit_status (code) : EX_TEMPFAIL;
    free (error);
    return NULL;
}

void
client_cli_release (client_cli_t *self)
{
    assert (self);
    argv_secret_free (&self->secret);
    zconfig_destroy (&self->zconfig);
}
