/*  bench_login.c — mailbus-bench-login: the login storm. Starts its own broker on a temporary
    store with CLIENTS mailboxes, then CLIENTS clients of the in-tree client library (one thread
    each) identify at once with their passwords (Argon2id at the broker's cost, so most are told
    421 and come back with backoff and jitter) and each answers a STAT; then the broker is
    restarted and every client's next STAT finds its session gone (530) and identifies again
    with its resumption ticket. Prints, for each storm, the time until all are serving and the
    p50/p99 of each client's time. Not a test by itself: the meson test `login_storm` runs it
    with --cheap-hashes and bounds; tests/bench/run.sh can run it as a benchmark. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "client.h"
#include "options.h"
#include "proto.h"
#include "reply.h"
#include "store.h"

#define MAX_CLIENTS 4000
#define PASSWORD "storm-password"
#define THREAD_STACK (256 * 1024)

typedef struct {
    int64_t clients;
    const char *broker_bin;
    bool cheap_hashes;
    int64_t timeout_s;
    int64_t max_fresh_s, max_resume_s; /* 0: no bound, figures only */
} settings_t;

#define S_FIELD(field) .offset = offsetof (settings_t, field)

static const option_t s_options[] = {
    {.name = "clients",
     .kind = OPTION_NUMBER,
     S_FIELD (clients),
     .dflt_number = 1000,
     .min = 1,
     .max = MAX_CLIENTS,
     .arg = "N",
     .help = "clients (threads, each its own connection and mailbox; default {default})"},
    {.name = "broker-bin",
     .kind = OPTION_STRING,
     S_FIELD (broker_bin),
     .env = "MAILBUS_BROKER_BIN",
     .arg = "PATH",
     .help = "the mailbus-broker to start (default: ../broker/mailbus-broker beside this program)"},
    {.name = "cheap-hashes",
     .kind = OPTION_FLAG,
     S_FIELD (cheap_hashes),
     .help = "Argon2id at its lowest cost: tests the storm's convergence, not hashing"},
    {.name = "timeout",
     .kind = OPTION_NUMBER,
     S_FIELD (timeout_s),
     .dflt_number = 180,
     .min = 1,
     .max = 3600,
     .arg = "S",
     .help = "each client's timeout, its retry budget too (default {default})"},
    {.name = "max-fresh",
     .kind = OPTION_NUMBER,
     S_FIELD (max_fresh_s),
     .min = 0,
     .max = 3600,
     .arg = "S",
     .help = "exit 1 unless every client serves within S s of the password storm"},
    {.name = "max-resume",
     .kind = OPTION_NUMBER,
     S_FIELD (max_resume_s),
     .min = 0,
     .max = 3600,
     .arg = "S",
     .help = "exit 1 unless every client serves again within S s after the restart"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-bench-login [--clients N] [--cheap-hashes] [--max-fresh S] [--max-resume S]\n"
             "\n"
             "Starts a broker on a temporary store with N mailboxes; N clients identify at once with\n"
             "passwords, then again with their resumption tickets after the broker restarts.\n"
             "\n",
    .epilogue = "\n"
                "Prints one line per storm: storm=fresh|resume clients= served= all_ms= p50_ms= p99_ms=\n"
                "and the broker's counts (HELO 421s, logins by password and by ticket).\n"
                "\n"
                "Example:\n"
                "  build/tests/mailbus-bench-login --clients 1000\n",
    .prefix = "mailbus-bench-login: ",
    .getopt_messages = true,
    .help_column = 26,
};

/* The storm under way: the broker, and one slot per client */
typedef struct {
    const settings_t *settings;
    char dir[64];
    char db[96];
    char log[96];
    char endpoint[64];
    pid_t broker;
    client_t **clients;
    double *ms; /* each client's time to serve in the storm under way; < 0: failed */
    pthread_barrier_t start;
    int64_t started; /* zclock_usecs at the barrier */
    bool resume;     /* the second storm: the clients exist, their sessions do not */
} storm_t;

typedef struct {
    storm_t *storm;
    int index;
} worker_t;

/* ------------------------------------------------------------------ the broker */

/* The mailboxes storm0001@demo.test…, all with one hash made once (a broker checks each HELO
   at the cost written in the hash, whatever the salt): setup in a second, not N × 70 ms */
static int
s_make_store (storm_t *self)
{
    char hash[AUTH_HASH_BYTES];
    int rc = self->settings->cheap_hashes
                 ? crypto_pwhash_str (hash, PASSWORD, strlen (PASSWORD), crypto_pwhash_OPSLIMIT_MIN,
                                      crypto_pwhash_MEMLIMIT_MIN)
                 : auth_hash (PASSWORD, hash);
    char *error = NULL;
    store_t *store = rc == 0 ? store_open (self->db, false, &error) : NULL;
    for (int64_t i = 0; store && i < self->settings->clients; i++) {
        char address[64];
        snprintf (address, sizeof address, "storm%04" PRId64 "@demo.test", i + 1);
        if (store_mailbox_add (store, address, hash, "user", &error) != STORE_OK)
            rc = -1;
    }
    bool ok = store && rc == 0;
    if (!ok)
        fprintf (stderr, "mailbus-bench-login: cannot make the store: %s\n", error ? error : "hash");
    free (error);
    store_close (&store);
    return ok ? 0 : -1;
}

/* A free loopback port: bound and let go (the broker binds it again at once) */
static int
s_free_port (void)
{
    zsock_t *probe = zsock_new (ZMQ_ROUTER);
    int port = zsock_bind (probe, "tcp://127.0.0.1:*");
    zsock_destroy (&probe);
    return port;
}

/* NOOP answered: the broker serves (NOOP needs no session) */
static bool
s_broker_ready (storm_t *self, int timeout_ms)
{
    zsock_t *probe = zsock_new_dealer (self->endpoint);
    zsock_set_linger (probe, 0);
    zsock_set_rcvtimeo (probe, 200);
    bool ready = false;
    for (int64_t end = zclock_mono () + timeout_ms; !ready && zclock_mono () < end;) {
        zstr_sendx (probe, "ready", "NOOP", NULL);
        char *id = NULL, *line = NULL;
        ready = zstr_recvx (probe, &id, &line, NULL) == 2;
        zstr_free (&id);
        zstr_free (&line);
    }
    zsock_destroy (&probe);
    return ready;
}

static int
s_broker_start (storm_t *self)
{
    fflush (NULL);
    self->broker = fork ();
    if (self->broker == 0) {
        FILE *log = freopen (self->log, "a", stderr);
        if (log)
            dup2 (fileno (log), STDOUT_FILENO);
        execl (self->settings->broker_bin, self->settings->broker_bin, "--db", self->db, "--bind",
               self->endpoint, "--no-demo", (char *)NULL);
        fprintf (stderr, "cannot run %s: %s\n", self->settings->broker_bin, strerror (errno));
        _exit (127);
    }
    if (self->broker < 0 || !s_broker_ready (self, 30000)) {
        fprintf (stderr, "mailbus-bench-login: the broker %s did not start (its log: %s)\n",
                 self->settings->broker_bin, self->log);
        return -1;
    }
    return 0;
}

static void
s_broker_stop (storm_t *self)
{
    if (self->broker <= 0)
        return;
    kill (self->broker, SIGTERM);
    waitpid (self->broker, NULL, 0);
    self->broker = 0;
}

/* Lines of the broker's log from offset on that hold every one of the words */
static int
s_log_count (storm_t *self, long offset, const char *word, const char *other)
{
    FILE *log = fopen (self->log, "r");
    int count = 0;
    char line[2048];
    if (log && fseek (log, offset, SEEK_SET) == 0)
        while (fgets (line, sizeof line, log))
            count += strstr (line, word) && (!other || strstr (line, other));
    if (log)
        fclose (log);
    return count;
}

static long
s_log_size (storm_t *self)
{
    FILE *log = fopen (self->log, "r");
    long size = log && fseek (log, 0, SEEK_END) == 0 ? ftell (log) : 0;
    if (log)
        fclose (log);
    return size;
}

/* ------------------------------------------------------------------ the clients */

/* STAT answered 250: this client serves */
static bool
s_serves (client_t *client)
{
    zmsg_t *reply = client_call (client, "STAT", NULL);
    int code = 0;
    bool ok = reply && proto_reply_status (reply, &code, NULL, 0) == 0 && reply_is_success (code);
    zmsg_destroy (&reply);
    return ok;
}

/* One client: waits for all the others, then identifies (fresh: HELO with the password;
   resume: its next request meets 530 and it identifies again with its ticket) and STATs */
static void *
s_worker (void *arg)
{
    worker_t *worker = arg;
    storm_t *self = worker->storm;
    int i = worker->index;
    char address[64], *error = NULL;
    snprintf (address, sizeof address, "storm%04d@demo.test", i + 1);
    pthread_barrier_wait (&self->start);
    if (!self->resume)
        self->clients[i] =
            client_new (self->endpoint, address, PASSWORD, (int)self->settings->timeout_s * 1000, &error);
    bool ok = self->clients[i] && s_serves (self->clients[i]);
    self->ms[i] = ok ? (double)(zclock_usecs () - self->started) / 1000.0 : -1;
    if (error && i < 3)
        fprintf (stderr, "mailbus-bench-login: %s: %s\n", address, error);
    free (error);
    return NULL;
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prints the storm's line; returns how long until every client served (ms), or -1 when one did not */
static double
s_report (storm_t *self, const char *name)
{
    int64_t n = self->settings->clients, served = 0;
    double *sorted = calloc ((size_t)n, sizeof (double));
    for (int64_t i = 0; i < n; i++)
        if (self->ms[i] >= 0)
            sorted[served++] = self->ms[i];
    qsort (sorted, (size_t)served, sizeof (double), s_cmp_double);
    double all = served ? sorted[served - 1] : 0;
    printf ("storm=%s clients=%" PRId64 " served=%" PRId64 " all_ms=%.0f p50_ms=%.0f p99_ms=%.0f\n", name, n,
            served, all, served ? sorted[(served - 1) / 2] : 0,
            served ? sorted[(int64_t)(0.99 * (double)(served - 1))] : 0);
    fflush (stdout);
    free (sorted);
    return served == n ? all : -1;
}

/* All the clients at once, one thread each; how long until every one served (ms), -1 if not */
static double
s_storm (storm_t *self, const char *name)
{
    int64_t n = self->settings->clients;
    pthread_t *threads = calloc ((size_t)n, sizeof (pthread_t));
    worker_t *workers = calloc ((size_t)n, sizeof (worker_t));
    pthread_attr_t attr;
    pthread_attr_init (&attr);
    pthread_attr_setstacksize (&attr, THREAD_STACK);
    pthread_barrier_init (&self->start, NULL, (unsigned)n + 1);
    for (int64_t i = 0; i < n; i++) {
        workers[i] = (worker_t){self, (int)i};
        if (pthread_create (&threads[i], &attr, s_worker, &workers[i]) != 0) {
            fprintf (stderr, "mailbus-bench-login: cannot start thread %" PRId64 "\n", i);
            exit (1); /* the barrier would wait for ever */
        }
    }
    self->started = zclock_usecs ();
    pthread_barrier_wait (&self->start);
    for (int64_t i = 0; i < n; i++)
        pthread_join (threads[i], NULL);
    pthread_barrier_destroy (&self->start);
    pthread_attr_destroy (&attr);
    free (threads);
    free (workers);
    return s_report (self, name);
}

/* ------------------------------------------------------------------ main */

static bool
s_within (double ms, int64_t bound_s, const char *what)
{
    if (ms < 0 || (bound_s > 0 && ms > (double)bound_s * 1000)) {
        fprintf (stderr, "mailbus-bench-login: FAIL %s: %s\n", what,
                 ms < 0 ? "some clients never served" : "not all served within the bound");
        return false;
    }
    return true;
}

/* The two storms against a broker restarted in between; 0 when both are within their bounds */
static int
s_storms (storm_t *self)
{
    const settings_t *s = self->settings;
    double fresh = s_storm (self, "fresh");
    printf ("broker: helo_421=%d by_password=%d\n", s_log_count (self, 0, "verb=HELO reply=421", NULL),
            s_log_count (self, 0, " hello ", "by=password"));
    s_broker_stop (self);
    long offset = s_log_size (self);
    if (s_broker_start (self) != 0)
        return 1;
    self->resume = true;
    double resume = s_storm (self, "resume");
    printf ("broker after restart: by_ticket=%d by_password=%d ticket_refused=%d\n",
            s_log_count (self, offset, " hello ", "by=ticket"),
            s_log_count (self, offset, " hello ", "by=password"),
            s_log_count (self, offset, "verb=RESUME reply=535", NULL));
    bool ok = s_within (fresh, s->max_fresh_s, "fresh storm");
    return s_within (resume, s->max_resume_s, "resume storm") && ok ? 0 : 1;
}

static int
s_run (storm_t *self)
{
    snprintf (self->dir, sizeof self->dir, "/tmp/mailbus-login-XXXXXX");
    if (!mkdtemp (self->dir))
        return 1;
    snprintf (self->db, sizeof self->db, "%s/var/mailbus.db", self->dir);
    snprintf (self->log, sizeof self->log, "%s/broker.log", self->dir);
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", s_free_port ());
    self->clients = calloc ((size_t)self->settings->clients, sizeof (client_t *));
    self->ms = calloc ((size_t)self->settings->clients, sizeof (double));
    int status = s_make_store (self) == 0 && s_broker_start (self) == 0 ? s_storms (self) : 1;
    for (int64_t i = 0; i < self->settings->clients; i++)
        client_destroy (&self->clients[i]);
    s_broker_stop (self);
    if (status != 0)
        fprintf (stderr, "mailbus-bench-login: the broker's log is kept in %s\n", self->log);
    else {
        char *rm = zsys_sprintf ("rm -rf '%s'", self->dir);
        if (system (rm) != 0)
            fprintf (stderr, "mailbus-bench-login: cannot remove %s\n", self->dir);
        free (rm);
    }
    free (self->clients);
    free (self->ms);
    return status;
}

/* ../broker/mailbus-broker beside this program (both live in the build tree) */
static char *
s_default_broker (void)
{
    char self[4096];
    ssize_t size = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (size <= 0)
        return strdup ("mailbus-broker");
    self[size] = '\0';
    char *slash = strrchr (self, '/');
    *slash = '\0';
    return zsys_sprintf ("%s/../broker/mailbus-broker", self);
}

int
main (int argc, char **argv)
{
    settings_t settings = {0};
    options_t *options = options_new (&s_spec, &settings);
    int status = options_parse (options, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = options_resolve (options, NULL);
    char *broker_bin = settings.broker_bin ? NULL : s_default_broker ();
    if (status == OPTIONS_GO_ON) {
        settings.broker_bin = settings.broker_bin ? settings.broker_bin : broker_bin;
        /* each client holds a DEALER and, while it identifies, a monitor pair: ZeroMQ's default
           of 1,024 sockets per context is too few for a thousand clients */
        zsys_set_max_sockets ((size_t)settings.clients * 3 + 64);
        storm_t storm = {.settings = &settings};
        status = s_run (&storm);
    }
    free (broker_bin);
    options_destroy (&options);
    return status;
}
