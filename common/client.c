/*  client.c — the broker client. */
#include "client.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "endpoint.h"
#include "log.h"
#include "proto.h"
#include "reply.h"

/* A refused connection is retried by libzmq for ever; after this long of nothing but refusals
   the client says nothing listens there instead of waiting out its whole timeout */
#define REFUSED_GIVE_UP_MS 3000
/* A ticket from the broker (RESUME) is at most this long; a longer frame is not kept */
#define MAX_TICKET 256
/* Where a client on the broker's own machine finds its public key without being told */
#define DEFAULT_SERVER_KEY_FILE "var/broker.key"

/* process-wide, set from the programs' options before client_new */
static char *s_server_key_opt; /* --server-key: 40 Z85 characters or a key file */
static char *s_key_file_opt;   /* --key: the client's own key pair (zcert), to log in without a password */

struct client_t {
    zsock_t *sock;
    zsock_t *monitor; /* the socket's connection events, while it identifies */
    zcert_t *cert;    /* CURVE: the client's key pair (its own file, or made for this run) */
    char server_key[41];
    bool key_login;   /* identified by cert, with an empty password */
    bool ticket_only; /* the password was forgotten: a refused ticket is the end (client_forget_password) */
    char *endpoint;
    char *user;
    char *password;
    char *ticket; /* the last password HELO's resumption ticket: RESUME uses it instead */
    char mailbox[MAX_ADDRESS + 1];
    int timeout_ms;
    uint64_t next_id;
};

void
client_set_keys (const char *server_key, const char *key_file)
{
    free (s_server_key_opt);
    free (s_key_file_opt);
    s_server_key_opt = server_key ? strdup (server_key) : NULL;
    s_key_file_opt = key_file ? strdup (key_file) : NULL;
}

/* The broker's key: --server-key, MAILBUS_SERVER_KEY, else (beyond loopback only) the key
   file a broker on this machine wrote. "" when none: plain text, allowed on loopback only. */
static int
s_server_key (client_t *self, bool loopback, bool key_login, char **error)
{
    const char *given = s_server_key_opt ? s_server_key_opt : getenv ("MAILBUS_SERVER_KEY");
    if (!given && !loopback && zsys_file_exists (DEFAULT_SERVER_KEY_FILE))
        given = DEFAULT_SERVER_KEY_FILE;
    if (!given || !*given) {
        if (loopback && !key_login)
            return 0;
        if (key_login)
            *error =
                zsys_sprintf ("--key logs in over CURVE only: give the broker's public key with --server-key "
                              "KEY (`mailbus-broker key` prints it; on loopback the broker uses CURVE with "
                              "--curve always)");
        else
            *error =
                zsys_sprintf ("%s is beyond loopback: give the broker's public key with --server-key KEY "
                              "(`mailbus-broker key` prints it on the broker's machine); no password is "
                              "sent there in clear",
                              self->endpoint);
        return -1;
    }
    const char *why = NULL;
    if (client_public_key (given, self->server_key, &why) != 0) {
        *error = zsys_sprintf ("--server-key %s: %s", given, why);
        return -1;
    }
    return 0;
}

int
client_public_key (const char *text, char key[41], const char **why)
{
    /* a file first: a 40-character path is also valid Z85 */
    uint8_t raw[32];
    if (!zsys_file_exists (text) && strlen (text) == 40 && zmq_z85_decode (raw, text)) {
        memcpy (key, text, 41);
        return 0;
    }
    zcert_t *cert = zsys_file_exists (text) ? zcert_load (text) : NULL;
    if (!cert) {
        *why = "not a key (40 Z85 characters) nor a key file";
        return -1;
    }
    memcpy (key, zcert_public_txt (cert), 41);
    zcert_destroy (&cert);
    return 0;
}

/* CURVE for this client when it has the broker's key: its own key pair from --key (MAILBUS_KEY),
   or one made for this run */
static int
s_security (client_t *self, char **error)
{
    endpoint_t endpoint;
    const char *why = NULL;
    if (endpoint_parse (self->endpoint, &endpoint, &why) != 0) {
        *error = zsys_sprintf ("broker endpoint %s: %s", self->endpoint, why);
        return -1;
    }
    const char *key_file = s_key_file_opt ? s_key_file_opt : getenv ("MAILBUS_KEY");
    if (key_file) {
        self->cert = zsys_file_exists (key_file) ? zcert_load (key_file) : NULL;
        if (!self->cert ||
            streq (zcert_secret_txt (self->cert), "0000000000000000000000000000000000000000")) {
            *error = zsys_sprintf ("--key %s: no key pair there (make one with `mailbus-sub keygen %s`)",
                                   key_file, key_file);
            return -1;
        }
        self->key_login = !*self->password && !self->ticket_only;
    }
    if (s_server_key (self, endpoint.loopback, key_file != NULL, error) != 0)
        return -1;
    if (*self->server_key && !self->cert)
        self->cert = zcert_new ();
    return 0;
}

int
client_keygen (const char *path, char **error)
{
    if (zsys_file_exists (path)) {
        *error = zsys_sprintf ("%s exists: not overwritten", path);
        return -1;
    }
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "mailbus client key");
    /* zcert writes path_secret with mode 0600 */
    int rc = cert ? zcert_save (cert, path) : -1;
    if (rc != 0)
        *error = zsys_sprintf ("cannot write %s: %s", path, strerror (errno));
    zcert_destroy (&cert);
    return rc;
}

static zsock_t *
s_connect (client_t *self)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 0); /* bounded by the caller's window, not by dropping */
    zsock_set_rcvhwm (sock, 0);
    if (self->cert) {
        zcert_apply (self->cert, sock);
        zsock_set_curve_serverkey (sock, self->server_key);
    }
    /* connection events while identifying: a refused connection or a failed handshake is
       told at once, with its likely cause, instead of as a silent timeout */
    char monitor[80];
    endpoint_inproc_unique (monitor, sizeof monitor, "mailbus-client-monitor");
    zsock_destroy (&self->monitor);
    if (zmq_socket_monitor (zsock_resolve (sock), monitor, ZMQ_EVENT_ALL) == 0) {
        self->monitor = zsock_new (ZMQ_PAIR);
        if (self->monitor && zsock_connect (self->monitor, "%s", monitor) != 0)
            zsock_destroy (&self->monitor);
    }
    if (zsock_connect (sock, "%s", self->endpoint) != 0) {
        zsock_destroy (&self->monitor);
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

static void
s_monitor_stop (client_t *self)
{
    if (!self->monitor)
        return;
    zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
    zsock_destroy (&self->monitor);
}

/* What the connection events seen so far say */
typedef struct {
    bool connected;    /* TCP connection made */
    bool handshake_ok; /* ZMTP (and CURVE) handshake done */
    bool handshake_failed;
    int64_t first_refused; /* when the first refusal came, 0 before */
} conn_state_t;

static void
s_monitor_read (client_t *self, conn_state_t *state)
{
    zmsg_t *event = zmsg_recv (self->monitor);
    zframe_t *frame = event ? zmsg_first (event) : NULL;
    if (frame && zframe_size (frame) == 6) {
        uint16_t what;
        memcpy (&what, zframe_data (frame), 2);
        if (what == ZMQ_EVENT_CONNECTED)
            state->connected = true;
        else if (what == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            state->handshake_ok = true;
        else if (what & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
            state->handshake_failed = true;
        else if (what == ZMQ_EVENT_DISCONNECTED && state->connected && !state->handshake_ok)
            state->handshake_failed = true; /* the broker hung up in the middle of the handshake */
        else if (what == ZMQ_EVENT_CONNECT_RETRIED && !state->connected && !state->first_refused)
            state->first_refused = zclock_mono ();
    }
    zmsg_destroy (&event);
}

/* Why identifying failed, from the connection events */
static char *
s_connect_error (client_t *self, const conn_state_t *state)
{
    if (state->handshake_failed && *self->server_key)
        return zsys_sprintf (
            "the broker at %s refused the CURVE handshake: the --server-key is not that "
            "broker's key (`mailbus-broker key` prints it), or that endpoint does not use CURVE",
            self->endpoint);
    if (state->handshake_failed)
        return zsys_sprintf (
            "the broker at %s closed the connection during the handshake: it requires CURVE; "
            "give its public key with --server-key (`mailbus-broker key` prints it)",
            self->endpoint);
    if (!state->connected)
        return zsys_sprintf ("nothing answers at %s (connection refused or unreachable): is the broker "
                             "running, and listening on that endpoint?",
                             self->endpoint);
    return zsys_sprintf ("the broker at %s accepted the connection but did not answer HELO within %d ms "
                         "(is it overloaded, or is that not a mailbus broker?)",
                         self->endpoint, self->timeout_ms);
}

/* Waits for the reply with this id; pushes that arrive meanwhile are dropped */
static zmsg_t *
s_wait (client_t *self, const char *id, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        zmsg_t *msg = client_recv (self, (int)left);
        if (!msg)
            return NULL;
        char *rid = zmsg_popstr (msg);
        bool match = rid && strcmp (rid, id) == 0;
        free (rid);
        if (match)
            return msg;
        zmsg_destroy (&msg);
    }
}

/* Waits for the reply to HELO, watching the connection events meanwhile: NULL with *error
   when the connection or its handshake failed, or at the deadline */
static zmsg_t *
s_wait_hello (client_t *self, const char *id, int64_t deadline, conn_state_t *state, char **error)
{
    while (true) {
        int64_t left = deadline - zclock_mono ();
        bool refused_long =
            state->first_refused && zclock_mono () - state->first_refused > REFUSED_GIVE_UP_MS;
        if (left <= 0 || state->handshake_failed || refused_long) {
            *error = s_connect_error (self, state);
            return NULL;
        }
        zmq_pollitem_t items[] = {{zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0},
                                  {self->monitor ? zsock_resolve (self->monitor) : NULL, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, self->monitor ? 2 : 1, left < 200 ? left : 200) < 0)
            continue;
        if (self->monitor && (items[1].revents & ZMQ_POLLIN))
            s_monitor_read (self, state);
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmsg_t *msg = zmsg_recv (self->sock);
        char *rid = msg ? zmsg_popstr (msg) : NULL;
        bool match = rid && strcmp (rid, id) == 0;
        free (rid);
        if (match)
            return msg;
        zmsg_destroy (&msg);
    }
}

/* Sends HELO with the password, or RESUME with the ticket when there is one, and waits */
static zmsg_t *
s_hello_once (client_t *self, bool resume, int64_t deadline, conn_state_t *state, char **error)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, PROTO_VERSION);
    zmsg_addstr (args, self->user);
    zmsg_addstr (args, resume ? self->ticket : self->key_login ? "" : self->password);
    char id[MAX_REQUEST_ID + 1];
    client_send (self, resume ? "RESUME" : "HELO", args, id, sizeof id);
    return s_wait_hello (self, id, deadline, state, error);
}

static void
s_ticket_forget (client_t *self)
{
    if (self->ticket) {
        sodium_memzero (self->ticket, strlen (self->ticket));
        free (self->ticket);
        self->ticket = NULL;
    }
}

/* Identified: the data frames are the mailbox as the broker normalised it, then (after a
   password HELO) a ticket to RESUME with */
static void
s_hello_accepted (client_t *self, zmsg_t *reply)
{
    zframe_t *frame = zmsg_next (reply);
    if (frame && zframe_size (frame) <= MAX_ADDRESS) {
        memcpy (self->mailbox, zframe_data (frame), zframe_size (frame));
        self->mailbox[zframe_size (frame)] = '\0';
    }
    frame = zmsg_next (reply);
    if (frame && zframe_size (frame) > 0 && zframe_size (frame) <= MAX_TICKET) {
        s_ticket_forget (self);
        self->ticket = zframe_strdup (frame);
    }
}

/* Whether a status line is a transient refusal that a pause may cure: 421 (the broker has no
   room now, or is restarting) and 452 4.3.x (its store could not commit: nothing was kept). Not
   452 4.5.3 (too many recipients), which would be refused again whatever the wait. */
static bool
s_transient (const char *line)
{
    return strncmp (line, "421 ", 4) == 0 || strncmp (line, "452 4.3.", 8) == 0;
}

static void
s_gave_up (client_t *self, const char *verb, int attempts, const char *line)
{
    char quoted[200];
    log_warn ("client", "gave-up", "mailbox=%s verb=%s attempts=%d reply=%s", self->user, verb, attempts,
              log_quote (quoted, sizeof quoted, line, strlen (line)));
}

/* The pause before retrying a transient refusal, slept; false when the budget is spent */
static bool
s_backoff (client_t *self, backoff_t *backoff, const char *verb, const char *line)
{
    int pause = backoff_next (backoff);
    if (pause < 0) {
        s_gave_up (self, verb, backoff->attempt + 1, line);
        return false;
    }
    char quoted[200];
    log_debug ("client", "retry", "mailbox=%s verb=%s attempt=%d pause-ms=%d reply=%s", self->user, verb,
               backoff->attempt, pause, log_quote (quoted, sizeof quoted, line, strlen (line)));
    zclock_sleep (pause);
    return true;
}

/* Identifies: RESUME with the ticket when there is one (refused: the password after all), else
   HELO; a transient refusal (421: too many logins being checked) is tried again after a
   jittered, growing pause (backoff.h), within the client's timeout */
static int
s_hello (client_t *self, char **error)
{
    int64_t deadline = zclock_mono () + self->timeout_ms;
    conn_state_t state = {false, false, false, 0};
    backoff_t backoff;
    backoff_start (&backoff, BACKOFF_BASE_MS, BACKOFF_CAP_MS, self->timeout_ms);
    char line[512] = "";
    if (self->ticket_only && !self->ticket) {
        *error = strdup ("535 5.7.8 no ticket to identify with and no password: log in again");
        return -1;
    }
    while (true) {
        bool resume = self->ticket && !self->key_login;
        zmsg_t *reply = s_hello_once (self, resume, deadline, &state, error);
        if (!reply && s_transient (line)) { /* the retry was not answered in time */
            s_gave_up (self, resume ? "RESUME" : "HELO", backoff.attempt + 1, line);
            zstr_free (error);
            *error = strdup (line);
        }
        if (!reply)
            return -1;
        int code = 0;
        line[0] = '\0';
        proto_reply_status (reply, &code, line, sizeof line);
        if (s_transient (line) && s_backoff (self, &backoff, resume ? "RESUME" : "HELO", line)) {
            zmsg_destroy (&reply);
            continue;
        }
        if (resume && !reply_is_success (code) && !s_transient (line) && self->ticket_only) {
            log_info ("client", "ticket-refused", "mailbox=%s code=%d then=none", self->user, code);
            s_ticket_forget (self);
            *error = strdup ("535 5.7.8 the login's ticket was not accepted (expired, or the password "
                             "changed): log in again");
            zmsg_destroy (&reply);
            return -1;
        }
        if (resume && !reply_is_success (code) && !s_transient (line)) {
            log_info ("client", "ticket-refused", "mailbox=%s code=%d then=password", self->user, code);
            s_ticket_forget (self);
            zmsg_destroy (&reply);
            continue;
        }
        if (!reply_is_success (code)) {
            *error = strdup (*line ? line : "broker sent a malformed reply to HELO");
            zmsg_destroy (&reply);
            return -1;
        }
        s_hello_accepted (self, reply);
        zmsg_destroy (&reply);
        s_monitor_stop (self);
        return 0;
    }
}

client_t *
client_new (const char *endpoint, const char *user, const char *password, int timeout_ms, char **error)
{
    return client_new_resuming (endpoint, user, password, NULL, timeout_ms, error);
}

char *
client_ticket_dup (client_t *self)
{
    assert (self);
    return self->ticket ? strdup (self->ticket) : NULL;
}

bool
client_forget_password (client_t *self)
{
    assert (self);
    if (!self->ticket || self->key_login)
        return false;
    sodium_memzero (self->password, strlen (self->password));
    self->ticket_only = true;
    return true;
}

client_t *
client_new_resuming (const char *endpoint, const char *user, const char *password, const char *ticket,
                     int timeout_ms, char **error)
{
    client_t *self = calloc (1, sizeof *self);
    if (ticket && *ticket && strlen (ticket) <= MAX_TICKET)
        self->ticket = strdup (ticket);
    self->ticket_only = password == NULL;
    self->endpoint = strdup (endpoint ? endpoint : CLIENT_DEFAULT_ENDPOINT);
    self->user = strdup (user ? user : "");
    self->password = strdup (password ? password : "");
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    snprintf (self->mailbox, sizeof self->mailbox, "%s", self->user);
    if (s_security (self, error) != 0) {
        client_destroy (&self);
        return NULL;
    }
    self->sock = s_connect (self);
    if (!self->sock) {
        *error = zsys_sprintf ("cannot connect to %s: %s", self->endpoint, zmq_strerror (zmq_errno ()));
        client_destroy (&self);
        return NULL;
    }
    if (s_hello (self, error) != 0) {
        client_destroy (&self);
        return NULL;
    }
    return self;
}

void
client_destroy (client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_t *self = *self_p;
    if (self->sock)
        s_monitor_stop (self);
    zsock_destroy (&self->sock);
    zcert_destroy (&self->cert);
    s_ticket_forget (self);
    if (self->password) {
        sodium_memzero (self->password, strlen (self->password));
        free (self->password);
    }
    free (self->user);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
client_send (client_t *self, const char *verb, zmsg_t *args, char *id, size_t id_size)
{
    snprintf (id, id_size, "%" PRIu64, ++self->next_id);
    /* [id][verb] straight from the stack, then the caller's frames as they are */
    void *sock = zsock_resolve (self->sock);
    bool more = args && zmsg_size (args) > 0;
    if (zmq_send (sock, id, strlen (id), ZMQ_SNDMORE) < 0 ||
        zmq_send (sock, verb, strlen (verb), more ? ZMQ_SNDMORE : 0) < 0) {
        zmsg_destroy (&args);
        return -1;
    }
    if (more)
        return zmsg_send (&args, self->sock);
    zmsg_destroy (&args);
    return 0;
}

zmsg_t *
client_recv (client_t *self, int timeout_ms)
{
    /* a reply already queued is taken without a poll (a system call per reply otherwise) */
    if (!(zsock_events (self->sock) & ZMQ_POLLIN)) {
        zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, timeout_ms);
        if (rc <= 0 || !(item.revents & ZMQ_POLLIN))
            return NULL;
    }
    return zmsg_recv (self->sock);
}

/* One request and its reply; a session the broker has forgotten (530: it restarted) is
   identified again and the request repeated once; when a ticket-only client's ticket is
   refused, that 535 line is the reply. args stay the caller's (a copy is sent). */
static zmsg_t *
s_call_once (client_t *self, const char *verb, zmsg_t *args)
{
    char id[MAX_REQUEST_ID + 1];
    client_send (self, verb, args ? zmsg_dup (args) : NULL, id, sizeof id);
    zmsg_t *reply = s_wait (self, id, self->timeout_ms);
    int code = 0;
    if (reply && proto_reply_status (reply, &code, NULL, 0) == 0 && code == 530 &&
        strcmp (verb, "HELO") != 0) {
        char *error = NULL;
        zmsg_destroy (&reply);
        if (s_hello (self, &error) == 0) {
            client_send (self, verb, args ? zmsg_dup (args) : NULL, id, sizeof id);
            reply = s_wait (self, id, self->timeout_ms);
        }
        else if (self->ticket_only && error && strncmp (error, "535 ", 4) == 0) {
            reply = zmsg_new (); /* refused (a ticket-only client's ticket): the caller sees 535 */
            zmsg_addstr (reply, error);
        }
        free (error);
    }
    return reply;
}

zmsg_t *
client_call (client_t *self, const char *verb, zmsg_t *args)
{
    backoff_t backoff;
    backoff_start (&backoff, BACKOFF_BASE_MS, BACKOFF_CAP_MS, self->timeout_ms);
    zmsg_t *refused = NULL; /* the last transient refusal: the answer when a retry gets none */
    char line[512] = "";
    zmsg_t *reply;
    while (true) {
        reply = s_call_once (self, verb, args);
        if (!reply && refused) {
            s_gave_up (self, verb, backoff.attempt + 1, line);
            reply = refused;
            refused = NULL;
            break;
        }
        int code = 0;
        if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0 || !s_transient (line) ||
            !s_backoff (self, &backoff, verb, line))
            break;
        /* 452: the broker rolled the request back; 421: it had no room. The same request
           again (a SEND keeps its Message-ID, so the broker's dedupe keeps it exactly once) */
        zmsg_destroy (&refused);
        refused = reply;
    }
    zmsg_destroy (&refused);
    zmsg_destroy (&args);
    return reply;
}

int
client_reconnect (client_t *self, char **error)
{
    s_monitor_stop (self);
    zsock_destroy (&self->sock);
    self->sock = s_connect (self);
    if (!self->sock) {
        *error = zsys_sprintf ("cannot connect to %s", self->endpoint);
        return -1;
    }
    return s_hello (self, error);
}

zsock_t *
client_socket (client_t *self)
{
    return self->sock;
}

const char *
client_user (client_t *self)
{
    return self->mailbox;
}

void
client_set_timeout (client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
}

int
client_credentials (const char **endpoint, const char **user, char **password, const char *password_opt,
                    bool password_stdin)
{
    if (!*endpoint)
        *endpoint = getenv ("MAILBUS_BROKER");
    if (!*endpoint)
        *endpoint = CLIENT_DEFAULT_ENDPOINT;
    if (!*user)
        *user = getenv ("MAILBUS_USER");
    if (!*user) {
        fprintf (stderr, "error: no user: give -u ADDRESS or set MAILBUS_USER\n");
        return -1;
    }
    if (password_stdin) {
        char line[MAX_PASSWORD + 2];
        if (!fgets (line, sizeof line, stdin)) {
            fprintf (stderr, "error: --password-stdin: nothing on standard input\n");
            return -1;
        }
        line[strcspn (line, "\r\n")] = '\0';
        *password = strdup (line);
        sodium_memzero (line, sizeof line);
        return 0;
    }
    const char *p = password_opt ? password_opt : getenv ("MAILBUS_PASSWORD");
    if (!p && (s_key_file_opt || getenv ("MAILBUS_KEY")))
        p = ""; /* the key file identifies the mailbox */
    if (!p) {
        fprintf (stderr, "error: no password: give -p, --password-stdin or set MAILBUS_PASSWORD\n");
        return -1;
    }
    *password = strdup (p);
    return 0;
}
