/*  compose.c — building a message with GMime. */
#include "compose.h"
#include "header.h"

#include <gio/gio.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void
compose_init (void)
{
    g_mime_init ();
}

void
compose_shutdown (void)
{
    g_mime_shutdown ();
}

bool
compose_is_crlf (const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\r' && (i + 1 == len || data[i + 1] != '\n'))
            return false;
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            return false;
    }
    return true;
}

char *
compose_crlf (const char *data, size_t len, size_t *size)
{
    /* at worst every octet is a line ending that doubles */
    char *out = malloc (2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\r') {
            out[n++] = '\r';
            out[n++] = '\n';
            if (i + 1 < len && data[i + 1] == '\n')
                i++;
        }
        else if (data[i] == '\n') {
            out[n++] = '\r';
            out[n++] = '\n';
        }
        else
            out[n++] = data[i];
    }
    out[n] = '\0';
    *size = n;
    return out;
}

char *
compose_raw (const char *data, size_t len, size_t *size, size_t *mended_at)
{
    char *crlf = compose_crlf (data, len, size);
    return header_complete (crlf, size, mended_at);
}

/* Line endings of a text body as GMime wants them before it writes DOS newlines: LF only.
   Control characters other than TAB and LF would make the part unreadable; they stay,
   the body is the user's, but a bare CR is a line ending (old Mac files). Stops at a NUL. */
static char *
s_text_to_lf (const char *data, size_t len)
{
    char *out = malloc (len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len && data[i]; i++) {
        if (data[i] == '\r') {
            out[n++] = '\n';
            if (i + 1 < len && data[i + 1] == '\n')
                i++;
        }
        else
            out[n++] = data[i];
    }
    out[n] = '\0';
    return out;
}

/* A header value on one line: CR, LF and other controls become spaces (no header injection) */
static char *
s_one_line (const char *text)
{
    char *out = strdup (text ? text : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

static const struct {
    const char *extension;
    const char *type;
} s_types[] = {
    {"txt", "text/plain"},
    {"text", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"html", "text/html"},
    {"htm", "text/html"},
    {"c", "text/x-c"},
    {"h", "text/x-c"},
    {"pdf", "application/pdf"},
    {"json", "application/json"},
    {"xml", "application/xml"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"svg", "image/svg+xml"},
    {"webp", "image/webp"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
    {"mp4", "video/mp4"},
    {"doc", "application/msword"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
};

char *
compose_content_type (const char *filename, const void *data, size_t size)
{
    const char *dot = filename ? strrchr (filename, '.') : NULL;
    if (dot && !strchr (dot, '/'))
        for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
            if (strcasecmp (dot + 1, s_types[i].extension) == 0)
                return strdup (s_types[i].type);

    char *result = NULL;
    gboolean uncertain = FALSE;
    gchar *guess = g_content_type_guess (filename, data, size, &uncertain);
    gchar *mime = guess ? g_content_type_get_mime_type (guess) : NULL;
    /* RFC 2046 5.2.1 and 5.1.1: message and multipart types may not be base64-encoded,
       and every attachment is; such a file travels as opaque bytes */
    if (mime && strchr (mime, '/') && strncmp (mime, "message/", 8) != 0 &&
        strncmp (mime, "multipart/", 10) != 0 && strcmp (mime, "application/x-zerosize") != 0)
        result = strdup (mime);
    g_free (mime);
    g_free (guess);
    return result ? result : strdup ("application/octet-stream");
}

static void
s_add_addresses (GMimeMessage *message, GMimeAddressType type, const char *const *addresses)
{
    InternetAddressList *list = g_mime_message_get_addresses (message, type);
    for (size_t i = 0; addresses && addresses[i]; i++) {
        char *address = s_one_line (addresses[i]);
        InternetAddress *mailbox = internet_address_mailbox_new (NULL, address);
        internet_address_list_add (list, mailbox);
        g_object_unref (mailbox);
        free (address);
    }
}

static GMimeObject *
s_text_part (const compose_t *spec)
{
    char *text = s_text_to_lf (spec->body ? spec->body : "", spec->body ? spec->body_size : 0);
    /* RFC 5322 2.3: the body is lines; a text part ends with a line ending */
    size_t len = strlen (text);
    if (len > 0 && text[len - 1] != '\n') {
        char *longer = realloc (text, len + 2);
        text = longer;
        text[len] = '\n';
        text[len + 1] = '\0';
    }
    /* the bytes stay UTF-8 as given (g_mime_text_part_set_text would pick and convert to a
       charset of its own, e.g. ISO-8859-1); the label says utf-8 */
    GMimeTextPart *part = g_mime_text_part_new_with_subtype ("plain");
    g_mime_text_part_set_charset (part, "utf-8");
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
    GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream (stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content (GMIME_PART (part), content);
    g_object_unref (content);
    g_object_unref (stream);
    /* 7bit when it is plain ASCII with short lines, quoted-printable otherwise: text stays
       readable in a capture, and its line breaks stay line breaks (RFC 2045 6.7) */
    GMimeContentEncoding encoding =
        g_mime_part_get_best_content_encoding (GMIME_PART (part), GMIME_ENCODING_CONSTRAINT_7BIT);
    if (encoding != GMIME_CONTENT_ENCODING_7BIT)
        encoding = GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    g_mime_part_set_content_encoding (GMIME_PART (part), encoding);
    free (text);
    return GMIME_OBJECT (part);
}

static GMimeObject *
s_attachment_part (const char *path, char **error)
{
    gchar *data = NULL;
    gsize size = 0;
    GError *gerror = NULL;
    if (!g_file_get_contents (path, &data, &size, &gerror)) {
        char text[512];
        snprintf (text, sizeof text, "cannot read attachment %s: %s", path, gerror->message);
        g_error_free (gerror);
        *error = strdup (text);
        return NULL;
    }
    gchar *name = g_path_get_basename (path);
    char *type = compose_content_type (name, data, size);
    GMimeContentType *content_type = g_mime_content_type_parse (NULL, type);
    GMimePart *part = g_mime_part_new_with_type (g_mime_content_type_get_media_type (content_type),
                                                 g_mime_content_type_get_media_subtype (content_type));
    g_object_unref (content_type);
    free (type);

    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (data, size);
    GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream (stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content (part, content);
    g_object_unref (content);
    g_object_unref (stream);
    g_free (data);

    /* Content-Disposition: attachment; filename=... (RFC 2183), and the name= parameter
       older clients read; non-ASCII names are encoded by GMime (RFC 2231) */
    g_mime_object_set_disposition (GMIME_OBJECT (part), GMIME_DISPOSITION_ATTACHMENT);
    g_mime_part_set_filename (part, name);
    g_mime_part_set_content_encoding (part, GMIME_CONTENT_ENCODING_BASE64);
    g_free (name);
    return GMIME_OBJECT (part);
}

static char *
s_serialise (GMimeMessage *message, size_t *size)
{
    GMimeFormatOptions *options = g_mime_format_options_new ();
    g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
    GMimeStream *stream = g_mime_stream_mem_new ();
    g_mime_object_write_to_stream (GMIME_OBJECT (message), options, stream);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (stream));
    char *out;
    if (compose_is_crlf ((const char *)bytes->data, bytes->len)) {
        out = malloc (bytes->len + 1);
        memcpy (out, bytes->data, bytes->len);
        out[bytes->len] = '\0';
        *size = bytes->len;
    }
    else
        /* the broker refuses a bare LF or CR (550 5.6.0): whatever GMime left, mend it */
        out = compose_crlf ((const char *)bytes->data, bytes->len, size);
    g_object_unref (stream);
    g_mime_format_options_free (options);
    return out;
}

char *
compose_build (const compose_t *spec, size_t *size, char **error)
{
    if (!spec->from || !*spec->from) {
        *error = strdup ("no sender address");
        return NULL;
    }
    /* no placeholder headers: they appear in the order set, From To Cc Subject Date ... */
    GMimeMessage *message = g_mime_message_new (FALSE);
    char *from = s_one_line (spec->from);
    InternetAddress *mailbox = internet_address_mailbox_new (NULL, from);
    internet_address_list_add (g_mime_message_get_from (message), mailbox);
    g_object_unref (mailbox);
    s_add_addresses (message, GMIME_ADDRESS_TYPE_TO, spec->to);
    s_add_addresses (message, GMIME_ADDRESS_TYPE_CC, spec->cc);
    if (spec->subject) {
        char *subject = s_one_line (spec->subject);
        g_mime_message_set_subject (message, subject, "utf-8");
        free (subject);
    }
    GDateTime *date =
        spec->date ? g_date_time_new_from_unix_local (spec->date) : g_date_time_new_now_local ();
    g_mime_message_set_date (message, date);
    g_date_time_unref (date);

    /* Always a Message-ID: the broker dedupes a retried publish by it */
    if (spec->message_id)
        g_mime_message_set_message_id (message, spec->message_id);
    else {
        const char *at = strrchr (from, '@');
        char *id = g_mime_utils_generate_message_id (at && at[1] ? at + 1 : "mailbus.invalid");
        g_mime_message_set_message_id (message, id);
        g_free (id);
    }
    free (from);
    g_mime_object_set_header (GMIME_OBJECT (message), "MIME-Version", "1.0", NULL);

    GMimeObject *body = s_text_part (spec);
    if (spec->attachments && spec->attachments[0]) {
        GMimeMultipart *mixed = g_mime_multipart_new_with_subtype ("mixed");
        g_mime_multipart_add (mixed, body);
        g_object_unref (body);
        for (size_t i = 0; spec->attachments[i]; i++) {
            GMimeObject *part = s_attachment_part (spec->attachments[i], error);
            if (!part) {
                g_object_unref (mixed);
                g_object_unref (message);
                return NULL;
            }
            g_mime_multipart_add (mixed, part);
            g_object_unref (part);
        }
        body = GMIME_OBJECT (mixed);
    }
    g_mime_message_set_mime_part (message, body);
    g_object_unref (body);

    char *out = s_serialise (message, size);
    g_object_unref (message);
    return out;
}
