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
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "gw_limits.h"
#include "listen_addr.h"
#include "listener.h"
#include "log.h"
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
#define DEFAULT_SECRET "var/gateway.secret"
#define DEFAULT_DOMAIN "demo.test"
#define MAX_DOMAINS 32

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: mailbus-gateway [options]\n"
        "\n"
        "SMTP and POP3 face of a mailbus broker: any mail client submits over SMTP and reads\n"
        "over POP3. A client of the broker; it never opens the database.\n"
        "\n"
        "  -c, --config FILE          ZPL config file, section gateway { ... } (options win)\n"
        "  -b, --broker ENDPOINT      broker endpoint (default " CLIENT_DEFAULT_ENDPOINT ")\n"
        "      --server-key KEY       the broker's public key or key file (CURVE; needed when the broker\n"
        "                             is beyond loopback; env MAILBUS_SERVER_KEY)\n"
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
        "                             (a domain name, 255 octets at most; default the host's name)\n"
        "      --allow-plaintext-auth accept AUTH and USER/PASS without TLS (never on by default)\n"
        "      --allow-self-signed-public  listen beyond loopback with the self-signed certificate,\n"
        "                             for a lab whose clients pin its SHA-256 fingerprint (printed\n"
        "                             at start); AUTH still needs STARTTLS/STLS there\n"
        "      --max-sessions N       concurrent sessions, all listeners together (default %d)\n"
        "      --max-message-size N   largest message in octets, SIZE (default %d)\n"
        "\n"
        "Relay out (mail an identified user sent to another domain waits in the broker's queue):\n"
        "      --smarthost HOST:PORT  relay through this server (like a provider's port 587)\n"
        "      --smarthost-tls MODE   starttls (default: required, never downgraded), implicit, none\n"
        "      --smarthost-auth FILE  one line 'USER PASSWORD' for AUTH (only ever sent inside TLS)\n"
        "      --smarthost-ca FILE    CA certificate(s) to verify the relay's certificate with\n"
        "      --route DOMAIN=HOST:PORT  deliver DOMAIN straight to HOST:PORT; repeatable; wins over\n"
        "                             the smarthost (federation: another broker's gateway)\n"
        "      --relay-interval MS    how often to look for due entries (default 1000)\n"
        "      --no-relay             run no relay worker\n"
        "\n"
        "POP3 fetch in (a remote mailbox published into a local one):\n"
        "      --fetch 'URL USER PASSWORD MAILBOX'  e.g. 'pop3://mail.example:110 me secret bob@demo.test';\n"
        "                             pop3:// requires STLS, pop3s:// is implicit TLS\n"
        "                             ps shows the password as '*' once the options are read, but\n"
        "                             better: --fetch 'URL USER MAILBOX' --fetch-password-file FILE\n"
        "      --fetch-password-file FILE  the POP3 password, first line of FILE (mode 0600, ours)\n"
        "      --fetch-keep           leave fetched messages on the server (remembered by UIDL)\n"
        "      --fetch-interval MS    how often to poll (default 60000)\n"
        "      --fetch-ca FILE        CA certificate(s) of the POP3 server\n"
        "      --fetch-insecure       do not verify its certificate (tests only)\n"
        "\n"
        "Throttles (per client address, SMTP and POP3 together; docs/GATEWAY.md \"Throttles\"):\n"
        "      --max-connections-per-address N  open connections from one address (default %d)\n"
        "      --max-auth-failures N  failed logins and unknown recipients that block the address\n"
        "                             (default %d; one is forgiven each minute)\n"
        "      --auth-delay MS        wait before answering the first failure, doubled for each\n"
        "                             further one up to %d ms (default %d)\n"
        "      --auth-block S         how long a blocked address is refused (default %d)\n"
        "      --smtp-timeout S       idle time before an SMTP session is closed (default %d,\n"
        "                             RFC 5321 4.5.3.2.7)\n"
        "      --pop3-timeout S       POP3 autologout (default %d; RFC 1939 3 says at least 600)\n"
        "\n"
        "  -v, --verbose              log every state transition (debug)\n"
        "  -h, --help                 this help\n"
        "\n"
        "Only loopback addresses may be bound unless a real certificate is given (or, for a lab,\n"
        "--allow-self-signed-public). HOST is a name, an IPv4 address or [IPV6]; 0.0.0.0 or [::]\n"
        "mean every address. The certificate's fingerprint is printed at start, as\n"
        "  openssl s_client -connect HOST:PORT -starttls smtp | openssl x509 -fingerprint -sha256\n"
        "prints it on the client's side.\n"
        "Exit status: 0 stopped cleanly; 1 a start-up or run-time failure; 64 usage error.\n"
        "\n"
        "example:\n"
        "  mailbus-broker --db var/mailbus.db &\n"
        "  mailbus-gateway --smtp 127.0.0.1:2525 --pop3 127.0.0.1:1100\n"
        "  swaks --server 127.0.0.1:2525 --tls --auth PLAIN --auth-user alice@demo.test \\\n"
        "        --auth-password demo --from alice@demo.test --to bob@demo.test\n",
        GATEWAY_MAX_SESSIONS, MAX_MESSAGE_BYTES, THROTTLE_MAX_CONNECTIONS, THROTTLE_MAX_FAILURES,
        THROTTLE_DELAY_MAX_MS, THROTTLE_DELAY_MS, THROTTLE_BLOCK_S, SMTP_IDLE_TIMEOUT_S, POP3_IDLE_TIMEOUT_S);
}

static int s_stop_pipe[2] = {-1, -1};
/* From: of bounces; lives as long as the relay worker */
static char *s_postmaster = NULL;

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
    OPT_SELF_SIGNED_PUBLIC,
    OPT_MAX_SESSIONS,
    OPT_MAX_SIZE,
    OPT_SMARTHOST,
    OPT_SMARTHOST_TLS,
    OPT_SMARTHOST_AUTH,
    OPT_SMARTHOST_CA,
    OPT_ROUTE,
    OPT_RELAY_INTERVAL,
    OPT_NO_RELAY,
    OPT_FETCH,
    OPT_FETCH_KEEP,
    OPT_FETCH_INTERVAL,
    OPT_FETCH_CA,
    OPT_FETCH_INSECURE,
    OPT_FETCH_PASSWORD_FILE,
    OPT_SERVER_KEY,
    OPT_THROTTLE, /* OPT_THROTTLE + i: s_throttle_options[i] */
};

/* the --fetch value, copied before its password word is scrubbed from argv */
static char *s_fetch_spec = NULL;

/* The throttle's numeric options: the same name on the command line and in the config file */
enum { T_CONNECTIONS, T_FAILURES, T_DELAY, T_BLOCK, T_SMTP_TIMEOUT, T_POP3_TIMEOUT, T_COUNT };
static struct {
    const char *name;
    long long min, max, value;
    const char *text;
} s_throttle_options[T_COUNT] = {
    [T_CONNECTIONS] = {"max-connections-per-address", 1, 10000, THROTTLE_MAX_CONNECTIONS, NULL},
    [T_FAILURES] = {"max-auth-failures", 1, 10000, THROTTLE_MAX_FAILURES, NULL},
    [T_DELAY] = {"auth-delay", 0, THROTTLE_DELAY_MAX_MS, THROTTLE_DELAY_MS, NULL},
    [T_BLOCK] = {"auth-block", 1, 86400, THROTTLE_BLOCK_S, NULL},
    [T_SMTP_TIMEOUT] = {"smtp-timeout", 1, 3600, SMTP_IDLE_TIMEOUT_S, NULL},
    [T_POP3_TIMEOUT] = {"pop3-timeout", 1, 3600, POP3_IDLE_TIMEOUT_S, NULL},
};

/* Each throttle option from the command line, else the config file, checked against its bounds */
static int
s_throttle_parse (zconfig_t *config)
{
    for (int i = 0; i < T_COUNT; i++) {
        char path[64], option[64];
        snprintf (path, sizeof path, "gateway/%s", s_throttle_options[i].name);
        snprintf (option, sizeof option, "--%s", s_throttle_options[i].name);
        const char *text =
            s_throttle_options[i].text ? s_throttle_options[i].text : config_get (config, path, NULL);
        if (text && s_parse_count (option, text, s_throttle_options[i].min, s_throttle_options[i].max,
                                   &s_throttle_options[i].value) != 0)
            return -1;
    }
    return 0;
}

int
main (int argc, char *argv[])
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"broker", required_argument, NULL, 'b'},
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},
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
        {"allow-self-signed-public", no_argument, NULL, OPT_SELF_SIGNED_PUBLIC},
        {"max-sessions", required_argument, NULL, OPT_MAX_SESSIONS},
        {"max-message-size", required_argument, NULL, OPT_MAX_SIZE},
        {"smarthost", required_argument, NULL, OPT_SMARTHOST},
        {"smarthost-tls", required_argument, NULL, OPT_SMARTHOST_TLS},
        {"smarthost-auth", required_argument, NULL, OPT_SMARTHOST_AUTH},
        {"smarthost-ca", required_argument, NULL, OPT_SMARTHOST_CA},
        {"route", required_argument, NULL, OPT_ROUTE},
        {"relay-interval", required_argument, NULL, OPT_RELAY_INTERVAL},
        {"no-relay", no_argument, NULL, OPT_NO_RELAY},
        {"fetch", required_argument, NULL, OPT_FETCH},
        {"fetch-keep", no_argument, NULL, OPT_FETCH_KEEP},
        {"fetch-interval", required_argument, NULL, OPT_FETCH_INTERVAL},
        {"fetch-ca", required_argument, NULL, OPT_FETCH_CA},
        {"fetch-insecure", no_argument, NULL, OPT_FETCH_INSECURE},
        {"max-connections-per-address", required_argument, NULL, OPT_THROTTLE + T_CONNECTIONS},
        {"max-auth-failures", required_argument, NULL, OPT_THROTTLE + T_FAILURES},
        {"auth-delay", required_argument, NULL, OPT_THROTTLE + T_DELAY},
        {"auth-block", required_argument, NULL, OPT_THROTTLE + T_BLOCK},
        {"smtp-timeout", required_argument, NULL, OPT_THROTTLE + T_SMTP_TIMEOUT},
        {"pop3-timeout", required_argument, NULL, OPT_THROTTLE + T_POP3_TIMEOUT},
        {"fetch-password-file", required_argument, NULL, OPT_FETCH_PASSWORD_FILE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *server_key = NULL;
    const char *config_path = NULL, *broker = NULL, *smtp = NULL, *pop3 = NULL, *smtps = NULL, *pop3s = NULL;
    const char *cert = NULL, *key = NULL, *secret = NULL, *hostname = NULL;
    const char *max_sessions_opt = NULL, *max_size_opt = NULL;
    const char *domains[MAX_DOMAINS + 1] = {NULL};
    int ndomains = 0;
    bool plaintext = false, verbose = false, self_signed_public = false;
    /* relay out (the outbound queue) and POP3 fetch in */
    const char *smarthost = NULL, *smarthost_tls = NULL, *smarthost_auth = NULL, *smarthost_ca = NULL;
    const char *relay_interval = NULL, *fetch = NULL, *fetch_interval = NULL, *fetch_ca = NULL;
    const char *fetch_password_file = NULL;
    const char *routes[RELAY_MAX_ROUTES + 1] = {NULL};
    int nroutes = 0;
    bool no_relay = false, fetch_keep = false, fetch_insecure = false;

    umask (0077); /* var/ files (the self-signed certificate and key) are the owner's alone */
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
        case OPT_SERVER_KEY:
            server_key = optarg;
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
                return EX_USAGE;
            }
            domains[ndomains++] = optarg;
            break;
        case OPT_HOSTNAME:
            hostname = optarg;
            break;
        case OPT_PLAINTEXT:
            plaintext = true;
            break;
        case OPT_SELF_SIGNED_PUBLIC:
            self_signed_public = true;
            break;
        case OPT_MAX_SESSIONS:
            max_sessions_opt = optarg;
            break;
        case OPT_MAX_SIZE:
            max_size_opt = optarg;
            break;
        case OPT_SMARTHOST:
            smarthost = optarg;
            break;
        case OPT_SMARTHOST_TLS:
            smarthost_tls = optarg;
            break;
        case OPT_SMARTHOST_AUTH:
            smarthost_auth = optarg;
            break;
        case OPT_SMARTHOST_CA:
            smarthost_ca = optarg;
            break;
        case OPT_ROUTE:
            if (nroutes == RELAY_MAX_ROUTES || !strchr (optarg, '=') || optarg[0] == '=') {
                fprintf (stderr, "error: --route takes DOMAIN=HOST:PORT (at most %d)\n", RELAY_MAX_ROUTES);
                return EX_USAGE;
            }
            routes[nroutes++] = optarg;
            break;
        case OPT_RELAY_INTERVAL:
            relay_interval = optarg;
            break;
        case OPT_NO_RELAY:
            no_relay = true;
            break;
        case OPT_FETCH:
            argv_secret_free (&s_fetch_spec);
            fetch = s_fetch_spec = fetch_take_spec (optarg);
            break;
        case OPT_FETCH_PASSWORD_FILE:
            fetch_password_file = optarg;
            break;
        case OPT_FETCH_KEEP:
            fetch_keep = true;
            break;
        case OPT_FETCH_INTERVAL:
            fetch_interval = optarg;
            break;
        case OPT_FETCH_CA:
            fetch_ca = optarg;
            break;
        case OPT_FETCH_INSECURE:
            fetch_insecure = true;
            break;
        case 'v':
            verbose = true;
            break;
        case OPT_THROTTLE + T_CONNECTIONS:
        case OPT_THROTTLE + T_FAILURES:
        case OPT_THROTTLE + T_DELAY:
        case OPT_THROTTLE + T_BLOCK:
        case OPT_THROTTLE + T_SMTP_TIMEOUT:
        case OPT_THROTTLE + T_POP3_TIMEOUT:
            s_throttle_options[opt - OPT_THROTTLE].text = optarg;
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        default:
            s_usage (stderr);
            return EX_USAGE;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "error: unexpected argument '%s'\n", argv[optind]);
        s_usage (stderr);
        return EX_USAGE;
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
    /* CURVE to the broker: needed when it is beyond loopback (every connection of the gateway) */
    server_key = server_key ? server_key : config_get (config, "gateway/server-key", NULL);
    char server_key_z85[41];
    const char *key_why = NULL;
    if (server_key && client_public_key (server_key, server_key_z85, &key_why) != 0) {
        fprintf (stderr, "error: --server-key %s: %s\n", server_key, key_why);
        zconfig_destroy (&config);
        return 64;
    }
    client_set_keys (server_key, NULL);
    smtp = smtp ? smtp : config_get (config, "gateway/smtp", DEFAULT_SMTP);
    pop3 = pop3 ? pop3 : config_get (config, "gateway/pop3", DEFAULT_POP3);
    smtps = smtps ? smtps : config_get (config, "gateway/smtps", NULL);
    pop3s = pop3s ? pop3s : config_get (config, "gateway/pop3s", NULL);
    cert = cert ? cert : config_get (config, "gateway/tls-cert", NULL);
    key = key ? key : config_get (config, "gateway/tls-key", NULL);
    secret = secret ? secret : config_get (config, "gateway/gateway-secret", DEFAULT_SECRET);
    hostname = hostname ? hostname : config_get (config, "gateway/hostname", NULL);
    plaintext = plaintext || s_truthy (config_get (config, "gateway/allow-plaintext-auth", NULL));
    self_signed_public =
        self_signed_public || s_truthy (config_get (config, "gateway/allow-self-signed-public", NULL));
    max_sessions_opt =
        max_sessions_opt ? max_sessions_opt : config_get (config, "gateway/max-sessions", NULL);
    max_size_opt = max_size_opt ? max_size_opt : config_get (config, "gateway/max-message-size", NULL);
    smarthost = smarthost ? smarthost : config_get (config, "gateway/smarthost", NULL);
    smarthost_tls = smarthost_tls ? smarthost_tls : config_get (config, "gateway/smarthost-tls", "starttls");
    smarthost_auth = smarthost_auth ? smarthost_auth : config_get (config, "gateway/smarthost-auth", NULL);
    smarthost_ca = smarthost_ca ? smarthost_ca : config_get (config, "gateway/smarthost-ca", NULL);
    relay_interval = relay_interval ? relay_interval : config_get (config, "gateway/relay-interval", NULL);
    fetch = fetch ? fetch : config_get (config, "gateway/fetch", NULL);
    fetch_interval = fetch_interval ? fetch_interval : config_get (config, "gateway/fetch-interval", NULL);
    fetch_ca = fetch_ca ? fetch_ca : config_get (config, "gateway/fetch-ca", NULL);
    fetch_password_file =
        fetch_password_file ? fetch_password_file : config_get (config, "gateway/fetch-password-file", NULL);
    fetch_keep = fetch_keep || s_truthy (config_get (config, "gateway/fetch-keep", NULL));
    char **config_routes = NULL;
    if (nroutes == 0) {
        config_routes = config_words (config_get (config, "gateway/routes", NULL));
        for (int i = 0; config_routes && config_routes[i] && nroutes < RELAY_MAX_ROUTES; i++)
            routes[nroutes++] = config_routes[i];
    }
    char **config_domains = NULL;
    if (ndomains == 0) {
        config_domains = config_words (config_get (config, "gateway/domains", DEFAULT_DOMAIN));
        for (int i = 0; config_domains && config_domains[i] && ndomains < MAX_DOMAINS; i++)
            domains[ndomains++] = config_domains[i];
    }
    /* what the end of main releases, whichever way it gets there */
    int rc = EX_USAGE;
    char *gw_user = NULL, *gw_password = NULL, *var_dir = NULL, *self_cert = NULL, *self_key = NULL;
    SSL_CTX *tls = NULL;
    pool_t *pool = NULL;
    listener_t *listener = NULL;
    throttle_t *throttle = NULL;
    zactor_t *relay = NULL, *fetcher = NULL;
    char *auth_user = NULL, *auth_password = NULL, *fetch_copy = NULL, *fetch_state = NULL;
    char *fetch_password = NULL;
    relay_config_t relay_config = {0};
    fetch_config_t fetch_config = {0};

    long long max_sessions = GATEWAY_MAX_SESSIONS, max_size = MAX_MESSAGE_BYTES;
    if ((max_sessions_opt &&
         s_parse_count ("--max-sessions", max_sessions_opt, 1, 10000, &max_sessions) != 0) ||
        (max_size_opt &&
         s_parse_count ("--max-message-size", max_size_opt, 1024, MAX_MESSAGE_BYTES * 10LL, &max_size) != 0))
        goto done;
    long long relay_ms = 1000, fetch_ms = 60000;
    relay_tls_t relay_tls = RELAY_TLS_STARTTLS;
    if ((relay_interval && s_parse_count ("--relay-interval", relay_interval, 50, 3600000, &relay_ms) != 0) ||
        (fetch_interval &&
         s_parse_count ("--fetch-interval", fetch_interval, 50, 86400000, &fetch_ms) != 0) ||
        s_throttle_parse (config) != 0)
        goto done;
    if (relay_tls_parse (smarthost_tls, &relay_tls) != 0) {
        fprintf (stderr, "error: --smarthost-tls takes starttls, implicit or none\n");
        goto done;
    }
    if ((cert == NULL) != (key == NULL)) {
        fprintf (stderr, "error: --tls-cert and --tls-key go together\n");
        goto done;
    }
    /* it goes into every greeting, EHLO reply and Received: field */
    if (hostname && !smtp_hostname_valid (hostname)) {
        fprintf (stderr, "error: --hostname takes a domain name of at most 255 octets (RFC 1035 2.3.1)\n");
        goto done;
    }
    rc = 1;
    char host_buf[256] = "localhost";
    if (!hostname) {
        if (gethostname (host_buf, sizeof host_buf - 1) != 0 || !smtp_hostname_valid (host_buf))
            snprintf (host_buf, sizeof host_buf, "localhost");
        hostname = host_buf;
    }

    if (s_read_secret (secret, &gw_user, &gw_password, &error) != 0)
        goto done;

    /* TLS: the configured certificate, or a self-signed one made once beside the secret */
    bool real_cert = cert != NULL;
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
    bool public_ok = real_cert || self_signed_public;
    s_print_fingerprint (tls, cert, real_cert);

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
        .smtp_timeout_ms = (int)s_throttle_options[T_SMTP_TIMEOUT].value * 1000,
        .pop3_timeout_ms = (int)s_throttle_options[T_POP3_TIMEOUT].value * 1000,
    };
    throttle_config_t throttle_config = throttle_defaults ((int)max_sessions);
    throttle_config.max_connections = (int)s_throttle_options[T_CONNECTIONS].value;
    throttle_config.max_failures = (int)s_throttle_options[T_FAILURES].value;
    throttle_config.delay_ms = (int)s_throttle_options[T_DELAY].value;
    throttle_config.block_ms = (int)s_throttle_options[T_BLOCK].value * 1000;
    throttle = throttle_new (&throttle_config);
    gw.throttle = throttle;

    /* GMime builds bounces, libcurl speaks SMTP and POP3 out: both set up once, before threads */
    g_mime_init ();
    curl_global_init (CURL_GLOBAL_DEFAULT);
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
            (listen_addr_check (binds[i].address, public_ok, &error) != 0 ||
             listener_add (listener, binds[i].kind, binds[i].address, public_ok, &error) != 0))
            goto done;

    /* A wrong secret is better found now than at the first mail; a broker not yet up is fine */
    {
        char *why = NULL;
        client_t *client = client_new (broker, gw_user, gw_password, 2000, &why);
        if (client) {
            /* the check waits 2 s; in the pool it waits as long as every pooled client */
            client_set_timeout (client, GATEWAY_BROKER_TIMEOUT_MS);
            pool_give (pool, &client, false);
        }
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
    /* the relay worker drains the broker's outbound queue; fetch polls a remote POP3 box */
    if (!no_relay) {
        relay_config = (relay_config_t){.broker = broker,
                                        .gateway_user = gw_user,
                                        .gateway_password = gw_password,
                                        .hostname = hostname,
                                        .smarthost = smarthost,
                                        .tls = relay_tls,
                                        .ca_file = smarthost_ca,
                                        .interval_ms = (int)relay_ms,
                                        .timeout_s = 60};
        char *postmaster = zsys_sprintf ("MAILER-DAEMON@%s", domains[0] ? domains[0] : hostname);
        relay_config.postmaster = postmaster;
        for (int i = 0; i < nroutes; i++)
            relay_config.routes[i] = routes[i];
        if (smarthost_auth) {
            if (relay_auth_load (smarthost_auth, &auth_user, &auth_password, &error) != 0) {
                free (postmaster);
                goto done;
            }
            relay_config.auth_user = auth_user;
            relay_config.auth_password = auth_password;
            if (relay_tls == RELAY_TLS_NONE)
                log_warn ("gateway", "relay-auth-off",
                          "reason=\"--smarthost-tls none: AUTH is never sent in plaintext\"");
        }
        relay = relay_actor_new (&relay_config);
        s_postmaster = postmaster;
        log_info ("gateway", "relay", "smarthost=%s tls=%s routes=%d auth=%s", smarthost ? smarthost : "-",
                  smarthost_tls, nroutes, auth_user ? "yes" : "no");
    }
    if (fetch) {
        const char *why = NULL;
        if (fetch_password_file && fetch_read_password (fetch_password_file, &fetch_password, &error) != 0)
            goto done;
        if (fetch_parse (fetch, fetch_password, &fetch_config, &fetch_copy, &why) != 0) {
            error = strdup (why);
            goto done;
        }
        fetch_config.broker = broker;
        fetch_config.gateway_user = gw_user;
        fetch_config.gateway_password = gw_password;
        fetch_config.starttls = strncmp (fetch_config.url, "pop3://", 7) == 0;
        fetch_config.ca_file = fetch_ca;
        fetch_config.insecure = fetch_insecure;
        fetch_config.keep = fetch_keep;
        char *dir = s_dirname (secret);
        fetch_state = zsys_sprintf ("%s/fetch-%s.uidl", dir, fetch_config.mailbox);
        free (dir);
        fetch_config.state_file = fetch_state;
        fetch_config.interval_ms = (int)fetch_ms;
        fetcher = fetch_actor_new (&fetch_config);
        log_info ("gateway", "fetch", "url=%s user=%s into=%s keep=%s", fetch_config.url, fetch_config.user,
                  fetch_config.mailbox, fetch_keep ? "yes" : "no");
    }

    log_info ("gateway", "started",
              "broker=%s identity=%s hostname=%s domains=%d max-sessions=%d plaintext-auth=%s "
              "max-connections-per-address=%d max-auth-failures=%d smtp-timeout=%d pop3-timeout=%d",
              broker, gw_user, hostname, ndomains, gw.max_sessions, plaintext ? "yes" : "no",
              throttle_config.max_connections, throttle_config.max_failures, gw.smtp_timeout_ms / 1000,
              gw.pop3_timeout_ms / 1000);
    int stuck = listener_run (listener, s_stop_pipe[0]);
    if (stuck > 0) {
        /* a session thread still holds a pool client, its TLS connection and its slot: freeing
           them, or the exit handlers closing its broker socket, would pull them from under it */
        log_error ("gateway", "sessions-stuck", "sessions=%d", stuck);
        _exit (1);
    }
    log_info ("gateway", "stopped", NULL);
    rc = 0;

done:
    if (error) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
    }
    zactor_destroy (&fetcher);
    zactor_destroy (&relay);
    if (fetch_copy) /* strtok_r cut it into words: zero all of it, the password word included */
        sodium_memzero (fetch_copy, strlen (fetch));
    free (fetch_copy);
    argv_secret_free (&fetch_password);
    argv_secret_free (&s_fetch_spec);
    free (fetch_state);
    free (auth_user);
    if (auth_password) {
        sodium_memzero (auth_password, strlen (auth_password));
        free (auth_password);
    }
    free (s_postmaster);
    curl_global_cleanup ();
    g_mime_shutdown ();
    config_words_free (&config_routes);
    listener_destroy (&listener);
    throttle_destroy (&throttle);
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
