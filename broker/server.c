/*  server.c — the broker's loop, sessions and verbs. */
#include "server.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "address.h"
#include "admin.h"
#include "auth.h"
#include "header.h"
#include "log.h"
#include "mb_limits.h"
#include "proto.h"
#include "reply.h"
#include "route.h"

/* The most sessions at once; beyond it HELO gets 421 */
#define MAX_SESSIONS 10000
/* Password checks waiting for the auth actor (about 80 ms each, by design); beyond it HELO
   gets 421, so a flood of HELOs cannot queue minutes of work */
#define MAX_AUTH_PENDING 256

typedef struct {
    char key[2 * 256 + 1]; /* routing id in hex */
    zframe_t *routing_id;
    int64_t mailbox_id;
    char address[MAX_ADDRESS + 1];
    bool authenticated;
    bool auth_pending; /* a HELO is being checked */
    bool gateway;      /* role gateway: may SEND with any envelope sender */
    bool watching;
    int window;     /* credit granted at WATCH */
    int credit;     /* pushes this watcher may still be sent */
    int64_t missed; /* deliveries not pushed for want of credit: it must resynchronise */
    int64_t last_active;
} session_t;

/* ZeroMQ routing ids are at most 255 octets */
#define MAX_ROUTING_ID 255

/* One request of the batch: where its reply goes, and whether it changed the store */
typedef struct {
    uint8_t routing_id[MAX_ROUTING_ID];
    size_t routing_size;
    zmsg_t *reply;
    bool mutating;
} pending_t;

/* One recipient of a SEND: phase 1 decides, phase 2 stores */
typedef struct {
    reply_id_t reply;
    char address[MAX_ADDRESS + 1];
    char text[320];
    bool relay; /* another domain: an outbound entry */
    bool is_list;
    size_t first; /* its mailboxes in the route targets */
    size_t count;
    size_t full; /* of those, over quota */
} rcpt_t;

/* A NEW notification waiting for the commit */
typedef struct {
    char mailbox[MAX_ADDRESS + 1];
    zmsg_t *push;
} push_t;

struct server_t {
    server_config_t config;
    store_t *store;
    zsock_t *router;
    zsock_t *admin;
    zactor_t *auth;
    zhashx_t *sessions; /* key -> session_t */
    zhashx_t *watchers; /* mailbox address -> zlistx of session_t* */
    pending_t *batch;
    size_t batch_size;
    push_t *pushes;
    size_t push_count, push_max;
    route_targets_t targets; /* the mailboxes of the SEND being served */
    rcpt_t rcpts[MAX_RCPT];  /* and what becomes of each of its recipients */
    bool batch_failed;       /* a store error: roll the batch back, answer 452 */
    size_t auth_pending;
    /* the request being read: routing id and up to PROTO_MAX_FRAMES frames, received in place
       (no allocation per frame), and a frame for whatever a too long request holds beyond */
    zmq_msg_t frames[PROTO_MAX_FRAMES + 1];
    zmq_msg_t excess;
    char *record; /* a SEND's reply text for dedupe (send_lines_t) */
    size_t record_capacity;
};

typedef struct {
    server_t *server;
    session_t *session; /* NULL before HELO */
    proto_request_t *req;
    pending_t *pending; /* holds the routing id */
} context_t;

typedef zmsg_t *(verb_fn)(context_t *ctx);

/* --------------------------------------------------------------------- sessions */

static void
s_session_key (const uint8_t *data, size_t size, char *key)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        key[2 * i] = hex[data[i] >> 4];
        key[2 * i + 1] = hex[data[i] & 15];
    }
    key[2 * size] = '\0';
}

static void
s_unwatch (server_t *self, session_t *session)
{
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
    session_t *session = *item;
    if (session) {
        zframe_destroy (&session->routing_id);
        free (session);
        *item = NULL;
    }
}

static void
s_session_forget (server_t *self, session_t *session, const char *why)
{
    /* a consumer that goes away gives its leased messages back to the others */
    int released = store_lease_release_all (self->store, session->key);
    if (released > 0)
        log_info ("broker", "lease-released", "session=%s count=%d", session->key, released);
    log_info ("broker", "session-end", "session=%s mailbox=%s reason=%s", session->key,
              session->address[0] ? session->address : "-", why);
    s_unwatch (self, session);
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

static zmsg_t *
s_refuse (context_t *ctx, reply_id_t reply, const char *text)
{
    /* the transaction may hold half of this request: the whole batch is rolled back */
    if (reply == REPLY_STORE_TROUBLE)
        ctx->server->batch_failed = true;
    char why[300];
    log_warn ("broker", "refused", "session=%s mailbox=%s verb=%s reply=%d why=%s",
              ctx->session ? ctx->session->key : "-",
              ctx->session && ctx->session->address[0] ? ctx->session->address : "-", ctx->req->verb,
              reply_get (reply)->code,
              log_quote (why, sizeof why, text ? text : reply_get (reply)->text,
                         strlen (text ? text : reply_get (reply)->text)));
    return proto_reply_new (ctx->req->id, reply, text);
}

/* Sends a reply to the client with that routing id */
static int
s_send (server_t *self, const uint8_t *routing_id, size_t routing_size, zmsg_t **reply_p)
{
    if (zmq_send (zsock_resolve (self->router), routing_id, routing_size, ZMQ_SNDMORE) < 0 ||
        zmsg_send (reply_p, self->router) != 0) {
        zmsg_destroy (reply_p);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------------- HELO */

static zmsg_t *
s_verb_helo (context_t *ctx)
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
    char password[MAX_PASSWORD + 1];
    if (proto_arg_string (&req->args[2], password, sizeof password) != 0)
        return s_refuse (ctx, REPLY_AUTH_FAILED, NULL);

    session_t *session = ctx->session;
    if (session && session->auth_pending) {
        sodium_memzero (password, sizeof password);
        return s_refuse (ctx, REPLY_BAD_SEQUENCE, "HELO already being checked: wait for its answer");
    }
    if (self->auth_pending >= MAX_AUTH_PENDING) {
        sodium_memzero (password, sizeof password);
        return s_refuse (ctx, REPLY_SHUTTING_DOWN, "too many logins at once, try again later");
    }
    if (!session) {
        if (zhashx_size (self->sessions) >= MAX_SESSIONS) {
            sodium_memzero (password, sizeof password);
            return s_refuse (ctx, REPLY_SHUTTING_DOWN, "too many sessions, try again later");
        }
        session = calloc (1, sizeof *session);
        s_session_key (ctx->pending->routing_id, ctx->pending->routing_size, session->key);
        session->routing_id = zframe_new (ctx->pending->routing_id, ctx->pending->routing_size);
        zhashx_insert (self->sessions, session->key, session);
    }
    s_unwatch (self, session);
    session->authenticated = false;
    session->last_active = zclock_mono ();
    snprintf (session->address, sizeof session->address, "%s", addr.full);

    store_mailbox_t mailbox;
    int found = store_mailbox_find (self->store, addr.full, &mailbox);
    if (found < 0) {
        sodium_memzero (password, sizeof password);
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    session->mailbox_id = found ? mailbox.id : 0;
    session->gateway = found && streq (mailbox.role, "gateway");

    /* the answer comes from the auth actor: [session key][request id][mailbox id] as the tag */
    zmsg_t *check = zmsg_new ();
    zmsg_addstrf (check, "%s %s %lld", session->key, req->id, (long long)session->mailbox_id);
    zmsg_addstr (check, found ? mailbox.password_hash : "");
    zmsg_addstr (check, password);
    sodium_memzero (password, sizeof password);
    zmsg_send (&check, self->auth);
    session->auth_pending = true;
    self->auth_pending++;
    return NULL; /* answered later */
}

/* The auth actor answered */
static void
s_auth_answer (server_t *self)
{
    zmsg_t *msg = zmsg_recv (self->auth);
    if (!msg)
        return;
    char *tag = zmsg_popstr (msg);
    char *verdict = zmsg_popstr (msg);
    char key[600], id[MAX_REQUEST_ID + 1];
    long long mailbox_id = 0;
    session_t *session = NULL;
    if (self->auth_pending > 0)
        self->auth_pending--;
    if (tag && sscanf (tag, "%599s %32s %lld", key, id, &mailbox_id) == 3)
        session = zhashx_lookup (self->sessions, key);
    if (session)
        session->auth_pending = false;
    /* the session may have said HELO again, or gone, meanwhile: then this answer is stale */
    if (session && session->mailbox_id == mailbox_id) {
        zmsg_t *reply;
        if (verdict && streq (verdict, "ok") && mailbox_id > 0) {
            session->authenticated = true;
            log_info ("broker", "hello", "session=%s mailbox=%s", session->key, session->address);
            reply = proto_reply_newf (id, REPLY_HELLO, "hello %s", session->address);
            zmsg_addstr (reply, session->address);
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

/* The recipients' lines of a SEND reply, as frames and, when the message has a Message-ID,
   as the text kept for dedupe: "status\nline\nline\n". The text is built in the server's
   buffer after room for the status line, which is known last. */
#define RECORD_STATUS_ROOM 512

typedef struct {
    zmsg_t *reply;
    char **buffer; /* the server's, grown as needed */
    size_t *capacity;
    size_t length; /* from RECORD_STATUS_ROOM on */
    bool keep;
} send_lines_t;

static void s_add_line (send_lines_t *lines, reply_id_t id, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static void
s_add_line (send_lines_t *lines, reply_id_t id, const char *format, ...)
{
    char line[512];
    const reply_t *r = reply_get (id);
    int head = snprintf (line, sizeof line, "%d %s ", r->code, r->enhanced);
    va_list ap;
    va_start (ap, format);
    int text = vsnprintf (line + head, sizeof line - (size_t)head, format, ap);
    va_end (ap);
    size_t size = (size_t)head + (size_t)text < sizeof line ? (size_t)head + (size_t)text : sizeof line - 1;
    zmsg_addmem (lines->reply, line, size);
    if (!lines->keep)
        return; /* no Message-ID: nothing to remember for dedupe */
    size_t need = RECORD_STATUS_ROOM + lines->length + size + 2;
    if (need > *lines->capacity) {
        *lines->capacity = need * 2;
        *lines->buffer = realloc (*lines->buffer, *lines->capacity);
    }
    char *end = *lines->buffer + RECORD_STATUS_ROOM + lines->length;
    memcpy (end, line, size);
    end[size] = '\n';
    end[size + 1] = '\0';
    lines->length += size + 1;
}

/* Puts the status line in front of the kept text; returns the whole text */
static const char *
s_record (send_lines_t *lines, const char *status)
{
    size_t size = strlen (status) + 1; /* < RECORD_STATUS_ROOM: reply_format's buffer */
    char *start = *lines->buffer + RECORD_STATUS_ROOM - size;
    memcpy (start, status, size - 1);
    start[size - 1] = '\n';
    return start;
}

static void
s_queue_push (server_t *self, const char *mailbox, int64_t delivery, size_t size, const char *sender,
              const char *subject)
{
    if (!zhashx_lookup (self->watchers, mailbox))
        return;
    if (self->push_count == self->push_max) {
        self->push_max = self->push_max ? self->push_max * 2 : 64;
        self->pushes = realloc (self->pushes, self->push_max * sizeof (push_t));
    }
    push_t *push = &self->pushes[self->push_count++];
    snprintf (push->mailbox, sizeof push->mailbox, "%s", mailbox);
    push->push = zmsg_new ();
    zmsg_addstr (push->push, PROTO_PUSH_ID);
    zmsg_addstr (push->push, "NEW");
    zmsg_addstr (push->push, mailbox);
    zmsg_addstrf (push->push, "%lld", (long long)delivery);
    zmsg_addstrf (push->push, "%zu", size);
    zmsg_addstr (push->push, sender);
    zmsg_addstr (push->push, subject);
}

/* A store error inside the group commit: the whole transaction is rolled back and every
   request of the batch is answered 452 4.3.1 */
static zmsg_t *
s_store_trouble (context_t *ctx, const char *op)
{
    log_error ("broker", "store-error", "op=%s error=\"%s\"", op, store_error (ctx->server->store));
    ctx->server->batch_failed = true;
    ctx->pending->mutating = true;
    return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
}

static zmsg_t *
s_verb_send (context_t *ctx)
{
    server_t *self = ctx->server;
    proto_request_t *req = ctx->req;
    session_t *session = ctx->session;
    const proto_arg_t *body = &req->args[req->argc - 1];
    size_t rcpts = req->argc - 2;

    address_t sender;
    const char *why = NULL;
    memset (&sender, 0, sizeof sender);
    /* RFC 5321 4.5.5: a bounce has the null reverse-path; only the gateway sends those */
    bool null_sender = session->gateway && (req->args[0].size == 0 || proto_arg_is (&req->args[0], "<>"));
    if (!null_sender &&
        address_parse ((const char *)req->args[0].data, req->args[0].size, &sender, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_SENDER_SYNTAX, why);
    if (!session->gateway && !streq (sender.full, session->address))
        return s_refuse (ctx, REPLY_SENDER_DENIED, "you may send as yourself only");
    if (rcpts > MAX_RCPT)
        return s_refuse (ctx, REPLY_TOO_MANY_RCPT, NULL);
    if (body->size > self->config.max_message_bytes)
        return s_refuse (ctx, REPLY_TOO_BIG, "message exceeds fixed maximum message size");
    size_t hlen = 0;
    if ((why = s_check_content (body->data, body->size, &hlen)))
        return s_refuse (ctx, REPLY_BAD_CONTENT, why);
    if (header_count_in ((const char *)body->data, hlen, "Received") > MAX_RECEIVED)
        return s_refuse (ctx, REPLY_LOOP, "too many Received: headers, the message is looping");

    const char *text = (const char *)body->data;
    char message_id[MAX_ADDRESS * 2 + 1] = "";
    char subject[256] = "";
    char expires[128] = "";
    header_find_in (text, hlen, "Message-ID", message_id, sizeof message_id);
    header_find_in (text, hlen, "Subject", subject, sizeof subject);
    int64_t expires_at = 0;
    if (header_find_in (text, hlen, "Expires", expires, sizeof expires)) {
        /* RFC 4021 2.1.49: Expires holds an RFC 5322 date-time */
        struct tm tm;
        memset (&tm, 0, sizeof tm);
        const char *end = strptime (
            expires, strchr (expires, ',') ? "%a, %d %b %Y %H:%M:%S %z" : "%d %b %Y %H:%M:%S %z", &tm);
        if (!end || *end)
            return s_refuse (ctx, REPLY_BAD_CONTENT, "Expires: is not an RFC 5322 date-time");
        expires_at = (int64_t)timegm (&tm) - tm.tm_gmtoff;
        if (expires_at <= (int64_t)time (NULL))
            return s_refuse (ctx, REPLY_EXPIRED, "message expired before it was published");
    }

    if (*message_id) {
        char *original = store_publication_find (self->store, sender.full, message_id);
        if (original) {
            /* idempotent publish: the same answer as the first time, nothing stored again */
            char shown[2 * sizeof message_id];
            log_info ("broker", "duplicate", "mailbox=%s message-id=%s", sender.full,
                      log_quote (shown, sizeof shown, message_id, strlen (message_id)));
            zmsg_t *reply = zmsg_new ();
            zmsg_addstr (reply, req->id);
            char *save = NULL;
            for (char *line = strtok_r (original, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
                zmsg_addstr (reply, line);
            free (original);
            return reply;
        }
    }

    /* Phase 1: what becomes of each recipient, reading only */
    rcpt_t *results = self->rcpts;
    route_targets_t *targets = &self->targets;
    route_targets_reset (targets, 0);
    size_t accepted = 0, stored = 0;
    reply_id_t first_failure = REPLY_FAILED;
    for (size_t i = 0; i < rcpts; i++) {
        const proto_arg_t *arg = &req->args[1 + i];
        rcpt_t *r = &results[i];
        memset (r, 0, sizeof *r);
        r->reply = REPLY_QUEUED;
        address_t rcpt;
        if (address_parse ((const char *)arg->data, arg->size, &rcpt, &why) != 0) {
            /* show what was given, without control characters */
            size_t n = arg->size < MAX_ADDRESS ? arg->size : MAX_ADDRESS;
            for (size_t k = 0; k < n; k++)
                r->address[k] = (arg->data[k] < 0x20 || arg->data[k] >= 0x7f) ? '?' : (char)arg->data[k];
            r->reply = REPLY_BAD_RCPT_SYNTAX;
            snprintf (r->text, sizeof r->text, "%s", why);
        }
        else if (!address_domain_in (&rcpt, self->config.domains)) {
            snprintf (r->address, sizeof r->address, "%s", rcpt.full);
            if (!self->config.relay || session->gateway) {
                /* the gateway submits only what came in without AUTH: that is never relayed */
                r->reply = REPLY_RELAY_DENIED;
                snprintf (r->text, sizeof r->text, "relay access denied: %s is not a domain of this broker",
                          rcpt.domain);
            }
            else
                r->relay = true;
        }
        else {
            snprintf (r->address, sizeof r->address, "%s", rcpt.full);
            route_result_t route;
            r->first = targets->count;
            if (route_resolve (self->store, &rcpt, sender.full, text, body->size, targets, &route) != 0)
                return s_store_trouble (ctx, "route");
            r->count = targets->count - r->first;
            r->is_list = route.is_list;
            r->reply = route.reply;
            snprintf (r->text, sizeof r->text, "%s", route.text);
            for (size_t k = r->first; k < r->first + r->count; k++)
                if (targets->items[k].room < (int64_t)body->size)
                    r->full++; /* RFC 3463 5.2.2: that mailbox is over its quota */
            if (r->reply == REPLY_QUEUED && !r->is_list && r->count == 1 && r->full)
                r->reply = REPLY_QUOTA, snprintf (r->text, sizeof r->text, "mailbox full");
        }
        if (r->reply == REPLY_QUEUED) {
            accepted++;
            stored += r->relay ? 1 : r->count - r->full;
        }
        else {
            if (first_failure == REPLY_FAILED)
                first_failure = r->reply;
            log_warn ("broker", "rcpt-refused", "mailbox=%s rcpt=%u reply=%d", sender.full, (unsigned)i,
                      reply_get (r->reply)->code);
        }
    }

    /* Phase 2: store the body once, and a delivery or outbound entry per accepted recipient.
       No savepoint: a store error fails the whole group commit, and every request in it is
       answered 452 (a retry is safe: publish is idempotent). */
    int64_t message = 0;
    if (stored > 0) {
        ctx->pending->mutating = true;
        message = store_message_add (self->store, sender.full, *message_id ? message_id : NULL, subject,
                                     body->data, body->size, expires_at);
        if (message < 0)
            return s_store_trouble (ctx, "message-add");
    }
    zmsg_t *reply = zmsg_new ();
    send_lines_t lines = {reply, &self->record, &self->record_capacity, 0, *message_id != '\0'};
    if (lines.keep && self->record_capacity < RECORD_STATUS_ROOM + 1) {
        self->record_capacity = 4096;
        self->record = realloc (self->record, self->record_capacity);
    }
    if (lines.keep)
        self->record[RECORD_STATUS_ROOM] = '\0';
    for (size_t i = 0; i < rcpts; i++) {
        rcpt_t *r = &results[i];
        if (r->reply != REPLY_QUEUED) {
            s_add_line (&lines, r->reply, "%s %s", r->address, r->text);
            continue;
        }
        if (r->relay) {
            int64_t entry = store_outbound_add (self->store, message, sender.full, r->address);
            if (entry < 0) {
                zmsg_destroy (&reply);
                return s_store_trouble (ctx, "outbound-add");
            }
            s_add_line (&lines, REPLY_QUEUED, "%s queued for relay as %lld", r->address, (long long)entry);
            continue;
        }
        int64_t delivery = 0;
        size_t delivered = 0;
        for (size_t k = r->first; k < r->first + r->count; k++) {
            route_target_t *target = &targets->items[k];
            if (target->room < (int64_t)body->size)
                continue;
            delivery = store_deliver (self->store, message, target->mailbox_id, body->size);
            if (delivery < 0) {
                zmsg_destroy (&reply);
                return s_store_trouble (ctx, "deliver");
            }
            delivered++;
            s_queue_push (self, target->address, delivery, body->size, sender.full, subject);
        }
        if (r->is_list)
            s_add_line (&lines, REPLY_QUEUED, "%s list: %zu deliveries%s, message %lld", r->address,
                        delivered, r->full ? " (some mailboxes full)" : "", (long long)message);
        else if (r->count == 0)
            s_add_line (&lines, REPLY_QUEUED, "%s already queued (duplicate recipient)", r->address);
        else
            /* the id the recipient's LIST, RETR and DELE will use */
            s_add_line (&lines, REPLY_QUEUED, "%s queued as %lld", r->address, (long long)delivery);
    }

    char status[RECORD_STATUS_ROOM - 1];
    if (accepted == 0)
        reply_format (status, sizeof status, first_failure, "no recipient accepted");
    else {
        char summary[80];
        snprintf (summary, sizeof summary, "%zu of %zu recipients accepted", accepted, rcpts);
        reply_format (status, sizeof status, REPLY_QUEUED, summary);
    }
    zmsg_pushstr (reply, status);
    zmsg_pushstr (reply, req->id);
    /* the first answer is remembered, for a retry with the same Message-ID (when stored) */
    if (lines.keep && stored > 0 &&
        store_publication_add (self->store, sender.full, message_id, s_record (&lines, status)) != 0) {
        zmsg_destroy (&reply);
        return s_store_trouble (ctx, "publication-add");
    }
    if (stored > 0)
        log_debug ("broker", "queued", "mailbox=%s message=%lld size=%zu stored=%zu", sender.full,
                   (long long)message, body->size, stored);
    return reply;
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
    zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%lld messages, %lld bytes",
                                      (long long)mailbox.message_count, (long long)mailbox.used_bytes);
    zmsg_addstrf (reply, "%lld", (long long)mailbox.message_count);
    zmsg_addstrf (reply, "%lld", (long long)mailbox.used_bytes);
    return reply;
}

static void
s_list_entry (const store_entry_t *entry, void *arg)
{
    zmsg_t *reply = arg;
    zmsg_addstrf (reply, "%lld\t%lld\t%s\t%lld\t%s\t%s", (long long)entry->id, (long long)entry->size,
                  entry->seen ? "seen" : "new", (long long)entry->delivered_at, entry->sender,
                  entry->subject);
}

static zmsg_t *
s_verb_list (context_t *ctx)
{
    zmsg_t *data = zmsg_new ();
    if (store_list (ctx->server->store, ctx->session->mailbox_id, s_list_entry, data) != 0) {
        zmsg_destroy (&data);
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply = proto_reply_newf (ctx->req->id, REPLY_OK, "%zu messages", zmsg_size (data));
    proto_move_frames (reply, &data);
    return reply;
}

static zmsg_t *
s_verb_retr (context_t *ctx)
{
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "message id must be a number");
    void *body = NULL;
    size_t size = 0;
    ctx->pending->mutating = true; /* marks the message seen */
    int rc = store_retrieve (ctx->server->store, ctx->session->mailbox_id, id, &body, &size);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such message");
    zmsg_t *reply = proto_reply_new (ctx->req->id, REPLY_OK, "message follows");
    zmsg_addmem (reply, body, size);
    free (body);
    return reply;
}

static zmsg_t *
s_verb_dele (context_t *ctx)
{
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return s_refuse (ctx, REPLY_BAD_ARGS, "message id must be a number");
    ctx->pending->mutating = true;
    int rc = store_delete (ctx->server->store, ctx->session->mailbox_id, id);
    if (rc < 0)
        return s_refuse (ctx, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return s_refuse (ctx, REPLY_NO_MESSAGE, "no such message");
    return proto_reply_newf (ctx->req->id, REPLY_DELETED, "deleted %lld", (long long)id);
}

static zmsg_t *
s_verb_watch (context_t *ctx)
{
    server_t *self = ctx->server;
    session_t *session = ctx->session;
    int64_t window = WATCH_WINDOW;
    if (ctx->req->argc == 1 &&
        (proto_arg_uint (&ctx->req->args[0], &window) != 0 || window < 1 || window > MAX_WATCH_WINDOW))
        return s_refuse (ctx, REPLY_BAD_ARGS, "WATCH window must be a number from 1 to 1000");
    int64_t last = store_last_id (self->store, session->mailbox_id);
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
    session_t *session = ctx->session;
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
    return proto_reply_newf (ctx->req->id, ack ? REPLY_DELETED : REPLY_OK, "%s %lld",
                             ack ? "acknowledged" : "released", (long long)id);
}

static zmsg_t *
s_verb_ack (context_t *ctx)
{
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
    char shown[2 * sizeof text];
    log_info ("broker", "relay-result", "entry=%lld result=%s attempts=%lld next=%lld bounce=%d error=%s",
              (long long)id, what, (long long)entry.attempts + 1, (long long)next, bounce,
              log_quote (shown, sizeof shown, text, strlen (text)));
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
s_find_list (context_t *ctx, store_list_t *list)
{
    address_t addr;
    const char *why = NULL;
    const proto_arg_t *arg = &ctx->req->args[0];
    if (address_parse ((const char *)arg->data, arg->size, &addr, &why) != 0)
        return s_refuse (ctx, REPLY_BAD_RCPT_SYNTAX, why);
    int found = store_list_find (ctx->server->store, addr.full, list);
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
    store_list_t list;
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
    char shown[2 * sizeof filter];
    log_info ("broker", "subscribe", "list=%s member=%s filter=%s", list.address, ctx->session->address,
              log_quote (shown, sizeof shown, filter, strlen (filter)));
    return proto_reply_newf (ctx->req->id, rc ? REPLY_OK : REPLY_ALREADY, "%s %s",
                             rc ? "subscribed to" : "already subscribed to (filter updated)", list.address);
}

static zmsg_t *
s_verb_unsubscribe (context_t *ctx)
{
    store_list_t list;
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
    store_list_t list;
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
    store_member_t *members = store_list_members (store, list.id, &count);
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
    {"SEND",        3, PROTO_MAX_ARGS, true,  s_verb_send},
    {"STAT",        0, 0,              true,  s_verb_stat},
    {"LIST",        0, 0,              true,  s_verb_list},
    {"RETR",        1, 1,              true,  s_verb_retr},
    {"DELE",        1, 1,              true,  s_verb_dele},
    {"WATCH",       0, 1,              true,  s_verb_watch},
    {"CREDIT",      1, 1,              true,  s_verb_credit},
    {"LEASE",       0, 2,              true,  s_verb_lease},
    {"CLAIM",       0, 2,              true,  s_verb_claim},
    {"RELAYED",     1, 1,              true,  s_verb_relayed},
    {"DEFER",       2, 2,              true,  s_verb_defer},
    {"FAIL",        2, 2,              true,  s_verb_fail},
    {"RELEASE",     1, 1,              true,  s_verb_release},
    {"ACK",         1, 1,              true,  s_verb_ack},
    {"NACK",        1, 1,              true,  s_verb_nack},
    {"UNWATCH",     0, 0,              true,  s_verb_unwatch},
    {"SUBSCRIBE",   1, 2,              true,  s_verb_subscribe},
    {"UNSUBSCRIBE", 1, 1,              true,  s_verb_unsubscribe},
    {"VRFY",        1, 1,              true,  s_verb_vrfy},
    {"EXPN",        1, 1,              true,  s_verb_expn},
    {"NOOP",        0, 0,              false, s_verb_noop},
    {"QUIT",        0, 0,              false, s_verb_quit},
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
    pending_t *pending = &self->batch[self->batch_size];
    pending->reply = NULL;
    pending->mutating = false;
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

/* Handles the client message in self->frames; the reply (if any now) goes into the batch */
static void
s_handle (server_t *self, size_t count)
{
    pending_t *pending = s_pending_new (self);
    proto_arg_t frames[PROTO_MAX_FRAMES];
    for (size_t i = 1; i < count; i++)
        frames[i - 1] = (proto_arg_t){zmq_msg_data (&self->frames[i]), zmq_msg_size (&self->frames[i])};

    proto_request_t req;
    reply_id_t error_reply;
    const char *why = NULL;
    char key[2 * MAX_ROUTING_ID + 1];
    s_session_key (pending->routing_id, pending->routing_size, key);
    context_t ctx = {self, zhashx_lookup (self->sessions, key), &req, pending};
    if (ctx.session)
        ctx.session->last_active = zclock_mono ();

    zmsg_t *reply = NULL;
    if (proto_request_parse_frames (frames, count - 1, &req, &error_reply, &why) != 0) {
        char shown[80];
        log_warn ("broker", "malformed", "session=%s why=\"%s\" frames=%zu first=%s", key, why, count - 1,
                  count > 1 ? log_quote (shown, sizeof shown, frames[0].data, frames[0].size) : "-");
        reply = proto_reply_new (req.id, error_reply, why);
    }
    else {
        const verb_t *verb = NULL;
        reply = s_check (&ctx, &verb);
        if (!reply && verb)
            reply = verb->proceed (&ctx);
    }
    if (reply) {
        pending->reply = reply;
        self->batch_size++;
    }
}

/* Group commit: every request waiting on the socket goes into one transaction; the
   replies go out only after it committed (durable acknowledgement). */
static void
s_serve_batch (server_t *self)
{
    bool in_transaction = store_begin (self->store) == 0;
    if (!in_transaction)
        log_error ("broker", "store-error", "op=begin error=\"%s\"", store_error (self->store));
    self->batch_size = 0;
    self->batch_failed = false;
    size_t count;
    while (self->batch_size < MAX_BATCH && (count = s_receive (self)) > 0) {
        if (!in_transaction) {
            /* no transaction: every request waits for better times */
            pending_t *pending = s_pending_new (self);
            self->batch_size++;
            char id[MAX_REQUEST_ID + 1] = PROTO_NO_ID;
            if (count > 1 && zmq_msg_size (&self->frames[1]) <= MAX_REQUEST_ID) {
                memcpy (id, zmq_msg_data (&self->frames[1]), zmq_msg_size (&self->frames[1]));
                id[zmq_msg_size (&self->frames[1])] = '\0';
            }
            pending->reply = proto_reply_new (id, REPLY_STORE_TROUBLE, NULL);
            continue;
        }
        s_handle (self, count);
    }
    bool committed = false;
    if (in_transaction && self->batch_failed) {
        store_rollback (self->store);
        log_error ("broker", "batch-rolled-back", "requests=%zu", self->batch_size);
    }
    else if (in_transaction) {
        char *error = NULL;
        committed = store_commit (self->store, &error) == 0;
        if (!committed) {
            log_error ("broker", "commit-failed", "requests=%zu error=\"%s\"", self->batch_size, error);
            free (error);
        }
    }
    for (size_t i = 0; i < self->batch_size; i++) {
        pending_t *pending = &self->batch[i];
        if (!committed && pending->mutating) {
            /* nothing of this request is stored: say so, with the request's own id */
            char *id = zmsg_popstr (pending->reply);
            zmsg_destroy (&pending->reply);
            pending->reply = proto_reply_new (id ? id : PROTO_NO_ID, REPLY_STORE_TROUBLE, NULL);
            free (id);
        }
        if (s_send (self, pending->routing_id, pending->routing_size, &pending->reply) != 0)
            log_warn ("broker", "reply-dropped", "errno=%d", zmq_errno ());
    }
    for (size_t i = 0; i < self->push_count; i++) {
        push_t *push = &self->pushes[i];
        zlistx_t *list = committed ? zhashx_lookup (self->watchers, push->mailbox) : NULL;
        for (session_t *watcher = list ? zlistx_first (list) : NULL; watcher; watcher = zlistx_next (list)) {
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

/* --------------------------------------------------------------------- loop */

static void
s_expire_sessions (server_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *stale = zlistx_new ();
    for (session_t *session = zhashx_first (self->sessions); session; session = zhashx_next (self->sessions))
        if (now - session->last_active > (session->watching ? WATCH_IDLE_MSEC : SESSION_IDLE_MSEC))
            zlistx_add_end (stale, session);
    for (session_t *session = zlistx_first (stale); session; session = zlistx_next (stale))
        s_session_forget (self, session, "idle");
    zlistx_destroy (&stale);
}

/* Dedupe records forgotten per purge: a long backlog (a window just made shorter) goes in
   slices with requests served in between */
#define FORGET_SLICE 5000

/* Expired messages, retention limits and dedupe records past the window, once a second, in a
   transaction of their own. True when dedupe records are left to forget: the caller comes
   back soon instead of in a second. */
static bool
s_purge (server_t *self)
{
    if (store_begin (self->store) != 0)
        return false;
    int purged = store_purge (self->store);
    int forgotten = purged < 0 ? -1
                               : store_publications_forget (self->store,
                                                            (int64_t)time (NULL) - self->config.dedupe_window,
                                                            FORGET_SLICE);
    char *error = NULL;
    if (forgotten < 0 || store_commit (self->store, &error) != 0) {
        log_error ("broker", "purge-failed", "error=\"%s\"", error ? error : store_error (self->store));
        store_rollback (self->store);
        free (error);
        return false;
    }
    if (purged > 0)
        log_info ("broker", "purged", "deliveries=%d", purged);
    if (forgotten > 0)
        log_debug ("broker", "dedupe-forgotten", "publications=%d window=%lld", forgotten,
                   (long long)self->config.dedupe_window);
    return forgotten == FORGET_SLICE;
}

static void
s_serve_admin (server_t *self)
{
    zmsg_t *msg = zmsg_recv (self->admin);
    if (!msg)
        return;
    zmsg_t *reply = admin_execute (self->store, msg);
    zmsg_destroy (&msg);
    zmsg_send (&reply, self->admin);
}

server_t *
server_new (const server_config_t *config, store_t *store, char **error)
{
    server_t *self = calloc (1, sizeof *self);
    self->config = *config;
    self->store = store;
    self->batch = calloc (MAX_BATCH, sizeof (pending_t));
    for (size_t i = 0; i < PROTO_MAX_FRAMES + 1; i++)
        zmq_msg_init (&self->frames[i]);
    zmq_msg_init (&self->excess);
    self->sessions = zhashx_new ();
    zhashx_set_destructor (self->sessions, s_session_destroy);
    self->watchers = zhashx_new ();
    zhashx_set_destructor (self->watchers, s_watchers_destroy);

    self->router = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (self->router, 1000);
    /* replies are bounded by what clients ask; pushes are dropped (and logged) past this */
    zsock_set_sndhwm (self->router, 100000);
    zsock_set_rcvhwm (self->router, 100000);
    zsock_set_rcvtimeo (self->router, 0);
    /* ZMTP heartbeats: a peer whose TCP connection died silently is noticed within 15 s */
    zsock_set_heartbeat_ivl (self->router, 5000);
    zsock_set_heartbeat_timeout (self->router, 15000);
    /* up to twice the message limit still gets its 552 5.3.4; beyond that libzmq drops the
       connection without reading it, so a huge frame costs no memory */
    zsock_set_maxmsgsize (self->router,
                          (int)(2 * config->max_message_bytes + 64 * 1024 + MAX_RCPT * (MAX_ADDRESS + 8)));
    if (zsock_bind (self->router, "%s", config->bind) < 0) {
        *error = zsys_sprintf ("cannot bind %s: %s", config->bind, zmq_strerror (zmq_errno ()));
        server_destroy (&self);
        return NULL;
    }
    self->admin = zsock_new (ZMQ_REP);
    zsock_set_linger (self->admin, 0);
    /* the admin endpoint is a file only the broker's user may open */
    mode_t old = umask (0077);
    int rc = zsock_bind (self->admin, "%s", config->admin_endpoint);
    umask (old);
    if (rc < 0) {
        *error = zsys_sprintf ("cannot bind admin endpoint %s: %s", config->admin_endpoint,
                               zmq_strerror (zmq_errno ()));
        server_destroy (&self);
        return NULL;
    }
    self->auth = auth_actor_new ();
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
    zactor_destroy (&self->auth);
    zsock_destroy (&self->admin);
    zsock_destroy (&self->router);
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
    free (self->record);
    free (self);
    *self_p = NULL;
}

void
server_run (server_t *self)
{
    /* every ready socket is served each turn, so a busy client socket starves neither the
       admin endpoint nor the password checks */
    zmq_pollitem_t items[] = {
        {zsock_resolve (self->router), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->admin), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (zactor_sock (self->auth)), 0, ZMQ_POLLIN, 0},
    };
    int64_t next_expiry = zclock_mono () + 1000;
    while (!zsys_interrupted) {
        int rc = zmq_poll (items, 3, 1000);
        if (rc < 0 && zmq_errno () != EINTR)
            break;
        if (zsys_interrupted)
            break;
        if (rc > 0) {
            if (items[2].revents & ZMQ_POLLIN)
                s_auth_answer (self);
            if (items[1].revents & ZMQ_POLLIN)
                s_serve_admin (self);
            if (items[0].revents & ZMQ_POLLIN)
                s_serve_batch (self);
        }
        if (zclock_mono () >= next_expiry) {
            s_expire_sessions (self);
            next_expiry = zclock_mono () + (s_purge (self) ? 10 : 1000);
        }
    }
    log_info ("broker", "stopping", "sessions=%zu", zhashx_size (self->sessions));
}
