/*  bench_imap_mime.c — mailbus-bench-imap-mime: what IMAP's view of a message costs
    (gateway/imap/imap_mime.h), the CPU side of "FETCH 1:10000 (ENVELOPE BODYSTRUCTURE
    BODY.PEEK[HEADER])" and of a SEARCH BODY. Reads the messages of DIR (default: the test
    messages) and goes round them COUNT times, bounded by --seconds: parse, ENVELOPE,
    BODYSTRUCTURE, BODY[HEADER]; then a SEARCH BODY over each. Prints messages per second, the
    time per message and the peak RSS. Not a test: run it by hand on a release build. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "imap_mime.h"
#include "options.h"

typedef struct {
    int64_t count, seconds;
} settings_t;

static const option_t s_options[] = {
    {.name = "count",
     .kind = OPTION_NUMBER,
     .offset = offsetof (settings_t, count),
     .dflt_number = 10000,
     .min = 1,
     .max = 10000000,
     .arg = "N",
     .help = "messages to go through (round the directory; default {default})"},
    {.name = "seconds",
     .kind = OPTION_NUMBER,
     .offset = offsetof (settings_t, seconds),
     .dflt_number = 60,
     .min = 1,
     .max = 3600,
     .arg = "S",
     .help = "stop each phase after S seconds (default {default})"},
    {.name = "help", .letter = 'h', .kind = OPTION_HELP, .help = "this help"},
    {.name = NULL},
};

static const options_spec_t s_spec = {
    .options = s_options,
    .usage = "usage: mailbus-bench-imap-mime [--count N] [--seconds S] [DIR]\n\n"
             "What ENVELOPE, BODYSTRUCTURE, BODY[HEADER] and SEARCH BODY cost per message, over\n"
             "the messages of DIR (default tests/gateway/imap_mime_messages).\n\n",
    .epilogue = "\nPrints: phase= messages= seconds= per_s= us_each=, then peak_rss_kb=.\n",
    .prefix = "mailbus-bench-imap-mime: ",
    .getopt_messages = true,
};

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One message through a phase: the FETCH items, or a SEARCH BODY */
static void
s_one (GBytes *message, bool search)
{
    gsize len;
    const char *data = g_bytes_get_data (message, &len);
    imap_mime_t *mime = imap_mime_new (data, len);
    if (search) {
        imap_search_t key = {.kind = IMAP_SK_BODY, .text = "no such words here"};
        imap_search_msg_t msg = {.mime = mime};
        imap_search_match (&key, &msg, 1, 1);
    }
    else {
        buffer_t out = BUFFER_INIT (0);
        imap_section_t header = {.kind = IMAP_SECTION_HEADER};
        const char *octets;
        size_t n;
        char *owned;
        imap_mime_envelope (mime, &out, false);
        imap_mime_bodystructure (mime, &out, true, false);
        imap_mime_section (mime, &header, &octets, &n, &owned);
        free (owned);
        buffer_free (&out);
    }
    imap_mime_destroy (&mime);
}

static void
s_phase (const char *name, GPtrArray *messages, const settings_t *settings, bool search)
{
    double start = s_now (), elapsed = 0;
    int64_t done = 0;
    for (; done < settings->count && elapsed < (double)settings->seconds; done++) {
        s_one (g_ptr_array_index (messages, (guint)done % messages->len), search);
        if (done % 256 == 0)
            elapsed = s_now () - start;
    }
    elapsed = s_now () - start;
    printf ("phase=%s messages=%" G_GINT64_FORMAT " seconds=%.3f per_s=%.0f us_each=%.1f\n", name, done,
            elapsed, (double)done / elapsed, elapsed * 1e6 / (double)done);
}

/* The files of dir, each as one message */
static GPtrArray *
s_load (const char *dir)
{
    GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
    GDir *d = g_dir_open (dir, 0, NULL);
    for (const char *name; d && (name = g_dir_read_name (d));) {
        char *path = g_build_filename (dir, name, NULL), *data;
        gsize len;
        if (g_file_get_contents (path, &data, &len, NULL))
            g_ptr_array_add (messages, g_bytes_new_take (data, len));
        g_free (path);
    }
    if (d)
        g_dir_close (d);
    return messages;
}

int
main (int argc, char **argv)
{
    settings_t settings = {0};
    options_t *options = options_new (&s_spec, &settings);
    int status = options_parse (options, argc, argv);
    if (status == OPTIONS_GO_ON)
        status = options_resolve (options, NULL);
    if (status == OPTIONS_GO_ON) {
        GPtrArray *messages = s_load (optind < argc ? argv[optind] : "tests/gateway/imap_mime_messages");
        status = messages->len ? 0 : 1;
        if (status)
            fprintf (stderr, "mailbus-bench-imap-mime: no message in the directory\n");
        else {
            s_phase ("fetch", messages, &settings, false);
            s_phase ("search_body", messages, &settings, true);
            struct rusage ru;
            getrusage (RUSAGE_SELF, &ru);
            printf ("peak_rss_kb=%ld\n", ru.ru_maxrss);
        }
        g_ptr_array_unref (messages);
    }
    options_destroy (&options);
    return status;
}
