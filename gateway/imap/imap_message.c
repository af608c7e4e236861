/*  imap_message.c — the commands on the messages of the selected folder (FETCH STORE SEARCH
    COPY MOVE EXPUNGE, by sequence number or UID) and APPEND, on the broker's RETR PEEK, FLAG,
    COPY, MOVE, EXPUNGE and APPEND verbs; what a message shows (ENVELOPE, BODYSTRUCTURE,
    sections, SEARCH matching) is imap_mime.h's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap_mime.h"
#include "imap_session.h"
#include "log.h"
#include "proto.h"
#include "reply.h"

/* The broker takes at most this many ids in one FLAG, COPY, MOVE or EXPUNGE */
#define BATCH 1000

/* ------------------------------------------------------------------ message sets */

/* RFC 9051 6.4.5 / 9: a sequence number past the last message is an error (UIDs are not) */
static bool
s_valid_set (imap_session_t *s, const imap_command_t *cmd)
{
    if (cmd->set.saved) {
        imap_bad (s, cmd, "$ (SEARCHRES) is not supported");
        return false;
    }
    for (size_t i = 0; !cmd->uid && i < cmd->set.count; i++)
        if (cmd->set.ranges[i].lo > s->count || cmd->set.ranges[i].hi > s->count) {
            imap_bad (s, cmd, "invalid message sequence number (%zu messages)", s->count);
            return false;
        }
    return true;
}

static bool
s_matches (const imap_session_t *s, const imap_command_t *cmd, size_t i)
{
    return cmd->uid ? imap_seqset_contains (&cmd->set, s->msgs[i].uid, imap_view_max_uid (s))
                    : imap_seqset_contains (&cmd->set, (uint32_t)i + 1, (uint32_t)s->count);
}

/* The UIDs of the messages the command names (not those already expunged); caller frees */
static uint32_t *
s_uids (const imap_session_t *s, const imap_command_t *cmd, size_t *n)
{
    uint32_t *uids = malloc ((s->count + 1) * sizeof *uids);
    *n = 0;
    for (size_t i = 0; uids && i < s->count; i++)
        if (!s->msgs[i].expunged && s_matches (s, cmd, i))
            uids[(*n)++] = s->msgs[i].uid;
    return uids;
}

/* "1:3,7" for ascending numbers */
static void
s_set_append (buffer_t *out, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && v[j + 1] == v[j] + 1)
            j++;
        buffer_appendf (out, "%s%u", i ? "," : "", v[i]);
        if (j > i)
            buffer_appendf (out, ":%u", v[j]);
        i = j + 1;
    }
}

/* ------------------------------------------------------------------ bodies */

void
imap_bodies_clear (imap_session_t *s)
{
    for (int i = 0; i < IMAP_BODY_CACHE; i++) {
        zmsg_destroy (&s->bodies[i].reply);
        s->bodies[i].uid = 0;
    }
}

/* The message, from the cache or RETR id PEEK (the \Seen flag is set apart, by FLAG) */
static const imap_body_t *
s_body (imap_session_t *s, uint32_t uid)
{
    for (int i = 0; i < IMAP_BODY_CACHE; i++)
        if (s->bodies[i].reply && s->bodies[i].uid == uid)
            return &s->bodies[i];
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%u", uid);
    zmsg_addstr (args, "PEEK");
    int code = 0;
    zmsg_t *reply = imap_call (s, "RETR", args, &code);
    zframe_t *frame = NULL;
    if (reply && reply_is_success (code) && zmsg_size (reply) >= 2) {
        zmsg_first (reply);
        frame = zmsg_next (reply);
    }
    if (!frame) {
        zmsg_destroy (&reply);
        return NULL;
    }
    imap_body_t *b = &s->bodies[s->next_body];
    s->next_body = (s->next_body + 1) % IMAP_BODY_CACHE;
    zmsg_destroy (&b->reply);
    *b = (imap_body_t){uid, reply, (const char *)zframe_data (frame), zframe_size (frame)};
    return b;
}

/* FLAG op letters uids...: the rows "id TAB flags" update the view; with out, the untagged
   FETCH of each (STORE without .SILENT). Returns the broker's code. */
static int
s_flag (imap_session_t *s, char op, const char *letters, const uint32_t *uids, size_t n, buffer_t *out,
        bool uid)
{
    int code = 250;
    for (size_t done = 0; done < n && reply_is_success (code); done += BATCH) {
        zmsg_t *args = zmsg_new ();
        zmsg_addstrf (args, "%c", op);
        zmsg_addstr (args, letters);
        for (size_t i = done; i < n && i < done + BATCH; i++)
            zmsg_addstrf (args, "%u", uids[i]);
        zmsg_t *reply = imap_call (s, "FLAG", args, &code);
        size_t rows = reply && reply_is_success (code) ? zmsg_size (reply) - 1 : 0;
        for (size_t r = 1; r <= rows; r++) {
            char *row = imap_reply_row (reply, r);
            unsigned id = 0;
            char got[8] = "";
            uint32_t seq = row && sscanf (row, "%u\t%7[A-Z]", &id, got) >= 1 ? imap_view_seq (s, id) : 0;
            free (row);
            if (!seq)
                continue;
            s->msgs[seq - 1].flags = imap_flags_from_letters (got);
            s->msgs[seq - 1].flags_dirty = false;
            if (out) {
                buffer_appendf (out, "* %u FETCH (FLAGS ", seq);
                imap_flags_append (out, s->msgs[seq - 1].flags);
                buffer_appendf (out, uid ? " UID %u)\r\n" : ")\r\n", id);
            }
        }
        zmsg_destroy (&reply);
    }
    return code;
}

/* ------------------------------------------------------------------ FETCH */

#define NEEDS_BODY                                                                                           \
    (IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODYSTRUCTURE | IMAP_FETCH_BODY | IMAP_FETCH_RFC822 |                  \
     IMAP_FETCH_RFC822_HEADER | IMAP_FETCH_RFC822_TEXT)

static bool
s_marks_seen (const imap_session_t *s, const imap_fetch_t *f)
{
    if (s->readonly)
        return false;
    if (f->items & (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_TEXT))
        return true;
    for (int i = 0; i < f->nsections; i++)
        if (!f->sections[i].peek && !f->sections[i].size_only)
            return true;
    return false;
}

/* One section's octets after its <partial>; -1 when BINARY cannot decode it */
static int
s_section (buffer_t *out, imap_mime_t *mime, const imap_section_t *sec, const char *name)
{
    const char *data = NULL;
    size_t len = 0;
    char *owned = NULL;
    int rc = imap_mime_section (mime, sec, &data, &len, &owned);
    if (rc < 0)
        return -1;
    if (rc == 1)
        len = 0;
    if (sec->partial) {
        size_t offset = sec->offset < len ? sec->offset : len;
        data += offset;
        len -= offset;
        len = len > sec->count ? sec->count : len;
    }
    if (sec->size_only)
        buffer_appendf (out, " %s %zu", name, len);
    else {
        bool binary8 = sec->binary && len && memchr (data, '\0', len);
        buffer_appendf (out, " %s %s{%zu}\r\n", name, binary8 ? "~" : "", len);
        buffer_append (out, data, len);
    }
    free (owned);
    return 0;
}

/* The items that come from the message itself; -1 on an encoding BINARY cannot decode */
static int
s_fetch_body_items (imap_session_t *s, buffer_t *out, const imap_fetch_t *f, imap_mime_t *mime)
{
    bool utf8 = (s->flags & IMAP_SF_UTF8) != 0;
    int rc = 0;
    if (f->items & IMAP_FETCH_ENVELOPE) {
        buffer_appendf (out, " ENVELOPE ");
        imap_mime_envelope (mime, out, utf8);
    }
    if (f->items & (IMAP_FETCH_BODYSTRUCTURE | IMAP_FETCH_BODY)) {
        bool ext = (f->items & IMAP_FETCH_BODYSTRUCTURE) != 0;
        buffer_appendf (out, ext ? " BODYSTRUCTURE " : " BODY ");
        imap_mime_bodystructure (mime, out, ext, utf8);
    }
    static const struct {
        unsigned item;
        imap_section_kind_t kind;
        const char *name;
    } rfc822[] = {{IMAP_FETCH_RFC822, IMAP_SECTION_ALL, "RFC822"},
                  {IMAP_FETCH_RFC822_HEADER, IMAP_SECTION_HEADER, "RFC822.HEADER"},
                  {IMAP_FETCH_RFC822_TEXT, IMAP_SECTION_TEXT, "RFC822.TEXT"}};
    for (size_t i = 0; i < sizeof rfc822 / sizeof rfc822[0]; i++)
        if (f->items & rfc822[i].item) {
            imap_section_t sec = {.kind = rfc822[i].kind};
            rc |= s_section (out, mime, &sec, rfc822[i].name);
        }
    for (int i = 0; i < f->nsections; i++)
        rc |= s_section (out, mime, &f->sections[i], f->sections[i].name);
    return rc;
}

/* The items the view answers */
static void
s_fetch_view_items (imap_session_t *s, buffer_t *out, const imap_command_t *cmd, const imap_msg_t *m,
                    bool flags)
{
    unsigned items = cmd->fetch->items;
    buffer_appendf (out, "UID %u", m->uid);
    if (items & IMAP_FETCH_FLAGS || flags) {
        buffer_appendf (out, " FLAGS ");
        imap_flags_append (out, m->flags);
    }
    if (items & IMAP_FETCH_SIZE)
        buffer_appendf (out, " RFC822.SIZE %llu", (unsigned long long)m->size);
    if (items & IMAP_FETCH_INTERNALDATE) {
        char date[32];
        imap_date_time (m->date, date);
        buffer_appendf (out, " INTERNALDATE \"%s\"", date);
    }
    (void)s;
}

/* One message's FETCH response: 0, 1 when it could not be read, -1 on UNKNOWN-CTE */
static int
s_fetch_one (imap_session_t *s, const imap_command_t *cmd, size_t i)
{
    const imap_fetch_t *f = cmd->fetch;
    imap_msg_t *m = &s->msgs[i];
    const imap_body_t *body = NULL;
    if (f->nsections || (f->items & NEEDS_BODY)) {
        body = s_body (s, m->uid);
        if (!body)
            return 1;
    }
    bool set_seen = s_marks_seen (s, f) && !(m->flags & IMAP_SEEN);
    if (set_seen) {
        uint32_t uid = m->uid;
        s_flag (s, '+', "S", &uid, 1, NULL, false);
        m = &s->msgs[i];
    }
    buffer_t out = BUFFER_INIT (0);
    buffer_appendf (&out, "* %zu FETCH (", i + 1);
    s_fetch_view_items (s, &out, cmd, m, set_seen);
    int rc = 0;
    if (body) {
        imap_mime_t *mime = imap_mime_new (body->data, body->size);
        rc = mime ? s_fetch_body_items (s, &out, f, mime) : 1;
        imap_mime_destroy (&mime);
    }
    buffer_appendf (&out, ")\r\n");
    if (rc >= 0)
        imap_flush (s, &out);
    buffer_free (&out);
    return rc;
}

void
imap_cmd_fetch (imap_session_t *s, imap_command_t *cmd)
{
    if (!s_valid_set (s, cmd))
        return;
    size_t missing = 0;
    bool unknown_cte = false;
    for (size_t i = 0; i < s->count && !s->broker_dead; i++) {
        if (!s_matches (s, cmd, i))
            continue;
        int rc = s->msgs[i].expunged ? 1 : s_fetch_one (s, cmd, i);
        missing += rc == 1;
        unknown_cte |= rc < 0;
    }
    if (s->broker_dead)
        return;
    if (unknown_cte)
        imap_no (s, cmd, "[UNKNOWN-CTE] a part's content transfer encoding cannot be decoded");
    else if (missing)
        imap_no (s, cmd, "%zu of the messages no longer exist", missing);
    else
        imap_ok (s, cmd, "%s completed", cmd->verb);
}

/* ------------------------------------------------------------------ STORE */

void
imap_cmd_store (imap_session_t *s, imap_command_t *cmd)
{
    if (!s_valid_set (s, cmd))
        return;
    size_t n = 0;
    uint32_t *uids = s_uids (s, cmd, &n);
    char letters[6];
    imap_flags_to_letters (cmd->flags, letters);
    char op = cmd->store_op == IMAP_STORE_ADD ? '+' : cmd->store_op == IMAP_STORE_REMOVE ? '-' : '=';
    buffer_t out = BUFFER_INIT (0);
    int code = uids ? s_flag (s, op, letters, uids, n, cmd->store_silent ? NULL : &out, cmd->uid) : 0;
    free (uids);
    imap_flush (s, &out);
    if (reply_is_success (code))
        imap_ok (s, cmd, "%s completed", cmd->verb);
    else if (!s->broker_dead)
        imap_no_broker (s, cmd, code, "cannot store the flags");
}

/* ------------------------------------------------------------------ SEARCH */

/* Whether message i matches; reads it when a key needs the message */
static bool
s_search_one (imap_session_t *s, const imap_command_t *cmd, size_t i, bool needs)
{
    const imap_msg_t *m = &s->msgs[i];
    imap_search_msg_t sm = {(uint32_t)i + 1, m->uid, m->flags, m->size, m->date, NULL};
    const imap_body_t *body = needs ? s_body (s, m->uid) : NULL;
    if (needs && !body)
        return false;
    if (body)
        sm.mime = imap_mime_new (body->data, body->size);
    bool match = (!needs || sm.mime) &&
                 imap_search_match (cmd->search, &sm, (uint32_t)s->count, imap_view_max_uid (s));
    imap_mime_destroy (&sm.mime);
    return match;
}

/* RFC 4731 / RFC 9051 7.3.4: "* ESEARCH (TAG "a") UID MIN 1 MAX 9 COUNT 3 ALL 1,4,9" */
static void
s_esearch (imap_session_t *s, const imap_command_t *cmd, const uint32_t *hits, size_t n, buffer_t *out)
{
    unsigned ret = cmd->search_return ? cmd->search_return : 4;
    buffer_appendf (out, "* ESEARCH (TAG \"%s\")%s", cmd->tag, cmd->uid ? " UID" : "");
    if ((ret & 1) && n)
        buffer_appendf (out, " MIN %u", hits[0]);
    if ((ret & 2) && n)
        buffer_appendf (out, " MAX %u", hits[n - 1]);
    if (ret & 8)
        buffer_appendf (out, " COUNT %zu", n);
    if ((ret & 4) && n) {
        buffer_appendf (out, " ALL ");
        s_set_append (out, hits, n);
    }
    buffer_appendf (out, "\r\n");
    (void)s;
}

void
imap_cmd_search (imap_session_t *s, imap_command_t *cmd)
{
    bool needs = imap_search_needs_message (cmd->search);
    uint32_t *hits = malloc ((s->count + 1) * sizeof *hits);
    size_t n = 0;
    for (size_t i = 0; hits && i < s->count && !s->broker_dead; i++)
        if (!s->msgs[i].expunged && s_search_one (s, cmd, i, needs))
            hits[n++] = cmd->uid ? s->msgs[i].uid : (uint32_t)i + 1;
    if (!hits || s->broker_dead) {
        free (hits);
        if (!s->broker_dead)
            imap_no_memory (s, cmd, "search");
        return;
    }
    buffer_t out = BUFFER_INIT (0);
    if (cmd->search_return_all || cmd->search_return || (s->flags & IMAP_SF_REV2))
        s_esearch (s, cmd, hits, n, &out);
    else {
        buffer_appendf (&out, "* SEARCH");
        for (size_t i = 0; i < n; i++)
            buffer_appendf (&out, " %u", hits[i]);
        buffer_appendf (&out, "\r\n");
    }
    free (hits);
    imap_flush (s, &out);
    imap_ok (s, cmd, "%s completed", cmd->verb);
}

/* ------------------------------------------------------------------ COPY / MOVE */

/* COPY or MOVE of uids in batches; the pairs "old TAB new" into from/to. The broker's code. */
static int
s_copy_batches (imap_session_t *s, const char *verb, const char *target, const uint32_t *uids, size_t n,
                uint32_t *from, uint32_t *to, size_t *pairs, zmsg_t **last)
{
    int code = 250;
    *pairs = 0;
    for (size_t done = 0; done < n && reply_is_success (code); done += BATCH) {
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, target);
        for (size_t i = done; i < n && i < done + BATCH; i++)
            zmsg_addstrf (args, "%u", uids[i]);
        zmsg_destroy (last);
        *last = imap_call (s, verb, args, &code);
        size_t rows = *last && reply_is_success (code) ? zmsg_size (*last) - 1 : 0;
        for (size_t r = 1; r <= rows; r++) {
            char *row = imap_reply_row (*last, r);
            if (row && sscanf (row, "%u\t%u", &from[*pairs], &to[*pairs]) == 2)
                (*pairs)++;
            free (row);
        }
    }
    return code;
}

void
imap_cmd_copy (imap_session_t *s, imap_command_t *cmd)
{
    if (!s_valid_set (s, cmd))
        return;
    const char *target = imap_folder_name (&cmd->str[0]);
    bool move = cmd->id == IMAP_MOVE;
    size_t n = 0, pairs = 0;
    uint32_t *uids = s_uids (s, cmd, &n);
    uint32_t *from = calloc (n + 1, sizeof *from), *to = calloc (n + 1, sizeof *to);
    if (!uids || !from || !to) {
        free (uids);
        free (from);
        free (to);
        imap_no_memory (s, cmd, move ? "move" : "copy");
        return;
    }
    zmsg_t *last = NULL;
    int code = s_copy_batches (s, move ? "MOVE" : "COPY", target, uids, n, from, to, &pairs, &last);
    char text[256] = "";
    proto_reply_status (last, &code, text, sizeof text);
    zmsg_destroy (&last);
    uint32_t uidvalidity = 0;
    buffer_t code_text = BUFFER_INIT (0);
    if (reply_is_success (code) && pairs && imap_folder_uidvalidity (s, target, &uidvalidity) == 0) {
        buffer_appendf (&code_text, "[COPYUID %u ", uidvalidity);
        s_set_append (&code_text, from, pairs);
        buffer_appendf (&code_text, " ");
        s_set_append (&code_text, to, pairs);
        buffer_appendf (&code_text, "] ");
    }
    for (size_t i = 0; move && i < pairs; i++) {
        uint32_t seq = imap_view_seq (s, from[i]);
        if (seq)
            s->msgs[seq - 1].expunged = true;
    }
    free (uids);
    free (from);
    free (to);
    if (code == 550)
        imap_no (s, cmd, "[TRYCREATE] no such folder");
    else if (!reply_is_success (code))
        imap_no_broker (s, cmd, code, code ? text : "no answer");
    else if (move) {
        /* RFC 6851 4.3: COPYUID comes untagged, before the EXPUNGEs */
        conn_printf (s->conn, "* OK %s moved\r\n", code_text.size ? code_text.data : "");
        imap_ok (s, cmd, "MOVE completed");
    }
    else
        imap_ok (s, cmd, "%sCOPY completed", code_text.size ? code_text.data : "");
    buffer_free (&code_text);
}

/* ------------------------------------------------------------------ EXPUNGE */

void
imap_cmd_expunge (imap_session_t *s, imap_command_t *cmd)
{
    if (cmd->uid && !s_valid_set (s, cmd))
        return;
    size_t n = 0;
    uint32_t *uids = cmd->uid ? s_uids (s, cmd, &n) : NULL;
    int code = 250;
    for (size_t done = 0; reply_is_success (code) && (done == 0 || done < n); done += BATCH) {
        if (cmd->uid && n == 0)
            break;
        zmsg_t *args = zmsg_new ();
        zmsg_addstr (args, s->folder);
        for (size_t i = done; i < n && i < done + BATCH; i++)
            zmsg_addstrf (args, "%u", uids[i]);
        zmsg_t *reply = imap_call (s, "EXPUNGE", args, &code);
        size_t rows = reply && reply_is_success (code) ? zmsg_size (reply) - 1 : 0;
        for (size_t r = 1; r <= rows; r++) {
            char *row = imap_reply_row (reply, r);
            uint32_t seq = row ? imap_view_seq (s, (uint32_t)strtoul (row, NULL, 10)) : 0;
            if (seq)
                s->msgs[seq - 1].expunged = true;
            free (row);
        }
        zmsg_destroy (&reply);
    }
    free (uids);
    if (reply_is_success (code))
        imap_ok (s, cmd, "%s completed", cmd->verb);
    else if (!s->broker_dead)
        imap_no_broker (s, cmd, code, "cannot expunge");
}

/* ------------------------------------------------------------------ APPEND */

void
imap_cmd_append (imap_session_t *s, imap_command_t *cmd)
{
    const char *folder = imap_folder_name (&cmd->str[0]);
    char letters[6];
    imap_flags_to_letters (cmd->flags, letters);
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, folder);
    zmsg_addstr (args, letters);
    zmsg_addstrf (args, "%lld", (long long)(cmd->append_date >= 0 ? cmd->append_date : (int64_t)time (NULL)));
    zmsg_addmem (args, cmd->append_message.data, cmd->append_message.len);
    int code = 0;
    zmsg_t *reply = imap_call (s, "APPEND", args, &code);
    char line[256] = "";
    unsigned uid = 0;
    if (reply)
        proto_reply_status (reply, &code, line, sizeof line);
    zmsg_destroy (&reply);
    const char *appended = strstr (line, "appended ");
    if (appended)
        uid = (unsigned)strtoul (appended + 9, NULL, 10);
    uint32_t uidvalidity = 0;
    char quoted[2 * IMAP_MAX_MAILBOX_NAME + 8];
    log_info ("imap", "append", "session=%llu folder=%s octets=%zu code=%d", s->number,
              log_quote (quoted, sizeof quoted, folder, strlen (folder)), cmd->append_message.len, code);
    /* RFC 9051 6.3.12: a folder that does not exist is [TRYCREATE] */
    if (code == 550)
        imap_no (s, cmd, "[TRYCREATE] no such folder");
    else if (!reply_is_success (code))
        imap_no_broker (s, cmd, code, *line ? line : "cannot append");
    else if (uid && imap_folder_uidvalidity (s, folder, &uidvalidity) == 0)
        imap_ok (s, cmd, "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
    else
        imap_ok (s, cmd, "APPEND completed");
}
