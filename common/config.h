/*  config.h — the one config file format of every mailbus program: ZPL (ZeroMQ RFC 4),
    read with CZMQ's zconfig. Options given on the command line win over the file. */
#ifndef MAILBUS_CONFIG_H
#define MAILBUS_CONFIG_H

#include <czmq.h>

/* Loads path; NULL path gives an empty config. Returns NULL and a message in *error
   (caller frees) when the file is missing or not ZPL. */
zconfig_t *config_load (const char *path, char **error);

/* The value at "section/key", or dflt when absent or empty */
const char *config_get (zconfig_t *config, const char *path, const char *dflt);

/* The space- or comma-separated words of a value, as a NULL-terminated array of strings
   (the caller frees with config_words_free). Returns NULL when the value is absent. */
char **config_words (const char *value);
void config_words_free (char ***words_p);

#endif
