/*  relay.c — the relay worker: outbound queue -> SMTP with libcurl. */
#include "relay.h"

#include <assert.h>
#include <curl/curl.h>
#include <gmime/gmime.h>
#include <string.h>
#include <strings.h>

#include "bounce.h"
#include "client.h"
#include "curl_stop.h"
#include "log.h"
#include "worker.h"
#include "proto.h"

/* Entries claimed per round, and how long a claim lasts (a killed worker's entries come back) */
#define RELAY_BATCH 10
#define RELAY_CLAIM_SECONDS 300

int
relay_tls_parse (const char *text, relay_tls_t *tls)
{
    if (!text || strcmp (text, "starttls") == 0)
        *tls = RELAY_TLS_STARTTLS;
    else if (strcmp (text, "implicit") == 0)
        *tls = RELAY_TLS_IMPLICIT;
    else if (strcmp (text, "none") == 0)
        *tls = RELAY_TLS_NONE;
    else
        return -1;
    return 0;
}

int
relay_auth_load (const char *path, char **user, char **password, char **error)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        *error = zsys_sprintf ("cannot read %s", path);
        return -1;
    }
    char line[600], u[300], p[300];
    int ok = fgets (line, sizeof line, file) && sscanf (line, "%299s %299s", u, p) == 2;
    fclose (file);
    if (!ok) {
        *error = zsys_sprintf ("%s must hold one line: USER PASSWORD", path);
        return -1;
    }
    *user = strdup (u);
    *password = strdup (p);
    if (!*user || !*password) {
        *error = NULL; /* out of memory: the caller says so */
        return -1;
    }
    return 0;
}

const char *
relay_route (const relay_config_t *config, const char *recipient)
{
    assert (config && recipient);
    const char *at = strrchr (recipient, '@');
    const char *domain = at ? at + 1 : recipient;
    size_t len = strlen (domain);
    for (const char *const *route = config->routes; *route; route++) {
        const char *eq = strchr (*route, '=');
        if (eq && (size_t)(eq - *route) == len && strncasecmp (*route, domain, len) == 0)
            return eq + 1;
    }
    return config->smarthost;
}

typedef struct {
    const char *data;
    size_t size, offset;
} upload_t;

static size_t
s_read (char *buffer, size_t size, size_t count, void *arg)
{
    upload_t *up = arg;
    size_t n = size * count;
    if (n > up->size - up->offset)
        n = up->size - up->offset;
    memcpy (buffer, up->data + up->offset, n);
    up->offset += n;
    return n;
}

/* Keeps the server's last 4xx/5xx reply line: libcurl tells the code, the text is what a
   bounce needs (the QUIT that follows a failure must not overwrite it) */
static int
s_debug (CURL *curl, curl_infotype type, char *data, size_t size, void *arg)
{
    (void)curl;
    if (type == CURLINFO_HEADER_IN && size >= 4 && (data[0] == '4' || data[0] == '5')) {
        char *last = arg;
        size_t n = size < 511 ? size : 511;
        memcpy (last, data, n);
        last[n] = '\0';
        last[strcspn (last, "\r\n")] = '\0';
    }
    return 0;
}

/* STOPPED: the gateway was told to stop during the conversation, which was cut short */
typedef enum { DELIVERED, TRANSIENT, PERMANENT, STOPPED } outcome_t;

/* One SMTP conversation: MAIL FROM sender, RCPT TO recipient, DATA body */
static outcome_t
s_deliver (const relay_config_t *config, curl_stop_t *stop, const char *hostport, const char *sender,
           const char *recipient, const char *body, size_t size, char *why, size_t why_size)
{
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (why, why_size, "451 4.3.0 cannot start an SMTP client");
        return TRANSIENT;
    }
    char url[600], from[300], to[300], error[CURL_ERROR_SIZE] = "", last[512] = "";
    snprintf (url, sizeof url, "%s://%s/%s", config->tls == RELAY_TLS_IMPLICIT ? "smtps" : "smtp", hostport,
              config->hostname);
    snprintf (from, sizeof from, "<%s>", sender);
    snprintf (to, sizeof to, "<%s>", recipient);
    struct curl_slist *rcpt = curl_slist_append (NULL, to);
    upload_t up = {body, size, 0};
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt (curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt (curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt (curl, CURLOPT_READFUNCTION, s_read);
    curl_easy_setopt (curl, CURLOPT_READDATA, &up);
    curl_easy_setopt (curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt (curl, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt (curl, CURLOPT_DEBUGFUNCTION, s_debug);
    curl_easy_setopt (curl, CURLOPT_DEBUGDATA, (void *)last);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, (long)config->timeout_s);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    /* RFC 3207: with STARTTLS required, a server that does not offer it gets nothing: no
       downgrade. The certificate is checked against the configured CA. */
    curl_easy_setopt (curl, CURLOPT_USE_SSL,
                      config->tls == RELAY_TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt (curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    /* RFC 4954 14: never AUTH in plaintext */
    if (config->auth_user && config->tls != RELAY_TLS_NONE) {
        curl_easy_setopt (curl, CURLOPT_USERNAME, config->auth_user);
        curl_easy_setopt (curl, CURLOPT_PASSWORD, config->auth_password);
    }
    curl_stop_attach (curl, stop);
    CURLcode rc = curl_easy_perform (curl);
    long code = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all (rcpt);
    curl_stop_cleanup (curl, stop, rc);

    if (rc == CURLE_OK) {
        snprintf (why, why_size, "250 delivered to %s", hostport);
        return DELIVERED;
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK && stop->stopping) {
        snprintf (why, why_size, "gateway stopping: cut short at %s", hostport);
        return STOPPED;
    }
    if (code >= 500 && code < 600) {
        snprintf (why, why_size, "%s", *last ? last : error);
        return PERMANENT;
    }
    if (code >= 400 && code < 500)
        snprintf (why, why_size, "%s", *last ? last : error);
    else
        snprintf (why, why_size, "451 4.4.1 %s: %s", hostport, *error ? error : curl_easy_strerror (rc));
    return TRANSIENT;
}

/* One round's context */
typedef struct {
    const relay_config_t *config;
    client_t *client;
    curl_stop_t *stop; /* the actor's pipe, read also in the middle of a delivery */
} relay_round_t;

/* Tells the broker what happened; returns true when the broker asks for a bounce */
static bool
s_report (relay_round_t *self, const char *verb, const char *id, const char *why)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, id);
    if (strcmp (verb, "DEFER") == 0 || strcmp (verb, "FAIL") == 0)
        zmsg_addstr (args, why);
    zmsg_t *reply = client_call (self->client, verb, args);
    bool bounce = false;
    int code = 0;
    if (reply && proto_reply_status (reply, &code, NULL, 0) == 0 && reply_is_success (code)) {
        zmsg_first (reply);
        zframe_t *data = zmsg_next (reply);
        bounce = data && zframe_streq (data, "bounce");
    }
    else
        log_warn ("gateway", "relay-report-failed", "entry=%s verb=%s", id, verb);
    zmsg_destroy (&reply);
    return bounce;
}

static void
s_bounce (relay_round_t *self, const char *sender, const char *recipient, const char *why, const char *body,
          size_t size)
{
    /* RFC 5321 6.1: a bounce is never bounced, and goes to the envelope sender */
    if (!*sender)
        return;
    bounce_t b = {self->config->hostname, self->config->postmaster, sender, recipient, why, body, size};
    size_t dsn_size = 0;
    char *dsn = bounce_build (&b, &dsn_size);
    if (!dsn) {
        log_warn ("gateway", "out-of-memory", "where=bounce to=%s rcpt=%s", sender, recipient);
        return;
    }
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, "");
    zmsg_addstr (args, sender);
    zmsg_addmem (args, dsn, dsn_size);
    free (dsn);
    zmsg_t *reply = client_call (self->client, "SEND", args);
    char line[512] = "";
    int code = 0;
    proto_reply_status (reply, &code, line, sizeof line);
    log_info ("gateway", "bounce", "to=%s rcpt=%s reply=\"%s\"", sender, recipient,
              reply ? line : "no answer");
    zmsg_destroy (&reply);
}

/* One claimed entry (frames: id, sender, recipient, ..., body): delivered, reported and,
   when the broker asks, bounced */
static void
s_handle_entry (relay_round_t *self, zframe_t *frames[6])
{
    char *id = zframe_strdup (frames[0]), *sender = zframe_strdup (frames[1]);
    char *recipient = zframe_strdup (frames[2]);
    const char *body = (const char *)zframe_data (frames[5]);
    size_t size = zframe_size (frames[5]);
    const char *hostport = relay_route (self->config, recipient);
    char why[600];
    outcome_t outcome = TRANSIENT;
    if (curl_stop_check (self->stop)) {
        outcome = STOPPED;
        snprintf (why, sizeof why, "gateway stopping: not tried");
    }
    else if (!hostport)
        snprintf (why, sizeof why, "451 4.4.0 no route to %s: give --route or --smarthost", recipient);
    else
        outcome =
            s_deliver (self->config, self->stop, hostport, sender, recipient, body, size, why, sizeof why);
    /* a stopping worker gives its claims back (RELEASE) instead of leaving them to run out:
       the next worker tries them at once, and an attempt cut short does not count */
    static const char *const names[] = {"delivered", "deferred", "failed", "released"};
    static const char *const verbs[] = {"RELAYED", "DEFER", "FAIL", "RELEASE"};
    /* addresses passed address_parse (dot-atoms); the reply is the remote server's: quoted */
    char reply[sizeof why * 4 + 8];
    log_info ("gateway", "relay", "entry=%s rcpt=%s via=%s outcome=%s reply=%s", id, recipient,
              hostport ? hostport : "-", names[outcome], log_quote (reply, sizeof reply, why, strlen (why)));
    if (s_report (self, verbs[outcome], id, why))
        s_bounce (self, sender, recipient, why, body, size);
    free (id);
    free (sender);
    free (recipient);
}

/* One round: claim due entries, deliver, report. Returns how many were handled. */
static int
s_round (relay_round_t *self)
{
    zmsg_t *args = zmsg_new ();
    zmsg_addstrf (args, "%d", RELAY_BATCH);
    zmsg_addstrf (args, "%d", RELAY_CLAIM_SECONDS);
    zmsg_t *reply = client_call (self->client, "CLAIM", args);
    int code = 0, handled = 0;
    if (!reply || proto_reply_status (reply, &code, NULL, 0) != 0 || !reply_is_success (code)) {
        zmsg_destroy (&reply);
        return -1;
    }
    zmsg_first (reply);
    while (zmsg_size (reply) > 1) {
        zframe_t *frames[6] = {NULL};
        for (int i = 0; i < 6; i++)
            frames[i] = zmsg_next (reply);
        if (!frames[5])
            break;
        s_handle_entry (self, frames);
        handled++;
        /* the frames are consumed: drop them so the loop sees what is left */
        for (int i = 0; i < 6; i++) {
            zframe_t *frame = frames[i];
            zmsg_remove (reply, frame);
            zframe_destroy (&frame);
        }
        zmsg_first (reply);
    }
    zmsg_destroy (&reply);
    return handled;
}

/* The worker's round (worker.h): a full batch means more may be due */
static worker_result_t
s_relay_round (void *args, client_t *client, curl_stop_t *stop)
{
    relay_round_t self = {args, client, stop};
    int handled = s_round (&self);
    return handled < 0 ? WORKER_BROKEN : handled == RELAY_BATCH ? WORKER_MORE : WORKER_DONE;
}

zactor_t *
relay_actor_new (const relay_config_t *config)
{
    worker_config_t worker = {
        "relay",       config->broker, config->gateway_user, config->gateway_password, config->interval_ms,
        s_relay_round, (void *)config};
    return worker_new (&worker);
}
