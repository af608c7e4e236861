/*  bench_publish.c — mailbus-bench: durable publish throughput and ack latency, then drain speed.
    Publishes COUNT messages of SIZE octets with up to WINDOW SENDs in flight (pipelined through
    common/client.h), timing each from its send to its durable ack; then empties the mailbox with
    LIST and pipelined RETR+DELE. Not a test: tests/bench/run.sh runs it against a fresh broker. */
#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "client_cli.h"
#include "options.h"
#include "proto.h"
#include "reply.h"
#include "text.h"

typedef struct {
    client_cli_t login; /* -b -u -p --server-key */
    const char *to;
    int64_t count;
    int64_t size;
    int64_t window;
    int64_t time_limit; /* seconds: every phase stops at this bound, whatever COUNT says */
    int64_t timeout_s;  /* no reply at all for this long: the broker is gone, give up */
    int64_t clients;    /* connections publishing at once, each with its own window */
    int64_t spread;     /* > 0: message n goes to mailbox bench<n mod spread>@DOMAIN of --to */
    int64_t batch;      /* ids per drain request (RETR ids, DELE ids); 1: one per request */
    int timeout_ms;
} settings_t;

#define S_FIELD(field) .offset = offsetof (settings_t, field)

static const option_t s_options[] = {
    {.name = "broker",
     .letter = 'b',
     .kind = OPTION_STRING,
     S_FIELD (login.endpoint),
     .env = "MAILBUS_BROKER",
     .dflt = CLIENT_DEFAULT_ENDPOINT,
     .arg = "ENDPOINT",
     .help = "broker (default {default}; env MAILBUS_BROKER)"},
    {.name = "user",
     .letter = 'u',
     .kind = OPTION_STRING,
     S_FIELD (login.user),
     .env = "MAILBUS_USER",
     .arg = "ADDRESS",
     .help = "mailbox to identify as (env MAILBUS_USER)"},
    {.name = "password",
     .letter = 'p',
     .kind = OPTION_SECRET,
     S_FIELD (login.password),
     .env = "MAILBUS_PASSWORD",
     .arg = "PASS",
     .help = "its password (env MAILBUS_PASSWORD)"},
    {.name = "count",
     .kind = OPTION_NUMBER,
     S_FIELD (count),
     .dflt_number = 100000,
     .min = 1,
     .max = 1000000000,
     .arg = "N",
     .help = "messages to publish (default {default})"},
    {.name = "size",
     .kind = OPTION_NUMBER,
     S_FIELD (size),
     .dflt_number = 512,
     .min = 256,
     .max = MAX_MESSAGE_BYTES,
     .arg = "BYTES",
     .help = "size of each message (default {default}, at least {min})"},
    {.name = "window",
     .kind = OPTION_NUMBER,
     S_FIELD (window),
     .dflt_number = 1000,
     .min = 1,
     .max = 1000000000,
     .arg = "W",
     .help = "SENDs in flight at most (default {default})"},
    {.name = "to",
     .kind = OPTION_STRING,
     S_FIELD (to),
     .arg = "ADDRESS",
     .help = "recipient (default USER; drained with the same password)"},
    {.name = "time-limit",
     .kind = OPTION_NUMBER,
     S_FIELD (time_limit),
     .dflt_number = 300,
     .min = 1,
     .max = 1000000,
     .arg = "S",
     .help = "stop publishing, and draining, after S seconds (default {default})"},
    {.name = "timeout",
     .kind = OPTION_NUMBER,
     S_FIELD (timeout_s),
     .dflt_number = 30,
     .min = 1,
     .max = 1000000,
     .arg = "S",
     .help = "give up when the broker answers nothing for S seconds (default {default})"},
    {.name = "clients",
     .kind = OPTION_NUMBER,
     S_FIELD (clients),
     .dflt_number = 1,
     .min = 1,
     .max = 1000,
     .arg = "C",
     .help = "connections publishing at once, COUNT/C messages each (default {default})"},
    {.name = "spread",
     .kind = OPTION_NUMBER,
     S_FIELD (spread),
     .dflt_number = 0,
     .min = 0,
     .max = 1000000,
     .arg = "M",
     .help = "send message n to bench<n mod M>@DOMAIN (DOMAIN: --to's); no drain (default {default}: "
             "all to --to)"},
    {.name = "batch",
     .kind = OPTION_NUMBER,
     S_FIELD (batch),
     .dflt_number = 100,
     .min = 1,
     .max = 1000,
     .arg = "B",
     .help = "ids per drain request: RETR and DELE of B ids each (default {default}; 1: the one-id forms)"},
    {.name = "server-key",
     .kind = OPTION_STRING,
     S_FIELD (login.server_key),
     .arg = "KEY",
     .help = "the broker's public key or key file: CURVE (env MAILBUS_SERVER_KEY)"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-bench [-b ENDPOINT] -u USER [-p PASSWORD] [--count N] [--size BYTES]\n"
             "                     [--window W] [--to ADDRESS] [--time-limit S] [--timeout S]\n"
             "                     [--clients C] [--spread M]\n"
             "\n"
             "Publishes N messages of SIZE octets to ADDRESS with up to W in flight, measures durable\n"
             "acks per second and each message's ack latency (p50, p99), then drains the mailbox of\n"
             "ADDRESS (LIST, then RETR+DELE of --batch ids each, pipelined) and measures messages drained "
             "per second.\n"
             "Drains everything in that mailbox: use a mailbox of its own. With --clients C, C\n"
             "connections publish at once, each with up to W in flight (C=50, W=1: 50 publishers\n"
             "each waiting for its ack); nothing is drained then. With --spread M the messages fill\n"
             "M mailboxes bench0..bench<M-1> at --to's domain (they must exist); no drain either.\n"
             "\n",
    .epilogue =
        "\n"
        "Prints: acks/s=... p50_ms=... p99_ms=... drain/s=...\n"
        "\n"
        "Example:\n"
        "  mailbus-bench -b tcp://127.0.0.1:5670 -u alice@demo.test -p demo --count 100000 --size 512\n",
    .prefix = "mailbus-bench: ",
    .getopt_messages = true, /* getopt's own line, then the help */
    .help_column = 26,
};

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double
s_percentile (double *sorted, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p * (double)(n - 1) + 0.5);
    return sorted[i];
}

/* A valid RFC 5322 message of exactly size octets (more when the header alone needs more),
   CRLF only, with a unique Message-ID; buf holds cap octets, cap >= size + 512 */
static size_t
s_build_message (char *buf, size_t cap, size_t size, const char *from, const char *to, const char *run,
                 long n)
{
    int head =
        snprintf (buf, cap,
                  "From: %s\r\nTo: %s\r\nSubject: bench %ld\r\nMessage-ID: <bench-%s-%ld@mailbus.bench>\r\n"
                  "Date: Mon, 23 Nov 2026 07:00:00 +0000\r\n\r\n",
                  from, to, n, run, n);
    size_t o = (size_t)head < cap ? (size_t)head : cap - 1;
    if (size > cap)
        size = cap;
    /* body lines of at most 78 octets (RFC 5322 2.1.1), the last one shortened to fit */
    while (o < size) {
        size_t left = size - o;
        size_t line = left > 78 ? 78 : left;
        if (left > 78 && left - 78 < 3)
            line = left - 3; /* leave room for a last line of at least one octet + CRLF */
        if (line < 3) {
            /* cannot happen with size >= head + 3, kept as a guard */
            break;
        }
        memset (buf + o, 'a' + (char)(n % 26), line - 2);
        buf[o + line - 2] = '\r';
        buf[o + line - 1] = '\n';
        o += line;
    }
    return o;
}

static int
s_status (zmsg_t *reply, char *line, size_t size)
{
    int code = 0;
    if (proto_reply_status (reply, &code, line, size) != 0)
        return -1;
    return code;
}

/* Receives replies until one with an id (not a push) arrives; NULL on timeout. *id_out gets the
   numeric request id. */
static zmsg_t *
s_next_reply (client_t *client, int timeout_ms, uint64_t *id_out)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        zmsg_t *msg = client_recv (client, (int)left);
        if (!msg)
            return NULL;
        char *id = zmsg_popstr (msg);
        if (id && strcmp (id, PROTO_PUSH_ID) != 0) {
            *id_out = strtoull (id, NULL, 10);
            free (id);
            return msg;
        }
        free (id);
        zmsg_destroy (&msg);
    }
}

/* One publishing connection: its share of the messages, and the latency of each ack (ms) */
typedef struct {
    client_t *client;
    const settings_t *o;
    int index;       /* which of --clients; part of its Message-IDs */
    long count;      /* its share of --count */
    double *latency; /* count entries, the first acked of them filled */
    long acked;
    long failed;
    int rc;
    int64_t touched; /* when it last talked to the broker before the run (mono ms) */
    pthread_t thread;
} publisher_t;

/* The recipient of message n: --to, or bench<n mod spread>@DOMAIN of --to */
static const char *
s_recipient (const settings_t *o, long n, char *buf, size_t size)
{
    if (o->spread <= 0)
        return o->to;
    const char *at = strchr (o->to, '@');
    snprintf (buf, size, "bench%ld@%s", n % (long)o->spread, at ? at + 1 : "demo.test");
    return buf;
}

/* Sends message n of p; 0, or -1 when the connection failed */
static int
s_publish_one (publisher_t *p, char *buf, const char *run, long n, uint64_t *id_out)
{
    const settings_t *o = p->o;
    char to[320];
    const char *rcpt = s_recipient (o, n * o->clients + p->index, to, sizeof to);
    const char *from = client_user (p->client);
    size_t len = s_build_message (buf, (size_t)o->size + 512, (size_t)o->size, from, rcpt, run, n);
    if ((long)len != o->size && n == 0 && p->index == 0)
        fprintf (stderr, "mailbus-bench: messages are %zu octets (headers need more than %ld)\n", len,
                 o->size);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, from);
    zmsg_addstr (args, rcpt);
    zmsg_addmem (args, buf, len);
    char id[MAX_REQUEST_ID + 1];
    if (client_send (p->client, "SEND", args, id, sizeof id) != 0) {
        fprintf (stderr, "mailbus-bench: send failed\n");
        return -1;
    }
    *id_out = strtoull (id, NULL, 10);
    return 0;
}

/* Takes one reply and books it; -1 when none came in time */
static int
s_publish_reply (publisher_t *p, uint64_t first_id, long sent, const int64_t *sent_at)
{
    uint64_t rid = 0;
    zmsg_t *reply = s_next_reply (p->client, p->o->timeout_ms, &rid);
    if (!reply) {
        fprintf (stderr, "mailbus-bench: no reply for %d ms with %ld in flight; giving up\n",
                 p->o->timeout_ms, sent - p->acked - p->failed);
        return -1;
    }
    int64_t now = zclock_usecs ();
    char line[256] = "";
    int code = s_status (reply, line, sizeof line);
    zmsg_destroy (&reply);
    if (rid < first_id || rid - first_id >= (uint64_t)sent) {
        fprintf (stderr, "mailbus-bench: reply to unknown request %" PRIu64 "\n", rid);
        return 0;
    }
    long i = (long)(rid - first_id);
    if (code >= 200 && code < 300)
        p->latency[p->acked++] = (double)(now - sent_at[i]) / 1000.0;
    else if (p->failed++ < 5)
        fprintf (stderr, "mailbus-bench: message %ld refused: %s\n", i, line);
    return 0;
}

/* Publishes p's share with up to --window in flight (a thread's body) */
static void *
s_publish (void *arg)
{
    publisher_t *p = arg;
    const settings_t *o = p->o;
    char run[48];
    snprintf (run, sizeof run, "%d-%d-%" PRId64, (int)getpid (), p->index, zclock_time ());
    char *buf = malloc ((size_t)o->size + 512);
    int64_t *sent_at = calloc ((size_t)p->count + 1, sizeof (int64_t));
    assert (buf && sent_at);
    uint64_t first_id = 0, id = 0;
    long sent = 0;
    int64_t stop_sending = zclock_mono () + o->time_limit * 1000;
    while (p->rc == 0 &&
           (p->acked + p->failed < sent || (sent < p->count && zclock_mono () < stop_sending))) {
        while (p->rc == 0 && sent < p->count && sent - p->acked - p->failed < o->window &&
               zclock_mono () < stop_sending) {
            sent_at[sent] = zclock_usecs ();
            p->rc = s_publish_one (p, buf, run, sent, &id);
            first_id = sent == 0 ? id : first_id;
            sent += p->rc == 0;
        }
        if (p->rc == 0 && p->acked + p->failed < sent)
            p->rc = s_publish_reply (p, first_id, sent, sent_at);
    }
    if (p->failed)
        p->rc = -1;
    free (buf);
    free (sent_at);
    return NULL;
}

/* A session idle for a minute is forgotten (SESSION_IDLE_MSEC), and logging in 50 connections
   one Argon2id check after another can take longer than that on a busy machine: while they log
   in, and once more before the clock starts, every connection not used for max_age_ms sends a
   STAT (client_call identifies again after a 530) */
#define KEEP_ALIVE_MS 15000

static void
s_keep_alive (publisher_t *pubs, long n, int64_t max_age_ms)
{
    for (long i = 0; i < n; i++) {
        if (!pubs[i].client || zclock_mono () - pubs[i].touched < max_age_ms)
            continue;
        zmsg_t *reply = client_call (pubs[i].client, "STAT", NULL);
        zmsg_destroy (&reply);
        pubs[i].touched = zclock_mono ();
    }
}

/* Runs --clients publishers at once (the first on client, the others on connections of their
   own); the rate of all acks and the p50/p99 of their latencies */
static int
s_publish_all (client_t *client, const settings_t *o, double *rate, double *p50, double *p99, long *acked_out)
{
    long n = (long)o->clients;
    publisher_t *pubs = calloc ((size_t)n, sizeof (publisher_t));
    double *all = calloc ((size_t)o->count, sizeof (double));
    assert (pubs && all);
    int rc = 0;
    for (long i = 0; i < n; i++) {
        publisher_t *p = &pubs[i];
        *p = (publisher_t){
            .client = client, .o = o, .index = (int)i, .count = o->count / n + (i < o->count % n)};
        p->latency = calloc ((size_t)p->count + 1, sizeof (double));
        char *error = NULL;
        if (i > 0)
            p->client = client_new (o->login.endpoint, o->login.user, o->login.secret, o->timeout_ms, &error);
        p->touched = zclock_mono ();
        s_keep_alive (pubs, i, KEEP_ALIVE_MS);
        if (!p->client) {
            fprintf (stderr, "mailbus-bench: publisher %ld: %s\n", i, error);
            free (error);
            n = i;
            rc = -1;
        }
    }
    s_keep_alive (pubs, n, 0);
    int64_t start = zclock_usecs ();
    for (long i = 0; i < n; i++)
        pthread_create (&pubs[i].thread, NULL, s_publish, &pubs[i]);
    long acked = 0, failed = 0;
    for (long i = 0; i < n; i++) {
        pthread_join (pubs[i].thread, NULL);
        memcpy (all + acked, pubs[i].latency, (size_t)pubs[i].acked * sizeof (double));
        acked += pubs[i].acked;
        failed += pubs[i].failed;
        rc = pubs[i].rc ? -1 : rc;
    }
    double seconds = (double)(zclock_usecs () - start) / 1e6;
    for (long i = 0; i < (long)o->clients; i++) {
        if (i > 0 && pubs[i].client)
            client_destroy (&pubs[i].client);
        free (pubs[i].latency);
    }
    qsort (all, (size_t)acked, sizeof (double), s_cmp_double);
    *rate = seconds > 0 ? (double)acked / seconds : 0;
    *p50 = s_percentile (all, acked, 0.50);
    *p99 = s_percentile (all, acked, 0.99);
    *acked_out = acked;
    fprintf (stderr, "mailbus-bench: %ld acked, %ld refused, over %ld connections in %.2f s\n", acked, failed,
             n, seconds);
    free (all);
    free (pubs);
    return rc;
}

/* VERB with count ids, space-separated in one frame (and PEEK after them when peek: the
   batched drain deletes what it read, marking it seen first would be a write for nothing) */
static void
s_drain_send (client_t *client, const char *verb, char **ids, size_t count, bool peek)
{
    char id[MAX_REQUEST_ID + 1];
    char *list = text_join (ids, count);
    assert (list);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, list);
    free (list);
    if (peek)
        zmsg_addstr (args, "PEEK");
    client_send (client, verb, args, id, sizeof id);
}

static int
s_drain (client_t *client, const settings_t *o, double *rate, long *drained_out)
{
    int64_t start = zclock_usecs ();
    client_set_timeout (client, o->timeout_ms);
    zmsg_t *reply = client_call (client, "LIST", NULL);
    char line[256] = "";
    if (!reply || s_status (reply, line, sizeof line) != 250) {
        fprintf (stderr, "mailbus-bench: LIST failed: %s\n", reply ? line : "no answer");
        zmsg_destroy (&reply);
        return -1;
    }
    size_t total = zmsg_size (reply) - 1;
    char **ids = calloc (total + 1, sizeof (char *));
    size_t n = 0;
    zmsg_first (reply);
    for (zframe_t *f = zmsg_next (reply); f; f = zmsg_next (reply)) {
        size_t len = 0;
        while (len < zframe_size (f) && zframe_data (f)[len] != '\t')
            len++;
        ids[n] = strndup ((const char *)zframe_data (f), len);
        n++;
    }
    zmsg_destroy (&reply);

    /* RETR then DELE of up to batch ids each, up to window messages in flight */
    long batch = o->batch, window = o->window < batch ? 2 : 2 * ((o->window + batch - 1) / batch);
    size_t next = 0;
    long in_flight = 0, retrieved = 0, deleted = 0, failed = 0;
    int64_t stop_sending = zclock_mono () + o->time_limit * 1000;
    int rc = 0;
    while (in_flight > 0 || (next < n && zclock_mono () < stop_sending)) {
        while (next < n && in_flight < window && zclock_mono () < stop_sending) {
            size_t take = n - next < (size_t)batch ? n - next : (size_t)batch;
            s_drain_send (client, "RETR", ids + next, take, batch > 1);
            s_drain_send (client, "DELE", ids + next, take, false);
            in_flight += 2;
            next += take;
        }
        uint64_t rid = 0;
        zmsg_t *r = s_next_reply (client, o->timeout_ms, &rid);
        if (!r) {
            fprintf (stderr, "mailbus-bench: drain: no reply for %d ms; giving up\n", o->timeout_ms);
            rc = -1;
            break;
        }
        int code = s_status (r, line, sizeof line);
        /* RETR's reply carries messages as data frames (one, or id and message each); DELE's
           says how many it deleted ("deleted ID" or "deleted N of M") */
        size_t frames = zmsg_size (r);
        zmsg_destroy (&r);
        in_flight--;
        long many = 0;
        if (code != 250) {
            if (failed++ < 5)
                fprintf (stderr, "mailbus-bench: drain: %s\n", line);
        }
        else if (frames >= 2)
            retrieved += batch == 1 ? 1 : (long)(frames - 1) / 2;
        else
            deleted += batch > 1 && sscanf (line, "%*d %*s deleted %ld of", &many) == 1 ? many : 1;
    }
    double seconds = (double)(zclock_usecs () - start) / 1e6;
    *rate = seconds > 0 ? (double)deleted / seconds : 0;
    *drained_out = deleted;
    fprintf (stderr, "mailbus-bench: drained %ld of %zu (%ld retrieved, %ld refused) in %.2f s\n", deleted, n,
             retrieved, failed, seconds);
    for (size_t i = 0; i < n; i++)
        free (ids[i]);
    free (ids);
    if (failed)
        rc = -1;
    return rc;
}

/* Publishes, then drains the recipient's mailbox as the recipient: the exit status */
static int
s_run (const settings_t *o)
{
    char *error = NULL;
    const client_cli_t *login = &o->login;
    client_t *client = client_new (login->endpoint, login->user, login->secret, 10000, &error);
    if (!client) {
        fprintf (stderr, "mailbus-bench: %s\n", error);
        free (error);
        return 75;
    }
    double acks = 0, p50 = 0, p99 = 0, drain = 0;
    long acked = 0, drained = 0;
    int rc = s_publish_all (client, o, &acks, &p50, &p99, &acked);

    client_t *reader = o->spread > 0 || o->clients > 1 ? NULL : client;
    if (reader && strcmp (o->to, client_user (client)) != 0) {
        reader = client_new (login->endpoint, o->to, login->secret, 10000, &error);
        if (!reader) {
            fprintf (stderr, "mailbus-bench: cannot identify as %s to drain: %s\n", o->to, error);
            free (error);
            rc = -1;
        }
    }
    if (reader && s_drain (reader, o, &drain, &drained) != 0)
        rc = -1;
    if (reader && reader != client)
        client_destroy (&reader);
    client_destroy (&client);

    printf ("acks/s=%.0f p50_ms=%.2f p99_ms=%.2f drain/s=%.0f\n", acks, p50, p99, drain);
    printf ("published=%ld drained=%ld size=%ld window=%ld\n", acked, drained, o->size, o->window);
    return rc == 0 && acked == o->count ? 0 : 1;
}

int
main (int argc, char **argv)
{
    settings_t o = {{0}};
    options_t *options = options_new (&s_spec, &o);
    int status = options_parse (options, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = options_resolve (options, NULL);
    if (status == OPTIONS_GO_ON) {
        client_set_keys (o.login.server_key, NULL);
        status = client_cli_credentials (&o.login) == 0 ? OPTIONS_GO_ON : OPTIONS_USAGE;
    }
    if (status == OPTIONS_GO_ON) {
        o.to = o.to ? o.to : o.login.user;
        o.timeout_ms = (int)o.timeout_s * 1000;
        status = s_run (&o);
    }
    client_cli_release (&o.login);
    options_destroy (&options);
    return status;
}
