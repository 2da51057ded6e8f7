/* Unit tests of lib/backoff.c: the job queue's retry delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"
#include "buf.h"

static void test_delay(void **state)
{
	(void)state;
	assert_true(seg_backoff_delay(1, 5, 600) == 5);
	assert_true(seg_backoff_delay(2, 5, 600) == 20);
	assert_true(seg_backoff_delay(3, 5, 600) == 80);
	assert_true(seg_backoff_delay(4, 5, 600) == 320);
	assert_true(seg_backoff_delay(5, 5, 600) == 600); /* 1280 capped */
	assert_true(seg_backoff_delay(1000000, 5, 600) == 600);
	assert_true(seg_backoff_delay(0, 5, 600) == 5);
	assert_true(seg_backoff_delay(-3, 5, 600) == 5);
	assert_true(seg_backoff_delay(3, 0.25, 600) == 4);
	assert_true(seg_backoff_delay(3, 0, 600) == 0);
	assert_true(seg_backoff_delay(1, 50, 10) == 10); /* the cap wins from the start */
}

static void test_array(void **state)
{
	struct seg_buf b = SEG_BUF_INIT;
	(void)state;
	seg_backoff_array(&b, 5, 5, 600);
	assert_string_equal(b.data, "{5.000,20.000,80.000,320.000,600.000}");
	seg_buf_reset(&b);
	seg_backoff_array(&b, 1, 0.5, 600);
	assert_string_equal(b.data, "{0.500}");
	seg_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_array),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
