/*  main.c — mailbus-pub: composes a message (or takes a ready one) and publishes it to
    mailbox topics with SEND, printing the broker's answer for every recipient. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "argv_scrub.h"
#include "client.h"
#include "client_config.h"
#include "config.h"
#include "compose.h"
#include "mb_limits.h"
#include "prompt.h"
#include "proto.h"
#include "reply.h"

#define DEFAULT_RETRIES 3

typedef struct {
    const char *endpoint;
    const char *user;
    const char *password;
    char *password_copy; /* -p: taken out of argv (ps shows "-p *") */
    bool password_stdin;
    const char *config;
    const char *server_key; /* --server-key: the broker's public key (CURVE) */
    const char *key;        /* --key: our key pair, to log in without a password */
    const char *from;
    GPtrArray *to; /* g_strdup'ed addresses */
    GPtrArray *cc;
    GPtrArray *attachments; /* file paths */
    char *subject;          /* malloc'ed */
    char *body;             /* malloc'ed; NULL: from stdin or -i */
    const char *raw;        /* --raw FILE.eml */
    bool interactive;
    bool print_only;
    int timeout_s;
    int retries;
} options_t;

static void
s_print_usage (FILE *out)
{
    fprintf (out,
             "usage: mailbus-pub [-b ENDPOINT] -u USER [-p PASSWORD | --password-stdin] [--from ADDR]\n"
             "                   -t TO [-t TO]... [--cc ADDR]... [-s SUBJECT] [-a FILE]...\n"
             "                   [-m BODY | --raw FILE.eml | body on stdin] [-i] [-c FILE]\n"
             "\n"
             "Publishes one message to mailbox topics through the mailbus broker and prints the\n"
             "broker's answer for every recipient, e.g. \"250 2.0.0 bob@demo.test queued as 42\".\n"
             "\n"
             "  -b, --broker ENDPOINT   broker endpoint (default %s; env MAILBUS_BROKER)\n"
             "  -u, --user ADDRESS      the mailbox to identify as (env MAILBUS_USER)\n"
             "  -p, --password PASS     its password (env MAILBUS_PASSWORD); ps shows it as '*' once\n"
             "                          the options are read, but --password-stdin is safer\n"
             "      --password-stdin    read the password from the first line of standard input\n"
             "      --server-key KEY    the broker's public key (40 characters, or its key file): CURVE,\n"
             "                          needed beyond loopback (env MAILBUS_SERVER_KEY; config\n"
             "                          client/server-key); `mailbus-broker key` prints it\n"
             "      --key FILE          log in with this key pair instead of a password (made by\n"
             "                          `mailbus-sub keygen FILE`; env MAILBUS_KEY)\n"
             "  -c, --config FILE       ZPL config; keys client/broker, client/user, client/password\n"
             "                          (options win over the environment, which wins over the file)\n"
             "      --from ADDRESS      sender (default: USER; the broker refuses others, 553 5.7.1)\n"
             "  -t, --to ADDRESS        recipient (repeat, or separate with commas)\n"
             "      --cc ADDRESS        carbon-copy recipient (repeat, or separate with commas)\n"
             "  -s, --subject TEXT      subject\n"
             "  -a, --attach FILE       attach a file (repeat); makes a multipart/mixed message\n"
             "  -m, --message TEXT      the body text (default: read the body from standard input)\n"
             "      --raw FILE.eml      send a ready RFC 5322 message (LF line endings become CRLF; a\n"
             "                          missing empty line after the header fields is put in)\n"
             "  -i, --interactive       ask for To, Subject, attachments and body on the terminal,\n"
             "                          and for the password (no echo) when none is given\n"
             "      --timeout SECONDS   wait this long for each answer (default 10)\n"
             "      --retries N         send again this many times after no answer (default %d;\n"
             "                          the same Message-ID, so the broker stores it once)\n"
             "      --print             write the message to standard output instead of sending it\n"
             "  -h, --help              this help\n"
             "\n"
             "Exit status: 0 every recipient accepted; 1 a permanent failure (5xx); 75 a transient\n"
             "failure (4xx) or no answer from the broker; 64 usage error.\n"
             "\n"
             "Example:\n"
             "  MAILBUS_PASSWORD=demo mailbus-pub -u alice@demo.test -t bob@demo.test \\\n"
             "      -s \"lunch?\" -m \"at noon\" -a menu.pdf\n",
             CLIENT_DEFAULT_ENDPOINT, DEFAULT_RETRIES);
}

static int
s_usage_error (const char *format, const char *arg)
{
    fprintf (stderr, "mailbus-pub: ");
    fprintf (stderr, format, arg);
    fprintf (stderr, "\ntry mailbus-pub --help\n");
    return EX_USAGE;
}

/* Reads a whole file (or stream) into a malloc'ed, NUL-terminated buffer */
static char *
s_read_all (FILE *in, size_t *size)
{
    size_t cap = 8192, n = 0;
    char *data = malloc (cap);
    size_t got;
    while ((got = fread (data + n, 1, cap - n - 1, in)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            data = realloc (data, cap);
        }
    }
    if (ferror (in)) {
        free (data);
        return NULL;
    }
    data[n] = '\0';
    *size = n;
    return data;
}

static int
s_parse_number (const char *text, int min, int max, int *value)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || !end || *end || end == text || v < min || v > max)
        return -1;
    *value = (int)v;
    return 0;
}

/* Parses argv into opts; returns -1 to go on, or the exit status */
static int
s_parse_options (int argc, char *argv[], options_t *opts)
{
    enum {
        OPT_PASSWORD_STDIN = 256,
        OPT_FROM,
        OPT_CC,
        OPT_RAW,
        OPT_TIMEOUT,
        OPT_RETRIES,
        OPT_PRINT,
        OPT_SERVER_KEY,
        OPT_KEY
    };
    static const struct option long_options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, 't'},
        {"cc", required_argument, NULL, OPT_CC},
        {"subject", required_argument, NULL, 's'},
        {"attach", required_argument, NULL, 'a'},
        {"message", required_argument, NULL, 'm'},
        {"raw", required_argument, NULL, OPT_RAW},
        {"interactive", no_argument, NULL, 'i'},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"retries", required_argument, NULL, OPT_RETRIES},
        {"print", no_argument, NULL, OPT_PRINT},
        {"server-key", required_argument, NULL, OPT_SERVER_KEY},
        {"key", required_argument, NULL, OPT_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":b:u:p:c:t:s:a:m:ih", long_options, NULL)) != -1) {
        switch (c) {
        case 'b':
            opts->endpoint = optarg;
            break;
        case 'u':
            opts->user = optarg;
            break;
        case 'p':
            argv_secret_free (&opts->password_copy);
            opts->password_copy = argv_take_secret (optarg);
            opts->password = opts->password_copy;
            break;
        case OPT_PASSWORD_STDIN:
            opts->password_stdin = true;
            break;
        case OPT_SERVER_KEY:
            opts->server_key = optarg;
            break;
        case OPT_KEY:
            opts->key = optarg;
            break;
        case 'c':
            opts->config = optarg;
            break;
        case OPT_FROM:
            opts->from = optarg;
            break;
        case 't':
            if (prompt_split_addresses (optarg, opts->to) == 0)
                return s_usage_error ("-t needs an address, got \"%s\"", optarg);
            break;
        case OPT_CC:
            if (prompt_split_addresses (optarg, opts->cc) == 0)
                return s_usage_error ("--cc needs an address, got \"%s\"", optarg);
            break;
        case 's':
            free (opts->subject);
            opts->subject = strdup (optarg);
            break;
        case 'a':
            if (access (optarg, R_OK) != 0)
                return s_usage_error ("cannot read attachment %s", optarg);
            g_ptr_array_add (opts->attachments, g_strdup (optarg));
            break;
        case 'm':
            free (opts->body);
            opts->body = strdup (optarg);
            break;
        case OPT_RAW:
            opts->raw = optarg;
            break;
        case 'i':
            opts->interactive = true;
            break;
        case OPT_TIMEOUT:
            if (s_parse_number (optarg, 1, 3600, &opts->timeout_s) != 0)
                return s_usage_error ("--timeout takes seconds from 1 to 3600, got \"%s\"", optarg);
            break;
        case OPT_RETRIES:
            if (s_parse_number (optarg, 0, 100, &opts->retries) != 0)
                return s_usage_error ("--retries takes a number from 0 to 100, got \"%s\"", optarg);
            break;
        case OPT_PRINT:
            opts->print_only = true;
            break;
        case 'h':
            s_print_usage (stdout);
            return 0;
        case ':':
            return s_usage_error ("option %s needs a value", argv[optind - 1]);
        default:
            return s_usage_error ("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return s_usage_error ("unexpected argument \"%s\"", argv[optind]);
    if (opts->raw && (opts->body || opts->subject || opts->attachments->len || opts->interactive))
        return s_usage_error ("%s: --raw sends the file as it is; -m, -s, -a and -i do not go with it",
                              opts->raw);
    if (!opts->interactive && opts->to->len == 0 && !opts->print_only)
        return s_usage_error ("%s", "no recipient: give -t ADDRESS");
    return -1;
}

/* The message bytes, strictly CRLF; NULL with a message on stderr */
static char *
s_message (options_t *opts, size_t *size)
{
    if (opts->raw) {
        FILE *file = fopen (opts->raw, "rb");
        if (!file) {
            fprintf (stderr, "mailbus-pub: cannot open %s: %s\n", opts->raw, strerror (errno));
            return NULL;
        }
        size_t len = 0;
        char *data = s_read_all (file, &len);
        fclose (file);
        if (!data || len == 0) {
            fprintf (stderr, "mailbus-pub: %s is empty or unreadable\n", opts->raw);
            free (data);
            return NULL;
        }
        size_t mended_at = 0;
        char *message = compose_raw (data, len, size, &mended_at);
        free (data);
        if (mended_at != (size_t)-1)
            /* RFC 5322 2.1: header fields, an empty line, the body; mended as Postfix does */
            fprintf (stderr,
                     "mailbus-pub: %s: no empty line after the header fields; one was put in at octet %zu\n",
                     opts->raw, mended_at);
        return message;
    }
    if (opts->interactive) {
        if (prompt_message (stdin, stderr, opts->to, &opts->subject, opts->attachments, &opts->body) != 0)
            return NULL;
    }
    size_t body_size = 0;
    if (!opts->body) {
        if (isatty (STDIN_FILENO))
            fprintf (stderr, "mailbus-pub: type the body, end with Ctrl-D\n");
        opts->body = s_read_all (stdin, &body_size);
        if (!opts->body) {
            fprintf (stderr, "mailbus-pub: cannot read the body from standard input\n");
            return NULL;
        }
    }
    else
        body_size = strlen (opts->body);

    g_ptr_array_add (opts->to, NULL);
    g_ptr_array_add (opts->cc, NULL);
    g_ptr_array_add (opts->attachments, NULL);
    compose_t spec = {
        .from = opts->from,
        .to = (const char *const *)opts->to->pdata,
        .cc = (const char *const *)opts->cc->pdata,
        .subject = opts->subject,
        .body = opts->body,
        .body_size = body_size,
        .attachments = (const char *const *)opts->attachments->pdata,
    };
    char *error = NULL;
    char *message = compose_build (&spec, size, &error);
    g_ptr_array_remove_index (opts->to, opts->to->len - 1);
    g_ptr_array_remove_index (opts->cc, opts->cc->len - 1);
    g_ptr_array_remove_index (opts->attachments, opts->attachments->len - 1);
    if (!message) {
        fprintf (stderr, "mailbus-pub: %s\n", error);
        free (error);
    }
    return message;
}

/* The exit status for a status line: 0 for 2xx, 75 for 4xx, 1 for 5xx or garbage */
static int
s_status_exit (int code)
{
    if (reply_is_success (code))
        return 0;
    return reply_is_transient (code) ? EX_TEMPFAIL : 1;
}

/* Sends the message and prints the per-recipient answers; returns the exit status */
static int
s_publish (client_t *client, options_t *opts, const char *message, size_t size)
{
    /* past MAX_WIRE_BYTES libzmq drops the connection (ZMQ_MAXMSGSIZE) without a word:
       say what the broker would (RFC 1870 SIZE) instead of waiting for an answer */
    size_t wire = size + strlen (opts->from) + 64;
    for (guint i = 0; i < opts->to->len; i++)
        wire += strlen (g_ptr_array_index (opts->to, i)) + 8;
    for (guint i = 0; i < opts->cc->len; i++)
        wire += strlen (g_ptr_array_index (opts->cc, i)) + 8;
    if (wire > MAX_WIRE_BYTES) {
        fprintf (stderr, "552 5.3.4 message too big: %zu bytes, the broker takes at most %d\n", size,
                 MAX_MESSAGE_BYTES);
        return 1;
    }

    zmsg_t *args = zmsg_new ();
    zmsg_addstr (args, opts->from);
    for (guint i = 0; i < opts->to->len; i++)
        zmsg_addstr (args, g_ptr_array_index (opts->to, i));
    for (guint i = 0; i < opts->cc->len; i++)
        zmsg_addstr (args, g_ptr_array_index (opts->cc, i));
    zmsg_addmem (args, message, size);

    zmsg_t *reply = NULL;
    for (int attempt = 0; attempt <= opts->retries && !zsys_interrupted; attempt++) {
        if (attempt > 0)
            fprintf (stderr, "mailbus-pub: no answer within %d s, sending again (%d of %d)\n",
                     opts->timeout_s, attempt, opts->retries);
        /* the same bytes every time: the broker dedupes by Message-ID and repeats its answer */
        reply = client_call (client, "SEND", zmsg_dup (args));
        if (reply)
            break;
    }
    zmsg_destroy (&args);
    if (!reply) {
        fprintf (stderr, "mailbus-pub: no answer from the broker; the message may or may not be stored\n");
        return EX_TEMPFAIL;
    }
    int code = 0;
    char line[1025];
    if (proto_reply_status (reply, &code, line, sizeof line) != 0) {
        fprintf (stderr, "mailbus-pub: the broker sent a malformed reply\n");
        zmsg_destroy (&reply);
        return 1;
    }
    int status = 0;
    size_t recipients = 0;
    zmsg_first (reply);
    for (zframe_t *frame = zmsg_next (reply); frame; frame = zmsg_next (reply)) {
        char *text = zframe_strdup (frame);
        printf ("%s\n", text);
        int rcpt_code = 0;
        if (reply_parse (text, &rcpt_code, NULL) != 0)
            rcpt_code = 554;
        int rcpt_status = s_status_exit (rcpt_code);
        /* a transient failure means "try again later", even beside permanent ones */
        if (rcpt_status == EX_TEMPFAIL || (rcpt_status && !status))
            status = rcpt_status;
        free (text);
        recipients++;
    }
    fflush (stdout);
    if (recipients == 0) {
        /* a message-level answer (552 5.3.4, 553 5.7.1, 550 5.6.0 ...) */
        fprintf (stderr, "%s\n", line);
        status = reply_is_success (code) ? 1 : s_status_exit (code);
    }
    zmsg_destroy (&reply);
    return status;
}

/* -i with no password from -p, --password-stdin, MAILBUS_PASSWORD or the config: ask for
   it on the terminal, as the classroom's interactive sender does. 0, or -1 (said why) */
static int
s_ask_password (options_t *opts)
{
    if (!opts->interactive || opts->password || opts->password_stdin || getenv ("MAILBUS_PASSWORD") ||
        opts->key || getenv ("MAILBUS_KEY"))
        return 0;
    const char *user = opts->user ? opts->user : getenv ("MAILBUS_USER");
    opts->password_copy = prompt_password (user);
    opts->password = opts->password_copy;
    return opts->password ? 0 : -1;
}

int
main (int argc, char *argv[])
{
    options_t opts = {
        .to = g_ptr_array_new_with_free_func (g_free),
        .cc = g_ptr_array_new_with_free_func (g_free),
        .attachments = g_ptr_array_new_with_free_func (g_free),
        .timeout_s = CLIENT_DEFAULT_TIMEOUT_MS / 1000,
        .retries = DEFAULT_RETRIES,
    };
    int status = s_parse_options (argc, argv, &opts);
    char *password = NULL;
    zconfig_t *config = NULL;
    char *message = NULL;
    client_t *client = NULL;
    if (status >= 0)
        goto done;

    char *error = NULL;
    config = client_config_apply (opts.config, &opts.endpoint, &opts.user, &opts.password, &error);
    if (!config) {
        fprintf (stderr, "mailbus-pub: %s\n", error);
        free (error);
        status = EX_USAGE;
        goto done;
    }
    client_set_keys (opts.server_key ? opts.server_key : config_get (config, "client/server-key", NULL),
                     opts.key);
    if (opts.print_only) {
        if (!opts.user)
            opts.user = getenv ("MAILBUS_USER");
    }
    else if (s_ask_password (&opts) != 0 || client_credentials (&opts.endpoint, &opts.user, &password,
                                                                opts.password, opts.password_stdin) != 0) {
        status = EX_USAGE;
        goto done;
    }
    if (!opts.from)
        opts.from = opts.user;
    if (!opts.from) {
        status = s_usage_error ("%s", "no sender: give -u USER or --from ADDRESS");
        goto done;
    }

    compose_init ();
    size_t size = 0;
    message = s_message (&opts, &size);
    if (!message) {
        status = opts.interactive ? EX_USAGE : 1;
        goto shutdown;
    }
    if (opts.print_only) {
        status = fwrite (message, 1, size, stdout) == size ? 0 : 1;
        goto shutdown;
    }
    if (opts.to->len == 0 && opts.cc->len == 0) {
        status = s_usage_error ("%s", "no recipient: give -t ADDRESS");
        goto shutdown;
    }

    /* one-shot program: Ctrl-C simply ends it */
    zsys_handler_set (NULL);
    client = client_new (opts.endpoint, opts.user, password, opts.timeout_s * 1000, &error);
    if (!client) {
        fprintf (stderr, "mailbus-pub: %s\n", error);
        int code = 0;
        status = reply_parse (error, &code, NULL) == 0 ? s_status_exit (code) : EX_TEMPFAIL;
        free (error);
        goto shutdown;
    }
    status = s_publish (client, &opts, message, size);
    client_destroy (&client);

shutdown:
    compose_shutdown ();
done:
    free (message);
    zconfig_destroy (&config);
    argv_secret_free (&password);
    argv_secret_free (&opts.password_copy);
    free (opts.subject);
    free (opts.body);
    g_ptr_array_free (opts.to, TRUE);
    g_ptr_array_free (opts.cc, TRUE);
    g_ptr_array_free (opts.attachments, TRUE);
    return status;
}
