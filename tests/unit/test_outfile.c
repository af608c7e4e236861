/*  test_outfile.c — mailbus-sub's file writing through outfile.h: names made from what a
    sender chose (lengths at the limit with multi-byte UTF-8, control characters, "..",
    separators, empty names), and writes that never follow a symbolic link planted in the
    directory (issue 11, items 5 and 11). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"

/* ------------------------------------------------------------------ names */

/* True when text is well-formed UTF-8 (the C library's decoder says so) */
static int
s_valid_utf8 (const char *text)
{
    return mbstowcs (NULL, text, 0) != (size_t)-1;
}

static void
s_expect (const char *name, const char *expected)
{
    char *safe = outfile_safe_name (name, "fallback");
    assert_string_equal (safe, expected);
    free (safe);
}

/* n copies of unit, then tail */
static char *
s_repeat (const char *unit, size_t n, const char *tail)
{
    size_t len = strlen (unit);
    char *text = malloc (len * n + strlen (tail) + 1);
    for (size_t i = 0; i < n; i++)
        memcpy (text + i * len, unit, len);
    strcpy (text + len * n, tail);
    return text;
}

static void
test_empty_names_and_dots_give_the_fallback (void **state)
{
    (void)state;
    s_expect (NULL, "fallback");
    s_expect ("", "fallback");
    s_expect (".", "fallback");
    s_expect ("..", "fallback");
    s_expect ("/", "fallback");
    s_expect ("a/", "fallback");
    s_expect (" . . ", "fallback");
}

static void
test_only_the_last_component_is_kept (void **state)
{
    (void)state;
    s_expect ("../../etc/passwd", "passwd");
    s_expect ("..\\..\\boot.ini", "boot.ini");
    s_expect ("/abs/path/report.pdf", "report.pdf");
    s_expect ("../..", "fallback");
    s_expect ("...hidden", "hidden");
    s_expect ("name. . ", "name");
}

static void
test_control_characters_and_colons_are_replaced (void **state)
{
    (void)state;
    s_expect ("a\x01"
              "b\x7f"
              "c\td",
              "a_b_c_d");
    s_expect ("C:report.pdf", "C_report.pdf");
    s_expect ("line\r\nbreak", "line__break");
    /* U+0085 NEXT LINE is a C1 control character; U+00E9 is not */
    s_expect ("a\xc2\x85"
              "b\xc3\xa9",
              "a_b\xc3\xa9");
}

static void
test_bytes_that_are_not_utf8_are_replaced (void **state)
{
    (void)state;
    s_expect ("\xff\xfe"
              "x",
              "__x");
    s_expect ("over\xc0\xaf"
              "long",
              "over__long"); /* overlong '/' */
    s_expect ("sur\xed\xa0\x80"
              "rogate",
              "sur___rogate");                   /* U+D800 */
    s_expect ("cut\xe2\x82", "cut__");           /* a sequence the name ends inside */
    s_expect ("big\xf4\x90\x80\x80", "big____"); /* past U+10FFFF */
}

static void
test_a_name_is_cut_at_the_limit_between_characters (void **state)
{
    (void)state;
    /* (prefix bytes of ASCII, multi-byte character): each lands across the limit */
    static const struct {
        size_t ascii;
        const char *character;
        size_t expected;
    } cases[] = {
        {OUTFILE_MAX_NAME - 1, "\xc3\xa9", OUTFILE_MAX_NAME - 1},     /* é, 2 bytes */
        {OUTFILE_MAX_NAME - 2, "\xc3\xa9", OUTFILE_MAX_NAME},         /* fits exactly */
        {OUTFILE_MAX_NAME - 2, "\xe2\x82\xac", OUTFILE_MAX_NAME - 2}, /* €, 3 bytes */
        {OUTFILE_MAX_NAME - 1, "\xe2\x82\xac", OUTFILE_MAX_NAME - 1},
        {OUTFILE_MAX_NAME - 3, "\xf0\x9f\x93\x8e", OUTFILE_MAX_NAME - 3}, /* 📎, 4 bytes */
        {OUTFILE_MAX_NAME - 4, "\xf0\x9f\x93\x8e", OUTFILE_MAX_NAME},
        {OUTFILE_MAX_NAME, "\xc3\xa9", OUTFILE_MAX_NAME},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tail = s_repeat (cases[i].character, 3, "");
        char *name = s_repeat ("a", cases[i].ascii, tail);
        char *safe = outfile_safe_name (name, "fallback");
        assert_int_equal (strlen (safe), cases[i].expected);
        assert_true (s_valid_utf8 (safe));
        free (safe);
        free (name);
        free (tail);
    }
}

static void
test_names_of_multibyte_characters_only_stay_whole_and_short (void **state)
{
    (void)state;
    const char *units[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\x8e", "\xe6\x97\xa5\xc3\xa9"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        for (size_t n = 60; n < 120; n++) {
            char *name = s_repeat (units[i], n, ".pdf");
            char *safe = outfile_safe_name (name, "fallback");
            assert_true (strlen (safe) <= OUTFILE_MAX_NAME);
            assert_true (s_valid_utf8 (safe));
            free (safe);
            free (name);
        }
}

static void
test_any_bytes_give_a_short_valid_harmless_name (void **state)
{
    (void)state;
    srand (11);
    for (int round = 0; round < 5000; round++) {
        char name[400];
        size_t len = (size_t)(rand () % (int)(sizeof name - 1));
        for (size_t i = 0; i < len; i++)
            name[i] = (char)(1 + rand () % 255);
        name[len] = '\0';
        char *safe = outfile_safe_name (name, "fallback");
        size_t n = strlen (safe);
        assert_true (n >= 1 && n <= OUTFILE_MAX_NAME);
        assert_true (s_valid_utf8 (safe));
        assert_null (strpbrk (safe, "/\\:\r\n"));
        assert_true (safe[0] != '.' && safe[n - 1] != '.');
        free (safe);
    }
}

/* ------------------------------------------------------------------ files */

typedef struct {
    char dir[64];
    char victim[128];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/mailbus-outfile-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->victim, sizeof f->victim, "%s/victim.txt", f->dir);
    FILE *file = fopen (f->victim, "w");
    fputs ("precious\n", file);
    fclose (file);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal (system (command), 0);
    free (f);
    return 0;
}

static void
s_assert_victim_intact (const fixture_t *f)
{
    char text[64] = "";
    FILE *file = fopen (f->victim, "r");
    assert_non_null (file);
    assert_non_null (fgets (text, sizeof text, file));
    fclose (file);
    assert_string_equal (text, "precious\n");
}

static void
s_link (const fixture_t *f, const char *name)
{
    char path[192];
    snprintf (path, sizeof path, "%s/%s", f->dir, name);
    assert_int_equal (symlink (f->victim, path), 0);
}

static void
test_durable_write_replaces_a_planted_link_without_following_it (void **state)
{
    fixture_t *f = *state;
    s_link (f, "4.eml");
    s_link (f, "4.eml.tmp"); /* the old fixed temporary name */
    char *path = NULL, *error = NULL;
    assert_int_equal (outfile_write_durable (f->dir, "4.eml", "evil", 4, &path, &error), 0);
    s_assert_victim_intact (f);
    struct stat st;
    assert_int_equal (lstat (path, &st), 0);
    assert_true (S_ISREG (st.st_mode));
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (st.st_size, 4);
    free (path);
}

static void
test_new_file_never_goes_through_a_planted_link (void **state)
{
    fixture_t *f = *state;
    s_link (f, "menu.txt");
    char *path = NULL, *error = NULL;
    assert_int_equal (outfile_write_new (f->dir, "menu.txt", "evil", 4, &path, &error), 0);
    s_assert_victim_intact (f);
    assert_non_null (strstr (path, "/menu-1.txt"));
    free (path);
}

static void
test_state_of_a_link_is_other_and_never_read_through (void **state)
{
    fixture_t *f = *state;
    s_link (f, "7.eml");
    assert_int_equal (outfile_state (f->dir, "7.eml", "precious\n", 9), OUTFILE_OTHER);
    assert_int_equal (outfile_state (f->dir, "victim.txt", "precious\n", 9), OUTFILE_SAME);
    assert_int_equal (outfile_state (f->dir, "victim.txt", "precious!", 9), OUTFILE_OTHER);
    assert_int_equal (outfile_state (f->dir, "8.eml", "x", 1), OUTFILE_ABSENT);
}

static void
test_prepare_makes_missing_folders_0700_and_refuses_shared_ones (void **state)
{
    fixture_t *f = *state;
    char path[192], *error = NULL;
    snprintf (path, sizeof path, "%s/a/b/c", f->dir);
    assert_int_equal (outfile_prepare_dir (path, &error), 0);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    snprintf (path, sizeof path, "%s/a", f->dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);

    for (mode_t mode = 01777; mode; mode = mode == 01777 ? 0770 : 0) {
        assert_int_equal (chmod (path, mode), 0);
        assert_int_equal (outfile_prepare_dir (path, &error), -1);
        assert_non_null (strstr (error, "group or others may write"));
        free (error);
        error = NULL;
        char *out = NULL;
        assert_int_equal (outfile_write_durable (path, "1.eml", "x", 1, &out, &error), -1);
        free (error);
        error = NULL;
    }
    assert_int_equal (outfile_prepare_dir (f->victim, &error), -1);
    free (error);
    error = NULL;
    assert_int_equal (outfile_prepare_dir ("", &error), -1);
    free (error);
}

int
main (void)
{
    setlocale (LC_ALL, "C.UTF-8");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_empty_names_and_dots_give_the_fallback),
        cmocka_unit_test (test_only_the_last_component_is_kept),
        cmocka_unit_test (test_control_characters_and_colons_are_replaced),
        cmocka_unit_test (test_bytes_that_are_not_utf8_are_replaced),
        cmocka_unit_test (test_a_name_is_cut_at_the_limit_between_characters),
        cmocka_unit_test (test_names_of_multibyte_characters_only_stay_whole_and_short),
        cmocka_unit_test (test_any_bytes_give_a_short_valid_harmless_name),
        cmocka_unit_test_setup_teardown (test_durable_write_replaces_a_planted_link_without_following_it,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_new_file_never_goes_through_a_planted_link, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_state_of_a_link_is_other_and_never_read_through, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_prepare_makes_missing_folders_0700_and_refuses_shared_ones,
                                         s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
