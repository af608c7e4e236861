/*  imap_mime.c — see imap_mime.h. GMime parses the message: the tree of parts, their types,
    parameters, dispositions, addresses, decoding and charsets are GMime's. What IMAP needs
    beyond that is where each part's octets lie in the stored message (BODY[1.2] is "the octets
    as stored", sizes count them): for that each node of GMime's tree is laid over the raw bytes
    by finding its header's blank line and, in a multipart, its own boundary lines (RFC 2046
    5.1.1). Header fields are read from those raw octets too, so ENVELOPE shows them as stored,
    as RFC 9051 7.5.2 wants. */
#include "imap_mime.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Our choice: parts nested deeper than this (multipart in multipart, message/rfc822 in
   message/rfc822 ...) are shown as one opaque application/octet-stream part: a crafted message
   with 1000 levels costs no more than one with 32, and no IMAP client shows such depth */
#define IMAP_MIME_MAX_NESTING 32

typedef enum { NODE_LEAF, NODE_MULTI, NODE_RFC822 } node_kind_t;

typedef struct node_t {
    node_kind_t kind;
    GMimeObject *obj;        /* borrowed from the message; NULL: a text/plain part GMime did not make */
    size_t start;            /* the part's header */
    size_t body;             /* after the header's blank line */
    size_t end;              /* end of the body: before the CRLF that precedes the next boundary */
    struct node_t *children; /* NODE_MULTI: nchildren of them */
    size_t nchildren;
    struct node_t *inner; /* NODE_RFC822: the encapsulated message (its header and body) */
} node_t;

struct imap_mime_t {
    const char *data;
    size_t len;
    GByteArray *array;     /* data as GMime's stream reads it, not copied (the stream does not own it) */
    GMimeMessage *message; /* NULL when GMime made nothing of it */
    node_t root;           /* the message as a whole: its header, its body */
    char *text;            /* SEARCH BODY: the decoded text parts, UTF-8, made on first use */
    size_t text_len;
};

/* ------------------------------------------------------------------ raw octets */

/* The end of the line starting at p (after its LF), or end */
static size_t
s_line_end (const char *data, size_t p, size_t end)
{
    const char *lf = memchr (data + p, '\n', end - p);
    return lf ? (size_t)(lf - data) + 1 : end;
}

static bool
s_blank_line (const char *data, size_t p, size_t end)
{
    return (p < end && data[p] == '\n') || (p + 1 < end && data[p] == '\r' && data[p + 1] == '\n');
}

/* Where the body starts: after the first blank line; end when there is none (all header) */
static size_t
s_header_end (const char *data, size_t start, size_t end)
{
    for (size_t p = start; p < end; p = s_line_end (data, p, end))
        if (s_blank_line (data, p, end))
            return s_line_end (data, p, end);
    return end;
}

/* Whether the line at p is "--boundary" or "--boundary--" (RFC 2046 5.1.1: transport padding
   may follow); *close says which */
static bool
s_boundary_line (const char *data, size_t p, size_t end, const char *boundary, size_t blen, bool *close)
{
    if (end - p < blen + 2 || data[p] != '-' || data[p + 1] != '-' ||
        memcmp (data + p + 2, boundary, blen) != 0)
        return false;
    size_t q = p + 2 + blen;
    *close = end - q >= 2 && data[q] == '-' && data[q + 1] == '-';
    if (*close)
        q += 2;
    return q == end || data[q] == '\r' || data[q] == '\n' || data[q] == ' ' || data[q] == '\t';
}

/* The CRLF (or LF) before a boundary line belongs to the boundary (RFC 2046 5.1.1) */
static size_t
s_before_crlf (const char *data, size_t from, size_t p)
{
    if (p > from && data[p - 1] == '\n')
        p--;
    if (p > from && data[p - 1] == '\r')
        p--;
    return p;
}

/* ------------------------------------------------------------------ the tree */

static void s_build (imap_mime_t *self, node_t *node, GMimeObject *obj, size_t start, size_t end, int depth);

/* Lays a multipart's children over the octets between its boundary lines; children GMime found
   that the boundaries do not delimit (it should not happen) get an empty range at the end */
static void
s_build_multipart (imap_mime_t *self, node_t *node, GMimeMultipart *multi, int depth)
{
    const char *boundary = g_mime_multipart_get_boundary (multi);
    int count = g_mime_multipart_get_count (multi);
    node->nchildren = count > 0 ? (size_t)count : 0;
    node->children = node->nchildren ? calloc (node->nchildren, sizeof (node_t)) : NULL;
    if (!node->children) {
        node->nchildren = 0;
        return;
    }
    size_t blen = boundary ? strlen (boundary) : 0, child = 0, from = node->end;
    bool open = false, close = false;
    for (size_t p = node->body; boundary && p < node->end && !close;
         p = s_line_end (self->data, p, node->end)) {
        if (!s_boundary_line (self->data, p, node->end, boundary, blen, &close))
            continue;
        if (open && child < node->nchildren) {
            s_build (self, &node->children[child], g_mime_multipart_get_part (multi, (int)child), from,
                     s_before_crlf (self->data, from, p), depth + 1);
            child++;
        }
        open = true;
        from = s_line_end (self->data, p, node->end);
    }
    if (!open || close) /* without a close delimiter the last part runs to the end */
        from = node->end;
    for (; child < node->nchildren; child++, from = node->end)
        s_build (self, &node->children[child], g_mime_multipart_get_part (multi, (int)child), from, node->end,
                 depth + 1);
}

static bool
s_is_rfc822 (GMimeObject *obj)
{
    GMimeContentType *type = g_mime_object_get_content_type (obj);
    return GMIME_IS_MESSAGE_PART (obj) && type &&
           (g_mime_content_type_is_type (type, "message", "rfc822") ||
            g_mime_content_type_is_type (type, "message", "global"));
}

static void
s_build (imap_mime_t *self, node_t *node, GMimeObject *obj, size_t start, size_t end, int depth)
{
    node->obj = obj;
    node->start = start;
    node->end = end;
    node->body = s_header_end (self->data, start, end);
    node->kind = NODE_LEAF;
    if (!obj || depth >= IMAP_MIME_MAX_NESTING)
        return;
    if (GMIME_IS_MULTIPART (obj)) {
        node->kind = NODE_MULTI;
        s_build_multipart (self, node, GMIME_MULTIPART (obj), depth);
    }
    else if (s_is_rfc822 (obj)) {
        node->inner = calloc (1, sizeof (node_t));
        if (!node->inner)
            return;
        node->kind = NODE_RFC822;
        GMimeMessage *inner = g_mime_message_part_get_message (GMIME_MESSAGE_PART (obj));
        s_build (self, node->inner, inner ? g_mime_message_get_mime_part (inner) : NULL, node->body, end,
                 depth + 1);
    }
}

static void
s_free_node (node_t *node)
{
    for (size_t i = 0; i < node->nchildren; i++)
        s_free_node (&node->children[i]);
    free (node->children);
    if (node->inner) {
        s_free_node (node->inner);
        free (node->inner);
    }
}

static pthread_once_t s_gmime_once = PTHREAD_ONCE_INIT;

static void
s_gmime_init (void)
{
    g_mime_init (); /* counted: the gateway's own call in main.c and this one both stand */
}

imap_mime_t *
imap_mime_new (const char *data, size_t len)
{
    pthread_once (&s_gmime_once, s_gmime_init);
    imap_mime_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->data = data;
    self->len = len;
    /* GMime only reads the array; its parts keep the stream (persist-stream), so the array
       lives until destroy */
    self->array = g_byte_array_new_take ((guint8 *)data, len);
    GMimeStream *stream = g_mime_stream_mem_new_with_byte_array (self->array);
    g_mime_stream_mem_set_owner (GMIME_STREAM_MEM (stream), FALSE);
    GMimeParser *parser = g_mime_parser_new_with_stream (stream);
    self->message = g_mime_parser_construct_message (parser, NULL);
    g_object_unref (parser);
    g_object_unref (stream);
    GMimeObject *top = self->message ? g_mime_message_get_mime_part (self->message) : NULL;
    s_build (self, &self->root, top, 0, len, 0);
    return self;
}

void
imap_mime_destroy (imap_mime_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    imap_mime_t *self = *self_p;
    s_free_node (&self->root);
    if (self->message)
        g_object_unref (self->message);
    g_byte_array_free (self->array, FALSE); /* the struct only: the data is the caller's */
    free (self->text);
    free (self);
    *self_p = NULL;
}

/* ------------------------------------------------------------------ header fields */

/* The next field of the header [*p, end): its name [name, name+nlen) and whole raw lines
   [*p, after) (folded lines included). False at the end. */
typedef struct {
    size_t start, after; /* the field's lines, CRLF included */
    size_t name_len;     /* octets before the colon */
    size_t value;        /* after the colon */
} field_t;

static bool
s_next_field (const char *data, size_t *p, size_t end, field_t *f)
{
    while (*p < end && !s_blank_line (data, *p, end)) {
        f->start = *p;
        size_t q = s_line_end (data, *p, end);
        while (q < end && (data[q] == ' ' || data[q] == '\t')) /* RFC 5322 2.2.3: folded */
            q = s_line_end (data, q, end);
        *p = q;
        f->after = q;
        const char *colon = memchr (data + f->start, ':', q - f->start);
        if (!colon) /* not a field: skipped, as GMime does */
            continue;
        f->name_len = (size_t)(colon - (data + f->start));
        f->value = f->name_len + f->start + 1;
        while (f->name_len &&
               (data[f->start + f->name_len - 1] == ' ' || data[f->start + f->name_len - 1] == '\t'))
            f->name_len--; /* "Subject :" is obsolete but seen (RFC 5322 4.5) */
        return true;
    }
    return false;
}

static bool
s_field_is (const char *data, const field_t *f, const char *name)
{
    size_t n = strlen (name);
    return f->name_len == n && g_ascii_strncasecmp (data + f->start, name, n) == 0;
}

/* The unfolded value of a field (CR and LF removed, leading and trailing blanks trimmed) */
static char *
s_unfold (const char *data, const field_t *f)
{
    char *out = malloc (f->after - f->value + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = f->value; i < f->after; i++)
        if (data[i] != '\r' && data[i] != '\n')
            out[n++] = data[i];
    out[n] = '\0';
    size_t lead = strspn (out, " \t");
    while (n > lead && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    memmove (out, out + lead, n - lead);
    out[n - lead] = '\0';
    return out;
}

/* The first field called name in a part's header, unfolded (caller frees); NULL when absent */
static char *
s_header_get (const imap_mime_t *self, const node_t *node, const char *name)
{
    size_t p = node->start;
    field_t f;
    while (s_next_field (self->data, &p, node->body, &f))
        if (s_field_is (self->data, &f, name))
            return s_unfold (self->data, &f);
    return NULL;
}

static int
s_nstring (buffer_t *out, const char *s, bool utf8)
{
    return imap_string_append (out, s, s ? strlen (s) : 0, utf8);
}

/* A header value as an nstring: NIL when absent */
static int
s_header_nstring (const imap_mime_t *self, const node_t *node, const char *name, buffer_t *out, bool utf8)
{
    char *value = s_header_get (self, node, name);
    int rc = s_nstring (out, value, utf8);
    free (value);
    return rc;
}

/* ------------------------------------------------------------------ ENVELOPE */

/* A name as the ENVELOPE gives it: GMime decoded it; without UTF8=ACCEPT 8-bit text that was
   stored as 8-bit goes as stored (a literal), and text that came from RFC 2047 words goes back
   into one (raw: the field's stored value; NULL for a parameter) */
static int
s_name (buffer_t *out, const char *name, const char *raw, bool utf8)
{
    if (!name || !*name)
        return buffer_append (out, "NIL", 3);
    bool ascii = true;
    for (const char *p = name; *p; p++)
        ascii = ascii && (unsigned char)*p < 0x80;
    if (ascii || utf8 || (raw && strstr (raw, name)))
        return s_nstring (out, name, utf8);
    char *encoded = g_mime_utils_header_encode_phrase (NULL, name, "utf-8");
    int rc = s_nstring (out, encoded ? encoded : name, false);
    g_free (encoded);
    return rc;
}

/* RFC 9051 7.5.2: (name adl mailbox host). An address without "@" ("From: root", cron's) gets
   host "MISSING_DOMAIN", as Dovecot gives it: NIL would say group syntax */
static int
s_mailbox (buffer_t *out, InternetAddress *ia, const char *raw, bool utf8)
{
    const char *addr = internet_address_mailbox_get_addr (INTERNET_ADDRESS_MAILBOX (ia));
    const char *at = addr ? strrchr (addr, '@') : NULL;
    if (buffer_append (out, "(", 1) != 0 || s_name (out, internet_address_get_name (ia), raw, utf8) != 0 ||
        buffer_append (out, " NIL ", 5) != 0)
        return -1;
    if (imap_string_append (out, addr ? addr : "", at ? (size_t)(at - addr) : (addr ? strlen (addr) : 0),
                            utf8) != 0 ||
        buffer_append (out, " ", 1) != 0)
        return -1;
    if (at ? imap_string_append (out, at + 1, strlen (at + 1), utf8) != 0
           : buffer_append (out, "\"MISSING_DOMAIN\"", 16) != 0)
        return -1;
    return buffer_append (out, ")", 1);
}

/* The addresses of a list, groups as RFC 9051 7.5.2 says: (NIL NIL "group" NIL), the members,
   then (NIL NIL NIL NIL) */
static int
s_addresses (buffer_t *out, InternetAddressList *list, const char *raw, bool utf8)
{
    int n = internet_address_list_length (list);
    for (int i = 0; i < n; i++) {
        InternetAddress *ia = internet_address_list_get_address (list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX (ia)) {
            if (s_mailbox (out, ia, raw, utf8) != 0)
                return -1;
            continue;
        }
        const char *name = internet_address_get_name (ia);
        if (buffer_append (out, "(NIL NIL ", 9) != 0 || s_nstring (out, name ? name : "", utf8) != 0 ||
            buffer_append (out, " NIL)", 5) != 0)
            return -1;
        if (s_addresses (out, internet_address_group_get_members (INTERNET_ADDRESS_GROUP (ia)), raw, utf8) !=
                0 ||
            buffer_append (out, "(NIL NIL NIL NIL)", 17) != 0)
            return -1;
    }
    return 0;
}

/* An address field: its list, or NIL when absent or without any address */
static int
s_address_field (buffer_t *out, const char *value, bool utf8)
{
    InternetAddressList *list = value ? internet_address_list_parse (NULL, value) : NULL;
    int rc;
    if (!list || internet_address_list_length (list) == 0)
        rc = buffer_append (out, "NIL", 3);
    else
        rc = (buffer_append (out, "(", 1) != 0 || s_addresses (out, list, value, utf8) != 0)
                 ? -1
                 : buffer_append (out, ")", 1);
    if (list)
        g_object_unref (list);
    return rc;
}

/* Whether a header value holds at least one address (an empty Sender: does not count) */
static bool
s_has_address (const char *value)
{
    InternetAddressList *list = value ? internet_address_list_parse (NULL, value) : NULL;
    bool has = list && internet_address_list_length (list) > 0;
    if (list)
        g_object_unref (list);
    return has;
}

/* An address field of the envelope; fallback (non-NULL for Sender and Reply-To: From's value,
   "" when none) stands in when the field holds no address (RFC 9051 7.5.2) */
static int
s_envelope_address (const imap_mime_t *self, const node_t *node, const char *name, const char *fallback,
                    buffer_t *out, bool utf8)
{
    char *value = s_header_get (self, node, name);
    bool defaulted = fallback && !s_has_address (value);
    int rc =
        buffer_append (out, " ", 1) != 0 ? -1 : s_address_field (out, defaulted ? fallback : value, utf8);
    free (value);
    return rc;
}

/* The envelope of the message whose header is node's: date subject from sender reply-to to cc
   bcc in-reply-to message-id */
static int
s_envelope (const imap_mime_t *self, const node_t *node, buffer_t *out, bool utf8)
{
    if (buffer_append (out, "(", 1) != 0 || s_header_nstring (self, node, "Date", out, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_header_nstring (self, node, "Subject", out, utf8) != 0)
        return -1;
    char *from = s_header_get (self, node, "From");
    int rc = s_envelope_address (self, node, "From", NULL, out, utf8) != 0 ||
                     s_envelope_address (self, node, "Sender", from ? from : "", out, utf8) != 0 ||
                     s_envelope_address (self, node, "Reply-To", from ? from : "", out, utf8) != 0 ||
                     s_envelope_address (self, node, "To", NULL, out, utf8) != 0 ||
                     s_envelope_address (self, node, "Cc", NULL, out, utf8) != 0 ||
                     s_envelope_address (self, node, "Bcc", NULL, out, utf8) != 0
                 ? -1
                 : 0;
    free (from);
    if (rc != 0 || buffer_append (out, " ", 1) != 0 ||
        s_header_nstring (self, node, "In-Reply-To", out, utf8) != 0 || buffer_append (out, " ", 1) != 0 ||
        s_header_nstring (self, node, "Message-ID", out, utf8) != 0)
        return -1;
    return buffer_append (out, ")", 1);
}

int
imap_mime_envelope (imap_mime_t *self, buffer_t *out, bool utf8)
{
    return s_envelope (self, &self->root, out, utf8);
}

/* ------------------------------------------------------------------ BODYSTRUCTURE */

static int s_body (const imap_mime_t *self, const node_t *node, buffer_t *out, bool ext, bool utf8);
static int s_leaf (const imap_mime_t *self, const node_t *node, buffer_t *out, bool ext, bool utf8);

/* body-fld-param: ("name" "value" ...) or NIL; a text/ part without a charset shows the
   default, us-ascii (RFC 2045 5.2), as Dovecot does. GMime decoded RFC 2231 values: without
   UTF8=ACCEPT an 8-bit one goes as an RFC 2047 word, as most servers do. */
static int
s_params (buffer_t *out, GMimeParamList *list, bool utf8, bool text)
{
    int n = list ? g_mime_param_list_length (list) : 0;
    bool charset = text && !(list && g_mime_param_list_get_parameter (list, "charset"));
    if (n <= 0 && !charset)
        return buffer_append (out, "NIL", 3);
    if (buffer_append (out, "(", 1) != 0 ||
        (charset && buffer_append (out, "\"charset\" \"us-ascii\"", 20) != 0))
        return -1;
    for (int i = 0; i < n; i++) {
        GMimeParam *param = g_mime_param_list_get_parameter_at (list, i);
        const char *name = g_mime_param_get_name (param), *value = g_mime_param_get_value (param);
        if ((i || charset) && buffer_append (out, " ", 1) != 0)
            return -1;
        if (s_nstring (out, name ? name : "", utf8) != 0 || buffer_append (out, " ", 1) != 0)
            return -1;
        if (value && *value ? s_name (out, value, NULL, utf8) != 0 : buffer_append (out, "\"\"", 2) != 0)
            return -1;
    }
    return buffer_append (out, ")", 1);
}

/* type and subtype as GMime read them; text/plain when it made no part (RFC 2045 5.2) */
static void
s_type (const node_t *node, const char **type, const char **subtype, GMimeParamList **params)
{
    GMimeContentType *ct = node->obj ? g_mime_object_get_content_type (node->obj) : NULL;
    *type = ct ? g_mime_content_type_get_media_type (ct) : NULL;
    *subtype = ct ? g_mime_content_type_get_media_subtype (ct) : NULL;
    *params = ct ? g_mime_content_type_get_parameters (ct) : NULL;
    if (!*type || !*subtype) {
        *type = "text";
        *subtype = "plain";
        *params = NULL;
    }
    /* A multipart or message/rfc822 shown as a leaf (nested past IMAP_MIME_MAX_NESTING, or an
       rfc822 part GMime did not parse as a message) has no leaf syntax of its own: opaque */
    bool multipart = g_ascii_strcasecmp (*type, "multipart") == 0;
    bool message =
        g_ascii_strcasecmp (*type, "message") == 0 &&
        (g_ascii_strcasecmp (*subtype, "rfc822") == 0 || g_ascii_strcasecmp (*subtype, "global") == 0);
    if (node->kind == NODE_LEAF && (multipart || message)) {
        *type = "application";
        *subtype = "octet-stream";
        *params = NULL;
    }
}

static size_t
s_lines (const char *data, size_t from, size_t to)
{
    size_t n = 0;
    for (const char *p = data + from; (p = memchr (p, '\n', (size_t)(data + to - p))); p++)
        n++;
    return n;
}

/* body-fld-dsp: ("attachment" ("filename" "a.pdf")) or NIL */
static int
s_disposition (const imap_mime_t *self, const node_t *node, buffer_t *out, bool utf8)
{
    char *raw = s_header_get (self, node, "Content-Disposition");
    GMimeContentDisposition *d = raw ? g_mime_content_disposition_parse (NULL, raw) : NULL;
    free (raw);
    const char *name = d ? g_mime_content_disposition_get_disposition (d) : NULL;
    int rc;
    if (!name || !*name)
        rc = buffer_append (out, "NIL", 3);
    else if (buffer_append (out, "(", 1) != 0 || s_nstring (out, name, utf8) != 0 ||
             buffer_append (out, " ", 1) != 0 ||
             s_params (out, g_mime_content_disposition_get_parameters (d), utf8, false) != 0)
        rc = -1;
    else
        rc = buffer_append (out, ")", 1);
    if (d)
        g_object_unref (d);
    return rc;
}

/* body-fld-lang: NIL, "en" or ("en" "fr") from Content-Language's comma list */
static int
s_language (const imap_mime_t *self, const node_t *node, buffer_t *out, bool utf8)
{
    char *raw = s_header_get (self, node, "Content-Language");
    gchar **tags = raw ? g_strsplit_set (raw, ", \t", -1) : NULL;
    free (raw);
    int n = 0, rc = 0;
    for (gchar **t = tags; t && *t && rc == 0; t++) {
        if (!**t)
            continue;
        rc = buffer_append (out, n++ ? " " : "(", 1) != 0 ? -1 : s_nstring (out, *t, utf8);
    }
    g_strfreev (tags);
    if (rc != 0)
        return -1;
    return n ? buffer_append (out, ")", 1) : buffer_append (out, "NIL", 3);
}

/* The extension data after a part's fields: for a leaf md5 first, then disposition,
   language, location (RFC 9051 7.5.2 body-ext-1part / body-ext-mpart) */
static int
s_extension (const imap_mime_t *self, const node_t *node, buffer_t *out, bool utf8, bool leaf)
{
    if (leaf &&
        (buffer_append (out, " ", 1) != 0 || s_header_nstring (self, node, "Content-MD5", out, utf8) != 0))
        return -1;
    if (buffer_append (out, " ", 1) != 0 || s_disposition (self, node, out, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_language (self, node, out, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_header_nstring (self, node, "Content-Location", out, utf8) != 0)
        return -1;
    return 0;
}

static int
s_multipart (const imap_mime_t *self, const node_t *node, buffer_t *out, bool ext, bool utf8)
{
    const char *type, *subtype;
    GMimeParamList *params;
    s_type (node, &type, &subtype, &params);
    if (buffer_append (out, "(", 1) != 0)
        return -1;
    for (size_t i = 0; i < node->nchildren; i++)
        if (s_body (self, &node->children[i], out, ext, utf8) != 0)
            return -1;
    node_t empty = {.kind = NODE_LEAF, .start = node->end, .body = node->end, .end = node->end};
    if (node->nchildren == 0 && s_leaf (self, &empty, out, ext, utf8) != 0)
        return -1; /* RFC 9051 9: 1*body; a multipart without any part shows an empty one */
    if (buffer_append (out, " ", 1) != 0 || s_nstring (out, subtype, utf8) != 0)
        return -1;
    if (ext && (buffer_append (out, " ", 1) != 0 || s_params (out, params, utf8, false) != 0 ||
                s_extension (self, node, out, utf8, false) != 0))
        return -1;
    return buffer_append (out, ")", 1);
}

/* body-fields: params id description encoding size */
static int
s_fields (const imap_mime_t *self, const node_t *node, GMimeParamList *params, bool text, buffer_t *out,
          bool utf8)
{
    char *enc = s_header_get (self, node, "Content-Transfer-Encoding");
    int rc = 0;
    if (s_params (out, params, utf8, text) != 0 || buffer_append (out, " ", 1) != 0 ||
        s_header_nstring (self, node, "Content-ID", out, utf8) != 0 || buffer_append (out, " ", 1) != 0 ||
        s_header_nstring (self, node, "Content-Description", out, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_nstring (out, enc && *enc ? enc : "7bit", utf8) != 0 ||
        buffer_appendf (out, " %zu", node->end - node->body) != 0)
        rc = -1;
    free (enc);
    return rc;
}

static int
s_leaf (const imap_mime_t *self, const node_t *node, buffer_t *out, bool ext, bool utf8)
{
    const char *type, *subtype;
    GMimeParamList *params;
    s_type (node, &type, &subtype, &params);
    bool text = g_ascii_strcasecmp (type, "text") == 0;
    if (buffer_append (out, "(", 1) != 0 || s_nstring (out, type, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_nstring (out, subtype, utf8) != 0 ||
        buffer_append (out, " ", 1) != 0 || s_fields (self, node, params, text, out, utf8) != 0)
        return -1;
    if (node->kind == NODE_RFC822) {
        if (buffer_append (out, " ", 1) != 0 || s_envelope (self, node->inner, out, utf8) != 0 ||
            buffer_append (out, " ", 1) != 0 || s_body (self, node->inner, out, ext, utf8) != 0)
            return -1;
    }
    if ((node->kind == NODE_RFC822 || text) &&
        buffer_appendf (out, " %zu", s_lines (self->data, node->body, node->end)) != 0)
        return -1;
    if (ext && s_extension (self, node, out, utf8, true) != 0)
        return -1;
    return buffer_append (out, ")", 1);
}

static int
s_body (const imap_mime_t *self, const node_t *node, buffer_t *out, bool ext, bool utf8)
{
    return node->kind == NODE_MULTI ? s_multipart (self, node, out, ext, utf8)
                                    : s_leaf (self, node, out, ext, utf8);
}

int
imap_mime_bodystructure (imap_mime_t *self, buffer_t *out, bool extensible, bool utf8)
{
    return s_body (self, &self->root, out, extensible, utf8);
}

/* ------------------------------------------------------------------ sections */

/* The node a part path names (RFC 9051 6.4.5): part n of a message is the nth part of its body
   when that is a multipart, else only 1, the body itself; a message/rfc822 part's numbers go
   into the message it holds. NULL when there is no such part. */
static const node_t *
s_resolve (const imap_mime_t *self, const uint32_t *part, int depth)
{
    const node_t *cur = &self->root;
    bool in_message = true, in_multipart = false;
    for (int i = 0; i < depth; i++) {
        if (!in_message && cur->kind == NODE_RFC822) {
            cur = cur->inner;
            in_message = true;
        }
        if (cur->kind == NODE_MULTI) {
            if (part[i] < 1 || part[i] > cur->nchildren)
                return NULL;
            cur = &cur->children[part[i] - 1];
            in_multipart = true;
        }
        else if (part[i] != 1 || (!in_message && !in_multipart))
            return NULL; /* n.1 of a leaf in a multipart: the leaf itself, as Dovecot has it */
        else
            in_multipart = false;
        in_message = false;
    }
    return cur;
}

/* Whether [start, end) ends with an empty line */
static bool
s_ends_blank (const char *data, size_t start, size_t end)
{
    if (end == start || data[end - 1] != '\n')
        return false;
    size_t p = end - 1;
    if (p > start && data[p - 1] == '\r')
        p--;
    return p == start || data[p - 1] == '\n';
}

/* HEADER.FIELDS (..) / .NOT: the fields named (or all others) as stored, then the blank line */
static int
s_fields_section (const imap_mime_t *self, const node_t *node, const imap_section_t *s, char **owned,
                  size_t *len)
{
    buffer_t out = BUFFER_INIT (0);
    size_t p = node->start;
    field_t f;
    while (s_next_field (self->data, &p, node->body, &f)) {
        bool named = false;
        for (int i = 0; i < s->nfields && !named; i++)
            named = s_field_is (self->data, &f, s->fields[i]);
        if (named != (s->kind == IMAP_SECTION_FIELDS))
            continue;
        if (buffer_append (&out, self->data + f.start, f.after - f.start) != 0)
            goto fail;
        if (self->data[f.after - 1] != '\n' && buffer_append (&out, "\r\n", 2) != 0)
            goto fail; /* the header's last line had no line end */
    }
    /* the blank line: after HEADER.FIELDS always; after .NOT the header's own, when it has one
       (as Dovecot does: a header without its blank line gives none) */
    if ((s->kind == IMAP_SECTION_FIELDS || s_ends_blank (self->data, node->start, node->body)) &&
        buffer_append (&out, "\r\n", 2) != 0)
        goto fail;
    *owned = out.data;
    *len = out.size;
    return 0;
fail:
    buffer_free (&out);
    return -1;
}

/* The content transfer decoding of BINARY[n] (RFC 3516 4.2): -1 for an encoding we cannot undo */
static int
s_decode (const imap_mime_t *self, const node_t *node, const char **data, size_t *len, char **owned)
{
    char *enc = s_header_get (self, node, "Content-Transfer-Encoding");
    GMimeContentEncoding e =
        enc && *enc ? g_mime_content_encoding_from_string (enc) : GMIME_CONTENT_ENCODING_DEFAULT;
    bool unknown = enc && *enc && e == GMIME_CONTENT_ENCODING_DEFAULT;
    free (enc);
    if (unknown || e == GMIME_CONTENT_ENCODING_UUENCODE)
        return -1;
    if (e != GMIME_CONTENT_ENCODING_BASE64 && e != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
        return 0; /* 7bit, 8bit, binary: as stored */
    GMimeEncoding state;
    g_mime_encoding_init_decode (&state, e);
    char *out = malloc (g_mime_encoding_outlen (&state, *len) + 1);
    if (!out)
        return -1;
    *len = g_mime_encoding_flush (&state, *data, *len, out);
    *data = out;
    *owned = out;
    return 0;
}

int
imap_mime_section (imap_mime_t *self, const imap_section_t *section, const char **data, size_t *len,
                   char **owned)
{
    *owned = NULL;
    *data = self->data;
    *len = 0;
    const node_t *node = s_resolve (self, section->part, section->depth);
    if (!node)
        return 1;
    if (section->depth > 0 && section->kind != IMAP_SECTION_ALL && section->kind != IMAP_SECTION_MIME) {
        if (node->kind != NODE_RFC822)
            return 1; /* HEADER, TEXT, HEADER.FIELDS of a part that is not a message */
        node = node->inner;
    }
    size_t from = node->body, to = node->end;
    switch (section->kind) {
    case IMAP_SECTION_ALL:
        if (section->depth == 0)
            from = 0, to = self->len;
        break;
    case IMAP_SECTION_MIME:
        if (section->depth == 0)
            return 1;
        __attribute__ ((fallthrough)); /* a part's own header */
    case IMAP_SECTION_HEADER:
        from = node->start, to = node->body;
        break;
    case IMAP_SECTION_TEXT:
        break;
    case IMAP_SECTION_FIELDS:
    case IMAP_SECTION_FIELDS_NOT:
        if (s_fields_section (self, node, section, owned, len) != 0)
            return -1;
        *data = *owned ? *owned : self->data; /* NULL: nothing kept, an empty section */
        return 0;
    }
    *data = self->data + from;
    *len = to - from;
    if (section->binary && section->depth > 0 && section->kind == IMAP_SECTION_ALL && node->kind == NODE_LEAF)
        return s_decode (self, node, data, len, owned);
    return 0;
}

/* ------------------------------------------------------------------ SEARCH */

bool
imap_search_needs_message (const imap_search_t *search)
{
    for (const imap_search_t *s = search; s; s = s->next) {
        switch (s->kind) {
        case IMAP_SK_HEADER:
        case IMAP_SK_BODY:
        case IMAP_SK_TEXT:
        case IMAP_SK_SENTBEFORE:
        case IMAP_SK_SENTON:
        case IMAP_SK_SENTSINCE:
            return true;
        case IMAP_SK_NOT:
        case IMAP_SK_AND:
            if (imap_search_needs_message (s->a))
                return true;
            break;
        case IMAP_SK_OR:
            if (imap_search_needs_message (s->a) || imap_search_needs_message (s->b))
                return true;
            break;
        default:
            break;
        }
    }
    return false;
}

/* RFC 9051 6.4.4: a substring, ASCII letters matched without case; memmem over lower-cased
   copies keeps it linear for a large body */
static bool
s_contains (const char *hay, size_t hlen, const char *needle)
{
    size_t nlen = strlen (needle);
    if (nlen == 0)
        return true;
    if (nlen > hlen)
        return false;
    char *h = g_ascii_strdown (hay, (gssize)hlen), *n = g_ascii_strdown (needle, (gssize)nlen);
    bool found = memmem (h, hlen, n, nlen) != NULL;
    g_free (h);
    g_free (n);
    return found;
}

/* The field's value after RFC 2047 decoding (GMime), or NULL */
static char *
s_decoded (const imap_mime_t *self, const field_t *f)
{
    char *raw = s_unfold (self->data, f);
    char *text = raw ? g_mime_utils_header_decode_text (NULL, raw) : NULL;
    free (raw);
    return text;
}

/* HEADER name text (FROM, TO ... too): any field of that name whose decoded value holds text;
   name NULL: any field at all (TEXT) */
static bool
s_header_match (const imap_mime_t *self, const char *name, const char *text)
{
    size_t p = self->root.start;
    field_t f;
    while (s_next_field (self->data, &p, self->root.body, &f)) {
        if (name && !s_field_is (self->data, &f, name))
            continue;
        char *value = s_decoded (self, &f);
        bool found = value && s_contains (value, strlen (value), text);
        g_free (value);
        if (found)
            return true;
    }
    return false;
}

/* Appends the decoded text of every text/ leaf (GMime undoes the transfer encoding and the
   charset), the nesting bounded as the tree is */
static void
s_collect_text (const node_t *node, GString *text)
{
    if (node->kind == NODE_MULTI)
        for (size_t i = 0; i < node->nchildren; i++)
            s_collect_text (&node->children[i], text);
    else if (node->kind == NODE_RFC822)
        s_collect_text (node->inner, text);
    else if (node->obj && GMIME_IS_TEXT_PART (node->obj)) {
        char *piece = g_mime_text_part_get_text (GMIME_TEXT_PART (node->obj));
        if (piece) {
            g_string_append (text, piece);
            g_string_append_c (text, '\n');
        }
        g_free (piece);
    }
}

static bool
s_body_match (imap_mime_t *self, const char *text)
{
    if (!self->text) {
        GString *all = g_string_new (NULL);
        if (self->message)
            s_collect_text (&self->root, all);
        else /* GMime made nothing: the octets after the header */
            g_string_append_len (all, self->data + self->root.body, (gssize)(self->len - self->root.body));
        self->text_len = all->len;
        self->text = malloc (all->len + 1);
        if (self->text)
            memcpy (self->text, all->str, all->len + 1);
        g_string_free (all, TRUE);
        if (!self->text)
            return false;
    }
    return s_contains (self->text, self->text_len, text);
}

static int64_t
s_day (int64_t t)
{
    return t >= 0 ? t / 86400 : (t - 86399) / 86400;
}

/* The day (since 1970-01-01) of the Date: field as written, its time and zone disregarded
   (RFC 9051 6.4.4 SENT*); the internal date's UTC day when Date: is missing or unreadable */
static int64_t
s_sent_day (const imap_mime_t *self, int64_t internal_date)
{
    char *raw = s_header_get (self, &self->root, "Date");
    GDateTime *dt = raw ? g_mime_utils_header_decode_date (raw) : NULL;
    free (raw);
    if (!dt)
        return s_day (internal_date);
    GDateTime *utc = g_date_time_new_utc (g_date_time_get_year (dt), g_date_time_get_month (dt),
                                          g_date_time_get_day_of_month (dt), 0, 0, 0);
    int64_t day = utc ? g_date_time_to_unix (utc) / 86400 : 0;
    if (utc)
        g_date_time_unref (utc);
    g_date_time_unref (dt);
    return day;
}

static bool s_match (const imap_search_t *s, const imap_search_msg_t *msg, uint32_t max_seq,
                     uint32_t max_uid);

/* The keys that need the message (NULL message: they match nothing) */
static bool
s_match_message (const imap_search_t *s, const imap_search_msg_t *msg)
{
    imap_mime_t *mime = msg->mime;
    if (!mime)
        return false;
    switch (s->kind) {
    case IMAP_SK_HEADER:
        return s->field && s->text && s_header_match (mime, s->field, s->text);
    case IMAP_SK_BODY:
        return s->text && s_body_match (mime, s->text);
    case IMAP_SK_TEXT:
        return s->text && (s_header_match (mime, NULL, s->text) || s_body_match (mime, s->text));
    case IMAP_SK_SENTBEFORE:
        return s_sent_day (mime, msg->internal_date) < s->day;
    case IMAP_SK_SENTON:
        return s_sent_day (mime, msg->internal_date) == s->day;
    default: /* IMAP_SK_SENTSINCE */
        return s_sent_day (mime, msg->internal_date) >= s->day;
    }
}

static bool
s_match_all (const imap_search_t *list, const imap_search_msg_t *msg, uint32_t max_seq, uint32_t max_uid)
{
    for (const imap_search_t *s = list; s; s = s->next)
        if (!s_match (s, msg, max_seq, max_uid))
            return false;
    return true;
}

static bool
s_match (const imap_search_t *s, const imap_search_msg_t *msg, uint32_t max_seq, uint32_t max_uid)
{
    switch (s->kind) {
    case IMAP_SK_ALL:
    case IMAP_SK_UNKEYWORD:
        return true;
    case IMAP_SK_KEYWORD:
        return false;
    case IMAP_SK_FLAG:
        return (msg->flags & s->flag) != 0;
    case IMAP_SK_NOFLAG:
        return (msg->flags & s->flag) == 0;
    case IMAP_SK_BEFORE:
        return s_day (msg->internal_date) < s->day;
    case IMAP_SK_ON:
        return s_day (msg->internal_date) == s->day;
    case IMAP_SK_SINCE:
        return s_day (msg->internal_date) >= s->day;
    case IMAP_SK_LARGER:
        return msg->size > s->number;
    case IMAP_SK_SMALLER:
        return msg->size < s->number;
    case IMAP_SK_UID:
        return imap_seqset_contains (&s->set, msg->uid, max_uid);
    case IMAP_SK_SEQ:
        return imap_seqset_contains (&s->set, msg->seq, max_seq);
    case IMAP_SK_NOT:
        return s->a && !s_match (s->a, msg, max_seq, max_uid);
    case IMAP_SK_OR:
        return (s->a && s_match (s->a, msg, max_seq, max_uid)) ||
               (s->b && s_match (s->b, msg, max_seq, max_uid));
    case IMAP_SK_AND:
        return s_match_all (s->a, msg, max_seq, max_uid);
    default:
        return s_match_message (s, msg);
    }
}

bool
imap_search_match (const imap_search_t *search, const imap_search_msg_t *msg, uint32_t max_seq,
                   uint32_t max_uid)
{
    return s_match_all (search, msg, max_seq, max_uid);
}
