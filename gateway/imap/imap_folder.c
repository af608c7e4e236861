/*  imap_folder.c — folders through the broker's folder verbs (docs/PROTOCOL.md "Folders"):
    the request path that keeps the WATCH pushes, LIST/LSUB, CREATE DELETE RENAME SUBSCRIBE
    UNSUBSCRIBE, STATUS, SELECT/EXAMINE and CLOSE/UNSELECT, and the selected folder's view:
    sequence number -> (uid, size, flags, date), loaded with SCAN and kept in step with the
    pushes (imap_view_sync). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_limits.h"
#include "imap_session.h"
#include "log.h"
#include "proto.h"
#include "reply.h"

/* ------------------------------------------------------------------ the broker */

/* A push ("*" already taken off): END means the broker ends the session; the others wait in
   s->pushes for the next sync point, each one a credit to give back */
static void
s_push (imap_session_t *s, zmsg_t *msg)
{
    char *kind = zmsg_popstr (msg);
    if (kind && strcmp (kind, "END") == 0) {
        log_warn ("imap", "broker-end", "session=%llu", s->number);
        s->broker_dead = true;
        zmsg_destroy (&msg);
    }
    else if (kind && zlist_size (s->pushes) >= IMAP_WATCH_WINDOW) {
        /* a session that sends no command while its folder changes much: what the pushes said
           is learnt again by SCAN at the next sync point */
        zmsg_destroy (&msg);
        s->resync = true;
        s->credit_owed++;
    }
    else if (kind) {
        zmsg_pushstr (msg, kind);
        zlist_append (s->pushes, msg);
        s->credit_owed++;
    }
    else
        zmsg_destroy (&msg);
    free (kind);
}

/* A received message: a push is kept, true when it is the reply with id */
static bool
s_received (imap_session_t *s, zmsg_t *msg, const char *id)
{
    char *rid = zmsg_popstr (msg);
    bool mine = rid && strcmp (rid, id) == 0;
    if (rid && strcmp (rid, "*") == 0)
        s_push (s, msg);
    else if (!mine)
        zmsg_destroy (&msg);
    free (rid);
    return mine;
}

void
imap_drain (imap_session_t *s)
{
    zmsg_t *msg;
    while (s->client && !s->broker_dead && (msg = client_recv (s->client, 0)))
        s_received (s, msg, "*none*");
    if (s->state != IMAP_SELECTED)
        while ((msg = zlist_pop (s->pushes)))
            zmsg_destroy (&msg);
}

static zmsg_t *
s_call_within (imap_session_t *s, const char *verb, zmsg_t *args, int *code, int timeout_ms)
{
    *code = 0;
    char id[32];
    if (s->broker_dead || client_send (s->client, verb, args, id, sizeof id) != 0) {
        s->broker_dead = true;
        return NULL;
    }
    s->last_call = zclock_mono ();
    int64_t deadline = s->last_call + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        zmsg_t *msg = left > 0 ? client_recv (s->client, (int)left) : NULL;
        if (!msg) {
            log_warn ("imap", "broker-timeout", "session=%llu verb=%s", s->number, verb);
            s->broker_dead = true;
            return NULL;
        }
        if (!s_received (s, msg, id))
            continue;
        proto_reply_status (msg, code, NULL, 0);
        /* 530: the broker restarted and forgot the session, and with it the WATCH */
        if (*code == 530 || *code == 421)
            s->broker_dead = true;
        return msg;
    }
}

zmsg_t *
imap_call (imap_session_t *s, const char *verb, zmsg_t *args, int *code)
{
    return s_call_within (s, verb, args, code, GATEWAY_BROKER_TIMEOUT_MS);
}

zmsg_t *
imap_call_quick (imap_session_t *s, const char *verb, zmsg_t *args, int *code)
{
    return s_call_within (s, verb, args, code, IMAP_HEARTBEAT_MS);
}

char *
imap_reply_row (zmsg_t *reply, size_t i)
{
    zframe_t *frame = zmsg_first (reply);
    for (size_t k = 0; frame && k < i; k++)
        frame = zmsg_next (reply);
    return frame ? zframe_strdup (frame) : NULL;
}

const char *
imap_folder_name (const imap_string_t *name)
{
    return strcasecmp (name->data, "INBOX") == 0 ? "INBOX" : name->data;
}

void
imap_no_memory (imap_session_t *s, const imap_command_t *cmd, const char *where)
{
    log_warn ("imap", "out-of-memory", "session=%llu where=%s", s->number, where);
    imap_no (s, cmd, "[UNAVAILABLE] out of memory, try again later");
}

void
imap_no_broker (imap_session_t *s, const imap_command_t *cmd, int code, const char *what)
{
    if (code == 0 || code == 421 || code == 530)
        imap_no (s, cmd, "[UNAVAILABLE] mail store unavailable, try again later");
    else if (code == 550 && strstr (what, "exists"))
        imap_no (s, cmd, "[ALREADYEXISTS] %s", what);
    else if (code == 550)
        imap_no (s, cmd, "[NONEXISTENT] %s", what);
    else if (code == 552 && strstr (what, "5.2.2")) {
        /* RFC 9051 7.1 ALERT: text the client must show its user, who alone can act on it */
        conn_printf (s->conn, "* OK [ALERT] Your mailbox is full: delete or expunge some mail\r\n");
        imap_no (s, cmd, "[OVERQUOTA] %s", what);
    }
    else if (code == 552)
        imap_no (s, cmd, "[LIMIT] %s", what);
    else if (code == 452 && strstr (what, "4.3.1")) {
        conn_printf (s->conn, "* OK [ALERT] The mail store is short of disk space: try again later\r\n");
        imap_no (s, cmd, "[UNAVAILABLE] %s", what);
    }
    else if (code == 452)
        imap_no (s, cmd, "[LIMIT] %s", what);
    else if (code == 501)
        imap_no (s, cmd, "[CANNOT] %s", what);
    else
        imap_no (s, cmd, "%s", what);
}

/* The status line's text (after "250 2.0.0 "), for NO texts; in buf */
static const char *
s_reply_text (zmsg_t *reply, char *buf, size_t size)
{
    char line[512] = "";
    int code = 0;
    if (!reply || proto_reply_status (reply, &code, line, sizeof line) != 0)
        return "no answer";
    const char *text = line;
    for (int skip = 0; skip < 2 && strchr (text, ' '); skip++)
        text = strchr (text, ' ') + 1;
    snprintf (buf, size, "%s", text);
    return buf;
}

/* A broker request with one or two string arguments; NO sent on failure (reply freed) */
static zmsg_t *
s_request (imap_session_t *s, const imap_command_t *cmd, const char *verb, const char *a, const char *b,
           const char *c)
{
    zmsg_t *args = zmsg_new ();
    const char *list[] = {a, b, c};
    for (int i = 0; i < 3 && list[i]; i++)
        zmsg_addstr (args, list[i]);
    int code = 0;
    zmsg_t *reply = imap_call (s, verb, args, &code);
    if (reply_is_success (code))
        return reply;
    char text[512];
    imap_no_broker (s, cmd, code, s_reply_text (reply, text, sizeof text));
    zmsg_destroy (&reply);
    return NULL;
}

/* ------------------------------------------------------------------ FOLDERS rows */

typedef struct {
    char name[IMAP_MAX_MAILBOX_NAME + 1];
    uint32_t uidvalidity, messages, unseen, uidnext;
    bool beyond_uids; /* its ids passed UINT32_MAX: IMAP's 32-bit UIDs cannot name them */
    bool subscribed;
    char special[16];
} folder_row_t;

static int
s_folder_row (const char *row, folder_row_t *f)
{
    memset (f, 0, sizeof *f);
    const char *tab = strchr (row, '\t');
    if (!tab || (size_t)(tab - row) > IMAP_MAX_MAILBOX_NAME)
        return -1;
    memcpy (f->name, row, (size_t)(tab - row));
    unsigned sub = 0;
    unsigned long long validity = 0, next = 0;
    if (sscanf (tab + 1, "%llu\t%u\t%u\t%llu\t%u\t%15s", &validity, &f->messages, &f->unseen, &next, &sub,
                f->special) < 5)
        return -1;
    f->beyond_uids = validity > UINT32_MAX || next > UINT32_MAX;
    f->uidvalidity = validity > UINT32_MAX ? UINT32_MAX : (uint32_t)validity;
    f->uidnext = next > UINT32_MAX ? UINT32_MAX : (uint32_t)next;
    f->subscribed = sub != 0;
    return 0;
}

/* FOLDERS [name]: the rows; count in *count (caller frees); NULL when NO was sent */
static folder_row_t *
s_folders (imap_session_t *s, const imap_command_t *cmd, const char *name, size_t *count)
{
    zmsg_t *reply = s_request (s, cmd, "FOLDERS", name, NULL, NULL);
    if (!reply)
        return NULL;
    *count = zmsg_size (reply) - 1;
    folder_row_t *rows = calloc (*count + 1, sizeof *rows);
    if (!rows)
        imap_no_memory (s, cmd, "folders");
    for (size_t i = 0; rows && i < *count; i++) {
        char *row = imap_reply_row (reply, i + 1);
        if (!row || s_folder_row (row, &rows[i]) != 0)
            rows[i].name[0] = '\0';
        free (row);
    }
    zmsg_destroy (&reply);
    if (!rows)
        imap_no (s, cmd, "[SERVERBUG] out of memory");
    return rows;
}

int
imap_folder_uidvalidity (imap_session_t *s, const char *name, uint32_t *uidvalidity)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, name);
    int code = 0;
    zmsg_t *reply = imap_call (s, "FOLDERS", args, &code);
    char *row = reply && reply_is_success (code) ? imap_reply_row (reply, 1) : NULL;
    folder_row_t f;
    int rc = row && s_folder_row (row, &f) == 0 ? 0 : -1;
    if (rc == 0)
        *uidvalidity = f.uidvalidity;
    free (row);
    zmsg_destroy (&reply);
    return rc;
}

/* ------------------------------------------------------------------ LIST / LSUB */

static bool
s_has_children (const folder_row_t *rows, size_t count, const char *name)
{
    size_t len = strlen (name);
    for (size_t i = 0; i < count; i++)
        if (strncmp (rows[i].name, name, len) == 0 && rows[i].name[len] == '/')
            return true;
    return false;
}

static void
s_list_row (imap_session_t *s, buffer_t *out, const imap_command_t *cmd, const folder_row_t *rows,
            size_t count, size_t i)
{
    const folder_row_t *f = &rows[i];
    buffer_appendf (out, "* %s (%s", cmd->id == IMAP_LSUB ? "LSUB" : "LIST",
                    s_has_children (rows, count, f->name) ? "\\HasChildren" : "\\HasNoChildren");
    if (f->special[0] == '\\')
        buffer_appendf (out, " %s", f->special);
    if (cmd->id == IMAP_LIST && f->subscribed && strcmp (f->name, "INBOX") != 0)
        buffer_appendf (out, " \\Subscribed");
    buffer_appendf (out, ") \"/\" ");
    imap_string_append (out, f->name, strlen (f->name), (s->flags & IMAP_SF_UTF8) != 0);
    buffer_appendf (out, "\r\n");
}

/* RFC 9051 6.3.9: the reference and the pattern together; "" pattern asks for the delimiter */
void
imap_cmd_list (imap_session_t *s, imap_command_t *cmd)
{
    const imap_string_t *ref = &cmd->str[0], *pattern = &cmd->str[1];
    if (pattern->len == 0) {
        conn_printf (s->conn, "* %s (\\Noselect) \"/\" \"\"\r\n", cmd->id == IMAP_LSUB ? "LSUB" : "LIST");
        imap_ok (s, cmd, "%s completed", cmd->verb);
        return;
    }
    char full[2 * IMAP_MAX_MAILBOX_NAME + 8];
    bool slash = ref->len && ref->data[ref->len - 1] != '/' && pattern->data[0] != '/';
    snprintf (full, sizeof full, "%s%s%s", ref->data, slash ? "/" : "", pattern->data);
    size_t count = 0;
    folder_row_t *rows = s_folders (s, cmd, NULL, &count);
    if (!rows)
        return;
    buffer_t out = BUFFER_INIT (0);
    for (size_t i = 0; i < count; i++) {
        if (!rows[i].name[0] || !imap_list_match (full, rows[i].name))
            continue;
        if (cmd->id == IMAP_LSUB && !rows[i].subscribed && strcmp (rows[i].name, "INBOX") != 0)
            continue;
        s_list_row (s, &out, cmd, rows, count, i);
    }
    free (rows);
    imap_flush (s, &out);
    imap_ok (s, cmd, "%s completed", cmd->verb);
}

/* ------------------------------------------------------------------ CREATE DELETE RENAME ... */

void
imap_cmd_folder (imap_session_t *s, imap_command_t *cmd)
{
    static const struct {
        imap_cmd_id_t id;
        const char *op;
    } ops[] = {{IMAP_CREATE, "CREATE"},
               {IMAP_DELETE, "DELETE"},
               {IMAP_RENAME, "RENAME"},
               {IMAP_SUBSCRIBE, "SUBSCRIBE"},
               {IMAP_UNSUBSCRIBE, "UNSUBSCRIBE"}};
    const char *op = NULL;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i].id == cmd->id)
            op = ops[i].op;
    char name[IMAP_MAX_MAILBOX_NAME + 2];
    snprintf (name, sizeof name, "%s", imap_folder_name (&cmd->str[0]));
    /* RFC 9051 6.3.4: "CREATE a/" means a hierarchy is intended: the folder is "a" */
    size_t len = strlen (name);
    if (cmd->id == IMAP_CREATE && len > 1 && name[len - 1] == '/')
        name[len - 1] = '\0';
    if (cmd->id == IMAP_CREATE && strcmp (name, "INBOX") == 0) {
        imap_no (s, cmd, "[ALREADYEXISTS] INBOX always exists");
        return;
    }
    const char *new_name = cmd->id == IMAP_RENAME ? imap_folder_name (&cmd->str[1]) : NULL;
    zmsg_t *reply = s_request (s, cmd, "FOLDER", op, name, new_name);
    if (!reply)
        return;
    zmsg_destroy (&reply);
    char quoted[2 * IMAP_MAX_MAILBOX_NAME + 8];
    log_info ("imap", "folder", "session=%llu op=%s name=%s", s->number, op,
              log_quote (quoted, sizeof quoted, name, strlen (name)));
    imap_ok (s, cmd, "%s completed", cmd->verb);
}

/* ------------------------------------------------------------------ STATUS */

static void s_status_scan (imap_session_t *s, const char *name, uint64_t *size, uint32_t *deleted);

void
imap_cmd_status (imap_session_t *s, imap_command_t *cmd)
{
    const char *name = imap_folder_name (&cmd->str[0]);
    size_t count = 0;
    folder_row_t *f = s_folders (s, cmd, name, &count);
    if (!f)
        return;
    buffer_t out = BUFFER_INIT (0);
    buffer_appendf (&out, "* STATUS ");
    imap_string_append (&out, f->name, strlen (f->name), (s->flags & IMAP_SF_UTF8) != 0);
    const char *sep = "";
    buffer_appendf (&out, " (");
#define ITEM(bit, fmt, value)                                                                                \
    if (cmd->status & (bit)) {                                                                               \
        buffer_appendf (&out, "%s" fmt, sep, value);                                                         \
        sep = " ";                                                                                           \
    }
    ITEM (IMAP_STATUS_MESSAGES, "MESSAGES %u", f->messages);
    ITEM (IMAP_STATUS_UIDNEXT, "UIDNEXT %u", f->uidnext);
    ITEM (IMAP_STATUS_UIDVALIDITY, "UIDVALIDITY %u", f->uidvalidity);
    ITEM (IMAP_STATUS_UNSEEN, "UNSEEN %u", f->unseen);
    ITEM (IMAP_STATUS_RECENT, "RECENT %u", 0u);
    if (cmd->status & (IMAP_STATUS_SIZE | IMAP_STATUS_DELETED)) {
        uint64_t size = 0;
        uint32_t deleted = 0;
        s_status_scan (s, f->name, &size, &deleted);
        ITEM (IMAP_STATUS_DELETED, "DELETED %u", deleted);
        ITEM (IMAP_STATUS_SIZE, "SIZE %llu", (unsigned long long)size);
    }
#undef ITEM
    buffer_appendf (&out, ")\r\n");
    free (f);
    imap_flush (s, &out);
    imap_ok (s, cmd, "STATUS completed");
}

/* ------------------------------------------------------------------ the view */

void
imap_view_clear (imap_session_t *s)
{
    free (s->msgs);
    s->msgs = NULL;
    s->count = s->cap = 0;
    s->folder[0] = '\0';
}

uint32_t
imap_view_max_uid (const imap_session_t *s)
{
    return s->count ? s->msgs[s->count - 1].uid : 0;
}

uint32_t
imap_view_seq (const imap_session_t *s, uint32_t uid)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->msgs[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->count && s->msgs[lo].uid == uid ? (uint32_t)lo + 1 : 0;
}

static int
s_view_add (imap_session_t *s, const imap_msg_t *msg)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        imap_msg_t *msgs = realloc (s->msgs, cap * sizeof *msgs);
        if (!msgs)
            return -1;
        s->msgs = msgs;
        s->cap = cap;
    }
    s->msgs[s->count++] = *msg;
    return 0;
}

/* SCAN folder after: appends the messages past the view's last uid (every page); 0 or -1 */
static int
s_scan_after (imap_session_t *s, const char *folder, uint32_t after,
              int (*take) (imap_session_t *, const imap_msg_t *))
{
    while (true) {
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, folder);
        zmsg_addstrf (args, "%u", after);
        zmsg_addstrf (args, "%d", IMAP_SCAN_PAGE);
        int code = 0;
        zmsg_t *reply = imap_call (s, "SCAN", args, &code);
        if (!reply_is_success (code)) {
            zmsg_destroy (&reply);
            return -1;
        }
        size_t rows = zmsg_size (reply) - 1;
        zframe_t *frame = zmsg_first (reply);
        for (size_t i = 0; i < rows; i++) {
            frame = zmsg_next (reply);
            char row[128];
            size_t n = zframe_size (frame) < sizeof row - 1 ? zframe_size (frame) : sizeof row - 1;
            memcpy (row, zframe_data (frame), n);
            row[n] = '\0';
            unsigned long long id = 0, size = 0;
            long long date = 0;
            char letters[8] = "";
            if (sscanf (row, "%llu\t%llu\t%7[A-Z]\t%lld", &id, &size, letters, &date) != 4 &&
                sscanf (row, "%llu\t%llu\t\t%lld", &id, &size, &date) != 3)
                continue;
            if (id > UINT32_MAX) { /* IMAP's UIDs are 32 bits (RFC 9051 2.3.1.1) */
                log_warn ("imap", "uid-range", "session=%llu id=%llu", s->number, id);
                zmsg_destroy (&reply);
                return -1;
            }
            imap_msg_t msg = {
                .uid = id, .size = size, .flags = imap_flags_from_letters (letters), .date = date};
            take (s, &msg);
            after = id;
        }
        zmsg_destroy (&reply);
        if (rows < IMAP_SCAN_PAGE)
            return 0;
    }
}

int
imap_view_load (imap_session_t *s)
{
    s->count = 0;
    return s_scan_after (s, s->folder, 0, s_view_add);
}

/* A folder's whole listing in a view of its own (listing->msgs, caller frees); what the calls
   changed in the session (pushes, credit, a dead broker) is kept. 0 or -1. */
static int
s_listing (imap_session_t *s, const char *name, imap_session_t *listing)
{
    *listing = *s;
    listing->msgs = NULL;
    listing->count = listing->cap = 0;
    int rc = s_scan_after (listing, name, 0, s_view_add);
    s->broker_dead = listing->broker_dead;
    s->credit_owed = listing->credit_owed;
    s->last_call = listing->last_call;
    s->resync |= listing->resync;
    return rc;
}

/* A resynchronisation (pushes were missed): the folder as it is now, compared with the view */
static void
s_resync (imap_session_t *s)
{
    imap_session_t fresh;
    s->resync = false; /* tried once per sync point, even when it fails */
    if (s_listing (s, s->folder, &fresh) != 0) {
        free (fresh.msgs);
        return;
    }
    size_t j = 0;
    for (size_t i = 0; i < s->count; i++) {
        while (j < fresh.count && fresh.msgs[j].uid < s->msgs[i].uid)
            j++;
        if (j == fresh.count || fresh.msgs[j].uid != s->msgs[i].uid)
            s->msgs[i].expunged = true;
        else if (fresh.msgs[j].flags != s->msgs[i].flags) {
            s->msgs[i].flags = fresh.msgs[j].flags;
            s->msgs[i].flags_dirty = true;
        }
    }
    uint32_t max = imap_view_max_uid (s);
    for (size_t k = 0; k < fresh.count; k++)
        if (fresh.msgs[k].uid > max)
            s_view_add (s, &fresh.msgs[k]);
    free (fresh.msgs);
}

/* One push against the view: true when new messages are to be fetched */
static bool
s_apply_push (imap_session_t *s, zmsg_t *push)
{
    char *kind = zmsg_popstr (push);
    char *mailbox = zmsg_popstr (push);
    char *folder = kind && strcmp (kind, "NEW") == 0 ? strdup ("INBOX") : zmsg_popstr (push);
    char *id = zmsg_popstr (push);
    char *letters = kind && strcmp (kind, "FLAGS") == 0 ? zmsg_popstr (push) : NULL;
    bool more = false;
    if (kind && folder && id && strcmp (folder, s->folder) == 0) {
        unsigned long long wide = strtoull (id, NULL, 10);
        uint32_t uid = wide > UINT32_MAX ? 0 : (uint32_t)wide; /* past 32 bits: not shown, SCAN says why */
        uint32_t seq = uid ? imap_view_seq (s, uid) : 0;
        if (strcmp (kind, "NEW") == 0 || strcmp (kind, "ADDED") == 0)
            more = uid > imap_view_max_uid (s);
        else if (strcmp (kind, "GONE") == 0 && seq)
            s->msgs[seq - 1].expunged = true;
        else if (strcmp (kind, "FLAGS") == 0 && seq && letters) {
            unsigned flags = imap_flags_from_letters (letters);
            s->msgs[seq - 1].flags_dirty |= flags != s->msgs[seq - 1].flags;
            s->msgs[seq - 1].flags = flags;
        }
    }
    free (kind);
    free (mailbox);
    free (folder);
    free (id);
    free (letters);
    zmsg_destroy (&push);
    return more;
}

/* The untagged responses for what changed: EXPUNGE (when allowed), FETCH FLAGS, EXISTS */
static void
s_view_report (imap_session_t *s, bool expunges, size_t before)
{
    buffer_t out = BUFFER_INIT (0);
    for (size_t i = 0; expunges && i < s->count;) {
        if (!s->msgs[i].expunged) {
            i++;
            continue;
        }
        buffer_appendf (&out, "* %zu EXPUNGE\r\n", i + 1);
        memmove (&s->msgs[i], &s->msgs[i + 1], (s->count - i - 1) * sizeof *s->msgs);
        s->count--;
        before -= before > i ? 1 : 0;
    }
    for (size_t i = 0; i < s->count; i++)
        if (s->msgs[i].flags_dirty && !s->msgs[i].expunged) {
            buffer_appendf (&out, "* %zu FETCH (UID %u FLAGS ", i + 1, s->msgs[i].uid);
            imap_flags_append (&out, s->msgs[i].flags);
            buffer_appendf (&out, ")\r\n");
            s->msgs[i].flags_dirty = false;
        }
    if (s->count != before)
        buffer_appendf (&out, "* %zu EXISTS\r\n", s->count);
    imap_flush (s, &out);
}

int
imap_view_sync (imap_session_t *s, bool expunges)
{
    if (s->state != IMAP_SELECTED)
        return 0;
    imap_drain (s);
    size_t before = s->count;
    bool more = false;
    zmsg_t *push;
    while ((push = zlist_pop (s->pushes)))
        more |= s_apply_push (s, push);
    if (s->resync)
        s_resync (s);
    else if (more && s_scan_after (s, s->folder, imap_view_max_uid (s), s_view_add) != 0)
        return -1;
    if (s->count && s->msgs[s->count - 1].uid >= s->uidnext)
        s->uidnext = s->msgs[s->count - 1].uid + 1;
    s_view_report (s, expunges, before);
    return 0;
}

/* STATUS SIZE and DELETED need the folder's listing: SCAN into a view of its own */
static void
s_status_scan (imap_session_t *s, const char *name, uint64_t *size, uint32_t *deleted)
{
    imap_session_t listing;
    s_listing (s, name, &listing);
    *size = 0;
    *deleted = 0;
    for (size_t i = 0; i < listing.count; i++) {
        *size += listing.msgs[i].size;
        *deleted += (listing.msgs[i].flags & IMAP_DELETED) ? 1 : 0;
    }
    free (listing.msgs);
}

/* ------------------------------------------------------------------ SELECT / EXAMINE / CLOSE */

static int
s_watch (imap_session_t *s)
{
    if (s->watching)
        return 0;
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%d", IMAP_WATCH_WINDOW);
    zmsg_addstr (args, "changes");
    int code = 0;
    zmsg_t *reply = imap_call (s, "WATCH", args, &code);
    zmsg_destroy (&reply);
    s->watching = reply_is_success (code);
    return s->watching ? 0 : -1;
}

static void
s_select_report (imap_session_t *s, imap_command_t *cmd, const folder_row_t *f)
{
    buffer_t out = BUFFER_INIT (0);
    buffer_appendf (&out, "* %zu EXISTS\r\n", s->count);
    if (!(s->flags & IMAP_SF_REV2))
        buffer_appendf (&out, "* 0 RECENT\r\n");
    buffer_appendf (&out,
                    "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                    "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] flags kept\r\n"
                    "* OK [UIDVALIDITY %u] UIDs valid\r\n* OK [UIDNEXT %u] predicted next UID\r\n",
                    s->uidvalidity, s->uidnext);
    if (s->flags & IMAP_SF_REV2) {
        buffer_appendf (&out, "* LIST () \"/\" ");
        imap_string_append (&out, f->name, strlen (f->name), (s->flags & IMAP_SF_UTF8) != 0);
        buffer_appendf (&out, "\r\n");
    }
    imap_flush (s, &out);
    imap_ok (s, cmd, "[%s] %s completed", s->readonly ? "READ-ONLY" : "READ-WRITE", cmd->verb);
}

void
imap_cmd_select (imap_session_t *s, imap_command_t *cmd)
{
    /* RFC 9051 6.3.2: a SELECT deselects first, even when it then fails */
    if (s->state == IMAP_SELECTED) {
        imap_view_clear (s);
        s->state = IMAP_AUTHENTICATED;
        conn_printf (s->conn, "* OK [CLOSED] previous folder closed\r\n");
    }
    const char *name = imap_folder_name (&cmd->str[0]);
    size_t count = 0;
    folder_row_t *f = s_folders (s, cmd, name, &count);
    if (!f)
        return;
    if (f->beyond_uids) {
        free (f);
        imap_no (s, cmd,
                 "[LIMIT] this folder's message ids have passed 4294967295, more than IMAP's "
                 "32-bit UIDs can name (docs/GATEWAY.md)");
        return;
    }
    snprintf (s->folder, sizeof s->folder, "%s", f->name);
    s->uidvalidity = f->uidvalidity;
    s->uidnext = f->uidnext;
    s->readonly = cmd->id == IMAP_EXAMINE;
    /* WATCH before SCAN: a change in between comes as a push and is applied idempotently */
    if (s_watch (s) != 0 || imap_view_load (s) != 0) {
        imap_view_clear (s);
        free (f);
        imap_no (s, cmd, "[UNAVAILABLE] mail store unavailable, try again later");
        return;
    }
    if (s->count && imap_view_max_uid (s) >= s->uidnext)
        s->uidnext = imap_view_max_uid (s) + 1;
    s->state = IMAP_SELECTED;
    char quoted[2 * IMAP_MAX_MAILBOX_NAME + 8];
    log_info ("imap", "select", "session=%llu folder=%s messages=%zu readonly=%s", s->number,
              log_quote (quoted, sizeof quoted, s->folder, strlen (s->folder)), s->count,
              s->readonly ? "yes" : "no");
    s_select_report (s, cmd, f);
    free (f);
}

/* CLOSE removes the \Deleted messages silently (RFC 9051 6.4.1); UNSELECT does not */
void
imap_cmd_close (imap_session_t *s, imap_command_t *cmd)
{
    if (cmd->id == IMAP_CLOSE && !s->readonly) {
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, s->folder);
        int code = 0;
        zmsg_t *reply = imap_call (s, "EXPUNGE", args, &code);
        zmsg_destroy (&reply);
        if (!reply_is_success (code)) {
            imap_no_broker (s, cmd, code, "cannot expunge");
            return;
        }
    }
    imap_view_clear (s);
    s->state = IMAP_AUTHENTICATED;
    zmsg_t *push;
    while ((push = zlist_pop (s->pushes)))
        zmsg_destroy (&push);
    imap_ok (s, cmd, "%s completed", cmd->verb);
}
