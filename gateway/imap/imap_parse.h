/*  imap_parse.h — the IMAP wire format (RFC 9051 IMAP4rev2, with what clients still send from
    RFC 3501 IMAP4rev1): reading a command that may carry literals, parsing it into a command
    structure, and writing strings, flags and dates back. Touches no socket: the server
    (imap_server.c) reads lines and literal octets from its conn and hands the whole command
    here; the unit tests and fuzz_imap call it directly. */
#ifndef MAILBUS_IMAP_PARSE_H
#define MAILBUS_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer.h"

/* ------------------------------------------------------------------ limits */

/* RFC 9051 4 leaves line length to the server but RFC 7162 4 asks servers to take command
   lines of at least 8192 octets (long UID sets): one line of a command, CRLF included */
#define IMAP_MAX_LINE 8192
/* Our choice: a literal other than APPEND's message (a password, a search string, a mailbox
   name) is at most this long; a larger one gets "BAD [LIMIT]" before its octets are read */
#define IMAP_MAX_LITERAL 65536
/* Our choice: a whole command (lines and literals, APPEND's message excepted) */
#define IMAP_MAX_COMMAND (256 * 1024)
/* Our choice: a tag is at most 64 octets (RFC 9051 9: tag = 1*<any ASTRING-CHAR except "+">) */
#define IMAP_MAX_TAG 64
/* Our choice: parentheses nest at most this deep (SEARCH, BODYSTRUCTURE-like lists) */
#define IMAP_MAX_DEPTH 32
/* Our choice: a section part number path 1.2.3... at most this deep */
#define IMAP_MAX_PART_DEPTH 16
/* Our choice: HEADER.FIELDS names at most this many */
#define IMAP_MAX_FIELDS 64
/* A mailbox (folder) name: at most this many octets, UTF-8 (RFC 9051 5.1) */
#define IMAP_MAX_MAILBOX_NAME 200

/* ------------------------------------------------------------------ literals */

/* Whether line[0..len) (CRLF included) ends in a literal announcement "{n}" or "{n+}" (RFC 9051
   4.3, RFC 7888 LITERAL+ / LITERAL-): returns 1 and sets *size and *nonsync, 0 when it does not,
   -1 when it does but n is not a number of at most 20 digits */
int imap_literal_at_end (const char *line, size_t len, uint64_t *size, bool *nonsync);

/* ------------------------------------------------------------------ flags */

/* System flags (RFC 9051 2.3.2). The broker stores them as Maildir info letters (docs/PROTOCOL.md
   "Folders"): D \Draft, F \Flagged, R \Answered, S \Seen, T \Deleted. */
#define IMAP_SEEN 0x01u
#define IMAP_ANSWERED 0x02u
#define IMAP_FLAGGED 0x04u
#define IMAP_DELETED 0x08u
#define IMAP_DRAFT 0x10u
#define IMAP_ALL_FLAGS 0x1fu

/* "DFRST" order; out has room for 6 octets */
void imap_flags_to_letters (unsigned flags, char out[6]);
/* Letters as the broker sends them (any order; unknown letters ignored) */
unsigned imap_flags_from_letters (const char *letters);
/* Appends "(\Seen \Flagged)" (the flag list as FETCH FLAGS shows it) to out: 0 or -1 */
int imap_flags_append (buffer_t *out, unsigned flags);

/* ------------------------------------------------------------------ sequence sets */

/* RFC 9051 9 sequence-set: "1:4,7,9:*". A range's ends are as written; 0 stands for "*". */
typedef struct {
    uint32_t lo, hi;
} imap_range_t;

typedef struct {
    imap_range_t *ranges; /* in the command's arena */
    size_t count;
    bool saved; /* "$" (RFC 9051 6.4.4.1 SEARCH RES): refused by the server for now */
} imap_seqset_t;

/* Whether n is in set, "*" meaning max (the highest sequence number or UID; when the mailbox is
   empty max is 0 and "*" matches nothing) */
bool imap_seqset_contains (const imap_seqset_t *set, uint32_t n, uint32_t max);

/* ------------------------------------------------------------------ FETCH */

/* Section of BODY[...] / BINARY[...] (RFC 9051 6.4.5) */
typedef enum {
    IMAP_SECTION_ALL = 0,    /* BODY[] or BODY[1.2] */
    IMAP_SECTION_HEADER,     /* [HEADER], [1.HEADER] (a message/rfc822 part) */
    IMAP_SECTION_FIELDS,     /* [HEADER.FIELDS (A B)] */
    IMAP_SECTION_FIELDS_NOT, /* [HEADER.FIELDS.NOT (A B)] */
    IMAP_SECTION_TEXT,       /* [TEXT] */
    IMAP_SECTION_MIME,       /* [1.MIME] (needs a part) */
} imap_section_kind_t;

typedef struct {
    bool binary;    /* BINARY[...] (RFC 9051 6.4.5: content transfer decoding) */
    bool peek;      /* .PEEK: does not set \Seen */
    bool size_only; /* BINARY.SIZE[...] */
    uint32_t part[IMAP_MAX_PART_DEPTH];
    int depth; /* 0: the whole message */
    imap_section_kind_t kind;
    const char *fields[IMAP_MAX_FIELDS]; /* NUL-terminated, in the command's arena */
    int nfields;
    bool partial; /* <offset.count> given (the response names only <offset>) */
    uint32_t offset, count;
    /* The name the response carries, as RFC 9051 7.5.2 wants it: "BODY[HEADER.FIELDS (FROM TO)]",
       "BODY[]<0>", "BINARY[1]"; in the arena */
    const char *name;
} imap_section_t;

/* FETCH items other than sections (macros ALL, FAST, FULL are expanded into these) */
#define IMAP_FETCH_FLAGS 0x001u
#define IMAP_FETCH_UID 0x002u
#define IMAP_FETCH_SIZE 0x004u /* RFC822.SIZE */
#define IMAP_FETCH_INTERNALDATE 0x008u
#define IMAP_FETCH_ENVELOPE 0x010u
#define IMAP_FETCH_BODYSTRUCTURE 0x020u
#define IMAP_FETCH_BODY 0x040u          /* BODY without section: the non-extensible structure */
#define IMAP_FETCH_RFC822 0x080u        /* RFC822 == BODY[] but named RFC822, sets \Seen */
#define IMAP_FETCH_RFC822_HEADER 0x100u /* == BODY.PEEK[HEADER], named RFC822.HEADER */
#define IMAP_FETCH_RFC822_TEXT 0x200u   /* == BODY[TEXT], named RFC822.TEXT, sets \Seen */

#define IMAP_MAX_SECTIONS 32

typedef struct {
    unsigned items; /* IMAP_FETCH_* */
    imap_section_t sections[IMAP_MAX_SECTIONS];
    int nsections;
} imap_fetch_t;

/* ------------------------------------------------------------------ SEARCH */

typedef enum {
    IMAP_SK_ALL,
    IMAP_SK_FLAG,   /* ANSWERED DELETED DRAFT FLAGGED SEEN: flag set (in .flag) */
    IMAP_SK_NOFLAG, /* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN: flag clear */
    IMAP_SK_HEADER, /* FROM TO CC BCC SUBJECT (field name in .field) and HEADER field string */
    IMAP_SK_BODY,   /* BODY string */
    IMAP_SK_TEXT,   /* TEXT string */
    IMAP_SK_BEFORE, /* INTERNALDATE, by day (.day: days since 1970-01-01) */
    IMAP_SK_ON,
    IMAP_SK_SINCE,
    IMAP_SK_SENTBEFORE, /* the Date: header, by day */
    IMAP_SK_SENTON,
    IMAP_SK_SENTSINCE,
    IMAP_SK_LARGER, /* RFC822.SIZE (.number) */
    IMAP_SK_SMALLER,
    IMAP_SK_UID,       /* UID set (.set) */
    IMAP_SK_SEQ,       /* sequence set (.set) */
    IMAP_SK_KEYWORD,   /* KEYWORD x: we keep no keywords, so it matches nothing */
    IMAP_SK_UNKEYWORD, /* matches everything */
    IMAP_SK_NOT,       /* .a */
    IMAP_SK_OR,        /* .a, .b */
    IMAP_SK_AND,       /* .a is the first of a list linked by .next (a parenthesised list,
                          and the top level) */
} imap_search_kind_t;

typedef struct imap_search_t {
    imap_search_kind_t kind;
    unsigned flag;     /* IMAP_SEEN ... */
    const char *field; /* header name, NUL-terminated */
    const char *text;  /* the string to find (NUL-terminated; a literal with a NUL is refused) */
    int64_t day;       /* days since the epoch */
    uint64_t number;   /* octets */
    imap_seqset_t set;
    struct imap_search_t *a, *b, *next;
} imap_search_t;

/* ------------------------------------------------------------------ commands */

typedef enum {
    IMAP_CAPABILITY,
    IMAP_NOOP,
    IMAP_LOGOUT,
    IMAP_STARTTLS,
    IMAP_AUTHENTICATE,
    IMAP_LOGIN,
    IMAP_ENABLE,
    IMAP_ID,
    IMAP_SELECT,
    IMAP_EXAMINE,
    IMAP_CREATE,
    IMAP_DELETE,
    IMAP_RENAME,
    IMAP_SUBSCRIBE,
    IMAP_UNSUBSCRIBE,
    IMAP_LIST,
    IMAP_LSUB,
    IMAP_NAMESPACE,
    IMAP_STATUS,
    IMAP_APPEND,
    IMAP_IDLE,
    IMAP_CHECK,
    IMAP_CLOSE,
    IMAP_UNSELECT,
    IMAP_EXPUNGE,
    IMAP_SEARCH,
    IMAP_FETCH,
    IMAP_STORE,
    IMAP_COPY,
    IMAP_MOVE,
    IMAP_UNKNOWN,
} imap_cmd_id_t;

/* STATUS items (RFC 9051 6.3.11) */
#define IMAP_STATUS_MESSAGES 0x01u
#define IMAP_STATUS_UIDNEXT 0x02u
#define IMAP_STATUS_UIDVALIDITY 0x04u
#define IMAP_STATUS_UNSEEN 0x08u
#define IMAP_STATUS_DELETED 0x10u
#define IMAP_STATUS_SIZE 0x20u
#define IMAP_STATUS_RECENT 0x40u /* IMAP4rev1 only: always 0 here */

/* LIST selection options (RFC 5258 3.1, RFC 6154 5): list_select */
#define IMAP_LIST_SUBSCRIBED 0x01u
#define IMAP_LIST_REMOTE 0x02u
#define IMAP_LIST_RECURSIVEMATCH 0x04u
#define IMAP_LIST_SPECIAL_USE 0x08u
/* LIST return options (RFC 5258 3.2, RFC 6154 5, RFC 5819 LIST-STATUS): list_return; the items
   of RETURN (STATUS (...)) go to status */
#define IMAP_LIST_RET_SUBSCRIBED 0x01u
#define IMAP_LIST_RET_CHILDREN 0x02u
#define IMAP_LIST_RET_SPECIAL_USE 0x04u
#define IMAP_LIST_RET_STATUS 0x08u

typedef enum { IMAP_STORE_SET, IMAP_STORE_ADD, IMAP_STORE_REMOVE } imap_store_op_t;

/* A string argument (astring, string or literal), decoded: quoted escapes removed. NUL-terminated
   in the arena; len counts octets (a literal may hold a NUL: the command says where it is taken) */
typedef struct {
    const char *data;
    size_t len;
} imap_string_t;

typedef struct imap_arena_t imap_arena_t;

typedef struct {
    char tag[IMAP_MAX_TAG + 1];
    imap_cmd_id_t id;
    char verb[16]; /* as the client wrote it, upper-cased, for logs ("UID FETCH") */
    bool uid;      /* UID FETCH / STORE / COPY / MOVE / SEARCH / EXPUNGE */
    /* LOGIN user password; SELECT/EXAMINE/CREATE/DELETE/SUBSCRIBE/UNSUBSCRIBE/STATUS/APPEND
       mailbox in str[0]; RENAME old new, COPY/MOVE target in str[0]; LIST/LSUB reference and
       pattern; AUTHENTICATE mechanism and initial response (str[1].data NULL when absent) */
    imap_string_t str[2];
    imap_seqset_t set; /* FETCH STORE COPY MOVE, UID EXPUNGE */
    imap_fetch_t *fetch;
    imap_store_op_t store_op;
    bool store_silent;
    unsigned flags;               /* STORE's and APPEND's flag list (IMAP_SEEN ...) */
    unsigned flags_ignored;       /* flags named there that are not kept (keywords, \Recent, others):
                                     taken and ignored, as RFC 9051 7.1 allows */
    unsigned status;              /* STATUS items */
    imap_search_t *search;        /* SEARCH (charset: only US-ASCII or UTF-8 are taken) */
    bool search_return_all;       /* RETURN (...) was given: the response is ESEARCH (RFC 9051 6.4.4) */
    unsigned search_return;       /* bits: 1 MIN, 2 MAX, 4 ALL, 8 COUNT; "RETURN ()" is ALL (4) */
    int64_t append_date;          /* APPEND's date-time as unix time; -1 when absent */
    imap_string_t append_message; /* APPEND's literal (the server read it: see imap_server.c) */
    bool enable_utf8;             /* ENABLE names UTF8=ACCEPT; IMAP4REV2 is taken and ignored */
    bool enable_rev2;
    imap_arena_t *arena; /* everything the pointers above point into */
    /* LIST: selection options "LIST (SUBSCRIBED) ..." and return options "RETURN (...)"
       (IMAP_LIST_*); list_extended when either list was given (RFC 5258 extended syntax) */
    unsigned list_select, list_return;
    bool list_extended;
} imap_command_t;

/* Parses one whole command: text[0..len) with every CRLF and literal inside it, the last CRLF
   included (the server put the literal octets in place after each "{n}\r\n"). Returns 0, or -1
   with a static reason in *why for a tagged BAD (the tag is still copied when there was one:
   cmd->tag[0] is 0 otherwise, and the reply is "* BAD"). imap_command_free frees the arena;
   call it after either result. */
int imap_parse (const char *text, size_t len, imap_command_t *cmd, const char **why);
void imap_command_free (imap_command_t *cmd);

/* ------------------------------------------------------------------ writing */

/* Appends s as an IMAP string: a quoted string when it is short (< 1024 octets) and holds no
   CR, LF, NUL or 8-bit octets (8-bit is quoted when utf8 is set: UTF8=ACCEPT), else a literal
   "{n}\r\n" followed by the octets. NULL s is NIL. 0 or -1 (the bound of out). */
int imap_string_append (buffer_t *out, const char *s, size_t len, bool utf8);

/* RFC 9051 date-time "17-Jul-1996 02:44:25 +0000" (UTC) in out[32]; the quotes are not included */
void imap_date_time (int64_t unix_time, char out[32]);
/* Parses a date-time as APPEND takes it ("dd-Mon-yyyy hh:mm:ss +zzzz", day may be " 1"):
   unix time, or -1 */
int64_t imap_parse_date_time (const char *s, size_t len);

/* Whether a mailbox name matches a LIST pattern (RFC 9051 6.3.9: "*" matches anything, "%"
   anything but the hierarchy delimiter "/"); INBOX matched case-insensitively */
bool imap_list_match (const char *pattern, const char *name);

#endif
