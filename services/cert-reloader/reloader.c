/*
 * reloader: watch a certificate directory, validate a changed pair,
 * signal the daemons that use it (see reloader.h for the behaviour).
 *
 * One evloop: the inotify fd, one debounce timer (events come in bursts:
 * the kubelet creates, links and renames several entries), one periodic
 * check timer, a probe timer (at start, until every target was seen
 * once: may we signal it?), and signalfd for SIGTERM/SIGINT. The fingerprint covers
 * both files, so a renewal that keeps the key still counts.
 *
 * Untrusted input: certificate and key files (size-capped, parsed by
 * OpenSSL), /proc entries (names and stat lines, bounded reads).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme.h"
#include "evloop.h"
#include "fs.h"
#include "log.h"
#include "num.h"
#include "reloader.h"

void
reloader_opts_default(struct reloader_opts *o)
{
	static const char *const names[] = { "nginx", "dovecot", "master" };
	size_t i;

	memset(o, 0, sizeof(*o));
	(void)snprintf(o->dir, sizeof(o->dir), "/etc/chatmail/tls");
	(void)snprintf(o->cert, sizeof(o->cert), "tls.crt");
	(void)snprintf(o->key, sizeof(o->key), "tls.key");
	(void)snprintf(o->proc, sizeof(o->proc), "/proc");
	for (i = 0; i < 3; i++)
		(void)snprintf(o->targets[i].name, sizeof(o->targets[i].name),
			       "%s", names[i]);
	o->ntargets = 3;
	o->debounce_ms = 1000;
	o->check_ms = 60000;
}

int
reloader_parse_target(const char *s, struct reloader_target *t)
{
	const char *eq = strchr(s, '=');
	size_t n = eq ? (size_t)(eq - s) : strlen(s);

	memset(t, 0, sizeof(*t));
	if (n == 0 || n >= sizeof(t->name) || strchr(s, '/') == s)
		return -EINVAL;
	memcpy(t->name, s, n);
	if (eq != NULL) {
		if (eq[1] != '/' || strlen(eq + 1) >= sizeof(t->pidfile))
			return -EINVAL;
		(void)snprintf(t->pidfile, sizeof(t->pidfile), "%s", eq + 1);
	}
	return 0;
}

/* check_pair: the key is the certificate's; its notAfter */
static int
check_pair(const struct buf *cert, const struct buf *key, char *not_after,
	   size_t nasize, struct buf *err)
{
	BIO *cb = BIO_new_mem_buf(cert->data, (int)cert->len);
	BIO *kb = BIO_new_mem_buf(key->data, (int)key->len);
	BIO *tb = BIO_new(BIO_s_mem());
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *pk =
		kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	char *p;
	long n;
	int r = -EINVAL;

	if (x == NULL || pk == NULL) {
		(void)buf_puts(err, x ? "key is not a PEM private key"
				      : "certificate is not PEM");
	} else if (X509_check_private_key(x, pk) != 1) {
		(void)buf_puts(err, "key does not match the certificate");
	} else {
		r = 0;
		if (tb != NULL && ASN1_TIME_print(tb, X509_get0_notAfter(x)) &&
		    (n = BIO_get_mem_data(tb, &p)) > 0)
			(void)snprintf(not_after, nasize, "%.*s", (int)n, p);
	}
	EVP_PKEY_free(pk);
	X509_free(x);
	BIO_free(cb);
	BIO_free(kb);
	BIO_free(tb);
	return r;
}

int
reloader_fingerprint(const struct reloader_opts *o, char hex[65],
		     char *not_after, size_t nasize, struct buf *err)
{
	struct buf cert = BUF_INIT(RELOADER_FILE_MAX),
		   key = BUF_INIT(RELOADER_FILE_MAX);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char path[1024];
	EVP_MD_CTX *ctx = NULL;
	size_t i;
	int r;

	(void)snprintf(not_after, nasize, "?");
	(void)snprintf(path, sizeof(path), "%s/%s", o->dir, o->cert);
	r = fs_read_file(path, &cert);
	if (r == 0) {
		(void)snprintf(path, sizeof(path), "%s/%s", o->dir, o->key);
		r = fs_read_file(path, &key);
	}
	if (r < 0) {
		(void)buf_printf(err, "%s: %s", path, strerror(-r));
		r = r == -EFBIG ? -EINVAL : -ENOENT;
		goto out;
	}
	if ((r = check_pair(&cert, &key, not_after, nasize, err)) < 0)
		goto out;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, cert.data, cert.len) ||
	    !EVP_DigestUpdate(ctx, key.data, key.len) ||
	    !EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
		(void)buf_puts(err, "SHA-256 failed");
		r = -EINVAL;
		goto out;
	}
	for (i = 0; i < mdlen; i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", md[i]);
out:
	EVP_MD_CTX_free(ctx);
	buf_deinit(&cert);
	buf_wipe_deinit(&key);
	return r;
}

/* proc_comm: the name of process pid; 0 or -1 */
static int
proc_comm(const char *proc, const char *pid, char *out, size_t outsize)
{
	struct buf b = BUF_INIT(256);
	char path[512];
	int r;

	(void)snprintf(path, sizeof(path), "%s/%s/comm", proc, pid);
	r = fs_read_file(path, &b);
	if (r == 0) {
		(void)snprintf(out, outsize, "%s", buf_cstr(&b));
		out[strcspn(out, "\n")] = '\0';
	}
	buf_deinit(&b);
	return r < 0 ? -1 : 0;
}

/* proc_ppid: the parent pid from /proc/<pid>/stat, or -1 */
static long
proc_ppid(const char *proc, const char *pid)
{
	struct buf b = BUF_INIT(1024);
	const char *rp;
	char path[512], num[24];
	unsigned v = 0;
	size_t n;
	long r = -1;

	(void)snprintf(path, sizeof(path), "%s/%s/stat", proc, pid);
	/* "pid (comm) S ppid ...": comm may hold spaces and ')' */
	if (fs_read_file(path, &b) == 0 &&
	    (rp = strrchr(buf_cstr(&b), ')')) != NULL && rp[1] == ' ' &&
	    rp[2] != '\0' && rp[3] == ' ') {
		n = strspn(rp + 4, "0123456789");
		if (n > 0 && n < sizeof(num)) {
			memcpy(num, rp + 4, n);
			num[n] = '\0';
			if (num_parse_uint(num, 0, 4194304, &v) == 0)
				r = (long)v;
		}
	}
	buf_deinit(&b);
	return r;
}

size_t
reloader_find(const char *proc, const char *name, pid_t *pids, size_t max)
{
	DIR *d = opendir(proc);
	struct dirent *de;
	char comm[64], pcomm[64], pp[24];
	unsigned v;
	size_t n = 0;
	long ppid;

	if (d == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		if (num_parse_uint(de->d_name, 1, 4194304, &v) < 0 ||
		    proc_comm(proc, de->d_name, comm, sizeof(comm)) < 0 ||
		    strcmp(comm, name) != 0)
			continue;
		ppid = proc_ppid(proc, de->d_name);
		(void)snprintf(pp, sizeof(pp), "%ld", ppid);
		if (ppid > 0 &&
		    proc_comm(proc, pp, pcomm, sizeof(pcomm)) == 0 &&
		    strcmp(pcomm, name) == 0)
			continue; /* a worker of the master we want */
		pids[n++] = (pid_t)v;
	}
	(void)closedir(d);
	return n;
}

size_t
reloader_target_pids(const struct reloader_opts *o,
		     const struct reloader_target *t, pid_t *pids, size_t max)
{
	struct buf b = BUF_INIT(64);
	unsigned v;
	size_t n = 0;

	if (t->pidfile[0] == '\0')
		return reloader_find(o->proc, t->name, pids, max);
	if (max > 0 && fs_read_file(t->pidfile, &b) == 0 && b.len > 0) {
		b.data[strcspn(b.data, " \n")] = '\0';
		if (num_parse_uint(b.data, 1, 4194304, &v) == 0)
			pids[n++] = (pid_t)v;
	}
	buf_deinit(&b);
	return n;
}

/* the running reloader */
struct run {
	const struct reloader_opts *o;
	struct evloop *loop;
	struct evloop_timer debounce, check, probe;
	int ifd;
	struct acme_client *acme;
	unsigned probed, probes; /* targets probed (bits), probe rounds */
	char current[65];	 /* fingerprint of what the daemons serve */
};

#define PROBE_MS 2000
#define PROBE_ROUNDS 60 /* the daemons start within two minutes */

size_t
reloader_probe(const struct reloader_opts *o, unsigned *done)
{
	pid_t pids[16];
	size_t i, j, n, missing = 0;

	for (i = 0; i < o->ntargets; i++) {
		if (*done & (1u << i))
			continue;
		n = reloader_target_pids(o, &o->targets[i], pids, 16);
		if (n == 0) {
			missing++;
			continue;
		}
		*done |= 1u << i;
		for (j = 0; j < n; j++) {
			if (kill(pids[j], 0) == 0)
				log_info("can signal %s (pid %d)",
					 o->targets[i].name, (int)pids[j]);
			else
				log_error("cannot signal %s (pid %d): %s; the "
					  "cert container needs uid 0 with "
					  "the KILL capability",
					  o->targets[i].name, (int)pids[j],
					  strerror(errno));
		}
	}
	return missing;
}

/* signal_targets: SIGHUP to every target; returns how many got it */
static int
signal_targets(const struct reloader_opts *o, const char *why)
{
	pid_t pids[16];
	size_t i, j, n;
	int sent = 0;

	for (i = 0; i < o->ntargets; i++) {
		n = reloader_target_pids(o, &o->targets[i], pids, 16);
		if (n == 0)
			log_warn("no %s process to reload", o->targets[i].name);
		for (j = 0; j < n; j++) {
			if (kill(pids[j], SIGHUP) < 0) {
				log_error("cannot signal %s (pid %d): %s",
					  o->targets[i].name, (int)pids[j],
					  strerror(errno));
				continue;
			}
			log_info("reloaded %s (pid %d): %s", o->targets[i].name,
				 (int)pids[j], why);
			sent++;
		}
	}
	return sent;
}

/* look: reload when the certificate changed and the pair is valid */
static void
look(struct run *rn)
{
	struct buf err = BUF_INIT(512);
	char fp[65], na[64], why[160];

	if (reloader_fingerprint(rn->o, fp, na, sizeof(na), &err) < 0) {
		log_warn("certificate in %s not loaded: %s", rn->o->dir,
			 buf_cstr(&err));
	} else if (strcmp(fp, rn->current) != 0) {
		log_info("new certificate in %s (sha256 %.16s, notAfter %s)",
			 rn->o->dir, fp, na);
		(void)snprintf(why, sizeof(why),
			       "certificate renewed (notAfter %s)", na);
		(void)signal_targets(rn->o, why);
		(void)snprintf(rn->current, sizeof(rn->current), "%s", fp);
	}
	buf_deinit(&err);
}

/* on_debounce: the burst of events is over */
static void
on_debounce(struct evloop *loop, void *arg)
{
	(void)loop;
	look(arg);
}

/* on_check: the periodic look */
static void
on_check(struct evloop *loop, void *arg)
{
	struct run *rn = arg;

	look(rn);
	evloop_timer_start(loop, &rn->check, rn->o->check_ms);
}

/* on_probe: probe the targets until each had a process (bounded) */
static void
on_probe(struct evloop *loop, void *arg)
{
	struct run *rn = arg;

	if (reloader_probe(rn->o, &rn->probed) > 0 &&
	    ++rn->probes < PROBE_ROUNDS)
		evloop_timer_start(loop, &rn->probe, PROBE_MS);
}

/* on_inotify: drain the events; any of ours starts the debounce */
static void
on_inotify(struct evloop *loop, int fd, unsigned events, void *arg)
{
	struct run *rn = arg;
	char ev[8192]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	(void)events;
	while ((n = read(fd, ev, sizeof(ev))) > 0)
		;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		log_error("inotify read: %s", strerror(errno));
	evloop_timer_start(loop, &rn->debounce, rn->o->debounce_ms);
}

int
reloader_run(const struct reloader_opts *o)
{
	struct run rn;
	struct buf err = BUF_INIT(512);
	char na[64];
	int rc = 0;

	memset(&rn, 0, sizeof(rn));
	rn.o = o;
	rn.loop = evloop_new();
	rn.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (o->acme != NULL && fs_mkdirs(o->dir, 0755) < 0)
		log_warn("cannot create %s", o->dir);
	if (rn.ifd < 0 ||
	    inotify_add_watch(rn.ifd, o->dir,
			      IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE |
				      IN_DELETE | IN_ATTRIB) < 0) {
		log_error("cannot watch %s: %s", o->dir, strerror(errno));
		rc = EX_NOINPUT;
		goto out;
	}
	if (reloader_fingerprint(o, rn.current, na, sizeof(na), &err) == 0)
		log_info("watching %s (certificate notAfter %s)", o->dir, na);
	else
		log_warn("watching %s; no valid certificate yet: %s", o->dir,
			 buf_cstr(&err));
	evloop_timer_init(&rn.debounce, on_debounce, &rn);
	evloop_timer_init(&rn.check, on_check, &rn);
	evloop_timer_start(rn.loop, &rn.check, o->check_ms);
	evloop_timer_init(&rn.probe, on_probe, &rn);
	evloop_timer_start(rn.loop, &rn.probe, PROBE_MS);
	buf_reset(&err);
	if (o->acme != NULL &&
	    (rn.acme = acme_client_new(rn.loop, o->acme, NULL, NULL, &err)) ==
		    NULL) {
		log_error("ACME client not started: %s", buf_cstr(&err));
		rc = EX_CONFIG;
		goto out;
	}
	if (evloop_io_add(rn.loop, rn.ifd, EV_READ, on_inotify, &rn) < 0 ||
	    evloop_stop_on_signals(rn.loop) < 0) {
		rc = EX_OSERR;
		goto out;
	}
	if (evloop_run(rn.loop) < 0)
		rc = EX_OSERR;
out:
	acme_client_free(&rn.acme);
	if (rn.ifd >= 0) {
		evloop_io_del(rn.loop, rn.ifd);
		(void)close(rn.ifd);
	}
	evloop_timer_stop(rn.loop, &rn.debounce);
	evloop_timer_stop(rn.loop, &rn.check);
	evloop_timer_stop(rn.loop, &rn.probe);
	evloop_free(&rn.loop);
	buf_deinit(&err);
	return rc;
}
