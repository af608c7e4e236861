/*  routes.h — every route of mailbus-web, one row each (web/routes.c): the handlers live with
    what they serve (dash.c, mail.c, the static assets), the checks every row asks for are
    made once, before the handler, by http.c. */
#ifndef MAILBUS_WEB_ROUTES_H
#define MAILBUS_WEB_ROUTES_H

#include "web.h"

typedef enum {
    ROUTE_DASHBOARD = 1 << 0,   /* loopback or the dashboard password */
    ROUTE_SESSION = 1 << 1,     /* a logged-in webmail session (401 otherwise) */
    ROUTE_CSRF = 1 << 2,        /* the session's CSRF token in X-CSRF-Token (403 otherwise) */
    ROUTE_BODY = 1 << 3,        /* a form body, bounded by --max-message-size */
    ROUTE_SAME_ORIGIN = 1 << 4, /* an Origin header, when sent, must be this server (login) */
} route_flags_t;

typedef struct {
    const char *method;
    const char *path;
    enum MHD_Result (*handler) (request_t *req);
    unsigned flags;
} route_t;

/* The table, ending with a row whose path is NULL */
extern const route_t routes[];

#endif
