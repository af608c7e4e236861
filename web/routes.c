/*  routes.c — the route table (see routes.h) and the static assets compiled in */
#include "routes.h"

#include <string.h>

#include "assets.h"
#include "dash.h"
#include "mail.h"

/* GET / is the webmail, /dashboard the dashboard, /static/NAME the rest */
static enum MHD_Result
s_static (request_t *req)
{
    const char *name = strcmp (req->url, "/") == 0            ? "index.html"
                       : strcmp (req->url, "/dashboard") == 0 ? "dashboard.html"
                                                              : req->url + strlen ("/static/");
    for (const asset_t *a = s_assets; a->name; a++)
        if (strcmp (a->name, name) == 0)
            return web_reply (req, 200, a->type, a->data, a->len);
    return web_error (req, 404, "no such page");
}

#define SESSION_POST (ROUTE_SESSION | ROUTE_CSRF | ROUTE_BODY)

// clang-format off
const route_t routes[] = {
    {"GET",  "/",                      s_static,         0},
    {"GET",  "/dashboard",             s_static,         ROUTE_DASHBOARD},
    {"GET",  "/static/app.js",         s_static,         0},
    {"GET",  "/static/dashboard.js",   s_static,         0},
    {"GET",  "/static/style.css",      s_static,         0},
    {"GET",  "/api/dashboard",         dash_snapshot,    ROUTE_DASHBOARD},
    {"GET",  "/api/dashboard/events",  dash_events,      ROUTE_DASHBOARD},
    {"POST", "/api/login",             mail_login,       ROUTE_BODY | ROUTE_SAME_ORIGIN},
    {"POST", "/api/logout",            mail_logout,      SESSION_POST},
    {"GET",  "/api/session",           mail_session,     ROUTE_SESSION},
    {"GET",  "/api/messages",          mail_list,        ROUTE_SESSION},
    {"GET",  "/api/message",           mail_read,        ROUTE_SESSION},
    {"GET",  "/api/message/html",      mail_html,        ROUTE_SESSION},
    {"GET",  "/api/message/part",      mail_part,        ROUTE_SESSION},
    {"POST", "/api/delete",            mail_delete,      SESSION_POST},
    {"POST", "/api/send",              mail_send,        SESSION_POST},
    {"POST", "/api/subscribe",         mail_subscribe,   SESSION_POST},
    {"POST", "/api/unsubscribe",       mail_subscribe,   SESSION_POST},
    {"GET",  "/api/events",            mail_events,      ROUTE_SESSION},
    {NULL, NULL, NULL, 0},
};
// clang-format on
