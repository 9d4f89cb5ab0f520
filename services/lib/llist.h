/*
 * llist: intrusive doubly linked lists, the one list code of the
 * project (the shape of Dovecot's llist.h and BSD <sys/queue.h>'s TAILQ,
 * written for us).
 *
 * An element embeds its links as a named field, so it can sit in
 * several lists at once (one field each); a list head knows its first
 * and last element and how many there are:
 *
 *   struct conn {
 *           LLIST_LINK(conn) link;   // in server.conns
 *           ...
 *   };
 *   struct server {
 *           LLIST_HEAD(, conn) conns; // anonymous head type
 *   };
 *   LLIST_INIT(&srv->conns);         // or zeroed memory (xcalloc)
 *   LLIST_APPEND(&srv->conns, c, link);
 *   LLIST_FOREACH_SAFE(c, &srv->conns, link, next) conn_free(c);
 *
 * Appending, prepending and removing are O(1); removing sets the
 * element's links to NULL. An element must be in the list it is removed
 * from (the macros cannot tell; keep a flag where that is in doubt).
 * Arguments are evaluated more than once: pass plain variables, never
 * an expression with side effects, nor LLIST_FIRST(head) to a remove
 * (it changes under the macro: LLIST_POP does that right).
 */
#ifndef CM_LLIST_H
#define CM_LLIST_H

#include <stddef.h>

/* LLIST_HEAD: a list of struct type; name may be empty */
#define LLIST_HEAD(name, type)             \
	struct name {                      \
		struct type *first, *last; \
		size_t count;              \
	}

/* LLIST_LINK: an element's place in one list */
#define LLIST_LINK(type)                  \
	struct {                          \
		struct type *next, *prev; \
	}

#define LLIST_INIT(head)                             \
	do {                                         \
		(head)->first = (head)->last = NULL; \
		(head)->count = 0;                   \
	} while (0)

#define LLIST_FIRST(head) ((head)->first)
#define LLIST_LAST(head) ((head)->last)
#define LLIST_EMPTY(head) ((head)->first == NULL)
#define LLIST_COUNT(head) ((head)->count)
#define LLIST_NEXT(elm, field) ((elm)->field.next)
#define LLIST_PREV(elm, field) ((elm)->field.prev)

/* LLIST_APPEND: elm becomes the last element */
#define LLIST_APPEND(head, elm, field)                    \
	do {                                              \
		(elm)->field.next = NULL;                 \
		(elm)->field.prev = (head)->last;         \
		if ((head)->last != NULL)                 \
			(head)->last->field.next = (elm); \
		else                                      \
			(head)->first = (elm);            \
		(head)->last = (elm);                     \
		(head)->count++;                          \
	} while (0)

/* LLIST_PREPEND: elm becomes the first element */
#define LLIST_PREPEND(head, elm, field)                    \
	do {                                               \
		(elm)->field.prev = NULL;                  \
		(elm)->field.next = (head)->first;         \
		if ((head)->first != NULL)                 \
			(head)->first->field.prev = (elm); \
		else                                       \
			(head)->last = (elm);              \
		(head)->first = (elm);                     \
		(head)->count++;                           \
	} while (0)

/* LLIST_REMOVE: take elm out of the list; its links become NULL */
#define LLIST_REMOVE(head, elm, field)                                     \
	do {                                                               \
		if ((elm)->field.prev != NULL)                             \
			(elm)->field.prev->field.next = (elm)->field.next; \
		else                                                       \
			(head)->first = (elm)->field.next;                 \
		if ((elm)->field.next != NULL)                             \
			(elm)->field.next->field.prev = (elm)->field.prev; \
		else                                                       \
			(head)->last = (elm)->field.prev;                  \
		(elm)->field.next = (elm)->field.prev = NULL;              \
		(head)->count--;                                           \
	} while (0)

/* LLIST_POP: var becomes the first element, taken out of the list;
 * NULL when the list is empty */
#define LLIST_POP(head, var, field)                     \
	do {                                            \
		(var) = (head)->first;                  \
		if ((var) != NULL)                      \
			LLIST_REMOVE(head, var, field); \
	} while (0)

/* LLIST_FOREACH: var runs over the list; the body must not remove var */
#define LLIST_FOREACH(var, head, field) \
	for ((var) = (head)->first; (var) != NULL; (var) = (var)->field.next)

/* LLIST_FOREACH_SAFE: the body may remove (and free) var; tmp holds the
 * next element, so the body must not remove that one */
#define LLIST_FOREACH_SAFE(var, head, field, tmp) \
	for ((var) = (head)->first;               \
	     (var) != NULL && ((tmp) = (var)->field.next, 1); (var) = (tmp))

#endif
