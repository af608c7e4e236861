/*  admin_server.c — the admin protocol: one handler per verb, dispatched from s_verbs. */
#include "admin_server.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "auth.h"
#include "log.h"
#include "proto.h"
#include "route.h"

/* One request being served */
typedef struct {
    store_t *store;
    proto_request_t *req;
    address_t addr;     /* args[0], for the verbs whose first argument is a mailbox or list */
    store_topic_t list; /* the list named by args[0], for the verbs of an existing list */
    address_t member;   /* args[1], for LIST-SUB and LIST-UNSUB */
    admin_effect_t *effect;
    admin_status_fn *status; /* STATUS: the running broker's figures; NULL: no broker runs */
    void *status_arg;
} context_t;

typedef zmsg_t *(handler_fn)(context_t *ctx);

/* The reply to a store change refused with status and *error (freed here): the refusal is
   logged, the text goes back with the code the status calls for */
static zmsg_t *
s_refused (context_t *ctx, store_status_t status, char **error)
{
    log_warn ("broker", "admin-refused", "verb=%s mailbox=%s why=\"%s\"", ctx->req->verb, ctx->addr.full,
              *error);
    reply_id_t code = status == STORE_EXISTS      ? REPLY_MAILBOX_EXISTS
                      : status == STORE_NOT_FOUND ? REPLY_NO_MAILBOX
                                                  : REPLY_STORE_TROUBLE;
    zmsg_t *reply = proto_reply_new (ctx->req->id, code, *error);
    zstr_free (error);
    return reply;
}

/* The reply to a listing: rc is the store's answer (0 when rows holds every row); the status
   line is format, then the rows, one per frame */
static zmsg_t *
s_rows_reply (context_t *ctx, int rc, zmsg_t **rows, const char *format, ...)
{
    if (rc != 0) {
        zmsg_destroy (rows);
        return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
    }
    char text[MAX_ADDRESS + 64];
    va_list ap;
    va_start (ap, format);
    vsnprintf (text, sizeof text, format, ap);
    va_end (ap);
    zmsg_t *reply = proto_reply_new (ctx->req->id, REPLY_OK, text);
    proto_move_frames (reply, rows);
    return reply;
}

static void
s_effect (context_t *ctx, admin_effect_kind_t kind, const char *why, const char *key)
{
    ctx->effect->kind = kind;
    ctx->effect->why = why;
    snprintf (ctx->effect->address, sizeof ctx->effect->address, "%s", ctx->addr.full);
    snprintf (ctx->effect->key, sizeof ctx->effect->key, "%s", key ? key : "");
}

/* ----------------------------------------------------------------------- mailboxes */

static void
s_mailbox_row (const store_mailbox_t *mailbox, void *arg)
{
    zmsg_addstrf ((zmsg_t *)arg, "%s\t%lld\t%lld\t%lld\t%s", mailbox->address,
                  (long long)mailbox->message_count, (long long)mailbox->used_bytes,
                  (long long)mailbox->quota_bytes, mailbox->role);
}

/* MBOX-LIST */
static zmsg_t *
s_mbox_list (context_t *ctx)
{
    zmsg_t *rows = zmsg_new ();
    int rc = store_mailbox_each (ctx->store, s_mailbox_row, rows);
    return s_rows_reply (ctx, rc, &rows, "%zu mailboxes", zmsg_size (rows));
}

/* The Argon2id hash in args[1] (the CLI hashes the password; the broker never sees it) */
static int
s_hash_arg (context_t *ctx, char hash[AUTH_HASH_BYTES])
{
    hash[0] = '\0';
    return proto_arg_string (&ctx->req->args[1], hash, AUTH_HASH_BYTES) == 0 &&
                   strncmp (hash, "$argon2id$", 10) == 0
               ? 0
               : -1;
}

/* The reply to MBOX-ADD, MBOX-DEL or MBOX-PASSWD, whose store call returned status */
static zmsg_t *
s_mailbox_changed (context_t *ctx, store_status_t status, char **error)
{
    const char *verb = ctx->req->verb, *address = ctx->addr.full;
    if (status != STORE_OK)
        return s_refused (ctx, status, error);
    log_info ("broker", "admin", "verb=%s mailbox=%s", verb, address);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "%s %s", verb, address);
}

/* MBOX-ADD address hash [user|gateway] */
static zmsg_t *
s_mbox_add (context_t *ctx)
{
    char hash[AUTH_HASH_BYTES];
    if (s_hash_arg (ctx, hash) != 0)
        return proto_reply_new (ctx->req->id, REPLY_BAD_ARGS, "the password must come as an Argon2id hash");
    const char *role = "user";
    if (ctx->req->argc == 3 && proto_arg_is (&ctx->req->args[2], "gateway"))
        role = "gateway";
    else if (ctx->req->argc == 3 && !proto_arg_is (&ctx->req->args[2], "user"))
        return proto_reply_new (ctx->req->id, REPLY_BAD_ARGS, "role must be user or gateway");
    char *error = NULL;
    store_status_t status = store_mailbox_add (ctx->store, ctx->addr.full, hash, role, &error);
    return s_mailbox_changed (ctx, status, &error);
}

/* MBOX-DEL address */
static zmsg_t *
s_mbox_del (context_t *ctx)
{
    char *error = NULL;
    store_status_t status = store_mailbox_delete (ctx->store, ctx->addr.full, &error);
    if (status == STORE_OK)
        s_effect (ctx, ADMIN_EFFECT_MAILBOX_DELETED, "mailbox deleted", NULL);
    return s_mailbox_changed (ctx, status, &error);
}

/* MBOX-PASSWD address hash */
static zmsg_t *
s_mbox_passwd (context_t *ctx)
{
    char hash[AUTH_HASH_BYTES];
    if (s_hash_arg (ctx, hash) != 0)
        return proto_reply_new (ctx->req->id, REPLY_BAD_ARGS, "the password must come as an Argon2id hash");
    char *error = NULL;
    store_status_t status = store_mailbox_passwd (ctx->store, ctx->addr.full, hash, &error);
    if (status == STORE_OK)
        s_effect (ctx, ADMIN_EFFECT_PASSWORD_CHANGED, "password changed", NULL);
    return s_mailbox_changed (ctx, status, &error);
}

/* MBOX-RETENTION address max-messages max-age-seconds (0: no limit) */
static zmsg_t *
s_mbox_retention (context_t *ctx)
{
    int64_t count, seconds;
    if (proto_arg_uint (&ctx->req->args[1], &count) != 0 ||
        proto_arg_uint (&ctx->req->args[2], &seconds) != 0)
        return proto_reply_new (ctx->req->id, REPLY_BAD_ARGS,
                                "MBOX-RETENTION address max-messages max-age-seconds");
    char *error = NULL;
    store_status_t status = store_mailbox_retention (ctx->store, ctx->addr.full, count, seconds, &error);
    if (status != STORE_OK)
        return s_refused (ctx, status, &error);
    log_info ("broker", "admin", "verb=MBOX-RETENTION mailbox=%s max-messages=%lld max-age=%lld",
              ctx->addr.full, (long long)count, (long long)seconds);
    return proto_reply_newf (
        ctx->req->id, REPLY_OK,
        "%s keeps at most %lld messages (0: no limit), none older than %lld s (0: no limit)", ctx->addr.full,
        (long long)count, (long long)seconds);
}

/* ---------------------------------------------------------------------- mailbox keys */

static void
s_key_row (const char *key, void *arg)
{
    zmsg_addstr ((zmsg_t *)arg, key);
}

/* MBOX-KEY-LIST address */
static zmsg_t *
s_key_list (context_t *ctx)
{
    zmsg_t *rows = zmsg_new ();
    int rc = store_key_each (ctx->store, ctx->addr.full, s_key_row, rows);
    return s_rows_reply (ctx, rc, &rows, "%s has %zu key%s", ctx->addr.full, zmsg_size (rows),
                         zmsg_size (rows) == 1 ? "" : "s");
}

/* MBOX-KEY-ADD address key | MBOX-KEY-DEL address key */
static zmsg_t *
s_key_change (context_t *ctx)
{
    char key[ADMIN_KEY_TEXT + 1] = "";
    uint8_t raw[32];
    if (proto_arg_string (&ctx->req->args[1], key, sizeof key) != 0 || strlen (key) != ADMIN_KEY_TEXT ||
        !zmq_z85_decode (raw, key))
        return proto_reply_new (
            ctx->req->id, REPLY_BAD_ARGS,
            "MBOX-KEY-ADD|MBOX-KEY-DEL address key (40 Z85 characters), MBOX-KEY-LIST address");
    const char *verb = ctx->req->verb, *address = ctx->addr.full;
    bool add = streq (verb, "MBOX-KEY-ADD");
    char *error = NULL;
    store_status_t status = add ? store_key_add (ctx->store, address, key, &error)
                                : store_key_delete (ctx->store, address, key, &error);
    if (status != STORE_OK)
        return s_refused (ctx, status, &error);
    if (!add)
        s_effect (ctx, ADMIN_EFFECT_KEY_REMOVED, "key removed", key);
    log_info ("broker", "admin", "verb=%s mailbox=%s key=%s", verb, address, key);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "%s %s %s", verb, address, key);
}

/* ----------------------------------------------------------------------------- lists */

/* LIST-ADD list open|closed members|anyone */
static zmsg_t *
s_list_add (context_t *ctx)
{
    proto_request_t *req = ctx->req;
    bool open = proto_arg_is (&req->args[1], "open");
    bool members_post = !proto_arg_is (&req->args[2], "anyone");
    if ((!open && !proto_arg_is (&req->args[1], "closed")) ||
        (members_post && !proto_arg_is (&req->args[2], "members")))
        return proto_reply_new (req->id, REPLY_BAD_ARGS, "LIST-ADD list open|closed members|anyone");
    char *error = NULL;
    store_status_t status = store_topic_add (ctx->store, ctx->addr.full, open, members_post, &error);
    if (status != STORE_OK)
        return s_refused (ctx, status, &error);
    log_info ("broker", "admin", "verb=LIST-ADD list=%s open=%d members-post=%d", ctx->addr.full, open,
              members_post);
    return proto_reply_newf (req->id, REPLY_OK, "list %s added (%s, %s may post)", ctx->addr.full,
                             open ? "open" : "closed", members_post ? "members" : "anyone");
}

/* LIST-DEL list */
static zmsg_t *
s_list_del (context_t *ctx)
{
    char *error = NULL;
    store_status_t status = store_topic_delete (ctx->store, ctx->addr.full, &error);
    if (status != STORE_OK)
        return s_refused (ctx, status, &error);
    log_info ("broker", "admin", "verb=LIST-DEL list=%s", ctx->addr.full);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "list %s deleted", ctx->addr.full);
}

/* The check of the verbs of an existing list: the list named by args[0] into ctx->list */
static zmsg_t *
s_check_list (context_t *ctx)
{
    int found = store_topic_find (ctx->store, ctx->addr.full, &ctx->list);
    if (found < 0)
        return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
    if (!found)
        return proto_reply_newf (ctx->req->id, REPLY_NO_MAILBOX, "no such list %s", ctx->addr.full);
    return NULL;
}

/* The check of LIST-SUB and LIST-UNSUB: the member address in args[1] into ctx->member, then
   the list */
static zmsg_t *
s_check_member (context_t *ctx)
{
    const char *why = NULL;
    proto_arg_t *arg = &ctx->req->args[1];
    if (address_parse ((const char *)arg->data, arg->size, &ctx->member, &why) != 0)
        return proto_reply_new (ctx->req->id, REPLY_BAD_RCPT_SYNTAX, why);
    return s_check_list (ctx);
}

/* LIST-MEMBERS list */
static zmsg_t *
s_list_members (context_t *ctx)
{
    int64_t count = 0;
    store_member_t *members = store_topic_members (ctx->store, ctx->list.id, &count);
    zmsg_t *rows = zmsg_new ();
    for (int64_t i = 0; i < count; i++)
        zmsg_addstrf (rows, "%s\t%s", members[i].member, members[i].filter);
    free (members);
    return s_rows_reply (ctx, count < 0 ? -1 : 0, &rows, "%lld members", (long long)count);
}

/* LIST-SUB list member [filter]: the member is a mailbox or a list */
static zmsg_t *
s_list_sub (context_t *ctx)
{
    proto_request_t *req = ctx->req;
    const char *member = ctx->member.full, *list = ctx->list.address;
    char filter[256] = "";
    const char *why = NULL;
    if (req->argc == 3 && proto_arg_string (&req->args[2], filter, sizeof filter) != 0)
        return proto_reply_new (req->id, REPLY_BAD_ARGS, "filter too long");
    if ((why = route_filter_check (filter)))
        return proto_reply_new (req->id, REPLY_BAD_ARGS, why);
    store_mailbox_t mailbox;
    store_topic_t inner;
    if (store_mailbox_find (ctx->store, member, &mailbox) != 1 &&
        store_topic_find (ctx->store, member, &inner) != 1)
        return proto_reply_newf (req->id, REPLY_NO_MAILBOX, "no such mailbox or list %s", member);
    int rc = store_subscribe (ctx->store, ctx->list.id, member, filter);
    if (rc < 0)
        return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
    log_info ("broker", "admin", "verb=LIST-SUB list=%s member=%s", list, member);
    return proto_reply_newf (req->id, rc ? REPLY_OK : REPLY_ALREADY, "%s %s %s", member,
                             rc ? "subscribed to" : "was already subscribed to (filter updated)", list);
}

/* LIST-UNSUB list member */
static zmsg_t *
s_list_unsub (context_t *ctx)
{
    const char *member = ctx->member.full, *list = ctx->list.address;
    int rc = store_unsubscribe (ctx->store, ctx->list.id, member);
    if (rc < 0)
        return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return proto_reply_newf (ctx->req->id, REPLY_NOT_SUBSCRIBED, "%s is not subscribed to %s", member,
                                 list);
    log_info ("broker", "admin", "verb=LIST-UNSUB list=%s member=%s", list, member);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "%s unsubscribed from %s", member, list);
}

/* ---------------------------------------------- the outbound queue (mailq, postqueue -f, postsuper -d) */

static void
s_queue_row (const store_outbound_t *entry, void *arg)
{
    zmsg_addstrf ((zmsg_t *)arg, "%lld\t%s\t%s\t%s\t%lld\t%lld\t%s", (long long)entry->id,
                  *entry->sender ? entry->sender : "<>", entry->recipient, entry->state,
                  (long long)entry->attempts, (long long)entry->next_attempt, entry->last_error);
}

/* QUEUE-LIST */
static zmsg_t *
s_queue_list (context_t *ctx)
{
    zmsg_t *rows = zmsg_new ();
    int rc = store_outbound_each (ctx->store, s_queue_row, rows);
    return s_rows_reply (ctx, rc, &rows, "%zu entries", zmsg_size (rows));
}

/* QUEUE-FLUSH */
static zmsg_t *
s_queue_flush (context_t *ctx)
{
    int n = store_outbound_flush (ctx->store);
    if (n < 0)
        return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
    log_info ("broker", "admin", "verb=QUEUE-FLUSH entries=%d", n);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "%d entries due now", n);
}

/* QUEUE-DEL id */
static zmsg_t *
s_queue_del (context_t *ctx)
{
    int64_t id;
    if (proto_arg_uint (&ctx->req->args[0], &id) != 0)
        return proto_reply_new (ctx->req->id, REPLY_BAD_ARGS, "QUEUE-DEL takes an entry id");
    int rc = store_outbound_delete (ctx->store, id);
    if (rc < 0)
        return proto_reply_new (ctx->req->id, REPLY_STORE_TROUBLE, NULL);
    if (rc == 0)
        return proto_reply_newf (ctx->req->id, REPLY_NO_MESSAGE, "no queue entry %lld", (long long)id);
    log_info ("broker", "admin", "verb=QUEUE-DEL entry=%lld", (long long)id);
    return proto_reply_newf (ctx->req->id, REPLY_OK, "entry %lld deleted", (long long)id);
}

/* ---------------------------------------------------------------------------- status */

/* STATUS: "key value" rows, one a frame, from the running broker */
static zmsg_t *
s_status (context_t *ctx)
{
    if (!ctx->status)
        return proto_reply_new (ctx->req->id, REPLY_TEMP_UNAVAILABLE,
                                "STATUS is answered by a running broker");
    zmsg_t *rows = zmsg_new ();
    ctx->status (ctx->status_arg, rows);
    return s_rows_reply (ctx, 0, &rows, "broker status, %zu lines", zmsg_size (rows));
}

/* -------------------------------------------------------------------------- dispatch */

typedef struct {
    const char *verb;
    size_t min_args, max_args;
    bool addressed;    /* args[0] is a mailbox or list address, parsed into ctx->addr first */
    handler_fn *check; /* NULL, or what the request must satisfy beyond that (the refusal) */
    handler_fn *proceed;
    const char *usage; /* the reply to a wrong number of arguments */
} verb_t;

/* clang-format off */
static const verb_t s_verbs[] = {
    {"MBOX-ADD",       2, 3, true,  NULL,           s_mbox_add,       "MBOX-ADD address hash [user|gateway]"},
    {"MBOX-DEL",       1, 1, true,  NULL,           s_mbox_del,       "MBOX-DEL address"},
    {"MBOX-PASSWD",    2, 2, true,  NULL,           s_mbox_passwd,    "MBOX-PASSWD address hash"},
    {"MBOX-LIST",      0, 0, false, NULL,           s_mbox_list,      "MBOX-LIST"},
    {"MBOX-RETENTION", 3, 3, true,  NULL,           s_mbox_retention, "MBOX-RETENTION address max-messages max-age-seconds"},
    {"MBOX-KEY-ADD",   2, 2, true,  NULL,           s_key_change,     "MBOX-KEY-ADD address key (40 Z85 characters)"},
    {"MBOX-KEY-DEL",   2, 2, true,  NULL,           s_key_change,     "MBOX-KEY-DEL address key (40 Z85 characters)"},
    {"MBOX-KEY-LIST",  1, 1, true,  NULL,           s_key_list,       "MBOX-KEY-LIST address"},
    {"LIST-ADD",       3, 3, true,  NULL,           s_list_add,       "LIST-ADD list open|closed members|anyone"},
    {"LIST-DEL",       1, 1, true,  NULL,           s_list_del,       "LIST-DEL list"},
    {"LIST-MEMBERS",   1, 1, true,  s_check_list,   s_list_members,   "LIST-MEMBERS list"},
    {"LIST-SUB",       2, 3, true,  s_check_member, s_list_sub,       "LIST-SUB list member [filter]"},
    {"LIST-UNSUB",     2, 2, true,  s_check_member, s_list_unsub,     "LIST-UNSUB list member"},
    {"QUEUE-LIST",     0, 0, false, NULL,           s_queue_list,     "QUEUE-LIST"},
    {"QUEUE-FLUSH",    0, 0, false, NULL,           s_queue_flush,    "QUEUE-FLUSH"},
    {"QUEUE-DEL",      1, 1, false, NULL,           s_queue_del,      "QUEUE-DEL id"},
    {"STATUS",         0, 0, false, NULL,           s_status,         "STATUS takes no arguments"},
};
/* clang-format on */

#define VERB_COUNT (sizeof s_verbs / sizeof s_verbs[0])

/* The check half: the verb known, its number of arguments, its address, its own check. NULL,
   or the refusal */
static zmsg_t *
s_check (context_t *ctx, const verb_t **verb_p)
{
    proto_request_t *req = ctx->req;
    const verb_t *verb = NULL;
    for (size_t i = 0; i < VERB_COUNT && !verb; i++)
        if (streq (s_verbs[i].verb, req->verb))
            verb = &s_verbs[i];
    if (!verb) {
        char text[512] = "admin verbs:";
        for (size_t i = 0; i < VERB_COUNT; i++)
            snprintf (text + strlen (text), sizeof text - strlen (text), " %s", s_verbs[i].verb);
        snprintf (text + strlen (text), sizeof text - strlen (text), " (see docs/PROTOCOL.md)");
        return proto_reply_new (req->id, REPLY_UNKNOWN_VERB, text);
    }
    if (req->argc < verb->min_args || req->argc > verb->max_args)
        return proto_reply_new (req->id, REPLY_BAD_ARGS, verb->usage);
    const char *why = NULL;
    if (verb->addressed &&
        address_parse ((const char *)req->args[0].data, req->args[0].size, &ctx->addr, &why) != 0)
        return proto_reply_new (req->id, REPLY_BAD_RCPT_SYNTAX, why);
    *verb_p = verb;
    return verb->check ? verb->check (ctx) : NULL;
}

zmsg_t *
admin_execute (store_t *store, zmsg_t *request, admin_effect_t *effect)
{
    return admin_execute_status (store, request, effect, NULL, NULL);
}

zmsg_t *
admin_execute_status (store_t *store, zmsg_t *request, admin_effect_t *effect, admin_status_fn *status,
                      void *status_arg)
{
    assert (store);
    assert (request);
    admin_effect_t ignored;
    context_t ctx = {
        .store = store, .effect = effect ? effect : &ignored, .status = status, .status_arg = status_arg};
    memset (ctx.effect, 0, sizeof *ctx.effect);

    proto_request_t req;
    reply_id_t error_reply;
    const char *why = NULL;
    if (proto_request_parse (request, &req, &error_reply, &why) != 0)
        return proto_reply_new (req.id, error_reply, why);
    ctx.req = &req;
    const verb_t *verb = NULL;
    zmsg_t *refusal = s_check (&ctx, &verb);
    return refusal ? refusal : verb->proceed (&ctx);
}
