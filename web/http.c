/*  http.c — see http.h */
#include "http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "log.h"
#include "routes.h"
#include "session.h"

/* What a body may carry beyond the message itself: the form's other fields and boundaries,
   and base64's growth is the browser's sending raw bytes, so none */
#define HTTP_BODY_SLACK (64 * 1024)
/* An upload announced (Content-Length) as too big is still read and thrown away up to this
   much, then answered 413: a client that is still sending when the answer comes and the
   connection closes gets a reset instead of the answer (curl: "failed sending data", exit 55).
   Beyond it the answer comes at once and the connection closes: no one's bandwidth is spent
   on an upload that can only be refused. */
#define HTTP_DRAIN_MAX (1024 * 1024)

const char *const web_csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                            "connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; "
                            "frame-ancestors 'none'";

void
web_header_add (struct MHD_Response *response, const char *name, const char *value)
{
    if (response)
        MHD_add_response_header (response, name, value);
}

struct MHD_Response *
web_response_take (char *text, size_t len)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
    if (!response)
        free (text);
    return response;
}

static void
s_default_header (struct MHD_Response *response, const char *name, const char *value)
{
    if (!MHD_get_response_header (response, name))
        web_header_add (response, name, value);
}

enum MHD_Result
web_queue (request_t *req, unsigned status, struct MHD_Response *response)
{
    if (!response) /* the 503's own response failed too: the connection is closed */
        return status == 503 ? MHD_NO : web_no_memory (req);
    s_default_header (response, "Content-Security-Policy", web_csp);
    s_default_header (response, "X-Frame-Options", "DENY");
    s_default_header (response, "Cache-Control", "no-store");
    web_header_add (response, "X-Content-Type-Options", "nosniff");
    web_header_add (response, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response (req->conn, status, response);
    MHD_destroy_response (response);
    if (status >= 400) {
        char method[80]; /* the client's word: quoted like every outside byte in a log line */
        log_info ("web", "refused", "peer=%s method=%s status=%u", req->peer,
                  log_quote (method, sizeof method, req->method, strlen (req->method)), status);
    }
    return rc;
}

enum MHD_Result
web_reply (request_t *req, unsigned status, const char *type, const void *body, size_t len)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer (len, (void *)body, MHD_RESPMEM_MUST_COPY);
    web_header_add (response, "Content-Type", type);
    return web_queue (req, status, response);
}

enum MHD_Result
web_json (request_t *req, unsigned status, json_t *json)
{
    size_t len;
    char *text = json_take (json, &len);
    struct MHD_Response *response = web_response_take (text, len);
    web_header_add (response, "Content-Type", "application/json; charset=utf-8");
    return web_queue (req, status, response);
}

enum MHD_Result
web_error (request_t *req, unsigned status, const char *text)
{
    json_t json;
    json_init (&json);
    json_raw (&json, "{");
    json_kstr (&json, "error", text);
    json_int (&json, "status", status);
    json_raw (&json, "}");
    return web_json (req, status, &json);
}

enum MHD_Result
web_no_memory (request_t *req)
{
    char url[300]; /* the client's bytes: quoted like every outside byte in a log line */
    log_warn ("web", "out-of-memory", "peer=%s url=%s", req->peer,
              log_quote (url, sizeof url, req->url, strlen (req->url)));
    return web_error (req, 503, "out of memory, try again shortly");
}

const char *
web_arg (request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
web_header (request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, name);
}

/* The client's address as text, and whether it is this machine */
static void
s_peer (request_t *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf (req->peer, sizeof req->peer, "unknown");
    if (!info || !info->client_addr)
        return;
    const struct sockaddr *sa = info->client_addr;
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);
    if (getnameinfo (sa, len, req->peer, sizeof req->peer, NULL, 0, NI_NUMERICHOST) != 0)
        return;
    req->loopback = strncmp (req->peer, "127.", 4) == 0 || strcmp (req->peer, "::1") == 0 ||
                    strncmp (req->peer, "::ffff:127.", 11) == 0;
}

/* Basic auth with user "admin" and --dashboard-password, or loopback when there is none */
static bool
s_dashboard_allowed (request_t *req)
{
    const char *secret = req->web->settings->dashboard_password;
    if (!secret || !*secret)
        return req->loopback;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password (req->conn, &password);
    unsigned char want[32], got[32];
    crypto_generichash (want, sizeof want, (const unsigned char *)secret, strlen (secret), NULL, 0);
    crypto_generichash (got, sizeof got, (const unsigned char *)(password ? password : ""),
                        password ? strlen (password) : 0, NULL, 0);
    bool ok = user && strcmp (user, "admin") == 0 && sodium_memcmp (want, got, sizeof want) == 0;
    if (password) {
        sodium_memzero (password, strlen (password));
        MHD_free (password);
    }
    MHD_free (user);
    return ok;
}

static enum MHD_Result
s_dashboard_refused (request_t *req)
{
    if (!req->web->settings->dashboard_password)
        return web_error (req, 403, "the dashboard is shown on this machine only (see --dashboard-password)");
    const char *text = "{\"error\":\"the dashboard needs its password (user admin)\",\"status\":401}";
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (text), (void *)text, MHD_RESPMEM_PERSISTENT);
    web_header_add (response, "Content-Type", "application/json; charset=utf-8");
    web_header_add (response, "WWW-Authenticate", "Basic realm=\"mailbus dashboard\", charset=\"UTF-8\"");
    return web_queue (req, 401, response);
}

/* An Origin header, when the browser sends one, must name this server (login CSRF) */
static bool
s_same_origin (request_t *req)
{
    const char *origin = web_header (req, "Origin");
    const char *host = web_header (req, "Host");
    if (!origin)
        return true;
    const char *rest = strstr (origin, "://");
    return host && rest && strcmp (rest + 3, host) == 0;
}

/* The checks of a route's flags, in order; a refusal is queued and true returned */
static bool
s_refused (request_t *req, const route_t *route, enum MHD_Result *rc)
{
    unsigned flags = route->flags;
    if (req->no_memory)
        return *rc = web_no_memory (req), true;
    if ((flags & ROUTE_DASHBOARD) && !s_dashboard_allowed (req))
        return *rc = s_dashboard_refused (req), true;
    if (req->too_big)
        return *rc = web_error (req, 413, "the upload is larger than the broker's message limit"), true;
    if (req->bad_body)
        return *rc = web_error (req, 400, "the body is not a well-formed form"), true;
    if ((flags & ROUTE_SAME_ORIGIN) && !s_same_origin (req))
        return *rc = web_error (req, 403, "cross-origin request refused"), true;
    if (flags & ROUTE_SESSION) {
        const char *token = MHD_lookup_connection_value (req->conn, MHD_COOKIE_KIND, HTTP_COOKIE);
        req->session = sessions_find (req->web->sessions, token);
        if (!req->session)
            return *rc = web_error (req, 401, "not logged in, or the session expired"), true;
    }
    if ((flags & ROUTE_CSRF) && !session_csrf_ok (req->session, web_header (req, "X-CSRF-Token")))
        return *rc = web_error (req, 403, "missing or wrong CSRF token"), true;
    return false;
}

static const route_t *
s_route (const char *method, const char *url, bool *path_known)
{
    *path_known = false;
    for (const route_t *r = routes; r->path; r++)
        if (strcmp (r->path, url) == 0) {
            *path_known = true;
            if (strcmp (r->method, method) == 0 ||
                (strcmp (method, "HEAD") == 0 && strcmp (r->method, "GET") == 0))
                return r;
        }
    return NULL;
}

static enum MHD_Result
s_unrouted (request_t *req, bool path_known)
{
    if (!path_known)
        return web_error (req, 404, "no such page");
    const char *text = "{\"error\":\"method not allowed\",\"status\":405}";
    struct MHD_Response *response =
        MHD_create_response_from_buffer (strlen (text), (void *)text, MHD_RESPMEM_PERSISTENT);
    const char *allow = "GET, HEAD";
    for (const route_t *r = routes; r->path; r++)
        if (strcmp (r->path, req->url) == 0 && strcmp (r->method, "POST") == 0)
            allow = "POST";
    web_header_add (response, "Allow", allow);
    web_header_add (response, "Content-Type", "application/json");
    return web_queue (req, 405, response);
}

/* The first call of a request: who it is from, and a form when a body is to come */
static request_t *
s_request_new (web_t *web, struct MHD_Connection *conn, const char *method, const char *url)
{
    request_t *req = calloc (1, sizeof *req);
    if (!req)
        return NULL;
    req->conn = conn;
    req->web = web;
    req->method = method;
    req->url = url;
    s_peer (req);
    const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = length ? strtoull (length, NULL, 10) : 0;
    unsigned long long limit = (unsigned long long)web->settings->max_size + HTTP_BODY_SLACK;
    if (announced > limit)
        req->too_big = true;
    req->drain = announced > limit && announced <= limit + HTTP_DRAIN_MAX;
    if (strcmp (method, "POST") == 0 &&
        MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)) {
        req->form = form_new (conn, &req->no_memory);
        req->bad_body = req->form == NULL && !req->no_memory;
    }
    return req;
}

/* A chunk of the body: fed to the form until it is too big or malformed, then swallowed, up to
   HTTP_DRAIN_MAX past the limit (a chunked upload announces no length). false: the upload goes
   on beyond that, and the connection is closed without an answer. */
static bool
s_body (request_t *req, const char *data, size_t size)
{
    size_t limit = (size_t)req->web->settings->max_size + HTTP_BODY_SLACK;
    req->received += size;
    if (req->received > limit)
        req->too_big = true;
    if (req->received > limit + HTTP_DRAIN_MAX) {
        log_warn ("web", "upload-cut", "peer=%s received=%zu limit=%zu", req->peer, req->received, limit);
        return false;
    }
    if (req->too_big || req->bad_body || req->no_memory)
        return true;
    int rc = req->form ? form_feed (req->form, data, size) : -1;
    req->no_memory = rc == FORM_NO_MEMORY;
    req->bad_body = rc != 0 && !req->no_memory;
    return true;
}

/* No request_t to be had: the 503 is answered for a stand-in on the stack */
static enum MHD_Result
s_no_request (web_t *web, struct MHD_Connection *conn, const char *method, const char *url)
{
    request_t stand_in = {.conn = conn, .web = web, .method = method, .url = url};
    s_peer (&stand_in);
    return web_no_memory (&stand_in);
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method, const char *version,
          const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    request_t *req = *con_cls;
    if (!req) {
        *con_cls = req = s_request_new (cls, conn, method, url);
        if (!req)
            return s_no_request (cls, conn, method, url);
        if (strcmp (method, "POST") == 0 && (!req->too_big || req->drain))
            return MHD_YES; /* the body comes in the next calls */
    }
    else if (*upload_data_size) {
        bool go_on = s_body (req, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return go_on ? MHD_YES : MHD_NO;
    }
    bool path_known;
    const route_t *route = s_route (method, url, &path_known);
    if (!route)
        return s_unrouted (req, path_known);
    enum MHD_Result rc;
    if (s_refused (req, route, &rc))
        return rc;
    return route->handler (req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    request_t *req = *con_cls;
    if (!req)
        return;
    form_destroy (&req->form);
    session_release (&req->session);
    free (req);
    *con_cls = NULL;
}

static void
s_mhd_log (void *cls, const char *format, va_list args)
{
    (void)cls;
    char line[512], quoted[600];
    int n = vsnprintf (line, sizeof line, format, args);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    /* libmicrohttpd's messages may carry what a client sent: quoted, never raw */
    log_warn ("web", "http", "detail=%s", log_quote (quoted, sizeof quoted, line, len));
}

struct MHD_Daemon *
http_start (web_t *web, const char *host, int port, const char *cert_pem, const char *key_pem, char **error)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char service[8];
    snprintf (service, sizeof service, "%d", port);
    if (getaddrinfo (host, service, &hints, &ai) != 0) {
        *error = strdup ("--listen: HOST must be an IPv4 address or [IPv6]");
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cert_pem)
        flags |= MHD_USE_TLS;
    const web_settings_t *s = web->settings;
    struct MHD_OptionItem tls[] = {
        {cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *daemon =
        MHD_start_daemon (flags, (uint16_t)port, NULL, NULL, s_access, web, MHD_OPTION_EXTERNAL_LOGGER,
                          s_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)s->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                          (unsigned)(s->max_connections > 8 ? s->max_connections / 2 : s->max_connections),
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_NOTIFY_COMPLETED,
                          s_completed, NULL, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
    freeaddrinfo (ai);
    if (!daemon)
        *error = strdup ("cannot listen there (in use, or not an address of this machine?)");
    return daemon;
}

void
http_stop (struct MHD_Daemon **daemon_p)
{
    if (*daemon_p)
        MHD_stop_daemon (*daemon_p);
    *daemon_p = NULL;
}
