/*  zap.c — the broker's ZAP handler: a zactor with a REP socket on inproc://zeromq.zap.01. */
#include "zap.h"

#include <assert.h>
#include <errno.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define KEY_PROPERTY "X-Curve-Key"
/* how long a new handler waits for a stopped one's endpoint name */
#define ZAP_BIND_WAIT_MSEC 2000

/* RFC 27: version, request id, domain, address, identity, mechanism, credentials... */
#define REQUEST_MIN_FRAMES 6

/* One ZMTP metadata property (RFC 23): name-length, name, value-length (4, network order), value */
static void
s_add_property (zframe_t *frame, const char *name, const char *value)
{
    size_t name_len = strlen (name), value_len = strlen (value);
    size_t old = zframe_size (frame);
    zframe_t *grown = zframe_new (NULL, old + 1 + name_len + 4 + value_len);
    byte *out = zframe_data (grown);
    memcpy (out, zframe_data (frame), old);
    out += old;
    *out++ = (byte)name_len;
    memcpy (out, name, name_len);
    out += name_len;
    for (int shift = 24; shift >= 0; shift -= 8)
        *out++ = (byte)(value_len >> shift);
    memcpy (out, value, value_len);
    zframe_reset (frame, zframe_data (grown), zframe_size (grown));
    zframe_destroy (&grown);
}

/* A reply (RFC 27 2.2): version, request id, status code and text, user id, metadata */
static zmsg_t *
s_reply (zframe_t *id, const char *code, const char *text, const char *user, zframe_t **metadata)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addmem (reply, id ? zframe_data (id) : NULL, id ? zframe_size (id) : 0);
    zmsg_addstr (reply, code);
    zmsg_addstr (reply, text);
    zmsg_addstr (reply, user);
    if (metadata && *metadata)
        zmsg_append (reply, metadata);
    else
        zmsg_addmem (reply, NULL, 0);
    return reply;
}

/* The answer to one request: 200 with a fresh connection id, or 400 for what we do not serve */
static zmsg_t *
s_answer (zmsg_t *request, uint64_t *next_conn)
{
    zframe_t *version = zmsg_first (request);
    zframe_t *id = zmsg_next (request);
    zmsg_next (request); /* domain */
    zframe_t *address = zmsg_next (request);
    zmsg_next (request); /* identity */
    zframe_t *mechanism = zmsg_next (request);
    zframe_t *credentials = zmsg_next (request);
    char key[41] = "";
    bool ok = zframe_streq (version, "1.0");
    if (ok && zframe_streq (mechanism, "CURVE"))
        ok = credentials && zframe_size (credentials) == 32 &&
             zmq_z85_encode (key, zframe_data (credentials), 32);
    else if (ok)
        ok = zframe_streq (mechanism, "NULL");
    if (!ok) {
        char *peer = zframe_strdup (address);
        log_warn ("broker", "zap-refused", "address=%s", peer);
        free (peer);
        return s_reply (id, "400", "mechanism not served", "", NULL);
    }
    char conn[24];
    snprintf (conn, sizeof conn, "%" PRIu64, (*next_conn)++);
    zframe_t *metadata = zframe_new (NULL, 0);
    if (*key)
        s_add_property (metadata, KEY_PROPERTY, key);
    return s_reply (id, "200", "OK", conn, &metadata);
}

static void
s_zap_actor (zsock_t *pipe, void *args)
{
    zsock_t *handler = args; /* bound by zap_actor_new, and the actor's from here on */
    zsock_signal (pipe, 0);
    uint64_t next_conn = 1;
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == handler) {
            zmsg_t *request = zmsg_recv (handler);
            if (!request)
                break;
            /* REP must answer even a malformed request; libzmq then drops that connection */
            zmsg_t *reply = zmsg_size (request) >= REQUEST_MIN_FRAMES
                                ? s_answer (request, &next_conn)
                                : s_reply (NULL, "500", "malformed request", "", NULL);
            zmsg_destroy (&request);
            zmsg_send (&reply, handler);
        }
        else /* $TERM from the pipe, or interrupted */
            break;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&handler);
}

/* Binds the handler's socket, on the caller's thread so a failure can be told. RFC 27 fixes
   the name, and libzmq frees a closed socket's inproc name later, on its reaper thread: a
   handler started just after another stopped (a host restarting its server) waits for that
   name, up to ZAP_BIND_WAIT_MSEC. */
static zsock_t *
s_handler_bind (void)
{
    zsock_t *handler = zsock_new (ZMQ_REP);
    if (!handler)
        return NULL;
    for (int64_t deadline = zclock_mono () + ZAP_BIND_WAIT_MSEC;; zclock_sleep (1))
        if (zsock_bind (handler, ZAP_ENDPOINT) == 0)
            return handler;
        else if (zmq_errno () != EADDRINUSE || zclock_mono () >= deadline)
            break;
    int error = zmq_errno ();
    log_error ("broker", "zap-bind-failed", "endpoint=%s error=%s", ZAP_ENDPOINT, zmq_strerror (error));
    zsock_destroy (&handler);
    errno = error;
    return NULL;
}

zactor_t *
zap_actor_new (void)
{
    zsock_t *handler = s_handler_bind ();
    return handler ? zactor_new (s_zap_actor, handler) : NULL;
}

void
zap_peer_of (zmq_msg_t *msg, zap_peer_t *peer)
{
    assert (msg);
    assert (peer);
    memset (peer, 0, sizeof *peer);
    const char *conn = zmq_msg_gets (msg, "User-Id");
    if (conn && *conn)
        peer->conn = strtoull (conn, NULL, 10);
    const char *key = zmq_msg_gets (msg, KEY_PROPERTY);
    if (key && strlen (key) == 40)
        memcpy (peer->curve_key, key, 41);
}
