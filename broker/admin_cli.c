/*  admin_cli.c — the admin commands: build the request, run it, print the reply. */
#include "admin_cli.h"

#include <assert.h>
#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_paths.h"
#include "admin_server.h"
#include "auth.h"
#include "client.h"
#include "mb_limits.h"
#include "proto.h"

/* Exit statuses (sysexits.h) */
#define EXIT_REFUSED 1
#define EXIT_USAGE 64
#define EXIT_SOFTWARE 70
#define EXIT_TEMPFAIL 75

/* ------------------------------------------------------------------------ requests */

static int
s_read_password (const admin_args_t *args, char *password, size_t size)
{
    if (args->password_stdin) {
        if (!fgets (password, (int)size, stdin)) {
            fprintf (stderr, "error: --password-stdin: nothing on standard input\n");
            return -1;
        }
        password[strcspn (password, "\r\n")] = '\0';
    }
    else if (args->password)
        snprintf (password, size, "%s", args->password);
    else {
        fprintf (stderr, "error: mailbox %s needs --password P or --password-stdin\n", args->command);
        return -1;
    }
    if (!*password || strlen (password) > MAX_PASSWORD) {
        fprintf (stderr, "error: the password must be 1 to %d characters\n", MAX_PASSWORD);
        return -1;
    }
    return 0;
}

/* Appends the Argon2id hash of the password the command was given: 0, or -1 with the exit
   status in *status */
static int
s_add_password_hash (const admin_args_t *args, zmsg_t *request, int *status)
{
    char password[MAX_PASSWORD + 2], hash[AUTH_HASH_BYTES];
    if (s_read_password (args, password, sizeof password) != 0)
        return -1;
    int rc = auth_hash (password, hash);
    sodium_memzero (password, sizeof password);
    if (rc != 0) {
        fprintf (stderr, "error: cannot hash the password (out of memory)\n");
        *status = EXIT_SOFTWARE;
        return -1;
    }
    zmsg_addstr (request, hash);
    return 0;
}

/* mailbox key add|del ADDRESS PUBKEY, mailbox key list ADDRESS: PUBKEY is the 40 Z85
   characters or a key file (zcert format, as `mailbus-sub keygen` writes it) */
static zmsg_t *
s_key_request (const admin_args_t *args)
{
    static const struct {
        const char *command, *verb;
    } commands[] = {{"add", "MBOX-KEY-ADD"}, {"del", "MBOX-KEY-DEL"}, {"list", "MBOX-KEY-LIST"}};
    const char *verb = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (args->key_command && streq (args->key_command, commands[i].command))
            verb = commands[i].verb;
    bool list = verb && streq (verb, "MBOX-KEY-LIST");
    if (!verb || !args->address || (!list && !args->member) || (list && args->member)) {
        fprintf (stderr, "error: mailbox key add|del ADDRESS PUBKEY, or mailbox key list ADDRESS\n");
        return NULL;
    }
    char key[ADMIN_KEY_TEXT + 1];
    const char *why = NULL;
    if (!list && client_public_key (args->member, key, &why) != 0) {
        fprintf (stderr, "error: %s: %s\n", args->member, why);
        return NULL;
    }
    zmsg_t *request = proto_request_new ("1", verb);
    zmsg_addstr (request, args->address);
    if (!list)
        zmsg_addstr (request, key);
    return request;
}

/* What a command's request carries after its verb */
#define WANTS_ADDRESS 1u  /* args->address: the mailbox, the list or the queue entry */
#define WANTS_MEMBER 2u   /* args->member */
#define WANTS_PASSWORD 4u /* the Argon2id hash of the password given */

/* One row per command (but `mailbox key`, s_key_request): its request's verb and arguments */
typedef struct {
    const char *object, *command, *verb;
    unsigned wants;
} command_t;

/* clang-format off */
static const command_t s_commands[] = {
    {"mailbox", "add",         "MBOX-ADD",       WANTS_ADDRESS | WANTS_PASSWORD},
    {"mailbox", "del",         "MBOX-DEL",       WANTS_ADDRESS},
    {"mailbox", "passwd",      "MBOX-PASSWD",    WANTS_ADDRESS | WANTS_PASSWORD},
    {"mailbox", "list",        "MBOX-LIST",      0},
    {"mailbox", "retention",   "MBOX-RETENTION", WANTS_ADDRESS},
    {"list",    "add",         "LIST-ADD",       WANTS_ADDRESS},
    {"list",    "del",         "LIST-DEL",       WANTS_ADDRESS},
    {"list",    "members",     "LIST-MEMBERS",   WANTS_ADDRESS},
    {"list",    "subscribe",   "LIST-SUB",       WANTS_ADDRESS | WANTS_MEMBER},
    {"list",    "unsubscribe", "LIST-UNSUB",     WANTS_ADDRESS | WANTS_MEMBER},
    {"queue",   "list",        "QUEUE-LIST",     0},
    {"queue",   "flush",       "QUEUE-FLUSH",    0},
    {"queue",   "del",         "QUEUE-DEL",      WANTS_ADDRESS},
    {"status",  "status",      "STATUS",         0},
};
/* clang-format on */

static const command_t *
s_command_find (const char *object, const char *command)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (streq (object, s_commands[i].object) && streq (command, s_commands[i].command))
            return &s_commands[i];
    return NULL;
}

/* Says on stderr that the command is unknown (wants 0) or lacks what it wants (its wants) */
static void
s_say_usage (const char *object, const char *command, unsigned wants)
{
    if (streq (object, "queue"))
        fprintf (stderr, "error: queue takes list, flush or del ID\n");
    else if (streq (object, "list") && wants)
        fprintf (stderr, "error: list %s needs LIST%s\n", command, wants & WANTS_MEMBER ? " MEMBER" : "");
    else if (streq (object, "list"))
        fprintf (stderr, "error: unknown list command '%s' (add, del, members, subscribe, unsubscribe)\n",
                 command);
    else if (wants)
        fprintf (stderr, "error: mailbox %s needs an ADDRESS\n", command);
    else
        fprintf (stderr, "error: unknown mailbox command '%s' (add, del, list, passwd, retention, key)\n",
                 command);
}

/* The options a request carries after its address, member and password */
static void
s_add_options (const admin_args_t *args, const char *verb, zmsg_t *request)
{
    if (streq (verb, "MBOX-ADD") && args->role)
        zmsg_addstr (request, args->role);
    else if (streq (verb, "MBOX-RETENTION")) {
        zmsg_addstr (request, args->keep ? args->keep : "0");
        zmsg_addstr (request, args->max_age ? args->max_age : "0");
    }
    else if (streq (verb, "LIST-ADD")) {
        zmsg_addstr (request, args->closed ? "closed" : "open");
        zmsg_addstr (request, args->posting ? args->posting : "members");
    }
    else if (streq (verb, "LIST-SUB") && args->filter)
        zmsg_addstr (request, args->filter);
}

/* The request for the command; NULL with the exit status in *status */
static zmsg_t *
s_request (const admin_args_t *args, int *status)
{
    *status = EXIT_USAGE;
    const char *object =
        streq (args->object, "list") || streq (args->object, "queue") || streq (args->object, "status")
            ? args->object
            : "mailbox";
    const char *command = !args->command && streq (object, "queue")    ? "list"
                          : !args->command && streq (object, "status") ? "status"
                                                                       : args->command;
    if (streq (object, "mailbox") && streq (command, "key"))
        return s_key_request (args);
    const command_t *found = s_command_find (object, command);
    unsigned wants = found ? found->wants : 0;
    if (!found || ((wants & WANTS_ADDRESS) && !args->address) || ((wants & WANTS_MEMBER) && !args->member)) {
        s_say_usage (object, command, wants);
        return NULL;
    }
    zmsg_t *request = proto_request_new ("1", found->verb);
    if (wants & WANTS_ADDRESS)
        zmsg_addstr (request, args->address);
    if (wants & WANTS_MEMBER)
        zmsg_addstr (request, args->member);
    if ((wants & WANTS_PASSWORD) && s_add_password_hash (args, request, status) != 0)
        zmsg_destroy (&request);
    if (request)
        s_add_options (args, found->verb, request);
    return request;
}

/* ----------------------------------------------------------------------- execution */

/* Sends the request to the running broker's admin endpoint */
static zmsg_t *
s_remote (const char *db, zmsg_t **request)
{
    char *error = NULL;
    char *endpoint = admin_endpoint (db, &error);
    if (!endpoint) {
        fprintf (stderr, "error: the broker holds %s, but: %s\n", db, error);
        free (error);
        zmsg_destroy (request);
        return NULL;
    }
    zsock_t *req = zsock_new (ZMQ_REQ);
    zsock_set_linger (req, 0);
    zsock_set_rcvtimeo (req, 5000);
    zmsg_t *reply = NULL;
    if (zsock_connect (req, "%s", endpoint) == 0 && zmsg_send (request, req) == 0)
        reply = zmsg_recv (req);
    if (!reply)
        fprintf (stderr, "error: the broker holds %s but does not answer on %s\n", db, endpoint);
    zmsg_destroy (request);
    zsock_destroy (&req);
    free (endpoint);
    return reply;
}

/* No broker runs on this database: executes the request here, holding its lock */
static zmsg_t *
s_local (const admin_args_t *args, zmsg_t **request, int lock, int *status)
{
    char *error = NULL;
    store_t *store = store_open (args->db, args->synchronous_full, &error);
    zmsg_t *reply = NULL;
    if (store)
        reply = admin_execute (store, *request, NULL);
    else {
        fprintf (stderr, "error: %s\n", error);
        free (error);
        *status = EXIT_REFUSED;
    }
    zmsg_destroy (request);
    store_close (&store);
    close (lock);
    return reply;
}

/* Runs the request, here or in the broker: the reply, or NULL with the exit status in *status */
static zmsg_t *
s_execute (const admin_args_t *args, zmsg_t **request, int *status)
{
    *status = EXIT_TEMPFAIL;
    int lock = admin_lock (args->db);
    if (lock == ADMIN_LOCK_ERROR) {
        zmsg_destroy (request);
        *status = EXIT_REFUSED;
        return NULL;
    }
    if (lock >= 0 && streq (args->object, "status")) {
        /* only a running broker has figures: the database is not opened (nor made) for it */
        close (lock);
        zmsg_destroy (request);
        printf ("running no\n");
        fprintf (stderr, "error: no broker runs on %s\n", args->db);
        *status = EXIT_REFUSED;
        return NULL;
    }
    return lock >= 0 ? s_local (args, request, lock, status) : s_remote (args->db, request);
}

/* ------------------------------------------------------------------------ printing */

/* Prints the status line and the rows after it, indented: LIST-MEMBERS, MBOX-KEY-LIST */
static void
s_print_rows (zmsg_t *reply, const char *line)
{
    printf ("%s\n", line);
    for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply))
        printf ("  %.*s\n", (int)zframe_size (row), (const char *)zframe_data (row));
}

/* MBOX-LIST: address TAB messages TAB bytes TAB quota TAB role */
static void
s_print_mailboxes (zmsg_t *reply, const char *line)
{
    (void)line;
    printf ("%-40s %8s %12s %12s %s\n", "MAILBOX", "MESSAGES", "BYTES", "QUOTA", "ROLE");
    for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply)) {
        char *text = zframe_strdup (row);
        char address[300], role[16];
        long long count, bytes, quota;
        if (sscanf (text, "%299s %lld %lld %lld %15s", address, &count, &bytes, &quota, role) == 5)
            printf ("%-40s %8lld %12lld %12lld %s\n", address, count, bytes, quota, role);
        free (text);
    }
}

/* QUEUE-LIST: id TAB sender TAB recipient TAB state TAB attempts TAB next-attempt TAB last-error */
static void
s_print_queue (zmsg_t *reply, const char *line)
{
    (void)line;
    printf ("%-6s %-28s %-28s %-7s %8s %-20s %s\n", "ID", "SENDER", "RECIPIENT", "STATE", "ATTEMPTS", "NEXT",
            "LAST ERROR");
    for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply)) {
        char *text = zframe_strdup (row);
        char *field[7] = {NULL};
        char *save = NULL, *p = text;
        for (int i = 0; i < 7; i++, p = NULL)
            field[i] = strtok_r (p, "\t", &save);
        char next[32] = "-";
        time_t when = field[5] ? (time_t)atoll (field[5]) : 0;
        struct tm tm;
        if (field[3] && streq (field[3], "queued") && gmtime_r (&when, &tm))
            strftime (next, sizeof next, "%Y-%m-%d %H:%M:%S", &tm);
        printf ("%-6s %-28s %-28s %-7s %8s %-20s %s\n", field[0] ? field[0] : "?", field[1] ? field[1] : "",
                field[2] ? field[2] : "", field[3] ? field[3] : "", field[4] ? field[4] : "", next,
                field[6] ? field[6] : "");
        free (text);
    }
}

/* STATUS: "key value" lines a person reads and a program splits at the first space */
static void
s_print_status (zmsg_t *reply, const char *line)
{
    (void)line;
    printf ("running yes\n");
    for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply))
        printf ("%.*s\n", (int)zframe_size (row), (const char *)zframe_data (row));
}

typedef void (printer_fn) (zmsg_t *reply, const char *line);

/* How a success is printed, by the request's verb; the others print their status line */
static const struct {
    const char *verb;
    printer_fn *print;
} s_printers[] = {
    {"MBOX-LIST", s_print_mailboxes}, {"QUEUE-LIST", s_print_queue}, {"LIST-MEMBERS", s_print_rows},
    {"MBOX-KEY-LIST", s_print_rows},  {"STATUS", s_print_status},
};

/* Prints the reply [id][status line][rows...] to the request verb: the exit status */
static int
s_print_reply (const char *verb, zmsg_t *reply)
{
    free (zmsg_popstr (reply)); /* request id */
    int code = 0;
    char line[512] = "";
    if (proto_reply_status (reply, &code, line, sizeof line) != 0 || !reply_is_success (code)) {
        fprintf (stderr, "%s\n", *line ? line : "malformed reply");
        return EXIT_REFUSED;
    }
    for (size_t i = 0; i < sizeof s_printers / sizeof s_printers[0]; i++)
        if (streq (verb, s_printers[i].verb)) {
            s_printers[i].print (reply, line);
            return 0;
        }
    printf ("%s\n", line);
    return 0;
}

int
admin_main (const admin_args_t *args)
{
    assert (args);
    assert (args->db);
    assert (args->object);
    int status = EXIT_USAGE;
    zmsg_t *request = s_request (args, &status);
    if (!request)
        return status;
    /* the request is [id][verb]...: keep the verb to know how to print the reply */
    char verb[MAX_VERB + 1] = "";
    zmsg_first (request);
    zframe_t *verb_frame = zmsg_next (request);
    snprintf (verb, sizeof verb, "%.*s", (int)zframe_size (verb_frame),
              (const char *)zframe_data (verb_frame));

    zmsg_t *reply = s_execute (args, &request, &status);
    if (!reply)
        return status;
    status = s_print_reply (verb, reply);
    zmsg_destroy (&reply);
    return status;
}
