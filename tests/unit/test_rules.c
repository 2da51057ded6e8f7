/*
 * Unit tests of the rule parser (rules/parse.c) and the segment reference graph
 * (rules/graph.c). Rules are written with single quotes for readability; q() turns them into
 * JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "rule.h"

static struct seg_attr_catalog catalog;

/* Segments 1, 2, 3 and 42 exist. */
static bool exists(void *ctx, int64_t id)
{
	(void)ctx;
	return id == 1 || id == 2 || id == 3 || id == 42;
}

static int setup(void **state)
{
	(void)state;
	seg_attr_catalog_init(&catalog);
	seg_attr_catalog_add(&catalog, "age", SEG_ATTR_NUMBER, NULL);
	seg_attr_catalog_add(&catalog, "score", SEG_ATTR_INTEGER, NULL);
	seg_attr_catalog_add(&catalog, "name", SEG_ATTR_STRING, NULL);
	seg_attr_catalog_add(&catalog, "vip", SEG_ATTR_BOOLEAN, NULL);
	seg_attr_catalog_add(&catalog, "signup", SEG_ATTR_DATE, NULL);
	seg_attr_catalog_add(&catalog, "seen", SEG_ATTR_TIMESTAMP, NULL);
	seg_attr_catalog_add(&catalog, "tags", SEG_ATTR_STRING_LIST, NULL);
	seg_attr_catalog_add(&catalog, "address.city", SEG_ATTR_STRING, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seg_attr_catalog_release(&catalog);
	return 0;
}

/* The rule text with ' turned into " (malloc'ed). */
static char *q(const char *s)
{
	char *d = strdup(s);
	for (char *c = d; *c; c++)
		if (*c == '\'')
			*c = '"';
	return d;
}

/* Parses JSON text (no quote conversion) with the test catalogue. */
static struct seg_rule *parse_json(const char *text, size_t len, bool stored, struct seg_problem *p)
{
	struct seg_rule_env env = {&catalog, exists, NULL, stored};
	return seg_rule_parse(text, len, &env, "/rule", p);
}

/* Parses sq (single quotes) and asserts success. */
static struct seg_rule *ok_mode(const char *sq, bool stored)
{
	struct seg_problem p;
	char *text = q(sq);
	seg_problem_init(&p);
	struct seg_rule *r = parse_json(text, strlen(text), stored, &p);
	if (!r || p.count)
		fail_msg("%s: %s %s", text, p.count ? p.items[0].pointer : "",
			 p.count ? p.items[0].detail : "(no error)");
	seg_problem_release(&p);
	free(text);
	return r;
}

static struct seg_rule *ok(const char *sq)
{
	return ok_mode(sq, false);
}

/* Parses and frees; asserts success. */
static void valid(const char *sq)
{
	seg_rule_free(ok(sq));
}

/*
 * Parses sq and asserts failure with the first error at pointer and a detail containing
 * detail (exactly equal when it starts with "="). Returns the number of errors.
 */
static size_t bad_mode(const char *sq, bool stored, const char *pointer, const char *detail)
{
	struct seg_problem p;
	char *text = q(sq);
	seg_problem_init(&p);
	struct seg_rule *r = parse_json(text, strlen(text), stored, &p);
	if (r)
		fail_msg("%s: accepted", text);
	if (p.count == 0)
		fail_msg("%s: refused without an error", text);
	if (strcmp(p.items[0].pointer, pointer) != 0)
		fail_msg("%s: pointer %s, expected %s (%s)", text, p.items[0].pointer, pointer,
			 p.items[0].detail);
	if (detail[0] == '=' ? strcmp(p.items[0].detail, detail + 1) != 0
			     : !strstr(p.items[0].detail, detail))
		fail_msg("%s: detail \"%s\", expected \"%s\"", text, p.items[0].detail, detail);
	size_t n = p.count;
	seg_problem_release(&p);
	free(text);
	return n;
}

static size_t bad(const char *sq, const char *pointer, const char *detail)
{
	return bad_mode(sq, false, pointer, detail);
}

/* ----- operators ---------------------------------------------------------------------------- */

static void test_ops_valid(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'attr':'x','op':'eq','value':30}");
	assert_int_equal(r->root->kind, SEG_RULE_ATTR);
	assert_int_equal(r->root->op, SEG_RULE_OP_EQ);
	assert_int_equal(r->root->nvalues, 1);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_NUMBER);
	assert_string_equal(r->root->values[0].text, "30");
	assert_int_equal(r->root->attr_type, SEG_ATTR__COUNT);
	assert_false(r->root->conflict);
	assert_int_equal(r->leaves, 1);
	seg_rule_free(r);

	r = ok("{'attr':'x','op':'ne','value':'DE'}");
	assert_int_equal(r->root->op, SEG_RULE_OP_NE);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_STRING);
	assert_string_equal(r->root->values[0].text, "DE");
	assert_int_equal(r->root->values[0].len, 2);
	seg_rule_free(r);

	r = ok("{'attr':'x','op':'eq','value':true}");
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_BOOLEAN);
	assert_string_equal(r->root->values[0].text, "true");
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'ne','value':false}");
	assert_string_equal(r->root->values[0].text, "false");
	seg_rule_free(r);

	const char *cmp[] = {"lt", "lte", "gt", "gte"};
	for (size_t i = 0; i < 4; i++) {
		char text[128];
		snprintf(text, sizeof(text), "{'attr':'x','op':'%s','value':1.5}", cmp[i]);
		r = ok(text);
		assert_int_equal(r->root->op, SEG_RULE_OP_LT + (int)i);
		assert_string_equal(seg_rule_op_name(r->root->op), cmp[i]);
		seg_rule_free(r);
		snprintf(text, sizeof(text), "{'attr':'x','op':'%s','value':'m'}", cmp[i]);
		valid(text);
	}

	r = ok("{'attr':'x','op':'between','value':[1, 10]}");
	assert_int_equal(r->root->op, SEG_RULE_OP_BETWEEN);
	assert_int_equal(r->root->nvalues, 2);
	assert_string_equal(r->root->values[0].text, "1");
	assert_string_equal(r->root->values[1].text, "10");
	seg_rule_free(r);
	valid("{'attr':'x','op':'between','value':['a','b']}");
	/* an empty range is allowed (it matches nobody) */
	valid("{'attr':'x','op':'between','value':[10, 1]}");

	r = ok("{'attr':'x','op':'in','value':['a','b','c']}");
	assert_int_equal(r->root->op, SEG_RULE_OP_IN);
	assert_int_equal(r->root->nvalues, 3);
	assert_string_equal(r->root->values[2].text, "c");
	seg_rule_free(r);
	valid("{'attr':'x','op':'in','value':[1, 2.5, -3e2]}");
	valid("{'attr':'x','op':'not_in','value':[true]}");
	valid("{'attr':'x','op':'not_in','value':[1]}");

	r = ok("{'attr':'x','op':'contains','value':'ab'}");
	assert_int_equal(r->root->op, SEG_RULE_OP_CONTAINS);
	seg_rule_free(r);
	valid("{'attr':'x','op':'starts_with','value':''}");

	r = ok("{'attr':'x','op':'exists'}");
	assert_int_equal(r->root->op, SEG_RULE_OP_EXISTS);
	assert_int_equal(r->root->nvalues, 0);
	assert_null(r->root->values);
	seg_rule_free(r);
	valid("{'attr':'x','op':'not_exists'}");

	r = ok("{'attr':'x','op':'before','value':'2026-01-01'}");
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	assert_string_equal(r->root->values[0].text, "2026-01-01T00:00:00Z");
	assert_false(r->deps & SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'after','value':'2026-01-01T01:30:00.250+01:00'}");
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	assert_string_equal(r->root->values[0].text, "2026-01-01T00:30:00.25Z");
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'before','value':'-30d'}");
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_OFFSET);
	assert_int_equal(r->root->values[0].seconds, -30 * 86400);
	assert_null(r->root->values[0].text);
	assert_true(r->deps & SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'after','value':'+2w'}");
	assert_int_equal(r->root->values[0].seconds, 14 * 86400);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'after','value':'-12h'}");
	assert_int_equal(r->root->values[0].seconds, -12 * 3600);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'within_last','value':'7d'}");
	assert_int_equal(r->root->op, SEG_RULE_OP_WITHIN_LAST);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_DURATION);
	assert_int_equal(r->root->values[0].seconds, 7 * 86400);
	assert_true(r->deps & SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'older_than','value':'36h'}");
	assert_int_equal(r->root->values[0].seconds, 36 * 3600);
	seg_rule_free(r);
	r = ok("{'attr':'x','op':'older_than','value':'1w'}");
	assert_int_equal(r->root->values[0].seconds, 7 * 86400);
	seg_rule_free(r);
	/* the longest spans */
	valid("{'attr':'x','op':'within_last','value':'365250d'}");
	valid("{'attr':'x','op':'before','value':'-8766000h'}");
	assert_string_equal(seg_rule_op_name(SEG_RULE_OP_OLDER_THAN), "older_than");
	assert_string_equal(seg_rule_agg_name(SEG_RULE_AGG_AVG), "avg");
}

static void test_ops_invalid(void **state)
{
	(void)state;

	bad("{'attr':'x','op':'gte_','value':1}", "/rule/op", "=unknown operator \"gte_\"");
	bad("{'attr':'x','op':'EQ','value':1}", "/rule/op", "=unknown operator \"EQ\"");
	bad("{'attr':'x','op':3,'value':1}", "/rule/op",
	    "=expected an operator name (a string), got a number");
	bad("{'attr':'x','value':1}", "/rule/op", "=missing \"op\"");
	bad("{'attr':'x','op':'eq'}", "/rule/value",
	    "=missing \"value\" (operator \"eq\" needs one)");
	bad("{'attr':'x','op':'exists','value':1}", "/rule/value",
	    "=operator \"exists\" takes no value");
	bad("{'attr':'x','op':'not_exists','value':null}", "/rule/value", "takes no value");

	/* eq/ne: a scalar */
	bad("{'attr':'x','op':'eq','value':null}", "/rule/value",
	    "=expected a number, a string or a boolean, got null (exists and not_exists test for "
	    "null)");
	bad("{'attr':'x','op':'eq','value':[1]}", "/rule/value",
	    "=expected a number, a string or a boolean, got an array");
	bad("{'attr':'x','op':'ne','value':{}}", "/rule/value", "got an object");
	/* lt..gte: a number or a string */
	bad("{'attr':'x','op':'lt','value':true}", "/rule/value",
	    "=expected a number or a string, got a boolean");
	bad("{'attr':'x','op':'gte','value':[1]}", "/rule/value", "got an array");
	/* between: [lo, hi] of one type */
	bad("{'attr':'x','op':'between','value':1}", "/rule/value",
	    "=expected [low, high], got a number");
	bad("{'attr':'x','op':'between','value':[1]}", "/rule/value",
	    "=expected [low, high], got 1 element");
	bad("{'attr':'x','op':'between','value':[1,2,3]}", "/rule/value",
	    "=expected [low, high], got 3 elements");
	bad("{'attr':'x','op':'between','value':[]}", "/rule/value", "got 0 elements");
	bad("{'attr':'x','op':'between','value':[1,'2']}", "/rule/value/1",
	    "=the elements must be of one type: expected a number like the first");
	bad("{'attr':'x','op':'between','value':[true,false]}", "/rule/value/0",
	    "=expected a number or a string, got a boolean");
	/* in/not_in: a non-empty array of one type */
	bad("{'attr':'x','op':'in','value':[]}", "/rule/value", "=expected a non-empty array");
	bad("{'attr':'x','op':'in','value':'a'}", "/rule/value",
	    "=expected a non-empty array, got a string");
	bad("{'attr':'x','op':'not_in','value':['a',1]}", "/rule/value/1",
	    "expected a string like the first");
	bad("{'attr':'x','op':'in','value':[1,2,null]}", "/rule/value/2", "got null");
	bad("{'attr':'x','op':'in','value':[[1]]}", "/rule/value/0", "got an array");
	/* contains, starts_with: a string */
	bad("{'attr':'x','op':'contains','value':1}", "/rule/value",
	    "=expected a string, got a number");
	bad("{'attr':'x','op':'starts_with','value':['a']}", "/rule/value",
	    "=expected a string, got an array");
	/* before/after: instants or offsets */
	bad("{'attr':'x','op':'before','value':'yesterday'}", "/rule/value",
	    "=expected an RFC 3339 timestamp, a date or an offset such as \"-30d\", got "
	    "\"yesterday\"");
	bad("{'attr':'x','op':'before','value':'30d'}", "/rule/value", "offset such as");
	bad("{'attr':'x','op':'after','value':'-30m'}", "/rule/value", "offset such as");
	bad("{'attr':'x','op':'after','value':'-d'}", "/rule/value", "offset such as");
	bad("{'attr':'x','op':'after','value':'2026-02-30'}", "/rule/value", "offset such as");
	bad("{'attr':'x','op':'after','value':'2026-01-01T25:00:00Z'}", "/rule/value", "got");
	bad("{'attr':'x','op':'after','value':'0001-01-01T00:00:00+01:00'}", "/rule/value", "got");
	bad("{'attr':'x','op':'before','value':-30}", "/rule/value",
	    "=expected a string, got a number");
	bad("{'attr':'x','op':'before','value':'-365251d'}", "/rule/value", "offset such as");
	/* within_last/older_than: durations */
	bad("{'attr':'x','op':'within_last','value':'-7d'}", "/rule/value",
	    "=expected a duration such as \"30d\" (<n>h, <n>d or <n>w, at most 365250 days), got "
	    "\"-7d\"");
	bad("{'attr':'x','op':'within_last','value':'0d'}", "/rule/value", "duration");
	bad("{'attr':'x','op':'older_than','value':'7'}", "/rule/value", "duration");
	bad("{'attr':'x','op':'older_than','value':'7 d'}", "/rule/value", "duration");
	bad("{'attr':'x','op':'older_than','value':'365251d'}", "/rule/value", "duration");
	bad("{'attr':'x','op':'older_than','value':'9999999999w'}", "/rule/value", "duration");
	bad("{'attr':'x','op':'within_last','value':7}", "/rule/value", "expected a string");
	bad("{'attr':'x','op':'within_last','value':'2026-01-01'}", "/rule/value", "duration");
}

/* ----- structure and pointers ---------------------------------------------------------------- */

static void test_structure(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'all':[]}");
	assert_int_equal(r->root->kind, SEG_RULE_ALL);
	assert_int_equal(r->root->nchildren, 0);
	assert_int_equal(r->leaves, 0);
	assert_int_equal(r->deps, 0);
	assert_string_equal(r->root->pointer, "");
	seg_rule_free(r);
	r = ok("{'any':[]}");
	assert_int_equal(r->root->kind, SEG_RULE_ANY);
	seg_rule_free(r);

	r = ok("{'all':[{'attr':'a','op':'exists'},{'any':[{'not':{'attr':'b.c','op':'eq',"
	       "'value':1}},{'field':'kind','op':'eq','value':'company'}]}]}");
	assert_int_equal(r->leaves, 3);
	const struct seg_rule_node *any = r->root->children[1];
	assert_int_equal(any->kind, SEG_RULE_ANY);
	assert_string_equal(any->pointer, "/all/1");
	const struct seg_rule_node *not = any->children[0];
	assert_int_equal(not ->kind, SEG_RULE_NOT);
	assert_int_equal(not ->nchildren, 1);
	assert_string_equal(not ->pointer, "/all/1/any/0");
	const struct seg_rule_node *leaf = not ->children[0];
	assert_string_equal(leaf->pointer, "/all/1/any/0/not");
	assert_string_equal(leaf->name, "b.c");
	assert_int_equal(leaf->npath, 2);
	assert_string_equal(leaf->path[0], "b");
	assert_string_equal(leaf->path[1], "c");
	assert_int_equal(any->children[1]->kind, SEG_RULE_FIELD);
	assert_int_equal(any->children[1]->subject, SEG_RULE_S_STRING);
	seg_rule_free(r);

	/* not a condition */
	bad("[]", "/rule",
	    "=expected a condition (an object with one of all, any, not, attr, "
	    "field, metric, event or segment), got an array");
	bad("{}", "/rule",
	    "=expected a condition (an object with one of all, any, not, attr, "
	    "field, metric, event or segment)");
	bad("{'op':'eq','value':1}", "/rule", "expected a condition");
	bad("{'all':[1]}", "/rule/all/0", "got a number");
	bad("{'all':{}}", "/rule/all", "=expected an array of conditions, got an object");
	bad("{'any':null}", "/rule/any", "=expected an array of conditions, got null");
	bad("{'not':[]}", "/rule/not", "got an array");
	bad("{'not':{'all':[null]}}", "/rule/not/all/0", "got null");
	/* unknown keys, at the key; a pointer token is escaped (RFC 6901) */
	bad("{'all':[],'x':1}", "/rule/x", "=unknown key \"x\" in an \"all\" condition");
	bad("{'not':{'all':[]},'any':[]}", "/rule/not",
	    "=unknown key \"not\" in an \"any\" condition");
	bad("{'attr':'a','op':'exists','metric':'orders'}", "/rule/metric",
	    "=unknown key \"metric\" in an attr condition");
	bad("{'all':[{'attr':'a','op':'exists'},{'attr':'a','op':'exists','a/b~':1}]}",
	    "/rule/all/1/a~1b~0", "unknown key \"a/b~\"");
	bad("{'field':'id','op':'exists','values':1}", "/rule/values", "in a field condition");
	bad("{'metric':'orders','op':'exists','Op':1}", "/rule/Op", "in a metric condition");
	bad("{'segment':'1','op':'eq'}", "/rule/op", "in a segment condition");
	bad("{'event':'x','within':3}", "/rule/within", "in an event condition");
	/* attribute paths */
	bad("{'attr':'','op':'exists'}", "/rule/attr",
	    "=expected an attribute path, got an empty string");
	bad("{'attr':1,'op':'exists'}", "/rule/attr",
	    "=expected an attribute path (a string), got a number");
	bad("{'attr':'a..b','op':'exists'}", "/rule/attr",
	    "=invalid attribute path \"a..b\": an empty segment");
	bad("{'attr':'.a','op':'exists'}", "/rule/attr", "an empty segment");
	bad("{'attr':'a.','op':'exists'}", "/rule/attr", "an empty segment");
	valid("{'attr':'a b.\u00e9.c-d','op':'exists'}");
	char path[200] = "{'attr':'a";
	for (int i = 1; i < 32; i++)
		strcat(path, ".a");
	strcat(path, "','op':'exists'}");
	valid(path);
	memcpy(path + strlen(path) - strlen("','op':'exists'}"), ".a','op':'exists'}", 19);
	bad(path, "/rule/attr", "more than 32 segments");

	/* several errors are all reported */
	assert_int_equal(bad("{'all':[{'attr':'a','op':'eq'},{'metric':'nope','op':'eq','value':1},"
			     "{'attr':'b','op':'x'}],'y':2}",
			     "/rule/y", "unknown key"),
			 4);
	/* NULL prefix */
	struct seg_problem p;
	seg_problem_init(&p);
	assert_null(seg_rule_parse("{\"x\":1}", 7, NULL, NULL, &p));
	assert_int_equal(p.count, 1);
	assert_string_equal(p.items[0].pointer, "");
	seg_problem_release(&p);
	/* not JSON; duplicate keys are refused */
	bad("{'attr':", "/rule", "the rule is not valid JSON");
	bad("{'attr':'a','attr':'b','op':'exists'}", "/rule", "the rule is not valid JSON");
	bad("{'attr':'a','op':'exists'} x", "/rule", "not valid JSON");
}

/* ----- limits ------------------------------------------------------------------------------- */

static char *nested_nots(int n)
{
	struct seg_buf b = SEG_BUF_INIT;
	for (int i = 0; i < n; i++)
		seg_buf_addstr(&b, "{'not':");
	seg_buf_addstr(&b, "{'attr':'a','op':'exists'}");
	for (int i = 0; i < n; i++)
		seg_buf_addch(&b, '}');
	return seg_buf_detach(&b, NULL);
}

static char *many_leaves(int n, bool where)
{
	struct seg_buf b = SEG_BUF_INIT;
	seg_buf_addstr(&b, where ? "{'event':'e','where':[" : "{'all':[");
	for (int i = 0; i < n; i++)
		seg_buf_addf(&b, "%s{'%s':'a','op':'eq','value':%d}", i ? "," : "",
			     where ? "prop" : "attr", i);
	seg_buf_addstr(&b, "]}");
	return seg_buf_detach(&b, NULL);
}

static void test_limits(void **state)
{
	struct seg_buf ptr = SEG_BUF_INIT;
	(void)state;

	/* a leaf under 31 nots is at depth 32 */
	char *text = nested_nots(31);
	struct seg_rule *r = ok(text);
	assert_int_equal(r->leaves, 1);
	seg_rule_free(r);
	free(text);
	text = nested_nots(32);
	seg_buf_addstr(&ptr, "/rule");
	for (int i = 0; i < 32; i++)
		seg_buf_addstr(&ptr, "/not");
	assert_int_equal(bad(text, ptr.data, "=the rule nests deeper than 32 levels"), 1);
	free(text);
	/* deep all/any the same */
	seg_buf_reset(&ptr);
	struct seg_buf b = SEG_BUF_INIT;
	for (int i = 0; i < 32; i++)
		seg_buf_addstr(&b, i % 2 ? "{'any':[{'attr':'a','op':'exists'}," : "{'all':[");
	seg_buf_addstr(&b, "{'attr':'a','op':'exists'}");
	for (int i = 0; i < 32; i++)
		seg_buf_addstr(&b, "]}");
	/* the last "any" (at depth 32) has two children at depth 33: two errors */
	seg_buf_addstr(&ptr, "/rule");
	for (int i = 0; i < 31; i++)
		seg_buf_addstr(&ptr, i % 2 ? "/any/1" : "/all/0");
	seg_buf_addstr(&ptr, "/any/0");
	assert_int_equal(bad(b.data, ptr.data, "deeper than 32"), 2);
	seg_buf_release(&b);
	seg_buf_release(&ptr);

	/* 1000 leaves are fine, the 1001st is refused at its pointer */
	text = many_leaves(1000, false);
	r = ok(text);
	assert_int_equal(r->leaves, 1000);
	assert_int_equal(r->root->nchildren, 1000);
	seg_rule_free(r);
	free(text);
	text = many_leaves(1001, false);
	assert_int_equal(bad(text, "/rule/all/1000", "=the rule has more than 1000 conditions"), 1);
	free(text);
	/* where filters count: the event itself and 999 filters are 1000 */
	text = many_leaves(999, true);
	r = ok(text);
	assert_int_equal(r->leaves, 1000);
	assert_int_equal(r->root->nchildren, 999);
	seg_rule_free(r);
	free(text);
	text = many_leaves(1000, true);
	bad(text, "/rule/where/999", "more than 1000 conditions");
	free(text);
	/* far too many: one error, and the walk stops */
	text = many_leaves(20000, false);
	assert_int_equal(bad(text, "/rule/all/1000", "more than 1000"), 1);
	free(text);
}

/* ----- numbers and strings ------------------------------------------------------------------ */

static void test_numbers(void **state)
{
	const char *kept[] = {
		"0.1",	"1e3",	"30.0",	   "-0",
		"1E+2", "2.50", "-1.5e-3", "123456789012345678901234567890.123456789"};
	(void)state;

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "{'attr':'x','op':'eq','value':%s}", kept[i]);
		struct seg_rule *r = ok(text);
		assert_string_equal(r->root->values[0].text, kept[i]);
		assert_int_equal(r->root->values[0].len, strlen(kept[i]));
		seg_rule_free(r);
	}
	/* inside arrays and with whitespace around */
	struct seg_rule *r = ok("{ 'attr' : 'x' , 'op' : 'in' , 'value' : [ 0.10 ,\n1e-2 , 7 ] }");
	assert_string_equal(r->root->values[0].text, "0.10");
	assert_string_equal(r->root->values[1].text, "1e-2");
	assert_string_equal(r->root->values[2].text, "7");
	seg_rule_free(r);
	/* a huge integer (beyond 64 bits) is kept exactly */
	r = ok("{'metric':'revenue','op':'gt','value':99999999999999999999999999}");
	assert_string_equal(r->root->values[0].text, "99999999999999999999999999");
	seg_rule_free(r);
	/* the bounds on numbers */
	bad("{'attr':'x','op':'eq','value':1e-999}", "/rule/value",
	    "=the number 1e-999 has 1000 digits when written out; at most 300 are stored");
	bad("{'attr':'x','op':'between','value':[1, 1e301]}", "/rule/value/1", "has 302 digits");
	bad("{'attr':'x','op':'in','value':[1, 2, 0.5e-16384]}", "/rule/value/2", "digits");
	valid("{'attr':'x','op':'eq','value':1e299}");
	valid("{'attr':'x','op':'eq','value':0e-299}");
	bad("{'attr':'x','op':'eq','value':0e-999999}", "/rule/value", "has 1000000 digits");
	bad("{'attr':'x','op':'eq','value':0e1073741823}", "/rule/value",
	    "=the number 0e1073741823 is out of range; at most 300 digits are stored");
}

static void test_strings(void **state)
{
	struct seg_rule *r;
	struct seg_problem p;
	(void)state;

	r = ok("{'attr':'city','op':'eq','value':'K\u00f6ln \\u00e9\\ud83d\\ude00 \\\\ \\' \\n'}");
	assert_string_equal(r->root->values[0].text, "K\u00f6ln \u00e9\U0001F600 \\ \" \n");
	assert_int_equal(r->root->values[0].len, strlen("K\u00f6ln \u00e9\U0001F600 \\ \" \n"));
	seg_rule_free(r);
	r = ok("{'attr':'\\u00e9t\\u00e9','op':'starts_with','value':'\u65e5\u672c'}");
	assert_string_equal(r->root->name, "\u00e9t\u00e9");
	assert_string_equal(r->root->values[0].text, "\u65e5\u672c");
	seg_rule_free(r);
	/* escaped keys are keys */
	r = ok("{'\\u0061ttr':'a','\\u006fp':'eq','v\\u0061lue':2.50}");
	assert_string_equal(r->root->values[0].text, "2.50");
	seg_rule_free(r);

	/* NUL: PostgreSQL text cannot hold it */
	bad("{'attr':'x','op':'eq','value':'a\\u0000b'}", "/rule/value",
	    "=a string may not hold a NUL character (\\u0000)");
	bad("{'attr':'x','op':'in','value':['a','\\u0000']}", "/rule/value/1", "NUL");
	bad("{'attr':'x\\u0000','op':'exists'}", "/rule/attr", "NUL");
	bad("{'attr':'x','op':'eq\\u0000','value':1}", "/rule/op", "=unknown operator \"eq\"");
	bad("{'event':'a\\u0000','op':'exists'}", "/rule/event", "event type");
	/* jansson refuses a NUL in a key */
	bad("{'attr':'x','op':'exists','\\u0000':1}", "/rule", "not valid JSON");
	bad("{'segment':'1\\u0000'}", "/rule/segment", "expected a segment id");
	/* invalid UTF-8 is not JSON */
	seg_problem_init(&p);
	{
		const char *t = "{\"attr\":\"\xff\",\"op\":\"exists\"}";
		assert_null(parse_json(t, strlen(t), false, &p));
	}
	assert_string_equal(p.items[0].pointer, "/rule");
	seg_problem_release(&p);
	/* long strings are quoted short in details, cut at a character */
	char text[400];
	snprintf(text, sizeof(text), "{'attr':'x','op':'%s'}",
		 "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
		 "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9");
	bad(text, "/rule/op",
	    "=unknown operator \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
	    "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9...\"");
}

/* ----- the catalogue ------------------------------------------------------------------------ */

static void test_catalog(void **state)
{
	struct seg_rule *r;
	(void)state;

	/* number and integer */
	r = ok("{'attr':'age','op':'gte','value':30}");
	assert_int_equal(r->root->attr_type, SEG_ATTR_NUMBER);
	seg_rule_free(r);
	valid("{'attr':'score','op':'between','value':[1, 2.5]}");
	valid("{'attr':'score','op':'in','value':[1, 2]}");
	valid("{'attr':'age','op':'not_exists'}");
	bad("{'attr':'age','op':'gt','value':'30'}", "/rule/value",
	    "=expected a number to compare with attribute \"age\", a number");
	bad("{'attr':'age','op':'eq','value':true}", "/rule/value", "expected a number");
	bad("{'attr':'age','op':'in','value':['1','2']}", "/rule/value/0", "expected a number");
	bad("{'attr':'score','op':'between','value':['a','b']}", "/rule/value/0",
	    "expected a number");
	bad("{'attr':'age','op':'contains','value':'3'}", "/rule/op",
	    "=operator \"contains\" cannot be used with attribute \"age\", a number");
	bad("{'attr':'age','op':'starts_with','value':'3'}", "/rule/op", "cannot be used");
	bad("{'attr':'score','op':'before','value':'-3d'}", "/rule/op", "cannot be used");
	bad("{'attr':'age','op':'within_last','value':'3d'}", "/rule/op", "cannot be used");
	/* string */
	valid("{'attr':'name','op':'contains','value':'an'}");
	valid("{'attr':'name','op':'lt','value':'m'}");
	valid("{'attr':'address.city','op':'in','value':['Berlin','K\u00f6ln']}");
	bad("{'attr':'name','op':'eq','value':1}", "/rule/value",
	    "=expected a string to compare with attribute \"name\", a string");
	bad("{'attr':'address.city','op':'gt','value':5}", "/rule/value", "expected a string");
	bad("{'attr':'name','op':'before','value':'2026-01-01'}", "/rule/op",
	    "=operator \"before\" cannot be used with attribute \"name\", a string");
	bad("{'attr':'name','op':'older_than','value':'2d'}", "/rule/op", "a string");
	/* boolean */
	valid("{'attr':'vip','op':'eq','value':true}");
	valid("{'attr':'vip','op':'not_in','value':[false]}");
	bad("{'attr':'vip','op':'eq','value':'true'}", "/rule/value",
	    "=expected a boolean to compare with attribute \"vip\", a boolean");
	bad("{'attr':'vip','op':'gt','value':0}", "/rule/op", "a boolean");
	bad("{'attr':'vip','op':'contains','value':'t'}", "/rule/op", "a boolean");
	/* date and timestamp: values are instants */
	r = ok("{'attr':'signup','op':'gte','value':'2026-03-01'}");
	assert_int_equal(r->root->attr_type, SEG_ATTR_DATE);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	assert_string_equal(r->root->values[0].text, "2026-03-01T00:00:00Z");
	seg_rule_free(r);
	r = ok("{'attr':'seen','op':'in','value':['2026-03-01T12:00:00-02:00','2026-03-02']}");
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	assert_string_equal(r->root->values[0].text, "2026-03-01T14:00:00Z");
	assert_string_equal(r->root->values[1].text, "2026-03-02T00:00:00Z");
	seg_rule_free(r);
	valid("{'attr':'seen','op':'within_last','value':'2d'}");
	valid("{'attr':'signup','op':'after','value':'-1w'}");
	valid("{'attr':'signup','op':'exists'}");
	bad("{'attr':'signup','op':'eq','value':'March'}", "/rule/value",
	    "=expected an RFC 3339 timestamp or a date to compare with attribute \"signup\", a "
	    "timestamp");
	bad("{'attr':'seen','op':'gt','value':20260101}", "/rule/value", "RFC 3339");
	bad("{'attr':'seen','op':'between','value':['2026-01-01','soon']}", "/rule/value/1",
	    "RFC 3339");
	bad("{'attr':'seen','op':'starts_with','value':'2026'}", "/rule/op",
	    "=operator \"starts_with\" cannot be used with attribute \"seen\", a timestamp");
	bad("{'attr':'signup','op':'eq','value':true}", "/rule/value", "RFC 3339");
	/* string_list */
	valid("{'attr':'tags','op':'contains','value':'vip'}");
	valid("{'attr':'tags','op':'exists'}");
	bad("{'attr':'tags','op':'eq','value':'vip'}", "/rule/op",
	    "=operator \"eq\" cannot be used with attribute \"tags\", a string list");
	bad("{'attr':'tags','op':'in','value':['vip']}", "/rule/op", "a string list");
	bad("{'attr':'tags','op':'contains','value':1}", "/rule/value", "expected a string");
	/* a nested path of an unregistered parent is unregistered */
	r = ok("{'attr':'address.zip','op':'gt','value':1}");
	assert_int_equal(r->root->attr_type, SEG_ATTR__COUNT);
	seg_rule_free(r);
	r = ok("{'attr':'address.city','op':'exists'}");
	assert_int_equal(r->root->attr_type, SEG_ATTR_STRING);
	seg_rule_free(r);
	/* without a catalogue every attribute is unregistered */
	struct seg_problem p;
	struct seg_rule_env env = {NULL, NULL, NULL, false};
	const char *t = "{\"attr\":\"age\",\"op\":\"contains\",\"value\":\"3\"}";
	seg_problem_init(&p);
	r = seg_rule_parse(t, strlen(t), &env, "", &p);
	assert_non_null(r);
	assert_int_equal(r->root->attr_type, SEG_ATTR__COUNT);
	seg_rule_free(r);
	r = seg_rule_parse(t, strlen(t), NULL, "", &p);
	assert_non_null(r);
	seg_rule_free(r);
	assert_int_equal(p.count, 0);
	seg_problem_release(&p);
}

static void test_stored(void **state)
{
	struct seg_rule *r;
	(void)state;

	/* conflicts with the catalogue are leaves that are false */
	r = ok_mode("{'all':[{'attr':'age','op':'gt','value':'30'},{'attr':'age','op':'gt',"
		    "'value':30},{'not':{'attr':'tags','op':'eq','value':'x'}}]}",
		    true);
	assert_true(r->root->children[0]->conflict);
	assert_int_equal(r->root->children[0]->values[0].type, SEG_RULE_V_STRING);
	assert_false(r->root->children[1]->conflict);
	assert_true(r->root->children[2]->children[0]->conflict);
	assert_string_equal(r->root->children[2]->children[0]->values[0].text, "x");
	seg_rule_free(r);
	r = ok_mode("{'attr':'seen','op':'lt','value':'soon'}", true);
	assert_true(r->root->conflict);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_STRING);
	seg_rule_free(r);
	/* one bad value of several: none is converted, so the values keep one type */
	r = ok_mode("{'attr':'seen','op':'between','value':['2026-01-01','soon']}", true);
	assert_true(r->root->conflict);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_STRING);
	assert_string_equal(r->root->values[0].text, "2026-01-01");
	assert_int_equal(r->root->values[1].type, SEG_RULE_V_STRING);
	seg_rule_free(r);
	r = ok_mode("{'attr':'name','op':'before','value':'-2d'}", true);
	assert_true(r->root->conflict);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_OFFSET);
	assert_true(r->deps & SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);
	r = ok_mode("{'attr':'seen','op':'lt','value':'2026-01-01'}", true);
	assert_false(r->root->conflict);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	seg_rule_free(r);
	/* a segment deleted since */
	r = ok_mode("{'segment':'77'}", true);
	assert_int_equal(r->root->segment, 77);
	assert_int_equal(r->nsegments, 1);
	seg_rule_free(r);
	/* everything else is as strict */
	bad_mode("{'attr':'age','op':'gt','value':true}", true, "/rule/value",
		 "expected a number or a string");
	bad_mode("{'attr':'age','op':'contains','value':1}", true, "/rule/value",
		 "expected a string");
	bad_mode("{'metric':'orders','op':'contains','value':'1'}", true, "/rule/op",
		 "cannot be used");
	bad_mode("{'field':'created_at','op':'eq','value':'x'}", true, "/rule/value", "RFC 3339");
	bad_mode("{'metric':'nope','op':'exists'}", true, "/rule/metric", "unknown metric");
	bad_mode("{'segment':'x'}", true, "/rule/segment", "expected a segment id");
	bad_mode("{'attr':'age','op':'gt','value':1,'x':1}", true, "/rule/x", "unknown key");
}

/* ----- fields, metrics, events -------------------------------------------------------------- */

static void test_fields_metrics(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'field':'kind','op':'in','value':['person','company']}");
	assert_int_equal(r->root->kind, SEG_RULE_FIELD);
	assert_string_equal(r->root->name, "kind");
	assert_int_equal(r->root->subject, SEG_RULE_S_STRING);
	assert_int_equal(r->deps, SEG_RULE_DEP_ATTRS);
	seg_rule_free(r);
	valid("{'field':'id','op':'starts_with','value':'hubspot-'}");
	r = ok("{'field':'created_at','op':'lt','value':'2026-01-01T00:00:00+01:00'}");
	assert_int_equal(r->root->subject, SEG_RULE_S_TIMESTAMP);
	assert_int_equal(r->root->values[0].type, SEG_RULE_V_INSTANT);
	assert_string_equal(r->root->values[0].text, "2025-12-31T23:00:00Z");
	seg_rule_free(r);
	valid("{'field':'updated_at','op':'within_last','value':'24h'}");
	bad("{'field':'email','op':'exists'}", "/rule/field",
	    "=unknown field \"email\" (known: id, kind, created_at, updated_at)");
	bad("{'field':null,'op':'exists'}", "/rule/field", "expected a field name (a string)");
	bad("{'field':'kind','op':'eq','value':1}", "/rule/value",
	    "=expected a string to compare with field \"kind\", a string");
	bad("{'field':'kind','op':'after','value':'-1d'}", "/rule/op",
	    "=operator \"after\" cannot be used with field \"kind\", a string");
	bad("{'field':'created_at','op':'contains','value':'2026'}", "/rule/op", "a timestamp");

	const char *numbers[] = {"orders", "revenue",	   "avg_order_value",
				 "events", "recency_days", "tenure_days"};
	for (size_t i = 0; i < 6; i++) {
		char text[128];
		snprintf(text, sizeof(text), "{'metric':'%s','op':'gte','value':2.5}", numbers[i]);
		r = ok(text);
		assert_int_equal(r->root->kind, SEG_RULE_METRIC);
		assert_string_equal(r->root->name, numbers[i]);
		assert_int_equal(r->root->subject, SEG_RULE_S_NUMBER);
		bool clock = i >= 4;
		assert_int_equal(r->deps, SEG_RULE_DEP_METRICS | (clock ? SEG_RULE_DEP_CLOCK : 0));
		seg_rule_free(r);
	}
	const char *stamps[] = {"first_purchase_at", "last_purchase_at", "last_event_at"};
	for (size_t i = 0; i < 3; i++) {
		char text[128];
		snprintf(text, sizeof(text), "{'metric':'%s','op':'after','value':'2026-01-01'}",
			 stamps[i]);
		r = ok(text);
		assert_int_equal(r->root->subject, SEG_RULE_S_TIMESTAMP);
		assert_int_equal(r->deps, SEG_RULE_DEP_METRICS);
		seg_rule_free(r);
	}
	bad("{'metric':'revenu','op':'gt','value':1}", "/rule/metric",
	    "=unknown metric \"revenu\" (known: orders, revenue, avg_order_value, events, "
	    "recency_days, tenure_days, first_purchase_at, last_purchase_at, last_event_at, "
	    "rfm_r, rfm_f, rfm_m, rfm_score, rfm_segment, abc_class, frequency_class, clv, "
	    "p_alive, predicted_orders, factor_1 ... factor_100)");

	/* the analysis metrics: typed, and a dependency of their own (never events') */
	const char *scores_num[] = {"rfm_r",	"rfm_f",     "rfm_m",
				    "clv",	"p_alive",   "predicted_orders",
				    "factor_1", "factor_100"};
	for (size_t i = 0; i < 8; i++) {
		char text[128];
		int factor = -1;
		snprintf(text, sizeof(text), "{'metric':'%s','op':'gte','value':2}", scores_num[i]);
		r = ok(text);
		assert_string_equal(r->root->name, scores_num[i]);
		assert_int_equal(r->root->subject, SEG_RULE_S_NUMBER);
		assert_int_equal(r->deps, SEG_RULE_DEP_SCORES);
		assert_true(seg_rule_metric_score(scores_num[i], &factor));
		assert_int_equal(factor, i == 6 ? 1 : i == 7 ? 100 : 0);
		seg_rule_free(r);
	}
	const char *scores_str[] = {"rfm_score", "rfm_segment", "abc_class", "frequency_class"};
	for (size_t i = 0; i < 4; i++) {
		char text[128];
		snprintf(text, sizeof(text), "{'metric':'%s','op':'in','value':['A','B']}",
			 scores_str[i]);
		r = ok(text);
		assert_int_equal(r->root->subject, SEG_RULE_S_STRING);
		assert_int_equal(r->deps, SEG_RULE_DEP_SCORES);
		seg_rule_free(r);
	}
	r = ok("{'all':[{'metric':'abc_class','op':'eq','value':'A'},"
	       "{'metric':'orders','op':'gt','value':1}]}");
	assert_int_equal(r->deps, SEG_RULE_DEP_SCORES | SEG_RULE_DEP_METRICS);
	seg_rule_free(r);
	assert_false(seg_rule_metric_score("orders", NULL));
	assert_false(seg_rule_metric_score("factor_0", NULL));
	assert_false(seg_rule_metric_score("factor_01", NULL));
	assert_false(seg_rule_metric_score("factor_101", NULL));
	assert_false(seg_rule_metric_score("factor_", NULL));
	assert_false(seg_rule_metric_score("factor_1x", NULL));
	bad("{'metric':'factor_0','op':'gt','value':1}", "/rule/metric", "unknown metric");
	bad("{'metric':'factor_101','op':'gt','value':1}", "/rule/metric", "unknown metric");
	bad("{'metric':'abc_class','op':'gt','value':1}", "/rule/value",
	    "=expected a string to compare with metric \"abc_class\", a string");
	bad("{'metric':'rfm_r','op':'eq','value':'5'}", "/rule/value", "a number");
	bad("{'metric':'revenue','op':'gt','value':'1000'}", "/rule/value",
	    "=expected a number to compare with metric \"revenue\", a number");
	bad("{'metric':'orders','op':'contains','value':'1'}", "/rule/op",
	    "=operator \"contains\" cannot be used with metric \"orders\", a number");
	bad("{'metric':'last_event_at','op':'gt','value':5}", "/rule/value", "RFC 3339");
	valid("{'metric':'recency_days','op':'not_exists'}");
}

static void test_events(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'event':'purchase','within_days':90,'where':[{'prop':'channel','op':'eq',"
	       "'value':'web'},{'prop':'amount','op':'gt','value':10}],'agg':'count','op':'gte',"
	       "'value':3}");
	const struct seg_rule_node *n = r->root;
	assert_int_equal(n->kind, SEG_RULE_EVENT);
	assert_string_equal(n->name, "purchase");
	assert_int_equal(n->within_days, 90);
	assert_int_equal(n->agg, SEG_RULE_AGG_COUNT);
	assert_null(n->prop);
	assert_int_equal(n->nchildren, 2);
	assert_int_equal(n->children[0]->kind, SEG_RULE_PROP);
	assert_string_equal(n->children[0]->name, "channel");
	assert_string_equal(n->children[0]->pointer, "/where/0");
	assert_int_equal(n->children[1]->subject, SEG_RULE_S_NUMBER);
	assert_int_equal(n->op, SEG_RULE_OP_GTE);
	assert_string_equal(n->values[0].text, "3");
	assert_int_equal(r->leaves, 3);
	assert_int_equal(r->deps, SEG_RULE_DEP_EVENTS | SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);

	/* defaults: count, no window, at least one */
	r = ok("{'event':'login'}");
	assert_int_equal(r->root->agg, SEG_RULE_AGG_COUNT);
	assert_int_equal(r->root->within_days, 0);
	assert_int_equal(r->root->op, SEG_RULE_OP_GTE);
	assert_int_equal(r->root->nvalues, 1);
	assert_string_equal(r->root->values[0].text, "1");
	assert_int_equal(r->deps, SEG_RULE_DEP_EVENTS);
	seg_rule_free(r);
	/* sum/avg/min/max over amount by default, or over prop */
	const char *aggs[] = {"sum", "avg", "min", "max"};
	for (size_t i = 0; i < 4; i++) {
		char text[200];
		snprintf(text, sizeof(text), "{'event':'purchase','agg':'%s','op':'lt','value':5}",
			 aggs[i]);
		r = ok(text);
		assert_int_equal(r->root->agg, SEG_RULE_AGG_SUM + (int)i);
		assert_string_equal(r->root->prop, "amount");
		seg_rule_free(r);
		snprintf(text, sizeof(text),
			 "{'event':'purchase','agg':'%s','prop':'items','op':'between','value':[1,"
			 "2]}",
			 aggs[i]);
		r = ok(text);
		assert_string_equal(r->root->prop, "items");
		seg_rule_free(r);
	}
	valid("{'event':'purchase','where':[],'op':'eq','value':0}");
	valid("{'event':'purchase','agg':'count','op':'in','value':[0,1]}");
	valid("{'event':'view','where':[{'prop':'seen','op':'within_last','value':'1d'},{'prop':"
	      "'tags','op':'contains','value':'x'},{'prop':'a.b','op':'exists'}]}");
	r = ok("{'event':'view','where':[{'prop':'at','op':'before','value':'-1d'}]}");
	assert_int_equal(r->deps, SEG_RULE_DEP_EVENTS | SEG_RULE_DEP_CLOCK);
	seg_rule_free(r);

	bad("{'event':'login','prop':'x'}", "/rule/prop",
	    "=\"prop\" cannot be used with agg \"count\" (it counts events)");
	bad("{'event':'login','agg':'count','prop':'amount','op':'gt','value':1}", "/rule/prop",
	    "cannot be used with agg");
	bad("{'event':'login','agg':'median','op':'gt','value':1}", "/rule/agg",
	    "=unknown aggregate \"median\" (count, sum, avg, min or max)");
	bad("{'event':'login','agg':1}", "/rule/agg", "got a number");
	bad("{'event':'login','agg':'sum','prop':'','op':'gt','value':1}", "/rule/prop",
	    "empty string");
	bad("{'event':'','op':'gt','value':1}", "/rule/event",
	    "=expected an event type (1 to 64 bytes of printable UTF-8)");
	bad("{'event':7}", "/rule/event", "event type");
	bad("{'event':'a\\tb'}", "/rule/event", "event type");
	valid("{'event':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}");
	bad("{'event':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}",
	    "/rule/event", "event type");
	bad("{'event':'x','within_days':0}", "/rule/within_days",
	    "=expected a whole number of days from 1 to 365250");
	bad("{'event':'x','within_days':-3}", "/rule/within_days", "whole number");
	bad("{'event':'x','within_days':1.5}", "/rule/within_days", "whole number");
	bad("{'event':'x','within_days':9e1}", "/rule/within_days", "whole number");
	bad("{'event':'x','within_days':'90'}", "/rule/within_days", "whole number");
	bad("{'event':'x','within_days':365251}", "/rule/within_days", "whole number");
	bad("{'event':'x','within_days':99999999999999999999}", "/rule/within_days", "whole");
	r = ok("{'event':'x','within_days':365250}");
	assert_int_equal(r->root->within_days, 365250);
	seg_rule_free(r);
	/* the aggregate is a number */
	bad("{'event':'x','op':'exists'}", "/rule/op",
	    "=operator \"exists\" cannot compare an event aggregate (a number)");
	bad("{'event':'x','op':'contains','value':'a'}", "/rule/op", "event aggregate");
	bad("{'event':'x','op':'within_last','value':'1d'}", "/rule/op", "event aggregate");
	bad("{'event':'x','op':'gt','value':'3'}", "/rule/value",
	    "=expected a number to compare with an event aggregate, a number");
	bad("{'event':'x','op':'gt'}", "/rule/value", "missing \"value\"");
	bad("{'event':'x','value':3}", "/rule/op", "=missing \"op\"");
	bad("{'event':'x','agg':'sum'}", "/rule/op", "=missing \"op\"");
	/* where filters */
	bad("{'event':'x','where':{}}", "/rule/where",
	    "=expected an array of filters, got an object");
	bad("{'event':'x','where':[1]}", "/rule/where/0",
	    "=expected a filter such as {\"prop\": \"channel\", \"op\": \"eq\", \"value\": "
	    "\"web\"}, got a number");
	bad("{'event':'x','where':[{'attr':'a','op':'exists'}]}", "/rule/where/0/attr",
	    "=unknown key \"attr\" in a where filter");
	bad("{'event':'x','where':[{'prop':'a','op':'exists'},{'prop':'a','op':'eq'}]}",
	    "/rule/where/1/value", "missing");
	bad("{'event':'x','where':[{'op':'exists'}]}", "/rule/where/0/prop", "=missing \"prop\"");
	bad("{'event':'x','where':[{'prop':'amount','op':'contains','value':'1'}]}",
	    "/rule/where/0/op",
	    "=operator \"contains\" cannot be used with property \"amount\", a number");
	bad("{'event':'x','where':[{'prop':'amount','op':'eq','value':'1'}]}",
	    "/rule/where/0/value", "expected a number");
	bad("{'all':[{'event':'x','where':[{'prop':'p','op':'in','value':[1,'a']}]}]}",
	    "/rule/all/0/where/0/value/1", "one type");
}

/* ----- segments, deps, cycles --------------------------------------------------------------- */

static void test_segments(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'any':[{'segment':'42'},{'not':{'segment':'3'}},{'all':[{'segment':'42'},{"
	       "'segment':'1'}]}]}");
	assert_int_equal(r->nsegments, 3);
	assert_int_equal(r->segments[0], 1);
	assert_int_equal(r->segments[1], 3);
	assert_int_equal(r->segments[2], 42);
	assert_int_equal(r->deps, SEG_RULE_DEP_SEGMENTS);
	assert_int_equal(r->leaves, 4);
	const struct seg_rule_node *n = seg_rule_find_segment(r, 42);
	assert_non_null(n);
	assert_int_equal(n->kind, SEG_RULE_SEGMENT);
	assert_string_equal(n->pointer, "/any/0");
	n = seg_rule_find_segment(r, 1);
	assert_string_equal(n->pointer, "/any/2/all/1");
	n = seg_rule_find_segment(r, 3);
	assert_string_equal(n->pointer, "/any/1/not");
	assert_null(seg_rule_find_segment(r, 2));
	assert_null(seg_rule_find_segment(NULL, 2));
	seg_rule_free(r);

	r = ok("{'attr':'a','op':'exists'}");
	assert_int_equal(r->nsegments, 0);
	assert_null(r->segments);
	assert_null(seg_rule_find_segment(r, 1));
	seg_rule_free(r);

	bad("{'segment':'5'}", "/rule/segment", "=unknown segment \"5\"");
	bad("{'all':[{'segment':'1'},{'segment':'6'}]}", "/rule/all/1/segment", "unknown segment");
	bad("{'segment':42}", "/rule/segment", "=expected a segment id (a string), got a number");
	bad("{'segment':'0'}", "/rule/segment", "=expected a segment id, got \"0\"");
	bad("{'segment':'042'}", "/rule/segment", "expected a segment id");
	bad("{'segment':'-1'}", "/rule/segment", "expected a segment id");
	bad("{'segment':'1a'}", "/rule/segment", "expected a segment id");
	bad("{'segment':''}", "/rule/segment", "expected a segment id");
	bad("{'segment':'9223372036854775808'}", "/rule/segment", "expected a segment id");
	/* the largest id is an id (unknown here) */
	bad("{'segment':'9223372036854775807'}", "/rule/segment", "unknown segment");
	/* with no callback every id is accepted */
	struct seg_problem p;
	struct seg_rule_env env = {NULL, NULL, NULL, false};
	seg_problem_init(&p);
	r = seg_rule_parse("{\"segment\":\"9223372036854775807\"}", 33, &env, "", &p);
	assert_non_null(r);
	assert_int_equal(r->segments[0], INT64_MAX);
	seg_rule_free(r);
	seg_problem_release(&p);
}

static void test_deps(void **state)
{
	struct seg_rule *r;
	(void)state;

	r = ok("{'all':[{'attr':'a','op':'exists'},{'field':'id','op':'exists'}]}");
	assert_int_equal(r->deps, SEG_RULE_DEP_ATTRS);
	seg_rule_free(r);
	r = ok("{'all':[{'attr':'a','op':'exists'},{'metric':'orders','op':'gt','value':1},{'event'"
	       ":"
	       "'e'},{'segment':'2'}]}");
	assert_int_equal(r->deps, SEG_RULE_DEP_ATTRS | SEG_RULE_DEP_METRICS | SEG_RULE_DEP_EVENTS |
					  SEG_RULE_DEP_SEGMENTS);
	seg_rule_free(r);
	/* the clock: a window, within_last/older_than, offsets, recency and tenure */
	const char *clock[] = {
		"{'event':'e','within_days':1}",
		"{'attr':'a','op':'within_last','value':'1h'}",
		"{'not':{'field':'created_at','op':'older_than','value':'1w'}}",
		"{'attr':'a','op':'before','value':'+0d'}",
		"{'metric':'last_event_at','op':'after','value':'-3d'}",
		"{'metric':'recency_days','op':'lt','value':30}",
		"{'any':[{'metric':'tenure_days','op':'exists'}]}",
		"{'event':'e','where':[{'prop':'x','op':'older_than','value':'2d'}]}",
	};
	for (size_t i = 0; i < sizeof(clock) / sizeof(clock[0]); i++) {
		r = ok(clock[i]);
		assert_true(r->deps & SEG_RULE_DEP_CLOCK);
		seg_rule_free(r);
	}
	const char *no_clock[] = {
		"{'event':'e'}",
		"{'attr':'a','op':'before','value':'2026-01-01'}",
		"{'metric':'last_event_at','op':'after','value':'2026-01-01T00:00:00Z'}",
		"{'field':'created_at','op':'gt','value':'2026-01-01'}",
		"{'metric':'revenue','op':'gt','value':0}",
	};
	for (size_t i = 0; i < sizeof(no_clock) / sizeof(no_clock[0]); i++) {
		r = ok(no_clock[i]);
		assert_false(r->deps & SEG_RULE_DEP_CLOCK);
		seg_rule_free(r);
	}
}

static void test_cycles(void **state)
{
	struct seg_rule *r;
	(void)state;

	/* self-reference: no graph needed */
	r = ok("{'any':[{'segment':'1'},{'segment':'3'}]}");
	assert_int_equal(seg_rule_cycle(r, 3, NULL, 0), 3);
	assert_int_equal(seg_rule_cycle(r, 2, NULL, 0), 0);
	/* a new segment closes no cycle */
	assert_int_equal(seg_rule_cycle(r, 0, NULL, 0), 0);
	seg_rule_free(r);

	/* a → b → a: saving a with a reference to b */
	{
		const int64_t b_refs[] = {1};
		const struct seg_rule_graph_entry g[] = {{1, NULL, 0}, {2, b_refs, 1}};
		r = ok("{'segment':'2'}");
		assert_int_equal(seg_rule_cycle(r, 1, g, 2), 2);
		/* as another segment (3) there is no cycle */
		assert_int_equal(seg_rule_cycle(r, 3, g, 2), 0);
		seg_rule_free(r);
	}
	/* a → b → c → a, and the first reference that leads back, in ascending order */
	{
		const int64_t r2[] = {3}, r3[] = {1}, r42[] = {2};
		const int64_t old1[] = {2}; /* self's old rule: not followed */
		const struct seg_rule_graph_entry g[] = {
			{42, r42, 1}, {3, r3, 1}, {1, old1, 1}, {2, r2, 1}};
		r = ok("{'all':[{'segment':'42'},{'segment':'2'}]}");
		assert_int_equal(seg_rule_cycle(r, 1, g, 4), 2);
		seg_rule_free(r);
		r = ok("{'segment':'42'}");
		assert_int_equal(seg_rule_cycle(r, 1, g, 4), 42);
		assert_int_equal(seg_rule_cycle(r, 3, g, 4), 42); /* 42 → 2 → 3 */
		assert_int_equal(seg_rule_cycle(r, 5, g, 4), 0);
		seg_rule_free(r);
	}
	/* a diamond and an existing cycle among others terminate */
	{
		const int64_t r1[] = {2, 3}, r2[] = {3}, r3[] = {2, 1};
		const struct seg_rule_graph_entry g[] = {{1, r1, 2}, {2, r2, 1}, {3, r3, 2}};
		r = ok("{'segment':'1'}");
		assert_int_equal(seg_rule_cycle(r, 42, g, 3), 0);
		seg_rule_free(r);
	}
	/* a long chain: 1000 → 999 → ... → 1 → self */
	{
		enum { N = 1000 };
		struct seg_rule_graph_entry *g = calloc(N, sizeof(*g));
		int64_t *refs = calloc(N, sizeof(*refs));
		for (int i = 0; i < N; i++) {
			g[i].id = i + 1;
			refs[i] = i == 0 ? 5000 : i;
			g[i].refs = &refs[i];
			g[i].nrefs = 1;
		}
		struct seg_problem p;
		struct seg_rule_env env = {NULL, NULL, NULL, false};
		seg_problem_init(&p);
		r = seg_rule_parse("{\"segment\":\"1000\"}", 18, &env, "", &p);
		assert_non_null(r);
		assert_int_equal(seg_rule_cycle(r, 5000, g, N), 1000);
		assert_int_equal(seg_rule_cycle(r, 5001, g, N), 0);
		seg_rule_free(r);
		seg_problem_release(&p);
		free(refs);
		free(g);
	}
	assert_int_equal(seg_rule_cycle(NULL, 1, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ops_valid),      cmocka_unit_test(test_ops_invalid),
		cmocka_unit_test(test_structure),      cmocka_unit_test(test_limits),
		cmocka_unit_test(test_numbers),	       cmocka_unit_test(test_strings),
		cmocka_unit_test(test_catalog),	       cmocka_unit_test(test_stored),
		cmocka_unit_test(test_fields_metrics), cmocka_unit_test(test_events),
		cmocka_unit_test(test_segments),       cmocka_unit_test(test_deps),
		cmocka_unit_test(test_cycles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
