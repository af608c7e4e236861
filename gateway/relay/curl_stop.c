/*  curl_stop.c — see curl_stop.h */
#include "curl_stop.h"

#include <sys/socket.h>

bool
curl_stop_check (curl_stop_t *stop)
{
    while (stop->pipe && !stop->stopping && (zsock_events (stop->pipe) & ZMQ_POLLIN)) {
        char *command = zstr_recv (stop->pipe);
        stop->stopping = !command || streq (command, "$TERM");
        stop->flush = stop->flush || (command && streq (command, "FLUSH"));
        free (command);
    }
    return stop->stopping;
}

static int
s_progress (void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return curl_stop_check (arg) ? 1 : 0;
}

void
curl_stop_attach (CURL *curl, curl_stop_t *stop)
{
    curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, s_progress);
    curl_easy_setopt (curl, CURLOPT_XFERINFODATA, stop);
}

void
curl_stop_cleanup (CURL *curl, const curl_stop_t *stop, CURLcode last)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if ((stop->stopping || last == CURLE_OPERATION_TIMEDOUT) &&
        curl_easy_getinfo (curl, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK && fd != CURL_SOCKET_BAD)
        shutdown (fd, SHUT_RDWR);
    curl_easy_cleanup (curl);
}
