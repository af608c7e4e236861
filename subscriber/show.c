/*  show.c — reading a message with GMime. */
#include "show.h"

#include <gmime/gmime.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

typedef struct {
    GMimeObject *object; /* a GMimePart or a GMimeMessagePart */
    char *name;          /* as the sender gave it, or one we made up; UTF-8 */
} attachment_t;

struct show_t {
    GMimeMessage *message;
    GMimeObject *body;     /* the text/plain part shown, or NULL */
    GMimeObject *fallback; /* a text/html part, when there is no text/plain */
    GPtrArray *attachments;
};

void
show_init (void)
{
    g_mime_init ();
}

void
show_shutdown (void)
{
    g_mime_shutdown ();
}

static void
s_attachment_free (gpointer data)
{
    attachment_t *attachment = data;
    g_object_unref (attachment->object);
    free (attachment->name);
    free (attachment);
}

static void
s_add_attachment (show_t *self, GMimeObject *object, const char *name, const char *extension)
{
    attachment_t *attachment = calloc (1, sizeof *attachment);
    attachment->object = g_object_ref (object);
    if (name && *name)
        attachment->name = strdup (name);
    else if (asprintf (&attachment->name, "part-%u%s", self->attachments->len + 1, extension) < 0)
        attachment->name = strdup ("part");
    g_ptr_array_add (self->attachments, attachment);
}

/* Sorts each leaf of the MIME tree: the first inline text/plain is the body, anything with
   a filename or an attachment disposition is an attachment, other non-text parts (inline
   images) too; the remaining text parts are alternatives of the body. */
static void
s_visit (GMimeObject *parent, GMimeObject *part, gpointer user_data)
{
    (void)parent;
    show_t *self = user_data;
    if (GMIME_IS_MESSAGE_PART (part)) {
        const char *name = g_mime_object_get_content_disposition_parameter (part, "filename");
        s_add_attachment (self, part, name, ".eml");
        return;
    }
    if (!GMIME_IS_PART (part))
        return; /* multiparts: foreach visits their children */
    const char *filename = g_mime_part_get_filename (GMIME_PART (part));
    GMimeContentType *type = g_mime_object_get_content_type (part);
    bool text = type && g_mime_content_type_is_type (type, "text", "*");
    if (!g_mime_part_is_attachment (GMIME_PART (part)) && !filename && text) {
        if (!self->body && g_mime_content_type_is_type (type, "text", "plain"))
            self->body = part;
        else if (!self->fallback && g_mime_content_type_is_type (type, "text", "html"))
            self->fallback = part;
        return;
    }
    s_add_attachment (self, part, filename, text ? ".txt" : ".bin");
}

show_t *
show_new (const char *data, size_t size)
{
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (data, size);
    GMimeParser *parser = g_mime_parser_new_with_stream (stream);
    GMimeMessage *message = g_mime_parser_construct_message (parser, NULL);
    g_object_unref (parser);
    g_object_unref (stream);
    if (!message)
        return NULL;
    show_t *self = calloc (1, sizeof *self);
    self->message = message;
    self->attachments = g_ptr_array_new_with_free_func (s_attachment_free);
    g_mime_message_foreach (message, s_visit, self);
    return self;
}

void
show_destroy (show_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    show_t *self = *self_p;
    g_ptr_array_free (self->attachments, TRUE);
    g_object_unref (self->message);
    free (self);
    *self_p = NULL;
}

size_t
show_attachment_count (show_t *self)
{
    return self->attachments->len;
}

/* Writes text for a terminal: no escape sequences or other controls, no CR */
static void
s_print_clean (FILE *out, const char *text, bool keep_newlines)
{
    for (const unsigned char *p = (const unsigned char *)text; p && *p; p++) {
        if (*p == '\r')
            continue;
        if ((*p == '\n' && keep_newlines) || *p == '\t' || (*p >= 0x20 && *p != 0x7f))
            fputc (*p, out);
        else
            fputc (' ', out);
    }
}

static void
s_print_header (FILE *out, const char *name, const char *value)
{
    if (!value || !*value)
        return;
    fprintf (out, "%-9s", name);
    s_print_clean (out, value, false);
    fputc ('\n', out);
}

static void
s_print_addresses (FILE *out, GMimeMessage *message, const char *name, GMimeAddressType type)
{
    InternetAddressList *list = g_mime_message_get_addresses (message, type);
    if (!list || internet_address_list_length (list) == 0)
        return;
    char *text = internet_address_list_to_string (list, NULL, FALSE);
    s_print_header (out, name, text);
    g_free (text);
}

/* The decoded bytes of a part (transfer encoding undone) */
static GByteArray *
s_decoded (GMimeObject *object)
{
    GMimeStream *stream = g_mime_stream_mem_new ();
    if (GMIME_IS_MESSAGE_PART (object)) {
        GMimeMessage *inner = g_mime_message_part_get_message (GMIME_MESSAGE_PART (object));
        if (inner)
            g_mime_object_write_to_stream (GMIME_OBJECT (inner), NULL, stream);
    }
    else {
        GMimeDataWrapper *content = g_mime_part_get_content (GMIME_PART (object));
        if (content)
            g_mime_data_wrapper_write_to_stream (content, stream);
    }
    GByteArray *bytes = g_byte_array_new ();
    GByteArray *owned = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (stream));
    g_byte_array_append (bytes, owned->data, owned->len);
    g_object_unref (stream);
    return bytes;
}

void
show_print (show_t *self, FILE *out)
{
    GMimeObject *message = GMIME_OBJECT (self->message);
    s_print_header (out, "Date:", g_mime_object_get_header (message, "Date"));
    s_print_addresses (out, self->message, "From:", GMIME_ADDRESS_TYPE_FROM);
    s_print_addresses (out, self->message, "To:", GMIME_ADDRESS_TYPE_TO);
    s_print_addresses (out, self->message, "Cc:", GMIME_ADDRESS_TYPE_CC);
    /* GMime decodes RFC 2047 encoded words in the subject */
    s_print_header (out, "Subject:", g_mime_message_get_subject (self->message));
    fputc ('\n', out);

    if (self->body) {
        /* transfer encoding undone and the charset converted to UTF-8 */
        char *text = g_mime_text_part_get_text (GMIME_TEXT_PART (self->body));
        s_print_clean (out, text, true);
        if (text && *text && text[strlen (text) - 1] != '\n')
            fputc ('\n', out);
        g_free (text);
    }
    else if (self->fallback) {
        GByteArray *bytes = s_decoded (self->fallback);
        fprintf (out, "(no text/plain part; the message has a text/html part of %u %s)\n", bytes->len,
                 bytes->len == 1 ? "byte" : "bytes");
        g_byte_array_unref (bytes);
    }
    else
        fprintf (out, "(no text body)\n");

    if (self->attachments->len) {
        fprintf (out, "\nAttachments:\n");
        for (guint i = 0; i < self->attachments->len; i++) {
            attachment_t *attachment = g_ptr_array_index (self->attachments, i);
            GByteArray *bytes = s_decoded (attachment->object);
            GMimeContentType *type = g_mime_object_get_content_type (attachment->object);
            char *mime = type ? g_mime_content_type_get_mime_type (type) : NULL;
            fprintf (out, "  ");
            s_print_clean (out, attachment->name, false);
            fprintf (out, " (%u %s, %s)\n", bytes->len, bytes->len == 1 ? "byte" : "bytes",
                     mime ? mime : "application/octet-stream");
            g_free (mime);
            g_byte_array_unref (bytes);
        }
    }
    fflush (out);
}

int
show_save_attachments (show_t *self, const char *dir, FILE *out, char **error)
{
    for (guint i = 0; i < self->attachments->len; i++) {
        attachment_t *attachment = g_ptr_array_index (self->attachments, i);
        char fallback[32];
        snprintf (fallback, sizeof fallback, "attachment-%u", i + 1);
        char *name = outfile_safe_name (attachment->name, fallback);
        GByteArray *bytes = s_decoded (attachment->object);
        char *path = NULL;
        int rc = outfile_write_new (dir, name, bytes->data, bytes->len, &path, error);
        g_byte_array_unref (bytes);
        free (name);
        if (rc != 0)
            return -1;
        fprintf (out, "%s\n", path);
        free (path);
    }
    return 0;
}
