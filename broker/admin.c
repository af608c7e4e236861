/*  admin.c — mailbox administration. */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "auth.h"
#include "client.h"
#include "log.h"
#include "mb_limits.h"
#include "proto.h"
#include "route.h"

static void
s_list_one (const store_mailbox_t *mailbox, void *arg)
{
    zmsg_addstrf ((zmsg_t *)arg, "%s\t%lld\t%lld\t%lld\t%s", mailbox->address,
                  (long long)mailbox->message_count, (long long)mailbox->used_bytes,
                  (long long)mailbox->quota_bytes, mailbox->role);
}

static void
s_member_row (zmsg_t *reply, const store_member_t *member)
{
    zmsg_addstrf (reply, "%s\t%s", member->member, member->filter);
}

/* LIST-ADD list open posting | LIST-DEL list | LIST-MEMBERS list | LIST-SUB list member [filter] |
   LIST-UNSUB list member */
static zmsg_t *
s_execute_list (store_t *store, proto_request_t *req)
{
    const char *why = NULL;
    address_t list_addr, member_addr;
    if (req->argc < 1 ||
        address_parse ((const char *)req->args[0].data, req->args[0].size, &list_addr, &why) != 0)
        return proto_reply_new (req->id, REPLY_BAD_RCPT_SYNTAX, req->argc < 1 ? "list address missing" : why);
    if ((streq (req->verb, "LIST-SUB") || streq (req->verb, "LIST-UNSUB")) &&
        (req->argc < 2 ||
         address_parse ((const char *)req->args[1].data, req->args[1].size, &member_addr, &why) != 0))
        return proto_reply_new (req->id, REPLY_BAD_RCPT_SYNTAX,
                                req->argc < 2 ? "member address missing" : why);

    char *error = NULL;
    if (streq (req->verb, "LIST-ADD") && req->argc == 3) {
        bool open = proto_arg_is (&req->args[1], "open");
        bool members_post = !proto_arg_is (&req->args[2], "anyone");
        if ((!open && !proto_arg_is (&req->args[1], "closed")) ||
            (members_post && !proto_arg_is (&req->args[2], "members")))
            return proto_reply_new (req->id, REPLY_BAD_ARGS, "LIST-ADD list open|closed members|anyone");
        if (store_list_add (store, list_addr.full, open, members_post, &error) != 0) {
            zmsg_t *reply = proto_reply_new (req->id, REPLY_MAILBOX_EXISTS, error);
            free (error);
            return reply;
        }
        log_info ("broker", "admin", "verb=LIST-ADD list=%s open=%d members-post=%d", list_addr.full, open,
                  members_post);
        return proto_reply_newf (req->id, REPLY_OK, "list %s added (%s, %s may post)", list_addr.full,
                                 open ? "open" : "closed", members_post ? "members" : "anyone");
    }
    if (streq (req->verb, "LIST-DEL") && req->argc == 1) {
        if (store_list_delete (store, list_addr.full, &error) != 0) {
            zmsg_t *reply = proto_reply_new (req->id, REPLY_NO_MAILBOX, error);
            free (error);
            return reply;
        }
        log_info ("broker", "admin", "verb=LIST-DEL list=%s", list_addr.full);
        return proto_reply_newf (req->id, REPLY_OK, "list %s deleted", list_addr.full);
    }
    store_list_t list;
    int found = store_list_find (store, list_addr.full, &list);
    if (found < 0)
        return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
    if (!found)
        return proto_reply_newf (req->id, REPLY_NO_MAILBOX, "no such list %s", list_addr.full);
    if (streq (req->verb, "LIST-MEMBERS") && req->argc == 1) {
        int64_t count = 0;
        store_member_t *members = store_list_members (store, list.id, &count);
        if (count < 0)
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        zmsg_t *reply = proto_reply_newf (req->id, REPLY_OK, "%lld members", (long long)count);
        for (int64_t i = 0; i < count; i++)
            s_member_row (reply, &members[i]);
        free (members);
        return reply;
    }
    if (streq (req->verb, "LIST-SUB") && (req->argc == 2 || req->argc == 3)) {
        char filter[256] = "";
        if (req->argc == 3 && proto_arg_string (&req->args[2], filter, sizeof filter) != 0)
            return proto_reply_new (req->id, REPLY_BAD_ARGS, "filter too long");
        if ((why = route_filter_check (filter)))
            return proto_reply_new (req->id, REPLY_BAD_ARGS, why);
        store_mailbox_t mailbox;
        store_list_t inner;
        if (store_mailbox_find (store, member_addr.full, &mailbox) != 1 &&
            store_list_find (store, member_addr.full, &inner) != 1)
            return proto_reply_newf (req->id, REPLY_NO_MAILBOX, "no such mailbox or list %s",
                                     member_addr.full);
        int rc = store_subscribe (store, list.id, member_addr.full, filter);
        if (rc < 0)
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        log_info ("broker", "admin", "verb=LIST-SUB list=%s member=%s", list.address, member_addr.full);
        return proto_reply_newf (req->id, rc ? REPLY_OK : REPLY_ALREADY, "%s %s %s", member_addr.full,
                                 rc ? "subscribed to" : "was already subscribed to (filter updated)",
                                 list.address);
    }
    if (streq (req->verb, "LIST-UNSUB") && req->argc == 2) {
        int rc = store_unsubscribe (store, list.id, member_addr.full);
        if (rc < 0)
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        if (rc == 0)
            return proto_reply_newf (req->id, REPLY_NOT_SUBSCRIBED, "%s is not subscribed to %s",
                                     member_addr.full, list.address);
        log_info ("broker", "admin", "verb=LIST-UNSUB list=%s member=%s", list.address, member_addr.full);
        return proto_reply_newf (req->id, REPLY_OK, "%s unsubscribed from %s", member_addr.full,
                                 list.address);
    }
    return proto_reply_new (
        req->id, REPLY_UNKNOWN_VERB,
        "list verbs: LIST-ADD LIST-DEL LIST-MEMBERS LIST-SUB LIST-UNSUB (see docs/PROTOCOL.md)");
}

static void
s_queue_row (const store_outbound_t *entry, void *arg)
{
    zmsg_addstrf ((zmsg_t *)arg, "%lld\t%s\t%s\t%s\t%lld\t%lld\t%s", (long long)entry->id,
                  *entry->sender ? entry->sender : "<>", entry->recipient, entry->state,
                  (long long)entry->attempts, (long long)entry->next_attempt, entry->last_error);
}

/* QUEUE-LIST | QUEUE-FLUSH | QUEUE-DEL id: the outbound queue, like mailq / postqueue -f / postsuper -d */
static zmsg_t *
s_execute_queue (store_t *store, proto_request_t *req)
{
    if (streq (req->verb, "QUEUE-LIST") && req->argc == 0) {
        zmsg_t *rows = zmsg_new ();
        if (store_outbound_each (store, s_queue_row, rows) != 0) {
            zmsg_destroy (&rows);
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        }
        zmsg_t *reply = proto_reply_newf (req->id, REPLY_OK, "%zu entries", zmsg_size (rows));
        proto_move_frames (reply, &rows);
        return reply;
    }
    if (streq (req->verb, "QUEUE-FLUSH") && req->argc == 0) {
        int n = store_outbound_flush (store);
        if (n < 0)
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        log_info ("broker", "admin", "verb=QUEUE-FLUSH entries=%d", n);
        return proto_reply_newf (req->id, REPLY_OK, "%d entries due now", n);
    }
    int64_t id;
    if (streq (req->verb, "QUEUE-DEL") && req->argc == 1) {
        if (proto_arg_uint (&req->args[0], &id) != 0)
            return proto_reply_new (req->id, REPLY_BAD_ARGS, "QUEUE-DEL takes an entry id");
        int rc = store_outbound_delete (store, id);
        if (rc < 0)
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        if (rc == 0)
            return proto_reply_newf (req->id, REPLY_NO_MESSAGE, "no queue entry %lld", (long long)id);
        log_info ("broker", "admin", "verb=QUEUE-DEL entry=%lld", (long long)id);
        return proto_reply_newf (req->id, REPLY_OK, "entry %lld deleted", (long long)id);
    }
    return proto_reply_new (req->id, REPLY_UNKNOWN_VERB, "queue verbs: QUEUE-LIST QUEUE-FLUSH QUEUE-DEL id");
}

static void
s_key_row (const char *key, void *arg)
{
    zmsg_addstr ((zmsg_t *)arg, key);
}

/* MBOX-KEY-ADD address key | MBOX-KEY-DEL address key | MBOX-KEY-LIST address */
static zmsg_t *
s_execute_key (store_t *store, proto_request_t *req, const char *address)
{
    char key[41] = "";
    uint8_t raw[32];
    bool list = streq (req->verb, "MBOX-KEY-LIST");
    if (req->argc != (list ? 1u : 2u) || (!list && (proto_arg_string (&req->args[1], key, sizeof key) != 0 ||
                                                    strlen (key) != 40 || !zmq_z85_decode (raw, key))))
        return proto_reply_new (
            req->id, REPLY_BAD_ARGS,
            "MBOX-KEY-ADD|MBOX-KEY-DEL address key (40 Z85 characters), MBOX-KEY-LIST address");
    if (list) {
        zmsg_t *rows = zmsg_new ();
        if (store_key_each (store, address, s_key_row, rows) != 0) {
            zmsg_destroy (&rows);
            return proto_reply_new (req->id, REPLY_STORE_TROUBLE, NULL);
        }
        zmsg_t *reply = proto_reply_newf (req->id, REPLY_OK, "%s has %zu key%s", address, zmsg_size (rows),
                                          zmsg_size (rows) == 1 ? "" : "s");
        proto_move_frames (reply, &rows);
        return reply;
    }
    char *error = NULL;
    int rc = streq (req->verb, "MBOX-KEY-ADD") ? store_key_add (store, address, key, &error)
                                               : store_key_delete (store, address, key, &error);
    if (rc != 0) {
        log_warn ("broker", "admin-refused", "verb=%s mailbox=%s why=\"%s\"", req->verb, address, error);
        zmsg_t *reply = proto_reply_new (
            req->id, strstr (error, "store:") ? REPLY_STORE_TROUBLE : REPLY_NO_MAILBOX, error);
        free (error);
        return reply;
    }
    log_info ("broker", "admin", "verb=%s mailbox=%s key=%s", req->verb, address, key);
    return proto_reply_newf (req->id, REPLY_OK, "%s %s %s", req->verb, address, key);
}

zmsg_t *
admin_execute (store_t *store, zmsg_t *request)
{
    proto_request_t req;
    reply_id_t error_reply;
    const char *why = NULL;
    if (proto_request_parse (request, &req, &error_reply, &why) != 0)
        return proto_reply_new (req.id, error_reply, why);

    if (streq (req.verb, "MBOX-LIST") && req.argc == 0) {
        zmsg_t *rows = zmsg_new ();
        if (store_mailbox_each (store, s_list_one, rows) != 0) {
            zmsg_destroy (&rows);
            return proto_reply_new (req.id, REPLY_STORE_TROUBLE, NULL);
        }
        zmsg_t *reply = proto_reply_newf (req.id, REPLY_OK, "%zu mailboxes", zmsg_size (rows));
        proto_move_frames (reply, &rows);
        return reply;
    }
    if (strncmp (req.verb, "LIST-", 5) == 0)
        return s_execute_list (store, &req);
    if (strncmp (req.verb, "QUEUE-", 6) == 0)
        return s_execute_queue (store, &req);
    address_t addr;
    if (req.argc < 1 || address_parse ((const char *)req.args[0].data, req.args[0].size, &addr, &why) != 0)
        return proto_reply_new (req.id, REPLY_BAD_RCPT_SYNTAX, req.argc < 1 ? "address missing" : why);
    if (strncmp (req.verb, "MBOX-KEY-", 9) == 0)
        return s_execute_key (store, &req, addr.full);
    if (streq (req.verb, "MBOX-RETENTION")) {
        int64_t count, seconds;
        char *error = NULL;
        if (req.argc != 3 || proto_arg_uint (&req.args[1], &count) != 0 ||
            proto_arg_uint (&req.args[2], &seconds) != 0)
            return proto_reply_new (req.id, REPLY_BAD_ARGS,
                                    "MBOX-RETENTION address max-messages max-age-seconds");
        if (store_mailbox_retention (store, addr.full, count, seconds, &error) != 0) {
            zmsg_t *reply = proto_reply_new (req.id, REPLY_NO_MAILBOX, error);
            free (error);
            return reply;
        }
        log_info ("broker", "admin", "verb=MBOX-RETENTION mailbox=%s max-messages=%lld max-age=%lld",
                  addr.full, (long long)count, (long long)seconds);
        return proto_reply_newf (
            req.id, REPLY_OK,
            "%s keeps at most %lld messages (0: no limit), none older than %lld s (0: no limit)", addr.full,
            (long long)count, (long long)seconds);
    }
    char hash[AUTH_HASH_BYTES] = "";
    if (req.argc >= 2 &&
        (proto_arg_string (&req.args[1], hash, sizeof hash) != 0 || strncmp (hash, "$argon2id$", 10) != 0))
        return proto_reply_new (req.id, REPLY_BAD_ARGS, "the password must come as an Argon2id hash");

    const char *role = "user";
    if (req.argc == 3 && proto_arg_is (&req.args[2], "gateway"))
        role = "gateway";
    else if (req.argc == 3 && !proto_arg_is (&req.args[2], "user"))
        return proto_reply_new (req.id, REPLY_BAD_ARGS, "role must be user or gateway");
    char *error = NULL;
    int rc;
    if (streq (req.verb, "MBOX-ADD") && (req.argc == 2 || req.argc == 3))
        rc = store_mailbox_add (store, addr.full, hash, role, &error);
    else if (streq (req.verb, "MBOX-DEL") && req.argc == 1)
        rc = store_mailbox_delete (store, addr.full, &error);
    else if (streq (req.verb, "MBOX-PASSWD") && req.argc == 2)
        rc = store_mailbox_passwd (store, addr.full, hash, &error);
    else
        return proto_reply_new (req.id, REPLY_UNKNOWN_VERB,
                                "admin verbs: MBOX-ADD address hash [role], MBOX-DEL address, MBOX-PASSWD "
                                "address hash, MBOX-LIST");
    zmsg_t *reply;
    if (rc == 0) {
        log_info ("broker", "admin", "verb=%s mailbox=%s", req.verb, addr.full);
        reply = proto_reply_newf (req.id, REPLY_OK, "%s %s", req.verb, addr.full);
    }
    else {
        log_warn ("broker", "admin-refused", "verb=%s mailbox=%s why=\"%s\"", req.verb, addr.full, error);
        reply_id_t code = strstr (error, "exists")            ? REPLY_MAILBOX_EXISTS
                          : strstr (error, "no such mailbox") ? REPLY_NO_MAILBOX
                                                              : REPLY_STORE_TROUBLE;
        reply = proto_reply_new (req.id, code, error);
    }
    free (error);
    return reply;
}

char *
admin_lock_path (const char *db)
{
    return zsys_sprintf ("%s.lock", db);
}

/* unix(7): sun_path holds 108 octets, its NUL included */
#define ADMIN_SUN_PATH_MAX 107

/* The private folder for admin sockets whose path would not fit beside their database:
   $XDG_RUNTIME_DIR/mailbus, else /tmp/mailbus-UID. Made 0700 when missing; refused unless it
   is a real folder of ours that nobody else may use (/tmp is everybody's: anyone could have
   made it first). NULL with *error. */
static char *
s_runtime_dir (char **error)
{
    const char *runtime = getenv ("XDG_RUNTIME_DIR");
    char *dir = runtime && *runtime == '/' ? zsys_sprintf ("%s/mailbus", runtime)
                                           : zsys_sprintf ("/tmp/mailbus-%u", (unsigned)geteuid ());
    struct stat st;
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        *error = zsys_sprintf ("cannot make %s: %s", dir, strerror (errno));
    else if (lstat (dir, &st) != 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        *error =
            zsys_sprintf ("%s is not a folder of this user's: refusing to put the admin socket there", dir);
    else if (st.st_mode & 077)
        *error = zsys_sprintf ("%s has mode %04o, others may use it: refusing to put the admin socket there "
                               "(chmod 700 it)",
                               dir, (unsigned)(st.st_mode & 07777));
    if (*error)
        zstr_free (&dir);
    return dir;
}

char *
admin_endpoint (const char *db, char **error)
{
    char dir[PATH_MAX];
    const char *slash = strrchr (db, '/');
    const char *base = slash ? slash + 1 : db;
    char *parent = slash ? strndup (db, (size_t)(slash - db) + (slash == db)) : strdup (".");
    char *path = realpath (parent, dir) ? zsys_sprintf ("%s/%s", dir, base) : strdup (db);
    free (parent);
    char *endpoint = NULL;
    if (strlen (path) + strlen (".admin") <= ADMIN_SUN_PATH_MAX)
        endpoint = zsys_sprintf ("ipc://%s.admin", path); /* beside the database */
    else {
        /* named by a hash of the database's real path: the broker and the CLI agree on it */
        char *runtime = s_runtime_dir (error);
        unsigned char hash[16];
        char hex[2 * sizeof hash + 1];
        crypto_generichash (hash, sizeof hash, (const unsigned char *)path, strlen (path), NULL, 0);
        sodium_bin2hex (hex, sizeof hex, hash, sizeof hash);
        if (runtime && strlen (runtime) + 1 + strlen (hex) + strlen (".admin") > ADMIN_SUN_PATH_MAX)
            *error = zsys_sprintf ("the admin socket does not fit in %s (a path of at most %d octets)",
                                   runtime, ADMIN_SUN_PATH_MAX);
        else if (runtime)
            endpoint = zsys_sprintf ("ipc://%s/%s.admin", runtime, hex);
        free (runtime);
    }
    free (path);
    return endpoint;
}

int
admin_lock (const char *db)
{
    char *path = admin_lock_path (db);
    store_dir_create (path); /* first start: var/ does not exist yet (made 0700) */
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf (stderr, "error: cannot open %s: %s\n", path, strerror (errno));
        free (path);
        return ADMIN_LOCK_ERROR;
    }
    free (path);
    if (flock (fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close (fd);
        return busy ? ADMIN_LOCK_BUSY : ADMIN_LOCK_ERROR;
    }
    return fd;
}

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

/* mailbox key add|del ADDRESS PUBKEY, mailbox key list ADDRESS: PUBKEY is the 40 Z85
   characters or a key file (zcert format, as `mailbus-sub keygen` writes it) */
static zmsg_t *
s_key_request (const admin_args_t *args, int *status)
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
    char key[41];
    const char *why = NULL;
    if (!list && client_public_key (args->member, key, &why) != 0) {
        fprintf (stderr, "error: %s: %s\n", args->member, why);
        return NULL;
    }
    *status = 0;
    zmsg_t *request = proto_request_new ("1", verb);
    zmsg_addstr (request, args->address);
    if (!list)
        zmsg_addstr (request, key);
    return request;
}

/* Builds the request for a mailbox command; NULL with the exit status in *status */
static zmsg_t *
s_mailbox_request (const admin_args_t *args, int *status)
{
    const char *verb = NULL;
    bool wants_address = true, wants_password = false;
    *status = 64;
    if (streq (args->command, "add"))
        verb = "MBOX-ADD", wants_password = true;
    else if (streq (args->command, "del"))
        verb = "MBOX-DEL";
    else if (streq (args->command, "passwd"))
        verb = "MBOX-PASSWD", wants_password = true;
    else if (streq (args->command, "list"))
        verb = "MBOX-LIST", wants_address = false;
    else if (streq (args->command, "retention"))
        verb = "MBOX-RETENTION";
    else if (streq (args->command, "key"))
        return s_key_request (args, status);
    else {
        fprintf (stderr, "error: unknown mailbox command '%s' (add, del, list, passwd, retention, key)\n",
                 args->command);
        return NULL;
    }
    if (wants_address && !args->address) {
        fprintf (stderr, "error: mailbox %s needs an ADDRESS\n", args->command);
        return NULL;
    }
    zmsg_t *request = proto_request_new ("1", verb);
    if (wants_address)
        zmsg_addstr (request, args->address);
    if (streq (verb, "MBOX-RETENTION")) {
        zmsg_addstr (request, args->keep ? args->keep : "0");
        zmsg_addstr (request, args->max_age ? args->max_age : "0");
    }
    if (wants_password) {
        char password[MAX_PASSWORD + 2], hash[AUTH_HASH_BYTES];
        if (s_read_password (args, password, sizeof password) != 0) {
            zmsg_destroy (&request);
            return NULL;
        }
        int rc = auth_hash (password, hash);
        sodium_memzero (password, sizeof password);
        if (rc != 0) {
            fprintf (stderr, "error: cannot hash the password (out of memory)\n");
            zmsg_destroy (&request);
            *status = 70;
            return NULL;
        }
        zmsg_addstr (request, hash);
        if (args->role && streq (verb, "MBOX-ADD"))
            zmsg_addstr (request, args->role);
    }
    return request;
}

/* Builds the request for a list command; NULL with the exit status in *status */
static zmsg_t *
s_list_request (const admin_args_t *args, int *status)
{
    static const struct {
        const char *command, *verb;
        bool wants_member;
    } commands[] = {
        {"add", "LIST-ADD", false},          {"del", "LIST-DEL", false},
        {"members", "LIST-MEMBERS", false},  {"subscribe", "LIST-SUB", true},
        {"unsubscribe", "LIST-UNSUB", true},
    };
    *status = 64;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!streq (args->command, commands[i].command))
            continue;
        if (!args->address || (commands[i].wants_member && !args->member)) {
            fprintf (stderr, "error: list %s needs LIST%s\n", args->command,
                     commands[i].wants_member ? " MEMBER" : "");
            return NULL;
        }
        zmsg_t *request = proto_request_new ("1", commands[i].verb);
        zmsg_addstr (request, args->address);
        if (commands[i].wants_member)
            zmsg_addstr (request, args->member);
        if (streq (args->command, "add")) {
            zmsg_addstr (request, args->closed ? "closed" : "open");
            zmsg_addstr (request, args->posting ? args->posting : "members");
        }
        if (streq (args->command, "subscribe") && args->filter)
            zmsg_addstr (request, args->filter);
        return request;
    }
    fprintf (stderr, "error: unknown list command '%s' (add, del, members, subscribe, unsubscribe)\n",
             args->command);
    return NULL;
}

/* queue | queue flush | queue del ID */
static zmsg_t *
s_queue_request (const admin_args_t *args, int *status)
{
    *status = 64;
    if (!args->command || streq (args->command, "list"))
        return proto_request_new ("1", "QUEUE-LIST");
    if (streq (args->command, "flush"))
        return proto_request_new ("1", "QUEUE-FLUSH");
    if (streq (args->command, "del") && args->address) {
        zmsg_t *request = proto_request_new ("1", "QUEUE-DEL");
        zmsg_addstr (request, args->address);
        return request;
    }
    fprintf (stderr, "error: queue takes list, flush or del ID\n");
    return NULL;
}

int
admin_main (const admin_args_t *args)
{
    int status = 64;
    zmsg_t *request = streq (args->object, "list")    ? s_list_request (args, &status)
                      : streq (args->object, "queue") ? s_queue_request (args, &status)
                                                      : s_mailbox_request (args, &status);
    if (!request)
        return status;
    /* the request is [id][verb]...: keep the verb to know how to print the reply */
    char verb[MAX_VERB + 1] = "";
    zmsg_first (request);
    zframe_t *verb_frame = zmsg_next (request);
    snprintf (verb, sizeof verb, "%.*s", (int)zframe_size (verb_frame),
              (const char *)zframe_data (verb_frame));

    zmsg_t *reply = NULL;
    int lock = admin_lock (args->db);
    if (lock == ADMIN_LOCK_ERROR) {
        zmsg_destroy (&request);
        return 1;
    }
    if (lock >= 0) {
        /* no broker runs on this database: do it here, holding the lock */
        char *error = NULL;
        store_t *store = store_open (args->db, args->synchronous_full, &error);
        if (!store) {
            fprintf (stderr, "error: %s\n", error);
            free (error);
            zmsg_destroy (&request);
            close (lock);
            return 1;
        }
        reply = admin_execute (store, request);
        zmsg_destroy (&request);
        store_close (&store);
        close (lock);
    }
    else
        reply = s_remote (args->db, &request);
    if (!reply)
        return 75;

    free (zmsg_popstr (reply)); /* request id */
    int code = 0;
    char line[512] = "";
    status = proto_reply_status (reply, &code, line, sizeof line) == 0 && reply_is_success (code) ? 0 : 1;
    if (status != 0)
        fprintf (stderr, "%s\n", *line ? line : "malformed reply");
    else if (streq (verb, "MBOX-LIST")) {
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
    else if (streq (verb, "QUEUE-LIST")) {
        printf ("%-6s %-28s %-28s %-7s %8s %-20s %s\n", "ID", "SENDER", "RECIPIENT", "STATE", "ATTEMPTS",
                "NEXT", "LAST ERROR");
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
            printf ("%-6s %-28s %-28s %-7s %8s %-20s %s\n", field[0] ? field[0] : "?",
                    field[1] ? field[1] : "", field[2] ? field[2] : "", field[3] ? field[3] : "",
                    field[4] ? field[4] : "", next, field[6] ? field[6] : "");
            free (text);
        }
    }
    else if (streq (verb, "LIST-MEMBERS") || streq (verb, "MBOX-KEY-LIST")) {
        printf ("%s\n", line);
        for (zframe_t *row = zmsg_next (reply); row; row = zmsg_next (reply))
            printf ("  %.*s\n", (int)zframe_size (row), (const char *)zframe_data (row));
    }
    else
        printf ("%s\n", line);
    zmsg_destroy (&reply);
    return status;
}
