/*  main.c — mailbus-gateway: options and config, the gateway's broker identity, TLS, and
    the listeners (SMTP, SMTPS, POP3, POP3S). A client of the broker like any other: it
    never opens the database. */
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "gw_limits.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "tls.h"

#define DEFAULT_SMTP "127.0.0.1:2525"
#define DEFAULT_POP3 "127.0.0.1:1100"
#define DEFAULT_SECRET "var/gateway.secret"
#define DEFAULT_DOMAIN "demo.test"
#define MAX_DOMAINS 32

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: mailbus-gateway [options]\n"
             "\n"
             "SMTP and POP3 face of a mailbus broker: any mail client submits over SMTP and reads\n"
             "over POP3. A client of the broker; it never opens the database.\n"
             "\n"
             "  -c, --config FILE          ZPL config file, section gateway { ... } (options win)\n"
             "  -b, --broker ENDPOINT      broker endpoint (default " CLIENT_DEFAULT_ENDPOINT ")\n"
             "      --smtp HOST:PORT       SMTP with STARTTLS (default " DEFAULT_SMTP "; 'off' disables)\n"
             "      --pop3 HOST:PORT       POP3 with STLS (default " DEFAULT_POP3 "; 'off' disables)\n"
             "      --smtps HOST:PORT      SMTP over implicit TLS (RFC 8314; off unless given)\n"
             "      --pop3s HOST:PORT      POP3 over implicit TLS (off unless given)\n"
             "      --tls-cert FILE        certificate chain (PEM); without it a self-signed one is made\n"
             "                             beside the gateway secret (var/gateway-cert.pem)\n"
             "      --tls-key FILE         its private key (PEM)\n"
             "      --gateway-secret FILE  'ADDRESS PASSWORD' of the gateway's broker identity\n"
             "                             (default " DEFAULT_SECRET ", written by the broker's first run)\n"
             "      --domain DOMAIN        a local domain; repeatable (default " DEFAULT_DOMAIN ")\n"
             "      --hostname NAME        name in greetings, Received: and the self-signed certificate\n"
             "      --allow-plaintext-auth accept AUTH and USER/PASS without TLS (never on by default)\n"
             "      --max-sessions N       concurrent sessions, all listeners together (default %d)\n"
             "      --max-message-size N   largest message in octets, SIZE (default %d)\n"
             "  -v, --verbose              log every state transition (debug)\n"
             "  -h, --help                 this help\n"
             "\n"
             "Only loopback addresses may be bound unless a real certificate is given.\n"
             "\n"
             "example:\n"
             "  mailbus-broker --db var/mailbus.db &\n"
             "  mailbus-gateway --smtp 127.0.0.1:2525 --pop3 127.0.0.1:1100\n"
             "  swaks --server 127.0.0.1:2525 --tls --auth PLAIN --auth-user alice@demo.test \\\n"
             "        --auth-password demo --from alice@demo.test --to bob@demo.test\n",
             GATEWAY_MAX_SESSIONS, MAX_MESSAGE_BYTES);
}

static int s_stop_pipe[2] = {-1, -1};

static void
s_on_signal (int sig)
{
    (void)sig;
    char c = 'x';
    if (write (s_stop_pipe[1], &c, 1) < 0) {
        /* nothing to do: the loop is already waking */
    }
}

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
    return 0;
}

static bool
s_truthy (const char *value)
{
    return value &&
           (streq (value, "1") || streq (value, "yes") || streq (value, "true") || streq (value, "on"));
}

static int
s_parse_count (const char *option, const char *text, long long min, long long max, long long *value)
{
    char *end = NULL;
    errno = 0;
    long long n = text ? strtoll (text, &end, 10) : 0;
    if (!text || errno || end == text || *end || n < min || n > max) {
        fprintf (stderr, "error: %s takes a number from %lld to %lld\n", option, min, max);
        return -1;
    }
    *value = n;
    return 0;
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

enum {
    OPT_SMTP = 256,
    OPT_POP3,
    OPT_SMTPS,
    OPT_POP3S,
    OPT_CERT,
    OPT_KEY,
    OPT_SECRET,
    OPT_DOMAIN,
    OPT_HOSTNAME,
    OPT_PLAINTEXT,
    OPT_MAX_SESSIONS,
    OPT_MAX_SIZE,
};

int
main (int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"broker", required_argument, NULL, 'b'},
        {"smtp", required_argument, NULL, OPT_SMTP},
        {"pop3", required_argument, NULL, OPT_POP3},
        {"smtps", required_argument, NULL, OPT_SMTPS},
        {"pop3s", required_argument, NULL, OPT_POP3S},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {"gateway-secret", required_argument, NULL, OPT_SECRET},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"allow-plaintext-auth", no_argument, NULL, OPT_PLAINTEXT},
        {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
        {"max-message-size", required_argument, NULL, OPT_MAX_SIZE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *broker = NULL, *smtp = NULL, *pop3 = NULL, *smtps = NULL, *pop3s = NULL;
    const char *cert = NULL, *key = NULL, *secret = NULL, *hostname = NULL;
    const char *max_sessions_opt = NULL, *max_size_opt = NULL;
    const char *domains[MAX_DOMAINS + 1] = {NULL};
    int ndomains = 0;
    bool plaintext = false, verbose = false;

    log_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, "c:b:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'b':
            broker = optarg;
            break;
        case OPT_SMTP:
            smtp = optarg;
            break;
        case OPT_POP3:
            pop3 = optarg;
            break;
        case OPT_SMTPS:
            smtps = optarg;
            break;
        case OPT_POP3S:
            pop3s = optarg;
            break;
        case OPT_CERT:
            cert = optarg;
            break;
        case OPT_KEY:
            key = optarg;
            break;
        case OPT_SECRET:
            secret = optarg;
            break;
        case OPT_DOMAIN:
            if (ndomains == MAX_DOMAINS) {
                fprintf (stderr, "error: at most %d --domain\n", MAX_DOMAINS);
                return 2;
            }
            domains[ndomains++] = optarg;
            break;
        case OPT_HOSTNAME:
            hostname = optarg;
            break;
        case OPT_PLAINTEXT:
            plaintext = true;
            break;
        case OPT_MAX_SESSIONS:
            max_sessions_opt = optarg;
            break;
        case OPT_MAX_SIZE:
            max_size_opt = optarg;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        default:
            s_usage (stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "error: unexpected argument '%s'\n", argv[optind]);
        s_usage (stderr);
        return 2;
    }
    if (verbose)
        log_set_level (LOGLEVEL_DEBUG);

    char *error = NULL;
    zconfig_t *config = config_load (config_path, &error);
    if (!config) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 1;
    }
    broker = broker ? broker : config_get (config, "gateway/broker", CLIENT_DEFAULT_ENDPOINT);
    smtp = smtp ? smtp : config_get (config, "gateway/smtp", DEFAULT_SMTP);
    pop3 = pop3 ? pop3 : config_get (config, "gateway/pop3", DEFAULT_POP3);
    smtps = smtps ? smtps : config_get (config, "gateway/smtps", NULL);
    pop3s = pop3s ? pop3s : config_get (config, "gateway/pop3s", NULL);
    cert = cert ? cert : config_get (config, "gateway/tls-cert", NULL);
    key = key ? key : config_get (config, "gateway/tls-key", NULL);
    secret = secret ? secret : config_get (config, "gateway/gateway-secret", DEFAULT_SECRET);
    hostname = hostname ? hostname : config_get (config, "gateway/hostname", NULL);
    plaintext = plaintext || s_truthy (config_get (config, "gateway/allow-plaintext-auth", NULL));
    max_sessions_opt =
        max_sessions_opt ? max_sessions_opt : config_get (config, "gateway/max-sessions", NULL);
    max_size_opt = max_size_opt ? max_size_opt : config_get (config, "gateway/max-message-size", NULL);
    char **config_domains = NULL;
    if (ndomains == 0) {
        config_domains = config_words (config_get (config, "gateway/domains", DEFAULT_DOMAIN));
        for (int i = 0; config_domains && config_domains[i] && ndomains < MAX_DOMAINS; i++)
            domains[ndomains++] = config_domains[i];
    }
    long long max_sessions = GATEWAY_MAX_SESSIONS, max_size = MAX_MESSAGE_BYTES;
    if ((max_sessions_opt &&
         s_parse_count ("--max-sessions", max_sessions_opt, 1, 10000, &max_sessions) != 0) ||
        (max_size_opt &&
         s_parse_count ("--max-message-size", max_size_opt, 1024, MAX_MESSAGE_BYTES * 10LL, &max_size) != 0))
        return 2;
    if ((cert == NULL) != (key == NULL)) {
        fprintf (stderr, "error: --tls-cert and --tls-key go together\n");
        return 2;
    }
    char host_buf[256] = "localhost";
    if (!hostname) {
        if (gethostname (host_buf, sizeof host_buf - 1) != 0 || !*host_buf)
            snprintf (host_buf, sizeof host_buf, "localhost");
        hostname = host_buf;
    }

    int rc = 1;
    char *gw_user = NULL, *gw_password = NULL, *var_dir = NULL, *self_cert = NULL, *self_key = NULL;
    SSL_CTX *tls = NULL;
    pool_t *pool = NULL;
    listener_t *listener = NULL;

    if (s_read_secret (secret, &gw_user, &gw_password, &error) != 0)
        goto done;

    /* TLS: the configured certificate, or a self-signed one made once beside the secret */
    bool public_ok = cert != NULL;
    if (!cert) {
        var_dir = s_dirname (secret);
        self_cert = zsys_sprintf ("%s/gateway-cert.pem", var_dir);
        self_key = zsys_sprintf ("%s/gateway-key.pem", var_dir);
        bool existed = access (self_cert, R_OK) == 0 && access (self_key, R_OK) == 0;
        if (tls_ensure_self_signed (self_cert, self_key, hostname, &error) != 0)
            goto done;
        if (!existed)
            log_info ("gateway", "certificate-created", "cert=%s key=%s cn=%s", self_cert, self_key,
                      hostname);
        cert = self_cert;
        key = self_key;
    }
    tls = tls_server_new (cert, key, &error);
    if (!tls)
        goto done;
    char fingerprint[128];
    tls_fingerprint (tls, fingerprint, sizeof fingerprint);
    log_info ("gateway", "tls", "cert=%s sha256=%s%s", cert, fingerprint,
              public_ok ? "" : " self-signed=yes");

    gateway_config_t gw = {
        .broker = broker,
        .gateway_user = gw_user,
        .gateway_password = gw_password,
        .hostname = hostname,
        .domains = domains,
        .allow_plaintext_auth = plaintext,
        .tls = tls,
        .max_message_bytes = (size_t)max_size,
        .max_sessions = (int)max_sessions,
    };

    /* CZMQ: our own signal handling, and the context made before any thread needs it */
    zsys_handler_set (NULL);
    zsys_init ();
    signal (SIGPIPE, SIG_IGN);

    pool = pool_new (broker, gw_user, gw_password, GATEWAY_POOL_MAX, GATEWAY_BROKER_TIMEOUT_MS);
    listener = listener_new (&gw, pool);
    struct {
        listen_kind_t kind;
        const char *address;
    } binds[] = {{LISTEN_SMTP, smtp}, {LISTEN_POP3, pop3}, {LISTEN_SMTPS, smtps}, {LISTEN_POP3S, pop3s}};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++)
        if (binds[i].address && !streq (binds[i].address, "off") &&
            listener_add (listener, binds[i].kind, binds[i].address, public_ok, &error) != 0)
            goto done;

    /* A wrong secret is better found now than at the first mail; a broker not yet up is fine */
    {
        char *why = NULL;
        client_t *client = client_new (broker, gw_user, gw_password, 2000, &why);
        if (client)
            pool_give (pool, &client, false);
        else if (why && strncmp (why, "535", 3) == 0) {
            error =
                zsys_sprintf ("the broker refused the gateway identity %s from %s: %s", gw_user, secret, why);
            free (why);
            goto done;
        }
        else
            log_warn ("gateway", "broker-unavailable",
                      "broker=%s reason=\"%s\" (mail gets 451 until it is up)", broker, why ? why : "");
        free (why);
    }

    if (pipe2 (s_stop_pipe, O_CLOEXEC) != 0) {
        error = zsys_sprintf ("pipe: %s", strerror (errno));
        goto done;
    }
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    log_info ("gateway", "started",
              "broker=%s identity=%s hostname=%s domains=%d max-sessions=%d plaintext-auth=%s", broker,
              gw_user, hostname, ndomains, gw.max_sessions, plaintext ? "yes" : "no");
    listener_run (listener, s_stop_pipe[0]);
    log_info ("gateway", "stopped", NULL);
    rc = 0;

done:
    if (error) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
    }
    listener_destroy (&listener);
    pool_destroy (&pool);
    SSL_CTX_free (tls);
    free (self_cert);
    free (self_key);
    free (var_dir);
    if (gw_password) {
        sodium_memzero (gw_password, strlen (gw_password));
        free (gw_password);
    }
    free (gw_user);
    config_words_free (&config_domains);
    zconfig_destroy (&config);
    if (s_stop_pipe[0] >= 0) {
        close (s_stop_pipe[0]);
        close (s_stop_pipe[1]);
    }
    return rc;
}
