/*  bounce.c — RFC 3464 delivery status notifications with GMime. */
#include "bounce.h"

#include <assert.h>
#include <ctype.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "header.h"

void
bounce_status (const char *diagnostic, char *status, size_t size)
{
    /* "550 5.1.1 text": take the enhanced code when it is there */
    const char *p = diagnostic ? diagnostic : "";
    while (*p && isdigit ((unsigned char)*p))
        p++;
    while (*p == ' ' || *p == '-')
        p++;
    int a, b, c, n = 0;
    if (sscanf (p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && (a == 4 || a == 5) && n > 0) {
        snprintf (status, size, "%d.%d.%d", a, b, c);
        return;
    }
    snprintf (status, size, "%s", diagnostic && diagnostic[0] == '4' ? "4.0.0" : "5.0.0");
}

static GMimePart *
s_text_part (const char *type, const char *subtype, const char *text)
{
    GMimePart *part = g_mime_part_new_with_type (type, subtype);
    if (strcmp (subtype, "plain") == 0)
        g_mime_object_set_content_type_parameter (GMIME_OBJECT (part), "charset", "us-ascii");
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer (text, strlen (text));
    GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream (stream, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content (part, content);
    g_object_unref (content);
    g_object_unref (stream);
    g_mime_part_set_content_encoding (part, GMIME_CONTENT_ENCODING_7BIT);
    return part;
}

char *
bounce_build (const bounce_t *b, size_t *size)
{
    assert (b && b->sender && b->recipient && size);
    char status[16], date[64];
    bounce_status (b->diagnostic, status, sizeof status);
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);

    GMimeMessage *message = g_mime_message_new (TRUE);
    g_mime_message_add_mailbox (message, GMIME_ADDRESS_TYPE_FROM, "Mail Delivery System", b->postmaster);
    g_mime_message_add_mailbox (message, GMIME_ADDRESS_TYPE_TO, NULL, b->sender);
    g_mime_message_set_subject (message, "Undelivered Mail Returned to Sender", NULL);
    GDateTime *when = g_date_time_new_now_utc ();
    g_mime_message_set_date (message, when);
    g_date_time_unref (when);
    char *id = g_mime_utils_generate_message_id (b->reporting_host);
    g_mime_message_set_message_id (message, id);
    g_free (id);
    /* RFC 3834: an automatic reply, never to be answered automatically */
    g_mime_object_set_header (GMIME_OBJECT (message), "Auto-Submitted", "auto-replied", NULL);

    GMimeMultipart *report = g_mime_multipart_new_with_subtype ("report");
    g_mime_object_set_content_type_parameter (GMIME_OBJECT (report), "report-type", "delivery-status");

    char *human = g_strdup_printf ("This is the mail system at host %s.\n\n"
                                   "Your message could not be delivered to %s.\n"
                                   "The remote server said:\n\n    %s\n",
                                   b->reporting_host, b->recipient, b->diagnostic);
    GMimePart *text = s_text_part ("text", "plain", human);
    g_free (human);
    g_mime_multipart_add (report, GMIME_OBJECT (text));
    g_object_unref (text);

    /* RFC 3464 2.2 per-message fields, a blank line, 2.3 per-recipient fields */
    char *fields = g_strdup_printf ("Reporting-MTA: dns; %s\n"
                                    "Arrival-Date: %s\n"
                                    "\n"
                                    "Final-Recipient: rfc822; %s\n"
                                    "Action: failed\n"
                                    "Status: %s\n"
                                    "Diagnostic-Code: smtp; %s\n",
                                    b->reporting_host, date, b->recipient, status, b->diagnostic);
    GMimePart *dsn = s_text_part ("message", "delivery-status", fields);
    g_free (fields);
    g_mime_multipart_add (report, GMIME_OBJECT (dsn));
    g_object_unref (dsn);

    size_t hlen = header_section_length (b->original, b->original_size);
    char *headers = g_strndup (b->original, hlen ? hlen : b->original_size);
    /* back to LF: the writer below turns every line end into CRLF once */
    char *w = headers;
    for (const char *r = headers; *r; r++)
        if (*r != '\r')
            *w++ = *r;
    *w = '\0';
    GMimePart *returned = s_text_part ("text", "rfc822-headers", headers);
    g_free (headers);
    g_mime_multipart_add (report, GMIME_OBJECT (returned));
    g_object_unref (returned);

    g_mime_message_set_mime_part (message, GMIME_OBJECT (report));
    g_object_unref (report);

    GMimeFormatOptions *options = g_mime_format_options_clone (g_mime_format_options_get_default ());
    g_mime_format_options_set_newline_format (options, GMIME_NEWLINE_FORMAT_DOS);
    GMimeStream *out = g_mime_stream_mem_new ();
    GMimeFilter *dos = g_mime_filter_unix2dos_new (FALSE);
    GMimeStream *filtered = g_mime_stream_filter_new (out);
    g_mime_stream_filter_add (GMIME_STREAM_FILTER (filtered), dos);
    g_object_unref (dos);
    g_mime_object_write_to_stream (GMIME_OBJECT (message), options, filtered);
    g_mime_stream_flush (filtered);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array (GMIME_STREAM_MEM (out));
    char *result = malloc (bytes->len + 1);
    if (result) {
        memcpy (result, bytes->data, bytes->len);
        result[bytes->len] = '\0';
        *size = bytes->len;
    }
    g_object_unref (filtered);
    g_object_unref (out);
    g_mime_format_options_free (options);
    g_object_unref (message);
    return result;
}
