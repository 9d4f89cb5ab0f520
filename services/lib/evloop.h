/*
 * evloop: the one event loop of a process (epoll), after Redis's ae.c.
 *
 * File descriptors get a callback for readiness; timers are embedded in
 * the caller's own structs (no allocation, nothing dangles) and kept in a
 * min-heap; signals arrive through a signalfd as ordinary events. Time is
 * milliseconds on a monotonic clock that tests can replace.
 *
 * Callbacks may add, modify and delete any fd or timer, including their
 * own: an fd deleted (or closed and reused) during a dispatch round gets
 * no stale events.
 */
#ifndef CM_EVLOOP_H
#define CM_EVLOOP_H

#include <stddef.h>
#include <stdint.h>

struct evloop;

enum {
	EV_READ = 1,  /* readable, or hung up / error (read to find out) */
	EV_WRITE = 2, /* writable */
};

typedef void evloop_io_fn(struct evloop *loop, int fd, unsigned events,
			  void *arg);
typedef void evloop_timer_fn(struct evloop *loop, void *arg);
typedef void evloop_signal_fn(struct evloop *loop, int signo, void *arg);
typedef uint64_t evloop_clock_fn(void);

/* a timer lives inside its owner's struct; evloop_timer_init it once */
struct evloop_timer {
	uint64_t when;	 /* absolute ms */
	size_t heap_idx; /* position in the heap, SIZE_MAX when stopped */
	evloop_timer_fn *fn;
	void *arg;
};

struct evloop *evloop_new(void);
/* evloop_free: closes the epoll and signal fds, not the caller's fds */
void evloop_free(struct evloop **loopp);

/* evloop_io_add: watch fd for events (EV_READ|EV_WRITE); 0 or -errno */
int evloop_io_add(struct evloop *loop, int fd, unsigned events,
		  evloop_io_fn *fn, void *arg);
/* evloop_io_mod: change the events watched; 0 or -errno */
int evloop_io_mod(struct evloop *loop, int fd, unsigned events);
/* evloop_io_del: stop watching fd (call before close); no-op if unknown */
void evloop_io_del(struct evloop *loop, int fd);
/* evloop_io_count: fds being watched */
size_t evloop_io_count(const struct evloop *loop);

void evloop_timer_init(struct evloop_timer *t, evloop_timer_fn *fn, void *arg);
/* evloop_timer_start: (re)arm t to fire once, delay_ms from now */
void evloop_timer_start(struct evloop *loop, struct evloop_timer *t,
			uint64_t delay_ms);
/* evloop_timer_stop: disarm; harmless when not armed */
void evloop_timer_stop(struct evloop *loop, struct evloop_timer *t);
int evloop_timer_active(const struct evloop_timer *t);

/* evloop_signal_add: block signo and deliver it as an event */
int evloop_signal_add(struct evloop *loop, int signo, evloop_signal_fn *fn,
		      void *arg);
/* evloop_stop_on_signals: SIGTERM and SIGINT log "signal N, stopping"
 * and end evloop_run (for programs with nothing to drain); 0 or -errno */
int evloop_stop_on_signals(struct evloop *loop);

/* evloop_now: the loop's clock in ms (cached per dispatch round) */
uint64_t evloop_now(struct evloop *loop);
/* evloop_set_clock: replace the monotonic clock (tests) */
void evloop_set_clock(struct evloop *loop, evloop_clock_fn *fn);

/* evloop_run_once: wait at most max_wait_ms (-1: until the next timer or
 * event) and dispatch what is ready; returns events + timers handled,
 * or -errno */
int evloop_run_once(struct evloop *loop, int max_wait_ms);
/* evloop_run: dispatch until evloop_stop(); 0, or -errno */
int evloop_run(struct evloop *loop);
void evloop_stop(struct evloop *loop);

#endif
