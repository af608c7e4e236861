/*  server.c — the broker's loop, sessions and verbs. */
#include "server.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "address.h"
#include "admin_server.h"
#include "auth.h"
#include "endpoint.h"
#include "folders.h"
#include "header.h"
#include "log.h"
#include "mb_limits.h"
#include "proto.h"
#include "reply.h"
#include "route.h"
#include "space.h"
#include "ticket.h"
#include "zap.h"

/* Our choice: at most this many "refused" lines a second; the rest are counted, and the next
   line written carries suppressed=N (a login storm answered 421 wrote 151,000 lines) */
#define REFUSED_LOG_PER_SECOND 200
/* The most sessions at once; beyond it HELO gets 421 */
#define MAX_SESSIONS 10000
/* Password checks run on this many actor threads (Argon2id takes tens of milliseconds, by
   design, and the machine the course runs on has two cores) */
#define AUTH_WORKERS 2
/* Password checks waiting for the auth actors; beyond it HELO gets 421 4.7.0 at once. With
   about 70 ms a check on two threads, a HELO admitted waits about 0.3 s (a few seconds on a
   machine loaded to its limits), so a flood of HELOs cannot make a real client's login time
   out: it is told to come back instead, and the client library does, with a growing pause. */
#define MAX_AUTH_PENDING 8
/* Delivery lines the broker logs at info level per second (the lecturer's pane shows mail
   flowing); past it they are counted, and the count is logged once a second */
#define DELIVERY_LOG_PER_SEC 20

/* ZeroMQ routing ids are at most 255 octets */
#define MAX_ROUTING_ID 255

/* A session belongs to the connection that said HELO: its key is the connection id the ZAP
   handler gave that connection (zap.h), never the routing id, which a client may choose. */
typedef struct {
    char key[2 * MAX_ROUTING_ID + 2];   /* "c<connection id>" ("r<routing id hex>" on inproc) */
    zframe_t *routing_id;               /* where replies and pushes go */
    char route[2 * MAX_ROUTING_ID + 1]; /* the routing id in hex, the key of server->routes */
    int fd;                             /* the connection's socket, to notice its end */
    char curve_key[41];                 /* the client's CURVE key (Z85), "" for NULL */
    bool by_key;                        /* identified by a mailbox key instead of a password */
    int64_t mailbox_id;
    char address[MAX_ADDRESS + 1];
    bool authenticated;
    bool auth_pending; /* a HELO is being checked */
    bool gateway;      /* role gateway: may SEND with any envelope sender */
    bool watching;
    bool changes;   /* WATCH n changes: ADDED, GONE and FLAGS pushes too (folders.h) */
    int window;     /* credit granted at WATCH */
    int credit;     /* pushes this watcher may still be sent */
    int64_t missed; /* deliveries not pushed for want of credit: it must resynchronise */
    int64_t last_active;
} client_session_t;

/* One request of the batch: where its reply goes, and whether it changed the store */
typedef struct {
    uint8_t routing_id[MAX_ROUTING_ID];
    size_t routing_size;
    zmsg_t *reply;
    bool mutating;
    /* a request deleting mail, kept while space is short: run again when the batch met a full
       disk (s_batch_retry) */
    zmq_msg_t *again;
    size_t again_count;
    bool retried; /* it was, and that committed */
} pending_t;

/* A SEND's reply line for one recipient: "code enhanced address text", at most this long
   (RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included) */
#define SEND_LINE_MAX 510

/* One recipient of a SEND: the route step decides, the store step stores */
typedef struct {
    reply_id_t reply;
    char address[MAX_ADDRESS + 1];
    char line[512]; /* its reply line: a refusal, the line a retry gets again, or what was stored */
    bool again;     /* a retry: this recipient has had this message (dedupe) */
    bool relay;     /* another domain: an outbound entry */
    bool is_list;
    size_t first; /* its mailboxes in the route targets */
    size_t count;
    size_t full; /* of those, over quota */
} rcpt_t;

/* A NEW notification waiting for the commit */
typedef struct {
    char mailbox[MAX_ADDRESS + 1];
    zmsg_t *push;
    bool changes; /* ADDED, GONE or FLAGS: for the watchers that asked for changes only */
} push_t;

struct server_t {
    server_config_t config;
    store_t *store;
    zsock_t *router;
    zsock_t *admin;
    zactor_t *auth[AUTH_WORKERS];
    size_t auth_load[AUTH_WORKERS]; /* checks sent to each and not answered yet */
    zactor_t *zap;                  /* numbers connections (zap.h) */
    zsock_t *monitor;               /* the router's DISCONNECTED events: a session ends with its connection */
    zhashx_t *sessions;             /* key -> client_session_t */
    zhashx_t *routes;               /* routing id in hex -> the session that last used it */
    zhashx_t *watchers;             /* mailbox address -> zlistx of client_session_t* */
    pending_t *batch;
    size_t batch_size;
    push_t *pushes;
    size_t push_count, push_max;
    route_targets_t targets; /* the mailboxes of the SEND being served */
    rcpt_t rcpts[MAX_RCPT];  /* and what becomes of each of its recipients */
    bool batch_failed;       /* a store error: roll the batch back, answer 452 */
    /* the request being read: routing id and up to PROTO_MAX_FRAMES frames, received in place
       (no allocation per frame), and a frame for whatever a too long request holds beyond */
    zmq_msg_t frames[PROTO_MAX_FRAMES + 1];
    zmq_msg_t excess;
    /* seals resumption tickets (ticket.h) */
    uint8_t ticket_key[TICKET_KEY_BYTES];
    char *endpoints;     /* the client endpoints bound, space-separated (ENDPOINT) */
    int port;            /* the first tcp endpoint's port (PORT) */
    int64_t log_second;  /* the second the delivery lines below are counted in */
    size_t log_lines;    /* delivery lines logged in it */
    size_t log_unlogged; /* and deliveries not logged for the rate limit */
    /* the disk, and what `mailbus-broker status` counts */
    space_t *space;                    /* NULL without config.db_path */
    bool batch_full;                   /* a store error of this batch was SQLITE_FULL */
    int64_t started_at;                /* zclock_time */
    int64_t refused_space;             /* SENDs answered 452 4.3.1 for want of space */
    int64_t refused_busy;              /* requests answered 421 (too busy, too many logins or sessions) */
    log_limit_t refused_log;           /* "refused" lines: at most REFUSED_LOG_PER_SECOND */
    int64_t refused_trouble;           /* requests answered 452 4.3.1 for a store error */
    uint64_t batches, batches_at_tick; /* batches served, and as the last tick saw them (idle) */
};

typedef struct {
    server_t *server;
    client_session_t *session; /* NULL before HELO */
    proto_request_t *req;
    pending_t *pending; /* holds the routing id */
    const char *conn;   /* the session key of the connection the request came on */
    int fd;             /* that connection's socket */
    const zap_peer_t *peer;
} context_t;

typedef zmsg_t *(verb_fn)(context_t *ctx);

static void s_monitor_drain (server_t *self);

/* --------------------------------------------------------------------- sessions */

static void
s_hex (const uint8_t *data, size_t size, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out[2 * i] = hex[data[i] >> 4];
        out[2 * i + 1] = hex[data[i] & 15];
    }
    out[2 * size] = '\0';
}

/* The session key of a connection: its ZAP connection id. Only inproc connections (tests,
   fuzzing) carry none; there the routing id stands in, since no other process can reach them. */
static void
s_conn_key (const zap_peer_t *peer, const char *route, char *key, size_t size)
{
    if (peer->conn)
        snprintf (key, size, "c%llu", (unsigned long long)peer->conn);
    else
        snprintf (key, size, "r%s", route);
}

static void
s_unwatch (server_t *self, client_session_t *session)
{
    assert (session);
    if (!session->watching)
        return;
    zlistx_t *list = zhashx_lookup (self->watchers, session->address);
    if (list) {
        void *handle = zlistx_find (list, session);
        if (handle)
            zlistx_delete (list, handle);
        if (zlistx_size (list) == 0)
            zhashx_delete (self->watchers, session->address);
    }
    session->watching = false;
}

static void
s_session_destroy (void **item)
{
    client_session_t *session = *item;
    if (session) {
        zframe_destroy (&session->routing_id);
        free (session);
        *item = NULL;
    }
}

static void
s_session_forget (server_t *self, client_session_t *session, const char *why)
{
    assert (session);
    assert (zhashx_lookup (self->sessions, session->key) == session);
    /* a consumer that goes away gives its leased messages back to the others */
    int released = store_lease_release_all (self->store, session->key);
    if (released > 0)
        log_info ("broker", "lease-released", "session=%s count=%d", session->key, released);
    log_info ("broker", "session-end", "session=%s mailbox=%s reason=%s", session->key,
              session->address[0] ? session->address : "-", why);
    s_unwatch (self, session);
    if (zhashx_lookup (self->routes, session->route) == session)
        zhashx_delete (self->routes, session->route);
    zhashx_delete (self->sessions, session->key);
}

static void
s_watchers_destroy (void **item)
{
    zlistx_t *list = *item;
    zlistx_destroy (&list);
    *item = NULL;
}

/* --------------------------------------------------------------------- replies */

/* Whether a refusal may be logged now (refused_log); more gets " suppressed=N" when lines were
   left out before this one, else "" */
static bool
s_refusal_logged (server_t *self, char more[48])
{
    uint64_t suppressed;
    more[0] = '\0';
    if (!log_limit_pass (&self->refused_log, &suppressed))
        return false;
    if (suppressed)
        snprintf (more, 48, " suppressed=%llu", (unsigned long long)suppressed);
    return true;
}

static zmsg_t *
s_refuse (context_t *ctx, reply_id_t reply, const char *text)
{
    /* the transaction may hold half of this request: the whole batch is rolled back */
    if (reply == REPLY_STORE_TROUBLE) {
        ctx->server->batch_failed = true;
        ctx->server->batch_full |= store_full (ctx->server->store);
    }
    if (reply_get (reply)->code == 421)
        ctx->server->refused_busy++;
    char more[48];
    if (s_refusal_logged (ctx->server, more)) {
        char why[300];
        const char *said = text ? text : reply_get (reply)->text;
        log_warn ("broker", "refused", "session=%s mailbox=%s verb=%s reply=%d why=%s%s",
                  ctx->session ? ctx->session->key : "-",
                  ctx->session && ctx->session->address[0] ? ctx->session->address : "-", ctx->req->verb,
                  reply_get (reply)->code, log_quote (why, sizeof why, said, strlen (said)), more);
    }
    return proto_reply_new (ctx->req->id, reply, text);
}

/* Sends a reply to the client with that routing id */
static int
s_send (server_t *self, const uint8_t *routing_id, size_t routing_size, zmsg_t **reply_p)
{
    assert (routing_size <= MAX_ROUTING_ID);
    assert (reply_p && *reply_p);
    if (zmq_send (zsock_resolve (self->router), routing_id, routing_size, ZMQ_SNDMORE) < 0 ||
        zmsg_send (reply_p, self->router) != 0) {
        zmsg_destroy (reply_p);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------------- HELO */

/* Ends a session from the broker's side: its client is told why (a push [*][END][status line]),
   then the session is forgotten; the connection's next request gets 530 */
static void
s_session_end (server_t *self, client_session_t *session, reply_id_t reply, const char *text, const char *why)
{
    char line[300];
    reply_format (line, sizeof line, reply, text);
    zmsg_t *push = zmsg_new ();
    zmsg_addstr (push, PROTO_PUSH_ID);
    zmsg_addstr (push, "END");
    zmsg_addstr (push, line);
    if (s_send (self, zframe_data (session->routing_id), zframe_size (session->routing_id), &push) != 0)
        log_warn ("broker", "push-dropped", "session=%s mailbox=%s", session->key, session->address);
    s_session_forget (self, session, why);
}

/* Ends every session of a mailbox (deleted, password changed), or of one of its keys */
static void
s_sessions_end_for (server_t *self, const char *address, const char *curve_key, const char *why)
{
    zlistx_t *ended = zlistx_new ();
    for (client_session_t *session = zhashx_first (self->sessions); session;
         session = zhashx_next (self->sessions))
        if (streq (session->address, address) && (!curve_key || streq (session->curve_key, curve_key)))
            zlistx_add_end (ended, session);
    char text[120];
    snprintf (text, sizeof text, "session ended: %s", why);
    for (client_session_t *session = zlistx_first (ended); session; session = zlistx_next (ended))
        s_session_end (self, session, REPLY_TRY_LATER, text, why);
    zlistx_destroy (&ended);
}

/* The connection on socket fd has ended (the router's monitor said so): so have its sessions */
static void
s_sessions_end_fd (server_t *self, int fd)
{
    zlistx_t *ended = zlistx_new ();
    for (client_session_t *session = zhashx_first (self->sessions); session;
         session = zhashx_next (self->sessions))
        if (session->fd == fd && session->fd >= 0)
            zlistx_add_end (ended, session);
    for (client_session_t *session = zlistx_first (ended); session; session = zlistx_next (ended))
        s_session_forget (self, session, "disconnected");
    zlistx_destroy (&ended);
}

/* A new, unidentified session for the connection the request came on */
static client_session_t *
s_session_new (context_t *ctx)
{
    server_t *self = ctx->server;
    client_session_t *session = calloc (1, sizeof *session);
    snprintf (session->key, sizeof session->key, "%s", ctx->conn);
    s_hex (ctx->pending->routing_id, ctx->pending->routing_size, session->route);
    session->routing_id = zframe_new (ctx->pending->routing_id, ctx->pending->routing_size);
    session->fd = ctx->fd;
    memcpy (session->curve_key, ctx->peer->curve_key, sizeof session->curve_key);
    zhashx_insert (self->sessions, session->key, session);
    zhashx_update (self->routes, session->route, session);
    return session;
}

/* by: "password", "key" or "ticket" */
static zmsg_t *
s_hello (context_t *ctx, const char *id, const char *by)
{
    assert (ctx->session && ctx->session->mailbox_id > 0);
    client_session_t *session = ctx->session;
    session->authenticated = true;
    log_info ("broker", "hello", "session=%s mailbox=%s by=%s", session->key, session->address, by);
    zmsg_t *reply = proto_reply_newf (id, REPLY_HELLO, "hello %s", session->address);
    zmsg_addstr (reply, session->address);
    return reply;
}

/* HELO with an empty password: the connection's CURVE key must be one of the mailbox's keys */
static zmsg_t *
s_helo_by_key (context_t *ctx, const store_mailbox_t *mailbox, bool found)
{
    client_session_t *session = ctx->session;
    if (!*session->curve_key)
        return s_refuse (ctx, REPLY_AUTH_FAILED,
                         "an empty password logs in only with a mailbox key, over CURVE");
    int64_t owner = 0;
    int rc = store_key_owner (ctx->server->store, session->curve_key, &owner);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found || rc == 0 || owner != mailbox->id)
        return s_refuse (ctx, REPLY_AUTH_FAILED, "this key is not one of that mailbox's keys");
    session->by_key = true;
    return s_hello (ctx, ctx->req->id, "key");
}

/* The auth actor with the fewest checks waiting */
static size_t
s_auth_worker (server_t *self)
{
    size_t best = 0;
    for (size_t i = 1; i < AUTH_WORKERS; i++)
        if (self->auth_load[i] < self->auth_load[best])
            best = i;
    return best;
}

/* Whether MAX_AUTH_PENDING checks wait already: a password HELO is then refused with 421 before
   anything else is done for it (no lookup, no session), so a storm's refusals cost little */
static bool
s_auth_busy (server_t *self)
{
    size_t pending = 0;
    for (size_t i = 0; i < AUTH_WORKERS; i++)
        pending += self->auth_load[i];
    return pending >= MAX_AUTH_PENDING;
}

/* HELO with a password: checked by an auth actor, answered in s_auth_answer */
static zmsg_t *
s_helo_by_password (context_t *ctx, const store_mailbox_t *mailbox, bool found, const char *password)
{
    server_t *self = ctx->server;
    client_session_t *session = ctx->session;
    /* the answer comes back with [session key][request id][mailbox id][fingerprint of the hash
       checked] as the tag: a ticket is bound to the password that was actually checked */
    uint8_t fingerprint[TICKET_FINGERPRINT_BYTES];
    char fingerprint_hex[2 * TICKET_FINGERPRINT_BYTES + 1];
    ticket_fingerprint (self->ticket_key, found ? mailbox->password_hash : "", fingerprint);
    sodium_bin2hex (fingerprint_hex, sizeof fingerprint_hex, fingerprint, sizeof fingerprint);
    size_t worker = s_auth_worker (self);
    zmsg_t *check = zmsg_new ();
    zmsg_addstrf (check, "%s %s %lld %s", session->key, ctx->req->id, (long long)session->mailbox_id,
                  fingerprint_hex);
    zmsg_addstr (check, found ? mailbox->password_hash : "");
    zmsg_addstr (check, password);
    zmsg_send (&check, self->auth[worker]);
    self->auth_load[worker]++;
    session->auth_pending = true;
    return NULL; /* answered later */
}

/* What HELO and RESUME share: the version, the address, no check pending, room for a session;
   then the mailbox is looked up (*found) and the connection's session made ready for it. A
   reply when refused, NULL to go on. password: the third argument is a password (HELO). */
static zmsg_t *
s_identify_begin (context_t *ctx, bool password, store_mailbox_t *mailbox, int *found)
{
    server_t *self = ctx->server;
    proto_request_t *req = ctx->req;
    if (!proto_arg_is (&req->args[0], PROTO_VERSION))
        return s_refuse (ctx, REPLY_BAD_VERSION,
                         "unsupported protocol version, this broker speaks " PROTO_VERSION);
    address_t addr;
    const char *why = NULL;
    if (address_parse ((const char *)req->args[1].data, req->args[1].size, &addr, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_SENDER_SYNTAX, why);
    if (password && (req->args[2].size > MAX_PASSWORD || memchr (req->args[2].data, '\0', req->args[2].size)))
        return s_refuse (ctx, REPLY_AUTH_FAILED, NULL);
    if (ctx->session && ctx->session->auth_pending)
        return s_refuse (ctx, REPLY_BAD_SEQUENCE, "HELO already being checked: wait for its answer");
    if (password && req->args[2].size > 0 && s_auth_busy (self))
        return s_refuse (ctx, REPLY_TRY_LATER, "too many logins being checked, try again shortly");
    if (!ctx->session && zhashx_size (self->sessions) >= MAX_SESSIONS)
        return s_refuse (ctx, REPLY_TRY_LATER, "too many sessions, try again later");
    *found = store_mailbox_find (self->store, addr.full, mailbox);
    if (*found < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!ctx->session)
        ctx->session = s_session_new (ctx);
    client_session_t *session = ctx->session;
    s_unwatch (self, session);
    session->authenticated = false;
    session->by_key = false;
    session->last_active = zclock_mono ();
    snprintf (session->address, sizeof session->address, "%s", addr.full);
    session->mailbox_id = *found ? mailbox->id : 0;
    session->gateway = *found && streq (mailbox->role, "gateway");
    return NULL;
}

static zmsg_t *
s_verb_helo (context_t *ctx)
{
    proto_request_t *req = ctx->req;
    store_mailbox_t mailbox;
    int found = 0;
    zmsg_t *refused = s_identify_begin (ctx, true, &mailbox, &found);
    if (refused)
        return refused;
    if (req->args[2].size == 0)
        return s_helo_by_key (ctx, &mailbox, found);
    char password[MAX_PASSWORD + 1];
    proto_arg_string (&req->args[2], password, sizeof password);
    zmsg_t *reply = s_helo_by_password (ctx, &mailbox, found, password);
    sodium_memzero (password, sizeof password);
    return reply;
}

/* RESUME version address ticket: identifies with a ticket a password HELO was given (ticket.h);
   refused with 535 and a reason logged (never the ticket's bytes), the client then uses its
   password. The MAC is checked before the mailbox is looked up, so a forged ticket takes the
   same time whether the mailbox exists or not. */
static zmsg_t *
s_verb_resume (context_t *ctx)
{
    server_t *self = ctx->server;
    proto_request_t *req = ctx->req;
    ticket_t ticket = {0};
    const char *why = NULL;
    int opened =
        ticket_open (self->ticket_key, (const char *)req->args[2].data, req->args[2].size, &ticket, &why);
    store_mailbox_t mailbox;
    int found = 0;
    zmsg_t *refused = s_identify_begin (ctx, false, &mailbox, &found);
    if (refused)
        return refused;
    if (opened == 0 && self->config.ticket_lifetime < 0)
        opened = -1, why = "tickets are off";
    if (opened == 0)
        opened = ticket_check (self->ticket_key, &ticket, found ? mailbox.id : 0,
                               found ? mailbox.password_hash : "", (int64_t)time (NULL), &why);
    if (opened != 0) {
        char more[48];
        if (s_refusal_logged (self, more))
            log_warn ("broker", "refused", "session=%s mailbox=%s verb=RESUME reply=535 why=\"ticket %s\"%s",
                      ctx->session->key, ctx->session->address, why, more);
        return proto_reply_new (req->id, REPLY_AUTH_FAILED,
                                "ticket not accepted: identify with the password");
    }
    return s_hello (ctx, req->id, "ticket");
}

/* A password HELO's reply gets a ticket for RESUME as its second data frame (ticket.h) */
static void
s_ticket_add (server_t *self, zmsg_t *reply, int64_t mailbox_id, const char *fingerprint_hex)
{
    int64_t lifetime = self->config.ticket_lifetime ? self->config.ticket_lifetime : TICKET_DEFAULT_LIFETIME;
    ticket_t ticket = {.mailbox_id = mailbox_id, .expires = (int64_t)time (NULL) + lifetime};
    if (lifetime < 0 || sodium_hex2bin (ticket.fingerprint, sizeof ticket.fingerprint, fingerprint_hex,
                                        strlen (fingerprint_hex), NULL, NULL, NULL) != 0)
        return;
    char text[TICKET_TEXT_BYTES];
    ticket_seal (self->ticket_key, &ticket, text);
    zmsg_addstr (reply, text);
}

/* An auth actor answered */
static void
s_auth_answer (server_t *self, size_t worker)
{
    zmsg_t *msg = zmsg_recv (self->auth[worker]);
    if (!msg)
        return;
    if (self->auth_load[worker] > 0)
        self->auth_load[worker]--;
    char *tag = zmsg_popstr (msg);
    char *verdict = zmsg_popstr (msg);
    char key[600], id[MAX_REQUEST_ID + 1], fingerprint[2 * TICKET_FINGERPRINT_BYTES + 1];
    long long mailbox_id = 0;
    client_session_t *session = NULL;
    if (tag && sscanf (tag, "%599s %32s %lld %32s", key, id, &mailbox_id, fingerprint) == 4)
        session = zhashx_lookup (self->sessions, key);
    if (session)
        session->auth_pending = false;
    /* the session may have said HELO again, or gone, meanwhile: then this answer is stale */
    if (session && session->mailbox_id == mailbox_id) {
        zmsg_t *reply;
        if (verdict && streq (verdict, "ok") && mailbox_id > 0) {
            context_t ctx = {.server = self, .session = session};
            reply = s_hello (&ctx, id, "password");
            s_ticket_add (self, reply, mailbox_id, fingerprint);
        }
        else {
            log_warn ("broker", "refused",
                      "session=%s mailbox=%s verb=HELO reply=535 why=\"bad credentials\"", session->key,
                      session->address);
            reply = proto_reply_new (id, REPLY_AUTH_FAILED, NULL);
        }
        if (s_send (self, zframe_data (session->routing_id), zframe_size (session->routing_id), &reply) != 0)
            log_warn ("broker", "reply-dropped", "errno=%d", zmq_errno ());
    }
    free (tag);
    free (verdict);
    zmsg_destroy (&msg);
}

/* --------------------------------------------------------------------- SEND */

/* RFC 5322 2.1 / 5321 2.3.8: lines end in CRLF; a bare CR or LF, or a NUL, is refused */
static const char *
s_check_content (const uint8_t *data, size_t size, size_t *hlen)
{
    if (memchr (data, '\0', size))
        return "NUL octet in message";
    for (const uint8_t *p = data, *end = data + size; (p = memchr (p, '\n', (size_t)(end - p))); p++)
        if (p == data || p[-1] != '\r')
            return "bare LF in message: lines must end in CRLF";
    for (const uint8_t *p = data, *end = data + size; (p = memchr (p, '\r', (size_t)(end - p))); p++)
        if (p + 1 == end || p[1] != '\n')
            return "bare CR in message: lines must end in CRLF";
    if ((*hlen = header_section_length ((const char *)data, size)) == 0)
        return "message has no header section (headers, empty line, body)";
    return NULL;
}

/* One info line per delivery, so the lecturer's broker pane shows mail flowing; past
   DELIVERY_LOG_PER_SEC in a second the rest are counted and the count logged */
static void
s_log_delivery (server_t *self, const char *mailbox, int64_t delivery, size_t size, const char *sender)
{
    int64_t second = zclock_mono () / 1000;
    if (second != self->log_second) {
        if (self->log_unlogged)
            log_info ("broker", "deliveries-not-logged", "count=%zu why=\"more than %d a second\"",
                      self->log_unlogged, DELIVERY_LOG_PER_SEC);
        self->log_second = second;
        self->log_lines = self->log_unlogged = 0;
    }
    if (self->log_lines++ < DELIVERY_LOG_PER_SEC)
        log_info ("broker", "delivered", "to=%s id=%lld size=%zu from=%s", mailbox, (long long)delivery, size,
                  *sender ? sender : "<>");
    else
        self->log_unlogged++;
}

/* A push for the watchers of mailbox, sent when the batch commits: its message to fill, or
   NULL when nobody watches */
static zmsg_t *
s_push_new (server_t *self, const char *mailbox, bool changes)
{
    if (!zhashx_lookup (self->watchers, mailbox))
        return NULL;
    if (self->push_count == self->push_max) {
        self->push_max = self->push_max ? self->push_max * 2 : 64;
        self->pushes = realloc (self->pushes, self->push_max * sizeof (push_t));
    }
    push_t *push = &self->pushes[self->push_count++];
    snprintf (push->mailbox, sizeof push->mailbox, "%s", mailbox);
    push->changes = changes;
    push->push = zmsg_new ();
    zmsg_addstr (push->push, PROTO_PUSH_ID);
    return push->push;
}

static void
s_queue_push (server_t *self, const char *mailbox, int64_t delivery, size_t size, const char *sender,
              const char *subject)
{
    assert (mailbox && sender && subject);
    s_log_delivery (self, mailbox, delivery, size, sender);
    zmsg_t *push = s_push_new (self, mailbox, false);
    if (!push)
        return;
    zmsg_addstr (push, "NEW");
    zmsg_addstr (push, mailbox);
    zmsg_addstrf (push, "%lld", (long long)delivery);
    zmsg_addstrf (push, "%zu", size);
    zmsg_addstr (push, sender);
    zmsg_addstr (push, subject);
}

/* ADDED, GONE or FLAGS [mailbox][folder][id]([flags]) for the watchers that asked for changes */
static void
s_queue_change (server_t *self, const char *mailbox, const folder_push_t *change)
{
    static const char *const kinds[] = {"NEW", "ADDED", "GONE", "FLAGS"};
    zmsg_t *push = s_push_new (self, mailbox, true);
    if (!push)
        return;
    char folder[STORE_FOLDER_NAME_MAX + 1] = "INBOX", flags[STORE_FLAGS_MAX];
    if (change->folder > 0 && store_folder_name (self->store, change->folder, folder, sizeof folder) != 1)
        folder[0] = '\0';
    zmsg_addstr (push, kinds[change->kind]);
    zmsg_addstr (push, mailbox);
    zmsg_addstr (push, folder);
    zmsg_addstrf (push, "%lld", (long long)change->id);
    if (change->kind == FOLDER_PUSH_FLAGS)
        zmsg_addstr (push, store_flags_format (change->flags, flags));
}

/* A store error inside the group commit: the whole transaction is rolled back and every
   request of the batch is answered 452 4.3.1 */
static zmsg_t *
s_store_trouble (context_t *ctx, const char *op)
{
    log_error ("broker", "store-error", "op=%s error=\"%s\"", op, store_error (ctx->server->store));
    ctx->server->batch_failed = true;
    ctx->server->batch_full |= store_full (ctx->server->store);
    ctx->pending->mutating = true;
    return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
}

/* One SEND as it goes check -> route -> store -> reply, each a step below. It borrows the
   server's recipient and target arrays (no allocation per request) and owns nothing else:
   the reply message is made by the last step and handed to the caller. */
typedef struct {
    context_t *ctx;
    rcpt_t *rcpts; /* the server's, one per recipient argument */
    size_t rcpt_count;
    route_targets_t *targets; /* the server's: the mailboxes the recipients reach */
    size_t stored;            /* deliveries and outbound entries the store step makes */
    address_t sender;
    const proto_arg_t *body;
    size_t hlen; /* its header section */
    char message_id[MAX_ADDRESS * 2 + 1];
    char subject[256];
    int64_t expires_at;
    uint8_t content[STORE_CONTENT_BYTES]; /* for dedupe, when there is a Message-ID */
    int64_t message;                      /* the stored body, once stored */
} send_t;

/* Fields a hop writes anew on every attempt, so not part of what makes a retry the same
   message: the trace fields (RFC 5322 3.6.7; the gateway's Received: carries the time and its
   session) and Date:, which a submission server adds when it is missing (RFC 6409 8.3) */
static bool
s_is_hop_field (const uint8_t *line, size_t size)
{
    static const char *const names[] = {"Received", "Return-Path", "Date"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen (names[i]);
        if (size > n && strncasecmp ((const char *)line, names[i], n) == 0 &&
            (line[n] == ':' || line[n] == ' ' || line[n] == '\t'))
            return true;
    }
    return false;
}

/* The dedupe digest: BLAKE2b-128 of the message without the hop fields. Two messages with
   one Message-ID are taken for one only when this is equal too (schema/009). */
static void
s_content_digest (send_t *send)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, STORE_CONTENT_BYTES);
    const uint8_t *p = send->body->data, *end = p + send->hlen;
    bool skip = false;
    while (p < end) {
        const uint8_t *eol = memchr (p, '\n', (size_t)(end - p));
        size_t size = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
        if (*p != ' ' && *p != '\t') /* a continuation line belongs to the field before */
            skip = s_is_hop_field (p, size);
        if (!skip)
            crypto_generichash_update (&state, p, size);
        p += size;
    }
    crypto_generichash_update (&state, end, send->body->size - send->hlen);
    crypto_generichash_final (&state, send->content, STORE_CONTENT_BYTES);
}

/* RFC 4021 2.1.49: Expires holds an RFC 5322 date-time. NULL, or the refusal. */
static zmsg_t *
s_send_expires (send_t *send, const char *expires)
{
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    const char *end =
        strptime (expires, strchr (expires, ',') ? "%a, %d %b %Y %H:%M:%S %z" : "%d %b %Y %H:%M:%S %z", &tm);
    if (!end || *end)
        return s_refuse (send->ctx, REPLY_BAD_CONTENT, "Expires: is not an RFC 5322 date-time");
    send->expires_at = (int64_t)timegm (&tm) - tm.tm_gmtoff;
    if (send->expires_at <= (int64_t)time (NULL))
        return s_refuse (send->ctx, REPLY_EXPIRED, "message expired before it was published");
    return NULL;
}

/* Check: the sender, size, content and headers, and send made ready for the steps after.
   NULL when they pass, else the refusal. */
static zmsg_t *
s_send_check (context_t *ctx, send_t *send)
{
    assert (ctx->session && ctx->session->authenticated); /* the dispatcher's needs_session */
    assert (ctx->req->argc >= 3);                         /* sender, a recipient, the message */
    proto_request_t *req = ctx->req;
    client_session_t *session = ctx->session;
    const char *why = NULL;
    *send = (send_t){.ctx = ctx,
                     .rcpts = ctx->server->rcpts,
                     .rcpt_count = req->argc - 2,
                     .targets = &ctx->server->targets,
                     .body = &req->args[req->argc - 1]};
    /* RFC 5321 4.5.5: a bounce has the null reverse-path; only the gateway sends those */
    bool null_sender = session->gateway && (req->args[0].size == 0 || proto_arg_is (&req->args[0], "<>"));
    if (!null_sender &&
        address_parse ((const char *)req->args[0].data, req->args[0].size, &send->sender, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_SENDER_SYNTAX, why);
    if (!session->gateway && !streq (send->sender.full, session->address))
        return s_refuse (ctx, REPLY_SENDER_DENIED, "you may send as yourself only");
    if (send->rcpt_count > MAX_RCPT)
        return s_refuse (ctx, REPLY_TOO_MANY_RCPT, NULL);
    if (send->body->size > ctx->server->config.max_message_bytes)
        return s_refuse (ctx, REPLY_TOO_BIG, "message exceeds fixed maximum message size");
    if ((why = s_check_content (send->body->data, send->body->size, &send->hlen)))
        return s_refuse (ctx, REPLY_BAD_CONTENT, why);
    const char *text = (const char *)send->body->data;
    if (header_count_in (text, send->hlen, "Received") > MAX_RECEIVED)
        return s_refuse (ctx, REPLY_LOOP, "too many Received: headers, the message is looping");
    header_find_in (text, send->hlen, "Message-ID", send->message_id, sizeof send->message_id);
    header_find_in (text, send->hlen, "Subject", send->subject, sizeof send->subject);
    char expires[128] = "";
    zmsg_t *refusal = NULL;
    if (header_find_in (text, send->hlen, "Expires", expires, sizeof expires) &&
        (refusal = s_send_expires (send, expires)))
        return refusal;
    if (*send->message_id)
        s_content_digest (send);
    return NULL;
}

/* Formats a recipient's reply line, "code enhanced text", at most SEND_LINE_MAX octets */
static void s_rcpt_line (rcpt_t *r, reply_id_t id, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
s_rcpt_line (rcpt_t *r, reply_id_t id, const char *format, ...)
{
    assert (format);
    char text[sizeof r->line];
    va_list ap;
    va_start (ap, format);
    vsnprintf (text, sizeof text, format, ap);
    va_end (ap);
    reply_format (r->line, SEND_LINE_MAX + 1, id, text);
}

/* A recipient refused: its reply and its line "code enhanced address why" */
static void
s_rcpt_refuse (rcpt_t *r, reply_id_t id, const char *why)
{
    r->reply = id;
    s_rcpt_line (r, id, "%s %s", r->address, why);
}

/* The dedupe key of one recipient of this SEND */
static store_publication_t
s_publication_key (const send_t *send, const char *recipient)
{
    return (store_publication_t){send->sender.full, send->message_id, recipient, send->content};
}

/* A retry: this recipient was given this very message before. Its line becomes the one it got
   then (or, for a recipient repeated in this SEND, the line a repeat gets). True when so. */
static bool
s_rcpt_seen (send_t *send, size_t i)
{
    rcpt_t *r = &send->rcpts[i];
    if (!*send->message_id)
        return false;
    store_publication_t key = s_publication_key (send, r->address);
    char *line = store_publication_find (send->ctx->server->store, &key);
    if (!line)
        return false;
    r->again = true;
    bool repeated = false;
    for (size_t k = 0; k < i; k++)
        repeated |= send->rcpts[k].again && streq (send->rcpts[k].address, r->address);
    if (repeated)
        s_rcpt_line (r, REPLY_QUEUED, "%s already queued (duplicate recipient)", r->address);
    else
        snprintf (r->line, sizeof r->line, "%s", line);
    free (line);
    char id[160];
    log_info ("broker", "duplicate", "mailbox=%s rcpt=%u message-id=%s", send->sender.full, (unsigned)i,
              log_quote (id, sizeof id, send->message_id, strlen (send->message_id)));
    return true;
}

/* A recipient in a domain of this broker: its mailboxes, added to the targets */
static int
s_rcpt_local (send_t *send, rcpt_t *r, const address_t *rcpt)
{
    route_targets_t *targets = send->targets;
    route_result_t route;
    r->first = targets->count;
    if (route_resolve (send->ctx->server->store, rcpt, send->sender.full, (const char *)send->body->data,
                       send->body->size, targets, &route) != 0)
        return -1;
    r->count = targets->count - r->first;
    r->is_list = route.is_list;
    for (size_t k = r->first; k < r->first + r->count; k++)
        if (targets->items[k].room < (int64_t)send->body->size)
            r->full++; /* RFC 3463 5.2.2: that mailbox is over its quota */
    if (route.reply != REPLY_QUEUED)
        s_rcpt_refuse (r, route.reply, route.text);
    else if (!r->is_list && r->count == 1 && r->full)
        s_rcpt_refuse (r, REPLY_QUOTA, "mailbox full");
    return 0;
}

/* What becomes of recipient i, reading only. 0, or -1 on store trouble. */
static int
s_rcpt_decide (send_t *send, size_t i)
{
    server_t *self = send->ctx->server;
    const proto_arg_t *arg = &send->ctx->req->args[1 + i];
    rcpt_t *r = &send->rcpts[i];
    memset (r, 0, sizeof *r);
    r->reply = REPLY_QUEUED;
    address_t rcpt;
    const char *why = NULL;
    if (address_parse ((const char *)arg->data, arg->size, &rcpt, &why) != 0) {
        /* show what was given, without control characters */
        size_t n = arg->size < MAX_ADDRESS ? arg->size : MAX_ADDRESS;
        for (size_t k = 0; k < n; k++)
            r->address[k] = (arg->data[k] < 0x20 || arg->data[k] >= 0x7f) ? '?' : (char)arg->data[k];
        s_rcpt_refuse (r, REPLY_BAD_RCPT_SYNTAX, why);
        return 0;
    }
    snprintf (r->address, sizeof r->address, "%s", rcpt.full);
    if (s_rcpt_seen (send, i))
        return 0;
    if (address_domain_in (&rcpt, self->config.domains))
        return s_rcpt_local (send, r, &rcpt);
    if (self->config.relay && !send->ctx->session->gateway) {
        r->relay = true;
        return 0;
    }
    /* the gateway submits only what came in without AUTH: that is never relayed */
    char text[MAX_ADDRESS + 64];
    snprintf (text, sizeof text, "relay access denied: %s is not a domain of this broker", rcpt.domain);
    s_rcpt_refuse (r, REPLY_RELAY_DENIED, text);
    return 0;
}

/* Route: what becomes of each recipient, reading only; counts what the store step makes.
   0, or -1 on store trouble. */
static int
s_send_route (send_t *send)
{
    route_targets_reset (send->targets, 0);
    for (size_t i = 0; i < send->rcpt_count; i++) {
        const rcpt_t *r = &send->rcpts[i];
        if (s_rcpt_decide (send, i) != 0)
            return -1;
        if (r->again)
            continue;
        if (r->reply == REPLY_QUEUED)
            send->stored += r->relay ? 1 : r->count - r->full;
        else
            log_warn ("broker", "rcpt-refused", "mailbox=%s rcpt=%u reply=%d", send->sender.full, (unsigned)i,
                      reply_get (r->reply)->code);
    }
    return 0;
}

/* An accepted local recipient: a delivery to each of its mailboxes with room, and its line.
   The number of deliveries, or -1 on store trouble. */
static int64_t
s_rcpt_deliver (send_t *send, rcpt_t *r)
{
    server_t *self = send->ctx->server;
    int64_t delivered = 0, delivery = 0;
    for (size_t k = r->first; k < r->first + r->count; k++) {
        const route_target_t *target = &send->targets->items[k];
        if (target->room < (int64_t)send->body->size)
            continue;
        delivery = store_delivery_add (self->store, send->message, target->mailbox_id, send->body->size);
        if (delivery < 0)
            return -1;
        delivered++;
        s_queue_push (self, target->address, delivery, send->body->size, send->sender.full, send->subject);
    }
    if (r->is_list)
        s_rcpt_line (r, REPLY_QUEUED, "%s list: %lld %s%s, message %lld", r->address, (long long)delivered,
                     delivered == 1 ? "delivery" : "deliveries", r->full ? " (some mailboxes full)" : "",
                     (long long)send->message);
    else if (r->count == 0)
        s_rcpt_line (r, REPLY_QUEUED, "%s already queued (duplicate recipient)", r->address);
    else /* the id the recipient's LIST, RETR and DELE will use */
        s_rcpt_line (r, REPLY_QUEUED, "%s queued as %lld", r->address, (long long)delivery);
    return delivered;
}

/* An accepted recipient in another domain: an outbound entry, and its line. 1, or -1. */
static int64_t
s_rcpt_relay (send_t *send, rcpt_t *r)
{
    int64_t entry =
        store_outbound_add (send->ctx->server->store, send->message, send->sender.full, r->address);
    if (entry < 0)
        return -1;
    s_rcpt_line (r, REPLY_QUEUED, "%s queued for relay as %lld", r->address, (long long)entry);
    return 1;
}

/* Store: the body once, then for each accepted recipient its deliveries or outbound entry,
   its line, and, when it stored anything, the dedupe record that answers a retry with that
   line. No savepoint: a store error fails the whole group commit, and every request in it is
   answered 452 (a retry is safe: publish is idempotent). NULL, or the operation that failed. */
static const char *
s_send_store (send_t *send)
{
    store_t *store = send->ctx->server->store;
    if (send->stored > 0) {
        send->ctx->pending->mutating = true;
        send->message =
            store_message_add (store, send->sender.full, *send->message_id ? send->message_id : NULL,
                               send->subject, send->body->data, send->body->size, send->expires_at);
        if (send->message < 0)
            return "message-add";
        if (send->ctx->server->space)
            space_written (send->ctx->server->space, (int64_t)send->body->size);
    }
    for (size_t i = 0; i < send->rcpt_count; i++) {
        rcpt_t *r = &send->rcpts[i];
        if (r->again || r->reply != REPLY_QUEUED)
            continue; /* its line is made: the first answer again, or the refusal */
        int64_t delivered = r->relay ? s_rcpt_relay (send, r) : s_rcpt_deliver (send, r);
        store_publication_t key = s_publication_key (send, r->address);
        if (delivered < 0 ||
            (delivered > 0 && *send->message_id && store_publication_add (store, &key, r->line) != 0))
            return "store-rcpt";
    }
    return NULL;
}

/* Reply: [id][status line][a line per recipient]. The status says how many recipients were
   accepted (a retried one counts, as it did then). */
static zmsg_t *
s_send_reply (const send_t *send)
{
    size_t accepted = 0;
    reply_id_t first_failure = REPLY_FAILED;
    for (size_t i = 0; i < send->rcpt_count; i++) {
        const rcpt_t *r = &send->rcpts[i];
        if (r->again || r->reply == REPLY_QUEUED)
            accepted++;
        else if (first_failure == REPLY_FAILED)
            first_failure = r->reply;
    }
    zmsg_t *reply = accepted == 0
                        ? proto_reply_new (send->ctx->req->id, first_failure, "no recipient accepted")
                        : proto_reply_newf (send->ctx->req->id, REPLY_QUEUED,
                                            "%zu of %zu recipients accepted", accepted, send->rcpt_count);
    for (size_t i = 0; i < send->rcpt_count; i++)
        zmsg_addstr (reply, send->rcpts[i].line);
    if (send->stored > 0)
        log_debug ("broker", "queued", "mailbox=%s message=%lld size=%zu stored=%zu", send->sender.full,
                   (long long)send->message, send->body->size, send->stored);
    return reply;
}

/* Publishing refused for want of space (below --min-free, the disk full, or the WAL at its
   cap while a reader pins it): nothing was written, so the batch goes on; the state was
   logged on the way in (space.c, store.c), a refusal only counted */
static zmsg_t *
s_send_space (context_t *ctx)
{
    server_t *self = ctx->server;
    if (!(self->space && space_refuses (self->space)) && !store_wal_capped (self->store))
        return NULL;
    self->refused_space++;
    return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE,
                            "insufficient system storage: publishing paused until space is freed");
}

static zmsg_t *
s_verb_send (context_t *ctx)
{
    send_t send;
    zmsg_t *refusal = s_send_check (ctx, &send);
    if (!refusal)
        refusal = s_send_space (ctx);
    if (refusal)
        return refusal;
    if (s_send_route (&send) != 0)
        return s_store_trouble (ctx, "route");
    const char *failed = s_send_store (&send);
    if (failed)
        return s_store_trouble (ctx, failed);
    return s_send_reply (&send);
}

/* --------------------------------------------------------------------- pulling */

static zmsg_t *
s_verb_stat (context_t *ctx)
{
    store_mailbox_t mailbox;
    int found = store_mailbox_find (ctx->server->store, ctx->session->address, &mailbox);
    if (found < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found)
        return s_refuse (ctx, REPLY_NO_MAILBOX, "your mailbox was deleted");
    /* the INBOX: the mailbox's counters less its folders' */
    if (store_inbox_totals (ctx->server->store, mailbox.id, &mailbox.message_count, &mailbox.used_bytes,
                            NULL) != 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%lld messages, %lld bytes",
                                      (long long)mailbox.message_count, (long long)mailbox.used_bytes);
    zmsg_addstrf (reply, "%lld", (long long)mailbox.message_count);
    zmsg_addstrf (reply, "%lld", (long long)mailbox.used_bytes);
    return reply;
}

/* zmsg_addstrf formatted on the stack: zmsg_addstrf allocates the string, copies it into the
   frame and frees it, a third of a big LIST's time (issue 13); a longer line goes to the heap */
static void s_addf (zmsg_t *msg, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_addf (zmsg_t *msg, const char *format, ...)
{
    char line[512];
    va_list ap;
    va_start (ap, format);
    int n = vsnprintf (line, sizeof line, format, ap);
    va_end (ap);
    if (n < 0)
        return;
    char *text = (size_t)n < sizeof line ? line : malloc ((size_t)n + 1);
    if (text != line) {
        va_start (ap, format);
        vsnprintf (text, (size_t)n + 1, format, ap);
        va_end (ap);
    }
    zmsg_addmem (msg, text, (size_t)n);
    if (text != line)
        free (text);
}

static void
s_list_entry (const store_entry_t *entry, void *arg)
{
    zmsg_t *reply = arg;
    s_addf (reply, "%lld\t%lld\t%s\t%lld\t%s\t%s", (long long)entry->id, (long long)entry->size,
            entry->seen ? "seen" : "new", (long long)entry->delivered_at, entry->sender, entry->subject);
}

/* LIST [after [limit]]: the whole mailbox, or a page of it (the messages after the id after, at
   most limit, default LIST_PAGE); a full page says where the next one starts */
static zmsg_t *
s_verb_list (context_t *ctx)
{
    int64_t after = 0, limit = -1;
    if (ctx->req->argc >= 1 && proto_arg_uint (&ctx->req->args[0], &after) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "LIST cursor must be a message id (a number)");
    if (ctx->req->argc >= 1)
        limit = LIST_PAGE;
    if (ctx->req->argc == 2 &&
        (proto_arg_uint (&ctx->req->args[1], &limit) != 0 || limit < 1 || limit > MAX_LIST_PAGE))
        return s_refuse (ctx, REPLY_BAD_ARGS, "LIST page size must be a number from 1 to 10000");
    zmsg_t *data = zmsg_new ();
    /* one more than the page: whether there is a next page, without counting the rest */
    if (store_delivery_each (ctx->server->store, ctx->session->mailbox_id, after, limit < 0 ? -1 : limit + 1,
                             s_list_entry, data) != 0) {
        zmsg_destroy (&data);
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    bool more = limit >= 0 && zmsg_size (data) > (size_t)limit;
    zmsg_t *reply;
    if (more) {
        zframe_t *extra = zmsg_last (data);
        zmsg_remove (data, extra);
        zframe_destroy (&extra);
        char *last = zframe_strdup (zmsg_last (data));
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%zu messages, more after %lld", zmsg_size (data),
                                  strtoll (last, NULL, 10));
        free (last);
    }
    else
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%zu messages", zmsg_size (data));
    proto_move_frames (reply, &data);
    return reply;
}

/* --------------------------------------------------------------------- batched drain (issue 13) */

/* A batched RETR's reply holds at most this many octets of messages */
#define MAX_BATCH_REPLY_BYTES (64 * 1024 * 1024)

/* The list form of RETR, DELE and ACK: several ids in a frame, or ids in several frames. One id
   alone keeps the old form and its reply. */
static bool
s_id_list (const proto_request_t *req, size_t end)
{
    return end > 1 || (end == 1 && memchr (req->args[0].data, ' ', req->args[0].size) != NULL);
}

/* What a batched DELE or ACK removed: which of the ids asked for, and a GONE push each */
typedef struct {
    context_t *ctx;
    const int64_t *ids; /* ascending (folder_ids_parse) */
    size_t count;
    bool *done;
} batch_removed_t;

static int
s_id_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void
s_batch_removed (int64_t id, int64_t folder, void *arg)
{
    batch_removed_t *batch = arg;
    const int64_t *at = bsearch (&id, batch->ids, batch->count, sizeof id, s_id_compare);
    if (at)
        batch->done[at - batch->ids] = true;
    folder_push_t change = {.kind = FOLDER_PUSH_GONE, .id = id, .folder = folder};
    s_queue_change (batch->ctx->server, batch->ctx->session->address, &change);
}

/* DELE or ACK (ack) of several ids, one statement for all (store_deliveries_remove): 250
   "<done> N of M" followed, when some were not there, by a frame naming those
   (space-separated); 550 when none was */
static zmsg_t *
s_batch_apply (context_t *ctx, bool ack, const char *done_text, const char *none_text)
{
    int64_t ids[FOLDER_MAX_IDS];
    bool done[FOLDER_MAX_IDS] = {false};
    size_t count = 0, used = 0;
    const char *why = folder_ids_parse (ctx->req, 0, ctx->req->argc, ids, &count);
    if (why)
        return s_refuse (ctx, REPLY_BAD_ARGS, why);
    ctx->pending->mutating = true;
    batch_removed_t batch = {ctx, ids, count, done};
    int removed = store_deliveries_remove (ctx->server->store, ctx->session->mailbox_id, ids, count,
                                           ack ? ctx->session->key : NULL, s_batch_removed, &batch);
    if (removed < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    /* the removal is committed whatever comes next: short of memory, the reply goes without
       the frame that names the ids not found */
    char *missing = malloc (count * 21 + 1);
    for (size_t i = 0; missing && i < count; i++)
        if (!done[i])
            used += (size_t)sprintf (missing + used, "%s%lld", used ? " " : "", (long long)ids[i]);
    zmsg_t *reply = removed == 0 ? s_refuse (ctx, REPLY_NO_MESSAGE, none_text)
                                 : proto_reply_newf (ctx->req->id, REPLY_DELETED, "%s %d of %zu", done_text,
                                                     removed, count);
    if (removed > 0 && used > 0)
        zmsg_addmem (reply, missing, used);
    free (missing);
    return reply;
}

/* What a batched RETR found of one id, to mark it seen once all were read */
typedef struct {
    int64_t id, folder;
    unsigned flags;
} retrieved_t;

/* Marks the messages read seen (those that were not), with a FLAGS push each: 0, or -1 */
static int
s_batch_mark_seen (context_t *ctx, const retrieved_t *found, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (found[i].flags & STORE_FLAG_SEEN)
            continue;
        int rc = store_delivery_mark_seen (ctx->server->store, ctx->session->mailbox_id, found[i].id);
        if (rc < 0)
            return -1;
        folder_push_t change = {.kind = FOLDER_PUSH_FLAGS,
                                .id = found[i].id,
                                .folder = found[i].folder,
                                .flags = found[i].flags | STORE_FLAG_SEEN};
        if (rc == 1)
            s_queue_change (ctx->server, ctx->session->address, &change);
    }
    return 0;
}

/* RETR id id ... [PEEK]: 250 "N of M messages follow", then id, message, id, message ... in
   ascending id order (ids not there are left out); 550 when none was; 452 past
   MAX_BATCH_REPLY_BYTES, nothing marked then */
static zmsg_t *
s_retr_batch (context_t *ctx, size_t end, bool peek)
{
    int64_t ids[FOLDER_MAX_IDS];
    static retrieved_t found[FOLDER_MAX_IDS]; /* the broker's one thread */
    size_t count = 0, n = 0, total = 0;
    const char *why = folder_ids_parse (ctx->req, 0, end, ids, &count);
    if (why)
        return s_refuse (ctx, REPLY_BAD_ARGS, why);
    ctx->pending->mutating = !peek;
    zmsg_t *data = zmsg_new ();
    for (size_t i = 0; i < count; i++) {
        void *body = NULL;
        size_t size = 0;
        retrieved_t *r = &found[n];
        int rc = store_delivery_fetch (ctx->server->store, ctx->session->mailbox_id, ids[i], false, &body,
                                       &size, NULL, &r->folder, &r->flags);
        if (rc == 1 && (total += size) <= MAX_BATCH_REPLY_BYTES) {
            r->id = ids[i];
            n++;
            zmsg_addstrf (data, "%lld", (long long)ids[i]);
            zmsg_addmem (data, body, size);
        }
        free (body);
        if (rc < 0 || total > MAX_BATCH_REPLY_BYTES) {
            zmsg_destroy (&data);
            return rc < 0
                       ? s_refuse (ctx, REPLY_STORE_TROUBLE, NULL)
                       : s_refuse (ctx, REPLY_REPLY_TOO_BIG, "the messages named come to more than 64 MiB");
        }
    }
    if (n == 0 || (!peek && s_batch_mark_seen (ctx, found, n) != 0)) {
        zmsg_destroy (&data);
        return n == 0 ? s_refuse (ctx, REPLY_NO_MESSAGE, "none of the messages named is there")
                      : s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%zu of %zu messages follow", n, count);
    proto_move_frames (reply, &data);
    return reply;
}

/* RETR id [PEEK]: a message of any folder; without PEEK it is marked seen (S) */
static zmsg_t *
s_verb_retr (context_t *ctx)
{
    size_t end = ctx->req->argc;
    bool last_peek = end >= 2 && proto_arg_is (&ctx->req->args[end - 1], "PEEK");
    if (s_id_list (ctx->req, last_peek ? end - 1 : end))
        return s_retr_batch (ctx, last_peek ? end - 1 : end, last_peek);
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "message id must be a number");
    bool peek = ctx->req->argc == 2;
    if (peek && !proto_arg_is (&ctx->req->args[1], "PEEK"))
        return s_refuse (ctx, REPLY_BAD_ARGS, "RETR id [PEEK]");
    void *body = NULL;
    size_t size = 0;
    bool marked = false;
    folder_push_t change = {.kind = FOLDER_PUSH_FLAGS, .id = id};
    ctx->pending->mutating = !peek; /* marks the message seen */
    int rc = store_delivery_fetch (ctx->server->store, ctx->session->mailbox_id, id, !peek, &body, &size,
                                   &marked, &change.folder, &change.flags);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such message");
    if (marked)
        s_queue_change (ctx->server, ctx->session->address, &change);
    zmsg_t *reply = proto_reply_new (ctx->req->id, REPLY_OK, "message follows");
    zmsg_addmem (reply, body, size);
    free (body);
    return reply;
}

static zmsg_t *
s_verb_dele (context_t *ctx)
{
    if (s_id_list (ctx->req, ctx->req->argc))
        return s_batch_apply (ctx, false, "deleted", "no such message");
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "message id must be a number");
    ctx->pending->mutating = true;
    folder_push_t change = {.kind = FOLDER_PUSH_GONE, .id = id};
    bool watched = zhashx_lookup (ctx->server->watchers, ctx->session->address) != NULL;
    int rc = store_delivery_remove (ctx->server->store, ctx->session->mailbox_id, id,
                                    watched ? &change.folder : NULL);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such message");
    s_queue_change (ctx->server, ctx->session->address, &change);
    return proto_reply_newf (ctx->req->id, REPLY_DELETED, "deleted %lld", (long long)id);
}

static zmsg_t *
s_verb_watch (context_t *ctx)
{
    server_t *self = ctx->server;
    client_session_t *session = ctx->session;
    int64_t window = WATCH_WINDOW;
    if (ctx->req->argc >= 1 &&
        (proto_arg_uint (&ctx->req->args[0], &window) != 0 || window < 1 || window > MAX_WATCH_WINDOW))
        return s_refuse (ctx, REPLY_BAD_ARGS, "WATCH window must be a number from 1 to 1000");
    if (ctx->req->argc == 2 && !proto_arg_is (&ctx->req->args[1], "changes"))
        return s_refuse (ctx, REPLY_BAD_ARGS, "WATCH [window [changes]]");
    session->changes = ctx->req->argc == 2;
    int64_t last = store_delivery_last_id (self->store, session->mailbox_id);
    if (last < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    session->window = (int)window;
    session->credit = (int)window;
    session->missed = 0;
    if (!session->watching) {
        zlistx_t *list = zhashx_lookup (self->watchers, session->address);
        if (!list) {
            list = zlistx_new ();
            zhashx_insert (self->watchers, session->address, list);
        }
        zlistx_add_end (list, session);
        session->watching = true;
        log_info ("broker", "watch", "session=%s mailbox=%s", session->key, session->address);
    }
    zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "watching %s", session->address);
    zmsg_addstrf (reply, "%lld", (long long)last);
    return reply;
}

/* CREDIT n: the watcher has handled n pushes and may be sent n more. When it fell behind
   meanwhile, the reply says how many deliveries it was not sent, and it pulls them (LIST). */
static zmsg_t *
s_verb_credit (context_t *ctx)
{
    client_session_t *session = ctx->session;
    int64_t n;
    if (!session->watching)
        return s_refuse (ctx, REPLY_BAD_SEQUENCE, "CREDIT without WATCH");
    if (proto_arg_uint (&ctx->req->args[0], &n) != 0 || n < 1 || n > MAX_WATCH_WINDOW)
        return s_refuse (ctx, REPLY_BAD_ARGS, "CREDIT takes a number from 1 to 1000");
    session->credit = (int)(session->credit + n > session->window ? session->window : session->credit + n);
    zmsg_t *reply;
    if (session->missed) {
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "credit %d; behind by %lld, pull with LIST",
                                  session->credit, (long long)session->missed);
        zmsg_addstrf (reply, "%lld", (long long)session->missed);
        log_info ("broker", "watch-resync", "session=%s mailbox=%s missed=%lld", session->key,
                  session->address, (long long)session->missed);
        session->missed = 0;
    }
    else {
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "credit %d", session->credit);
        zmsg_addstr (reply, "0");
    }
    return reply;
}

static zmsg_t *
s_verb_unwatch (context_t *ctx)
{
    s_unwatch (ctx->server, ctx->session);
    return proto_reply_new (ctx->req->id, REPLY_OK, NULL);
}

static zmsg_t *
s_verb_vrfy (context_t *ctx)
{
    address_t addr;
    const char *why = NULL;
    const proto_arg_t *arg = &ctx->req->args[0];
    if (address_parse ((const char *)arg->data, arg->size, &addr, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_RCPT_SYNTAX, why);
    if (!address_domain_in (&addr, ctx->server->config.domains))
        return proto_reply_newf (ctx->req->id, REPLY_CANNOT_VRFY, "%s is not local, cannot verify",
                                 addr.full);
    store_mailbox_t mailbox;
    int found = store_mailbox_find (ctx->server->store, addr.full, &mailbox);
    if (found < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found)
        return s_refuse (ctx, REPLY_NO_MAILBOX, "no such mailbox");
    return proto_reply_new (ctx->req->id, REPLY_ADDRESS_OK, addr.full);
}

/* LEASE [n [seconds]]: hands out up to n messages nobody holds, each followed by its body */
static void
s_lease_one (int64_t id, const void *body, size_t size, void *arg)
{
    zmsg_addstrf ((zmsg_t *)arg, "%lld", (long long)id);
    zmsg_addmem ((zmsg_t *)arg, body, size);
}

static zmsg_t *
s_verb_lease (context_t *ctx)
{
    int64_t n = 1, seconds = DEFAULT_LEASE_SECONDS;
    if (ctx->req->argc >= 1 && (proto_arg_uint (&ctx->req->args[0], &n) != 0 || n < 1 || n > MAX_LEASE_COUNT))
        return s_refuse (ctx, REPLY_BAD_ARGS, "LEASE count must be a number from 1 to 100");
    if (ctx->req->argc == 2 &&
        (proto_arg_uint (&ctx->req->args[1], &seconds) != 0 || seconds < 1 || seconds > MAX_LEASE_SECONDS))
        return s_refuse (ctx, REPLY_BAD_ARGS, "LEASE seconds must be a number from 1 to 3600");
    ctx->pending->mutating = true;
    zmsg_t *data = zmsg_new ();
    int count = store_lease (ctx->server->store, ctx->session->mailbox_id, ctx->session->key, (int)n,
                             seconds * 1000, s_lease_one, data);
    if (count < 0) {
        zmsg_destroy (&data);
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply =
        proto_reply_newf (ctx->req->id, REPLY_OK, "%d messages leased for %lld s", count, (long long)seconds);
    proto_move_frames (reply, &data);
    return reply;
}

/* ACK id (done: delete) and NACK id (give back) for a leased message */
static zmsg_t *
s_lease_answer (context_t *ctx, bool ack)
{
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "message id must be a number");
    ctx->pending->mutating = true;
    int rc = ack ? store_lease_ack (ctx->server->store, ctx->session->mailbox_id, id, ctx->session->key)
                 : store_lease_nack (ctx->server->store, ctx->session->mailbox_id, id, ctx->session->key);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such message leased to you (its lease may have run out)");
    if (ack) {
        folder_push_t change = {.kind = FOLDER_PUSH_GONE, .id = id}; /* leases are of the INBOX */
        s_queue_change (ctx->server, ctx->session->address, &change);
    }
    return proto_reply_newf (ctx->req->id, ack ? REPLY_DELETED : REPLY_OK, "%s %lld",
                             ack ? "acknowledged" : "released", (long long)id);
}

static zmsg_t *
s_verb_ack (context_t *ctx)
{
    if (s_id_list (ctx->req, ctx->req->argc))
        return s_batch_apply (ctx, true, "acknowledged",
                              "none of the messages named is leased to you (leases may have run out)");
    return s_lease_answer (ctx, true);
}

static zmsg_t *
s_verb_nack (context_t *ctx)
{
    return s_lease_answer (ctx, false);
}

/* ----------------------------------------------------------------- relay (gateway only) */

static zmsg_t *
s_check_gateway (context_t *ctx)
{
    return ctx->session->gateway
               ? NULL
               : s_refuse (ctx, REPLY_NOT_YOURS, "relay verbs are for the gateway identity");
}

static void
s_claim_one (const store_outbound_t *entry, void *arg)
{
    zmsg_t *reply = arg;
    zmsg_addstrf (reply, "%lld", (long long)entry->id);
    zmsg_addstr (reply, entry->sender);
    zmsg_addstr (reply, entry->recipient);
    zmsg_addstrf (reply, "%lld", (long long)entry->attempts);
    zmsg_addstrf (reply, "%lld", (long long)entry->queued_at);
    zmsg_addmem (reply, entry->body, entry->size);
}

/* CLAIM [n [seconds]]: due outbound entries, six frames each: id, sender, recipient,
   attempts, queued-at, message. Claimed entries go to no other worker until the claim ends. */
static zmsg_t *
s_verb_claim (context_t *ctx)
{
    zmsg_t *refused = s_check_gateway (ctx);
    if (refused)
        return refused;
    int64_t n = 10, seconds = 300;
    if (ctx->req->argc >= 1 && (proto_arg_uint (&ctx->req->args[0], &n) != 0 || n < 1 || n > MAX_LEASE_COUNT))
        return s_refuse (ctx, REPLY_BAD_ARGS, "CLAIM count must be a number from 1 to 100");
    if (ctx->req->argc == 2 &&
        (proto_arg_uint (&ctx->req->args[1], &seconds) != 0 || seconds < 1 || seconds > MAX_LEASE_SECONDS))
        return s_refuse (ctx, REPLY_BAD_ARGS, "CLAIM seconds must be a number from 1 to 3600");
    ctx->pending->mutating = true;
    zmsg_t *data = zmsg_new ();
    int count = store_outbound_claim (ctx->server->store, (int)n, seconds * 1000, s_claim_one, data);
    if (count < 0) {
        zmsg_destroy (&data);
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply =
        proto_reply_newf (ctx->req->id, REPLY_OK, "%d entries claimed for %lld s", count, (long long)seconds);
    proto_move_frames (reply, &data);
    return reply;
}

/* RELAYED id | DEFER id text | FAIL id text | RELEASE id: what became of a claimed entry.
   DEFER schedules the next try with exponential backoff, or gives up past the queue's maximum
   age; the reply to DEFER and FAIL says "bounce" when the sender must be told (the gateway
   sends the DSN). RELEASE gives an entry back untried (a worker stopping): the claim ends,
   nothing else changes. */
static zmsg_t *
s_relay_result (context_t *ctx, const char *what)
{
    zmsg_t *refused = s_check_gateway (ctx);
    if (refused)
        return refused;
    server_t *self = ctx->server;
    int64_t id;
    char text[512] = "";
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "entry id must be a number");
    if (ctx->req->argc == 2 && proto_arg_string (&ctx->req->args[1], text, sizeof text) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "error text too long or holds a NUL");
    store_outbound_t entry;
    int found = store_outbound_get (self->store, id, &entry);
    if (found < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found || streq (entry.state, "failed"))
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such queued entry");
    ctx->pending->mutating = true;
    int rc;
    bool bounce = false;
    int64_t next = 0;
    if (streq (what, "RELAYED"))
        rc = store_outbound_delete (self->store, id);
    else if (streq (what, "RELEASE")) {
        rc = store_outbound_release (self->store, id);
        if (rc >= 0) {
            log_info ("broker", "relay-released", "entry=%lld attempts=%lld", (long long)id,
                      (long long)entry.attempts);
            zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "entry %lld released", (long long)id);
            zmsg_addstr (reply, "retry");
            return reply;
        }
    }
    else {
        int64_t now = (int64_t)time (NULL);
        if (streq (what, "DEFER") && now - entry.queued_at < self->config.queue_max_age) {
            int64_t delay = self->config.retry_base;
            for (int64_t i = 0; i < entry.attempts && delay < RETRY_MAX; i++)
                delay *= 2;
            next = now + (delay < RETRY_MAX ? delay : RETRY_MAX);
        }
        bounce = next == 0;
        rc = store_outbound_retry (self->store, id, text, next);
    }
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    /* the error text is a remote server's reply, passed on by the gateway: quoted */
    char quoted[600];
    log_info ("broker", "relay-result", "entry=%lld result=%s attempts=%lld next=%lld bounce=%d error=%s",
              (long long)id, what, (long long)entry.attempts + 1, (long long)next, bounce,
              log_quote (quoted, sizeof quoted, text, strlen (text)));
    zmsg_t *reply;
    if (bounce)
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "entry %lld failed for good: send a bounce",
                                  (long long)id);
    else if (next)
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "entry %lld retries in %lld s", (long long)id,
                                  (long long)(next - (int64_t)time (NULL)));
    else
        reply = proto_reply_newf (ctx->req->id, REPLY_OK, "entry %lld delivered", (long long)id);
    zmsg_addstr (reply, bounce ? "bounce" : next ? "retry" : "done");
    return reply;
}

static zmsg_t *
s_verb_relayed (context_t *ctx)
{
    return s_relay_result (ctx, "RELAYED");
}

static zmsg_t *
s_verb_defer (context_t *ctx)
{
    return s_relay_result (ctx, "DEFER");
}

static zmsg_t *
s_verb_fail (context_t *ctx)
{
    return s_relay_result (ctx, "FAIL");
}

static zmsg_t *
s_verb_release (context_t *ctx)
{
    return s_relay_result (ctx, "RELEASE");
}

/* Finds the list named by the request's first argument; NULL reply when found */
static zmsg_t *
s_find_list (context_t *ctx, store_topic_t *list)
{
    address_t addr;
    const char *why = NULL;
    const proto_arg_t *arg = &ctx->req->args[0];
    if (address_parse ((const char *)arg->data, arg->size, &addr, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_RCPT_SYNTAX, why);
    int found = store_topic_find (ctx->server->store, addr.full, list);
    if (found < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found) {
        char text[MAX_ADDRESS + 20];
        snprintf (text, sizeof text, "no such list %s", addr.full);
        return s_refuse (ctx, REPLY_NO_MAILBOX, text);
    }
    return NULL;
}

static zmsg_t *
s_verb_subscribe (context_t *ctx)
{
    store_topic_t list;
    zmsg_t *refused = s_find_list (ctx, &list);
    if (refused)
        return refused;
    char filter[256] = "";
    const char *why = NULL;
    if (ctx->req->argc == 2 && proto_arg_string (&ctx->req->args[1], filter, sizeof filter) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "filter too long or holds a NUL");
    if ((why = route_filter_check (filter)))
        return s_refuse (ctx, REPLY_BAD_ARGS, why);
    if (!list.open)
        return s_refuse (ctx, REPLY_NOT_YOURS, "closed list: only its administrator adds members");
    ctx->pending->mutating = true;
    int rc = store_subscribe (ctx->server->store, list.id, ctx->session->address, filter);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    char quoted[300];
    log_info ("broker", "subscribe", "list=%s member=%s filter=%s", list.address, ctx->session->address,
              log_quote (quoted, sizeof quoted, filter, strlen (filter)));
    return proto_reply_newf (ctx->req->id, rc ? REPLY_OK : REPLY_ALREADY, "%s %s",
                             rc ? "subscribed to" : "already subscribed to (filter updated)", list.address);
}

static zmsg_t *
s_verb_unsubscribe (context_t *ctx)
{
    store_topic_t list;
    zmsg_t *refused = s_find_list (ctx, &list);
    if (refused)
        return refused;
    ctx->pending->mutating = true;
    int rc = store_unsubscribe (ctx->server->store, list.id, ctx->session->address);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0) {
        char text[MAX_ADDRESS + 30];
        snprintf (text, sizeof text, "not subscribed to %s", list.address);
        return s_refuse (ctx, REPLY_NOT_SUBSCRIBED, text);
    }
    log_info ("broker", "unsubscribe", "list=%s member=%s", list.address, ctx->session->address);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "unsubscribed from %s", list.address);
}

/* EXPN: members of an open list are shown to every identified mailbox; of a closed list,
   to its members and to the gateway only */
static zmsg_t *
s_verb_expn (context_t *ctx)
{
    store_topic_t list;
    zmsg_t *refused = s_find_list (ctx, &list);
    if (refused)
        return refused;
    store_t *store = ctx->server->store;
    if (!list.open && !ctx->session->gateway) {
        int member = store_is_member (store, list.id, ctx->session->address);
        if (member < 0)
            return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
        if (!member)
            return s_refuse (ctx, REPLY_NOT_YOURS, "closed list: members only");
    }
    int64_t count = 0;
    store_member_t *members = store_topic_members (store, list.id, &count);
    if (count < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    zmsg_t *reply =
        proto_reply_newf (ctx->req->id, REPLY_OK, "%s has %lld members", list.address, (long long)count);
    for (int64_t i = 0; i < count; i++)
        zmsg_addstr (reply, members[i].member);
    free (members);
    return reply;
}

static zmsg_t *
s_verb_noop (context_t *ctx)
{
    return proto_reply_new (ctx->req->id, REPLY_OK, NULL);
}

static zmsg_t *
s_verb_quit (context_t *ctx)
{
    zmsg_t *reply = proto_reply_new (ctx->req->id, REPLY_BYE, NULL);
    if (ctx->session) {
        s_session_forget (ctx->server, ctx->session, "quit");
        ctx->session = NULL;
    }
    return reply;
}

/* ------------------------------------------------- folders and flags (folders.c, IMAP) */

static zmsg_t *
s_folder_refuse (void *ctx, reply_id_t reply, const char *text)
{
    return s_refuse (ctx, reply, text);
}

static zmsg_t *
s_folder_space (void *ctx)
{
    return s_send_space (ctx);
}

static void
s_folder_written (void *ctx, int64_t bytes)
{
    server_t *self = ((context_t *)ctx)->server;
    if (self->space)
        space_written (self->space, bytes);
}

static void
s_folder_push (void *arg, const folder_push_t *push)
{
    context_t *ctx = arg;
    if (push->kind == FOLDER_PUSH_NEW)
        s_queue_push (ctx->server, ctx->session->address, push->id, (size_t)push->size, push->sender,
                      push->subject);
    else
        s_queue_change (ctx->server, ctx->session->address, push);
}

/* Runs a verb of folders.c with this request's context */
static zmsg_t *
s_folder_verb (context_t *ctx, zmsg_t *(*verb) (folder_call_t *call))
{
    folder_call_t call = {.store = ctx->server->store,
                          .req = ctx->req,
                          .mailbox_id = ctx->session->mailbox_id,
                          .address = ctx->session->address,
                          .max_message_bytes = ctx->server->config.max_message_bytes,
                          .mutating = &ctx->pending->mutating,
                          .ctx = ctx,
                          .refuse = s_folder_refuse,
                          .space = s_folder_space,
                          .content = s_check_content,
                          .written = s_folder_written,
                          .push = s_folder_push};
    return verb (&call);
}

#define FOLDER_VERB(name, fn)                                                                                \
    static zmsg_t *s_verb_##name (context_t *ctx)                                                            \
    {                                                                                                        \
        return s_folder_verb (ctx, fn);                                                                      \
    }
FOLDER_VERB (folders, folder_verb_folders)
FOLDER_VERB (folder, folder_verb_folder)
FOLDER_VERB (scan, folder_verb_scan)
FOLDER_VERB (flag, folder_verb_flag)
FOLDER_VERB (copy, folder_verb_copy)
FOLDER_VERB (move, folder_verb_move)
FOLDER_VERB (append, folder_verb_append)
FOLDER_VERB (expunge, folder_verb_expunge)

/* --------------------------------------------------------------------- dispatch */

typedef struct {
    const char *verb;
    size_t min_args, max_args;
    bool needs_session; /* refused with 530 before HELO */
    verb_fn *proceed;
} verb_t;

/* clang-format off */
static const verb_t s_verbs[] = {
    {"HELO",        3, 3,              false, s_verb_helo},
    {"RESUME",      3, 3,              false, s_verb_resume},
    {"SEND",        3, PROTO_MAX_ARGS, true,  s_verb_send},
    {"STAT",        0, 0,              true,  s_verb_stat},
    {"LIST",        0, 2,              true,  s_verb_list},
    {"RETR",        1, PROTO_MAX_ARGS, true,  s_verb_retr},
    {"DELE",        1, PROTO_MAX_ARGS, true,  s_verb_dele},
    {"WATCH",       0, 2,              true,  s_verb_watch},
    {"CREDIT",      1, 1,              true,  s_verb_credit},
    {"LEASE",       0, 2,              true,  s_verb_lease},
    {"CLAIM",       0, 2,              true,  s_verb_claim},
    {"RELAYED",     1, 1,              true,  s_verb_relayed},
    {"DEFER",       2, 2,              true,  s_verb_defer},
    {"FAIL",        2, 2,              true,  s_verb_fail},
    {"RELEASE",     1, 1,              true,  s_verb_release},
    {"ACK",         1, PROTO_MAX_ARGS, true,  s_verb_ack},
    {"NACK",        1, 1,              true,  s_verb_nack},
    {"UNWATCH",     0, 0,              true,  s_verb_unwatch},
    {"SUBSCRIBE",   1, 2,              true,  s_verb_subscribe},
    {"UNSUBSCRIBE", 1, 1,              true,  s_verb_unsubscribe},
    {"VRFY",        1, 1,              true,  s_verb_vrfy},
    {"EXPN",        1, 1,              true,  s_verb_expn},
    {"NOOP",        0, 0,              false, s_verb_noop},
    {"QUIT",        0, 0,              false, s_verb_quit},
    /* folders and flags (folders.c) */
    {"FOLDERS",     0, 1,              true,  s_verb_folders},
    {"FOLDER",      2, 3,              true,  s_verb_folder},
    {"SCAN",        1, 3,              true,  s_verb_scan},
    {"FLAG",        3, PROTO_MAX_ARGS, true,  s_verb_flag},
    {"COPY",        2, PROTO_MAX_ARGS, true,  s_verb_copy},
    {"MOVE",        2, PROTO_MAX_ARGS, true,  s_verb_move},
    {"APPEND",      4, 4,              true,  s_verb_append},
    {"EXPUNGE",     1, PROTO_MAX_ARGS, true,  s_verb_expunge},
};
/* clang-format on */

/* The check half: everything a request must satisfy before its verb runs */
static zmsg_t *
s_check (context_t *ctx, const verb_t **verb_p)
{
    const verb_t *verb = NULL;
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        if (streq (s_verbs[i].verb, ctx->req->verb))
            verb = &s_verbs[i];
    if (!verb)
        return s_refuse (ctx, REPLY_UNKNOWN_VERB, "command unrecognised");
    if (ctx->req->argc < verb->min_args || ctx->req->argc > verb->max_args) {
        char text[80];
        snprintf (text, sizeof text, "%s takes %zu to %zu arguments, got %zu", verb->verb, verb->min_args,
                  verb->max_args, ctx->req->argc);
        return s_refuse (ctx, REPLY_BAD_ARGS, text);
    }
    if (verb->needs_session && !(ctx->session && ctx->session->authenticated))
        return s_refuse (ctx, REPLY_AUTH_REQUIRED, "authentication required: send HELO first");
    *verb_p = verb;
    return NULL;
}

/* A batch slot for the request in self->frames: its routing id, no reply yet */
static pending_t *
s_pending_new (server_t *self)
{
    assert (self->batch_size < MAX_BATCH);
    pending_t *pending = &self->batch[self->batch_size];
    pending->reply = NULL;
    pending->mutating = false;
    pending->again = NULL;
    pending->again_count = 0;
    pending->retried = false;
    size_t routing_size = zmq_msg_size (&self->frames[0]);
    pending->routing_size = routing_size < MAX_ROUTING_ID ? routing_size : MAX_ROUTING_ID;
    memcpy (pending->routing_id, zmq_msg_data (&self->frames[0]), pending->routing_size);
    return pending;
}

/* Reads one client message into self->frames without waiting: the number of frames read
   (routing id included, at most PROTO_MAX_FRAMES + 1), or 0 when nothing is waiting */
static size_t
s_receive (server_t *self)
{
    void *router = zsock_resolve (self->router);
    if (zmq_msg_recv (&self->frames[0], router, ZMQ_DONTWAIT) < 0)
        return 0;
    size_t count = 1;
    bool more = zmq_msg_more (&self->frames[0]);
    while (more) {
        /* the rest of a message is there once its first frame is (ZeroMQ delivers whole
           messages); frames beyond what any request may hold are read and dropped */
        zmq_msg_t *frame = count < PROTO_MAX_FRAMES + 1 ? &self->frames[count] : &self->excess;
        if (zmq_msg_recv (frame, router, 0) < 0)
            break;
        if (frame != &self->excess)
            count++;
        more = zmq_msg_more (frame);
    }
    return count;
}

/* libzmq lets a routing id be taken again once its connection has gone. A request from another
   connection with the routing id of a session means that session's connection is gone: it
   ends now, before anything more is sent to that routing id. */
static void
s_route_check (server_t *self, const char *route, client_session_t *session)
{
    client_session_t *previous = zhashx_lookup (self->routes, route);
    if (previous && previous != session)
        s_session_forget (self, previous, "routing-id-reused");
}

/* The verbs that free space (or must work while there is none): never refused for space, and
   run again after the disk filled up under their batch */
static bool
s_space_exempt (const proto_request_t *req)
{
    static const char *const verbs[] = {"DELE",    "ACK",  "NACK", "RETR",    "LEASE", "UNSUBSCRIBE",
                                        "RELAYED", "FLAG", "MOVE", "EXPUNGE", "FOLDER"};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (streq (req->verb, verbs[i]))
            return true;
    return false;
}

/* Keeps the request's frames (their metadata too: the connection they came on) for a retry */
static void
s_keep_again (server_t *self, pending_t *pending, size_t count)
{
    pending->again = calloc (count, sizeof (zmq_msg_t));
    pending->again_count = count;
    for (size_t i = 0; i < count; i++) {
        zmq_msg_init (&pending->again[i]);
        zmq_msg_copy (&pending->again[i], &self->frames[i]);
    }
}

static void
s_drop_again (pending_t *pending)
{
    for (size_t i = 0; i < pending->again_count; i++)
        zmq_msg_close (&pending->again[i]);
    free (pending->again);
    pending->again = NULL;
    pending->again_count = 0;
}

/* Runs the client message in self->frames for pending: its reply, or NULL (HELO: later) */
static zmsg_t *
s_handle_request (server_t *self, pending_t *pending, size_t count)
{
    proto_arg_t frames[PROTO_MAX_FRAMES];
    for (size_t i = 1; i < count; i++)
        frames[i - 1] = (proto_arg_t){zmq_msg_data (&self->frames[i]), zmq_msg_size (&self->frames[i])};

    proto_request_t req;
    reply_id_t error_reply;
    const char *why = NULL;
    char route[2 * MAX_ROUTING_ID + 1], key[2 * MAX_ROUTING_ID + 2];
    /* libzmq puts the connection's metadata on the frames the client sent, not always on
       the routing id frame the router adds */
    zmq_msg_t *first = count > 1 ? &self->frames[1] : &self->frames[0];
    zap_peer_t peer;
    zap_peer_of (first, &peer);
    s_hex (pending->routing_id, pending->routing_size, route);
    s_conn_key (&peer, route, key, sizeof key);
    context_t ctx = {self, zhashx_lookup (self->sessions, key), &req, pending,
                     key,  zmq_msg_get (first, ZMQ_SRCFD),      &peer};
    s_route_check (self, route, ctx.session);
    if (ctx.session)
        ctx.session->last_active = zclock_mono ();

    zmsg_t *reply = NULL;
    if (proto_request_parse_frames (frames, count - 1, &req, &error_reply, &why) != 0) {
        char shown[80], more[48];
        if (s_refusal_logged (self, more))
            log_warn (
                "broker", "malformed", "session=%s why=\"%s\" frames=%zu first=%s%s", key, why, count - 1,
                count > 1 ? log_quote (shown, sizeof shown, frames[0].data, frames[0].size) : "-", more);
        reply = proto_reply_new (req.id, error_reply, why);
    }
    else {
        const verb_t *verb = NULL;
        reply = s_check (&ctx, &verb);
        if (!reply && verb)
            reply = verb->proceed (&ctx);
        if (reply && !pending->again && s_space_exempt (&req) && self->space && space_tight (self->space))
            s_keep_again (self, pending, count);
    }
    return reply;
}

/* Handles the client message in self->frames; the reply (if any now) goes into the batch */
static void
s_handle (server_t *self, size_t count)
{
    pending_t *pending = s_pending_new (self);
    zmsg_t *reply = s_handle_request (self, pending, count);
    if (reply) {
        pending->reply = reply;
        self->batch_size++;
    }
    else
        s_drop_again (pending);
}

/* No transaction could begin: the request in self->frames is answered 452 at once (it waits
   for better times), with its own id when it has a usable one */
static void
s_handle_without_store (server_t *self, size_t count)
{
    pending_t *pending = s_pending_new (self);
    self->batch_size++;
    char id[MAX_REQUEST_ID + 1] = PROTO_NO_ID;
    if (count > 1 && zmq_msg_size (&self->frames[1]) <= MAX_REQUEST_ID) {
        memcpy (id, zmq_msg_data (&self->frames[1]), zmq_msg_size (&self->frames[1]));
        id[zmq_msg_size (&self->frames[1])] = '\0';
    }
    pending->reply = proto_reply_new (id, REPLY_STORE_TROUBLE, NULL);
}

/* Ends the batch's transaction: true when it committed */
static bool
s_batch_commit (server_t *self, bool in_transaction)
{
    if (!in_transaction)
        return false;
    if (self->batch_failed) {
        store_rollback (self->store);
        log_error ("broker", "batch-rolled-back", "requests=%zu", self->batch_size);
        return false;
    }
    char *error = NULL;
    if (store_commit (self->store, &error) == 0)
        return true;
    log_error ("broker", "commit-failed", "requests=%zu error=\"%s\"", self->batch_size, error);
    free (error);
    return false;
}

/* The batch met a full disk and was rolled back; the reserve is released now. Its requests
   that delete mail run again, alone, in a transaction of their own (SEND is refused for space
   from now on): true when that committed, and those requests are answered with their new
   replies. */
static bool
s_batch_retry (server_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->batch_size; i++)
        kept += self->batch[i].again != NULL;
    if (kept == 0 || store_begin (self->store) != 0)
        return false;
    self->batch_failed = false;
    for (size_t i = 0; i < self->batch_size; i++) {
        pending_t *pending = &self->batch[i];
        for (size_t f = 0; f < pending->again_count; f++)
            zmq_msg_copy (&self->frames[f], &pending->again[f]);
        zmsg_t *reply = pending->again ? s_handle_request (self, pending, pending->again_count) : NULL;
        if (reply) {
            zmsg_destroy (&pending->reply);
            pending->reply = reply;
        }
    }
    bool committed = s_batch_commit (self, true);
    for (size_t i = 0; i < self->batch_size; i++)
        self->batch[i].retried = committed && self->batch[i].again;
    log_warn ("broker", "batch-retried", "requests=%zu committed=%s why=\"the disk was full\"", kept,
              committed ? "yes" : "no");
    return committed;
}

/* Sends the batch's replies; when it did not commit, a request that changed the store is
   answered 452 instead, with its own id (nothing of it is stored) */
static void
s_batch_answer (server_t *self, bool committed)
{
    for (size_t i = 0; i < self->batch_size; i++) {
        pending_t *pending = &self->batch[i];
        s_drop_again (pending);
        if (!committed && pending->mutating && !pending->retried) {
            self->refused_trouble++;
            char *id = zmsg_popstr (pending->reply);
            zmsg_destroy (&pending->reply);
            pending->reply = proto_reply_new (id ? id : PROTO_NO_ID, REPLY_STORE_TROUBLE, NULL);
            free (id);
        }
        if (s_send (self, pending->routing_id, pending->routing_size, &pending->reply) != 0)
            log_warn ("broker", "reply-dropped", "errno=%d", zmq_errno ());
    }
}

/* Sends the batch's NEW pushes to the watchers with credit (when it committed), and drops them */
static void
s_batch_push (server_t *self, bool committed)
{
    s_monitor_drain (self); /* no push goes to a connection that has ended meanwhile */
    for (size_t i = 0; i < self->push_count; i++) {
        push_t *push = &self->pushes[i];
        zlistx_t *list = committed ? zhashx_lookup (self->watchers, push->mailbox) : NULL;
        for (client_session_t *watcher = list ? zlistx_first (list) : NULL; watcher;
             watcher = zlistx_next (list)) {
            if (push->changes && !watcher->changes)
                continue;
            if (watcher->credit <= 0) {
                /* a slow watcher costs nothing: it is told at its next CREDIT and pulls */
                if (watcher->missed++ == 0)
                    log_warn ("broker", "watch-behind", "session=%s mailbox=%s", watcher->key,
                              watcher->address);
                continue;
            }
            watcher->credit--;
            zmsg_t *copy = zmsg_dup (push->push);
            if (s_send (self, zframe_data (watcher->routing_id), zframe_size (watcher->routing_id), &copy) !=
                0)
                log_warn ("broker", "push-dropped", "session=%s mailbox=%s", watcher->key, watcher->address);
        }
        zmsg_destroy (&push->push);
    }
    self->push_count = 0;
}

/* SQLite found the disk full: the reserve goes back to the file system, so that deleting
   (and the checkpoint that lets the WAL start over) has room; publishing is refused */
static void
s_disk_full (server_t *self)
{
    if (!self->space) {
        log_error ("broker", "disk-full", "why=\"no reserve: run with --db to have one\"");
        return;
    }
    space_full (self->space);
    store_checkpoint_eager (self->store, true);
    store_wal_tick (self->store, true); /* a checkpoint now, into the room the reserve left */
}

/* The free space, read at most every SPACE_CHECK_MS (space.h), before a batch: the WAL is
   checkpointed eagerly while space is short */
static void
s_space_check (server_t *self)
{
    if (store_checkpoint_found_full (self->store))
        s_disk_full (self);
    if (!self->space || !space_due (self->space))
        return;
    space_update (self->space, store_free_inside (self->store));
    store_checkpoint_eager (self->store, space_tight (self->space));
}

/* Group commit: every request waiting on the socket goes into one transaction; the
   replies go out only after it committed (durable acknowledgement). */
static void
s_serve_batch (server_t *self)
{
    /* a connection that ended before this batch's requests were sent has no session left
       that a new connection with its routing id could be answered for */
    s_monitor_drain (self);
    s_space_check (self);
    self->batches++;
    bool in_transaction = store_begin (self->store) == 0;
    if (!in_transaction)
        log_error ("broker", "store-error", "op=begin error=\"%s\"", store_error (self->store));
    self->batch_size = 0;
    self->batch_failed = false;
    self->batch_full = false;
    size_t count;
    while (self->batch_size < MAX_BATCH && (count = s_receive (self)) > 0) {
        if (in_transaction)
            s_handle (self, count);
        else
            s_handle_without_store (self, count);
    }
    bool committed = s_batch_commit (self, in_transaction);
    if (!committed && (self->batch_full || store_full (self->store))) {
        s_disk_full (self);
        s_batch_retry (self);
    }
    s_batch_answer (self, committed);
    s_batch_push (self, committed);
}

/* --------------------------------------------------------------------- loop */

static void
s_expire_sessions (server_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *stale = zlistx_new ();
    for (client_session_t *session = zhashx_first (self->sessions); session;
         session = zhashx_next (self->sessions))
        if (now - session->last_active > (session->watching ? WATCH_IDLE_MSEC : SESSION_IDLE_MSEC))
            zlistx_add_end (stale, session);
    for (client_session_t *session = zlistx_first (stale); session; session = zlistx_next (stale))
        s_session_forget (self, session, "idle");
    zlistx_destroy (&stale);
}

/* Dedupe records forgotten per purge: a long backlog (a window just made shorter) goes in
   slices with requests served in between */
#define FORGET_SLICE 5000

/* Deliveries purged: a GONE push each for the watchers of its mailbox, found by the mailbox
   ids of the watching sessions (a map made at the first one) */
typedef struct {
    server_t *server;
    zhashx_t *addresses; /* mailbox id -> address, of the mailboxes watched */
} purge_t;

static void
s_purge_gone (int64_t id, int64_t mailbox, int64_t folder, void *arg)
{
    purge_t *purge = arg;
    server_t *self = purge->server;
    if (zhashx_size (self->watchers) == 0)
        return;
    char key[24];
    if (!purge->addresses) {
        purge->addresses = zhashx_new ();
        for (zlistx_t *list = zhashx_first (self->watchers); list; list = zhashx_next (self->watchers)) {
            client_session_t *session = zlistx_first (list);
            snprintf (key, sizeof key, "%lld", (long long)session->mailbox_id);
            zhashx_update (purge->addresses, key, session->address);
        }
    }
    snprintf (key, sizeof key, "%lld", (long long)mailbox);
    const char *address = zhashx_lookup (purge->addresses, key);
    folder_push_t change = {.kind = FOLDER_PUSH_GONE, .folder = folder, .id = id};
    if (address)
        s_queue_change (self, address, &change);
}

/* Expired messages, retention limits and dedupe records past the window, once a second, in a
   transaction of their own, only when there is something to purge: an idle broker takes no
   write lock (a sqlite3 shell writing by hand meets none). True when dedupe records are left
   to forget: the caller comes back soon instead of in a second. */
static bool
s_purge (server_t *self)
{
    int64_t forget_before = (int64_t)time (NULL) - self->config.dedupe_window;
    if (!store_purge_due (self->store, forget_before) || store_begin (self->store) != 0)
        return false;
    purge_t purge = {self, NULL};
    int purged = store_purge (self->store, s_purge_gone, &purge);
    zhashx_destroy (&purge.addresses);
    int forgotten = purged < 0 ? -1 : store_publications_forget (self->store, forget_before, FORGET_SLICE);
    char *error = NULL;
    if (forgotten < 0 || store_commit (self->store, &error) != 0) {
        log_error ("broker", "purge-failed", "error=\"%s\"", error ? error : store_error (self->store));
        store_rollback (self->store);
        free (error);
        s_batch_push (self, false);
        return false;
    }
    s_batch_push (self, true); /* the GONE pushes */
    if (purged > 0)
        log_info ("broker", "purged", "deliveries=%d", purged);
    if (forgotten > 0)
        log_debug ("broker", "dedupe-forgotten", "publications=%d window=%lld", forgotten,
                   (long long)self->config.dedupe_window);
    return forgotten == FORGET_SLICE;
}

/* A mailbox deleted, its password changed or one of its keys removed: the sessions that
   identified with what is gone end now (a watch would otherwise keep one alive for ever) */
static void
s_admin_sessions (server_t *self, const admin_effect_t *effect)
{
    if (effect->kind != ADMIN_EFFECT_NONE)
        s_sessions_end_for (self, effect->address,
                            effect->kind == ADMIN_EFFECT_KEY_REMOVED ? effect->key : NULL, effect->why);
}

/* The disk's rows of STATUS */
static void
s_status_space (server_t *self, zmsg_t *rows)
{
    space_info_t space = {.min_free = "0"};
    if (self->space)
        space_info (self->space, &space);
    zmsg_addstrf (rows, "free-bytes %lld", (long long)space.free_bytes);
    zmsg_addstrf (rows, "free-inside-bytes %lld", (long long)space.inside_bytes);
    zmsg_addstrf (rows, "disk-bytes %lld", (long long)space.total_bytes);
    zmsg_addstrf (rows, "min-free %s", space.min_free);
    zmsg_addstrf (rows, "min-free-bytes %lld", (long long)space.min_free_bytes);
    zmsg_addstrf (rows, "space %s", space.full ? "full" : space.low ? "low" : "ok");
    zmsg_addstrf (rows, "reserve %s",
                  space.reserve_bytes == 0 ? "none"
                  : space.reserve_held     ? "held"
                                           : "released");
    zmsg_addstrf (rows, "reserve-bytes %lld", (long long)space.reserve_bytes);
}

/* The WAL's rows of STATUS */
static void
s_status_wal (server_t *self, zmsg_t *rows)
{
    store_wal_info_t wal;
    store_wal_info (self->store, &wal);
    int64_t now = zclock_time ();
    zmsg_addstrf (rows, "wal-bytes %lld", (long long)wal.wal_bytes);
    zmsg_addstrf (rows, "wal-keep-bytes %lld", (long long)wal.keep_bytes);
    zmsg_addstrf (rows, "wal-cap-bytes %lld", (long long)wal.cap_bytes);
    zmsg_addstrf (rows, "wal-pinned-seconds %lld",
                  wal.pinned_since ? (long long)(now - wal.pinned_since) / 1000 : 0LL);
    zmsg_addstrf (rows, "wal-capped %s", wal.capped ? "yes" : "no");
    char when[32] = "never";
    time_t at = (time_t)(wal.checkpoint_at / 1000);
    struct tm tm;
    if (wal.checkpoint_at && gmtime_r (&at, &tm))
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    zmsg_addstrf (rows, "checkpoint-last %s", when);
    zmsg_addstrf (rows, "checkpoint-frames %lld", (long long)wal.checkpoint_frames);
    zmsg_addstrf (rows, "checkpoint-copied %lld", (long long)wal.checkpoint_copied);
}

/* STATUS: what an operator looks at first, as "key value" rows (docs/OPERATIONS.md) */
static void
s_status_rows (void *arg, zmsg_t *rows)
{
    server_t *self = arg;
    size_t watchers = 0;
    for (client_session_t *session = zhashx_first (self->sessions); session;
         session = zhashx_next (self->sessions))
        watchers += session->watching;
    int64_t messages = -1, bytes = -1;
    store_queue_depth (self->store, &messages, &bytes);
    s_space_check (self);
    zmsg_addstrf (rows, "uptime-seconds %lld", (long long)(zclock_time () - self->started_at) / 1000);
    zmsg_addstrf (rows, "sessions %zu", zhashx_size (self->sessions));
    zmsg_addstrf (rows, "watchers %zu", watchers);
    zmsg_addstrf (rows, "queue-messages %lld", (long long)messages);
    zmsg_addstrf (rows, "queue-bytes %lld", (long long)bytes);
    s_status_wal (self, rows);
    s_status_space (self, rows);
    zmsg_addstrf (rows, "refused-space %lld", (long long)self->refused_space);
    zmsg_addstrf (rows, "refused-storage-error %lld", (long long)self->refused_trouble);
    zmsg_addstrf (rows, "refused-busy %lld", (long long)self->refused_busy);
}

static void
s_serve_admin (server_t *self)
{
    zmsg_t *msg = zmsg_recv (self->admin);
    if (!msg)
        return;
    admin_effect_t effect;
    zmsg_t *reply = admin_execute_status (self->store, msg, &effect, s_status_rows, self);
    s_admin_sessions (self, &effect);
    zmsg_destroy (&msg);
    zmsg_send (&reply, self->admin);
}

/* The router's connection ends, on a PAIR socket: a session ends with its connection */
static int
s_monitor_start (server_t *self, char **error)
{
    char endpoint[80];
    endpoint_inproc_unique (endpoint, sizeof endpoint, "mailbus-router-monitor");
    if (zmq_socket_monitor (zsock_resolve (self->router), endpoint, ZMQ_EVENT_DISCONNECTED) != 0) {
        *error = zsys_sprintf ("cannot monitor the client socket: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    self->monitor = zsock_new (ZMQ_PAIR);
    zsock_set_rcvtimeo (self->monitor, 0);
    if (!self->monitor || zsock_connect (self->monitor, "%s", endpoint) != 0) {
        *error = zsys_sprintf ("cannot read the client socket's monitor");
        return -1;
    }
    return 0;
}

/* Every event waiting on the monitor: a DISCONNECTED event carries the connection's socket,
   and ends the sessions of that connection */
static void
s_monitor_drain (server_t *self)
{
    while (true) {
        zmq_msg_t event, address;
        zmq_msg_init (&event);
        if (zmq_msg_recv (&event, zsock_resolve (self->monitor), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&event);
            return;
        }
        /* libzmq v1 events: [event (16 bits) + value (32 bits)][endpoint] */
        bool disconnected = false;
        int fd = -1;
        if (zmq_msg_size (&event) == 6) {
            const uint8_t *data = zmq_msg_data (&event);
            uint16_t what;
            uint32_t value;
            memcpy (&what, data, 2);
            memcpy (&value, data + 2, 4);
            disconnected = what == ZMQ_EVENT_DISCONNECTED;
            fd = (int)value;
        }
        while (zmq_msg_more (&event)) {
            zmq_msg_init (&address);
            zmq_msg_recv (&address, zsock_resolve (self->monitor), 0);
            bool more = zmq_msg_more (&address);
            zmq_msg_close (&address);
            if (!more)
                break;
        }
        zmq_msg_close (&event);
        if (disconnected)
            s_sessions_end_fd (self, fd);
    }
}

/* Keeps what was bound, "*" resolved, for the ENDPOINT and PORT queries */
static void
s_bound (server_t *self, const endpoint_t *endpoint)
{
    char *bound = zsock_last_endpoint (self->router);
    if (!bound)
        return;
    char *joined =
        zsys_sprintf ("%s%s%s", self->endpoints ? self->endpoints : "", self->endpoints ? " " : "", bound);
    free (self->endpoints);
    self->endpoints = joined;
    const char *colon = strrchr (bound, ':');
    if (!self->port && endpoint->transport == ENDPOINT_TCP && colon)
        self->port = atoi (colon + 1);
    free (bound);
}

/* Binds one client endpoint: CURVE beyond loopback (and everywhere with curve_always); an
   inproc endpoint (an in-process server, a fuzzer) has no handshake, so no CURVE and no ZAP */
static int
s_bind_one (server_t *self, const char *text, char **error)
{
    endpoint_t endpoint;
    const char *why = NULL;
    if (endpoint_parse_with_inproc (text, &endpoint, &why) != 0) {
        *error = zsys_sprintf ("cannot bind %s: %s", text, why);
        return -1;
    }
    bool curve = endpoint.transport != ENDPOINT_INPROC && (!endpoint.loopback || self->config.curve_always);
    if (curve && !self->config.cert) {
        *error = zsys_sprintf ("cannot bind %s: beyond loopback the broker needs its CURVE key pair", text);
        return -1;
    }
    /* libzmq copies the socket's options into each listener at bind time */
    if (curve) {
        zcert_apply (self->config.cert, self->router);
        zsock_set_curve_server (self->router, 1);
    }
    else
        zsock_set_curve_server (self->router, 0);
    if (zsock_bind (self->router, "%s", text) < 0) {
        *error = zsys_sprintf ("cannot bind %s: %s", text, zmq_strerror (zmq_errno ()));
        return -1;
    }
    log_info ("broker", "listening", "endpoint=%s security=%s", text, curve ? "curve" : "none (loopback)");
    s_bound (self, &endpoint);
    return 0;
}

static int
s_bind_all (server_t *self, char **error)
{
    size_t count = 0;
    for (const char *const *bind = self->config.binds; bind && *bind; bind++, count++)
        if (count == SERVER_MAX_BINDS || s_bind_one (self, *bind, error) != 0) {
            if (!*error)
                *error = zsys_sprintf ("at most %d client endpoints", SERVER_MAX_BINDS);
            return -1;
        }
    if (count == 0)
        *error = zsys_sprintf ("no client endpoint to bind");
    return count ? 0 : -1;
}

/* The client socket, its options set before any bind (libzmq copies them into each listener) */
static zsock_t *
s_router_new (size_t max_message_bytes)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    zsock_set_linger (router, 1000);
    /* replies are bounded by what clients ask; pushes are dropped (and logged) past this */
    zsock_set_sndhwm (router, 100000);
    zsock_set_rcvhwm (router, 100000);
    zsock_set_rcvtimeo (router, 0);
    /* ZMTP heartbeats: a peer whose TCP connection died silently is noticed within 15 s */
    zsock_set_heartbeat_ivl (router, 5000);
    zsock_set_heartbeat_timeout (router, 15000);
    /* up to twice the message limit still gets its 552 5.3.4; beyond that libzmq drops the
       connection without reading it, so a huge frame costs no memory */
    zsock_set_maxmsgsize (router, (int)(2 * max_message_bytes + 64 * 1024 + MAX_RCPT * (MAX_ADDRESS + 8)));
    zsock_set_zap_domain (router, ZAP_DOMAIN);
    return router;
}

/* The admin CLI's endpoint: a file only the broker's user may open */
static int
s_admin_bind (server_t *self, char **error)
{
    self->admin = zsock_new (ZMQ_REP);
    zsock_set_linger (self->admin, 0);
    mode_t old = umask (0077);
    int rc = zsock_bind (self->admin, "%s", self->config.admin_endpoint);
    umask (old);
    if (rc < 0)
        *error = zsys_sprintf ("cannot bind admin endpoint %s: %s", self->config.admin_endpoint,
                               zmq_strerror (zmq_errno ()));
    return rc < 0 ? -1 : 0;
}

server_t *
server_new (const server_config_t *config, store_t *store, char **error)
{
    assert (config);
    assert (config->admin_endpoint);
    assert (store);
    assert (error);
    server_t *self = calloc (1, sizeof *self);
    self->config = *config;
    self->store = store;
    self->started_at = zclock_time ();
    self->refused_log = LOG_LIMIT (REFUSED_LOG_PER_SECOND);
    if (config->ticket_key)
        memcpy (self->ticket_key, config->ticket_key, TICKET_KEY_BYTES);
    else
        randombytes_buf (self->ticket_key, TICKET_KEY_BYTES); /* tickets of this run only */
    self->batch = calloc (MAX_BATCH, sizeof (pending_t));
    for (size_t i = 0; i < PROTO_MAX_FRAMES + 1; i++)
        zmq_msg_init (&self->frames[i]);
    zmq_msg_init (&self->excess);
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, s_session_destroy);
    self->routes = zhashx_new (); /* points into sessions: no destructor */
    self->watchers = zhashx_new ();
    zhashx_set_destructor (self->watchers, s_watchers_destroy);

    /* the ZAP handler first: it numbers every connection from the first one on */
    self->zap = zap_actor_new ();
    if (!self->zap) {
        *error = zsys_sprintf ("cannot start the ZAP handler: %s", zmq_strerror (zmq_errno ()));
        server_destroy (&self);
        return NULL;
    }
    self->router = s_router_new (config->max_message_bytes);
    if (s_monitor_start (self, error) != 0 || s_bind_all (self, error) != 0 ||
        s_admin_bind (self, error) != 0) {
        server_destroy (&self);
        return NULL;
    }
    if (config->db_path && !(self->space = space_new (config->db_path, config->reserve_bytes,
                                                      config->min_free ? config->min_free : "0"))) {
        *error = zsys_sprintf ("--min-free %s: not a size (200M) nor a percentage (5%%)", config->min_free);
        server_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < AUTH_WORKERS; i++)
        self->auth[i] = auth_actor_new ();
    /* leases belong to sessions, and no session outlives a broker */
    store_lease_release_all (store, NULL);
    return self;
}

void
server_destroy (server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    server_t *self = *self_p;
    for (size_t i = 0; i < AUTH_WORKERS; i++)
        zactor_destroy (&self->auth[i]);
    zsock_destroy (&self->admin);
    if (self->monitor && self->router)
        zmq_socket_monitor (zsock_resolve (self->router), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->router);
    zactor_destroy (&self->zap);
    zhashx_destroy (&self->routes);
    zhashx_destroy (&self->watchers);
    zhashx_destroy (&self->sessions);
    for (size_t i = 0; i < self->push_count; i++)
        zmsg_destroy (&self->pushes[i].push);
    free (self->pushes);
    route_targets_free (&self->targets);
    free (self->batch);
    for (size_t i = 0; i < PROTO_MAX_FRAMES + 1; i++)
        zmq_msg_close (&self->frames[i]);
    zmq_msg_close (&self->excess);
    free (self->endpoints);
    space_destroy (&self->space);
    sodium_memzero (self->ticket_key, sizeof self->ticket_key);
    free (self);
    *self_p = NULL;
}

/* A command on the actor's pipe (server.h), answered with one string. False for $TERM, or
   when the pipe is gone. self is NULL when the server could not start, error says why. */
static bool
s_command (server_t *self, zsock_t *pipe, const char *error)
{
    char *command = zstr_recv (pipe);
    if (!command)
        return false;
    bool more = true;
    if (streq (command, "$TERM"))
        more = false;
    else if (streq (command, "ERROR"))
        zstr_send (pipe, error ? error : "");
    else if (streq (command, "ENDPOINT"))
        zstr_send (pipe, self && self->endpoints ? self->endpoints : "");
    else if (streq (command, "PORT"))
        zstr_sendf (pipe, "%d", self ? self->port : 0);
    else
        log_warn ("broker", "bad-command", "command=%.40s", command);
    zstr_free (&command);
    return more;
}

/* Serves what poll found ready: every ready socket each turn, so a busy client socket starves
   neither the admin endpoint nor the password checks. False when $TERM came. */
enum { POLL_ROUTER, POLL_ADMIN, POLL_MONITOR, POLL_AUTH, POLL_PIPE = POLL_AUTH + AUTH_WORKERS };

static bool
s_serve_ready (server_t *self, const zmq_pollitem_t *items, zsock_t *pipe)
{
    if (items[POLL_MONITOR].revents & ZMQ_POLLIN)
        s_monitor_drain (self);
    for (size_t i = 0; i < AUTH_WORKERS; i++)
        if (items[POLL_AUTH + i].revents & ZMQ_POLLIN)
            s_auth_answer (self, i);
    if (items[POLL_ADMIN].revents & ZMQ_POLLIN)
        s_serve_admin (self);
    if (items[POLL_ROUTER].revents & ZMQ_POLLIN)
        s_serve_batch (self);
    /* last: $TERM stops the server once the batch just read is committed and answered */
    return !(pipe && (items[POLL_PIPE].revents & ZMQ_POLLIN)) || s_command (self, pipe, NULL);
}

/* The loop: until SIGINT/SIGTERM, or $TERM on pipe when there is one */
static void
s_loop (server_t *self, zsock_t *pipe)
{
    zmq_pollitem_t items[POLL_PIPE + 1] = {
        [POLL_ROUTER] = {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
        [POLL_ADMIN] = {zsock_resolve (self->admin), 0, ZMQ_POLLIN, 0},
        [POLL_MONITOR] = {zsock_resolve (self->monitor), 0, ZMQ_POLLIN, 0},
    };
    for (size_t i = 0; i < AUTH_WORKERS; i++)
        items[POLL_AUTH + i] =
            (zmq_pollitem_t){zsock_resolve (zactor_sock (self->auth[i])), 0, ZMQ_POLLIN, 0};
    if (pipe)
        items[POLL_PIPE] = (zmq_pollitem_t){zsock_resolve (pipe), 0, ZMQ_POLLIN, 0};
    int64_t next_expiry = zclock_mono () + 1000;
    bool running = true;
    while (running && !zsys_interrupted) {
        int rc = zmq_poll (items, pipe ? POLL_PIPE + 1 : POLL_PIPE, 1000);
        if ((rc < 0 && zmq_errno () != EINTR) || zsys_interrupted)
            break;
        if (rc > 0)
            running = s_serve_ready (self, items, pipe);
        if (running && zclock_mono () >= next_expiry) {
            s_expire_sessions (self);
            s_space_check (self);
            store_wal_tick (self->store, self->batches == self->batches_at_tick);
            self->batches_at_tick = self->batches;
            next_expiry = zclock_mono () + (s_purge (self) ? 10 : 1000);
        }
    }
    log_info ("broker", "stopping", "sessions=%zu", zhashx_size (self->sessions));
}

void
server_run (server_t *self)
{
    assert (self);
    s_loop (self, NULL);
}

void
server_actor (zsock_t *pipe, void *args)
{
    assert (pipe);
    assert (args);
    const server_args_t *server_args = args;
    char *error = NULL;
    server_t *self = server_new (server_args->config, server_args->store, &error);
    zsock_signal (pipe, self ? 0 : 1);
    /* clients are served once the host has its first answer (ERROR), so what the host logs
       of the start comes before anything the server does */
    if (self && s_command (self, pipe, NULL))
        s_loop (self, pipe);
    else /* answers ERROR until $TERM */
        while (s_command (NULL, pipe, error))
            ;
    server_destroy (&self);
    free (error);
}

char *
server_actor_error (zactor_t *actor)
{
    assert (actor);
    if (zstr_send (actor, "ERROR") != 0)
        return strdup ("the server actor is gone");
    zmsg_t *answer = zmsg_recv (actor);
    char *error = NULL;
    if (!answer || zmsg_signal (answer) >= 0) {
        /* interrupted, or the actor's final signal: it stopped before it served anything */
        if (!zsys_interrupted)
            error = strdup ("the server stopped as it started");
    }
    else {
        error = zmsg_popstr (answer);
        if (error && !*error)
            zstr_free (&error);
    }
    zmsg_destroy (&answer);
    return error;
}
