/*  fetch.h — POP3 fetch: an actor that polls a remote POP3 mailbox with libcurl and publishes
    each message into a local mailbox. A remote message is deleted (or, with keep, remembered
    as done by its UIDL) only after the broker durably acknowledged it; a crash in between
    publishes it again, and the broker's Message-ID dedupe makes that harmless. */
#ifndef MAILBUS_FETCH_H
#define MAILBUS_FETCH_H

#include <czmq.h>
#include <stdbool.h>

typedef struct {
    const char *broker;       /* broker endpoint */
    const char *gateway_user; /* the gateway identity (role gateway) */
    const char *gateway_password;
    const char *url;  /* pop3://host:port or pop3s://host:port */
    const char *user; /* remote POP3 user and password */
    const char *password;
    const char *mailbox;    /* local mailbox the messages go to */
    bool starttls;          /* STLS required (pop3:// only) */
    const char *ca_file;    /* NULL: the system's CAs */
    bool insecure;          /* do not verify the server's certificate (tests only) */
    bool keep;              /* leave messages on the server, remember their UIDLs */
    const char *state_file; /* where the UIDLs of fetched messages are kept (keep mode) */
    int interval_ms;
    size_t max_message_bytes; /* a larger message stays on the server (0: MAX_MESSAGE_BYTES) */
} fetch_config_t;

/* Parses a --fetch value: "URL USER PASSWORD MAILBOX", or "URL USER MAILBOX" when password
   is not NULL (it came from --fetch-password-file). The strings point into a copy the caller
   frees with free (*copy), and into password. Returns 0 or -1 with a static reason. */
int fetch_parse (const char *spec, const char *password, fetch_config_t *config, char **copy,
                 const char **why);

/* A copy of a --fetch value from argv (caller zeroes and frees it with argv_secret_free);
   in argv itself the PASSWORD word of a four-word value becomes "*", so that ps and
   /proc/PID/cmdline no longer show it */
char *fetch_take_spec (char *arg);

/* Reads the POP3 password from the first line of path, a file only its owner may read or
   write (as fetchmail wants of its .fetchmailrc). Returns 0 and *password (caller zeroes
   and frees), or -1 with *error (caller frees; NULL when out of memory), which never holds the password. */
int fetch_read_password (const char *path, char **password, char **error);

/* One line of a remote server's UIDL listing (RFC 1939 7: "msg-number unique-id", the number
   digits, the id 1 to 70 octets 0x21-0x7E), copied into number and uidl (NUL-terminated).
   0, or -1 for anything else: such a message is not fetched (its number would go into a URL
   and a command, its id into the state file). */
#define FETCH_NUMBER_SIZE 16
#define FETCH_UIDL_SIZE 71
int fetch_uidl_line (const char *line, char number[FETCH_NUMBER_SIZE], char uidl[FETCH_UIDL_SIZE]);

/* Starts the poller (the config must outlive it). Send "FLUSH" to poll at once. */
zactor_t *fetch_actor_new (const fetch_config_t *config);

/* One poll, synchronously: returns how many messages were published, or -1. For tests. */
int fetch_poll_once (const fetch_config_t *config);

#endif
