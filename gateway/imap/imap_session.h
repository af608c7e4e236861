/*  imap_session.h — one IMAP session, shared by the files of the IMAP server (not a public
    header): imap_server.c (the loop, the command table, logging in), imap_folder.c (folders
    and the selected folder's view), imap_message.c (FETCH STORE SEARCH COPY MOVE EXPUNGE
    APPEND) and imap_idle.c (IDLE and the broker's pushes). */
#ifndef MAILBUS_IMAP_SESSION_H
#define MAILBUS_IMAP_SESSION_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "buffer.h"
#include "client.h"
#include "conn.h"
#include "gateway.h"
#include "imap_parse.h"
#include "imap_server.h"
#include "mb_limits.h"

/* One message of the selected folder: sequence number n is msgs[n - 1] */
typedef struct {
    uint32_t uid;     /* the broker's delivery id */
    uint64_t size;    /* RFC822.SIZE: exact, the broker keeps CRLF */
    unsigned flags;   /* IMAP_SEEN ... */
    int64_t date;     /* INTERNALDATE: unix time of delivery */
    bool expunged;    /* GONE seen, the untagged EXPUNGE not sent yet */
    bool flags_dirty; /* FLAGS seen, the untagged FETCH not sent yet */
} imap_msg_t;

/* A message body fetched with RETR, kept for the next items of the same FETCH */
typedef struct {
    uint32_t uid;
    zmsg_t *reply; /* owns the body frame */
    const char *data;
    size_t size;
} imap_body_t;

#define IMAP_BODY_CACHE 4

typedef struct {
    conn_t *conn;
    const gateway_config_t *config;
    unsigned long long number;
    imap_state_t state;
    unsigned flags; /* IMAP_SF_* */
    char mailbox[MAX_ADDRESS + 1];
    client_t *client;
    /* the selected folder */
    char folder[IMAP_MAX_MAILBOX_NAME + 1];
    bool readonly; /* EXAMINE */
    uint32_t uidvalidity, uidnext;
    imap_msg_t *msgs;
    size_t count, cap;
    /* the broker's pushes (WATCH changes), kept until the next sync point */
    zlist_t *pushes;
    bool watching;
    bool resync;       /* pushes were missed: compare the whole folder with SCAN */
    int credit_owed;   /* pushes handled, not yet given back with CREDIT */
    int64_t last_call; /* zclock_mono of the last request: the broker drops a silent watcher */
    bool broker_dead;
    imap_body_t bodies[IMAP_BODY_CACHE];
    int next_body;
    bool allow_expunges; /* this command may be followed by untagged EXPUNGE (RFC 9051 7.5.1) */
    int bad;
    bool quit;
} imap_session_t;

/* Session flags */
#define IMAP_SF_SECURE 0x01
#define IMAP_SF_CAN_TLS 0x02
#define IMAP_SF_PLAINTEXT_OK 0x04
#define IMAP_SF_REV2 0x08 /* ENABLE IMAP4rev2 */
#define IMAP_SF_UTF8 0x10 /* ENABLE UTF8=ACCEPT */
#define IMAP_MAY_LOGIN(flags) (((flags) & (IMAP_SF_SECURE | IMAP_SF_PLAINTEXT_OK)) != 0)

/* --------------------------------------------------------------- replies (imap_server.c) */

/* "tag OK text" / "tag NO ..." / "tag BAD ...": NO and BAD are logged and counted; OK and NO
   come after the untagged responses of what changed in the selected folder */
void imap_tagged (imap_session_t *s, const imap_command_t *cmd, const char *status, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));
#define imap_ok(s, cmd, ...) imap_tagged ((s), (cmd), "OK", __VA_ARGS__)
#define imap_no(s, cmd, ...) imap_tagged ((s), (cmd), "NO", __VA_ARGS__)
#define imap_bad(s, cmd, ...) imap_tagged ((s), (cmd), "BAD", __VA_ARGS__)
/* Writes out (when not empty) and frees it; 0 or -1 */
int imap_flush (imap_session_t *s, buffer_t *out);
/* The autologout timer in ms */
int imap_timeout_ms (const imap_session_t *s);

/* --------------------------------------------------------------- the broker (imap_folder.c) */

/* One request; the reply without its id (status line, data frames), NULL when the broker did
   not answer (then s->broker_dead). Pushes that arrive meanwhile are kept in s->pushes.
   *code gets the reply code. args are taken. */
zmsg_t *imap_call (imap_session_t *s, const char *verb, zmsg_t *args, int *code);
/* The same, waiting at most IMAP_HEARTBEAT_MS (the heartbeat: a dead broker is noticed soon) */
zmsg_t *imap_call_quick (imap_session_t *s, const char *verb, zmsg_t *args, int *code);
/* Takes what the broker sent meanwhile without waiting: pushes are kept (dropped when no
   folder is selected), late replies dropped */
void imap_drain (imap_session_t *s);
/* The data frame i (1-based) of a reply as a string (caller frees), NULL past the end */
char *imap_reply_row (zmsg_t *reply, size_t i);
/* The broker's name of a folder: "INBOX" for any case of it */
const char *imap_folder_name (const imap_string_t *name);
/* The UIDVALIDITY of a folder (FOLDERS name); 0 or -1 */
int imap_folder_uidvalidity (imap_session_t *s, const char *name, uint32_t *uidvalidity);
/* Refusal for a broker reply code that is not success: NO with the right response code */
void imap_no_broker (imap_session_t *s, const imap_command_t *cmd, int code, const char *what);

/* Short of memory for a command: logged, and NO [UNAVAILABLE] (RFC 5530: try again later) */
void imap_no_memory (imap_session_t *s, const imap_command_t *cmd, const char *where);

/* --------------------------------------------------------------- the view (imap_folder.c) */

/* Loads the folder's messages with SCAN (paged); 0 or -1 */
int imap_view_load (imap_session_t *s);
void imap_view_clear (imap_session_t *s);
/* Applies the pushes received so far and sends the untagged EXPUNGE / EXISTS / FETCH FLAGS
   (not during FETCH, STORE, SEARCH: RFC 9051 7.5.1; the caller decides when); 0 or -1 */
int imap_view_sync (imap_session_t *s, bool expunges);
/* Sequence number of uid (1-based), 0 when not in the view */
uint32_t imap_view_seq (const imap_session_t *s, uint32_t uid);
uint32_t imap_view_max_uid (const imap_session_t *s);

/* --------------------------------------------------------------- commands */

void imap_cmd_list (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_folder (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_status (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_select (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_close (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_fetch (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_store (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_search (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_copy (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_expunge (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_append (imap_session_t *s, imap_command_t *cmd);
void imap_cmd_idle (imap_session_t *s, imap_command_t *cmd);
/* Between commands: keeps the watcher alive (CREDIT / NOOP every few seconds) */
void imap_heartbeat (imap_session_t *s);
/* Frees the cached bodies */
void imap_bodies_clear (imap_session_t *s);

#endif
