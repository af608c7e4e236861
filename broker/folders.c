/*  folders.c — the folder and flag verbs (folders.h; docs/PROTOCOL.md "Folders and flags") */
#include "folders.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "header.h"
#include "text.h"

/* --------------------------------------------------------------------- arguments */

static bool
s_is_inbox (const char *name, size_t size)
{
    return size == 5 && strncasecmp (name, "INBOX", 5) == 0;
}

const char *
folder_name_check (const char *name, size_t size)
{
    if (size == 0 || size > STORE_FOLDER_NAME_MAX)
        return "a folder name is 1 to 200 octets";
    if (s_is_inbox (name, size))
        return "INBOX is not a folder name (the INBOX is always there)";
    const uint8_t *p = (const uint8_t *)name;
    for (size_t i = 0; i < size;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return "a folder name has no control octets";
        if (p[i] == '*' || p[i] == '%')
            return "a folder name has no \"*\" or \"%\"";
        if (p[i] == '/' && (i == 0 || i + 1 == size || p[i + 1] == '/'))
            return "a folder name has no empty level (\"/\" first, last or twice)";
        size_t n = text_utf8_length (p + i, size - i);
        if (n == 0)
            return "a folder name is UTF-8";
        i += n;
    }
    return NULL;
}

/* The folder an argument names: 0 (*folder set) or the refusal. INBOX in any case is 0. */
static zmsg_t *
s_folder_arg (folder_call_t *call, const proto_arg_t *arg, int64_t *folder)
{
    *folder = 0;
    if (s_is_inbox ((const char *)arg->data, arg->size))
        return NULL;
    const char *why = folder_name_check ((const char *)arg->data, arg->size);
    if (why)
        return call->refuse (call->ctx, REPLY_BAD_ARGS, why);
    char name[STORE_FOLDER_NAME_MAX + 1];
    proto_arg_string (arg, name, sizeof name);
    int found = store_folder_find (call->store, call->mailbox_id, name, folder);
    if (found == 0) { /* Sent, Drafts or Trash, named before any FOLDERS: made now */
        *call->mutating = true;
        if (store_folder_defaults (call->store, call->mailbox_id) != 0)
            found = -1;
        else
            found = store_folder_find (call->store, call->mailbox_id, name, folder);
    }
    if (found < 0)
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    return found ? NULL : call->refuse (call->ctx, REPLY_NO_FOLDER, NULL);
}

static int
s_id_order (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts ids and drops repeats (an IMAP set may name one message twice: a MOVE must not copy
   it twice) */
static void
s_ids_unique (int64_t *ids, size_t *count)
{
    qsort (ids, *count, sizeof *ids, s_id_order);
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (kept == 0 || ids[kept - 1] != ids[i])
            ids[kept++] = ids[i];
    *count = kept;
}

const char *
folder_ids_parse (const proto_request_t *req, size_t first, size_t end, int64_t *ids, size_t *count)
{
    *count = 0;
    for (size_t a = first; a < end; a++) {
        const proto_arg_t *arg = &req->args[a];
        const char *p = (const char *)arg->data, *stop = p + arg->size;
        while (p < stop) {
            const char *space = memchr (p, ' ', (size_t)(stop - p));
            proto_arg_t one = {(const uint8_t *)p, (size_t)((space ? space : stop) - p)};
            if (*count == FOLDER_MAX_IDS)
                return "at most 1000 message ids";
            if (proto_arg_uint (&one, &ids[*count]) != 0)
                return "message ids are numbers";
            (*count)++;
            p = space ? space + 1 : stop;
        }
    }
    if (*count == 0)
        return "no message id";
    s_ids_unique (ids, count);
    return NULL;
}

/* The message ids in the arguments from first on, as folder_ids_parse: NULL, or the refusal */
static zmsg_t *
s_ids_arg (folder_call_t *call, size_t first, int64_t *ids, size_t *count)
{
    const char *why = folder_ids_parse (call->req, first, call->req->argc, ids, count);
    return why ? call->refuse (call->ctx, REPLY_BAD_ARGS, why) : NULL;
}

static zmsg_t *
s_flags_arg (folder_call_t *call, const proto_arg_t *arg, unsigned *flags)
{
    if (store_flags_parse ((const char *)arg->data, arg->size, flags) != 0)
        return call->refuse (call->ctx, REPLY_BAD_ARGS, "flags are letters of \"DFRST\"");
    return NULL;
}

static void
s_push (folder_call_t *call, folder_push_kind_t kind, int64_t folder, int64_t id, unsigned flags)
{
    folder_push_t push = {.kind = kind, .folder = folder, .id = id, .flags = flags};
    call->push (call->ctx, &push);
}

/* A new delivery pushed: NEW (with what NEW carries) into the INBOX, ADDED elsewhere */
static void
s_push_added (folder_call_t *call, int64_t folder, int64_t id, const store_delivery_t *delivery)
{
    folder_push_t push = {.kind = folder ? FOLDER_PUSH_ADDED : FOLDER_PUSH_NEW,
                          .folder = folder,
                          .id = id,
                          .flags = delivery->flags,
                          .size = delivery->size,
                          .sender = delivery->sender,
                          .subject = delivery->subject};
    call->push (call->ctx, &push);
}

/* --------------------------------------------------------------------- FOLDERS */

typedef struct {
    zmsg_t *data;
    int64_t uidnext;
} folders_t;

static void
s_folder_line (const store_folder_t *folder, void *arg)
{
    folders_t *list = arg;
    zmsg_addstrf (list->data, "%s\t%lld\t%lld\t%lld\t%lld\t%d\t%s", folder->name, (long long)folder->id,
                  (long long)folder->messages, (long long)folder->unseen, (long long)list->uidnext,
                  folder->subscribed ? 1 : 0, folder->special_use);
}

/* The INBOX's line: its UIDVALIDITY is the mailbox id (never given twice, schema 010). 0, -1
   store trouble, -2 the mailbox is gone. */
static int
s_inbox_line (folder_call_t *call, folders_t *list)
{
    store_mailbox_t mailbox;
    int64_t unseen = 0;
    int found = store_mailbox_find (call->store, call->address, &mailbox);
    if (found <= 0)
        return found < 0 ? -1 : -2;
    if (store_inbox_totals (call->store, call->mailbox_id, &mailbox.message_count, &mailbox.used_bytes,
                            &unseen) != 0)
        return -1;
    zmsg_addstrf (list->data, "INBOX\t%lld\t%lld\t%lld\t%lld\t1\t", (long long)call->mailbox_id,
                  (long long)mailbox.message_count, (long long)unseen, (long long)list->uidnext);
    return 0;
}

/* FOLDERS' lines (name NULL: all, the INBOX first); how many folders besides the INBOX, or -1
   store trouble, -2 the mailbox is gone */
static int
s_folders_lines (folder_call_t *call, folders_t *list, bool inbox, const char *name)
{
    if (store_folder_defaults (call->store, call->mailbox_id) != 0 || list->uidnext < 0)
        return -1;
    int rc = inbox || !name ? s_inbox_line (call, list) : 0;
    if (rc != 0 || inbox)
        return rc;
    return store_folder_each (call->store, call->mailbox_id, name, s_folder_line, list);
}

/* FOLDERS [name]: the INBOX and every folder (made Sent, Drafts, Trash the first time), or one */
zmsg_t *
folder_verb_folders (folder_call_t *call)
{
    char name[STORE_FOLDER_NAME_MAX + 1] = "";
    bool one = call->req->argc == 1,
         inbox = one && s_is_inbox ((const char *)call->req->args[0].data, call->req->args[0].size);
    if (one && !inbox && proto_arg_string (&call->req->args[0], name, sizeof name) != 0)
        return call->refuse (call->ctx, REPLY_NO_FOLDER, NULL);
    *call->mutating = true; /* the default folders, the first time */
    folders_t list = {zmsg_new (), store_next_delivery_id (call->store)};
    int count = s_folders_lines (call, &list, inbox, one ? name : NULL);
    if (count < 0 || (one && !inbox && count == 0)) {
        zmsg_destroy (&list.data);
        return call->refuse (call->ctx,
                             count == -1   ? REPLY_STORE_TROUBLE
                             : count == -2 ? REPLY_NO_MAILBOX
                                           : REPLY_NO_FOLDER,
                             count == -2 ? "your mailbox was deleted" : NULL);
    }
    zmsg_t *reply = proto_reply_newf (call->req->id, REPLY_OK, "%zu folders", zmsg_size (list.data));
    proto_move_frames (reply, &list.data);
    return reply;
}

/* --------------------------------------------------------------------- FOLDER */

/* FOLDER DELETE's messages, one GONE push each (named while the folder is still there) */
typedef struct {
    folder_call_t *call;
    int64_t folder;
} gone_t;

static void
s_gone (int64_t id, void *arg)
{
    gone_t *gone = arg;
    s_push (gone->call, FOLDER_PUSH_GONE, gone->folder, id, 0);
}

/* What a store status comes to for FOLDER: the refusal, or NULL */
static zmsg_t *
s_folder_status (folder_call_t *call, store_status_t status, char *error)
{
    reply_id_t reply = status == STORE_EXISTS      ? REPLY_FOLDER_EXISTS
                       : status == STORE_NOT_FOUND ? REPLY_NO_FOLDER
                       : status == STORE_LIMIT     ? REPLY_TOO_MANY_FOLDERS
                                                   : REPLY_STORE_TROUBLE;
    zmsg_t *refusal = status == STORE_OK ? NULL : call->refuse (call->ctx, reply, error);
    free (error);
    return refusal;
}

/* One FOLDER operation on name (to: RENAME's new name) */
static store_status_t
s_folder_op (folder_call_t *call, const char *op, const char *name, const char *to, char **error)
{
    store_t *store = call->store;
    if (streq (op, "CREATE"))
        return store_folder_create (store, call->mailbox_id, name, NULL, error);
    if (streq (op, "RENAME"))
        return store_folder_rename (store, call->mailbox_id, name, to, error);
    if (streq (op, "DELETE")) {
        gone_t gone = {call, 0};
        if (store_folder_find (store, call->mailbox_id, name, &gone.folder) < 0)
            return STORE_ERROR;
        return store_folder_delete (store, call->mailbox_id, name, s_gone, &gone, error);
    }
    return store_folder_subscribe (store, call->mailbox_id, name, streq (op, "SUBSCRIBE"), error);
}

/* FOLDER op name [new-name]: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE */
zmsg_t *
folder_verb_folder (folder_call_t *call)
{
    static const char *const ops[] = {"CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE"};
    const proto_request_t *req = call->req;
    char op[16] = "", name[STORE_FOLDER_NAME_MAX + 1], to[STORE_FOLDER_NAME_MAX + 1] = "";
    proto_arg_string (&req->args[0], op, sizeof op);
    bool known = false;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        known |= streq (op, ops[i]);
    if (!known)
        return call->refuse (call->ctx, REPLY_BAD_ARGS,
                             "FOLDER CREATE, DELETE, RENAME, SUBSCRIBE or UNSUBSCRIBE");
    if ((req->argc == 3) != streq (op, "RENAME"))
        return call->refuse (call->ctx, REPLY_BAD_ARGS, "FOLDER RENAME takes two names, the others one");
    bool inbox = s_is_inbox ((const char *)req->args[1].data, req->args[1].size);
    if (inbox && (streq (op, "DELETE") || streq (op, "RENAME")))
        return call->refuse (call->ctx, REPLY_NOT_YOURS, "the INBOX may not be deleted or renamed");
    if (inbox && !streq (op, "CREATE")) /* (UN)SUBSCRIBE INBOX: it is always there */
        return proto_reply_new (req->id, REPLY_OK, "INBOX is always there and subscribed");
    for (size_t a = 1; a < req->argc; a++) {
        const char *why = folder_name_check ((const char *)req->args[a].data, req->args[a].size);
        if (why)
            return call->refuse (call->ctx, REPLY_BAD_ARGS, why);
    }
    proto_arg_string (&req->args[1], name, sizeof name);
    if (req->argc == 3)
        proto_arg_string (&req->args[2], to, sizeof to);
    *call->mutating = true;
    char *error = NULL;
    store_status_t status = s_folder_op (call, op, name, to, &error);
    zmsg_t *refusal = s_folder_status (call, status, error);
    if (refusal)
        return refusal;
    if (req->argc == 3)
        return proto_reply_newf (req->id, REPLY_OK, "renamed %s to %s", name, to);
    return proto_reply_newf (req->id, REPLY_OK, "%s %s",
                             streq (op, "CREATE")      ? "created"
                             : streq (op, "DELETE")    ? "deleted"
                             : streq (op, "SUBSCRIBE") ? "subscribed"
                                                       : "unsubscribed",
                             name);
}

/* --------------------------------------------------------------------- SCAN */

static void
s_scan_line (const store_item_t *item, void *arg)
{
    char flags[STORE_FLAGS_MAX];
    zmsg_addstrf ((zmsg_t *)arg, "%lld\t%lld\t%s\t%lld", (long long)item->id, (long long)item->size,
                  store_flags_format (item->flags, flags), (long long)item->delivered_at);
}

/* SCAN folder [after [limit]]: a page of the folder, as LIST pages the INBOX */
zmsg_t *
folder_verb_scan (folder_call_t *call)
{
    const proto_request_t *req = call->req;
    int64_t folder = 0, after = 0, limit = LIST_PAGE;
    zmsg_t *refusal = s_folder_arg (call, &req->args[0], &folder);
    if (refusal)
        return refusal;
    if (req->argc >= 2 && proto_arg_uint (&req->args[1], &after) != 0)
        return call->refuse (call->ctx, REPLY_BAD_ARGS, "SCAN cursor must be a message id (a number)");
    if (req->argc == 3 && (proto_arg_uint (&req->args[2], &limit) != 0 || limit < 1 || limit > MAX_LIST_PAGE))
        return call->refuse (call->ctx, REPLY_BAD_ARGS, "SCAN page size must be a number from 1 to 10000");
    zmsg_t *data = zmsg_new ();
    if (store_scan (call->store, call->mailbox_id, folder, after, limit + 1, s_scan_line, data) != 0) {
        zmsg_destroy (&data);
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply;
    if (zmsg_size (data) > (size_t)limit) {
        zframe_t *extra = zmsg_last (data);
        zmsg_remove (data, extra);
        zframe_destroy (&extra);
        char *last = zframe_strdup (zmsg_last (data));
        reply = proto_reply_newf (req->id, REPLY_OK, "%zu messages, more after %lld", zmsg_size (data),
                                  strtoll (last, NULL, 10));
        free (last);
    }
    else
        reply = proto_reply_newf (req->id, REPLY_OK, "%zu messages", zmsg_size (data));
    proto_move_frames (reply, &data);
    return reply;
}

/* --------------------------------------------------------------------- FLAG */

/* FLAG op flags id...: op + adds, - removes, = sets; a line per message of the mailbox */
zmsg_t *
folder_verb_flag (folder_call_t *call)
{
    const proto_request_t *req = call->req;
    unsigned bits = 0;
    int64_t ids[FOLDER_MAX_IDS];
    size_t count = 0;
    char op = req->args[0].size == 1 ? (char)req->args[0].data[0] : 0;
    if (op != '+' && op != '-' && op != '=')
        return call->refuse (call->ctx, REPLY_BAD_ARGS, "FLAG op is +, - or =");
    zmsg_t *refusal = s_flags_arg (call, &req->args[1], &bits);
    if (!refusal)
        refusal = s_ids_arg (call, 2, ids, &count);
    if (refusal)
        return refusal;
    *call->mutating = true;
    zmsg_t *data = zmsg_new ();
    for (size_t i = 0; i < count; i++) {
        store_delivery_t delivery;
        bool changed = false;
        int rc = store_delivery_flag (call->store, call->mailbox_id, ids[i], op, bits, &delivery, &changed);
        if (rc < 0) {
            zmsg_destroy (&data);
            return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
        }
        if (rc == 0)
            continue; /* not this mailbox's: left out, as a missing one */
        char flags[STORE_FLAGS_MAX];
        zmsg_addstrf (data, "%lld\t%s", (long long)ids[i], store_flags_format (delivery.flags, flags));
        if (changed)
            s_push (call, FOLDER_PUSH_FLAGS, delivery.folder, ids[i], delivery.flags);
    }
    zmsg_t *reply = proto_reply_newf (req->id, REPLY_OK, "%zu messages", zmsg_size (data));
    proto_move_frames (reply, &data);
    return reply;
}

/* --------------------------------------------------------------------- COPY, MOVE */

/* Whether bytes more fit in the mailbox's quota: NULL, or the refusal */
static zmsg_t *
s_quota (folder_call_t *call, int64_t bytes)
{
    store_mailbox_t mailbox;
    int found = store_mailbox_find (call->store, call->address, &mailbox);
    if (found < 0)
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    if (!found)
        return call->refuse (call->ctx, REPLY_NO_MAILBOX, "your mailbox was deleted");
    if (mailbox.used_bytes + bytes > mailbox.quota_bytes)
        return call->refuse (call->ctx, REPLY_QUOTA, "mailbox full");
    return NULL;
}

/* The messages of the mailbox among ids (found[i]: 0 when not), and their total size */
static int
s_copy_sources (folder_call_t *call, const int64_t *ids, size_t count, store_delivery_t *found,
                int64_t *bytes)
{
    *bytes = 0;
    for (size_t i = 0; i < count; i++) {
        int rc = store_delivery_get (call->store, call->mailbox_id, ids[i], &found[i]);
        if (rc < 0)
            return -1;
        if (rc == 0)
            found[i].message = 0;
        else
            *bytes += found[i].size;
    }
    return 0;
}

/* The copies, a line each in data and an ADDED push each; for a MOVE the sources then go in
   one statement (store_deliveries_remove), a GONE push each. 0, or -1 when the store failed */
static int
s_copy_each (folder_call_t *call, int64_t folder, const int64_t *ids, size_t count,
             const store_delivery_t *found, bool move, zmsg_t *data)
{
    int64_t moved[FOLDER_MAX_IDS];
    size_t moved_count = 0;
    for (size_t i = 0; i < count; i++) {
        if (found[i].message == 0 || (move && found[i].folder == folder))
            continue; /* not the mailbox's; or moved where it is */
        int64_t id = store_delivery_put (call->store, call->mailbox_id, found[i].message, found[i].size,
                                         folder, found[i].flags, found[i].delivered_at);
        if (id < 0)
            return -1;
        zmsg_addstrf (data, "%lld\t%lld", (long long)ids[i], (long long)id);
        s_push_added (call, folder, id, &found[i]);
        if (move)
            moved[moved_count++] = ids[i];
    }
    /* every source was found in this transaction: each must go */
    if (moved_count && store_deliveries_remove (call->store, call->mailbox_id, moved, moved_count, NULL, NULL,
                                                NULL) != (int)moved_count)
        return -1;
    for (size_t i = 0, m = 0; i < count && m < moved_count; i++)
        if (ids[i] == moved[m]) {
            s_push (call, FOLDER_PUSH_GONE, found[i].folder, ids[i], 0);
            m++;
        }
    return 0;
}

/* COPY and MOVE folder id...: new deliveries of the same bodies, flags and times in folder
   (MOVE: and the old ones gone, in the same transaction) */
static zmsg_t *
s_copy (folder_call_t *call, bool move)
{
    int64_t folder = 0, ids[FOLDER_MAX_IDS], bytes = 0;
    size_t count = 0;
    zmsg_t *refusal = s_folder_arg (call, &call->req->args[0], &folder);
    if (!refusal)
        refusal = s_ids_arg (call, 1, ids, &count);
    if (!refusal && !move)
        refusal = call->space (call->ctx);
    if (refusal)
        return refusal;
    store_delivery_t *found = calloc (count, sizeof *found);
    if (!found || s_copy_sources (call, ids, count, found, &bytes) != 0)
        refusal = call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    else if (!move) /* a MOVE frees what it takes */
        refusal = s_quota (call, bytes);
    if (refusal) {
        free (found);
        return refusal;
    }
    *call->mutating = true;
    zmsg_t *data = zmsg_new ();
    if (s_copy_each (call, folder, ids, count, found, move, data) != 0)
        refusal = call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    free (found);
    if (refusal) {
        zmsg_destroy (&data);
        return refusal;
    }
    zmsg_t *reply =
        proto_reply_newf (call->req->id, REPLY_OK, "%zu %s", zmsg_size (data), move ? "moved" : "copied");
    proto_move_frames (reply, &data);
    return reply;
}

zmsg_t *
folder_verb_copy (folder_call_t *call)
{
    return s_copy (call, false);
}

zmsg_t *
folder_verb_move (folder_call_t *call)
{
    return s_copy (call, true);
}

/* --------------------------------------------------------------------- APPEND */

/* The checks of APPEND's message: NULL, or the refusal; *subject its Subject: */
static zmsg_t *
s_append_check (folder_call_t *call, const proto_arg_t *body, char *subject, size_t size)
{
    size_t hlen = 0;
    const char *why = NULL;
    if (body->size > call->max_message_bytes)
        return call->refuse (call->ctx, REPLY_TOO_BIG, "message exceeds fixed maximum message size");
    if ((why = call->content (body->data, body->size, &hlen)))
        return call->refuse (call->ctx, REPLY_BAD_CONTENT, why);
    header_find_in ((const char *)body->data, hlen, "Subject", subject, size);
    zmsg_t *refusal = call->space (call->ctx);
    return refusal ? refusal : s_quota (call, (int64_t)body->size);
}

/* APPEND folder flags unix-time message: the message stored in folder, its id in the reply */
zmsg_t *
folder_verb_append (folder_call_t *call)
{
    const proto_request_t *req = call->req;
    const proto_arg_t *body = &req->args[3];
    int64_t folder = 0, when = 0;
    unsigned flags = 0;
    store_delivery_t delivery = {.size = (int64_t)body->size};
    zmsg_t *refusal = s_folder_arg (call, &req->args[0], &folder);
    if (!refusal)
        refusal = s_flags_arg (call, &req->args[1], &flags);
    if (!refusal && proto_arg_uint (&req->args[2], &when) != 0)
        refusal = call->refuse (call->ctx, REPLY_BAD_ARGS, "APPEND time is a unix time (a number)");
    if (!refusal)
        refusal = s_append_check (call, body, delivery.subject, sizeof delivery.subject);
    if (refusal)
        return refusal;
    *call->mutating = true;
    snprintf (delivery.sender, sizeof delivery.sender, "%s", call->address);
    int64_t message =
        store_message_add (call->store, call->address, NULL, delivery.subject, body->data, body->size, 0);
    int64_t id = message < 0
                     ? -1
                     : store_delivery_put (call->store, call->mailbox_id, message, (int64_t)body->size,
                                           folder, flags, when ? when : (int64_t)time (NULL));
    if (id < 0)
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    call->written (call->ctx, (int64_t)body->size);
    delivery.flags = flags;
    s_push_added (call, folder, id, &delivery);
    zmsg_t *reply = proto_reply_newf (req->id, REPLY_OK, "appended %lld", (long long)id);
    zmsg_addstrf (reply, "%lld", (long long)id);
    return reply;
}

/* --------------------------------------------------------------------- EXPUNGE */

static int
s_id_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Keeps those of ids (ascending) that named (ascending, as s_ids_arg gives them) holds, in
   place; returns how many */
static size_t
s_keep_named (int64_t *ids, size_t count, const int64_t *named, size_t named_count)
{
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (bsearch (&ids[i], named, named_count, sizeof *named, s_id_cmp))
            ids[kept++] = ids[i];
    return kept;
}

typedef struct {
    const int64_t *ids;
    bool *gone;
    size_t count;
} expunged_t;

static void
s_expunged (int64_t id, int64_t folder, void *arg)
{
    (void)folder;
    expunged_t *expunged = arg;
    const int64_t *at = bsearch (&id, expunged->ids, expunged->count, sizeof id, s_id_cmp);
    if (at)
        expunged->gone[at - expunged->ids] = true;
}

/* Removes ids (ascending) in statements of up to FOLDER_MAX_IDS ids (store_deliveries_remove:
   the counters once, no trigger per row); each id removed gets its frame in data and its GONE
   push, in ascending order. 0, or -1 when the store failed */
static int
s_expunge_ids (folder_call_t *call, int64_t folder, const int64_t *ids, size_t count, zmsg_t *data)
{
    bool gone[FOLDER_MAX_IDS];
    for (size_t at = 0; at < count; at += FOLDER_MAX_IDS) {
        size_t take = count - at < FOLDER_MAX_IDS ? count - at : FOLDER_MAX_IDS;
        memset (gone, 0, take * sizeof *gone);
        expunged_t expunged = {ids + at, gone, take};
        if (store_deliveries_remove (call->store, call->mailbox_id, ids + at, take, NULL, s_expunged,
                                     &expunged) < 0)
            return -1;
        for (size_t i = 0; i < take; i++)
            if (gone[i]) {
                zmsg_addstrf (data, "%lld", (long long)ids[at + i]);
                s_push (call, FOLDER_PUSH_GONE, folder, ids[at + i], 0);
            }
    }
    return 0;
}

/* EXPUNGE folder [id...]: removes the folder's messages flagged T (of those named, if any) */
zmsg_t *
folder_verb_expunge (folder_call_t *call)
{
    int64_t folder = 0, named[FOLDER_MAX_IDS], *ids = NULL;
    size_t named_count = 0, count = 0;
    zmsg_t *refusal = s_folder_arg (call, &call->req->args[0], &folder);
    if (!refusal && call->req->argc > 1)
        refusal = s_ids_arg (call, 1, named, &named_count);
    if (refusal)
        return refusal;
    *call->mutating = true;
    if (store_expunge_pick (call->store, call->mailbox_id, folder, &ids, &count) != 0)
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    if (named_count)
        count = s_keep_named (ids, count, named, named_count);
    zmsg_t *data = zmsg_new ();
    int rc = s_expunge_ids (call, folder, ids, count, data);
    free (ids);
    if (rc != 0) {
        zmsg_destroy (&data);
        return call->refuse (call->ctx, REPLY_STORE_TROUBLE, NULL);
    }
    zmsg_t *reply = proto_reply_newf (call->req->id, REPLY_OK, "%zu expunged", zmsg_size (data));
    proto_move_frames (reply, &data);
    return reply;
}
