/*  form.c — see form.h */
#include "form.h"

#include <stdlib.h>
#include <string.h>

#define FORM_BUFFER 16384

typedef struct {
    char *name, *filename, *type;
    char *data;
    size_t len;
} field_t;

struct form_t {
    struct MHD_PostProcessor *pp;
    field_t fields[FORM_MAX_FIELDS];
    size_t count;
    bool overflow;
    bool no_memory; /* a field could not be kept */
    form_field_t view;
};

static void
s_field_free (field_t *f)
{
    free (f->name);
    free (f->filename);
    free (f->type);
    free (f->data);
}

/* The next field, empty; NULL (and no_memory) when its copies could not be made */
static field_t *
s_field_start (form_t *self, const char *key, const char *filename, const char *type)
{
    field_t f = {strdup (key), filename ? strdup (filename) : NULL, type ? strdup (type) : NULL,
                 calloc (1, 1), 0};
    if (!f.name || (filename && !f.filename) || (type && !f.type) || !f.data) {
        s_field_free (&f);
        self->no_memory = true;
        return NULL;
    }
    self->fields[self->count] = f;
    return &self->fields[self->count++];
}

/* One call per chunk of a field's value; a new field starts at off 0 (or with a new key) */
static enum MHD_Result
s_iterate (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename, const char *type,
           const char *encoding, const char *data, uint64_t off, size_t size)
{
    (void)kind;
    (void)encoding;
    form_t *self = cls;
    field_t *last = self->count ? &self->fields[self->count - 1] : NULL;
    bool same = last && off > 0 && strcmp (last->name, key) == 0;
    if (!same) {
        if (self->count == FORM_MAX_FIELDS) {
            self->overflow = true;
            return MHD_NO;
        }
        last = s_field_start (self, key, filename, type);
        if (!last)
            return MHD_NO;
    }
    char *grown = realloc (last->data, last->len + size + 1);
    if (!grown) {
        self->no_memory = true;
        return MHD_NO;
    }
    memcpy (grown + last->len, data, size);
    last->data = grown;
    last->len += size;
    last->data[last->len] = '\0';
    return MHD_YES;
}

form_t *
form_new (struct MHD_Connection *conn, bool *no_memory)
{
    form_t *self = calloc (1, sizeof *self);
    *no_memory = !self;
    if (!self)
        return NULL;
    self->pp = MHD_create_post_processor (conn, FORM_BUFFER, s_iterate, self);
    if (!self->pp) {
        free (self);
        return NULL;
    }
    return self;
}

void
form_destroy (form_t **self_p)
{
    form_t *self = *self_p;
    if (!self)
        return;
    if (self->pp)
        MHD_destroy_post_processor (self->pp);
    for (size_t i = 0; i < self->count; i++)
        s_field_free (&self->fields[i]);
    free (self);
    *self_p = NULL;
}

int
form_feed (form_t *self, const char *data, size_t size)
{
    if (MHD_post_process (self->pp, data, size) != MHD_YES || self->overflow)
        return self->no_memory ? FORM_NO_MEMORY : -1;
    return 0;
}

const form_field_t *
form_field (form_t *self, size_t i)
{
    if (!self || i >= self->count)
        return NULL;
    field_t *f = &self->fields[i];
    self->view = (form_field_t){f->name, f->filename, f->type, f->data, f->len};
    return &self->view;
}

const form_field_t *
form_get (form_t *self, const char *name)
{
    if (!self)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->fields[i].name, name) == 0)
            return form_field (self, i);
    return NULL;
}

const char *
form_value (form_t *self, const char *name)
{
    const form_field_t *f = form_get (self, name);
    return f ? f->data : NULL;
}
