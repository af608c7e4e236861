/*  config.c — ZPL configuration. */
#include "config.h"

#include <string.h>

zconfig_t *
config_load (const char *path, char **error)
{
    if (!path)
        return zconfig_new ("root", NULL);
    if (!zsys_file_exists (path)) {
        *error = zsys_sprintf ("config file %s not found", path);
        return NULL;
    }
    zconfig_t *config = zconfig_load (path);
    if (!config) {
        *error = zsys_sprintf ("config file %s is not valid ZPL (see docs/mailbus.cfg)", path);
        return NULL;
    }
    return config;
}

const char *
config_get (zconfig_t *config, const char *path, const char *dflt)
{
    if (!config)
        return dflt;
    const char *value = zconfig_get (config, path, NULL);
    return value && *value ? value : dflt;
}

char **
config_words (const char *value)
{
    if (!value)
        return NULL;
    size_t max = strlen (value) / 2 + 2;
    char **words = calloc (max, sizeof (char *));
    char *copy = strdup (value);
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r (copy, " ,\t", &save); w && n < max - 1; w = strtok_r (NULL, " ,\t", &save))
        words[n++] = strdup (w);
    free (copy);
    return words;
}

void
config_words_free (char ***words_p)
{
    if (!words_p || !*words_p)
        return;
    for (char **w = *words_p; *w; w++)
        free (*w);
    free (*words_p);
    *words_p = NULL;
}
