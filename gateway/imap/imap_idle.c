/*  imap_idle.c — IDLE (RFC 2177) and the broker's watcher: the session waits on the client's
    socket and on its broker connection at once, so the pushes of WATCH changes reach an
    idling client as "* N EXISTS" / "* N EXPUNGE" / "* N FETCH (FLAGS ...)" the moment they
    come, never by polling the database. Between commands the watcher is kept alive (the
    broker drops a watcher silent for 15 s) and given its credit back. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_session.h"
#include "log.h"
#include "reply.h"

/* CREDIT for the pushes handled (docs/PROTOCOL.md "WATCH"), or NOOP as a heartbeat; a reply
   saying the watcher fell behind asks for a resynchronisation */
void
imap_heartbeat (imap_session_t *s)
{
    if (!s->watching || s->broker_dead)
        return;
    imap_drain (s);
    bool due = zclock_mono () - s->last_call >= IMAP_HEARTBEAT_MS;
    if (!due && s->credit_owed < IMAP_WATCH_WINDOW / 2)
        return;
    int n = s->credit_owed > 1000 ? 1000 : s->credit_owed;
    zmsg_t *args = NULL;
    if (n > 0) {
        args = zmsg_new ();
        zmsg_addstrf (args, "%d", n);
    }
    int code = 0;
    zmsg_t *reply = imap_call_quick (s, n > 0 ? "CREDIT" : "NOOP", args, &code);
    if (reply && reply_is_success (code)) {
        s->credit_owed -= n;
        char *status = zframe_strdup (zmsg_first (reply));
        if (status && strstr (status, "behind"))
            s->resync = true;
        free (status);
    }
    zmsg_destroy (&reply);
}

/* The line that ends IDLE: "DONE" (RFC 2177 3) */
static void
s_idle_line (imap_session_t *s, imap_command_t *cmd)
{
    char line[IMAP_MAX_LINE + 1];
    size_t len = 0;
    conn_result_t rc = conn_read_line (s->conn, line, sizeof line, &len, imap_timeout_ms (s));
    if (rc == CONN_EOF || rc == CONN_ERROR || rc == CONN_TIMEOUT) {
        log_info ("imap", "idle-vanished", "session=%llu peer=%s reason=%s", s->number, conn_peer (s->conn),
                  rc == CONN_EOF       ? "eof"
                  : rc == CONN_TIMEOUT ? "timeout"
                                       : "error");
        s->quit = true;
        return;
    }
    if (rc == CONN_LINE && len == 6 && strncasecmp (line, "DONE\r\n", 6) == 0)
        imap_ok (s, cmd, "IDLE terminated");
    else
        imap_bad (s, cmd, "expected DONE to end IDLE");
}

/* Waits for the client or the broker, at most timeout_ms: 1 when the client sent something */
static int
s_wait (imap_session_t *s, int timeout_ms)
{
    struct pollfd pfd[2] = {{conn_fd (s->conn), POLLIN, 0}, {-1, POLLIN, 0}};
    if (s->watching)
        pfd[1].fd = zsock_fd (client_socket (s->client));
    int rc = poll (pfd, s->watching ? 2 : 1, timeout_ms);
    if (rc < 0 && errno != EINTR)
        return 1; /* the read that follows sees the error */
    return rc > 0 && pfd[0].revents ? 1 : 0;
}

void
imap_cmd_idle (imap_session_t *s, imap_command_t *cmd)
{
    imap_view_sync (s, true);
    conn_printf (s->conn, "+ idling\r\n");
    int64_t deadline = zclock_mono () + imap_timeout_ms (s);
    while (!s->broker_dead && !s->quit) {
        imap_heartbeat (s);
        imap_drain (s);
        if (zlist_size (s->pushes) || s->resync) {
            /* the SCAN of a sync may have brought more pushes: drain again before waiting */
            imap_view_sync (s, true);
            continue;
        }
        if (conn_pending (s->conn)) {
            s_idle_line (s, cmd);
            return;
        }
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            log_info ("imap", "disconnect", "session=%llu reason=idle state=IDLE", s->number);
            conn_printf (s->conn, "* BYE autologout: idle for %d seconds\r\n", imap_timeout_ms (s) / 1000);
            s->quit = true;
            return;
        }
        if (s_wait (s, left < IMAP_HEARTBEAT_MS ? (int)left : IMAP_HEARTBEAT_MS)) {
            s_idle_line (s, cmd);
            return;
        }
    }
}
