/*  test_address.c — common/address.h: what a mailbox address is (RFC 5321 4.1.2 dot-atom
    form, RFC 5321 4.5.3.1 limits), and how it is normalised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "address.h"

static int
s_parse (const char *text, address_t *addr)
{
    const char *error = NULL;
    int rc = address_parse (text, strlen (text), addr, &error);
    if (rc == 0)
        assert_null (error);
    else
        assert_non_null (error);
    return rc;
}

static void
s_assert_refused (const char *text, size_t len)
{
    address_t addr;
    const char *error = NULL;
    assert_int_equal (address_parse (text, len, &addr, &error), -1);
    assert_non_null (error);
    /* a refused address leaves nothing half-filled behind */
    assert_string_equal (addr.full, "");
}

static void
test_simple_address_is_accepted (void **state)
{
    (void)state;
    address_t addr;
    assert_int_equal (s_parse ("bob@demo.test", &addr), 0);
    assert_string_equal (addr.local, "bob");
    assert_string_equal (addr.domain, "demo.test");
    assert_string_equal (addr.full, "bob@demo.test");
}

static void
test_address_is_normalised_to_lower_case (void **state)
{
    (void)state;
    address_t addr;
    assert_int_equal (s_parse ("Bob.Smith@Demo.TEST", &addr), 0);
    assert_string_equal (addr.local, "bob.smith");
    assert_string_equal (addr.domain, "demo.test");
    assert_string_equal (addr.full, "bob.smith@demo.test");
}

static void
test_angle_brackets_are_stripped (void **state)
{
    (void)state;
    address_t addr;
    assert_int_equal (s_parse ("<alice@demo.test>", &addr), 0);
    assert_string_equal (addr.full, "alice@demo.test");
}

static void
test_unbalanced_or_empty_brackets_are_refused (void **state)
{
    (void)state;
    s_assert_refused ("<alice@demo.test", 16);
    s_assert_refused ("alice@demo.test>", 16);
    s_assert_refused ("<>", 2);
}

static void
test_atext_specials_in_local_part_are_accepted (void **state)
{
    (void)state;
    address_t addr;
    assert_int_equal (s_parse ("a+tag_1-x!#$%&'*/=?^`{|}~@demo.test", &addr), 0);
    assert_string_equal (addr.local, "a+tag_1-x!#$%&'*/=?^`{|}~");
}

static void
test_hyphen_inside_domain_label_and_single_label_domain_are_accepted (void **state)
{
    (void)state;
    address_t addr;
    assert_int_equal (s_parse ("a@mail-1.demo-x.test", &addr), 0);
    assert_string_equal (addr.domain, "mail-1.demo-x.test");
    assert_int_equal (s_parse ("a@localhost", &addr), 0);
}

static void
test_local_part_of_exactly_64_octets_is_accepted (void **state)
{
    (void)state;
    char text[128];
    memset (text, 'a', 64);
    strcpy (text + 64, "@demo.test");
    address_t addr;
    assert_int_equal (s_parse (text, &addr), 0);
    assert_int_equal (strlen (addr.local), 64);
}

static void
test_empty_domain_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@", 2);
}

static void
test_empty_local_part_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("@b", 2);
}

static void
test_address_without_at_sign_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("bob", 3);
    s_assert_refused ("", 0);
}

static void
test_null_text_is_refused (void **state)
{
    (void)state;
    address_t addr;
    const char *error = NULL;
    assert_int_equal (address_parse (NULL, 0, &addr, &error), -1);
    assert_non_null (error);
}

static void
test_local_part_of_300_octets_is_refused (void **state)
{
    (void)state;
    char text[400];
    memset (text, 'a', 300);
    strcpy (text + 300, "@demo.test");
    s_assert_refused (text, strlen (text));
}

static void
test_local_part_over_64_octets_is_refused (void **state)
{
    (void)state;
    char text[128];
    memset (text, 'a', 65);
    strcpy (text + 65, "@demo.test");
    s_assert_refused (text, strlen (text));
}

static void
test_address_over_254_octets_is_refused (void **state)
{
    (void)state;
    /* a@ + labels of 63 octets: 2 + 4*64 - 1 = 257 octets */
    char text[300] = "a@";
    for (int i = 0; i < 4; i++) {
        if (i)
            strcat (text, ".");
        size_t n = strlen (text);
        memset (text + n, 'b', 63);
        text[n + 63] = '\0';
    }
    assert_true (strlen (text) > 254);
    s_assert_refused (text, strlen (text));
}

static void
test_nul_inside_address_is_refused_with_explicit_length (void **state)
{
    (void)state;
    static const char text[] = "bob\0evil@demo.test";
    s_assert_refused (text, sizeof text - 1);
    static const char text2[] = "bob@demo.test\0";
    s_assert_refused (text2, sizeof text2 - 1);
}

static void
test_cr_or_lf_inside_address_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("bob\r\n@demo.test", 16);
    s_assert_refused ("bob@demo.test\r\nRCPT TO:<x@y>", 28);
    s_assert_refused ("bob\n@demo.test", 14);
    s_assert_refused ("bob@demo\r.test", 14);
}

static void
test_non_ascii_octets_are_refused (void **state)
{
    (void)state;
    s_assert_refused ("b\xc3\xb6"
                      "b@demo.test",
                      12);
    s_assert_refused ("bob@demo.test\x7f", 14);
}

static void
test_consecutive_dots_in_local_part_are_refused (void **state)
{
    (void)state;
    s_assert_refused ("a..b@x", 6);
}

static void
test_leading_or_trailing_dot_in_local_part_is_refused (void **state)
{
    (void)state;
    s_assert_refused (".a@x", 4);
    s_assert_refused ("a.@x", 4);
}

static void
test_spaces_are_refused (void **state)
{
    (void)state;
    s_assert_refused ("bob smith@demo.test", 19);
    s_assert_refused ("bob@demo .test", 14);
    s_assert_refused (" bob@demo.test", 14);
    s_assert_refused ("bob@demo.test ", 14);
}

static void
test_quoted_local_part_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("\"bob\"@demo.test", 15);
}

static void
test_second_at_sign_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@b@demo.test", 13);
}

static void
test_domain_label_with_leading_hyphen_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@-demo.test", 12);
    s_assert_refused ("a@demo.-test", 12);
}

static void
test_domain_label_with_trailing_hyphen_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@demo-.test", 12);
    s_assert_refused ("a@demo.test-", 12);
}

static void
test_domain_with_empty_label_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@demo..test", 12);
    s_assert_refused ("a@.demo.test", 12);
    s_assert_refused ("a@demo.test.", 12);
}

static void
test_domain_with_invalid_characters_is_refused (void **state)
{
    (void)state;
    s_assert_refused ("a@demo_x.test", 13);
    s_assert_refused ("a@[127.0.0.1]", 13);
}

static void
test_domain_label_of_64_chars_is_refused (void **state)
{
    (void)state;
    char text[128] = "a@";
    memset (text + 2, 'b', 64);
    strcpy (text + 66, ".test");
    s_assert_refused (text, strlen (text));
}

static void
test_domain_label_of_63_chars_is_accepted (void **state)
{
    (void)state;
    char text[128] = "a@";
    memset (text + 2, 'B', 63);
    strcpy (text + 65, ".test");
    address_t addr;
    assert_int_equal (s_parse (text, &addr), 0);
    assert_int_equal (strlen (addr.domain), 63 + 5);
    assert_int_equal (addr.domain[0], 'b');
}

static void
test_domain_in_list_is_case_insensitive (void **state)
{
    (void)state;
    address_t addr;
    const char *domains[] = {"other.test", "Demo.Test", NULL};
    assert_int_equal (s_parse ("bob@demo.test", &addr), 0);
    assert_true (address_domain_in (&addr, domains));
    const char *others[] = {"other.test", NULL};
    assert_false (address_domain_in (&addr, others));
    assert_false (address_domain_in (&addr, NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_simple_address_is_accepted),
        cmocka_unit_test (test_address_is_normalised_to_lower_case),
        cmocka_unit_test (test_angle_brackets_are_stripped),
        cmocka_unit_test (test_unbalanced_or_empty_brackets_are_refused),
        cmocka_unit_test (test_atext_specials_in_local_part_are_accepted),
        cmocka_unit_test (test_hyphen_inside_domain_label_and_single_label_domain_are_accepted),
        cmocka_unit_test (test_local_part_of_exactly_64_octets_is_accepted),
        cmocka_unit_test (test_empty_domain_is_refused),
        cmocka_unit_test (test_empty_local_part_is_refused),
        cmocka_unit_test (test_address_without_at_sign_is_refused),
        cmocka_unit_test (test_null_text_is_refused),
        cmocka_unit_test (test_local_part_of_300_octets_is_refused),
        cmocka_unit_test (test_local_part_over_64_octets_is_refused),
        cmocka_unit_test (test_address_over_254_octets_is_refused),
        cmocka_unit_test (test_nul_inside_address_is_refused_with_explicit_length),
        cmocka_unit_test (test_cr_or_lf_inside_address_is_refused),
        cmocka_unit_test (test_non_ascii_octets_are_refused),
        cmocka_unit_test (test_consecutive_dots_in_local_part_are_refused),
        cmocka_unit_test (test_leading_or_trailing_dot_in_local_part_is_refused),
        cmocka_unit_test (test_spaces_are_refused),
        cmocka_unit_test (test_quoted_local_part_is_refused),
        cmocka_unit_test (test_second_at_sign_is_refused),
        cmocka_unit_test (test_domain_label_with_leading_hyphen_is_refused),
        cmocka_unit_test (test_domain_label_with_trailing_hyphen_is_refused),
        cmocka_unit_test (test_domain_with_empty_label_is_refused),
        cmocka_unit_test (test_domain_with_invalid_characters_is_refused),
        cmocka_unit_test (test_domain_label_of_64_chars_is_refused),
        cmocka_unit_test (test_domain_label_of_63_chars_is_accepted),
        cmocka_unit_test (test_domain_in_list_is_case_insensitive),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
