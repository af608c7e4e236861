/*  client_config.c — options > environment > config file, for client programs. */
#include "client_config.h"

#include <stdlib.h>

#include "config.h"

static void
s_fill (zconfig_t *config, const char **value, const char *env, const char *key)
{
    if (*value || getenv (env))
        return;
    *value = config_get (config, key, NULL);
}

zconfig_t *
client_config_apply (const char *path, const char **endpoint, const char **user, const char **password,
                     char **error)
{
    zconfig_t *config = config_load (path, error);
    if (!config)
        return NULL;
    s_fill (config, endpoint, "MAILBUS_BROKER", "client/broker");
    s_fill (config, user, "MAILBUS_USER", "client/user");
    s_fill (config, password, "MAILBUS_PASSWORD", "client/password");
    return config;
}
