/*  reply.h — the reply codes of the broker protocol and the gateway, in one table.
    Each reply is a 3-digit code (RFC 5321 4.2), an enhanced status code (RFC 3463)
    and a default text; every answer mailbus gives carries both codes. */
#ifndef MAILBUS_REPLY_H
#define MAILBUS_REPLY_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    REPLY_OK = 0,            /* 250 2.0.0 OK */
    REPLY_HELLO,             /* 250 2.0.0 hello */
    REPLY_QUEUED,            /* 250 2.0.0 queued */
    REPLY_DELETED,           /* 250 2.0.0 deleted */
    REPLY_ADDRESS_OK,        /* 250 2.1.5 destination address valid */
    REPLY_CANNOT_VRFY,       /* 252 2.1.5 cannot verify, will attempt delivery */
    REPLY_BYE,               /* 221 2.0.0 bye */
    REPLY_SHUTTING_DOWN,     /* 421 4.3.2 service shutting down */
    REPLY_TRY_LATER,         /* 421 4.7.0 too busy or session ended: try again later */
    REPLY_TEMP_UNAVAILABLE,  /* 451 4.3.0 temporary failure, try again */
    REPLY_STORE_TROUBLE,     /* 452 4.3.1 insufficient system storage */
    REPLY_TOO_MANY_RCPT,     /* 452 4.5.3 too many recipients */
    REPLY_SYNTAX,            /* 500 5.5.2 syntax error */
    REPLY_UNKNOWN_VERB,      /* 500 5.5.1 command unrecognised */
    REPLY_BAD_ARGS,          /* 501 5.5.4 invalid arguments */
    REPLY_BAD_VERSION,       /* 501 5.5.4 unsupported protocol version */
    REPLY_BAD_SENDER_SYNTAX, /* 501 5.1.7 bad sender address syntax */
    REPLY_BAD_RCPT_SYNTAX,   /* 501 5.1.3 bad destination address syntax */
    REPLY_NOT_IMPLEMENTED,   /* 502 5.5.1 command not implemented */
    REPLY_BAD_SEQUENCE,      /* 503 5.5.1 bad sequence of commands */
    REPLY_AUTH_REQUIRED,     /* 530 5.7.0 authentication required */
    REPLY_AUTH_FAILED,       /* 535 5.7.8 authentication credentials invalid */
    REPLY_NO_MAILBOX,        /* 550 5.1.1 no such mailbox */
    REPLY_NO_MESSAGE,        /* 550 5.2.0 no such message */
    REPLY_BAD_CONTENT,       /* 550 5.6.0 message content refused */
    REPLY_NOT_YOURS,         /* 550 5.7.1 not your mailbox */
    REPLY_MAILBOX_EXISTS,    /* 550 5.1.0 mailbox exists */
    REPLY_QUOTA,             /* 552 5.2.2 mailbox full */
    REPLY_TOO_BIG,           /* 552 5.3.4 message too big */
    REPLY_SENDER_DENIED,     /* 553 5.7.1 sender not allowed */
    REPLY_LIST_DENIED,       /* 550 5.7.2 mailing list expansion prohibited */
    REPLY_ALREADY,           /* 250 2.0.0 nothing to do */
    REPLY_NOT_SUBSCRIBED,    /* 550 5.2.0 not subscribed */
    REPLY_RELAY_DENIED,      /* 554 5.7.1 relay access denied */
    REPLY_EXPIRED,           /* 554 5.4.7 delivery time expired */
    REPLY_LOOP,              /* 554 5.4.6 routing loop detected */
    REPLY_FAILED,            /* 554 5.0.0 transaction failed */
    /* folders (IMAP, docs/PROTOCOL.md "Folders and flags") */
    REPLY_NO_FOLDER,        /* 550 5.1.1 no such folder */
    REPLY_FOLDER_EXISTS,    /* 550 5.1.1 folder exists */
    REPLY_TOO_MANY_FOLDERS, /* 452 4.2.2 too many folders */
    REPLY_REPLY_TOO_BIG,    /* 452 4.3.1 reply too big (a batched RETR): name fewer messages */
    REPLY__COUNT
} reply_id_t;

/* RFC 3463 2: class.subject.detail, at most 1 + 1 + 3 + 1 + 3 octets */
#define REPLY_ENHANCED_SIZE 10

/* A reply as a value: what the table holds, and what one module hands another (the broker's
   answer to a login, to a SEND) instead of a status line each parses back its own way */
typedef struct {
    int code;                               /* 3-digit reply code */
    char enhanced[REPLY_ENHANCED_SIZE + 2]; /* RFC 3463 class.subject.detail */
    const char *text;                       /* human text: the table's, or the line's */
} reply_t;

/* The reply for an id; never NULL */
const reply_t *reply_get (reply_id_t id);

/* Formats "CODE ENH text" into buf; text NULL uses the default text. Returns length. */
size_t reply_format (char *buf, size_t size, reply_id_t id, const char *text);

/* Parses a status line "250 2.0.0 text": fills code and points *text at the text
   (after the enhanced code). Returns 0, or -1 when the line is not a status line. */
int reply_parse (const char *line, int *code, const char **text);

/* The reply a status line "550 5.1.1 text" holds: 0, or -1 (and *self zeroed) when the line
   is not one (reply_parse). self->text points into line, which must outlive it. */
int reply_from_line (reply_t *self, const char *line);

/* 2xx is success, 4xx transient, 5xx permanent (RFC 5321 4.2.1) */
static inline bool
reply_is_success (int code)
{
    return code >= 200 && code < 300;
}
static inline bool
reply_is_transient (int code)
{
    return code >= 400 && code < 500;
}
static inline bool
reply_is_permanent (int code)
{
    return code >= 500 && code < 600;
}

#endif
