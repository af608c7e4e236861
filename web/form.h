/*  form.h — a POST body's fields (application/x-www-form-urlencoded or multipart/form-data),
    decoded by libmicrohttpd's post processor and kept here, each bounded: at most
    FORM_MAX_FIELDS fields, and the caller bounds the total size. */
#ifndef MAILBUS_WEB_FORM_H
#define MAILBUS_WEB_FORM_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#define FORM_MAX_FIELDS 64

typedef struct form_t form_t;

typedef struct {
    const char *name;
    const char *filename; /* a file upload's name as the browser gave it, or NULL */
    const char *type;     /* its Content-Type, or NULL */
    const char *data;     /* NUL-terminated after len octets */
    size_t len;
} form_field_t;

/* form_feed's answer when memory ran out (the caller answers 503) */
#define FORM_NO_MEMORY -2

/* NULL when the request's Content-Type is not a form (the caller answers 400), or when memory
   ran out (*no_memory set: 503) */
form_t *form_new (struct MHD_Connection *conn, bool *no_memory);
void form_destroy (form_t **self_p);
/* Feeds body bytes; -1 when they are malformed or there are too many fields, FORM_NO_MEMORY
   when a field could not be kept */
int form_feed (form_t *self, const char *data, size_t size);
/* The first field called name, or NULL (also when self is NULL: no body) */
const form_field_t *form_get (form_t *self, const char *name);
/* The value of the first field called name as text, or NULL */
const char *form_value (form_t *self, const char *name);
/* Field i (0..), or NULL past the last */
const form_field_t *form_field (form_t *self, size_t i);

#endif
