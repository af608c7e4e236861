/*  listener.c — accept loop and session threads. */
#include "listener.h"

#include <assert.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>

#include "conn.h"
#include "gw_limits.h"
#include "imap_server.h"
#include "log.h"
#include "pop3_server.h"
#include "smtp_server.h"

#define MAX_LISTENERS 8
/* How long a stopping gateway waits for its sessions. A session reading from its shut-down
   socket ends at once; one waiting for the broker ends when the answer comes or the call
   times out, and a call may be sent twice (again after a re-identification). */
#define STOP_GRACE_MS (2 * GATEWAY_BROKER_TIMEOUT_MS + 5000)

typedef struct {
    int fd;
    listen_kind_t kind;
} listen_t;

/* A session slot: free (fd -1, not ended), running (fd set) or ended (fd -1, its thread still to
   join). Session threads are joined, not detached: a thread still running its thread-exit
   destructors when main returns races the exit handlers (OpenSSL's cleanup among them, which
   frees per-thread state too). */
typedef struct {
    int fd; /* the session's socket, shut down at stop */
    bool ended;
    pthread_t thread;
} slot_t;

struct listener_t {
    const gateway_config_t *config;
    pool_t *pool;
    listen_t listens[MAX_LISTENERS];
    int count;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active;             /* sessions running: the slots in use */
    uint64_t sessions;      /* sessions started, which numbers them (under lock) */
    slot_t *slots;          /* max_sessions of them */
    int64_t full_logged_at; /* the last too-many-sessions line (accept thread only) */
    int full_suppressed;    /* refusals since, not logged */
};

/* What the accept thread hands a session thread */
typedef struct {
    listener_t *listener;
    int fd;
    int slot;
    listen_kind_t kind;
    struct sockaddr_storage addr; /* the client's, counted by the throttle until the session ends */
    uint64_t id;                  /* the session's number in the log, SMTP and POP3 alike */
} listener_session_t;

typedef enum { REFUSE_SESSIONS, REFUSE_ADDRESS, REFUSE_BLOCKED, REFUSE_NO_MEMORY } refusal_t;

const char *
listener_kind_name (listen_kind_t kind)
{
    static const char *names[] = {"smtp", "smtps", "pop3", "pop3s", "imap", "imaps"};
    return names[kind];
}

listener_t *
listener_new (const gateway_config_t *config, pool_t *pool)
{
    assert (config && config->max_sessions > 0);
    listener_t *self = calloc (1, sizeof *self);
    slot_t *slots = calloc ((size_t)config->max_sessions, sizeof (slot_t));
    if (!self || !slots) {
        free (self);
        free (slots);
        return NULL;
    }
    self->config = config;
    self->pool = pool;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->idle, NULL);
    self->slots = slots;
    for (int i = 0; i < config->max_sessions; i++)
        self->slots[i].fd = -1;
    return self;
}

/* Joins the threads of ended sessions (the caller holds the lock; an ended thread needs it no
   more, it is on its way out) */
static void
s_reap (listener_t *self)
{
    for (int i = 0; i < self->config->max_sessions; i++)
        if (self->slots[i].ended) {
            pthread_join (self->slots[i].thread, NULL);
            self->slots[i].ended = false;
        }
}

void
listener_destroy (listener_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    listener_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        close (self->listens[i].fd);
    pthread_mutex_lock (&self->lock);
    s_reap (self);
    pthread_mutex_unlock (&self->lock);
    free (self->slots);
    pthread_cond_destroy (&self->idle);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static bool
s_is_loopback (const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl (((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

int
listener_add (listener_t *self, listen_kind_t kind, const char *hostport, bool public_ok, char **error)
{
    assert (self && hostport && error);
    if (self->count == MAX_LISTENERS) {
        *error = strdup ("too many listeners");
        return -1;
    }
    char host[256];
    const char *port;
    if (hostport[0] == '[') {
        const char *close = strchr (hostport, ']');
        if (!close || close[1] != ':' || (size_t)(close - hostport - 1) >= sizeof host) {
            *error = zsys_sprintf ("%s: expected [IPV6]:PORT", hostport);
            return -1;
        }
        snprintf (host, sizeof host, "%.*s", (int)(close - hostport - 1), hostport + 1);
        port = close + 2;
    }
    else {
        const char *colon = strrchr (hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof host) {
            *error = zsys_sprintf ("%s: expected HOST:PORT", hostport);
            return -1;
        }
        snprintf (host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo (*host ? host : NULL, port, &hints, &ai);
    if (rc != 0) {
        *error = zsys_sprintf ("%s: %s", hostport, gai_strerror (rc));
        return -1;
    }
    /* Anything listening beyond loopback requires TLS (docs/GATEWAY.md, "TLS") */
    if (!s_is_loopback (ai->ai_addr) && !public_ok) {
        *error = zsys_sprintf ("%s is not a loopback address: give --tls-cert and --tls-key to listen on it",
                               hostport);
        freeaddrinfo (ai);
        return -1;
    }
    int fd = socket (ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1;
    if (fd >= 0)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind (fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen (fd, 128) != 0) {
        *error = zsys_sprintf ("cannot listen on %s: %s", hostport, strerror (errno));
        if (fd >= 0)
            close (fd);
        freeaddrinfo (ai);
        return -1;
    }
    freeaddrinfo (ai);
    self->listens[self->count++] = (listen_t){fd, kind};
    log_info ("gateway", "listening", "protocol=%s address=%s", listener_kind_name (kind), hostport);
    return 0;
}

static void *
s_session_thread (void *arg)
{
    listener_session_t *session = arg;
    listener_t *self = session->listener;
    const gateway_config_t *config = self->config;
    bool implicit =
        session->kind == LISTEN_SMTPS || session->kind == LISTEN_POP3S || session->kind == LISTEN_IMAPS;
    conn_t *conn = conn_new (session->fd, config->tls, implicit);
    if (conn) {
        if (session->kind == LISTEN_SMTP || session->kind == LISTEN_SMTPS)
            smtp_serve (conn, config, self->pool, session->id);
        else if (session->kind == LISTEN_IMAP || session->kind == LISTEN_IMAPS)
            imap_serve (conn, config, session->id);
        else
            pop3_serve (conn, config, session->id);
    }
    pthread_mutex_lock (&self->lock);
    self->slots[session->slot].fd = -1;
    self->slots[session->slot].ended = true;
    /* the fd is closed inside the lock, so stop never shuts down a number already reused */
    if (conn)
        conn_destroy (&conn);
    else
        close (session->fd);
    self->active--;
    throttle_disconnect (config->throttle, (struct sockaddr *)&session->addr);
    if (self->active == 0)
        pthread_cond_broadcast (&self->idle);
    pthread_mutex_unlock (&self->lock);
    free (session);
    return NULL;
}

/* RFC 5321 3.1 and RFC 2449 8 (with RFC 3206's [SYS/TEMP]): a refusal before the session
   starts, in the protocol's words; the implicit-TLS ports may send no plain text: they close */
static const struct {
    const char *smtp, *pop3, *imap;
} s_refusals[] = {
    [REFUSE_SESSIONS] = {SMTP_TOO_MANY_SESSIONS, "-ERR [SYS/TEMP] too many connections\r\n",
                         "* BYE [UNAVAILABLE] too many connections\r\n"},
    [REFUSE_ADDRESS] = {"421 4.7.0 too many connections from your address\r\n",
                        "-ERR [SYS/TEMP] too many connections from your address\r\n",
                        "* BYE [UNAVAILABLE] too many connections from your address\r\n"},
    [REFUSE_BLOCKED] = {THROTTLE_SMTP_BLOCKED "\r\n", "-ERR " THROTTLE_POP3_BLOCKED "\r\n",
                        "* BYE [UNAVAILABLE] too many failed logins from your address\r\n"},
    [REFUSE_NO_MEMORY] = {"421 4.3.0 out of memory, try again later\r\n",
                          "-ERR [SYS/TEMP] out of memory, try again later\r\n",
                          "* BYE [UNAVAILABLE] out of memory, try again later\r\n"},
};

static void
s_refuse (int fd, listen_kind_t kind, refusal_t why)
{
    const char *text = kind == LISTEN_SMTP   ? s_refusals[why].smtp
                       : kind == LISTEN_POP3 ? s_refusals[why].pop3
                       : kind == LISTEN_IMAP ? s_refusals[why].imap
                                             : NULL;
    if (text && send (fd, text, strlen (text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug ("gateway", "refuse-failed", "errno=%d", errno);
    close (fd);
}

/* Every session slot taken: logged once per THROTTLE_LOG_INTERVAL_MS at most, with how many
   refusals were not (only the accept thread comes here) */
static void
s_log_full (listener_t *self, listen_kind_t kind)
{
    int64_t now = zclock_mono ();
    if (self->full_logged_at && now - self->full_logged_at < THROTTLE_LOG_INTERVAL_MS) {
        self->full_suppressed++;
        return;
    }
    log_warn ("gateway", "too-many-sessions", "protocol=%s max=%d suppressed=%d", listener_kind_name (kind),
              self->config->max_sessions, self->full_suppressed);
    self->full_logged_at = now;
    self->full_suppressed = 0;
}

/* A free slot, or -1 (the caller holds the lock) */
static int
s_free_slot (listener_t *self)
{
    if (self->active >= self->config->max_sessions)
        return -1;
    for (int i = 0; i < self->config->max_sessions; i++)
        if (self->slots[i].fd < 0)
            return i;
    return -1;
}

static void
s_accept (listener_t *self, listen_t *listen)
{
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof addr;
    int fd = accept4 (listen->fd, (struct sockaddr *)&addr, &addr_len, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    /* per address first (throttle.h logs its own refusals): one address must not take the
       slots the others would get */
    throttle_t *throttle = self->config->throttle;
    throttle_verdict_t verdict =
        throttle_connect (throttle, (struct sockaddr *)&addr, listener_kind_name (listen->kind));
    if (verdict != THROTTLE_OK) {
        s_refuse (fd, listen->kind, verdict == THROTTLE_BLOCKED ? REFUSE_BLOCKED : REFUSE_ADDRESS);
        return;
    }
    pthread_mutex_lock (&self->lock);
    s_reap (self);
    int slot = s_free_slot (self);
    listener_session_t *session = slot < 0 ? NULL : calloc (1, sizeof *session);
    if (!session) {
        pthread_mutex_unlock (&self->lock);
        throttle_disconnect (throttle, (struct sockaddr *)&addr);
        if (slot < 0)
            s_log_full (self, listen->kind);
        else
            log_warn ("gateway", "out-of-memory", "protocol=%s where=session",
                      listener_kind_name (listen->kind));
        s_refuse (fd, listen->kind, slot < 0 ? REFUSE_SESSIONS : REFUSE_NO_MEMORY);
        return;
    }
    *session = (listener_session_t){self, fd, slot, listen->kind, addr, ++self->sessions};
    /* inside the lock: the thread's id is in its slot before the thread can end */
    int rc = pthread_create (&self->slots[slot].thread, NULL, s_session_thread, session);
    if (rc == 0) {
        self->slots[slot].fd = fd;
        self->active++;
    }
    pthread_mutex_unlock (&self->lock);
    if (rc != 0) {
        log_error ("gateway", "thread-failed", "error=\"%s\"", strerror (rc));
        throttle_disconnect (throttle, (struct sockaddr *)&addr);
        close (fd);
        free (session);
    }
}

int
listener_run (listener_t *self, int stop_fd)
{
    assert (self && stop_fd >= 0);
    struct pollfd pfds[MAX_LISTENERS + 1];
    while (true) {
        for (int i = 0; i < self->count; i++)
            pfds[i] = (struct pollfd){self->listens[i].fd, POLLIN, 0};
        pfds[self->count] = (struct pollfd){stop_fd, POLLIN, 0};
        int rc = poll (pfds, (nfds_t)self->count + 1, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || pfds[self->count].revents)
            break;
        for (int i = 0; i < self->count; i++)
            if (pfds[i].revents & POLLIN)
                s_accept (self, &self->listens[i]);
    }
    /* stop: every session's next read sees EOF */
    pthread_mutex_lock (&self->lock);
    log_info ("gateway", "stopping", "sessions=%d", self->active);
    for (int i = 0; i < self->config->max_sessions; i++)
        if (self->slots[i].fd >= 0)
            shutdown (self->slots[i].fd, SHUT_RDWR);
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += STOP_GRACE_MS / 1000;
    while (self->active > 0)
        if (pthread_cond_timedwait (&self->idle, &self->lock, &deadline) == ETIMEDOUT)
            break;
    s_reap (self);
    int left = self->active;
    pthread_mutex_unlock (&self->lock);
    return left;
}
