/*  client_config.h — where a client program (mailbus-pub, mailbus-sub) finds its broker,
    user and password: a command-line option wins over the MAILBUS_* environment variable,
    which wins over the "client" section of the ZPL config file given with -c. */
#ifndef MAILBUS_CLIENT_CONFIG_H
#define MAILBUS_CLIENT_CONFIG_H

#include <czmq.h>

/* Loads path (NULL: no file) and fills each of *endpoint, *user, *password that is still
   NULL and whose environment variable (MAILBUS_BROKER, MAILBUS_USER, MAILBUS_PASSWORD) is
   unset from client/broker, client/user, client/password. The strings point into the
   returned config, which the caller destroys after it is done with them; other client/...
   keys may be read from it with config_get. Returns NULL with *error (caller frees) when
   the file is missing or not ZPL. Pass the results on to client_credentials. */
zconfig_t *client_config_apply (const char *path, const char **endpoint, const char **user,
                                const char **password, char **error);

#endif
