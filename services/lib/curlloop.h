/*
 * curlloop: a libcurl multi handle driven by the process's one evloop
 * (one event loop per process: docs/STYLE.md, Program shape), shared by
 * the operator's Kubernetes client and chatmail-metadata's push
 * notifier.
 *
 * curl's socket callback becomes evloop fds and its timer callback one
 * evloop timer; when curl has returned to the loop, finished transfers
 * are taken out of the multi handle and handed to the owner's done
 * callback (the easy handle is the owner's to clean up). Callbacks may
 * add and remove transfers.
 *
 * Re-entrancy: while curl is on the stack (inside curl's write or header
 * callbacks, curlloop_in_curl() is true) an owner must not remove or
 * clean up an easy handle: it marks the transfer and drops it from its
 * returned callback, which runs every time curl has returned, before
 * any done callback.
 *
 * curlloop_new takes a reference on curl_global_init and curlloop_free
 * gives it back. Untrusted input: none here (the owners' write and
 * header callbacks see the peers' bytes).
 */
#ifndef CM_CURLLOOP_H
#define CM_CURLLOOP_H

#include <curl/curl.h>

#include "evloop.h"

struct curlloop;

/* curlloop_done_fn: easy finished with result (CURLE_OK: a response
 * arrived, whatever its status); already out of the multi handle */
typedef void curlloop_done_fn(void *arg, CURL *easy, CURLcode result);
/* curlloop_returned_fn: curl has returned to the loop (may be NULL) */
typedef void curlloop_returned_fn(void *arg);

/* curlloop_new: a multi handle on loop; NULL only if curl cannot start */
struct curlloop *curlloop_new(struct evloop *loop, curlloop_done_fn *done,
			      curlloop_returned_fn *returned, void *arg);
/* curlloop_free: stops the timer and cleans up the multi handle (its
 * connections closed); remove and clean up your easy handles first */
void curlloop_free(struct curlloop **clp);
/* curlloop_multi: the multi handle, for multi options */
CURLM *curlloop_multi(struct curlloop *cl);
/* curlloop_add: start easy (CURLOPT_PRIVATE is the owner's); 0 or
 * -EINVAL (curl refused it) */
int curlloop_add(struct curlloop *cl, CURL *easy);
/* curlloop_remove: take easy out (harmless when it is not in); never
 * while curlloop_in_curl() */
void curlloop_remove(struct curlloop *cl, CURL *easy);
/* curlloop_in_curl: curl is on the stack (see the top of this file) */
int curlloop_in_curl(const struct curlloop *cl);

#endif
