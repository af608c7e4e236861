/*  relay.h — the relay worker: an actor that claims due entries of the broker's outbound
    queue, delivers each over real SMTP with libcurl (to the route for its domain, or the
    smarthost; STARTTLS required unless configured otherwise, AUTH only inside TLS), reports
    the result to the broker and, when an entry fails for good, sends the sender a bounce. */
#ifndef MAILBUS_RELAY_H
#define MAILBUS_RELAY_H

#include <czmq.h>

typedef enum { RELAY_TLS_STARTTLS = 0, RELAY_TLS_IMPLICIT, RELAY_TLS_NONE } relay_tls_t;

#define RELAY_MAX_ROUTES 32

typedef struct {
    const char *broker;       /* broker endpoint */
    const char *gateway_user; /* the gateway identity (role gateway) */
    const char *gateway_password;
    const char *hostname;   /* EHLO name, Reporting-MTA */
    const char *postmaster; /* From: of bounces */
    const char *smarthost;  /* host:port, or NULL */
    relay_tls_t tls;
    const char *auth_user; /* NULL: no AUTH */
    const char *auth_password;
    const char *ca_file;                      /* NULL: the system's CAs */
    const char *routes[RELAY_MAX_ROUTES + 1]; /* "domain=host:port", NULL-terminated */
    int interval_ms;                          /* how often to look for due entries */
    int timeout_s;                            /* per SMTP conversation */
} relay_config_t;

/* Parses "starttls" | "implicit" | "none"; -1 when it is none of them */
int relay_tls_parse (const char *text, relay_tls_t *tls);

/* Reads a --smarthost-auth file: one line "user password". Strings are the caller's (free);
   -1 with *error NULL when out of memory. */
int relay_auth_load (const char *path, char **user, char **password, char **error);

/* The host:port for recipient: its domain's route, else the smarthost, else NULL */
const char *relay_route (const relay_config_t *config, const char *recipient);

/* Starts the worker (worker.h; the config must outlive it). Send it "FLUSH" to look for due
   entries at once. */
zactor_t *relay_actor_new (const relay_config_t *config);

#endif
