/*  main.c — mailbus-gateway: options and config, the gateway's broker identity, TLS, and
    the listeners (SMTP, SMTPS, POP3, POP3S). A client of the broker like any other: it
    never opens the database. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "gw_limits.h"
#include "imap_server.h"
#include "listen_addr.h"
#include "listener.h"
#include "log.h"
#include "options.h"
#include <curl/curl.h>
#include <gmime/gmime.h>

#include "argv_scrub.h"
#include "fetch.h"
#include "pool.h"
#include "relay.h"
#include "smtp_parse.h"
#include "tls.h"

#define DEFAULT_SMTP "127.0.0.1:2525"
#define DEFAULT_POP3 "127.0.0.1:1100"
#define DEFAULT_IMAP "127.0.0.1:1143"
#define DEFAULT_SECRET "var/gateway.secret"
#define DEFAULT_DOMAIN "demo.test"
#define MAX_DOMAINS 32

/* Everything the command line and the config file set */
typedef struct {
    const char *config, *broker, *server_key;
    const char *smtp, *pop3, *smtps, *pop3s; /* HOST:PORT, or "off" / NULL */
    const char *imap, *imaps;                /* the same; "" also disables */
    const char *cert, *key, *secret, *hostname;
    const char *domains[MAX_DOMAINS + 1];
    bool plaintext, self_signed_public, verbose;
    int64_t max_sessions, max_size;
    /* relay out (the outbound queue) and POP3 fetch in */
    const char *smarthost, *smarthost_tls, *smarthost_auth, *smarthost_ca;
    const char *routes[RELAY_MAX_ROUTES + 1];
    int64_t relay_ms;
    bool no_relay;
    char *fetch; /* copied before its password word is scrubbed from argv */
    const char *fetch_password_file, *fetch_ca;
    bool fetch_keep, fetch_insecure;
    int64_t fetch_ms;
    /* per client address */
    int64_t max_connections, max_failures, auth_delay_ms, auth_block_s, smtp_timeout_s, pop3_timeout_s;
    int64_t imap_timeout_s;
} settings_t;

/* --route DOMAIN=HOST:PORT */
static bool
s_route_ok (const char *route)
{
    return strchr (route, '=') && route[0] != '=';
}

#define SETTING(field) .offset = offsetof (settings_t, field)
/* most settings: the same name on the command line and in the gateway section of the file */
#define STRING(option, field, text_arg, text)                                                                \
    {                                                                                                        \
        .name = option, .kind = OPTION_STRING, SETTING (field), .key = "gateway/" option, .arg = text_arg,   \
        .help = text                                                                                         \
    }
#define FLAG(option, field, text)                                                                            \
    {                                                                                                        \
        .name = option, .kind = OPTION_FLAG, SETTING (field), .key = "gateway/" option, .help = text         \
    }
#define NUMBER(option, field, dflt_value, low, high, text_arg, text)                                         \
    {                                                                                                        \
        .name = option, .kind = OPTION_NUMBER, SETTING (field), .key = "gateway/" option,                    \
        .dflt_number = dflt_value, .min = low, .max = high, .arg = text_arg, .help = text                    \
    }

/* one row per setting, kept as written */
// clang-format off
static const option_t s_options[] = {
    {.name = "config", .letter = 'c', .kind = OPTION_STRING, SETTING (config), .arg = "FILE",
     .help = "ZPL config file, section gateway { ... } (options win)"},
    {.name = "broker", .letter = 'b', .kind = OPTION_STRING, SETTING (broker), .key = "gateway/broker",
     .dflt = CLIENT_DEFAULT_ENDPOINT, .arg = "ENDPOINT", .help = "broker endpoint (default {default})"},
    STRING ("server-key", server_key, "KEY",
            "the broker's public key or key file (CURVE; needed when the broker\n"
            "is beyond loopback; env MAILBUS_SERVER_KEY)"),
    {.name = "smtp", .kind = OPTION_STRING, SETTING (smtp), .key = "gateway/smtp", .dflt = DEFAULT_SMTP,
     .arg = "HOST:PORT", .help = "SMTP with STARTTLS (default {default}; 'off' disables)"},
    {.name = "pop3", .kind = OPTION_STRING, SETTING (pop3), .key = "gateway/pop3", .dflt = DEFAULT_POP3,
     .arg = "HOST:PORT", .help = "POP3 with STLS (default {default}; 'off' disables)"},
    STRING ("smtps", smtps, "HOST:PORT", "SMTP over implicit TLS (RFC 8314; off unless given)"),
    STRING ("pop3s", pop3s, "HOST:PORT", "POP3 over implicit TLS (off unless given)"),
    {.name = "imap", .kind = OPTION_STRING, SETTING (imap), .key = "gateway/imap", .dflt = DEFAULT_IMAP,
     .arg = "HOST:PORT", .help = "IMAP4rev2 with STARTTLS and IDLE (default {default}; 'off' or ''\n"
                                 "disables)"},
    STRING ("imaps", imaps, "HOST:PORT", "IMAP over implicit TLS (RFC 8314; off unless given)"),
    STRING ("tls-cert", cert, "FILE",
            "certificate chain (PEM); without it a self-signed one is made\n"
            "beside the gateway secret (var/gateway-cert.pem)"),
    STRING ("tls-key", key, "FILE", "its private key (PEM)"),
    {.name = "gateway-secret", .kind = OPTION_STRING, SETTING (secret), .key = "gateway/gateway-secret",
     .dflt = DEFAULT_SECRET, .arg = "FILE",
     .help = "'ADDRESS PASSWORD' of the gateway's broker identity\n"
             "(default {default}, written by the broker's first run)"},
    {.name = "domain", .kind = OPTION_LIST, SETTING (domains), .key = "gateway/domains",
     .dflt = DEFAULT_DOMAIN, .max = MAX_DOMAINS, .arg = "DOMAIN",
     .help = "a local domain; repeatable (default {default})"},
    STRING ("hostname", hostname, "NAME",
            "name in greetings, Received: and the self-signed certificate\n"
            "(a domain name, 255 octets at most; default the host's name)"),
    FLAG ("allow-plaintext-auth", plaintext, "accept AUTH and USER/PASS without TLS (never on by default)"),
    FLAG ("allow-self-signed-public", self_signed_public,
          "listen beyond loopback with the self-signed certificate,\n"
          "for a lab whose clients pin its SHA-256 fingerprint (printed\n"
          "at start); AUTH still needs STARTTLS/STLS there"),
    NUMBER ("max-sessions", max_sessions, GATEWAY_MAX_SESSIONS, 1, 10000, "N",
            "concurrent sessions, all listeners together (default {default})"),
    NUMBER ("max-message-size", max_size, MAX_MESSAGE_BYTES, 1024, MAX_MESSAGE_BYTES * 10LL, "N",
            "largest message in octets, SIZE (default {default})"),
    {.name = "smarthost", .kind = OPTION_STRING, SETTING (smarthost), .key = "gateway/smarthost",
     .arg = "HOST:PORT", .help = "relay through this server (like a provider's port 587)",
     .heading = "\nRelay out (mail an identified user sent to another domain waits in the broker's "
                "queue):\n"},
    {.name = "smarthost-tls", .kind = OPTION_WORD, SETTING (smarthost_tls), .key = "gateway/smarthost-tls",
     .dflt = "starttls", .words = (const char *const[]){"starttls", "implicit", "none", NULL},
     .error = "--smarthost-tls takes starttls, implicit or none", .arg = "MODE",
     .help = "starttls (default: required, never downgraded), implicit, none"},
    STRING ("smarthost-auth", smarthost_auth, "FILE",
            "one line 'USER PASSWORD' for AUTH (only ever sent inside TLS)"),
    STRING ("smarthost-ca", smarthost_ca, "FILE", "CA certificate(s) to verify the relay's certificate with"),
    /* the command line's routes are checked here; the file's never were (relay_route skips them) */
    {.name = "route", .kind = OPTION_LIST, SETTING (routes), .key = "gateway/routes", .max = RELAY_MAX_ROUTES,
     .check = s_route_ok, .error = "--route takes DOMAIN=HOST:PORT (at most {max})",
     .arg = "DOMAIN=HOST:PORT",
     .help = "deliver DOMAIN straight to HOST:PORT; repeatable; wins over\n"
             "the smarthost (federation: another broker's gateway)"},
    NUMBER ("relay-interval", relay_ms, 1000, 50, 3600000, "MS",
            "how often to look for due entries (default {default})"),
    {.name = "no-relay", .kind = OPTION_FLAG, SETTING (no_relay), .help = "run no relay worker"},
    {.name = "fetch", .kind = OPTION_SECRET, SETTING (fetch), .key = "gateway/fetch", .take = fetch_take_spec,
     .arg = "'URL USER PASSWORD MAILBOX'",
     .help = "e.g. 'pop3://mail.example:110 me secret bob@demo.test';\n"
             "pop3:// requires STLS, pop3s:// is implicit TLS\n"
             "ps shows the password as '*' once the options are read, but\n"
             "better: --fetch 'URL USER MAILBOX' --fetch-password-file FILE",
     .heading = "\nPOP3 fetch in (a remote mailbox published into a local one):\n"},
    STRING ("fetch-password-file", fetch_password_file, "FILE",
            "the POP3 password, first line of FILE (mode 0600, ours)"),
    FLAG ("fetch-keep", fetch_keep, "leave fetched messages on the server (remembered by UIDL)"),
    NUMBER ("fetch-interval", fetch_ms, 60000, 50, 86400000, "MS", "how often to poll (default {default})"),
    STRING ("fetch-ca", fetch_ca, "FILE", "CA certificate(s) of the POP3 server"),
    {.name = "fetch-insecure", .kind = OPTION_FLAG, SETTING (fetch_insecure),
     .help = "do not verify its certificate (tests only)"},
    {.name = "max-connections-per-address", .kind = OPTION_NUMBER, SETTING (max_connections),
     .key = "gateway/max-connections-per-address", .dflt_number = THROTTLE_MAX_CONNECTIONS, .min = 1,
     .max = 10000, .arg = "N", .help = "open connections from one address (default {default})",
     .heading = "\nThrottles (per client address, SMTP and POP3 together; docs/GATEWAY.md \"Throttles\"):\n"},
    NUMBER ("max-auth-failures", max_failures, THROTTLE_MAX_FAILURES, 1, 10000, "N",
            "failed logins and unknown recipients that block the address\n"
            "(default {default}; one is forgiven each minute)"),
    NUMBER ("auth-delay", auth_delay_ms, THROTTLE_DELAY_MS, 0, THROTTLE_DELAY_MAX_MS, "MS",
            "wait before answering the first failure, doubled for each\n"
            "further one up to {max} ms (default {default})"),
    NUMBER ("auth-block", auth_block_s, THROTTLE_BLOCK_S, 1, 86400, "S",
            "how long a blocked address is refused (default {default})"),
    NUMBER ("smtp-timeout", smtp_timeout_s, SMTP_IDLE_TIMEOUT_S, 1, 3600, "S",
            "idle time before an SMTP session is closed (default {default},\n"
            "RFC 5321 4.5.3.2.7)"),
    NUMBER ("pop3-timeout", pop3_timeout_s, POP3_IDLE_TIMEOUT_S, 1, 3600, "S",
            "POP3 autologout (default {default}; RFC 1939 3 says at least 600)"),
    NUMBER ("imap-timeout", imap_timeout_s, IMAP_IDLE_TIMEOUT_S, 1, 7200, "S",
            "IMAP autologout, IDLE included (default {default}; RFC 9051 5.4\n"
            "says at least 1800)"),
    {.name = "verbose", .letter = 'v', .kind = OPTION_FLAG, SETTING (verbose),
     .help = "log every state transition (debug)", .heading = "\n"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};
// clang-format on

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-gateway [options]\n"
             "\n"
             "SMTP, POP3 and IMAP face of a mailbus broker: any mail client submits over SMTP and\n"
             "reads over POP3 or IMAP (folders, flags, IDLE push). A client of the broker; it never\n"
             "opens the database.\n"
             "\n",
    .epilogue = "\n"
                "Only loopback addresses may be bound unless a real certificate is given (or, for a lab,\n"
                "--allow-self-signed-public). HOST is a name, an IPv4 address or [IPV6]; 0.0.0.0 or [::]\n"
                "mean every address. The certificate's fingerprint is printed at start, as\n"
                "  openssl s_client -connect HOST:PORT -starttls smtp | openssl x509 -fingerprint -sha256\n"
                "prints it on the client's side.\n"
                "Exit status: 0 stopped cleanly; 1 a start-up or run-time failure; 64 usage error.\n"
                "\n"
                "example:\n"
                "  mailbus-broker --db var/mailbus.db &\n"
                "  mailbus-gateway --smtp 127.0.0.1:2525 --pop3 127.0.0.1:1100 --imap 127.0.0.1:1143\n"
                "  swaks --server 127.0.0.1:2525 --tls --auth PLAIN --auth-user alice@demo.test \\\n"
                "        --auth-password demo --from alice@demo.test --to bob@demo.test\n",
    .prefix = "error: ",
    .getopt_messages = true,
};

/* SIGINT/SIGTERM, read by the listener's loop (a signalfd) */
static int s_stop_fd = -1;

/* Reads "ADDRESS PASSWORD" from the secret file. Returns 0, or -1 with *error. */
static int
s_read_secret (const char *path, char **user, char **password, char **error)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        *error = zsys_sprintf ("cannot read %s: %s (the broker's first run writes it beside its database; "
                               "or give --gateway-secret)",
                               path, strerror (errno));
        return -1;
    }
    char line[MAX_ADDRESS + MAX_PASSWORD + 8] = "";
    bool ok = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    line[strcspn (line, "\r\n")] = '\0';
    char *space = strchr (line, ' ');
    if (!ok || !space || space == line || !space[1]) {
        *error = zsys_sprintf ("%s: expected one line 'ADDRESS PASSWORD'", path);
        sodium_memzero (line, sizeof line);
        return -1;
    }
    *space = '\0';
    *user = strdup (line);
    *password = strdup (space + 1);
    sodium_memzero (line, sizeof line);
    return *user && *password ? 0 : -1; /* out of memory: *error NULL, s_fail says so */
}

/* The directory part of path ("var" for "var/gateway.secret", "." for "x") */
static char *
s_dirname (const char *path)
{
    const char *slash = strrchr (path, '/');
    if (!slash)
        return strdup (".");
    if (slash == path)
        return strdup ("/");
    return zsys_sprintf ("%.*s", (int)(slash - path), path);
}

/* The certificate's SHA-256 fingerprint, logged and on stdout: a lab's students pin it
   (openssl x509 -fingerprint -sha256 prints the same "sha256 Fingerprint=AB:CD:..."). */
static void
s_print_fingerprint (SSL_CTX *tls, const char *cert, bool real_cert)
{
    char fingerprint[128];
    tls_fingerprint (tls, fingerprint, sizeof fingerprint);
    log_info ("gateway", "tls", "cert=%s sha256=%s%s", cert, fingerprint,
              real_cert ? "" : " self-signed=yes");
    printf ("mailbus-gateway: certificate %s%s sha256 Fingerprint=%s\n", cert,
            real_cert ? "" : " (self-signed)", fingerprint);
    fflush (stdout);
}

/* The running gateway: its settings, and what it opens in order (torn down in reverse) */
typedef struct {
    settings_t settings;
    options_t *options;
    zconfig_t *config;
    char host_buf[256];
    const char *hostname;        /* --hostname, else the host's name, else localhost */
    char *gw_user, *gw_password; /* the gateway's broker identity */
    char *self_cert, *self_key;  /* the self-signed certificate, when no --tls-cert */
    SSL_CTX *tls;
    bool public_ok; /* a real certificate, or --allow-self-signed-public */
    gateway_config_t gw;
    throttle_t *throttle;
    bool libraries_up; /* GMime and libcurl */
    pool_t *pool;
    listener_t *listener;
    relay_tls_t relay_tls;
    char *postmaster, *auth_user, *auth_password; /* the relay worker's */
    relay_config_t relay_config;                  /* the relay worker reads it while it runs */
    zactor_t *relay;
    fetch_config_t fetch_config; /* the fetcher's; it must outlive it */
    char *fetch_copy, *fetch_state, *fetch_password;
    zactor_t *fetcher;
} gateway_t;

/* Prints and frees *error (NULL: out of memory); returns 1, the exit status of a start-up failure */
static int
s_fail (char *error)
{
    fprintf (stderr, "error: %s\n", error ? error : "out of memory");
    free (error);
    return 1;
}

/* Options, then the config file they name, then what neither gave. Returns OPTIONS_GO_ON or
   the exit status. */
static int
s_read_settings (gateway_t *self, int argc, char *argv[])
{
    self->options = options_new (&s_spec, &self->settings);
    int status = options_parse (self->options, argc, argv);
    if (status != OPTIONS_GO_ON)
        return status;
    if (optind < argc) {
        fprintf (stderr, "error: unexpected argument '%s'\n", argv[optind]);
        options_help (&s_spec, stderr);
        return EX_USAGE;
    }
    if (self->settings.verbose)
        log_set_level (LOGLEVEL_DEBUG);
    char *error = NULL;
    self->config = config_load (self->settings.config, &error);
    if (!self->config)
        return s_fail (error);
    return options_resolve (self->options, self->config);
}

/* What the table cannot say: options that go together, the key and the hostname */
static int
s_check_settings (gateway_t *self)
{
    const settings_t *s = &self->settings;
    /* CURVE to the broker: needed when it is beyond loopback (every connection of the gateway) */
    char server_key_z85[41];
    const char *why = NULL;
    if (s->server_key && client_public_key (s->server_key, server_key_z85, &why) != 0) {
        fprintf (stderr, "error: --server-key %s: %s\n", s->server_key, why);
        return EX_USAGE;
    }
    client_set_keys (s->server_key, NULL);
    relay_tls_parse (s->smarthost_tls, &self->relay_tls); /* one of its words: the table checked */
    if ((s->cert == NULL) != (s->key == NULL)) {
        fprintf (stderr, "error: --tls-cert and --tls-key go together\n");
        return EX_USAGE;
    }
    /* it goes into every greeting, EHLO reply and Received: field */
    if (s->hostname && !smtp_hostname_valid (s->hostname)) {
        fprintf (stderr, "error: --hostname takes a domain name of at most 255 octets (RFC 1035 2.3.1)\n");
        return EX_USAGE;
    }
    self->hostname = s->hostname;
    if (!self->hostname) {
        if (gethostname (self->host_buf, sizeof self->host_buf - 1) != 0 ||
            !smtp_hostname_valid (self->host_buf))
            snprintf (self->host_buf, sizeof self->host_buf, "localhost");
        self->hostname = self->host_buf;
    }
    return OPTIONS_GO_ON;
}

/* TLS: the configured certificate, or a self-signed one made once beside the secret */
static int
s_setup_tls (gateway_t *self)
{
    const settings_t *s = &self->settings;
    const char *cert = s->cert, *key = s->key;
    char *error = NULL;
    if (!cert) {
        char *var_dir = s_dirname (s->secret);
        self->self_cert = var_dir ? zsys_sprintf ("%s/gateway-cert.pem", var_dir) : NULL;
        self->self_key = var_dir ? zsys_sprintf ("%s/gateway-key.pem", var_dir) : NULL;
        free (var_dir);
        if (!self->self_cert || !self->self_key)
            return s_fail (NULL);
        bool existed = access (self->self_cert, R_OK) == 0 && access (self->self_key, R_OK) == 0;
        if (tls_ensure_self_signed (self->self_cert, self->self_key, self->hostname, &error) != 0)
            return s_fail (error);
        if (!existed)
            log_info ("gateway", "certificate-created", "cert=%s key=%s cn=%s", self->self_cert,
                      self->self_key, self->hostname);
        cert = self->self_cert;
        key = self->self_key;
    }
    self->tls = tls_server_new (cert, key, &error);
    if (!self->tls)
        return s_fail (error);
    self->public_ok = s->cert || s->self_signed_public;
    s_print_fingerprint (self->tls, cert, s->cert != NULL);
    return OPTIONS_GO_ON;
}

/* The sessions' settings and the per-address throttle */
static void
s_setup_sessions (gateway_t *self)
{
    const settings_t *s = &self->settings;
    throttle_config_t throttle = throttle_defaults ((int)s->max_sessions);
    throttle.max_connections = (int)s->max_connections;
    throttle.max_failures = (int)s->max_failures;
    throttle.delay_ms = (int)s->auth_delay_ms;
    throttle.block_ms = (int)s->auth_block_s * 1000;
    self->throttle = throttle_new (&throttle);
    self->gw = (gateway_config_t){
        .broker = s->broker,
        .gateway_user = self->gw_user,
        .gateway_password = self->gw_password,
        .hostname = self->hostname,
        .domains = s->domains,
        .allow_plaintext_auth = s->plaintext,
        .tls = self->tls,
        .max_message_bytes = (size_t)s->max_size,
        .max_sessions = (int)s->max_sessions,
        .throttle = self->throttle,
        .smtp_timeout_ms = (int)s->smtp_timeout_s * 1000,
        .pop3_timeout_ms = (int)s->pop3_timeout_s * 1000,
        .imap_timeout_ms = (int)s->imap_timeout_s * 1000,
    };
}

/* GMime builds bounces, libcurl speaks SMTP and POP3 out: both set up once, before threads;
   CZMQ: our own signal handling, and the context made before any thread needs it */
static void
s_init_libraries (gateway_t *self)
{
    g_mime_init ();
    curl_global_init (CURL_GLOBAL_DEFAULT);
    self->libraries_up = true;
    zsys_handler_set (NULL);
    zsys_init ();
    signal (SIGPIPE, SIG_IGN);
}

/* The broker client pool and the listeners (SMTP, POP3, IMAP and their implicit-TLS twins) */
static int
s_listen (gateway_t *self)
{
    const settings_t *s = &self->settings;
    self->pool =
        pool_new (s->broker, self->gw_user, self->gw_password, GATEWAY_POOL_MAX, GATEWAY_BROKER_TIMEOUT_MS);
    self->listener = self->pool ? listener_new (&self->gw, self->pool) : NULL;
    if (!self->listener)
        return s_fail (NULL);
    struct {
        listen_kind_t kind;
        const char *address;
    } binds[] = {{LISTEN_SMTP, s->smtp},   {LISTEN_POP3, s->pop3}, {LISTEN_SMTPS, s->smtps},
                 {LISTEN_POP3S, s->pop3s}, {LISTEN_IMAP, s->imap}, {LISTEN_IMAPS, s->imaps}};
    char *error = NULL;
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++)
        if (binds[i].address && *binds[i].address && !streq (binds[i].address, "off") &&
            (listen_addr_check (binds[i].address, self->public_ok, &error) != 0 ||
             listener_add (self->listener, binds[i].kind, binds[i].address, self->public_ok, &error) != 0))
            return s_fail (error);
    return OPTIONS_GO_ON;
}

/* A wrong secret is better found now than at the first mail; a broker not yet up is fine */
static int
s_check_broker (gateway_t *self)
{
    const settings_t *s = &self->settings;
    char *why = NULL;
    client_t *client = client_new (s->broker, self->gw_user, self->gw_password, 2000, &why);
    if (client) {
        /* the check waits 2 s; in the pool it waits as long as every pooled client */
        client_set_timeout (client, GATEWAY_BROKER_TIMEOUT_MS);
        pool_give (self->pool, &client, false);
    }
    else if (why && strncmp (why, "535", 3) == 0) {
        char *error = zsys_sprintf ("the broker refused the gateway identity %s from %s: %s", self->gw_user,
                                    s->secret, why);
        free (why);
        return s_fail (error);
    }
    else
        log_warn ("gateway", "broker-unavailable", "broker=%s reason=\"%s\" (mail gets 451 until it is up)",
                  s->broker, why ? why : "");
    free (why);
    return OPTIONS_GO_ON;
}

/* SIGINT and SIGTERM write to the stop pipe the listener polls */
static int
s_catch_signals (void)
{
    /* Blocked here, so every thread started from now on (sessions, relay, fetch, curl's
       resolvers) inherits the mask; libzmq's threads block every signal themselves. Only the
       listener's loop takes them, through the signalfd: a handler run on a session thread
       would cut its broker call short with EINTR (an answer of 451 to a client that a stop
       should have let finish). */
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGINT);
    sigaddset (&stop, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    s_stop_fd = signalfd (-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s_stop_fd < 0)
        return s_fail (zsys_sprintf ("signalfd: %s", strerror (errno)));
    return OPTIONS_GO_ON;
}

/* The relay worker drains the broker's outbound queue */
static int
s_start_relay (gateway_t *self)
{
    const settings_t *s = &self->settings;
    if (s->no_relay)
        return OPTIONS_GO_ON;
    char *error = NULL;
    if (s->smarthost_auth &&
        relay_auth_load (s->smarthost_auth, &self->auth_user, &self->auth_password, &error) != 0)
        return s_fail (error);
    if (self->auth_user && self->relay_tls == RELAY_TLS_NONE)
        log_warn ("gateway", "relay-auth-off",
                  "reason=\"--smarthost-tls none: AUTH is never sent in plaintext\"");
    self->postmaster = zsys_sprintf ("MAILER-DAEMON@%s", s->domains[0] ? s->domains[0] : self->hostname);
    if (!self->postmaster)
        return s_fail (NULL);
    relay_config_t *config = &self->relay_config;
    *config = (relay_config_t){.broker = s->broker,
                               .gateway_user = self->gw_user,
                               .gateway_password = self->gw_password,
                               .hostname = self->hostname,
                               .postmaster = self->postmaster,
                               .smarthost = s->smarthost,
                               .tls = self->relay_tls,
                               .auth_user = self->auth_user,
                               .auth_password = self->auth_password,
                               .ca_file = s->smarthost_ca,
                               .interval_ms = (int)s->relay_ms,
                               .timeout_s = 60};
    memcpy (config->routes, s->routes, sizeof config->routes);
    self->relay = relay_actor_new (config);
    log_info ("gateway", "relay", "smarthost=%s tls=%s routes=%zu auth=%s", s->smarthost ? s->smarthost : "-",
              s->smarthost_tls, options_count (s->routes), self->auth_user ? "yes" : "no");
    return OPTIONS_GO_ON;
}

/* Fetch polls a remote POP3 box into a local mailbox */
static int
s_start_fetch (gateway_t *self)
{
    const settings_t *s = &self->settings;
    if (!s->fetch)
        return OPTIONS_GO_ON;
    char *error = NULL;
    const char *why = NULL;
    if (s->fetch_password_file &&
        fetch_read_password (s->fetch_password_file, &self->fetch_password, &error) != 0)
        return s_fail (error);
    fetch_config_t *config = &self->fetch_config;
    if (fetch_parse (s->fetch, self->fetch_password, config, &self->fetch_copy, &why) != 0)
        return s_fail (strdup (why));
    char *dir = s_dirname (s->secret);
    self->fetch_state = dir ? zsys_sprintf ("%s/fetch-%s.uidl", dir, config->mailbox) : NULL;
    free (dir);
    if (!self->fetch_state)
        return s_fail (NULL);
    config->broker = s->broker;
    config->gateway_user = self->gw_user;
    config->gateway_password = self->gw_password;
    config->starttls = strncmp (config->url, "pop3://", 7) == 0;
    config->ca_file = s->fetch_ca;
    config->insecure = s->fetch_insecure;
    config->keep = s->fetch_keep;
    config->state_file = self->fetch_state;
    config->interval_ms = (int)s->fetch_ms;
    config->max_message_bytes = (size_t)s->max_size;
    self->fetcher = fetch_actor_new (config);
    log_info ("gateway", "fetch", "url=%s user=%s into=%s keep=%s", config->url, config->user,
              config->mailbox, s->fetch_keep ? "yes" : "no");
    return OPTIONS_GO_ON;
}

/* Everything up to the listeners' loop, in order; returns OPTIONS_GO_ON or the exit status */
static int
s_start (gateway_t *self)
{
    int status = s_check_settings (self);
    char *error = NULL;
    if (status == OPTIONS_GO_ON &&
        s_read_secret (self->settings.secret, &self->gw_user, &self->gw_password, &error) != 0)
        status = s_fail (error);
    if (status == OPTIONS_GO_ON)
        status = s_setup_tls (self);
    if (status != OPTIONS_GO_ON)
        return status;
    s_setup_sessions (self);
    s_init_libraries (self);
    status = s_listen (self);
    if (status == OPTIONS_GO_ON)
        status = s_check_broker (self);
    if (status == OPTIONS_GO_ON)
        status = s_catch_signals ();
    if (status == OPTIONS_GO_ON)
        status = s_start_relay (self);
    if (status == OPTIONS_GO_ON)
        status = s_start_fetch (self);
    return status;
}

/* Serves until SIGINT/SIGTERM; returns the exit status */
static int
s_run (gateway_t *self)
{
    const settings_t *s = &self->settings;
    log_info (
        "gateway", "started",
        "broker=%s identity=%s hostname=%s domains=%zu max-sessions=%d plaintext-auth=%s "
        "max-connections-per-address=%d max-auth-failures=%d smtp-timeout=%d pop3-timeout=%d imap-timeout=%d",
        s->broker, self->gw_user, self->hostname, options_count (s->domains), self->gw.max_sessions,
        s->plaintext ? "yes" : "no", (int)s->max_connections, (int)s->max_failures,
        self->gw.smtp_timeout_ms / 1000, self->gw.pop3_timeout_ms / 1000, self->gw.imap_timeout_ms / 1000);
    int stuck = listener_run (self->listener, s_stop_fd);
    if (stuck > 0) {
        /* a session thread still holds a pool client, its TLS connection and its slot: freeing
           them, or the exit handlers closing its broker socket, would pull them from under it */
        log_error ("gateway", "sessions-stuck", "sessions=%d", stuck);
        _exit (1);
    }
    log_info ("gateway", "stopped", NULL);
    return 0;
}

/* Zeroes and frees a secret string; safe on NULL */
static void
s_forget (char **secret_p)
{
    if (*secret_p)
        sodium_memzero (*secret_p, strlen (*secret_p));
    zstr_free (secret_p);
}

static void
s_teardown (gateway_t *self)
{
    zactor_destroy (&self->fetcher);
    zactor_destroy (&self->relay);
    if (self->fetch_copy) /* strtok_r cut it into words: zero all of it, the password word included */
        sodium_memzero (self->fetch_copy, strlen (self->settings.fetch));
    zstr_free (&self->fetch_copy);
    argv_secret_free (&self->fetch_password);
    zstr_free (&self->fetch_state);
    zstr_free (&self->auth_user);
    s_forget (&self->auth_password);
    zstr_free (&self->postmaster);
    if (self->libraries_up) {
        curl_global_cleanup ();
        g_mime_shutdown ();
    }
    listener_destroy (&self->listener);
    throttle_destroy (&self->throttle);
    pool_destroy (&self->pool);
    SSL_CTX_free (self->tls);
    zstr_free (&self->self_cert);
    zstr_free (&self->self_key);
    s_forget (&self->gw_password);
    zstr_free (&self->gw_user);
    options_destroy (&self->options);
    zconfig_destroy (&self->config);
    if (s_stop_fd >= 0)
        close (s_stop_fd);
    s_stop_fd = -1;
}

int
main (int argc, char *argv[])
{
    umask (0077); /* var/ files (the self-signed certificate and key) are the owner's alone */
    log_init ();
    gateway_t gateway = {0};
    int status = s_read_settings (&gateway, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = s_start (&gateway);
    if (status == OPTIONS_GO_ON)
        status = s_run (&gateway);
    s_teardown (&gateway);
    return status;
}
