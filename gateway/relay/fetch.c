/*  fetch.c — POP3 fetch with libcurl into the broker. */
#include "fetch.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "argv_scrub.h"
#include "buffer.h"
#include "client.h"
#include "curl_stop.h"
#include "header.h"
#include "log.h"
#include "mb_limits.h"
#include "proto.h"
#include "worker.h"

int
fetch_parse (const char *spec, const char *password, fetch_config_t *config, char **copy, const char **why)
{
    assert (spec && config && copy && why);
    *copy = strdup (spec);
    if (!*copy) {
        *why = "out of memory";
        return -1;
    }
    char *save = NULL;
    char *url = strtok_r (*copy, " ", &save), *user = strtok_r (NULL, " ", &save);
    char *third = strtok_r (NULL, " ", &save);
    char *mailbox = password ? third : strtok_r (NULL, " ", &save);
    if (!mailbox || strtok_r (NULL, " ", &save)) {
        *why = password ? "with --fetch-password-file, --fetch takes 'URL USER MAILBOX'"
                        : "--fetch takes 'URL USER PASSWORD MAILBOX' (or 'URL USER MAILBOX' with "
                          "--fetch-password-file)";
        return -1;
    }
    if (strncmp (url, "pop3://", 7) != 0 && strncmp (url, "pop3s://", 8) != 0) {
        *why = "--fetch URL must start with pop3:// or pop3s://";
        return -1;
    }
    config->url = url;
    config->user = user;
    config->password = password ? password : third;
    config->mailbox = mailbox;
    return 0;
}

char *
fetch_take_spec (char *arg)
{
    char *copy = strdup (arg);
    /* the third of four space-separated words, found as fetch_parse's strtok_r finds it */
    char *word[5] = {NULL};
    size_t len[5] = {0}, n = 0;
    for (char *p = arg + strspn (arg, " "); *p && n < 5; p += len[n++], p += strspn (p, " ")) {
        word[n] = p;
        len[n] = strcspn (p, " ");
    }
    if (n == 4)
        argv_scrub (arg, (size_t)(word[2] - arg), len[2]);
    return copy;
}

int
fetch_read_password (const char *path, char **password, char **error)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0) {
        *error = zsys_sprintf ("--fetch-password-file %s: %s", path, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    if (!S_ISREG (st.st_mode) || st.st_uid != geteuid () || (st.st_mode & 077)) {
        *error = zsys_sprintf ("--fetch-password-file %s: must be a file of ours that nobody else may "
                               "read or write (chmod 600 it)",
                               path);
        close (fd);
        return -1;
    }
    char line[MAX_PASSWORD + 3] = "";
    ssize_t got = read (fd, line, sizeof line - 1);
    close (fd);
    size_t n = got > 0 ? strcspn (line, "\r\n") : 0;
    if (n == 0 || n > MAX_PASSWORD) {
        *error = zsys_sprintf ("--fetch-password-file %s: the first line must hold the password "
                               "(1 to %d characters)",
                               path, MAX_PASSWORD);
        sodium_memzero (line, sizeof line);
        return -1;
    }
    line[n] = '\0';
    *password = strdup (line);
    sodium_memzero (line, sizeof line);
    return *password ? 0 : -1; /* out of memory: *error NULL, the caller says so */
}

/* What the server sent for one POP3 command, held up to the buffer's bound. Past it the
   rest is read and dropped, and too_big says so: the transfer ends as usual, so the session
   (and the DELEs sent in it, applied at QUIT) goes on. */
typedef struct {
    buffer_t data;
    bool too_big;
} answer_t;

#define ANSWER_INIT(max_octets) ((answer_t){BUFFER_INIT (max_octets), false})

/* libcurl's write callback: a short count (out of memory) makes the transfer fail */
static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    answer_t *answer = arg;
    size_t n = size * count;
    if (answer->too_big || buffer_append (&answer->data, data, n) == 0)
        return n;
    if (answer->data.max == 0 || answer->data.size + n <= answer->data.max)
        return 0;
    answer->too_big = true;
    buffer_free (&answer->data);
    return n;
}

/* The most a POP3 answer may bring: the gateway's message size limit */
static size_t
s_max_answer (const fetch_config_t *config)
{
    return config->max_message_bytes ? config->max_message_bytes : MAX_MESSAGE_BYTES;
}

/* Runs one POP3 command on the (reused) connection; what the server sends goes into out */
static CURLcode
s_pop3 (CURL *curl, const fetch_config_t *config, const char *path, const char *command, answer_t *out)
{
    char url[512];
    snprintf (url, sizeof url, "%s/%s", config->url, path);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, command);
    curl_easy_setopt (curl, CURLOPT_NOBODY, command && strcmp (command, "DELE") == 0 ? 1L : 0L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, out);
    return curl_easy_perform (curl);
}

static bool
s_seen (const fetch_config_t *config, const char *uidl)
{
    if (!config->keep || !config->state_file)
        return false;
    FILE *file = fopen (config->state_file, "r");
    if (!file)
        return false;
    char line[256];
    bool seen = false;
    while (!seen && fgets (line, sizeof line, file)) {
        line[strcspn (line, "\r\n")] = '\0';
        seen = strcmp (line, uidl) == 0;
    }
    fclose (file);
    return seen;
}

static int
s_remember (const fetch_config_t *config, const char *uidl)
{
    FILE *file = fopen (config->state_file, "a");
    if (!file)
        return -1;
    fprintf (file, "%s\n", uidl);
    fflush (file);
    int rc = fsync (fileno (file));
    fclose (file);
    return rc;
}

/* RFC 1939: a retrieved message ends in CRLF; the broker wants CRLF only, so a server that
   sent bare LF gets its lines mended here (a CR that ends no line is dropped) */
static char *
s_crlf (const char *data, size_t size, size_t *out_size)
{
    char *out = malloc (size * 2 + 1); /* every LF doubled */
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
            out[o++] = '\r';
        if (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'))
            continue;
        out[o++] = data[i];
    }
    *out_size = o;
    return out;
}

/* Short of memory for a fetched message: not published, so the remote copy stays for the next poll */
static bool
s_no_memory (const char *quid)
{
    log_warn ("gateway", "out-of-memory", "where=fetch uidl=%s remote-copy=kept", quid);
    return false;
}

/* Publishes one message to the local mailbox; true when the broker acknowledged it */
static bool
s_publish (client_t *client, const fetch_config_t *config, const char *uidl, const char *data, size_t size)
{
    size_t body_size = 0;
    size_t at = 0;
    char *body = header_complete (s_crlf (data, size, &body_size), &body_size, &at);
    /* a UIDL comes from the remote server: quoted in every log line */
    char quid[200];
    log_quote (quid, sizeof quid, uidl, strlen (uidl));
    if (!body)
        return s_no_memory (quid);
    if (at != (size_t)-1)
        log_info ("gateway", "fetch-mended", "uidl=%s empty-line-at=%zu", quid, at);
    char mid[MAX_ADDRESS * 2 + 1] = "";
    if (!header_find (body, body_size, "Message-ID", mid, sizeof mid) || !*mid) {
        /* the broker's dedupe is what makes a second run after a crash between publish and
           DELE harmless, and it keys on Message-ID: a message without one gets one made from
           what stays the same in the next run (RFC 1939: a UIDL is unique and persistent) */
        unsigned char hash[16];
        crypto_generichash_state state;
        crypto_generichash_init (&state, NULL, 0, sizeof hash);
        const char *parts[] = {config->url, config->user, uidl};
        for (size_t i = 0; i < 3; i++)
            crypto_generichash_update (&state, (const unsigned char *)parts[i], strlen (parts[i]) + 1);
        crypto_generichash_final (&state, hash, sizeof hash);
        char hex[sizeof hash * 2 + 1];
        sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
        const char *domain = strchr (config->mailbox, '@');
        char field[64 + MAX_ADDRESS];
        int n = snprintf (field, sizeof field, "Message-ID: <fetch.%s@%s>\r\n", hex,
                          domain ? domain + 1 : "localhost");
        if (n > 0 && (size_t)n < sizeof field) {
            char *with = malloc (body_size + (size_t)n);
            if (!with) {
                free (body);
                return s_no_memory (quid);
            }
            memcpy (with, field, (size_t)n);
            memcpy (with + n, body, body_size);
            free (body);
            body = with;
            body_size += (size_t)n;
            log_info ("gateway", "fetch-message-id", "uidl=%s message-id=<fetch.%s@%s>", quid, hex,
                      domain ? domain + 1 : "localhost");
        }
    }
    char from[512] = "", sender[MAX_ADDRESS + 1] = "";
    /* the envelope sender: Return-Path, else the bare address in From, else the null sender */
    if (header_find (body, body_size, "Return-Path", from, sizeof from) ||
        header_find (body, body_size, "From", from, sizeof from)) {
        char *lt = strrchr (from, '<'), *gt = lt ? strchr (lt, '>') : NULL;
        const char *text = lt && gt ? lt + 1 : from;
        size_t len = lt && gt ? (size_t)(gt - lt - 1) : strlen (from);
        address_t addr;
        if (address_parse (text, len, &addr, NULL) == 0)
            snprintf (sender, sizeof sender, "%s", addr.full);
    }
    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, sender);
    zmsg_addstr (args, config->mailbox);
    zmsg_addmem (args, body, body_size);
    free (body);
    zmsg_t *reply = client_call (client, "SEND", args);
    int code = 0;
    char line[512] = "";
    bool ok = reply && proto_reply_status (reply, &code, line, sizeof line) == 0 && reply_is_success (code);
    if (ok)
        log_info ("gateway", "fetch-publish", "from=%s to=%s reply=\"%s\"", *sender ? sender : "<>",
                  config->mailbox, line);
    else
        /* nothing is deleted or remembered: the remote copy stays, tried again at each poll */
        log_warn ("gateway", "fetch-refused", "from=%s to=%s uidl=%s reply=\"%s\" remote-copy=kept",
                  *sender ? sender : "<>", config->mailbox, quid, reply ? line : "no answer");
    zmsg_destroy (&reply);
    return ok;
}

/* Fetches message number (uidl) and publishes it; the remote copy goes (or, with keep, its
   UIDL is remembered) only once the broker acknowledged it. A message larger than the limit
   stays on the server. 1 published, 0 not. */
static int
s_fetch_one (CURL *curl, client_t *client, const fetch_config_t *config, const char *number, const char *uidl)
{
    answer_t message = ANSWER_INIT (s_max_answer (config));
    if (s_pop3 (curl, config, number, NULL, &message) != CURLE_OK || !message.data.data) {
        if (message.too_big) {
            char quid[200];
            log_quote (quid, sizeof quid, uidl, strlen (uidl));
            log_warn ("gateway", "fetch-too-big", "url=%s number=%s uidl=%s max=%zu remote-copy=kept",
                      config->url, number, quid, message.data.max);
        }
        buffer_free (&message.data);
        return 0;
    }
    bool published = s_publish (client, config, uidl, message.data.data, message.data.size);
    buffer_free (&message.data);
    if (!published)
        return 0;
    /* only now, with the broker's durable ack, may the remote copy go */
    if (config->keep)
        s_remember (config, uidl);
    else {
        answer_t ignored = ANSWER_INIT (0);
        if (s_pop3 (curl, config, number, "DELE", &ignored) != CURLE_OK)
            log_warn ("gateway", "fetch-dele-failed", "url=%s number=%s", config->url, number);
        buffer_free (&ignored.data);
    }
    return 1;
}

/* A gateway told to stop does not wait for a slow server (Dovecot holds a login after a wrong
   password for seconds) up to the 60 s timeout (curl_stop.h). Aborting loses nothing: the
   DELEs of a session take effect only at QUIT (RFC 1939 6), each sent after the broker's ack. */
static int
s_poll (client_t *client, const fetch_config_t *config, curl_stop_t *control)
{
    CURL *curl = curl_easy_init ();
    if (!curl)
        return -1;
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt (curl, CURLOPT_USERNAME, config->user);
    curl_easy_setopt (curl, CURLOPT_PASSWORD, config->password);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    /* the password never crosses the wire in the clear: STLS or POP3S */
    curl_easy_setopt (curl, CURLOPT_USE_SSL, config->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
    curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, config->insecure ? 0L : 1L);
    curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, config->insecure ? 0L : 2L);
    if (config->ca_file)
        curl_easy_setopt (curl, CURLOPT_CAINFO, config->ca_file);
    curl_stop_attach (curl, control);

    /* the listing is bounded as a message is (a UIDL line is at most 70 + 2 + 10 + 2 octets,
       RFC 1939 7: the default bound takes over 100 000 messages) */
    answer_t listing = ANSWER_INIT (s_max_answer (config));
    CURLcode rc = s_pop3 (curl, config, "", "UIDL", &listing);
    int published = 0;
    if (rc != CURLE_OK || listing.too_big) {
        if (control->stopping)
            log_info ("gateway", "fetch-stopped", "url=%s", config->url);
        else
            log_warn ("gateway", "fetch-failed", "url=%s error=\"%s\"", config->url,
                      listing.too_big ? "UIDL listing too large"
                      : *error        ? error
                                      : curl_easy_strerror (rc));
        published = -1;
    }
    char *save = NULL;
    for (char *line = published == 0 && listing.data.data ? strtok_r (listing.data.data, "\r\n", &save)
                                                          : NULL;
         line && !control->stopping; line = strtok_r (NULL, "\r\n", &save)) {
        char number[FETCH_NUMBER_SIZE], uidl[FETCH_UIDL_SIZE], quoted[200];
        if (fetch_uidl_line (line, number, uidl) != 0)
            log_warn ("gateway", "fetch-bad-uidl", "url=%s line=%s", config->url,
                      log_quote (quoted, sizeof quoted, line, strlen (line)));
        else if (!s_seen (config, uidl))
            published += s_fetch_one (curl, client, config, number, uidl);
    }
    buffer_free (&listing.data);
    /* the POP3 session ends here: QUIT applies the DELEs (RFC 1939 UPDATE state). A session
       cut short by a stop or a timeout ends without QUIT: its DELEs are not applied, and the
       next run fetches those messages again, which the broker's dedupe answers. */
    curl_stop_cleanup (curl, control, rc);
    return published;
}

int
fetch_uidl_line (const char *line, char number[FETCH_NUMBER_SIZE], char uidl[FETCH_UIDL_SIZE])
{
    assert (line && number && uidl);
    size_t digits = strspn (line, "0123456789");
    if (digits == 0 || digits >= FETCH_NUMBER_SIZE || line[digits] != ' ')
        return -1;
    const char *id = line + digits + 1;
    size_t len = 0;
    while (id[len] >= 0x21 && id[len] <= 0x7E)
        len++;
    if (len == 0 || len >= FETCH_UIDL_SIZE || id[len] != '\0')
        return -1;
    memcpy (number, line, digits);
    number[digits] = '\0';
    memcpy (uidl, id, len + 1);
    return 0;
}

int
fetch_poll_once (const fetch_config_t *config)
{
    char *error = NULL;
    client_t *client =
        client_new (config->broker, config->gateway_user, config->gateway_password, 5000, &error);
    if (!client) {
        log_warn ("gateway", "fetch-no-broker", "error=\"%s\"", error);
        free (error);
        return -1;
    }
    curl_stop_t control = {NULL, false, false};
    int n = s_poll (client, config, &control);
    client_destroy (&client);
    return n;
}

/* The worker's round (worker.h): a failed poll keeps the broker client, the next one tries
   again after the interval */
static worker_result_t
s_fetch_round (void *args, client_t *client, curl_stop_t *stop)
{
    const fetch_config_t *config = args;
    if (s_poll (client, config, stop) < 0 && !stop->stopping)
        log_debug ("gateway", "fetch-retry", "url=%s", config->url);
    return WORKER_DONE;
}

zactor_t *
fetch_actor_new (const fetch_config_t *config)
{
    worker_config_t worker = {
        "fetch",       config->broker, config->gateway_user, config->gateway_password, config->interval_ms,
        s_fetch_round, (void *)config};
    return worker_new (&worker);
}
