/*  client.c — the broker client. */
#include "client.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "reply.h"

struct client_t {
    zsock_t *sock;
    char *endpoint;
    char *user;
    char *password;
    char mailbox[MAX_ADDRESS + 1];
    int timeout_ms;
    uint64_t next_id;
};

static zsock_t *
s_connect (const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 0); /* bounded by the caller's window, not by dropping */
    zsock_set_rcvhwm (sock, 0);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

/* Waits for the reply with this id; pushes that arrive meanwhile are dropped */
static zmsg_t *
s_wait (client_t *self, const char *id, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return NULL;
        zmsg_t *msg = client_recv (self, (int)left);
        if (!msg)
            return NULL;
        char *rid = zmsg_popstr (msg);
        bool match = rid && strcmp (rid, id) == 0;
        free (rid);
        if (match)
            return msg;
        zmsg_destroy (&msg);
    }
}

static int
s_hello (client_t *self, char **error)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, PROTO_VERSION);
    zmsg_addstr (args, self->user);
    zmsg_addstr (args, self->password);
    char id[MAX_REQUEST_ID + 1];
    client_send (self, "HELO", args, id, sizeof id);
    zmsg_t *reply = s_wait (self, id, self->timeout_ms);
    if (!reply) {
        *error = zsys_sprintf ("no answer from broker at %s within %d ms", self->endpoint, self->timeout_ms);
        return -1;
    }
    int code = 0;
    char line[512] = "";
    if (proto_reply_status (reply, &code, line, sizeof line) != 0 || !reply_is_success (code)) {
        *error = strdup (*line ? line : "broker sent a malformed reply to HELO");
        zmsg_destroy (&reply);
        return -1;
    }
    /* data frame: the mailbox as the broker normalised it */
    zframe_t *frame = zmsg_next (reply);
    if (frame && zframe_size (frame) <= MAX_ADDRESS) {
        memcpy (self->mailbox, zframe_data (frame), zframe_size (frame));
        self->mailbox[zframe_size (frame)] = '\0';
    }
    zmsg_destroy (&reply);
    return 0;
}

client_t *
client_new (const char *endpoint, const char *user, const char *password, int timeout_ms, char **error)
{
    client_t *self = calloc (1, sizeof *self);
    self->endpoint = strdup (endpoint ? endpoint : CLIENT_DEFAULT_ENDPOINT);
    self->user = strdup (user ? user : "");
    self->password = strdup (password ? password : "");
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    snprintf (self->mailbox, sizeof self->mailbox, "%s", self->user);
    self->sock = s_connect (self->endpoint);
    if (!self->sock) {
        *error = zsys_sprintf ("cannot connect to %s: %s", self->endpoint, zmq_strerror (zmq_errno ()));
        client_destroy (&self);
        return NULL;
    }
    if (s_hello (self, error) != 0) {
        client_destroy (&self);
        return NULL;
    }
    return self;
}

void
client_destroy (client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    client_t *self = *self_p;
    zsock_destroy (&self->sock);
    if (self->password) {
        sodium_memzero (self->password, strlen (self->password));
        free (self->password);
    }
    free (self->user);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
client_send (client_t *self, const char *verb, zmsg_t *args, char *id, size_t id_size)
{
    snprintf (id, id_size, "%" PRIu64, ++self->next_id);
    /* [id][verb] straight from the stack, then the caller's frames as they are */
    void *sock = zsock_resolve (self->sock);
    bool more = args && zmsg_size (args) > 0;
    if (zmq_send (sock, id, strlen (id), ZMQ_SNDMORE) < 0 ||
        zmq_send (sock, verb, strlen (verb), more ? ZMQ_SNDMORE : 0) < 0) {
        zmsg_destroy (&args);
        return -1;
    }
    if (more)
        return zmsg_send (&args, self->sock);
    zmsg_destroy (&args);
    return 0;
}

zmsg_t *
client_recv (client_t *self, int timeout_ms)
{
    /* a reply already queued is taken without a poll (a system call per reply otherwise) */
    if (!(zsock_events (self->sock) & ZMQ_POLLIN)) {
        zmq_pollitem_t item = {zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll (&item, 1, timeout_ms);
        if (rc <= 0 || !(item.revents & ZMQ_POLLIN))
            return NULL;
    }
    return zmsg_recv (self->sock);
}

zmsg_t *
client_call (client_t *self, const char *verb, zmsg_t *args)
{
    /* keep a copy so the request can be repeated after a re-identification */
    zmsg_t *copy = args ? zmsg_dup (args) : NULL;
    char id[MAX_REQUEST_ID + 1];
    client_send (self, verb, args, id, sizeof id);
    zmsg_t *reply = s_wait (self, id, self->timeout_ms);
    int code = 0;
    if (reply && proto_reply_status (reply, &code, NULL, 0) == 0 && code == 530 &&
        strcmp (verb, "HELO") != 0) {
        char *error = NULL;
        zmsg_destroy (&reply);
        if (s_hello (self, &error) == 0) {
            client_send (self, verb, copy, id, sizeof id);
            copy = NULL;
            reply = s_wait (self, id, self->timeout_ms);
        }
        free (error);
    }
    zmsg_destroy (&copy);
    return reply;
}

int
client_reconnect (client_t *self, char **error)
{
    zsock_destroy (&self->sock);
    self->sock = s_connect (self->endpoint);
    if (!self->sock) {
        *error = zsys_sprintf ("cannot connect to %s", self->endpoint);
        return -1;
    }
    return s_hello (self, error);
}

zsock_t *
client_socket (client_t *self)
{
    return self->sock;
}

const char *
client_user (client_t *self)
{
    return self->mailbox;
}

void
client_set_timeout (client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms;
}

int
client_credentials (const char **endpoint, const char **user, char **password, const char *password_opt,
                    bool password_stdin)
{
    if (!*endpoint)
        *endpoint = getenv ("MAILBUS_BROKER");
    if (!*endpoint)
        *endpoint = CLIENT_DEFAULT_ENDPOINT;
    if (!*user)
        *user = getenv ("MAILBUS_USER");
    if (!*user) {
        fprintf (stderr, "error: no user: give -u ADDRESS or set MAILBUS_USER\n");
        return -1;
    }
    if (password_stdin) {
        char line[MAX_PASSWORD + 2];
        if (!fgets (line, sizeof line, stdin)) {
            fprintf (stderr, "error: --password-stdin: nothing on standard input\n");
            return -1;
        }
        line[strcspn (line, "\r\n")] = '\0';
        *password = strdup (line);
        sodium_memzero (line, sizeof line);
        return 0;
    }
    const char *p = password_opt ? password_opt : getenv ("MAILBUS_PASSWORD");
    if (!p) {
        fprintf (stderr, "error: no password: give -p, --password-stdin or set MAILBUS_PASSWORD\n");
        return -1;
    }
    *password = strdup (p);
    return 0;
}
