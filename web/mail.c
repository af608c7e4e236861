/*  mail.c — see mail.h */
#include "mail.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "compose.h"
#include "client.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "mb_limits.h"
#include "render.h"
#include "session.h"
#include "sse.h"

/* The broker's answer to verb on the session's connection, or NULL when it gave none */
static zmsg_t *
s_call (request_t *req, const char *verb, zmsg_t *args)
{
    client_t *client = session_lock (req->session);
    zmsg_t *reply = client_call (client, verb, args);
    session_unlock (req->session);
    return reply;
}

static enum MHD_Result
s_broker_down (request_t *req)
{
    return web_error (req, 503, "the broker is not answering: try again shortly");
}

/* The reply's code; a 530/535 (the mailbox was deleted or its password changed) ends the
   web session too */
static int
s_code (request_t *req, zmsg_t *reply)
{
    char *line = zmsg_popstr (reply);
    int code = line ? atoi (line) : 0;
    if (code == 530 || code == 535)
        sessions_end (req->web->sessions, req->session);
    free (line);
    return code;
}

/* The id argument of a message route: 400 when missing or malformed */
static int
s_id_arg (const char *text, int64_t *id)
{
    return check_number (text, INT64_C (999999999999999999), id);
}

static zmsg_t *
s_args (const char *first, ...)
{
    zmsg_t *args = zmsg_new ();
    va_list ap;
    va_start (ap, first);
    for (const char *s = first; s; s = va_arg (ap, const char *))
        zmsg_addstr (args, s);
    va_end (ap);
    return args;
}

static void
s_cookie (struct MHD_Response *response, const char *token, bool tls)
{
    char cookie[200];
    snprintf (cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", HTTP_COOKIE,
              token ? token : "", tls ? "; Secure" : "", token ? "" : "; Max-Age=0");
    web_header_add (response, "Set-Cookie", cookie);
}

static enum MHD_Result
s_session_json (request_t *req, session_t *session, bool set_cookie)
{
    json_t out;
    json_init (&out);
    json_raw (&out, "{");
    json_kstr (&out, "user", session_user (session));
    json_kstr (&out, "csrf", session_csrf (session));
    json_raw (&out, "}");
    size_t len;
    char *text = json_take (&out, &len);
    struct MHD_Response *response = web_response_take (text, len);
    web_header_add (response, "Content-Type", "application/json; charset=utf-8");
    if (set_cookie)
        s_cookie (response, session_token (session), req->web->tls);
    return web_queue (req, 200, response);
}

enum MHD_Result
mail_login (request_t *req)
{
    const char *address = req->form ? form_value (req->form, "address") : NULL;
    const char *password = req->form ? form_value (req->form, "password") : NULL;
    if (!address || !password || !*address || strlen (address) > MAX_ADDRESS ||
        strlen (password) > MAX_PASSWORD)
        return web_error (req, 400, "give a mailbox address and a password");
    session_t *session = NULL;
    int retry = 0;
    const char *why = NULL;
    unsigned status =
        sessions_login (req->web->sessions, req->peer, address, password, &session, &retry, &why);
    if (status == 200) {
        enum MHD_Result rc = s_session_json (req, session, true);
        session_release (&session);
        return rc;
    }
    if (status != 429)
        return web_error (req, status, why);
    char text[160], seconds[16];
    snprintf (text, sizeof text, "{\"error\":\"%s\",\"status\":429}", why);
    snprintf (seconds, sizeof seconds, "%d", retry);
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (text), text, MHD_RESPMEM_MUST_COPY);
    web_header_add (response, "Content-Type", "application/json; charset=utf-8");
    web_header_add (response, "Retry-After", seconds);
    return web_queue (req, 429, response);
}

enum MHD_Result
mail_logout (request_t *req)
{
    client_t *client = session_lock (req->session);
    zmsg_destroy (&(zmsg_t *){client_call (client, "QUIT", NULL)});
    session_unlock (req->session);
    sessions_end (req->web->sessions, req->session);
    log_info ("web", "logout", "peer=%s user=%s", req->peer, session_user (req->session));
    const char *text = "{\"ok\":true}";
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (text), (void *)text, MHD_RESPMEM_PERSISTENT);
    web_header_add (response, "Content-Type", "application/json; charset=utf-8");
    s_cookie (response, NULL, req->web->tls);
    return web_queue (req, 200, response);
}

enum MHD_Result
mail_session (request_t *req)
{
    return s_session_json (req, req->session, false);
}

/* One LIST line: id TAB size TAB state TAB unix-time TAB sender TAB subject (split in place) */
static void
s_list_row (char *line, json_t *out)
{
    static const char *const keys[] = {"id", "size", "state", "time", "from", "subject"};
    char *at = line;
    json_comma (out);
    json_raw (out, "{");
    for (size_t i = 0; i < 6; i++) {
        char *tab = i < 5 ? strchr (at, '\t') : NULL;
        if (tab)
            *tab = '\0';
        if (i == 0 || i == 1 || i == 3)
            json_int (out, keys[i], strtoll (at, NULL, 10));
        else
            json_kstr (out, keys[i], at);
        at = tab ? tab + 1 : at + strlen (at);
    }
    json_raw (out, "}");
}

enum MHD_Result
mail_list (request_t *req)
{
    zmsg_t *reply = s_call (req, "LIST", NULL);
    if (!reply)
        return s_broker_down (req);
    int code = s_code (req, reply);
    if (code != 250) {
        zmsg_destroy (&reply);
        return web_error (req, code == 530 || code == 535 ? 401 : 502, "the broker refused LIST");
    }
    json_t out;
    json_init (&out);
    json_raw (&out, "{");
    json_kstr (&out, "user", session_user (req->session));
    json_key (&out, "messages");
    json_raw (&out, "[");
    for (char *line = zmsg_popstr (reply); line; line = zmsg_popstr (reply)) {
        s_list_row (line, &out);
        free (line);
    }
    json_raw (&out, "]}");
    zmsg_destroy (&reply);
    return web_json (req, 200, &out);
}

/* RETR of the ?id= argument: the message frame, or NULL with the refusal queued in *rc */
static zframe_t *
s_retrieve (request_t *req, enum MHD_Result *rc)
{
    const char *arg = web_arg (req, "id");
    int64_t id;
    if (s_id_arg (arg, &id) != 0)
        return *rc = web_error (req, 400, "id must be a message number"), NULL;
    zmsg_t *reply = s_call (req, "RETR", s_args (arg, NULL));
    if (!reply)
        return *rc = s_broker_down (req), NULL;
    int code = s_code (req, reply);
    zframe_t *message = code == 250 ? zmsg_pop (reply) : NULL;
    zmsg_destroy (&reply);
    if (!message)
        *rc = code == 530 || code == 535 ? web_error (req, 401, "the session ended")
                                         : web_error (req, 404, "no such message");
    return message;
}

/* The ?part= argument and the message of ?id=: the message frame, or NULL with the refusal
   queued in *rc */
static zframe_t *
s_part_message (request_t *req, int *part, enum MHD_Result *rc)
{
    int64_t n;
    if (check_number (web_arg (req, "part"), 10000, &n) != 0)
        return *rc = web_error (req, 400, "part must be a part number"), NULL;
    *part = (int)n;
    return s_retrieve (req, rc);
}

enum MHD_Result
mail_read (request_t *req)
{
    enum MHD_Result rc;
    zframe_t *message = s_retrieve (req, &rc);
    if (!message)
        return rc;
    json_t out;
    json_init (&out);
    int parsed = render_message_json ((const char *)zframe_data (message), zframe_size (message), &out);
    zframe_destroy (&message);
    if (parsed != 0) {
        json_free (&out);
        return web_error (req, 502, "the message cannot be read as MIME");
    }
    return web_json (req, 200, &out);
}

/* The HTML of a message, for a sandboxed frame: no script, no remote load, no form, no
   navigation of the app (CSP sandbox without allow-same-origin: another origin altogether) */
#define HTML_CSP                                                                                             \
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "                \
    "frame-ancestors 'self'"

enum MHD_Result
mail_html (request_t *req)
{
    enum MHD_Result rc;
    int part;
    zframe_t *message = s_part_message (req, &part, &rc);
    if (!message)
        return rc;
    char *html = NULL;
    int found = render_html ((const char *)zframe_data (message), zframe_size (message), part, &html);
    zframe_destroy (&message);
    if (found == RENDER_NO_MEMORY)
        return web_no_memory (req);
    if (found != 0)
        return web_error (req, 404, "no such HTML part");
    struct MHD_Response *response = web_response_take (html, strlen (html));
    web_header_add (response, "Content-Type", "text/html; charset=utf-8");
    web_header_add (response, "Content-Security-Policy", HTML_CSP);
    web_header_add (response, "X-Frame-Options", "SAMEORIGIN");
    return web_queue (req, 200, response);
}

enum MHD_Result
mail_part (request_t *req)
{
    enum MHD_Result rc;
    int part;
    zframe_t *message = s_part_message (req, &part, &rc);
    if (!message)
        return rc;
    char *bytes = NULL, *type = NULL, *name = NULL;
    size_t len = 0;
    int found = render_part ((const char *)zframe_data (message), zframe_size (message), part, &bytes, &len,
                             &type, &name);
    zframe_destroy (&message);
    if (found == RENDER_NO_MEMORY)
        return web_no_memory (req);
    if (found != 0)
        return web_error (req, 404, "no such part");
    /* always a download, never rendered on this origin: whatever type the sender claimed */
    char disposition[200];
    snprintf (disposition, sizeof disposition, "attachment; filename=\"%s\"", name);
    struct MHD_Response *response = web_response_take (bytes, len);
    web_header_add (response, "Content-Type", "application/octet-stream");
    web_header_add (response, "Content-Disposition", disposition);
    web_header_add (response, "Content-Security-Policy", "sandbox; default-src 'none'");
    free (type);
    free (name);
    return web_queue (req, 200, response);
}

/* A refusal of the broker as JSON: its reply line, with 422 */
static enum MHD_Result
s_refusal (request_t *req, int code, const char *what)
{
    if (code == 530 || code == 535) {
        sessions_end (req->web->sessions, req->session);
        return web_error (req, 401, "the session ended");
    }
    char text[200];
    snprintf (text, sizeof text, "the broker refused %s (%d)", what, code);
    return web_error (req, code == 550 ? 404 : 422, text);
}

enum MHD_Result
mail_delete (request_t *req)
{
    const char *arg = form_value (req->form, "id");
    int64_t id;
    if (s_id_arg (arg, &id) != 0)
        return web_error (req, 400, "id must be a message number");
    zmsg_t *reply = s_call (req, "DELE", s_args (arg, NULL));
    if (!reply)
        return s_broker_down (req);
    int code = s_code (req, reply);
    zmsg_destroy (&reply);
    if (code != 250)
        return s_refusal (req, code, "DELE");
    log_info ("web", "delete", "user=%s id=%lld", session_user (req->session), (long long)id);
    return web_reply (req, 200, "application/json; charset=utf-8", "{\"ok\":true}", 11);
}

/* The uploaded files of the compose form, written into a private folder for compose_build
   (mailbus-pub's composer takes files): their paths into paths[], NULL-terminated. Returns the
   folder (caller removes it with s_attachments_remove) or NULL when there are none. */
static char *
s_attachments_write (form_t *form, char **paths, int max)
{
    char *dir = NULL;
    int count = 0;
    for (size_t i = 0; form_field (form, i) && count < max; i++) {
        const form_field_t *f = form_field (form, i);
        if (strcmp (f->name, "attachment") != 0 || !f->filename || !*f->filename)
            continue;
        if (!dir) {
            const char *tmp = getenv ("TMPDIR");
            if (asprintf (&dir, "%s/mailbus-web-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp (dir))
                return free (dir), NULL;
        }
        char safe[128];
        check_filename (f->filename, count, safe, sizeof safe);
        char *path = NULL;
        if (asprintf (&path, "%s/%d/%s", dir, count, safe) < 0)
            break;
        char *slash = strrchr (path, '/'); /* the part's own folder, made in place: no copy */
        *slash = '\0';
        bool made = mkdir (path, 0700) == 0;
        *slash = '/';
        FILE *file = made ? fopen (path, "wb") : NULL;
        if (file) {
            fwrite (f->data, 1, f->len, file);
            fclose (file);
            paths[count++] = path;
        }
        else
            free (path);
    }
    paths[count] = NULL;
    return dir;
}

static void
s_attachments_remove (char *dir, char **paths)
{
    for (char **p = paths; *p; p++) {
        unlink (*p);
        *strrchr (*p, '/') = '\0';
        rmdir (*p);
        free (*p);
    }
    if (dir)
        rmdir (dir);
    free (dir);
}

/* The SEND reply as JSON: the status line and each recipient's line, in order */
static enum MHD_Result
s_send_result (request_t *req, zmsg_t *reply, const char *const *to)
{
    char *status = zmsg_popstr (reply);
    int code = status ? atoi (status) : 0;
    if (code == 530 || code == 535) {
        free (status);
        return s_refusal (req, code, "SEND");
    }
    json_t out;
    json_init (&out);
    json_raw (&out, "{");
    json_kstr (&out, "status", status);
    json_key (&out, "recipients");
    json_raw (&out, "[");
    for (size_t i = 0; to[i]; i++) {
        char *line = zmsg_popstr (reply);
        json_comma (&out);
        json_raw (&out, "{");
        json_kstr (&out, "address", to[i]);
        json_kstr (&out, "reply", line ? line : status);
        json_raw (&out, "}");
        free (line);
    }
    json_raw (&out, "]}");
    log_info ("web", "send", "user=%s reply=%.3s", session_user (req->session), status ? status : "none");
    free (status);
    return web_json (req, 200, &out);
}

/* Builds the message with mailbus-pub's composer: 0, or -1 with the refusal queued */
static char *
s_compose (request_t *req, const char *const *to, size_t *size, enum MHD_Result *rc)
{
    char *paths[FORM_MAX_FIELDS + 1];
    char *dir = s_attachments_write (req->form, paths, FORM_MAX_FIELDS);
    const form_field_t *body = form_get (req->form, "body");
    compose_t spec = {.from = session_user (req->session),
                      .to = to,
                      .subject = form_value (req->form, "subject"),
                      .body = body ? body->data : "",
                      .body_size = body ? body->len : 0,
                      .attachments = (const char *const *)paths};
    char *error = NULL;
    char *message = compose_build (&spec, size, &error);
    s_attachments_remove (dir, paths);
    if (!message) {
        *rc = web_error (req, 400, error ? error : "the message cannot be built");
        free (error);
        return NULL;
    }
    if (*size > (size_t)req->web->settings->max_size) {
        free (message);
        *rc = web_error (req, 413, "552 5.3.4 the message is larger than the broker's limit");
        return NULL;
    }
    return message;
}

enum MHD_Result
mail_send (request_t *req)
{
    const char *to[MAX_RCPT + 1];
    char *copy = NULL;
    int count = check_recipients (form_value (req->form, "to"), &copy, to, MAX_RCPT);
    if (count == CHECK_NO_MEMORY)
        return web_no_memory (req);
    if (count <= 0) {
        free (copy);
        return web_error (req, 400,
                          count == 0 ? "give at least one recipient" : "too many or too long recipients");
    }
    enum MHD_Result rc;
    size_t size = 0;
    char *message = s_compose (req, to, &size, &rc);
    if (!message) {
        free (copy);
        return rc;
    }
    zmsg_t *args = s_args (session_user (req->session), NULL);
    for (int i = 0; i < count; i++)
        zmsg_addstr (args, to[i]);
    zmsg_addmem (args, message, size);
    free (message);
    zmsg_t *reply = s_call (req, "SEND", args);
    rc = reply ? s_send_result (req, reply, to) : s_broker_down (req);
    zmsg_destroy (&reply);
    free (copy);
    return rc;
}

enum MHD_Result
mail_subscribe (request_t *req)
{
    bool join = strcmp (req->url, "/api/subscribe") == 0;
    const char *list = form_value (req->form, "list");
    const char *filter = form_value (req->form, "filter");
    if (!list || !*list || strlen (list) > MAX_ADDRESS)
        return web_error (req, 400, "give a list address");
    zmsg_t *args = s_args (list, NULL);
    if (join && filter && *filter)
        zmsg_addstr (args, filter);
    zmsg_t *reply = s_call (req, join ? "SUBSCRIBE" : "UNSUBSCRIBE", args);
    if (!reply)
        return s_broker_down (req);
    char *line = zmsg_popstr (reply);
    int code = line ? atoi (line) : 0;
    zmsg_destroy (&reply);
    if (code != 250) {
        enum MHD_Result rc =
            code == 530 || code == 535 ? s_refusal (req, code, "it") : web_error (req, 422, line);
        free (line);
        return rc;
    }
    json_t out;
    json_init (&out);
    json_raw (&out, "{");
    json_kstr (&out, "reply", line);
    json_raw (&out, "}");
    free (line);
    return web_json (req, 200, &out);
}

/* New mail live: a second broker connection that WATCHes, its NEW pushes as SSE events */
typedef struct {
    client_t *client;
    session_t *session; /* held while the stream lasts: a logout ends the stream */
    int64_t last_heard, last_credit;
    bool down;
    int timeout_ms;
} watch_t;

/* How often the watcher returns credit (its heartbeat; the broker drops a silent watcher
   after WATCH_IDLE_MSEC) and how long without any answer before it reconnects */
#define WATCH_CREDIT_MS 4000
#define WATCH_SILENT_MS 12000

static void
s_watch_free (void *state)
{
    watch_t *w = state;
    client_destroy (&w->client);
    session_release (&w->session);
    free (w);
}

static int
s_watch_start (watch_t *w)
{
    zmsg_t *reply = client_call (w->client, "WATCH", NULL);
    char *line = reply ? zmsg_popstr (reply) : NULL;
    int code = line ? atoi (line) : 0;
    free (line);
    zmsg_destroy (&reply);
    w->last_heard = w->last_credit = zclock_mono ();
    return code == 250 ? 0 : -1;
}

/* One NEW push (mailbox id size sender subject) as an event */
static void
s_watch_push (zmsg_t *msg, json_t *out)
{
    char *event = zmsg_popstr (msg);
    if (event && strcmp (event, "END") == 0)
        sse_event (out, "end", "{}");
    else if (event && strcmp (event, "NEW") == 0) {
        static const char *const keys[] = {"mailbox", "id", "size", "from", "subject"};
        json_t e;
        json_init (&e);
        json_raw (&e, "{");
        for (size_t i = 0; i < 5; i++) {
            char *field = zmsg_popstr (msg);
            json_kstr (&e, keys[i], field ? field : "");
            free (field);
        }
        json_raw (&e, "}");
        sse_event (out, "new", e.data);
        json_free (&e);
    }
    free (event);
}

/* A reply on the watcher's connection: CREDIT's (its data frame says how many pushes were
   missed), or a 530 when the broker forgot the session (it restarted) */
static void
s_watch_reply (watch_t *w, zmsg_t *msg, json_t *out)
{
    char *line = zmsg_popstr (msg), *missed = zmsg_popstr (msg);
    int code = line ? atoi (line) : 0;
    if (code == 530)
        w->down = true; /* identify and WATCH again */
    if (code == 530 || (missed && atoll (missed) > 0))
        sse_event (out, "resync", "{}");
    free (line);
    free (missed);
}

static int
s_watch_reconnect (watch_t *w, json_t *out)
{
    char *error = NULL;
    if (client_reconnect (w->client, &error) == 0 && s_watch_start (w) == 0) {
        w->down = false;
        sse_event (out, "status", "{\"broker\":\"ok\"}");
        sse_event (out, "resync", "{}");
    }
    else
        zclock_sleep (1000);
    free (error);
    return 0;
}

static int
s_watch_produce (void *state, json_t *out)
{
    watch_t *w = state;
    if (session_ended (w->session)) {
        sse_event (out, "end", "{}");
        return -1;
    }
    if (w->down)
        return s_watch_reconnect (w, out);
    if (zclock_mono () - w->last_credit > WATCH_CREDIT_MS) {
        char id[MAX_REQUEST_ID + 1];
        client_send (w->client, "CREDIT", s_args ("64", NULL), id, sizeof id);
        w->last_credit = zclock_mono ();
    }
    zmsg_t *msg = client_recv (w->client, 1000);
    bool ended = false;
    if (msg) {
        w->last_heard = zclock_mono ();
        char *id = zmsg_popstr (msg);
        size_t before = out->len;
        if (id && strcmp (id, "*") == 0)
            s_watch_push (msg, out);
        else
            s_watch_reply (w, msg, out);
        ended = out->len > before && strstr (out->data + before, "event: end") == out->data + before;
        free (id);
        zmsg_destroy (&msg);
    }
    else if (zclock_mono () - w->last_heard > WATCH_SILENT_MS) {
        w->down = true;
        sse_event (out, "status", "{\"broker\":\"down\"}");
    }
    return ended ? -1 : 0;
}

enum MHD_Result
mail_events (request_t *req)
{
    char *error = NULL;
    client_t *client = session_watcher (req->session, (int)req->web->settings->timeout_ms, &error);
    free (error);
    if (!client)
        return s_broker_down (req);
    watch_t *w = calloc (1, sizeof *w);
    if (!w) {
        client_destroy (&client);
        return web_no_memory (req);
    }
    w->client = client;
    w->session = req->session; /* the stream holds the request's hold on it */
    req->session = NULL;
    if (s_watch_start (w) != 0) {
        s_watch_free (w);
        return s_broker_down (req);
    }
    return web_queue (req, 200, sse_response (req->web, s_watch_produce, w, s_watch_free));
}
