/*  test_form.c — web/form.h short of memory: a field that cannot be kept makes form_feed say
    FORM_NO_MEMORY (the request is answered 503, not 400) and leaves no half-made field behind.
    libmicrohttpd's post processor is stood in for (-Wl,--wrap: it hands each body chunk to
    form.c's iterator as one field "to"), and calloc, realloc and strdup fail on demand (alloc_fail.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc_fail.h"
#include "form.h"

static MHD_PostDataIterator s_iterator;
static void *s_cls;
static int s_dummy;

struct MHD_PostProcessor *
__wrap_MHD_create_post_processor (struct MHD_Connection *conn, size_t size, MHD_PostDataIterator iter,
                                  void *cls)
{
    (void)conn;
    (void)size;
    s_iterator = iter;
    s_cls = cls;
    return (struct MHD_PostProcessor *)&s_dummy;
}

enum MHD_Result
__wrap_MHD_post_process (struct MHD_PostProcessor *pp, const char *data, size_t size)
{
    (void)pp;
    return s_iterator (s_cls, MHD_POSTDATA_KIND, "to", NULL, NULL, NULL, data, 0, size);
}

enum MHD_Result
__wrap_MHD_destroy_post_processor (struct MHD_PostProcessor *pp)
{
    (void)pp;
    return MHD_YES;
}

static form_t *
s_form (void)
{
    bool no_memory = true;
    form_t *form = form_new (NULL, &no_memory);
    assert_non_null (form);
    assert_false (no_memory);
    return form;
}

static void
test_a_field_is_kept (void **state)
{
    (void)state;
    form_t *form = s_form ();
    assert_int_equal (form_feed (form, "bob@demo.test", 13), 0);
    assert_string_equal (form_value (form, "to"), "bob@demo.test");
    form_destroy (&form);
    assert_null (form);
}

static void
test_a_field_whose_copies_fail_is_out_of_memory_and_not_kept (void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        form_t *form = s_form ();
        if (which == 0)
            alloc_fail_strdups = 1; /* its name */
        else
            alloc_fail_callocs = 1; /* its value */
        assert_int_equal (form_feed (form, "bob@demo.test", 13), FORM_NO_MEMORY);
        assert_null (form_get (form, "to"));
        assert_null (form_field (form, 0));
        form_destroy (&form);
    }
}

static void
test_a_value_that_cannot_grow_is_out_of_memory (void **state)
{
    (void)state;
    form_t *form = s_form ();
    alloc_fail_reallocs = 1;
    assert_int_equal (form_feed (form, "bob@demo.test", 13), FORM_NO_MEMORY);
    form_destroy (&form);
}

static void
test_a_form_that_cannot_be_made_says_out_of_memory (void **state)
{
    (void)state;
    bool no_memory = false;
    alloc_fail_callocs = 1;
    assert_null (form_new (NULL, &no_memory));
    assert_true (no_memory);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_field_is_kept),
        cmocka_unit_test (test_a_field_whose_copies_fail_is_out_of_memory_and_not_kept),
        cmocka_unit_test (test_a_value_that_cannot_grow_is_out_of_memory),
        cmocka_unit_test (test_a_form_that_cannot_be_made_says_out_of_memory),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
