/*  curl_stop.h — a libcurl transfer inside a CZMQ actor that ends when the actor is told to
    stop: libcurl calls the progress callback at least once a second, also while it waits for
    a slow server, and the callback reads the actor's pipe. The relay worker and the POP3
    fetcher use it, so a gateway asked to stop does not wait out a 60 s transfer timeout. */
#ifndef MAILBUS_CURL_STOP_H
#define MAILBUS_CURL_STOP_H

#include <curl/curl.h>
#include <czmq.h>
#include <stdbool.h>

typedef struct {
    zsock_t *pipe; /* the actor's pipe, or NULL (outside an actor: never stops) */
    bool stopping; /* $TERM came (or the pipe closed): the transfer was aborted */
    bool flush;    /* FLUSH came: the caller goes on at once after this transfer */
} curl_stop_t;

/* Makes the transfer on curl watch stop's pipe (CURLOPT_XFERINFOFUNCTION); an aborted
   transfer ends with CURLE_ABORTED_BY_CALLBACK and stop->stopping set */
void curl_stop_attach (CURL *curl, curl_stop_t *stop);

/* Reads what waits on the pipe, without waiting: true once $TERM came */
bool curl_stop_check (curl_stop_t *stop);

/* curl_easy_cleanup, except that a connection whose transfer was cut short (stop->stopping)
   or timed out (last) is shut down first: libcurl's goodbye at cleanup (SMTP or POP3 QUIT)
   would otherwise wait for a hung server's answer for minutes */
void curl_stop_cleanup (CURL *curl, const curl_stop_t *stop, CURLcode last);

#endif
