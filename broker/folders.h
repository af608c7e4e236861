/*  folders.h — the broker's folder and flag verbs, for IMAP (docs/PROTOCOL.md "Folders and
    flags"): FOLDERS, FOLDER, SCAN, FLAG, COPY, MOVE, APPEND, EXPUNGE. server.c owns the
    sessions, the batch and the pushes; it hands each verb a folder_call_t and gets the reply. */
#ifndef MAILBUS_FOLDERS_H
#define MAILBUS_FOLDERS_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "reply.h"
#include "store.h"

/* FLAG, COPY, MOVE, EXPUNGE and the batched DELE, ACK and RETR name at most this many messages */
#define FOLDER_MAX_IDS 1000

/* What a verb changed, for the watchers of the mailbox (WATCH ... changes) */
typedef enum { FOLDER_PUSH_NEW, FOLDER_PUSH_ADDED, FOLDER_PUSH_GONE, FOLDER_PUSH_FLAGS } folder_push_kind_t;
typedef struct {
    folder_push_kind_t kind;
    int64_t folder; /* 0: the INBOX */
    int64_t id;
    unsigned flags;               /* FLAGS */
    int64_t size;                 /* NEW */
    const char *sender, *subject; /* NEW */
} folder_push_t;

typedef struct {
    store_t *store;
    const proto_request_t *req;
    int64_t mailbox_id;
    const char *address;
    size_t max_message_bytes;
    bool *mutating; /* set when the verb writes (the batch's commit decides its reply) */
    void *ctx;      /* the server's, for the callbacks */
    /* a refusal, logged (REPLY_STORE_TROUBLE rolls the batch back) */
    zmsg_t *(*refuse) (void *ctx, reply_id_t reply, const char *text);
    /* publishing refused for want of space: the refusal, else NULL */
    zmsg_t *(*space) (void *ctx);
    /* a message's content refused: why, else NULL */
    const char *(*content) (const uint8_t *data, size_t size, size_t *hlen);
    /* octets stored (the disk's estimate) */
    void (*written) (void *ctx, int64_t bytes);
    void (*push) (void *ctx, const folder_push_t *push);
} folder_call_t;

/* A folder name as the verbs take it (1..STORE_FOLDER_NAME_MAX octets of UTF-8, "/" between
   non-empty levels, no control octets, no "*" or "%", not INBOX in any case): NULL, or why not */
const char *folder_name_check (const char *name, size_t size);

/* The message ids in req's arguments first..end-1 (each a number, or several separated by
   spaces), at most FOLDER_MAX_IDS, in ascending order without repeats: NULL, or why not.
   The folder verbs and the batched DELE, ACK and RETR (server.c) take ids this way. */
const char *folder_ids_parse (const proto_request_t *req, size_t first, size_t end, int64_t *ids,
                              size_t *count);

zmsg_t *folder_verb_folders (folder_call_t *call);
zmsg_t *folder_verb_folder (folder_call_t *call);
zmsg_t *folder_verb_scan (folder_call_t *call);
zmsg_t *folder_verb_flag (folder_call_t *call);
zmsg_t *folder_verb_copy (folder_call_t *call);
zmsg_t *folder_verb_move (folder_call_t *call);
zmsg_t *folder_verb_append (folder_call_t *call);
zmsg_t *folder_verb_expunge (folder_call_t *call);

#endif
