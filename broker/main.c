/*  main.c — mailbus-broker: options, config, the demo domain, and either the broker
    itself or the mailbox admin commands. */
#include <czmq.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "argv_scrub.h"
#include "auth.h"
#include "config.h"
#include "endpoint.h"
#include "keys.h"
#include "log.h"
#include "mb_limits.h"
#include "server.h"
#include "store.h"

#define DEFAULT_DB "var/mailbus.db"
#define DEFAULT_BIND "tcp://127.0.0.1:5670"
#define DEFAULT_DOMAIN "demo.test"
#define DEMO_PASSWORD "demo"
#define MAX_DOMAINS 32

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "Usage: mailbus-broker [OPTIONS]                     run the broker (foreground)\n"
        "       mailbus-broker mailbox add|del|list|passwd|retention [ADDRESS] [OPTIONS]\n"
        "       mailbus-broker list add|del|members|subscribe|unsubscribe LIST [MEMBER] [OPTIONS]\n"
        "       mailbus-broker mailbox key add|del|list ADDRESS [PUBKEY]   keys that log in without a "
        "password\n"
        "       mailbus-broker queue [list | flush | del ID]          the outbound (relay) queue, like "
        "mailq\n"
        "       mailbus-broker key                                    print the broker's public key (for "
        "--server-key)\n"
        "\n"
        "A durable mailbox broker: publishers SEND mail to mailbox topics, subscribers pull it,\n"
        "everything kept in one SQLite file until its owner deletes it.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE          read settings from a ZPL file (see docs/mailbus.cfg)\n"
        "      --db PATH              the SQLite database (default " DEFAULT_DB ")\n"
        "      --bind ENDPOINT        client endpoint, repeatable (default " DEFAULT_BIND "); beyond\n"
        "                             loopback (tcp://0.0.0.0:5670, tcp://192.168.1.5:5670, "
        "tcp://[::]:5670)\n"
        "                             always with CURVE: clients need the key `mailbus-broker key` prints\n"
        "      --curve auto|always    auto (default): CURVE beyond loopback only; always: on every endpoint\n"
        "      --domain DOMAIN        a domain this broker serves; repeatable (default " DEFAULT_DOMAIN ")\n"
        "      --max-message-size N   largest message in bytes (default %d)\n"
        "      --relay yes|no         queue mail for other domains from identified users (default yes)\n"
        "      --queue-max-age S      seconds a relayed message may wait before it bounces (default 5 days)\n"
        "      --retry-base S         seconds before the first relay retry, doubling (default 60)\n"
        "      --dedupe-window S      seconds a Message-ID is remembered for dedupe (default 7 days)\n"
        "      --synchronous MODE     full (default: an ack survives power loss) or normal\n"
        "      --no-demo              do not create the demo mailboxes on first start\n"
        "  -v, --verbose              log every message (debug)\n"
        "  -h, --help                 this help\n"
        "\n"
        "Mailbox commands (work whether the broker runs or not; while it runs they go through its\n"
        "admin socket, DB.admin beside the database, or $XDG_RUNTIME_DIR/mailbus/ (else\n"
        "/tmp/mailbus-UID/) when that path is too long for a socket; the start log line names it):\n"
        "      --password P           the password for add / passwd\n"
        "      --password-stdin       read the password from standard input (keeps it out of ps)\n"
        "      --role ROLE            for add: user (default) or gateway (may send as any sender)\n"
        "      --keep N               mailbox retention: keep at most N messages (0: no limit)\n"
        "      --max-age SECONDS      mailbox retention: delete messages older than this (0: no limit)\n"
        "\n"
        "List topics: mailbus-broker list add|del|members LIST, list subscribe|unsubscribe LIST MEMBER\n"
        "      --open | --closed      list add: anyone may subscribe (default) / only the admin adds "
        "members\n"
        "      --posting WHO          list add: members (default) or anyone may publish to it\n"
        "      --filter HEADER:GLOB   list subscribe: deliver only messages whose header matches\n"
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
        MAX_MESSAGE_BYTES);
}

static int
s_parse_seconds (const char *option, const char *text, int64_t *value)
{
    char *end = NULL;
    long long n = strtoll (text, &end, 10);
    if (!end || *end || end == text || n < 1 || n > 365LL * 24 * 3600) {
        fprintf (stderr, "error: %s takes a number of seconds from 1 to 31536000\n", option);
        return -1;
    }
    *value = n;
    return 0;
}

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

int
main (int argc, char *argv[])
{
    enum {
        OPT_DB = 256,
        OPT_BIND,
        OPT_DOMAIN,
        OPT_MAXSIZE,
        OPT_SYNC,
        OPT_NODEMO,
        OPT_PASSWORD,
        OPT_PASSWORD_STDIN,
        OPT_ROLE,
        OPT_OPEN,
        OPT_CLOSED,
        OPT_POSTING,
        OPT_FILTER,
        OPT_KEEP,
        OPT_MAX_AGE,
        OPT_RELAY,
        OPT_QUEUE_MAX_AGE,
        OPT_RETRY_BASE,
        OPT_DEDUPE_WINDOW,
        OPT_CURVE
    };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, OPT_DB},
        {"bind", required_argument, NULL, OPT_BIND},
        {"domain", required_argument, NULL, OPT_DOMAIN},
        {"max-message-size", required_argument, NULL, OPT_MAXSIZE},
        {"synchronous", required_argument, NULL, OPT_SYNC},
        {"no-demo", no_argument, NULL, OPT_NODEMO},
        {"password", required_argument, NULL, OPT_PASSWORD},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"role", required_argument, NULL, OPT_ROLE},
        {"open", no_argument, NULL, OPT_OPEN},
        {"closed", no_argument, NULL, OPT_CLOSED},
        {"posting", required_argument, NULL, OPT_POSTING},
        {"filter", required_argument, NULL, OPT_FILTER},
        {"keep", required_argument, NULL, OPT_KEEP},
        {"max-age", required_argument, NULL, OPT_MAX_AGE},
        {"relay", required_argument, NULL, OPT_RELAY},
        {"queue-max-age", required_argument, NULL, OPT_QUEUE_MAX_AGE},
        {"retry-base", required_argument, NULL, OPT_RETRY_BASE},
        {"dedupe-window", required_argument, NULL, OPT_DEDUPE_WINDOW},
        {"curve", required_argument, NULL, OPT_CURVE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *db = NULL, *maxsize = NULL, *sync_mode = NULL, *curve = NULL;
    const char *binds[SERVER_MAX_BINDS + 1] = {NULL};
    size_t bind_count = 0;
    char **config_binds = NULL;
    char *password_copy = NULL;
    const char *password = NULL, *role = NULL, *posting = NULL, *filter = NULL;
    const char *keep = NULL, *max_age = NULL, *relay = NULL, *queue_max_age = NULL, *retry_base = NULL;
    const char *dedupe_window = NULL;
    bool closed = false;
    const char *domains[MAX_DOMAINS + 1] = {NULL};
    size_t domain_count = 0;
    bool no_demo = false, password_stdin = false;
    /* DESIGN: files under var/ are the owner's alone (the database holds every message and
       every password hash); whatever this process creates is 0600 or 0700 */
    umask (0077);
    log_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, "c:vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case OPT_DB:
            db = optarg;
            break;
        case OPT_BIND:
            if (bind_count == SERVER_MAX_BINDS) {
                fprintf (stderr, "error: at most %d --bind endpoints\n", SERVER_MAX_BINDS);
                return 64;
            }
            binds[bind_count++] = optarg;
            break;
        case OPT_CURVE:
            curve = optarg;
            break;
        case OPT_DOMAIN:
            if (domain_count == MAX_DOMAINS) {
                fprintf (stderr, "error: at most %d domains\n", MAX_DOMAINS);
                return 64;
            }
            domains[domain_count++] = optarg;
            break;
        case OPT_MAXSIZE:
            maxsize = optarg;
            break;
        case OPT_SYNC:
            sync_mode = optarg;
            break;
        case OPT_NODEMO:
            no_demo = true;
            break;
        case OPT_PASSWORD:
            /* copied, and overwritten in argv: ps shows "--password *" (common/argv_scrub.h) */
            argv_secret_free (&password_copy);
            password_copy = argv_take_secret (optarg);
            password = password_copy;
            break;
        case OPT_PASSWORD_STDIN:
            password_stdin = true;
            break;
        case OPT_ROLE:
            role = optarg;
            break;
        case OPT_OPEN:
            closed = false;
            break;
        case OPT_CLOSED:
            closed = true;
            break;
        case OPT_POSTING:
            posting = optarg;
            break;
        case OPT_FILTER:
            filter = optarg;
            break;
        case OPT_KEEP:
            keep = optarg;
            break;
        case OPT_RELAY:
            relay = optarg;
            break;
        case OPT_QUEUE_MAX_AGE:
            queue_max_age = optarg;
            break;
        case OPT_DEDUPE_WINDOW:
            dedupe_window = optarg;
            break;
        case OPT_RETRY_BASE:
            retry_base = optarg;
            break;
        case OPT_MAX_AGE:
            max_age = optarg;
            break;
        case 'v':
            log_set_level (LOGLEVEL_DEBUG);
            break;
        case 'h':
            s_usage (stdout);
            return 0;
        default:
            s_usage (stderr);
            return 64;
        }
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "error: libsodium failed to initialise\n");
        return 70;
    }
    char *error = NULL;
    zconfig_t *config = config_load (config_path, &error);
    if (!config) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        return 64;
    }
    int status = 64;
    char **config_domains = NULL;
    db = db ? db : config_get (config, "broker/db", DEFAULT_DB);
    if (bind_count == 0) {
        config_binds = config_words (config_get (config, "broker/bind", DEFAULT_BIND));
        for (char **b = config_binds; *b && bind_count < SERVER_MAX_BINDS; b++)
            binds[bind_count++] = *b;
    }
    curve = curve ? curve : config_get (config, "broker/curve", "auto");
    if (!streq (curve, "auto") && !streq (curve, "always")) {
        fprintf (stderr, "error: --curve takes auto or always, not '%s'\n", curve);
        goto out;
    }
    maxsize = maxsize ? maxsize : config_get (config, "broker/max-message-size", NULL);
    relay = relay ? relay : config_get (config, "broker/relay", "yes");
    queue_max_age = queue_max_age ? queue_max_age : config_get (config, "broker/queue-max-age", NULL);
    retry_base = retry_base ? retry_base : config_get (config, "broker/retry-base", NULL);
    dedupe_window = dedupe_window ? dedupe_window : config_get (config, "broker/dedupe-window", NULL);
    if (!streq (relay, "yes") && !streq (relay, "no")) {
        fprintf (stderr, "error: --relay takes yes or no, not '%s'\n", relay);
        goto out;
    }
    int64_t queue_age = DEFAULT_QUEUE_MAX_AGE, retry_delay = DEFAULT_RETRY_BASE,
            window = DEFAULT_DEDUPE_WINDOW;
    if ((queue_max_age && s_parse_seconds ("--queue-max-age", queue_max_age, &queue_age) != 0) ||
        (retry_base && s_parse_seconds ("--retry-base", retry_base, &retry_delay) != 0) ||
        (dedupe_window && s_parse_seconds ("--dedupe-window", dedupe_window, &window) != 0))
        goto out;
    sync_mode = sync_mode ? sync_mode : config_get (config, "broker/synchronous", "full");
    no_demo = no_demo || streq (config_get (config, "broker/demo", "yes"), "no");
    if (domain_count == 0) {
        config_domains = config_words (config_get (config, "broker/domains", DEFAULT_DOMAIN));
        for (char **d = config_domains; *d && domain_count < MAX_DOMAINS; d++)
            domains[domain_count++] = *d;
    }
    if (!streq (sync_mode, "full") && !streq (sync_mode, "normal")) {
        fprintf (stderr, "error: --synchronous takes full or normal, not '%s'\n", sync_mode);
        goto out;
    }
    bool synchronous_full = streq (sync_mode, "full");
    size_t max_message = MAX_MESSAGE_BYTES;
    if (maxsize) {
        char *end = NULL;
        long long n = strtoll (maxsize, &end, 10);
        if (!end || *end || n < 1024 || n > 256LL * 1024 * 1024) {
            fprintf (stderr, "error: --max-message-size takes a number of bytes from 1024 to 268435456\n");
            goto out;
        }
        max_message = (size_t)n;
    }

    /* mailbox add|del|list|passwd, list add|del|members|subscribe|unsubscribe */
    if (optind < argc && streq (argv[optind], "key")) {
        status = argc - optind == 1 ? s_print_key (db, binds) : 64;
        if (status == 64)
            fprintf (stderr, "error: key takes no arguments (it prints the broker's public key)\n");
        goto out;
    }
    bool key_command =
        optind + 1 < argc && streq (argv[optind], "mailbox") && streq (argv[optind + 1], "key");
    if (key_command) {
        int words = argc - optind;
        admin_args_t args = {.db = db,
                             .object = "mailbox",
                             .command = "key",
                             .key_command = words > 2 ? argv[optind + 2] : NULL,
                             .address = words > 3 ? argv[optind + 3] : NULL,
                             .member = words > 4 ? argv[optind + 4] : NULL,
                             .synchronous_full = synchronous_full};
        status = words <= 5 ? admin_main (&args) : 64;
        if (words > 5)
            fprintf (stderr, "error: mailbox key add|del ADDRESS PUBKEY, or mailbox key list ADDRESS\n");
        goto out;
    }
    if (optind < argc) {
        const char *object = argv[optind];
        int words = argc - optind;
        if ((streq (object, "mailbox") && words >= 2 && words <= 3) ||
            (streq (object, "list") && words >= 3 && words <= 4) || (streq (object, "queue") && words <= 3)) {
            admin_args_t args = {
                .db = db,
                .object = object,
                .command = words > 1 ? argv[optind + 1] : NULL,
                .address = words > 2 ? argv[optind + 2] : NULL,
                .member = words > 3 ? argv[optind + 3] : NULL,
                .filter = filter,
                .closed = closed,
                .posting = posting,
                .password = password,
                .password_stdin = password_stdin,
                .synchronous_full = synchronous_full,
                .role = role,
                .keep = keep,
                .max_age = max_age,
            };
            status = admin_main (&args);
        }
        else
            fprintf (stderr,
                     "error: unexpected '%s' (commands: mailbox add|del|list|passwd|retention|key, list "
                     "add|del|members|subscribe|unsubscribe, queue [flush|del ID], key); see --help\n",
                     argv[optind]);
        goto out;
    }
    if (password || password_stdin || role || posting || filter || closed || keep || max_age) {
        fprintf (stderr, "error: --password, --role, --posting, --filter and --closed go with the mailbox "
                         "and list commands\n");
        goto out;
    }
    for (size_t i = 0; i < bind_count; i++) {
        endpoint_t endpoint;
        const char *why = NULL;
        if (endpoint_parse (binds[i], &endpoint, &why) != 0) {
            fprintf (stderr, "error: --bind %s: %s\n", binds[i], why);
            goto out;
        }
    }

    int lock = admin_lock (db);
    if (lock == ADMIN_LOCK_ERROR) {
        status = 1;
        goto out;
    }
    if (lock < 0) {
        fprintf (stderr, "error: another broker is running on %s (it holds %s.lock)\n", db, db);
        status = 75;
        goto out;
    }
    store_t *store = store_open (db, synchronous_full, &error);
    if (!store) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        close (lock);
        status = 1;
        goto out;
    }
    if (store_checkpoint_in_background (store) != 0)
        log_warn ("broker", "no-checkpointer", "why=\"WAL checkpoints run in line\"");
    int recounted = store_recount (store);
    if (recounted < 0)
        log_warn ("broker", "recount-failed", "error=\"%s\"", store_error (store));
    else if (recounted > 0)
        log_warn ("broker", "recounted", "mailboxes=%d why=\"counters did not match the deliveries\"",
                  recounted);
    if (!no_demo && s_create_demo (store, db, domains) != 0)
        fprintf (stderr, "warning: could not create the demo mailboxes: %s\n", store_error (store));

    /* made on the first start, whatever the endpoints: a lecturer may widen them later */
    zcert_t *cert = keys_load (db, true, &error);
    if (!cert) {
        log_warn ("broker", "no-curve-key", "why=\"%s\"", error);
        free (error);
        error = NULL;
    }
    char *admin = admin_endpoint (db, &error);
    if (!admin) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        store_close (&store);
        zcert_destroy (&cert);
        close (lock);
        status = 1;
        goto out;
    }
    server_config_t server_config = {.binds = binds,
                                     .cert = cert,
                                     .curve_always = streq (curve, "always"),
                                     .admin_endpoint = admin,
                                     .domains = domains,
                                     .max_message_bytes = max_message,
                                     .relay = streq (relay, "yes"),
                                     .queue_max_age = queue_age,
                                     .retry_base = retry_delay,
                                     .dedupe_window = window};
    server_args_t server_args = {.config = &server_config, .store = store};
    zactor_t *server = zactor_new (server_actor, &server_args);
    error = server_actor_error (server);
    if (error) {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        zactor_destroy (&server);
        store_close (&store);
        zcert_destroy (&cert);
        free (admin);
        close (lock);
        status = 1;
        goto out;
    }
    char domain_list[512] = "";
    for (size_t i = 0; i < domain_count; i++)
        snprintf (domain_list + strlen (domain_list), sizeof domain_list - strlen (domain_list), "%s%s",
                  i ? "," : "", domains[i]);
    char bind_list[SERVER_MAX_BINDS * 64] = "";
    for (size_t i = 0; i < bind_count; i++)
        snprintf (bind_list + strlen (bind_list), sizeof bind_list - strlen (bind_list), "%s%s", i ? " " : "",
                  binds[i]);
    log_info ("broker", "started", "bind=\"%s\" db=%s domains=%s synchronous=%s admin=%s curve-key=%s",
              bind_list, db, domain_list, sync_mode, admin, cert ? zcert_public_txt (cert) : "-");
    printf ("mailbus-broker listening on %s, store %s, domains %s\n", bind_list, db, domain_list);
    fflush (stdout);

    if (!zsys_interrupted)
        zsock_wait (server);  /* until SIGINT/SIGTERM (CZMQ's handler), or the server's end */
    zactor_destroy (&server); /* $TERM: the batch in flight is committed and answered first */
    store_close (&store);
    zcert_destroy (&cert);
    free (admin);
    close (lock);
    log_info ("broker", "stopped", NULL);
    status = 0;
out:
    argv_secret_free (&password_copy);
    config_words_free (&config_domains);
    config_words_free (&config_binds);
    zconfig_destroy (&config);
    return status;
}
