/*  fuzz_broker.c — the broker as a whole, in-process: a store on a temporary file with two
    mailboxes and a list, the server (broker/server.h) run in a thread on inproc://, and three
    DEALER clients: one logged in as a user, one as the gateway, one anonymous. The input's
    first octet picks the client; the rest is requests of length-prefixed frames (fuzz.h),
    sent pipelined. Every request gets exactly one reply (docs/PROTOCOL.md), within a deadline,
    and what the broker logs (at debug level, captured) is printable with no credential in it.
    The logins happen once per process (Argon2 costs ~100 ms) and again only after an input
    said HELO or QUIT on a logged-in client. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fuzz.h"
#include "log.h"
#include "server.h"

/* A space and a quote: neither an address nor a verb can hold it, and log_quote would turn the
   quote into \", so the password appears in a log verbatim only if it was logged raw */
#define FUZZ_PASSWORD "fuzz secret\"pw"
#define FUZZ_PASSWORD_HEX "66757a7a20736563726574227077"
/* requests taken from one input: enough to pipeline, few enough to stay fast */
#define MAX_REQUESTS 16
/* a reply that takes longer is missing (an Argon2 check on a busy machine is well under it) */
#define REPLY_DEADLINE_MS 20000
/* a session idle longer than SESSION_IDLE_MSEC is forgotten: log in again well before */
#define RELOGIN_IDLE_MS (SESSION_IDLE_MSEC / 2)

enum { CLIENT_USER, CLIENT_GATEWAY, CLIENT_ANONYMOUS, CLIENT_COUNT };

typedef struct {
    zsock_t *dealer;
    const char *address; /* NULL: never logs in */
    int64_t last_used;
} client_t;

static struct {
    char dir[64];
    store_t *store;
    server_t *server;
    pthread_t thread;
    client_t clients[CLIENT_COUNT];
} s_fuzz;

/* What the broker logs (log.c writes to stderr) goes into memory, each input's lines checked */
static char *s_log;
static size_t s_log_size;

/* DESIGN.md: nothing a client sends reaches a log unescaped, no credential in any form. Runs
   under the stream's lock: the server thread may be logging. MAILBUS_LOG set: the lines are
   shown (on fd 2) as well. */
static void
s_check_log (const uint8_t *data, size_t size)
{
    flockfile (stderr);
    fflush (stderr);
    if (getenv ("MAILBUS_LOG") && s_log_size)
        FUZZ_CHECK (write (STDERR_FILENO, s_log, s_log_size) == (ssize_t)s_log_size);
    for (size_t i = 0; i < s_log_size; i++) {
        unsigned char c = (unsigned char)s_log[i];
        FUZZ_CHECK (c == '\n' || (c >= 0x20 && c < 0x7f));
        /* each line is one event of log.c's own ("2026-..."): a client's LF makes none */
        if (i == 0 || s_log[i - 1] == '\n')
            FUZZ_CHECK (s_log_size - i >= 5 && memcmp (s_log + i + 4, "-", 1) == 0 &&
                        strspn (s_log + i, "0123456789") >= 4);
    }
    FUZZ_CHECK (!memmem (s_log, s_log_size, FUZZ_PASSWORD, strlen (FUZZ_PASSWORD)));
    /* in hex, unless the client sent that text itself (it is logged escaped, as it should be) */
    FUZZ_CHECK (!memmem (s_log, s_log_size, FUZZ_PASSWORD_HEX, strlen (FUZZ_PASSWORD_HEX)) ||
                memmem (data, size, FUZZ_PASSWORD_HEX, strlen (FUZZ_PASSWORD_HEX)));
    rewind (stderr);
    fflush (stderr);
    funlockfile (stderr);
}

static void *
s_server_thread (void *arg)
{
    server_run (arg);
    return NULL;
}

/* The store: a user, a gateway, and a list both are on (the user with a filter) */
static void
s_store_fill (store_t *store)
{
    char hash[AUTH_HASH_BYTES];
    char *error = NULL;
    store_topic_t list;
    FUZZ_CHECK (auth_hash (FUZZ_PASSWORD, hash) == 0);
    FUZZ_CHECK (store_mailbox_add (store, "fuzz@demo.local", hash, "user", &error) == 0);
    FUZZ_CHECK (store_mailbox_add (store, "gateway@demo.local", hash, "gateway", &error) == 0);
    FUZZ_CHECK (store_topic_add (store, "news@demo.local", true, false, &error) == 0);
    FUZZ_CHECK (store_topic_find (store, "news@demo.local", &list) == 1);
    FUZZ_CHECK (store_subscribe (store, list.id, "fuzz@demo.local", "subject:*urgent*") == 1);
    FUZZ_CHECK (store_subscribe (store, list.id, "gateway@demo.local", "") == 1);
}

/* Waits for the next reply (pushes, id "*", are skipped); NULL after the deadline */
static zmsg_t *
s_reply (client_t *client, int64_t deadline)
{
    zpoller_t *poller = zpoller_new (client->dealer, NULL);
    zmsg_t *reply = NULL;
    while (!reply && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int)(deadline - zclock_mono ())))
            continue;
        reply = zmsg_recv (client->dealer);
        zframe_t *id = reply ? zmsg_first (reply) : NULL;
        if (id && zframe_streq (id, PROTO_PUSH_ID))
            zmsg_destroy (&reply);
    }
    zpoller_destroy (&poller);
    return reply;
}

/* Sends a HELO as the client's mailbox; its reply code (0 if none came) */
static int
s_helo (client_t *client, int64_t deadline)
{
    /* a late answer to what the input sent may come first: the login's has an id of its own */
    static unsigned long logins;
    char login[32];
    snprintf (login, sizeof login, "login-%lu", ++logins);
    zstr_sendx (client->dealer, login, "HELO", PROTO_VERSION, client->address, FUZZ_PASSWORD, NULL);
    zmsg_t *reply = NULL;
    while ((reply = s_reply (client, deadline)) && !zframe_streq (zmsg_first (reply), login))
        zmsg_destroy (&reply);
    int code = 0;
    if (reply) {
        zframe_t *id = zmsg_pop (reply);
        FUZZ_CHECK (proto_reply_status (reply, &code, NULL, 0) == 0);
        zframe_destroy (&id);
        zmsg_destroy (&reply);
    }
    return code;
}

/* Logs the client in. A HELO of the input may still be being checked (503: the QUIT that
   followed it was refused, so the session lives on): its answer comes, then the login again. */
static void
s_login (client_t *client)
{
    int64_t deadline = zclock_mono () + REPLY_DEADLINE_MS;
    int code = s_helo (client, deadline);
    for (int tries = 0; code == 503 && tries < 3; tries++) {
        zmsg_t *answer = s_reply (client, deadline);
        FUZZ_CHECK (answer);
        zmsg_destroy (&answer);
        code = s_helo (client, deadline);
    }
    FUZZ_CHECK (code == 250);
    client->last_used = zclock_mono ();
}

static void
s_stop (void)
{
    zsys_interrupted = 1; /* server_run looks at it at least once a second */
    pthread_join (s_fuzz.thread, NULL);
    for (int i = 0; i < CLIENT_COUNT; i++)
        zsock_destroy (&s_fuzz.clients[i].dealer);
    server_destroy (&s_fuzz.server);
    store_close (&s_fuzz.store);
    static const char *const files[] = {"fuzz.db", "fuzz.db-wal", "fuzz.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf (path, sizeof path, "%s/%s", s_fuzz.dir, files[i]);
        unlink (path);
    }
    rmdir (s_fuzz.dir);
}

static void
s_start (void)
{
    /* every line the broker can log is checked; MAILBUS_LOG=debug shows them too */
    log_set_level (LOGLEVEL_DEBUG);
    stderr = open_memstream (&s_log, &s_log_size);
    FUZZ_CHECK (stderr);
    zsys_handler_set (NULL); /* SIGINT is libFuzzer's */
    const char *base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf (s_fuzz.dir, sizeof s_fuzz.dir, "%s/mailbus-fuzz-XXXXXX", base);
    FUZZ_CHECK (mkdtemp (s_fuzz.dir));
    char db[128], *error = NULL;
    snprintf (db, sizeof db, "%s/fuzz.db", s_fuzz.dir);
    s_fuzz.store = store_open (db, false, &error);
    FUZZ_CHECK (s_fuzz.store);
    s_store_fill (s_fuzz.store);
    static const char *const domains[] = {"demo.local", NULL};
    static const char *const binds[] = {"inproc://fuzz-broker", NULL};
    server_config_t config = {.binds = binds,
                              .admin_endpoint = "inproc://fuzz-broker-admin",
                              .domains = domains,
                              .max_message_bytes = 64 * 1024,
                              .relay = true,
                              .queue_max_age = DEFAULT_QUEUE_MAX_AGE,
                              .retry_base = DEFAULT_RETRY_BASE,
                              .dedupe_window = DEFAULT_DEDUPE_WINDOW};
    s_fuzz.server = server_new (&config, s_fuzz.store, &error);
    FUZZ_CHECK (s_fuzz.server);
    static const char *const addresses[CLIENT_COUNT] = {"fuzz@demo.local", "gateway@demo.local", NULL};
    for (int i = 0; i < CLIENT_COUNT; i++) {
        client_t *client = &s_fuzz.clients[i];
        client->dealer = zsock_new (ZMQ_DEALER);
        zsock_set_identity (client->dealer, i == 0   ? "fuzz-user"
                                            : i == 1 ? "fuzz-gateway"
                                                     : "fuzz-anonymous");
        FUZZ_CHECK (zsock_connect (client->dealer, "inproc://fuzz-broker") == 0);
        client->address = addresses[i];
    }
    FUZZ_CHECK (pthread_create (&s_fuzz.thread, NULL, s_server_thread, s_fuzz.server) == 0);
    for (int i = 0; i < CLIENT_COUNT; i++)
        if (s_fuzz.clients[i].address)
            s_login (&s_fuzz.clients[i]);
    /* after zsys_init's own atexit (the first socket): runs first, while ZeroMQ is still up */
    atexit (s_stop);
}

/* The verb frame of a request is this verb */
static bool
s_is_verb (const proto_arg_t *frames, size_t count, const char *verb)
{
    return count >= 2 && frames[1].size == strlen (verb) &&
           memcmp (frames[1].data, verb, frames[1].size) == 0;
}

static void
s_send_request (client_t *client, const proto_arg_t *frames, size_t count)
{
    void *socket = zsock_resolve (client->dealer);
    for (size_t i = 0; i < count; i++)
        FUZZ_CHECK (zmq_send (socket, frames[i].data, frames[i].size, i + 1 < count ? ZMQ_SNDMORE : 0) >= 0);
}

/* A reply is [id][status line][data]...: a status line the client can read */
static void
s_check_reply (zmsg_t *reply)
{
    FUZZ_CHECK (zmsg_size (reply) >= 2);
    zframe_t *id = zmsg_pop (reply);
    int code = 0;
    FUZZ_CHECK (proto_reply_status (reply, &code, NULL, 0) == 0);
    FUZZ_CHECK (code >= 200 && code <= 599);
    zframe_destroy (&id);
}

/* Every request gets one reply. The broker serves a client's requests in order, so when the
   NOOP sent after them is answered, every reply is in but those of HELOs (answered once the
   password check is done); those come within the deadline, unless a QUIT ended the session
   (its pending HELO answer is then dropped, as no one is there to read it). */
static void
s_check_replies (client_t *client, size_t sent, size_t helos, bool quit)
{
    static unsigned long syncs;
    char sync[32];
    snprintf (sync, sizeof sync, "sync-%lu", ++syncs);
    zstr_sendx (client->dealer, sync, "NOOP", NULL);
    int64_t deadline = zclock_mono () + REPLY_DEADLINE_MS;
    size_t received = 0;
    bool synced = false;
    while (received < sent && !(synced && quit)) {
        zmsg_t *reply = s_reply (client, deadline);
        FUZZ_CHECK (reply);
        if (zframe_streq (zmsg_first (reply), sync))
            synced = true;
        else {
            s_check_reply (reply);
            received++;
        }
        FUZZ_CHECK (!synced || received + helos >= sent);
        zmsg_destroy (&reply);
    }
    while (!synced) {
        zmsg_t *reply = s_reply (client, deadline);
        FUZZ_CHECK (reply && zframe_streq (zmsg_first (reply), sync));
        synced = true;
        zmsg_destroy (&reply);
    }
}

/* Whatever came in since (a HELO answer a QUIT did not stop, pushes) */
static void
s_drain (client_t *client)
{
    zmsg_t *msg;
    while (zsock_events (client->dealer) & ZMQ_POLLIN && (msg = zmsg_recv (client->dealer)))
        zmsg_destroy (&msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_fuzz.server)
        s_start ();
    if (size == 0)
        return 0;
    client_t *client = &s_fuzz.clients[data[0] % CLIENT_COUNT];
    if (client->address && zclock_mono () - client->last_used > RELOGIN_IDLE_MS)
        s_login (client);
    s_drain (client);
    fuzz_reader_t reader = {data, size, 1};
    proto_arg_t frames[PROTO_MAX_FRAMES + 2];
    size_t count, sent = 0, helos = 0;
    bool quit = false;
    while (sent < MAX_REQUESTS && fuzz_frames_next (&reader, frames, PROTO_MAX_FRAMES + 2, &count))
        if (count > 0) {
            s_send_request (client, frames, count);
            helos += s_is_verb (frames, count, "HELO");
            quit |= s_is_verb (frames, count, "QUIT");
            sent++;
        }
    s_check_replies (client, sent, helos, quit);
    client->last_used = zclock_mono ();
    /* a HELO or QUIT may have ended the login */
    if ((helos || quit) && client->address)
        s_login (client);
    s_check_log (data, size);
    return 0;
}
