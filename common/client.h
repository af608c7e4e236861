/*  client.h — the broker client: a DEALER connection that identifies as a mailbox
    (HELO), sends requests with request ids and waits for their replies. mailbus-pub,
    mailbus-sub, the gateway and the benchmark all talk to the broker through it. */
#ifndef MAILBUS_CLIENT_H
#define MAILBUS_CLIENT_H

#include <czmq.h>
#include <stdbool.h>

#define CLIENT_DEFAULT_ENDPOINT "tcp://127.0.0.1:5670"
#define CLIENT_DEFAULT_TIMEOUT_MS 10000

typedef struct client_t client_t;

/* The broker's public key (40 Z85 characters or a key file, as `mailbus-broker key` gives it)
   and this client's own key pair file (to log in without a password, with a key the broker
   knows for the mailbox), for every client_new after it; NULL leaves each to MAILBUS_SERVER_KEY
   and MAILBUS_KEY. A client uses CURVE when it has the broker's key; beyond loopback it must
   (it also looks for var/broker.key there), and never sends a password there in clear. */
void client_set_keys (const char *server_key, const char *key_file);

/* A CURVE public key given as 40 Z85 characters, or as a key file (zcert format, public or
   secret): the key in Z85 into key[41]. 0, or -1 with *why. */
int client_public_key (const char *text_or_file, char key[41], const char **why);

/* Makes a key pair for --key: path (public, to give the broker's administrator) and
   path_secret (0600). 0, or -1 with *error (caller frees). */
int client_keygen (const char *path, char **error);

/* Connects to endpoint and identifies as user with password. Returns NULL with a message
   in *error (caller frees), e.g. the broker's "535 5.7.8 ..." line or a timeout. A HELO
   answered 421 (the broker is checking too many passwords) is tried again after a pause
   (backoff.h: exponential with full jitter) within timeout_ms. The broker's answer to a
   password HELO carries a resumption ticket the client keeps in memory: identifying again
   (after 530, or client_reconnect) sends RESUME with it instead of the password, which costs
   the broker one MAC check instead of an Argon2id one; a refused ticket falls back to the
   password (docs/PROTOCOL.md "RESUME"). */
client_t *client_new (const char *endpoint, const char *user, const char *password, int timeout_ms,
                      char **error);
/* The same, identifying with RESUME and ticket (a copy is kept) first when ticket is not NULL:
   a ticket another client of the same mailbox got, so that many connections of one identity
   (the gateway's pool) cost the broker one Argon2id check, not one each */
client_t *client_new_resuming (const char *endpoint, const char *user, const char *password,
                               const char *ticket, int timeout_ms, char **error);
/* The same with password NULL is a client that has only the ticket: when the broker refuses it
   (expired, the password changed, the broker's ticket key is new) nothing else is tried and the
   call fails with a 535 line. mailbus-web's sessions and the gateway's IMAP sessions keep a
   ticket, not the user's password, for the connections they open later. */

/* Wipes the password the client keeps for identifying again (after a broker restart): from then
   on it identifies with its ticket only, as above. false (the password is kept) when it has no
   ticket (the broker gives none: --ticket-lifetime 0) or logs in by key. */
bool client_forget_password (client_t *self);

/* A copy of the client's resumption ticket (caller frees), or NULL when it has none */
char *client_ticket_dup (client_t *self);
void client_destroy (client_t **self_p);

/* Sends verb with the frames of args (taken, may be NULL) and waits for the reply to it.
   Pushes ("*" messages) that arrive meanwhile are dropped: a watcher uses client_send and
   client_recv instead. The re-identification below is silent, so a WATCH does not survive it.
   Returns the reply without its id frame: first frame the status line, then data frames;
   NULL on timeout. When the broker has forgotten the session (it restarted: 530), the
   client identifies again and repeats the request once. A transient refusal (421, 452: the
   broker rolled the request back) is repeated after a jittered, growing pause until the
   client's timeout has passed since the first try; then that reply is returned (each retry
   is logged at debug, the giving up at warn). */
zmsg_t *client_call (client_t *self, const char *verb, zmsg_t *args);

/* Pipelining: sends a request and returns at once; *id receives its request id */
int client_send (client_t *self, const char *verb, zmsg_t *args, char *id, size_t id_size);
/* Receives the next message (reply or push) within timeout_ms; its first frame is the id
   ("*" for a push). NULL on timeout. */
zmsg_t *client_recv (client_t *self, int timeout_ms);

/* Throws away the connection and makes a new one, identifying again (watch uses it when
   the broker stops answering). Returns 0 or -1 with *error. */
int client_reconnect (client_t *self, char **error);

/* The socket, for a poller */
zsock_t *client_socket (client_t *self);
/* The mailbox this client is, as the broker normalised it */
const char *client_user (client_t *self);
void client_set_timeout (client_t *self, int timeout_ms);

/* Reads user and password from -u/-p values or MAILBUS_USER / MAILBUS_PASSWORD, and the
   endpoint from -b or MAILBUS_BROKER. password_stdin reads one line from stdin. With a key
   file (client_set_keys or MAILBUS_KEY) and no password, the password is empty: key login.
   Returns 0, or -1 with a message on stderr. Strings are owned by the caller. */
int client_credentials (const char **endpoint, const char **user, char **password, const char *password_opt,
                        bool password_stdin);

#endif
