/*  web.h — what the parts of mailbus-web share: the settings, the request a route handler
    gets, and the replies it sends (every one with the security headers). */
#ifndef MAILBUS_WEB_H
#define MAILBUS_WEB_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef struct form_t form_t;
typedef struct session_t session_t;
typedef struct sessions_t sessions_t;
typedef struct feed_t feed_t;

/* The settings (web/main.c s_options[]) */
typedef struct {
    const char *config, *listen, *broker, *server_key, *db, *cert, *key;
    char *dashboard_password;
    int64_t max_connections, timeout_ms, max_size, session_idle_s, max_failures, block_s;
    bool verbose;
} web_settings_t;

typedef struct {
    const web_settings_t *settings;
    sessions_t *sessions;
    feed_t *feed;
    bool tls;
    volatile int stopping;
} web_t;

typedef struct {
    struct MHD_Connection *conn;
    web_t *web;
    const char *method, *url;
    char peer[64];  /* the client's address, for logs and throttles */
    bool loopback;  /* the client is on this machine */
    form_t *form;   /* a POST's fields */
    bool too_big;   /* the body passed --max-message-size */
    bool drain;     /* announced too big, but little enough to be read and thrown away first */
    bool bad_body;  /* the body could not be read as a form */
    bool no_memory; /* the body could not be kept for want of memory: 503 */
    size_t received;
    session_t *session; /* the webmail session (routes that need one), held */
} request_t;

/* Replies: each queues a response with the security headers and returns MHD's result */
enum MHD_Result web_reply (request_t *req, unsigned status, const char *type, const void *body, size_t len);
/* {"error":"text"} with status */
enum MHD_Result web_error (request_t *req, unsigned status, const char *text);
/* The JSON text built in json (freed) */
enum MHD_Result web_json (request_t *req, unsigned status, json_t *json);
/* A response made by the caller; the security headers and Cache-Control are added. NULL (its
   maker was short of memory): web_no_memory's 503 instead */
enum MHD_Result web_queue (request_t *req, unsigned status, struct MHD_Response *response);
/* MHD_add_response_header; nothing when response is NULL (its maker was short of memory) */
void web_header_add (struct MHD_Response *response, const char *name, const char *value);
/* A response that owns text (malloc'd, len octets); NULL, text freed, when memory ran out */
struct MHD_Response *web_response_take (char *text, size_t len);
/* Short of memory for the request: logged, and 503 (try again shortly) */
enum MHD_Result web_no_memory (request_t *req);
/* The Content-Security-Policy of the app's own pages */
extern const char *const web_csp;

/* A query argument (?name=value), or NULL */
const char *web_arg (request_t *req, const char *name);
/* A request header, or NULL */
const char *web_header (request_t *req, const char *name);

#endif
