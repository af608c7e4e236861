/*  http.h — mailbus-web's HTTP face on libmicrohttpd: one thread per connection (bounded
    in number, with an idle timeout), the route table (method, path, who may call it, what
    it needs), bodies read as bounded forms, and the replies with their security headers. */
#ifndef MAILBUS_WEB_HTTP_H
#define MAILBUS_WEB_HTTP_H

#include "web.h"

/* The session cookie's name */
#define HTTP_COOKIE "mbweb"

/* Starts listening on host:port (TLS when cert_pem and key_pem are given). NULL with
 *error (caller frees). */
struct MHD_Daemon *http_start (web_t *web, const char *host, int port, const char *cert_pem,
                               const char *key_pem, char **error);
void http_stop (struct MHD_Daemon **daemon_p);

#endif
