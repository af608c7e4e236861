/*  render.c — see render.h */
#include "render.h"

#include "check.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void
render_init (void)
{
    g_mime_init ();
}

void
render_shutdown (void)
{
    g_mime_shutdown ();
}

/* The leaves of a message, depth first, as "parts" numbers them */
typedef struct {
    GPtrArray *leaves; /* GMimeObject *, borrowed from the message */
} walk_t;

static void
s_collect (GMimeObject *parent, GMimeObject *part, gpointer data)
{
    (void)parent;
    walk_t *walk = data;
    if (GMIME_IS_PART (part) || GMIME_IS_MESSAGE_PART (part))
        g_ptr_array_add (walk->leaves, part);
}

static GMimeMessage *
s_parse (const char *data, size_t size)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (data, size);
    GMimeParser *parser = g_mime_parser_new_with_stream (stream);
    GMimeMessage *message = g_mime_parser_construct_message (parser, NULL);
    g_object_unref (parser);
    g_object_unref (stream);
    return message;
}

/* "text", "html" or "attachment" */
static const char *
s_kind (GMimeObject *part)
{
    if (!GMIME_IS_PART (part))
        return "attachment";
    GMimeContentType *type = g_mime_object_get_content_type (part);
    bool named = g_mime_part_get_filename (GMIME_PART (part)) != NULL;
    if (g_mime_part_is_attachment (GMIME_PART (part)) || named || !type)
        return "attachment";
    if (g_mime_content_type_is_type (type, "text", "plain"))
        return "text";
    if (g_mime_content_type_is_type (type, "text", "html"))
        return "html";
    return "attachment";
}

/* The decoded content of a leaf (a message/rfc822 leaf: the inner message as it is) */
static GByteArray *
s_decoded (GMimeObject *part)
{
    GMimeStream *stream = g_mime_stream_mem_new ();
    if (GMIME_IS_MESSAGE_PART (part)) {
        GMimeMessage *inner = g_mime_message_part_get_message (GMIME_MESSAGE_PART (part));
        if (inner)
            g_mime_object_write_to_stream (GMIME_OBJECT (inner), NULL, stream);
    }
    else {
        GMimeDataWrapper *content = g_mime_part_get_content (GMIME_PART (part));
        if (content)
            g_mime_data_wrapper_write_to_stream (content, stream);
    }
    GByteArray *bytes = g_byte_array_new ();
    GByteArray *owned = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (stream));
    g_byte_array_append (bytes, owned->data, owned->len);
    g_object_unref (stream);
    return bytes;
}

static char *
s_type_of (GMimeObject *part)
{
    GMimeContentType *type = g_mime_object_get_content_type (part);
    char *mime = type ? g_mime_content_type_get_mime_type (type) : NULL;
    char *copy = strdup (mime ? mime : "application/octet-stream");
    g_free (mime);
    return copy;
}

static char *
s_safe_name (GMimeObject *part, int index)
{
    const char *name = GMIME_IS_PART (part) ? g_mime_part_get_filename (GMIME_PART (part)) : NULL;
    char safe[128];
    check_filename (name, index, safe, sizeof safe);
    return strdup (safe);
}

static void
s_addresses (GMimeMessage *message, GMimeAddressType type, const char *key, json_t *out)
{
    InternetAddressList *list = g_mime_message_get_addresses (message, type);
    char *text = list ? internet_address_list_to_string (list, NULL, FALSE) : NULL;
    json_kstr (out, key, text ? text : "");
    g_free (text);
}

static void
s_header (GMimeMessage *message, const char *name, const char *key, json_t *out)
{
    const char *value = g_mime_object_get_header (GMIME_OBJECT (message), name);
    json_kstr (out, key, value ? value : "");
}

/* "text": every text/plain leaf that is not an attachment, decoded to UTF-8 */
static void
s_text (GPtrArray *leaves, json_t *out)
{
    GString *text = g_string_new ("");
    for (guint i = 0; i < leaves->len; i++) {
        GMimeObject *part = g_ptr_array_index (leaves, i);
        if (strcmp (s_kind (part), "text") != 0 || !GMIME_IS_TEXT_PART (part))
            continue;
        char *piece = g_mime_text_part_get_text (GMIME_TEXT_PART (part));
        if (piece)
            g_string_append (text, piece);
        g_free (piece);
    }
    json_key (out, "text");
    json_strn (out, text->str, text->len);
    g_string_free (text, TRUE);
}

static void
s_parts (GPtrArray *leaves, json_t *out)
{
    json_key (out, "parts");
    json_raw (out, "[");
    for (guint i = 0; i < leaves->len; i++) {
        GMimeObject *part = g_ptr_array_index (leaves, i);
        GByteArray *bytes = s_decoded (part);
        char *type = s_type_of (part), *name = s_safe_name (part, (int)i);
        json_comma (out);
        json_raw (out, "{");
        json_int (out, "index", i);
        json_kstr (out, "kind", s_kind (part));
        json_kstr (out, "type", type ? type : "application/octet-stream"); /* NULL: out of memory */
        json_kstr (out, "filename", name ? name : "");
        json_int (out, "size", bytes->len);
        json_raw (out, "}");
        free (type);
        free (name);
        g_byte_array_unref (bytes);
    }
    json_raw (out, "]");
}

int
render_message_json (const char *data, size_t size, json_t *out)
{
    GMimeMessage *message = s_parse (data, size);
    if (!message)
        return -1;
    walk_t walk = {g_ptr_array_new ()};
    g_mime_message_foreach (message, s_collect, &walk); /* the top part too, first */
    json_comma (out);
    json_raw (out, "{");
    s_addresses (message, GMIME_ADDRESS_TYPE_FROM, "from", out);
    s_addresses (message, GMIME_ADDRESS_TYPE_TO, "to", out);
    s_addresses (message, GMIME_ADDRESS_TYPE_CC, "cc", out);
    const char *subject = g_mime_message_get_subject (message);
    json_kstr (out, "subject", subject ? subject : "");
    s_header (message, "Date", "date", out);
    s_text (walk.leaves, out);
    s_parts (walk.leaves, out);
    json_raw (out, "}");
    g_ptr_array_free (walk.leaves, TRUE);
    g_object_unref (message);
    return 0;
}

/* Calls fn with leaf number index of the message: fn's result, or -1 when the bytes are no
   message or there is no such leaf */
static int
s_with_leaf (const char *data, size_t size, int index, int (*fn) (GMimeObject *part, int index, void *arg),
             void *arg)
{
    GMimeMessage *message = s_parse (data, size);
    if (!message)
        return -1;
    walk_t walk = {g_ptr_array_new ()};
    g_mime_message_foreach (message, s_collect, &walk); /* the top part too, first */
    int rc = -1;
    if (index >= 0 && (guint)index < walk.leaves->len)
        rc = fn (g_ptr_array_index (walk.leaves, index), index, arg);
    g_ptr_array_free (walk.leaves, TRUE);
    g_object_unref (message);
    return rc;
}

typedef struct {
    char **bytes, **type, **filename, **text;
    size_t *len;
} leaf_out_t;

static int
s_take_part (GMimeObject *part, int index, void *arg)
{
    leaf_out_t *out = arg;
    GByteArray *decoded = s_decoded (part);
    *out->len = decoded->len;
    *out->bytes = malloc (decoded->len ? decoded->len : 1);
    if (*out->bytes && decoded->len)
        memcpy (*out->bytes, decoded->data, decoded->len);
    *out->type = s_type_of (part);
    *out->filename = s_safe_name (part, index);
    g_byte_array_unref (decoded);
    if (*out->bytes && *out->type && *out->filename)
        return 0;
    free (*out->bytes);
    free (*out->type);
    free (*out->filename);
    *out->bytes = *out->type = *out->filename = NULL;
    return RENDER_NO_MEMORY;
}

int
render_part (const char *data, size_t size, int index, char **bytes, size_t *len, char **type,
             char **filename)
{
    leaf_out_t out = {.bytes = bytes, .type = type, .filename = filename, .len = len};
    return s_with_leaf (data, size, index, s_take_part, &out);
}

static int
s_take_html (GMimeObject *part, int index, void *arg)
{
    (void)index;
    leaf_out_t *out = arg;
    if (!GMIME_IS_TEXT_PART (part) || strcmp (s_kind (part), "html") != 0)
        return -1;
    char *utf8 = g_mime_text_part_get_text (GMIME_TEXT_PART (part));
    *out->text = strdup (utf8 ? utf8 : "");
    g_free (utf8);
    return *out->text ? 0 : RENDER_NO_MEMORY;
}

int
render_html (const char *data, size_t size, int index, char **text)
{
    leaf_out_t out = {.text = text};
    return s_with_leaf (data, size, index, s_take_html, &out);
}
