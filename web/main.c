/*  main.c — mailbus-web: the dashboard and webmail in a browser. Options, TLS, the
    dashboard's read-only database feed, the sessions, and the HTTP server; then it waits
    for SIGINT or SIGTERM. A client of the broker: it never writes the database. */
#include <czmq.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "check.h"
#include "client.h"
#include "compose.h"
#include "config.h"
#include "dash.h"
#include "http.h"
#include "log.h"
#include "mb_limits.h"
#include "options.h"
#include "render.h"
#include "session.h"

#define DEFAULT_LISTEN "127.0.0.1:8025"
#define DEFAULT_DB "var/mailbus.db"

#define SETTING(field) .offset = offsetof (web_settings_t, field)
#define STRING(option, field, text_arg, dflt_value, text)                                                    \
    {                                                                                                        \
        .name = option, .kind = OPTION_STRING, SETTING (field), .key = "web/" option, .dflt = dflt_value,    \
        .arg = text_arg, .help = text                                                                        \
    }
#define NUMBER(option, field, dflt_value, low, high, text_arg, text)                                         \
    {                                                                                                        \
        .name = option, .kind = OPTION_NUMBER, SETTING (field), .key = "web/" option,                        \
        .dflt_number = dflt_value, .min = low, .max = high, .arg = text_arg, .help = text                    \
    }

// clang-format off
static const option_t s_options[] = {
    {.name = "config", .letter = 'c', .kind = OPTION_STRING, SETTING (config), .arg = "FILE",
     .help = "ZPL config file, section web { ... } (options win)"},
    STRING ("listen", listen, "HOST:PORT", DEFAULT_LISTEN,
            "HTTP address (default {default}); beyond loopback only\n"
            "with --tls-cert and --tls-key (HTTPS)"),
    {.name = "broker", .letter = 'b', .kind = OPTION_STRING, SETTING (broker), .key = "web/broker",
     .env = "MAILBUS_BROKER", .dflt = CLIENT_DEFAULT_ENDPOINT, .arg = "ENDPOINT",
     .help = "broker endpoint (default {default})"},
    STRING ("server-key", server_key, "KEY", NULL,
            "the broker's public key or key file (CURVE; needed when the\n"
            "broker is beyond loopback; env MAILBUS_SERVER_KEY)"),
    STRING ("db", db, "FILE", DEFAULT_DB,
            "the broker's database, read read-only by the dashboard\n(default {default})"),
    STRING ("tls-cert", cert, "FILE", NULL, "certificate chain (PEM): serve HTTPS"),
    STRING ("tls-key", key, "FILE", NULL, "its private key (PEM)"),
    {.name = "dashboard-password", .kind = OPTION_SECRET, SETTING (dashboard_password),
     .key = "web/dashboard-password", .env = "MAILBUS_DASHBOARD_PASSWORD", .arg = "PASSWORD",
     .help = "the dashboard asks for it (user admin) from everyone; without it\n"
             "the dashboard is shown to this machine (loopback) only"},
    NUMBER ("max-connections", max_connections, 64, 4, 1000, "N",
            "open HTTP connections at most (default {default}; half per address)"),
    NUMBER ("timeout", timeout_ms, 5000, 100, 60000, "MS",
            "wait for the broker's answer (default {default})"),
    NUMBER ("max-message-size", max_size, MAX_MESSAGE_BYTES, 1024, MAX_MESSAGE_BYTES * 10LL, "N",
            "largest message composed, and upload, in octets: the broker's\n"
            "limit (default {default})"),
    NUMBER ("session-idle", session_idle_s, 1800, 10, 86400, "S",
            "a webmail session unused this long ends (default {default})"),
    NUMBER ("max-login-failures", max_failures, 5, 1, 1000, "N",
            "failed logins from one address, or for one mailbox, that block\n"
            "it (default {default}; one is forgiven each minute)"),
    NUMBER ("login-block", block_s, 60, 1, 86400, "S", "how long a blocked login waits (default {default})"),
    {.name = "verbose", .letter = 'v', .kind = OPTION_FLAG, SETTING (verbose), .help = "log every request"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};
// clang-format on

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-web [options]\n"
             "\n"
             "The dashboard (/dashboard: mailboxes, lists, the relay queue, leases, a live feed of\n"
             "deliveries) and webmail (/: read, send, delete, subscribe) of a mailbus broker, in a\n"
             "browser. Logins go through the broker; the dashboard reads the database read-only.\n"
             "\n",
    .epilogue = "\n"
                "Exit status: 0 stopped cleanly; 1 a start-up failure; 64 usage error.\n"
                "\n"
                "example:\n"
                "  mailbus-broker --db var/mailbus.db &\n"
                "  mailbus-web --db var/mailbus.db\n"
                "  open http://127.0.0.1:8025/ (webmail) and http://127.0.0.1:8025/dashboard\n",
    .prefix = "error: ",
    .getopt_messages = true,
};

/* The whole of a PEM file (caller frees), or NULL */
static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream (&text, &size);
    char buf[4096];
    for (size_t n; (n = fread (buf, 1, sizeof buf, file)) > 0;)
        fwrite (buf, 1, n, mem);
    fclose (mem);
    fclose (file);
    return text;
}

/* --listen, and the rule of the gateway: beyond loopback only with TLS */
static int
s_check_listen (const web_settings_t *s, char *host, size_t size, int *port)
{
    if (check_listen (s->listen, host, size, port) != 0) {
        fprintf (stderr, "error: --listen takes HOST:PORT or [IPV6]:PORT, not '%s'\n", s->listen);
        return EX_USAGE;
    }
    bool loopback = strncmp (host, "127.", 4) == 0 || strcmp (host, "::1") == 0;
    if (!!s->cert != !!s->key) {
        fprintf (stderr, "error: --tls-cert and --tls-key go together\n");
        return EX_USAGE;
    }
    if (!loopback && !s->cert) {
        fprintf (stderr,
                 "error: --listen %s is beyond loopback: give --tls-cert and --tls-key (passwords "
                 "and session cookies never cross a network in clear)\n",
                 s->listen);
        return EX_USAGE;
    }
    if (s->cert && MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
        fprintf (stderr, "error: this libmicrohttpd has no TLS\n");
        return 1;
    }
    return OPTIONS_GO_ON;
}

typedef struct {
    web_settings_t settings;
    options_t *options;
    zconfig_t *config;
    web_t web;
    char *cert_pem, *key_pem;
    struct MHD_Daemon *daemon;
} app_t;

static int
s_read_settings (app_t *self, int argc, char *argv[])
{
    self->options = options_new (&s_spec, &self->settings);
    int status = options_parse (self->options, argc, argv);
    if (status != OPTIONS_GO_ON)
        return status;
    if (optind < argc) {
        fprintf (stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return EX_USAGE;
    }
    char *error = NULL;
    self->config = config_load (self->settings.config, &error);
    if (!self->config) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 1;
    }
    status = options_resolve (self->options, self->config);
    if (status == OPTIONS_GO_ON && self->settings.verbose)
        log_set_level (LOGLEVEL_DEBUG);
    return status;
}

static int
s_start (app_t *self)
{
    const web_settings_t *s = &self->settings;
    char host[256];
    int port;
    int status = s_check_listen (s, host, sizeof host, &port);
    if (status != OPTIONS_GO_ON)
        return status;
    if (s->cert && (!(self->cert_pem = s_read_file (s->cert)) || !(self->key_pem = s_read_file (s->key)))) {
        fprintf (stderr, "error: cannot read %s or %s\n", s->cert, s->key);
        return 1;
    }
    client_set_keys (s->server_key, NULL);
    self->web.settings = s;
    self->web.tls = s->cert != NULL;
    self->web.sessions = sessions_new (s);
    self->web.feed = feed_new (s->db, &self->web);
    if (!self->web.sessions || !self->web.feed) {
        fprintf (stderr, "error: out of memory\n");
        return 1;
    }
    char *error = NULL;
    self->daemon = http_start (&self->web, host, port, self->cert_pem, self->key_pem, &error);
    if (!self->daemon) {
        fprintf (stderr, "error: --listen %s: %s\n", s->listen, error);
        free (error);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    log_info ("web", "listening", "address=%s port=%u tls=%s db=%s broker=%s", host, info ? info->port : 0,
              self->web.tls ? "yes" : "no", s->db, s->broker);
    printf ("mailbus-web: %s://%s%s%s:%u/ (dashboard: /dashboard)\n", self->web.tls ? "https" : "http",
            strchr (host, ':') ? "[" : "", host, strchr (host, ':') ? "]" : "", info ? info->port : 0);
    fflush (stdout);
    return OPTIONS_GO_ON;
}

static void
s_teardown (app_t *self)
{
    self->web.stopping = 1;
    http_stop (&self->daemon);
    feed_destroy (&self->web.feed);
    sessions_destroy (&self->web.sessions);
    free (self->cert_pem);
    if (self->key_pem)
        sodium_memzero (self->key_pem, strlen (self->key_pem));
    free (self->key_pem);
    options_destroy (&self->options);
    zconfig_destroy (&self->config);
}

int
main (int argc, char *argv[])
{
    log_init ();
    if (sodium_init () < 0)
        return 1;
    /* SIGINT and SIGTERM are taken by sigwait below; every thread started after inherits the
       mask. CZMQ's own handler is off: the program stops in its own order. */
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGINT);
    sigaddset (&stop, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);
    zsys_init ();
    compose_init ();
    app_t app = {0};
    int status = s_read_settings (&app, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = s_start (&app);
    if (status == OPTIONS_GO_ON) {
        int sig = 0;
        sigwait (&stop, &sig);
        log_info ("web", "stopping", "signal=%d", sig);
        status = 0;
    }
    s_teardown (&app);
    compose_shutdown ();
    return status;
}
