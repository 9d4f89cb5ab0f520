/* test_llist: the intrusive list macros: order of appends and prepends,
 * removal at the front, middle, back and of the only element, an
 * element in two lists at once, removal while iterating, FIFO pops, and
 * a long random sequence of operations checked against an array model
 * (links walked both ways and the count after every step) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "testutil.h"

#include "llist.h"

struct node {
	int id;
	LLIST_LINK(node) all;  /* in every node's list */
	LLIST_LINK(node) even; /* only even ids */
};

LLIST_HEAD(nodes, node);

/* order: the ids from first to last as "1 2 3"; checks the links both
 * ways and the count on the way */
static void
order(const struct nodes *h, char *out, size_t outsize)
{
	const struct node *n, *prev = NULL;
	size_t len = 0, count = 0;

	out[0] = '\0';
	for (n = LLIST_FIRST(h); n != NULL; n = LLIST_NEXT(n, all)) {
		assert_ptr_equal(LLIST_PREV(n, all), prev);
		len += (size_t)snprintf(out + len, outsize - len, "%s%d",
					count > 0 ? " " : "", n->id);
		prev = n;
		count++;
	}
	assert_ptr_equal(LLIST_LAST(h), prev);
	assert_int(LLIST_COUNT(h), count);
	assert_int(LLIST_EMPTY(h), count == 0);
}

#define ASSERT_ORDER(h, want)                   \
	do {                                    \
		char buf_[256];                 \
		order((h), buf_, sizeof(buf_)); \
		assert_str(buf_, (want));       \
	} while (0)

static void
test_append_prepend_remove(void **state)
{
	struct node n[5];
	struct nodes h;
	struct node *p;

	(void)state;
	for (int i = 0; i < 5; i++)
		n[i].id = i;
	LLIST_INIT(&h);
	ASSERT_ORDER(&h, "");
	LLIST_APPEND(&h, &n[1], all);
	LLIST_APPEND(&h, &n[2], all);
	LLIST_PREPEND(&h, &n[0], all);
	LLIST_APPEND(&h, &n[3], all);
	ASSERT_ORDER(&h, "0 1 2 3");
	p = &n[2];
	LLIST_REMOVE(&h, p, all); /* middle */
	assert_null(p->all.next);
	assert_null(p->all.prev);
	ASSERT_ORDER(&h, "0 1 3");
	p = &n[0];
	LLIST_REMOVE(&h, p, all); /* first */
	ASSERT_ORDER(&h, "1 3");
	p = &n[3];
	LLIST_REMOVE(&h, p, all); /* last */
	ASSERT_ORDER(&h, "1");
	p = &n[1];
	LLIST_REMOVE(&h, p, all); /* the only one */
	ASSERT_ORDER(&h, "");
	assert_null(LLIST_FIRST(&h));
	assert_null(LLIST_LAST(&h));
	LLIST_PREPEND(&h, &n[4], all); /* into an empty list */
	ASSERT_ORDER(&h, "4");
}

/* two lists through two link fields do not disturb each other */
static void
test_two_lists(void **state)
{
	struct node n[6], *p, *tmp;
	struct nodes all;
	LLIST_HEAD(, node) even;
	int seen = 0;

	(void)state;
	LLIST_INIT(&all);
	LLIST_INIT(&even);
	for (int i = 0; i < 6; i++) {
		n[i].id = i;
		LLIST_APPEND(&all, &n[i], all);
		if (i % 2 == 0)
			LLIST_PREPEND(&even, &n[i], even);
	}
	LLIST_FOREACH(p, &even, even)
		seen = seen * 10 + p->id;
	assert_int(seen, 420);
	assert_int(LLIST_COUNT(&even), 3);
	/* leave the even list: every node stays in the other */
	LLIST_FOREACH_SAFE(p, &even, even, tmp)
		LLIST_REMOVE(&even, p, even);
	assert_true(LLIST_EMPTY(&even));
	ASSERT_ORDER(&all, "0 1 2 3 4 5");
}

/* the body of FOREACH_SAFE may remove and free the element */
static void
test_foreach_safe_free(void **state)
{
	struct nodes h;
	struct node *p, *tmp;

	(void)state;
	LLIST_INIT(&h);
	for (int i = 0; i < 8; i++) {
		p = calloc(1, sizeof(*p));
		assert_non_null(p);
		p->id = i;
		LLIST_APPEND(&h, p, all);
	}
	LLIST_FOREACH_SAFE(p, &h, all, tmp) {
		if (p->id % 3 == 0) {
			LLIST_REMOVE(&h, p, all);
			free(p);
		}
	}
	ASSERT_ORDER(&h, "1 2 4 5 7");
	LLIST_FOREACH_SAFE(p, &h, all, tmp) {
		LLIST_REMOVE(&h, p, all);
		free(p);
	}
	ASSERT_ORDER(&h, "");
}

/* POP takes from the front: appends come out in FIFO order */
static void
test_pop(void **state)
{
	struct node n[3], *p;
	struct nodes h = { NULL, NULL, 0 };

	(void)state;
	for (int i = 0; i < 3; i++) {
		n[i].id = i;
		LLIST_APPEND(&h, &n[i], all);
	}
	for (int i = 0; i < 3; i++) {
		LLIST_POP(&h, p, all);
		assert_ptr_equal(p, &n[i]);
		assert_null(p->all.next);
	}
	LLIST_POP(&h, p, all);
	assert_null(p);
	ASSERT_ORDER(&h, "");
}

/* random appends, prepends, removes and pops against an array model */
static void
test_random_model(void **state)
{
	enum { N = 64, STEPS = 20000 };
	struct node n[N], *p;
	struct nodes h;
	int model[N], len = 0, in[N] = { 0 };
	uint32_t x = 12345;

	(void)state;
	LLIST_INIT(&h);
	for (int i = 0; i < N; i++)
		n[i].id = i;
	for (int step = 0; step < STEPS; step++) {
		int op, id, j;

		x = x * 1103515245u + 12345u;
		op = (int)((x >> 16) % 4);
		id = (int)((x >> 8) % N);
		if (op == 0 && !in[id]) {
			LLIST_APPEND(&h, &n[id], all);
			model[len++] = id;
			in[id] = 1;
		} else if (op == 1 && !in[id]) {
			LLIST_PREPEND(&h, &n[id], all);
			memmove(model + 1, model, (size_t)len * sizeof(int));
			model[0] = id;
			len++;
			in[id] = 1;
		} else if (op == 2 && in[id]) {
			p = &n[id];
			LLIST_REMOVE(&h, p, all);
			for (j = 0; model[j] != id; j++)
				;
			memmove(model + j, model + j + 1,
				(size_t)(len - j - 1) * sizeof(int));
			len--;
			in[id] = 0;
		} else if (op == 3 && len > 0) {
			LLIST_POP(&h, p, all);
			assert_int(p->id, model[0]);
			memmove(model, model + 1,
				(size_t)(len - 1) * sizeof(int));
			len--;
			in[p->id] = 0;
		}
		p = LLIST_FIRST(&h);
		for (j = 0; j < len; j++, p = LLIST_NEXT(p, all))
			assert_int(p->id, model[j]);
		assert_null(p);
		p = LLIST_LAST(&h);
		for (j = len - 1; j >= 0; j--, p = LLIST_PREV(p, all))
			assert_int(p->id, model[j]);
		assert_null(p);
		assert_int(LLIST_COUNT(&h), len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_prepend_remove),
		cmocka_unit_test(test_two_lists),
		cmocka_unit_test(test_foreach_safe_free),
		cmocka_unit_test(test_pop),
		cmocka_unit_test(test_random_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
