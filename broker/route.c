/*  route.c — recipient resolution and list expansion. */
#include "route.h"

#include <assert.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "header.h"

const char *
route_filter_check (const char *filter)
{
    if (!filter || !*filter)
        return NULL;
    const char *colon = strchr (filter, ':');
    if (!colon || colon == filter)
        return "filter must be HEADER:GLOB, e.g. subject:*urgent*";
    for (const char *p = filter; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return "filter header name may hold letters, digits and '-' only";
    const char *glob = colon + 1;
    if (!*glob)
        return "filter glob is empty";
    if (strlen (filter) > 200)
        return "filter longer than 200 characters";
    /* fnmatch takes an unclosed '[' literally; a user who wrote one meant a class */
    bool in_class = false;
    for (const char *p = glob; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '[' && !in_class) {
            in_class = true;
            if (p[1] == ']' || (p[1] == '!' && p[2] == ']'))
                p += p[1] == '!' ? 2 : 1;
        }
        else if (*p == ']' && in_class)
            in_class = false;
        else if ((unsigned char)*p < 0x20)
            return "filter holds a control character";
    }
    return in_class ? "filter glob has an unclosed '['" : NULL;
}

bool
route_filter_match (const char *filter, const char *msg, size_t len)
{
    assert (msg || len == 0);
    if (!filter || !*filter)
        return true;
    const char *colon = strchr (filter, ':');
    if (!colon)
        return false;
    char name[64], value[1000];
    size_t n = (size_t)(colon - filter) < sizeof name - 1 ? (size_t)(colon - filter) : sizeof name - 1;
    memcpy (name, filter, n);
    name[n] = '\0';
    if (!header_find (msg, len, name, value, sizeof value))
        value[0] = '\0';
    return fnmatch (colon + 1, value, FNM_CASEFOLD) == 0;
}

void
route_targets_reset (route_targets_t *targets, size_t count)
{
    assert (targets);
    if (count < targets->count)
        targets->count = count;
}

void
route_targets_free (route_targets_t *targets)
{
    assert (targets);
    free (targets->items);
    memset (targets, 0, sizeof *targets);
}

/* Adds a mailbox unless it is there already; returns 1 added, 0 present */
static int
s_add_target (route_targets_t *targets, const store_mailbox_t *mailbox)
{
    assert (mailbox->id > 0);
    for (size_t i = 0; i < targets->count; i++)
        if (targets->items[i].mailbox_id == mailbox->id)
            return 0;
    if (targets->count == targets->max) {
        targets->max = targets->max ? targets->max * 2 : 16;
        targets->items = realloc (targets->items, targets->max * sizeof *targets->items);
    }
    route_target_t *t = &targets->items[targets->count++];
    t->mailbox_id = mailbox->id;
    snprintf (t->address, sizeof t->address, "%s", mailbox->address);
    t->room = mailbox->quota_bytes - mailbox->used_bytes;
    return 1;
}

typedef struct {
    store_t *store;
    const char *msg;
    size_t len;
    route_targets_t *targets;
    int64_t path[ROUTE_MAX_DEPTH];
    size_t depth;
    bool loop;
    char loop_at[MAX_ADDRESS + 32];
} expansion_t;

/* Depth-first expansion of one list; -1 on store trouble */
static int
s_expand (expansion_t *x, const store_topic_t *list)
{
    for (size_t i = 0; i < x->depth; i++)
        if (x->path[i] == list->id) {
            x->loop = true;
            snprintf (x->loop_at, sizeof x->loop_at, "%s", list->address);
            return 0;
        }
    if (x->depth == ROUTE_MAX_DEPTH) {
        x->loop = true;
        snprintf (x->loop_at, sizeof x->loop_at, "%s (lists nested too deep)", list->address);
        return 0;
    }
    x->path[x->depth++] = list->id;
    int64_t count = 0;
    store_member_t *members = store_topic_members (x->store, list->id, &count);
    if (count < 0)
        return -1;
    int rc = 0;
    for (int64_t i = 0; i < count && rc == 0 && !x->loop; i++) {
        if (!route_filter_match (members[i].filter, x->msg, x->len))
            continue;
        store_mailbox_t mailbox;
        store_topic_t inner;
        int found = store_mailbox_find (x->store, members[i].member, &mailbox);
        if (found > 0)
            s_add_target (x->targets, &mailbox);
        else if (found == 0 && (found = store_topic_find (x->store, members[i].member, &inner)) > 0)
            rc = s_expand (x, &inner);
        if (found < 0)
            rc = -1;
    }
    free (members);
    x->depth--;
    return rc;
}

int
route_resolve (store_t *store, const address_t *rcpt, const char *sender, const char *msg, size_t len,
               route_targets_t *targets, route_result_t *result)
{
    assert (store);
    assert (rcpt);
    assert (sender);
    assert (msg || len == 0);
    assert (targets);
    assert (result);
    memset (result, 0, sizeof *result);
    result->reply = REPLY_QUEUED;
    size_t before = targets->count;
    store_mailbox_t mailbox;
    int found = store_mailbox_find (store, rcpt->full, &mailbox);
    if (found < 0)
        return -1;
    if (found) {
        result->added = (size_t)s_add_target (targets, &mailbox);
        return 0;
    }
    store_topic_t list;
    found = store_topic_find (store, rcpt->full, &list);
    if (found < 0)
        return -1;
    if (!found) {
        result->reply = REPLY_NO_MAILBOX;
        snprintf (result->text, sizeof result->text, "no such mailbox");
        return 0;
    }
    result->is_list = true;
    if (list.members_post) {
        int member = store_is_member (store, list.id, sender);
        if (member < 0)
            return -1;
        if (!member) {
            result->reply = REPLY_LIST_DENIED;
            snprintf (result->text, sizeof result->text, "only members may post to this list");
            return 0;
        }
    }
    expansion_t x = {.store = store, .msg = msg, .len = len, .targets = targets};
    if (s_expand (&x, &list) != 0) {
        route_targets_reset (targets, before);
        return -1;
    }
    if (x.loop) {
        /* RFC 3463 5.4.6: a routing loop; nothing goes out for this recipient */
        route_targets_reset (targets, before);
        result->reply = REPLY_LOOP;
        snprintf (result->text, sizeof result->text, "list loop detected at %s", x.loop_at);
        return 0;
    }
    result->added = targets->count - before;
    return 0;
}
