/*  main.c — mailbus-broker: options, config, the demo domain, and either the broker
    itself or the mailbox admin commands. */
#include <czmq.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_cli.h"
#include "admin_paths.h"
#include "argv_scrub.h"
#include "auth.h"
#include "config.h"
#include "endpoint.h"
#include "keys.h"
#include "log.h"
#include "mb_limits.h"
#include "options.h"
#include "server.h"
#include "space.h"
#include "store.h"
#include "ticket.h"

#define DEFAULT_DB "var/mailbus.db"
#define DEFAULT_BIND "tcp://127.0.0.1:5670"
#define DEFAULT_DOMAIN "demo.test"
/* well above the reserve and the WAL's growth between two free-space readings */
#define DEFAULT_MIN_FREE "64M"
#define DEMO_PASSWORD "demo"
#define MAX_DOMAINS 32

/* Everything the command line and the config file set */
typedef struct {
    const char *config;
    const char *db;
    const char *binds[SERVER_MAX_BINDS + 1];
    const char *curve; /* auto or always */
    const char *domains[MAX_DOMAINS + 1];
    int64_t max_message;
    const char *relay; /* yes or no */
    int64_t queue_max_age, retry_base, dedupe_window;
    const char *synchronous; /* full or normal */
    const char *min_free;    /* publishing refused below this free space */
    int64_t reserve;         /* bytes of the reserve file deleting falls back on */
    int64_t ticket_lifetime; /* resumption tickets (ticket.h); 0: none */
    bool no_demo, verbose;
    /* the mailbox and list commands' */
    char *password;
    bool password_stdin, closed;
    const char *role, *posting, *filter, *keep, *max_age;
} settings_t;

#define SETTING(field) .offset = offsetof (settings_t, field)
#define SECONDS(option, field, dflt_value, text)                                                             \
    {                                                                                                        \
        .name = option, .kind = OPTION_NUMBER, SETTING (field), .key = "broker/" option, .unit = "seconds",  \
        .dflt_number = dflt_value, .min = 1, .max = 365LL * 24 * 3600, .arg = "S", .help = text              \
    }

/* one row per setting, kept as written */
// clang-format off
static const option_t s_options[] = {
    {.name = "config", .letter = 'c', .kind = OPTION_STRING, SETTING (config), .arg = "FILE",
     .help = "read settings from a ZPL file (see docs/mailbus.cfg)", .heading = "Options:\n"},
    {.name = "db", .kind = OPTION_STRING, SETTING (db), .key = "broker/db", .dflt = DEFAULT_DB, .arg = "PATH",
     .help = "the SQLite database (default {default})"},
    {.name = "bind", .kind = OPTION_LIST, SETTING (binds), .key = "broker/bind", .dflt = DEFAULT_BIND,
     .max = SERVER_MAX_BINDS, .error = "at most {max} --bind endpoints", .arg = "ENDPOINT",
     .help = "client endpoint, repeatable (default {default}); beyond\n"
             "loopback (tcp://0.0.0.0:5670, tcp://192.168.1.5:5670, tcp://[::]:5670)\n"
             "always with CURVE: clients need the key `mailbus-broker key` prints"},
    {.name = "curve", .kind = OPTION_WORD, SETTING (curve), .key = "broker/curve", .dflt = "auto",
     .words = (const char *const[]){"auto", "always", NULL}, .arg = "auto|always",
     .help = "auto (default): CURVE beyond loopback only; always: on every endpoint"},
    {.name = "domain", .kind = OPTION_LIST, SETTING (domains), .key = "broker/domains",
     .dflt = DEFAULT_DOMAIN, .max = MAX_DOMAINS, .error = "at most {max} domains", .arg = "DOMAIN",
     .help = "a domain this broker serves; repeatable (default {default})"},
    {.name = "max-message-size", .kind = OPTION_NUMBER, SETTING (max_message),
     .key = "broker/max-message-size",
     .dflt_number = MAX_MESSAGE_BYTES, .min = 1024, .max = 256LL * 1024 * 1024, .unit = "bytes", .arg = "N",
     .help = "largest message in bytes (default {default})"},
    {.name = "relay", .kind = OPTION_WORD, SETTING (relay), .key = "broker/relay", .dflt = "yes",
     .words = (const char *const[]){"yes", "no", NULL}, .arg = "yes|no",
     .help = "queue mail for other domains from identified users (default yes)"},
    SECONDS ("queue-max-age", queue_max_age, DEFAULT_QUEUE_MAX_AGE,
             "seconds a relayed message may wait before it bounces (default 5 days)"),
    SECONDS ("retry-base", retry_base, DEFAULT_RETRY_BASE,
             "seconds before the first relay retry, doubling (default {default})"),
    SECONDS ("dedupe-window", dedupe_window, DEFAULT_DEDUPE_WINDOW,
             "seconds a Message-ID is remembered for dedupe (default 7 days)"),
    {.name = "ticket-lifetime", .kind = OPTION_NUMBER, SETTING (ticket_lifetime), .key = "broker/ticket-lifetime",
     .unit = "seconds", .dflt_number = TICKET_DEFAULT_LIFETIME, .min = 0, .max = 365LL * 24 * 3600, .arg = "S",
     .help = "seconds a login's resumption ticket lets its client identify\n"
             "again without a password check (default {default}; 0: no tickets)"},
    {.name = "synchronous", .kind = OPTION_WORD, SETTING (synchronous), .key = "broker/synchronous",
     .dflt = "full", .words = (const char *const[]){"full", "normal", NULL}, .arg = "MODE",
     .help = "full (default: an ack survives power loss) or normal"},
    {.name = "min-free", .kind = OPTION_STRING, SETTING (min_free), .key = "broker/min-free",
     .env = "MAILBUS_MIN_FREE", .dflt = DEFAULT_MIN_FREE, .arg = "SIZE|N%",
     .help = "refuse publishing (452 4.3.1) while the database's disk has less\n"
             "free than this: bytes (200M, 1G) or a percentage (5%); 0: only\n"
             "when full (default {default}); deleting always works"},
    {.name = "reserve", .kind = OPTION_NUMBER, SETTING (reserve), .key = "broker/reserve",
     .env = "MAILBUS_RESERVE", .dflt_number = SPACE_DEFAULT_RESERVE, .min = 0, .max = 1LL << 30,
     .unit = "bytes", .arg = "BYTES",
     .help = "the reserve file beside the database, given back when the disk\n"
             "is full so deleting goes on (default {default}; 0: none)"},
    {.name = "no-demo", .kind = OPTION_FLAG, SETTING (no_demo), .key = "broker/demo", .config_negated = true,
     .help = "do not create the demo mailboxes on first start"},
    {.name = "verbose", .letter = 'v', .kind = OPTION_FLAG, SETTING (verbose),
     .help = "log every message (debug)"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = "password", .kind = OPTION_SECRET, SETTING (password), .arg = "P",
     .help = "the password for add / passwd",
     .heading = "\nMailbox commands (work whether the broker runs or not; while it runs they go through its\n"
                "admin socket, DB.admin beside the database, or $XDG_RUNTIME_DIR/mailbus/ (else\n"
                "/tmp/mailbus-UID/) when that path is too long for a socket; the start log line names "
                "it):\n"},
    {.name = "password-stdin", .kind = OPTION_FLAG, SETTING (password_stdin),
     .help = "read the password from standard input (keeps it out of ps)"},
    {.name = "role", .kind = OPTION_STRING, SETTING (role), .arg = "ROLE",
     .help = "for add: user (default) or gateway (may send as any sender)"},
    {.name = "keep", .kind = OPTION_STRING, SETTING (keep), .arg = "N",
     .help = "mailbox retention: keep at most N messages (0: no limit)"},
    {.name = "max-age", .kind = OPTION_STRING, SETTING (max_age), .arg = "SECONDS",
     .help = "mailbox retention: delete messages older than this (0: no limit)"},
    /* "--open | --closed" share one line of the help */
    {.name = "open", .kind = OPTION_FLAG, SETTING (closed), .clears = true, .arg = "| --closed",
     .help = "list add: anyone may subscribe (default) / only the admin adds members",
     .heading = "\nList topics: mailbus-broker list add|del|members LIST, list subscribe|unsubscribe LIST "
                "MEMBER\n"},
    {.name = "closed", .kind = OPTION_FLAG, SETTING (closed)},
    {.name = "posting", .kind = OPTION_STRING, SETTING (posting), .arg = "WHO",
     .help = "list add: members (default) or anyone may publish to it"},
    {.name = "filter", .kind = OPTION_STRING, SETTING (filter), .arg = "HEADER:GLOB",
     .help = "list subscribe: deliver only messages whose header matches"},
    {.name = NULL},
};
// clang-format on

static const options_spec_t s_spec = {
    .options = s_options,
    .usage =
        "Usage: mailbus-broker [OPTIONS]                     run the broker (foreground)\n"
        "       mailbus-broker mailbox add|del|list|passwd|retention [ADDRESS] [OPTIONS]\n"
        "       mailbus-broker list add|del|members|subscribe|unsubscribe LIST [MEMBER] [OPTIONS]\n"
        "       mailbus-broker mailbox key add|del|list ADDRESS [PUBKEY]   keys that log in without a "
        "password\n"
        "       mailbus-broker queue [list | flush | del ID]          the outbound (relay) queue, like "
        "mailq\n"
        "       mailbus-broker key                                    print the broker's public key (for "
        "--server-key)\n"
        "       mailbus-broker status                                 uptime, sessions, queue, WAL, free "
        "space, refusals\n"
        "\n"
        "A durable mailbox broker: publishers SEND mail to mailbox topics, subscribers pull it,\n"
        "everything kept in one SQLite file until its owner deletes it.\n"
        "\n",
    .epilogue =
        "\n"
        "Exit status: 0 success (the broker stopped cleanly; a command was accepted); 1 a failure or\n"
        "a refused command (its reply says why); 64 usage error; 75 another broker holds the database,\n"
        "or the running broker did not answer a command (try again).\n"
        "\n"
        "Examples:\n"
        "  mailbus-broker                                   # demo: alice, bob, carol@demo.test / demo\n"
        "  mailbus-broker --db /srv/mail.db --domain example.org\n"
        "  mailbus-broker --bind tcp://127.0.0.1:5670 --bind tcp://0.0.0.0:5670   # a class on a LAN\n"
        "  mailbus-broker key                               # what students pass as --server-key\n"
        "  mailbus-broker mailbox key add bob@demo.test bob.key   # bob may log in with his key file\n"
        "  echo s3cret | mailbus-broker mailbox add dave@demo.test --password-stdin\n"
        "  mailbus-broker mailbox list\n"
        "  mailbus-broker list add news@demo.test --posting anyone\n"
        "  mailbus-broker list subscribe news@demo.test bob@demo.test --filter 'subject:*release*'\n",
    .prefix = "error: ",
    .getopt_messages = true,
};

/* `mailbus-broker key`: the public key, and the line a student types to connect with it */
static int
s_print_key (const char *db, const char *const *binds)
{
    /* made here when the broker has not run yet: the lecturer hands it out before class. The
       line is quoted for a shell: Z85 holds $ > < & ( ) but never ' */
    char *error = NULL;
    char *dir = strdup (db);
    char *slash = strrchr (dir, '/');
    if (slash) {
        *slash = '\0';
        mkdir (dir, 0700);
    }
    free (dir);
    zcert_t *cert = keys_load (db, true, &error);
    if (!cert) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 1;
    }
    /* a bound LAN address is what students connect to; a wildcard (0.0.0.0, *, ::) is not */
    const char *wide = NULL;
    for (const char *const *b = binds; *b && !wide; b++) {
        endpoint_t endpoint;
        const char *why = NULL;
        if (endpoint_parse (*b, &endpoint, &why) == 0 && !endpoint.loopback &&
            !streq (endpoint.host, "0.0.0.0") && !streq (endpoint.host, "*") && !streq (endpoint.host, "::"))
            wide = *b;
    }
    printf ("%s\n", zcert_public_txt (cert));
    fprintf (stderr,
             "# the broker's public key (%s); on another machine connect with:\n"
             "#   mailbus-sub -b %s --server-key '%s' -u USER@DOMAIN watch\n",
             db, wide ? wide : "tcp://BROKER-ADDRESS:5670", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

/* The gateway's own identity for the demo: a random password in <db dir>/gateway.secret (0600),
   which mailbus-gateway reads by default */
static int
s_create_gateway_identity (store_t *store, const char *db, const char *address)
{
    unsigned char random[24];
    char password[2 * sizeof random + 1], hash[AUTH_HASH_BYTES];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (password, sizeof password, random, sizeof random);
    char *error = NULL;
    if (auth_hash (password, hash) != 0 || store_mailbox_add (store, address, hash, "gateway", &error) != 0) {
        free (error);
        return -1;
    }
    const char *slash = strrchr (db, '/');
    char *path =
        slash ? zsys_sprintf ("%.*s/gateway.secret", (int)(slash - db), db) : strdup ("gateway.secret");
    mode_t old = umask (0077);
    FILE *file = fopen (path, "w");
    umask (old);
    int rc = file && fprintf (file, "%s %s\n", address, password) > 0 ? 0 : -1;
    if (file && fclose (file) != 0)
        rc = -1;
    sodium_memzero (password, sizeof password);
    free (path);
    return rc;
}

static int
s_create_demo (store_t *store, const char *db, const char *const *domains)
{
    bool serves_demo = false;
    for (const char *const *d = domains; *d; d++)
        serves_demo |= streq (*d, DEFAULT_DOMAIN);
    if (!serves_demo || store_mailbox_count (store) != 0)
        return 0;
    const char *names[] = {"alice@demo.test", "bob@demo.test", "carol@demo.test"};
    if (store_begin (store) != 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        char hash[AUTH_HASH_BYTES];
        char *error = NULL;
        if (auth_hash (DEMO_PASSWORD, hash) != 0 ||
            store_mailbox_add (store, names[i], hash, "user", &error) != 0) {
            free (error);
            store_rollback (store);
            return -1;
        }
    }
    if (s_create_gateway_identity (store, db, "gateway@" DEFAULT_DOMAIN) != 0) {
        store_rollback (store);
        return -1;
    }
    if (store_commit (store, NULL) != 0)
        return -1;
    printf ("mailbus: created the demo domain " DEFAULT_DOMAIN
            ": alice@demo.test, bob@demo.test, carol@demo.test, password '" DEMO_PASSWORD "'\n"
            "mailbus: the gateway's identity gateway@" DEFAULT_DOMAIN
            " has its password in gateway.secret beside the database\n");
    return 0;
}

/* The running broker: its settings, and what it opens in order (torn down in reverse) */
typedef struct {
    settings_t settings;
    options_t *options;
    zconfig_t *config;
    int lock;
    store_t *store;
    zcert_t *cert;
    char *admin;
    server_config_t server_config; /* what the server actor is given: kept while it runs */
    server_args_t server_args;
    zactor_t *server;
    /* broker.ticket_key beside the database */
    uint8_t ticket_key[TICKET_KEY_BYTES];
} broker_t;

/* Options, then the config file they name, then what neither gave. Returns OPTIONS_GO_ON or
   the exit status. */
static int
s_read_settings (broker_t *self, int argc, char *argv[])
{
    self->options = options_new (&s_spec, &self->settings);
    int status = options_parse (self->options, argc, argv);
    if (status != OPTIONS_GO_ON)
        return status;
    if (self->settings.verbose)
        log_set_level (LOGLEVEL_DEBUG);
    if (sodium_init () < 0) {
        fprintf (stderr, "error: libsodium failed to initialise\n");
        return 70;
    }
    char *error = NULL;
    self->config = config_load (self->settings.config, &error);
    if (!self->config) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return OPTIONS_USAGE;
    }
    return options_resolve (self->options, self->config);
}

/* `mailbus-broker mailbox key add|del|list ADDRESS [PUBKEY]` */
static int
s_run_key_command (const settings_t *s, int words, char **argv)
{
    if (words > 5) {
        fprintf (stderr, "error: mailbox key add|del ADDRESS PUBKEY, or mailbox key list ADDRESS\n");
        return OPTIONS_USAGE;
    }
    admin_args_t args = {.db = s->db,
                         .object = "mailbox",
                         .command = "key",
                         .key_command = words > 2 ? argv[2] : NULL,
                         .address = words > 3 ? argv[3] : NULL,
                         .member = words > 4 ? argv[4] : NULL,
                         .synchronous_full = streq (s->synchronous, "full")};
    return admin_main (&args);
}

/* key, mailbox ..., list ..., queue ...: argv holds the words of the command */
static int
s_run_command (const settings_t *s, int words, char **argv)
{
    const char *object = argv[0];
    if (streq (object, "key")) {
        if (words == 1)
            return s_print_key (s->db, s->binds);
        fprintf (stderr, "error: key takes no arguments (it prints the broker's public key)\n");
        return OPTIONS_USAGE;
    }
    if (streq (object, "status")) {
        if (words == 1)
            return admin_main (&(admin_args_t){.db = s->db, .object = "status"});
        fprintf (stderr, "error: status takes no arguments (it shows the running broker's figures)\n");
        return OPTIONS_USAGE;
    }
    if (words > 1 && streq (object, "mailbox") && streq (argv[1], "key"))
        return s_run_key_command (s, words, argv);
    if ((streq (object, "mailbox") && words >= 2 && words <= 3) ||
        (streq (object, "list") && words >= 3 && words <= 4) || (streq (object, "queue") && words <= 3)) {
        admin_args_t args = {.db = s->db,
                             .object = object,
                             .command = words > 1 ? argv[1] : NULL,
                             .address = words > 2 ? argv[2] : NULL,
                             .member = words > 3 ? argv[3] : NULL,
                             .filter = s->filter,
                             .closed = s->closed,
                             .posting = s->posting,
                             .password = s->password,
                             .password_stdin = s->password_stdin,
                             .synchronous_full = streq (s->synchronous, "full"),
                             .role = s->role,
                             .keep = s->keep,
                             .max_age = s->max_age};
        return admin_main (&args);
    }
    fprintf (stderr,
             "error: unexpected '%s' (commands: mailbox add|del|list|passwd|retention|key, list "
             "add|del|members|subscribe|unsubscribe, queue [flush|del ID], key, status); see --help\n",
             object);
    return OPTIONS_USAGE;
}

/* What only the commands take, and endpoints that do not parse, are usage errors */
static int
s_check_broker_settings (const settings_t *s)
{
    if (s->password || s->password_stdin || s->role || s->posting || s->filter || s->closed || s->keep ||
        s->max_age) {
        fprintf (stderr, "error: --password, --role, --posting, --filter and --closed go with the mailbox "
                         "and list commands\n");
        return OPTIONS_USAGE;
    }
    int64_t bytes;
    double percent;
    const char *why = NULL;
    if (space_min_free_parse (s->min_free, &bytes, &percent, &why) != 0) {
        fprintf (stderr, "error: --min-free %s: %s\n", s->min_free, why);
        return OPTIONS_USAGE;
    }
    for (const char *const *bind = s->binds; *bind; bind++) {
        endpoint_t endpoint;
        if (endpoint_parse (*bind, &endpoint, &why) != 0) {
            fprintf (stderr, "error: --bind %s: %s\n", *bind, why);
            return OPTIONS_USAGE;
        }
    }
    return OPTIONS_GO_ON;
}

/* The database, its lock, the demo domain, the CURVE key, the admin endpoint. Returns
   OPTIONS_GO_ON or the exit status. */
static int
s_open_store (broker_t *self)
{
    const settings_t *s = &self->settings;
    self->lock = admin_lock (s->db);
    if (self->lock == ADMIN_LOCK_ERROR)
        return 1;
    if (self->lock < 0) {
        fprintf (stderr, "error: another broker is running on %s (it holds %s.lock)\n", s->db, s->db);
        return 75;
    }
    char *error = NULL;
    self->store = store_open (s->db, streq (s->synchronous, "full"), &error);
    if (!self->store) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 1;
    }
    if (store_checkpoint_in_background (self->store) != 0)
        log_warn ("broker", "no-checkpointer", "why=\"WAL checkpoints run in line\"");
    int recounted = store_recount (self->store);
    if (recounted < 0)
        log_warn ("broker", "recount-failed", "error=\"%s\"", store_error (self->store));
    else if (recounted > 0)
        log_warn ("broker", "recounted", "mailboxes=%d why=\"counters did not match the deliveries\"",
                  recounted);
    if (!s->no_demo && s_create_demo (self->store, s->db, s->domains) != 0)
        fprintf (stderr, "warning: could not create the demo mailboxes: %s\n", store_error (self->store));
    return OPTIONS_GO_ON;
}

/* The CURVE key (made on the first start, whatever the endpoints: a lecturer may widen them
   later), the admin endpoint and the server's sockets */
static int
s_start_server (broker_t *self)
{
    const settings_t *s = &self->settings;
    char *error = NULL;
    self->cert = keys_load (s->db, true, &error);
    if (!self->cert) {
        log_warn ("broker", "no-curve-key", "why=\"%s\"", error);
        free (error);
        error = NULL;
    }
    /* tickets survive a restart with their key; without it, each run makes its own */
    bool ticket_key = ticket_key_load (s->db, self->ticket_key, &error) == 0;
    if (!ticket_key) {
        log_warn ("broker", "no-ticket-key", "why=\"%s\" tickets=\"this run only\"", error);
        zstr_free (&error);
    }
    self->admin = admin_endpoint (s->db, &error);
    if (self->admin) {
        self->server_config = (server_config_t){.binds = s->binds,
                                                .cert = self->cert,
                                                .curve_always = streq (s->curve, "always"),
                                                .admin_endpoint = self->admin,
                                                .domains = s->domains,
                                                .max_message_bytes = (size_t)s->max_message,
                                                .relay = streq (s->relay, "yes"),
                                                .queue_max_age = s->queue_max_age,
                                                .retry_base = s->retry_base,
                                                .dedupe_window = s->dedupe_window,
                                                .db_path = s->db,
                                                .reserve_bytes = s->reserve,
                                                .min_free = s->min_free};
        self->server_config.ticket_key = ticket_key ? self->ticket_key : NULL;
        self->server_config.ticket_lifetime = s->ticket_lifetime ? s->ticket_lifetime : -1;
        self->server_args = (server_args_t){.config = &self->server_config, .store = self->store};
        self->server = zactor_new (server_actor, &self->server_args);
        error = server_actor_error (self->server);
    }
    if (error) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 1;
    }
    return OPTIONS_GO_ON;
}

/* list joined with sep into buffer, cut to its size */
static void
s_join (const char *const *list, const char *sep, char *buffer, size_t size)
{
    buffer[0] = '\0';
    for (size_t i = 0; list[i]; i++)
        snprintf (buffer + strlen (buffer), size - strlen (buffer), "%s%s", i ? sep : "", list[i]);
}

static void
s_say_started (const broker_t *self)
{
    const settings_t *s = &self->settings;
    char domain_list[512], bind_list[SERVER_MAX_BINDS * 64];
    s_join (s->domains, ",", domain_list, sizeof domain_list);
    s_join (s->binds, " ", bind_list, sizeof bind_list);
    log_info ("broker", "started", "bind=\"%s\" db=%s domains=%s synchronous=%s admin=%s curve-key=%s",
              bind_list, s->db, domain_list, s->synchronous, self->admin,
              self->cert ? zcert_public_txt (self->cert) : "-");
    printf ("mailbus-broker listening on %s, store %s, domains %s\n", bind_list, s->db, domain_list);
    fflush (stdout);
}

/* Closes what is open, in reverse order; safe to call twice */
static void
s_teardown (broker_t *self)
{
    zactor_destroy (&self->server); /* $TERM: the batch in flight is committed and answered first */
    store_close (&self->store);
    zcert_destroy (&self->cert);
    sodium_memzero (self->ticket_key, sizeof self->ticket_key);
    zstr_free (&self->admin);
    if (self->lock >= 0)
        close (self->lock);
    self->lock = -1;
    options_destroy (&self->options);
    zconfig_destroy (&self->config);
}

/* Runs the broker until SIGINT/SIGTERM; returns the exit status */
static int
s_run_broker (broker_t *self)
{
    int status = s_check_broker_settings (&self->settings);
    if (status == OPTIONS_GO_ON)
        status = s_open_store (self);
    if (status == OPTIONS_GO_ON)
        status = s_start_server (self);
    if (status != OPTIONS_GO_ON)
        return status;
    s_say_started (self);
    if (!zsys_interrupted)
        zsock_wait (self->server); /* until SIGINT/SIGTERM (CZMQ's handler), or the server's end */
    s_teardown (self);
    log_info ("broker", "stopped", NULL);
    return 0;
}

int
main (int argc, char *argv[])
{
    /* DESIGN: files under var/ are the owner's alone (the database holds every message and
       every password hash); whatever this process creates is 0600 or 0700 */
    umask (0077);
    log_init ();
    broker_t broker = {.lock = -1};
    int status = s_read_settings (&broker, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = optind < argc ? s_run_command (&broker.settings, argc - optind, argv + optind)
                               : s_run_broker (&broker);
    s_teardown (&broker);
    return status;
}
