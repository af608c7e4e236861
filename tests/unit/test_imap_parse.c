/*  test_imap_parse.c — the IMAP command parser, through imap_parse.h: whole commands as the
    server hands them over (lines and literal octets), good and bad, the limits, and the pure
    helpers (sequence sets, dates, LIST patterns, literal announcements). No socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap_parse.h"

static imap_command_t g_cmd;
static const char *g_why;

static int
s_parse_n (const char *text, size_t len)
{
    imap_command_free (&g_cmd);
    g_why = NULL;
    int rc = imap_parse (text, len, &g_cmd, &g_why);
    assert_true (rc == 0 ? g_why == NULL : g_why != NULL && *g_why);
    return rc;
}

/* A command holding a NUL: its length from the string literal */
#define S_PARSE_LITERAL(text) s_parse_n (text, sizeof text - 1)

static int
s_parse (const char *text)
{
    return s_parse_n (text, strlen (text));
}

/* head (which ends in a literal's announcement), size octets of "x", and the last CRLF */
static int
s_parse_with_literal (const char *head, size_t size)
{
    size_t n = strlen (head);
    char *text = malloc (n + size + 2);
    assert_non_null (text);
    memcpy (text, head, n);
    memset (text + n, 'x', size);
    memcpy (text + n + size, "\r\n", 2);
    int rc = s_parse_n (text, n + size + 2);
    free (text);
    return rc;
}

/* A refusal whose reason holds what */
static void
s_refused (const char *text, const char *what)
{
    if (s_parse (text) != -1 || !strstr (g_why, what))
        fail_msg ("%s: got %s, wanted a refusal with \"%s\"", text, g_why ? g_why : "success", what);
}

static int
s_teardown (void **state)
{
    (void)state;
    imap_command_free (&g_cmd);
    return 0;
}

static void
test_commands_without_arguments (void **state)
{
    (void)state;
    static const struct {
        const char *text;
        imap_cmd_id_t id;
    } cases[] = {
        {"a1 CAPABILITY\r\n", IMAP_CAPABILITY},
        {"a2 noop\r\n", IMAP_NOOP},
        {"a3 Logout\r\n", IMAP_LOGOUT},
        {"a4 STARTTLS\r\n", IMAP_STARTTLS},
        {"a5 IDLE\r\n", IMAP_IDLE},
        {"a6 NAMESPACE\r\n", IMAP_NAMESPACE},
        {"a7 CHECK\r\n", IMAP_CHECK},
        {"a8 CLOSE\r\n", IMAP_CLOSE},
        {"a9 UNSELECT\r\n", IMAP_UNSELECT},
        {"b1 EXPUNGE\r\n", IMAP_EXPUNGE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal (s_parse (cases[i].text), 0);
        assert_int_equal (g_cmd.id, cases[i].id);
        assert_false (g_cmd.uid);
    }
    assert_string_equal (g_cmd.tag, "b1");
    assert_string_equal (g_cmd.verb, "EXPUNGE");
    s_refused ("a1 NOOP now\r\n", "unexpected argument");
    s_refused ("a1 IDLE\r\nDONE\r\n", "after the command's CRLF");
    s_refused ("a1 NOOP  \r\n", "unexpected argument");
}

static void
test_tag_rules_and_unknown_commands (void **state)
{
    (void)state;
    s_refused ("a1 FROB\r\n", "unknown command");
    assert_int_equal (g_cmd.id, IMAP_UNKNOWN);
    assert_string_equal (g_cmd.tag, "a1");
    s_refused ("a+1 NOOP\r\n", "expected a space");
    s_refused ("* NOOP\r\n", "tag");
    assert_string_equal (g_cmd.tag, "");
    s_refused ("\r\n", "tag");
    s_refused (" NOOP\r\n", "tag");
    s_refused ("a1\r\n", "missing");
    s_refused ("a1  NOOP\r\n", "expected a command");
    char text[200];
    memset (text, 'x', 65);
    strcpy (text + 65, " NOOP\r\n");
    s_refused (text, "[LIMIT] a tag");
    assert_string_equal (g_cmd.tag, "");
    strcpy (text + 64, " NOOP\r\n");
    assert_int_equal (s_parse (text), 0);
    assert_int_equal (strlen (g_cmd.tag), 64);
    s_refused ("a1 UID CAPABILITY\r\n", "UID goes with");
    s_refused ("a1 NOOP\n", "bare LF");
    s_refused ("a1 NOOP\r", "ends with CRLF");
    s_refused ("a1 NO\rOP\r\n", "bare CR");
}

static void
test_login_with_quoted_atom_and_literal_password (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("L1 LOGIN fred \"pa ss\\\"w\\\\d\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_LOGIN);
    assert_string_equal (g_cmd.str[0].data, "fred");
    assert_string_equal (g_cmd.str[1].data, "pa ss\"w\\d");
    assert_int_equal (g_cmd.str[1].len, 9);
    /* a password as a literal, synchronising and not (RFC 7888) */
    assert_int_equal (s_parse ("L2 LOGIN {4}\r\nfred {6}\r\n(p\"}\r\n\r\n"), 0);
    assert_string_equal (g_cmd.str[0].data, "fred");
    assert_int_equal (g_cmd.str[1].len, 6);
    assert_memory_equal (g_cmd.str[1].data, "(p\"}\r\n", 6);
    assert_int_equal (s_parse ("L3 LOGIN fred {3+}\r\nabc\r\n"), 0);
    assert_string_equal (g_cmd.str[1].data, "abc");
    assert_int_equal (s_parse ("L4 LOGIN \"\" {0}\r\n\r\n"), 0);
    assert_int_equal (g_cmd.str[1].len, 0);
    s_refused ("L5 LOGIN fred\r\n", "missing");
    s_refused ("L6 LOGIN fred \"x\\y\"\r\n", "escapes");
    s_refused ("L7 LOGIN fred \"abc\r\n", "quoted string");
    s_refused ("L8 LOGIN fred {5}\r\nabc\r\n", "missing");
    assert_int_equal (S_PARSE_LITERAL ("L9 LOGIN fred {3}\r\na\0c\r\n"), -1);
    assert_non_null (strstr (g_why, "NUL"));
    s_refused ("L10 LOGIN fred pass)\r\n", "unexpected text");
    s_refused ("L11 LOGIN fred {x}\r\nabc\r\n", "not a number");
    s_refused ("L12 LOGIN fred ~{3}\r\nabc\r\n", "unexpected text");
}

static void
test_authenticate_enable_id (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("A1 AUTHENTICATE plain\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_AUTHENTICATE);
    assert_string_equal (g_cmd.str[0].data, "PLAIN");
    assert_null (g_cmd.str[1].data);
    assert_int_equal (s_parse ("A2 AUTHENTICATE PLAIN AGZyZWQAc2VjcmV0\r\n"), 0);
    assert_string_equal (g_cmd.str[1].data, "AGZyZWQAc2VjcmV0");
    assert_int_equal (s_parse ("A3 AUTHENTICATE PLAIN =\r\n"), 0);
    assert_string_equal (g_cmd.str[1].data, "=");
    s_refused ("A4 AUTHENTICATE PLAIN !!\r\n", "base64");
    assert_int_equal (s_parse ("E1 ENABLE CONDSTORE UTF8=ACCEPT\r\n"), 0);
    assert_true (g_cmd.enable_utf8);
    assert_false (g_cmd.enable_rev2);
    assert_int_equal (s_parse ("E2 enable imap4rev2\r\n"), 0);
    assert_true (g_cmd.enable_rev2);
    s_refused ("E3 ENABLE\r\n", "missing");
    assert_int_equal (s_parse ("I1 ID (\"name\" \"Thunderbird\" \"version\" \"115.0\" \"os\" NIL)\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_ID);
    assert_int_equal (s_parse ("I2 ID NIL\r\n"), 0);
    assert_int_equal (s_parse ("I3 ID ()\r\n"), 0);
    assert_int_equal (s_parse ("I4 ID (\"name\" {4}\r\nmutt)\r\n"), 0);
    s_refused ("I5 ID (\"name\")\r\n", "");
    s_refused ("I6 ID (name \"x\")\r\n", "quoted string or a literal");
}

static void
test_mailbox_commands_and_inbox_in_any_case (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("s1 SELECT inbox\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_SELECT);
    assert_string_equal (g_cmd.str[0].data, "INBOX");
    assert_int_equal (s_parse ("s2 EXAMINE \"InBoX\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_EXAMINE);
    assert_string_equal (g_cmd.str[0].data, "INBOX");
    assert_int_equal (s_parse ("s3 SELECT \"Sent\"\r\n"), 0);
    assert_string_equal (g_cmd.str[0].data, "Sent");
    assert_int_equal (s_parse ("s4 SELECT inbox/x\r\n"), 0);
    assert_string_equal (g_cmd.str[0].data, "inbox/x");
    s_refused ("s5 SELECT INBOX (CONDSTORE)\r\n", "not supported");
    assert_int_equal (s_parse ("c1 CREATE Work/2024\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_CREATE);
    assert_int_equal (s_parse ("c2 DELETE \"Old stuff\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_DELETE);
    assert_int_equal (s_parse ("c3 RENAME Work \"Work 2\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_RENAME);
    assert_string_equal (g_cmd.str[1].data, "Work 2");
    assert_int_equal (s_parse ("c4 SUBSCRIBE Work\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_SUBSCRIBE);
    assert_int_equal (s_parse ("c5 UNSUBSCRIBE {4}\r\nWork\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_UNSUBSCRIBE);
    assert_string_equal (g_cmd.str[0].data, "Work");
    s_refused ("c6 CREATE Work (USE (\\Sent))\r\n", "not supported");
    s_refused ("c7 SELECT Wo*rk\r\n", "unexpected text");
    s_refused ("c8 RENAME Work\r\n", "missing");
    char text[300] = "c9 SELECT ";
    memset (text + 10, 'm', 201);
    strcpy (text + 211, "\r\n");
    s_refused (text, "[LIMIT] a mailbox name");
    strcpy (text + 210, "\r\n");
    assert_int_equal (s_parse (text), 0);
}

static void
test_list_lsub_status (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("l1 LIST \"\" \"*\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_LIST);
    assert_string_equal (g_cmd.str[0].data, "");
    assert_string_equal (g_cmd.str[1].data, "*");
    assert_false (g_cmd.list_extended);
    assert_int_equal (s_parse ("l2 LIST \"\" %\r\n"), 0);
    assert_string_equal (g_cmd.str[1].data, "%");
    assert_int_equal (s_parse ("l3 LIST \"\" Work/%\r\n"), 0);
    assert_string_equal (g_cmd.str[1].data, "Work/%");
    assert_int_equal (
        s_parse ("l4 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"*\") RETURN (SPECIAL-USE CHILDREN "
                 "STATUS (MESSAGES UNSEEN))\r\n"),
        0);
    assert_true (g_cmd.list_extended);
    assert_int_equal (g_cmd.list_select, IMAP_LIST_SUBSCRIBED | IMAP_LIST_RECURSIVEMATCH);
    assert_int_equal (g_cmd.list_return,
                      IMAP_LIST_RET_SPECIAL_USE | IMAP_LIST_RET_CHILDREN | IMAP_LIST_RET_STATUS);
    assert_int_equal (g_cmd.status, IMAP_STATUS_MESSAGES | IMAP_STATUS_UNSEEN);
    assert_int_equal (s_parse ("l5 LIST (SPECIAL-USE) \"\" *\r\n"), 0);
    assert_int_equal (g_cmd.list_select, IMAP_LIST_SPECIAL_USE);
    assert_int_equal (s_parse ("l6 LIST () \"\" * RETURN ()\r\n"), 0);
    s_refused ("l7 LIST (RECURSIVEMATCH) \"\" *\r\n", "RECURSIVEMATCH");
    s_refused ("l8 LIST \"\" (a b)\r\n", "one pattern");
    s_refused ("l9 LIST (FROB) \"\" *\r\n", "unknown LIST option");
    s_refused ("l10 LIST \"\" * RETURN (FROB)\r\n", "unknown LIST option");
    s_refused ("l11 LIST \"\"\r\n", "missing");
    assert_int_equal (s_parse ("m1 LSUB \"\" \"*\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_LSUB);
    assert_int_equal (
        s_parse ("t1 STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_STATUS);
    assert_string_equal (g_cmd.str[0].data, "INBOX");
    assert_int_equal (g_cmd.status, 0x7f);
    s_refused ("t2 STATUS INBOX ()\r\n", "expected a keyword");
    s_refused ("t3 STATUS INBOX (HIGHESTMODSEQ)\r\n", "unknown status item");
    s_refused ("t4 STATUS INBOX (MESSAGES\r\n", "ends with )");
}

static void
test_fetch_items_and_macros (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("f1 FETCH 1:4,7,9:* (FLAGS UID RFC822.SIZE INTERNALDATE)\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_FETCH);
    assert_int_equal (g_cmd.set.count, 3);
    assert_int_equal (g_cmd.set.ranges[2].lo, 9);
    assert_int_equal (g_cmd.set.ranges[2].hi, 0);
    assert_int_equal (g_cmd.fetch->items,
                      IMAP_FETCH_FLAGS | IMAP_FETCH_UID | IMAP_FETCH_SIZE | IMAP_FETCH_INTERNALDATE);
    assert_int_equal (g_cmd.fetch->nsections, 0);
    assert_int_equal (s_parse ("f2 FETCH 1 ALL\r\n"), 0);
    assert_int_equal (g_cmd.fetch->items,
                      IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_SIZE | IMAP_FETCH_ENVELOPE);
    assert_int_equal (s_parse ("f3 FETCH 1 fast\r\n"), 0);
    assert_int_equal (g_cmd.fetch->items, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_SIZE);
    assert_int_equal (s_parse ("f4 FETCH 1 FULL\r\n"), 0);
    assert_true (g_cmd.fetch->items & IMAP_FETCH_BODY);
    assert_int_equal (
        s_parse ("f5 FETCH 2 (BODYSTRUCTURE ENVELOPE BODY RFC822 RFC822.HEADER RFC822.TEXT)\r\n"), 0);
    assert_int_equal (g_cmd.fetch->items, IMAP_FETCH_BODYSTRUCTURE | IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY |
                                              IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_HEADER |
                                              IMAP_FETCH_RFC822_TEXT);
    assert_int_equal (s_parse ("u1 UID FETCH 1:* (UID FLAGS)\r\n"), 0);
    assert_true (g_cmd.uid);
    assert_string_equal (g_cmd.verb, "UID FETCH");
    assert_int_equal (g_cmd.set.ranges[0].lo, 1);
    assert_int_equal (g_cmd.set.ranges[0].hi, 0);
    s_refused ("f6 FETCH 1 (FLAGS ALL)\r\n", "stand alone");
    s_refused ("f7 FETCH 1 (FLAGS\r\n", "ends with )");
    s_refused ("f8 FETCH 1 FROB\r\n", "unknown FETCH item");
    s_refused ("f9 FETCH 1 ()\r\n", "expected a keyword");
    s_refused ("f10 FETCH 1 (FLAGS) (CHANGEDSINCE 12)\r\n", "not supported");
    s_refused ("f11 FETCH 0 FLAGS\r\n", "above 0");
    s_refused ("f12 FETCH FLAGS\r\n", "expected a number");
    s_refused ("f13 FETCH 1  FLAGS\r\n", "expected a keyword");
}

static void
test_fetch_sections (void **state)
{
    (void)state;
    assert_int_equal (
        s_parse ("g1 UID FETCH 5 (BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100> BODY[] BINARY[1.2] "
                 "BINARY.SIZE[1] BODY[1.2.MIME] BODY[2.HEADER] BODY[TEXT]<10.5> BINARY.PEEK[])\r\n"),
        0);
    imap_fetch_t *f = g_cmd.fetch;
    assert_int_equal (f->nsections, 8);
    imap_section_t *s = &f->sections[0];
    assert_true (s->peek);
    assert_false (s->binary);
    assert_int_equal (s->kind, IMAP_SECTION_FIELDS);
    assert_int_equal (s->nfields, 2);
    assert_string_equal (s->fields[0], "From");
    assert_string_equal (s->fields[1], "Subject");
    assert_true (s->partial);
    assert_int_equal (s->offset, 0);
    assert_int_equal (s->count, 100);
    assert_string_equal (s->name, "BODY[HEADER.FIELDS (FROM SUBJECT)]<0>");
    assert_string_equal (f->sections[1].name, "BODY[]");
    assert_int_equal (f->sections[1].kind, IMAP_SECTION_ALL);
    assert_false (f->sections[1].peek);
    s = &f->sections[2];
    assert_true (s->binary);
    assert_int_equal (s->depth, 2);
    assert_int_equal (s->part[1], 2);
    assert_string_equal (s->name, "BINARY[1.2]");
    assert_true (f->sections[3].size_only);
    assert_string_equal (f->sections[3].name, "BINARY.SIZE[1]");
    assert_int_equal (f->sections[4].kind, IMAP_SECTION_MIME);
    assert_string_equal (f->sections[4].name, "BODY[1.2.MIME]");
    assert_int_equal (f->sections[5].kind, IMAP_SECTION_HEADER);
    assert_string_equal (f->sections[5].name, "BODY[2.HEADER]");
    assert_string_equal (f->sections[6].name, "BODY[TEXT]<10>");
    assert_true (f->sections[7].peek && f->sections[7].binary);
    assert_string_equal (f->sections[7].name, "BINARY[]");
    assert_int_equal (s_parse ("g2 FETCH 1 BODY.PEEK[1.HEADER.FIELDS.NOT (\"Received\" {4}\r\nX-Me)]\r\n"),
                      0);
    assert_int_equal (g_cmd.fetch->sections[0].kind, IMAP_SECTION_FIELDS_NOT);
    assert_string_equal (g_cmd.fetch->sections[0].name, "BODY[1.HEADER.FIELDS.NOT (RECEIVED X-ME)]");
    s_refused ("g3 FETCH 1 BODY[MIME]\r\n", "unknown section");
    s_refused ("g4 FETCH 1 BODY[1.]\r\n", "expected a keyword");
    s_refused ("g5 FETCH 1 BINARY[TEXT]\r\n", "part number");
    s_refused ("g6 FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "expected a string");
    s_refused ("g7 FETCH 1 BODY[HEADER.FIELDS (\"a:b\")]\r\n", "header field name");
    s_refused ("g8 FETCH 1 BODY[]<0.0>\r\n", "above 0");
    s_refused ("g9 FETCH 1 BINARY.SIZE[1]<0.10>\r\n", "no partial");
    s_refused ("g10 FETCH 1 BODY[0]\r\n", "above 0");
    s_refused ("g11 FETCH 1 BODY.PEEK\r\n", "starts with [");
    s_refused ("g12 FETCH 1 BODY[]<4294967296.1>\r\n", "out of range");
    s_refused ("g13 FETCH 1 BODY[HEADER\r\n", "ends with ]");
}

static void
test_fetch_limits (void **state)
{
    (void)state;
    char text[4096] = "h1 FETCH 1 (";
    for (int i = 0; i < IMAP_MAX_SECTIONS; i++)
        strcat (text, "BODY[] ");
    strcpy (text + strlen (text) - 1, ")\r\n");
    assert_int_equal (s_parse (text), 0);
    strcpy (text + strlen (text) - 3, " BODY[])\r\n");
    s_refused (text, "[LIMIT] a FETCH names at most 32 sections");
    strcpy (text, "h2 FETCH 1 BODY[1");
    for (int i = 1; i < IMAP_MAX_PART_DEPTH; i++)
        strcat (text, ".1");
    strcat (text, "]\r\n");
    assert_int_equal (s_parse (text), 0);
    assert_int_equal (g_cmd.fetch->sections[0].depth, IMAP_MAX_PART_DEPTH);
    strcpy (text + strlen (text) - 3, ".1]\r\n");
    s_refused (text, "[LIMIT] a part number");
    strcpy (text, "h3 FETCH 1 BODY[HEADER.FIELDS (");
    for (int i = 0; i < IMAP_MAX_FIELDS; i++)
        strcat (text, i ? " F" : "F");
    strcat (text, ")]\r\n");
    assert_int_equal (s_parse (text), 0);
    strcpy (text + strlen (text) - 4, " G)]\r\n");
    s_refused (text, "[LIMIT] HEADER.FIELDS");
}

static void
test_store_flags (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("s1 STORE 1:3 +FLAGS.SILENT (\\Seen \\Deleted)\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_STORE);
    assert_int_equal (g_cmd.store_op, IMAP_STORE_ADD);
    assert_true (g_cmd.store_silent);
    assert_int_equal (g_cmd.flags, IMAP_SEEN | IMAP_DELETED);
    assert_int_equal (s_parse ("s2 UID STORE 7 -FLAGS \\flagged \\DRAFT\r\n"), 0);
    assert_true (g_cmd.uid);
    assert_int_equal (g_cmd.store_op, IMAP_STORE_REMOVE);
    assert_false (g_cmd.store_silent);
    assert_int_equal (g_cmd.flags, IMAP_FLAGGED | IMAP_DRAFT);
    assert_int_equal (s_parse ("s3 STORE 2 FLAGS ()\r\n"), 0);
    assert_int_equal (g_cmd.store_op, IMAP_STORE_SET);
    assert_int_equal (g_cmd.flags, 0);
    assert_int_equal (s_parse ("s4 STORE 2 FLAGS (\\Answered)\r\n"), 0);
    assert_int_equal (g_cmd.flags, IMAP_ANSWERED);
    /* flags that are not kept are taken and ignored (RFC 9051 7.1), the system flags beside them kept */
    assert_int_equal (s_parse ("s5 STORE 2 +FLAGS ($Forwarded \\Seen NonJunk)\r\n"), 0);
    assert_int_equal (g_cmd.flags, IMAP_SEEN);
    assert_int_equal (g_cmd.flags_ignored, 2);
    assert_int_equal (s_parse ("s6 STORE 2 +FLAGS (\\Recent)\r\n"), 0);
    assert_int_equal (g_cmd.flags, 0);
    assert_int_equal (g_cmd.flags_ignored, 1);
    assert_int_equal (s_parse ("s7 STORE 2 FLAGS (\\Frob)\r\n"), 0);
    assert_int_equal (g_cmd.flags_ignored, 1);
    s_refused ("s7 STORE 2 +FLAGS (\\)\r\n", "expected a flag");
    s_refused ("s8 STORE 2 +LABELS (\\Seen)\r\n", "FLAGS or FLAGS.SILENT");
    s_refused ("s9 STORE 2 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)\r\n", "not supported");
    s_refused ("s10 STORE 2 +FLAGS (\\Seen\r\n", "ends with )");
    s_refused ("s11 STORE 2 +FLAGS\r\n", "missing");
    s_refused ("s12 STORE 2 +FLAGS (\\)\r\n", "expected a flag");
}

static void
test_copy_move_uid_expunge (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("c1 COPY 1:2 Trash\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_COPY);
    assert_string_equal (g_cmd.str[0].data, "Trash");
    assert_int_equal (s_parse ("c2 UID MOVE 4,6 \"Work/2024\"\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_MOVE);
    assert_true (g_cmd.uid);
    assert_int_equal (s_parse ("c3 UID EXPUNGE 3:5\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_EXPUNGE);
    assert_int_equal (g_cmd.set.count, 1);
    s_refused ("c4 UID EXPUNGE\r\n", "missing");
    s_refused ("c5 EXPUNGE 3:5\r\n", "unexpected argument");
    s_refused ("c6 COPY 1:2\r\n", "missing");
}

static void
test_sequence_sets_and_numbers (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("n1 FETCH 4294967295,*:3 FLAGS\r\n"), 0);
    assert_int_equal (g_cmd.set.ranges[0].lo, 4294967295u);
    assert_int_equal (g_cmd.set.ranges[1].lo, 0);
    assert_int_equal (g_cmd.set.ranges[1].hi, 3);
    s_refused ("n2 FETCH 4294967296 FLAGS\r\n", "out of range");
    s_refused ("n3 FETCH 99999999999999999999999 FLAGS\r\n", "out of range");
    s_refused ("n4 FETCH +1 FLAGS\r\n", "expected a number");
    s_refused ("n5 FETCH 1, FLAGS\r\n", "expected a number");
    s_refused ("n6 FETCH 1:0 FLAGS\r\n", "above 0");
    s_refused ("n7 FETCH -1 FLAGS\r\n", "expected a number");
    assert_int_equal (s_parse ("n8 FETCH $ FLAGS\r\n"), 0);
    assert_true (g_cmd.set.saved);
    /* many ranges: the array grows */
    char text[IMAP_MAX_LINE] = "n9 FETCH 1";
    for (int i = 2; i <= 1000; i++)
        sprintf (text + strlen (text), ",%d", i);
    strcat (text, " UID\r\n");
    assert_int_equal (s_parse (text), 0);
    assert_int_equal (g_cmd.set.count, 1000);
    assert_true (imap_seqset_contains (&g_cmd.set, 777, 1000));
    assert_false (imap_seqset_contains (&g_cmd.set, 1001, 2000));
}

static void
test_seqset_contains_with_star_and_empty_mailbox (void **state)
{
    (void)state;
    imap_range_t ranges[] = {{2, 4}, {9, 0}, {0, 0}};
    imap_seqset_t set = {ranges, 2, false};
    assert_false (imap_seqset_contains (&set, 1, 20));
    assert_true (imap_seqset_contains (&set, 2, 20));
    assert_true (imap_seqset_contains (&set, 4, 20));
    assert_false (imap_seqset_contains (&set, 5, 20));
    assert_true (imap_seqset_contains (&set, 9, 20));
    assert_true (imap_seqset_contains (&set, 20, 20));
    assert_false (imap_seqset_contains (&set, 21, 20));
    /* 9:* with max 5 is 5:9 (RFC 9051 9: the order does not matter) */
    assert_true (imap_seqset_contains (&set, 5, 5));
    assert_false (imap_seqset_contains (&set, 0, 20));
    /* "*" of an empty mailbox matches nothing */
    imap_seqset_t star = {ranges + 2, 1, false};
    assert_false (imap_seqset_contains (&star, 1, 0));
    assert_true (imap_seqset_contains (&star, 7, 7));
    assert_false (imap_seqset_contains (&star, 6, 7));
    assert_false (imap_seqset_contains (&set, 9, 0));
    assert_true (imap_seqset_contains (&set, 3, 0));
    assert_false (imap_seqset_contains (NULL, 1, 1));
}

static void
test_search_keys (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("q1 SEARCH UNSEEN FROM bob SINCE 1-Feb-2024 LARGER 1000 UID 1:*\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_SEARCH);
    imap_search_t *k = g_cmd.search;
    assert_int_equal (k->kind, IMAP_SK_AND);
    k = k->a;
    assert_int_equal (k->kind, IMAP_SK_NOFLAG);
    assert_int_equal (k->flag, IMAP_SEEN);
    k = k->next;
    assert_int_equal (k->kind, IMAP_SK_HEADER);
    assert_string_equal (k->field, "From");
    assert_string_equal (k->text, "bob");
    k = k->next;
    assert_int_equal (k->kind, IMAP_SK_SINCE);
    assert_int_equal (k->day, 19754);
    k = k->next;
    assert_int_equal (k->kind, IMAP_SK_LARGER);
    assert_int_equal (k->number, 1000);
    k = k->next;
    assert_int_equal (k->kind, IMAP_SK_UID);
    assert_int_equal (k->set.count, 1);
    assert_null (k->next);
    assert_int_equal (s_parse ("q2 UID SEARCH OR (SEEN FLAGGED) NOT SUBJECT {5}\r\nhello 2:4\r\n"), 0);
    k = g_cmd.search->a;
    assert_int_equal (k->kind, IMAP_SK_OR);
    assert_int_equal (k->a->kind, IMAP_SK_AND);
    assert_int_equal (k->a->a->kind, IMAP_SK_FLAG);
    assert_int_equal (k->a->a->next->flag, IMAP_FLAGGED);
    assert_int_equal (k->b->kind, IMAP_SK_NOT);
    assert_int_equal (k->b->a->kind, IMAP_SK_HEADER);
    assert_string_equal (k->b->a->text, "hello");
    assert_int_equal (k->next->kind, IMAP_SK_SEQ);
    assert_int_equal (s_parse ("q3 SEARCH BEFORE \"01-Feb-2024\" ON 1-feb-2024 SENTBEFORE 29-Feb-2024 SENTON "
                               "1-Jan-1970 SENTSINCE 31-Dec-1969\r\n"),
                      0);
    k = g_cmd.search->a;
    assert_int_equal (k->day, 19754);
    assert_int_equal (k->next->day, 19754);
    assert_int_equal (k->next->next->next->day, 0);
    assert_int_equal (k->next->next->next->next->day, -1);
    assert_int_equal (
        s_parse ("q4 SEARCH HEADER X-Mailer \"mutt 2\" BODY x TEXT y TO a CC b BCC c KEYWORD $Junk "
                 "UNKEYWORD x SMALLER 5 ALL ANSWERED DELETED DRAFT UNANSWERED UNDELETED UNDRAFT "
                 "UNFLAGGED NEW OLD RECENT\r\n"),
        0);
    k = g_cmd.search->a;
    assert_string_equal (k->field, "X-Mailer");
    assert_string_equal (k->text, "mutt 2");
    s_refused ("q5 SEARCH SINCE 30-Feb-2024\r\n", "expected a date");
    s_refused ("q6 SEARCH SINCE 1-Foo-2024\r\n", "expected a date");
    s_refused ("q7 SEARCH SINCE 2024-02-01\r\n", "expected a date");
    s_refused ("q8 SEARCH SINCE \"1-Feb-2024\r\n", "quoted date");
    s_refused ("q9 SEARCH FROB\r\n", "unknown search key");
    s_refused ("q10 SEARCH\r\n", "missing");
    s_refused ("q11 SEARCH FROM\r\n", "missing");
    s_refused ("q12 SEARCH LARGER 9223372036854775808\r\n", "out of range");
    s_refused ("q13 SEARCH OR SEEN\r\n", "missing");
}

static void
test_search_charset_return_and_nesting (void **state)
{
    (void)state;
    assert_int_equal (s_parse ("r1 SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\"\r\n"), 0);
    assert_string_equal (g_cmd.search->a->text, "caf\xc3\xa9");
    assert_int_equal (s_parse ("r2 SEARCH charset \"us-ascii\" ALL\r\n"), 0);
    s_refused ("r3 SEARCH CHARSET ISO-8859-1 ALL\r\n", "[BADCHARSET");
    assert_int_equal (s_parse ("r4 SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n"), 0);
    assert_true (g_cmd.search_return_all);
    assert_int_equal (g_cmd.search_return, 1 | 2 | 8);
    assert_int_equal (s_parse ("r5 UID SEARCH RETURN () CHARSET UTF-8 ALL\r\n"), 0);
    assert_int_equal (g_cmd.search_return, 4);
    assert_int_equal (s_parse ("r6 SEARCH ALL\r\n"), 0);
    assert_false (g_cmd.search_return_all);
    s_refused ("r7 SEARCH RETURN (SAVE) ALL\r\n", "SAVE");
    s_refused ("r8 SEARCH RETURN (MIN\r\n", "");
    s_refused ("r9 SEARCH (SEEN\r\n", "unbalanced");
    s_refused ("r10 SEARCH SEEN)\r\n", "unexpected text");
    s_refused ("r11 SEARCH ()\r\n", "expected a keyword");
    char text[512] = "r12 SEARCH ";
    for (int i = 0; i < IMAP_MAX_DEPTH - 1; i++)
        strcat (text, "(");
    strcat (text, "ALL");
    for (int i = 0; i < IMAP_MAX_DEPTH - 1; i++)
        strcat (text, ")");
    strcat (text, "\r\n");
    assert_int_equal (s_parse (text), 0);
    strcpy (text, "r13 SEARCH ");
    for (int i = 0; i < IMAP_MAX_DEPTH; i++)
        strcat (text, "(");
    strcat (text, "ALL\r\n");
    s_refused (text, "[LIMIT] search keys nest");
    strcpy (text, "r14 SEARCH ");
    for (int i = 0; i < 40; i++)
        strcat (text, "NOT ");
    strcat (text, "ALL\r\n");
    s_refused (text, "[LIMIT] search keys nest");
    assert_int_equal (S_PARSE_LITERAL ("r15 SEARCH TEXT {3}\r\na\0b\r\n"), -1);
    assert_non_null (strstr (g_why, "NUL"));
}

static void
test_append_with_flags_date_and_literal (void **state)
{
    (void)state;
    assert_int_equal (
        s_parse ("p1 APPEND Sent (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {12}\r\nSubject: x\r\n\r\n"), 0);
    assert_int_equal (g_cmd.id, IMAP_APPEND);
    assert_string_equal (g_cmd.str[0].data, "Sent");
    assert_int_equal (g_cmd.flags, IMAP_SEEN);
    assert_int_equal (g_cmd.append_date, 837596665);
    assert_int_equal (g_cmd.append_message.len, 12);
    assert_memory_equal (g_cmd.append_message.data, "Subject: x\r\n", 12);
    assert_int_equal (s_parse ("p2 APPEND inbox {3+}\r\nabc\r\n"), 0);
    assert_string_equal (g_cmd.str[0].data, "INBOX");
    assert_int_equal (g_cmd.append_date, -1);
    assert_int_equal (g_cmd.flags, 0);
    assert_int_equal (S_PARSE_LITERAL ("p3 APPEND Drafts (\\Draft \\Seen) ~{3}\r\na\0c\r\n"), 0);
    assert_int_equal (g_cmd.append_message.len, 3);
    assert_int_equal (g_cmd.flags, IMAP_DRAFT | IMAP_SEEN);
    assert_int_equal (s_parse ("p4 APPEND Sent \" 1-Jan-2024 00:00:00 +0000\" {0}\r\n\r\n"), 0);
    assert_int_equal (g_cmd.append_date, 1704067200);
    s_refused ("p5 APPEND Sent \"1-Jan-2024\" {1}\r\nx\r\n", "date-time");
    s_refused ("p6 APPEND Sent abc\r\n", "is a literal");
    s_refused ("p7 APPEND Sent {1}\r\nx {1}\r\ny\r\n", "MULTIAPPEND");
    s_refused ("p8 APPEND Sent (\\Seen {1}\r\nx\r\n", "expected a flag");
    /* APPEND's message may pass IMAP_MAX_COMMAND and IMAP_MAX_LITERAL; another command may not */
    char head[64];
    size_t big = IMAP_MAX_COMMAND + 10;
    snprintf (head, sizeof head, "p10 APPEND Sent {%zu}\r\n", big);
    assert_int_equal (s_parse_with_literal (head, big), 0);
    assert_int_equal (g_cmd.append_message.len, big);
    /* RFC 7888: LITERAL- takes non-synchronizing literals of at most 4096 octets */
    assert_int_equal (s_parse_with_literal ("p11 APPEND Sent {4097+}\r\n", 4097), -1);
    assert_non_null (strstr (g_why, "[TOOBIG]"));
    snprintf (head, sizeof head, "p12 LOGIN fred {%zu}\r\n", big);
    assert_int_equal (s_parse_with_literal (head, big), -1);
    assert_non_null (strstr (g_why, "[LIMIT]"));
}

static void
test_line_and_literal_limits (void **state)
{
    (void)state;
    char *text = malloc (IMAP_MAX_LINE + 100);
    assert_non_null (text);
    /* a line of exactly IMAP_MAX_LINE octets, CRLF included, is taken; one more is not */
    strcpy (text, "x1 LOGIN a ");
    size_t n = strlen (text);
    memset (text + n, 'b', IMAP_MAX_LINE - n - 2);
    strcpy (text + IMAP_MAX_LINE - 2, "\r\n");
    assert_int_equal (s_parse (text), 0);
    memset (text + n, 'b', IMAP_MAX_LINE - n - 1);
    strcpy (text + IMAP_MAX_LINE - 1, "\r\n");
    s_refused (text, "[LIMIT] a command line");
    assert_string_equal (g_cmd.tag, "x1");
    free (text);
    /* a literal of IMAP_MAX_LITERAL octets is taken, one more is not */
    char head[64];
    snprintf (head, sizeof head, "x2 LOGIN a {%d}\r\n", IMAP_MAX_LITERAL);
    assert_int_equal (s_parse_with_literal (head, IMAP_MAX_LITERAL), 0);
    snprintf (head, sizeof head, "x3 LOGIN a {%d}\r\n", IMAP_MAX_LITERAL + 1);
    assert_int_equal (s_parse_with_literal (head, IMAP_MAX_LITERAL + 1), -1);
    assert_non_null (strstr (g_why, "[LIMIT] a literal"));
    s_refused ("x4 LOGIN a {99999999999999999999999}\r\nabc\r\n", "not a number");
    s_refused ("x5 LOGIN a {18446744073709551615}\r\nabc\r\n", "missing");
    s_refused ("x6 LOGIN a {3}\r\nabc", "missing");
    s_refused ("x6 LOGIN a {3}\r\nabc\r", "ends with CRLF");
    s_refused ("x7 LOGIN a {3}\r\nabc\r\nx8 NOOP\r\n", "after the command's CRLF");
    s_refused ("x9 LOGIN a {3}\r\n", "missing");
}

static void
test_date_time_parsing (void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t unix_time;
    } cases[] = {
        {"17-Jul-1996 02:44:25 -0700", 837596665},
        {"01-Jan-2024 00:00:00 +0000", 1704067200},
        {" 1-Jan-2024 00:00:00 +0000", 1704067200},
        {"1-jan-2024 01:30:00 +0130", 1704067200},
        {"29-Feb-2000 23:59:60 +0000", 951868800},
        {"01-Jan-1970 00:00:00 +0000", 0},
        {"29-Feb-2023 00:00:00 +0000", -1},
        {"31-Apr-2024 00:00:00 +0000", -1},
        {"01-Jan-2024 24:00:00 +0000", -1},
        {"01-Jan-2024 00:60:00 +0000", -1},
        {"01-Jan-2024 00:00:00 +0060", -1},
        {"01-Jan-2024 00:00:00 0000", -1},
        {"01-Jan-2024 00:00:00 +0000 ", -1},
        {"01-Jan-2024 0:00:00 +0000", -1},
        {"1-Jan-1970 00:00:00 +0100", -1},
        {"001-Jan-2024 00:00:00 +0000", -1},
        {"  1-Jan-2024 00:00:00 +0000", -1},
        {" 12-Jan-2024 00:00:00 +0000", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t got = imap_parse_date_time (cases[i].text, strlen (cases[i].text));
        if (got != cases[i].unix_time)
            fail_msg ("\"%s\": %lld, wanted %lld", cases[i].text, (long long)got,
                      (long long)cases[i].unix_time);
    }
    assert_int_equal (imap_parse_date_time ("17-Jul-1996 02:44:25 -0700", 20), -1);
}

static void
test_list_match_with_wildcards (void **state)
{
    (void)state;
    assert_true (imap_list_match ("*", "INBOX"));
    assert_true (imap_list_match ("*", "Work/2024/q1"));
    assert_true (imap_list_match ("%", "Work"));
    assert_false (imap_list_match ("%", "Work/2024"));
    assert_true (imap_list_match ("Work/%", "Work/2024"));
    assert_false (imap_list_match ("Work/%", "Work/2024/q1"));
    assert_true (imap_list_match ("Work/*", "Work/2024/q1"));
    assert_false (imap_list_match ("Work/*", "Work"));
    assert_true (imap_list_match ("W%k", "Work"));
    assert_true (imap_list_match ("inbox", "INBOX"));
    assert_true (imap_list_match ("iNbOx/%", "INBOX/x"));
    assert_false (imap_list_match ("inbox/X", "INBOX/x"));
    assert_true (imap_list_match ("in*", "INBOX"));
    assert_false (imap_list_match ("sent", "Sent"));
    assert_false (imap_list_match ("", "Sent"));
    assert_true (imap_list_match ("", ""));
    assert_true (imap_list_match ("%/%", "a/b"));
    assert_true (imap_list_match ("*%*%", "a"));
    /* no exponential backtracking */
    char name[201], pattern[401] = "";
    memset (name, 'a', 200);
    name[200] = '\0';
    for (int i = 0; i < 100; i++)
        strcat (pattern, i % 2 ? "a" : "*");
    strcat (pattern, "b");
    assert_false (imap_list_match (pattern, name));
}

static void
test_literal_at_end (void **state)
{
    (void)state;
    uint64_t size = 0;
    bool nonsync = true;
    assert_int_equal (imap_literal_at_end ("a LOGIN {5}\r\n", 13, &size, &nonsync), 1);
    assert_int_equal (size, 5);
    assert_false (nonsync);
    assert_int_equal (imap_literal_at_end ("a APPEND x ~{12+}\r\n", 19, &size, &nonsync), 1);
    assert_int_equal (size, 12);
    assert_true (nonsync);
    assert_int_equal (imap_literal_at_end ("{18446744073709551615}\r\n", 24, &size, &nonsync), 1);
    assert_int_equal (size, UINT64_MAX);
    assert_int_equal (imap_literal_at_end ("{18446744073709551616}\r\n", 24, &size, &nonsync), -1);
    assert_int_equal (imap_literal_at_end ("{123456789012345678901}\r\n", 25, &size, &nonsync), -1);
    assert_int_equal (imap_literal_at_end ("a LOGIN {}\r\n", 12, &size, &nonsync), -1);
    assert_int_equal (imap_literal_at_end ("a LOGIN {x}\r\n", 13, &size, &nonsync), -1);
    assert_int_equal (imap_literal_at_end ("a LOGIN a}\r\n", 12, &size, &nonsync), 0);
    assert_int_equal (imap_literal_at_end ("a NOOP\r\n", 8, &size, &nonsync), 0);
    assert_int_equal (imap_literal_at_end ("a LOGIN {5}\n", 12, &size, &nonsync), 0);
    assert_int_equal (imap_literal_at_end ("a LOGIN {5}", 11, &size, &nonsync), 0);
    assert_int_equal (imap_literal_at_end ("}\r\n", 3, &size, &nonsync), 0);
}

/* What real clients send (tests/fuzz/make_corpus.py has them as seeds too) */
static void
test_real_client_lines (void **state)
{
    (void)state;
    static const char *lines[] = {
        "1 capability\r\n",
        "3 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")\r\n",
        "5 list (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE)\r\n",
        "8 UID fetch 3 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
        "Message-ID "
        "Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
        "9 UID fetch 3 (UID RFC822.SIZE BODY.PEEK[]<0.16384>)\r\n",
        "11 uid store 3 +Flags (\\Seen)\r\n",
        "12 append \"Sent\" (\\Seen) {5}\r\nhello\r\n",
        "16 STATUS \"Sent\" (UIDNEXT MESSAGES UNSEEN RECENT)\r\n",
        "a0001 LOGIN \"fred\" \"sec\\\"ret\"\r\n",
        "a0005 UID FETCH 1:4294967295 (UID FLAGS)\r\n",
        "a0006 UID FETCH 1:3 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE FROM SENDER "
        "SUBJECT TO "
        "CC MESSAGE-ID REFERENCES CONTENT-TYPE CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST "
        "X-LABEL)])\r\n",
        "ABCD2 LOGIN fred {6}\r\nsecret\r\n",
        "ABCD7 APPEND INBOX () \"30-Nov-2026 19:00:00 +0000\" {5}\r\nhello\r\n",
        "ABCD9 SEARCH OR (FROM bob SINCE 1-Feb-2024) NOT (UNSEEN LARGER 100)\r\n",
        "A006 AUTHENTICATE PLAIN AHVzZXIAc2VjcmV0\r\n",
        "A008 LIST \"\" *\r\n",
        "A0006 SEARCH UNSEEN NOT DELETED\r\n",
        "A0007 FETCH 1:3 RFC822.SIZE\r\n",
        "A0009 FETCH 1 BODY.PEEK[TEXT]\r\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        if (s_parse (lines[i]) != 0)
            fail_msg ("%s: %s", lines[i], g_why);
    /* a refused command still names itself, for the log */
    s_refused ("a1 UID FETCH 1 (FLAGS\r\n", "ends with )");
    assert_int_equal (g_cmd.id, IMAP_FETCH);
    assert_string_equal (g_cmd.verb, "UID FETCH");
}

/* The writing helpers (imap_write.c) and this reader agree: what one writes the other reads */
static void
test_written_strings_flags_and_dates_read_back (void **state)
{
    (void)state;
    static const char *strings[] = {"",      "fred",   "a \"quoted\" \\ one", "two\r\nlines", "caf\xc3\xa9",
                                    "INBOX", "(){}%*]"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        for (int utf8 = 0; utf8 < 2; utf8++) {
            buffer_t b = BUFFER_INIT (0);
            assert_int_equal (buffer_append (&b, "a CREATE ", 9), 0);
            assert_int_equal (imap_string_append (&b, strings[i], strlen (strings[i]), utf8), 0);
            assert_int_equal (buffer_append (&b, "\r\n", 2), 0);
            if (s_parse_n (b.data, b.size) != 0)
                fail_msg ("%s: %s", b.data, g_why);
            assert_string_equal (g_cmd.str[0].data, strings[i]);
            buffer_free (&b);
        }
    for (unsigned flags = 0; flags <= IMAP_ALL_FLAGS; flags++) {
        buffer_t b = BUFFER_INIT (0);
        assert_int_equal (buffer_append (&b, "a STORE 1 FLAGS ", 16), 0);
        assert_int_equal (imap_flags_append (&b, flags), 0);
        assert_int_equal (buffer_append (&b, "\r\n", 2), 0);
        assert_int_equal (s_parse_n (b.data, b.size), 0);
        assert_int_equal (g_cmd.flags, flags);
        char letters[6];
        imap_flags_to_letters (flags, letters);
        assert_int_equal (imap_flags_from_letters (letters), flags);
        buffer_free (&b);
    }
    static const int64_t times[] = {0, 837596665, 951868800, 1704067200, 4102444799, 253402300799};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char text[32];
        imap_date_time (times[i], text);
        assert_int_equal (imap_parse_date_time (text, strlen (text)), times[i]);
    }
}

static void
test_free_is_idempotent (void **state)
{
    (void)state;
    imap_command_t cmd;
    const char *why = NULL;
    assert_int_equal (imap_parse ("a FETCH 1 BODY[]\r\n", 18, &cmd, &why), 0);
    imap_command_free (&cmd);
    assert_null (cmd.arena);
    imap_command_free (&cmd);
    imap_command_free (NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_commands_without_arguments, s_teardown),
        cmocka_unit_test_teardown (test_tag_rules_and_unknown_commands, s_teardown),
        cmocka_unit_test_teardown (test_login_with_quoted_atom_and_literal_password, s_teardown),
        cmocka_unit_test_teardown (test_authenticate_enable_id, s_teardown),
        cmocka_unit_test_teardown (test_mailbox_commands_and_inbox_in_any_case, s_teardown),
        cmocka_unit_test_teardown (test_list_lsub_status, s_teardown),
        cmocka_unit_test_teardown (test_fetch_items_and_macros, s_teardown),
        cmocka_unit_test_teardown (test_fetch_sections, s_teardown),
        cmocka_unit_test_teardown (test_fetch_limits, s_teardown),
        cmocka_unit_test_teardown (test_store_flags, s_teardown),
        cmocka_unit_test_teardown (test_copy_move_uid_expunge, s_teardown),
        cmocka_unit_test_teardown (test_sequence_sets_and_numbers, s_teardown),
        cmocka_unit_test (test_seqset_contains_with_star_and_empty_mailbox),
        cmocka_unit_test_teardown (test_search_keys, s_teardown),
        cmocka_unit_test_teardown (test_search_charset_return_and_nesting, s_teardown),
        cmocka_unit_test_teardown (test_append_with_flags_date_and_literal, s_teardown),
        cmocka_unit_test_teardown (test_line_and_literal_limits, s_teardown),
        cmocka_unit_test (test_date_time_parsing),
        cmocka_unit_test (test_list_match_with_wildcards),
        cmocka_unit_test (test_literal_at_end),
        cmocka_unit_test_teardown (test_real_client_lines, s_teardown),
        cmocka_unit_test_teardown (test_written_strings_flags_and_dates_read_back, s_teardown),
        cmocka_unit_test (test_free_is_idempotent),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
