/*  fuzz_web.c — what mailbus-web reads from outside (web/render.h, web/check.h, web/json.h):
    the input is a message from anyone, rendered as the webmail shows it (JSON, every part's
    bytes, the HTML parts); its first line is also taken as a message id, a token, a recipient
    list, a --listen address and an attachment's file name. Forms, cookies and query strings
    are parsed by libmicrohttpd. */
#include <string.h>

#include "check.h"
#include "fuzz.h"
#include "json.h"
#include "mb_limits.h"
#include "render.h"

/* JSON text that can never close a <script> nor carry a raw control character */
static void
s_check_json (const json_t *j)
{
    for (size_t i = 0; i < j->len; i++) {
        unsigned char c = (unsigned char)j->data[i];
        FUZZ_CHECK (c >= 0x20 && c != 0x7f && c != '<' && c != '>' && c != '&');
    }
}

static void
s_check_render (const char *msg, size_t size)
{
    json_t j;
    json_init (&j);
    if (render_message_json (msg, size, &j) == 0) {
        FUZZ_CHECK (j.len >= 2 && j.data[0] == '{' && j.data[j.len - 1] == '}');
        s_check_json (&j);
    }
    else
        FUZZ_CHECK (j.len == 0);
    json_free (&j);
    for (int index = 0; index < 4; index++) {
        char *bytes = NULL, *type = NULL, *name = NULL, *html = NULL;
        size_t len = 0;
        if (render_part (msg, size, index, &bytes, &len, &type, &name) == 0) {
            FUZZ_CHECK (name[0] && !strpbrk (name, "/\\\";:") && strcmp (name, "..") != 0);
            for (const char *p = name; *p; p++)
                FUZZ_CHECK ((unsigned char)*p >= 0x20 && *p != 0x7f);
            free (bytes), free (type), free (name);
        }
        if (render_html (msg, size, index, &html) == 0)
            free (html);
    }
}

static void
s_check_line (const char *line)
{
    int64_t n;
    if (check_number (line, INT64_C (999999999999999999), &n) == 0)
        FUZZ_CHECK (n >= 0 && (line[0] != '0' || line[1] == '\0'));
    FUZZ_CHECK (!check_token (line) || strlen (line) == CHECK_TOKEN_HEX);
    char *copy = NULL;
    const char *to[MAX_RCPT + 1];
    int count = check_recipients (line, &copy, to, MAX_RCPT);
    FUZZ_CHECK (count >= -1 && count <= MAX_RCPT);
    for (int i = 0; i < count; i++)
        FUZZ_CHECK (*to[i] && strlen (to[i]) <= MAX_ADDRESS && !strpbrk (to[i], ",; \t"));
    free (copy);
    char host[64];
    int port = -1;
    if (check_listen (line, host, sizeof host, &port) == 0)
        FUZZ_CHECK (port >= 0 && port <= 65535 && host[0]);
    char name[32];
    check_filename (line, 3, name, sizeof name);
    FUZZ_CHECK (name[0] && strlen (name) < sizeof name && !strpbrk (name, "/\\\";:"));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        render_init ();
        ready = 1;
    }
    const char *msg = (const char *)data;
    s_check_render (msg, size);
    json_t j;
    json_init (&j);
    json_strn (&j, msg, size);
    s_check_json (&j);
    json_free (&j);
    char line[600];
    const char *eol = memchr (msg, '\n', size < sizeof line - 1 ? size : sizeof line - 1);
    size_t n = eol ? (size_t)(eol - msg) : 0;
    memcpy (line, msg, n);
    line[n] = '\0';
    if (!memchr (line, '\0', n))
        s_check_line (line);
    return 0;
}
