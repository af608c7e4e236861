/*  route.h — where a recipient's copy goes: a local mailbox, or every subscriber of a list
    topic (lists may hold lists: expanded depth first, each mailbox reached once, loops
    refused with 554 5.4.6), filtered per subscription by a header glob. The MTA's routing
    table, for the broker's own domains. */
#ifndef MAILBUS_ROUTE_H
#define MAILBUS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "reply.h"
#include "store.h"

/* A lists-inside-lists chain deeper than this is refused as a loop (RFC 5321 6.3 spirit) */
#define ROUTE_MAX_DEPTH 8

typedef struct {
    int64_t mailbox_id;
    char address[MAX_ADDRESS + 1];
    int64_t room; /* quota bytes left */
} route_target_t;

/* The mailboxes one SEND reaches so far; a mailbox is in it at most once */
typedef struct {
    route_target_t *items;
    size_t count, max;
} route_targets_t;

typedef struct {
    reply_id_t reply; /* REPLY_QUEUED when the recipient was resolved */
    char text[320];   /* reason, for a refusal */
    bool is_list;
    size_t added; /* mailboxes this recipient added to the targets */
} route_result_t;

/* Resolves rcpt (a local address) for a message from sender. New mailboxes go into targets.
   msg/len are the message, for subscription filters. Returns 0, or -1 on store trouble. */
int route_resolve (store_t *store, const address_t *rcpt, const char *sender, const char *msg, size_t len,
                   route_targets_t *targets, route_result_t *result);

void route_targets_reset (route_targets_t *targets, size_t count);
void route_targets_free (route_targets_t *targets);

/* Checks a subscription filter "header:GLOB" (fnmatch glob, header name of letters, digits
   and '-'). Returns NULL when valid, else a static reason. */
const char *route_filter_check (const char *filter);

/* True when msg matches filter (an empty filter matches everything) */
bool route_filter_match (const char *filter, const char *msg, size_t len);

#endif
