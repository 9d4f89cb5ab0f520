/*
 * status: a ChatmailRelay's .status, rebuilt from observed state on
 * every reconcile (never read back as input, except the previous
 * conditions' lastTransitionTime, which only changes when a condition's
 * status flips, as meta.SetStatusCondition does).
 *
 *   observedGeneration  the generation this status describes
 *   conditions          Ready, Progressing, Degraded (kstatus-style)
 *   address             the Service's load balancer address
 *   tlsSecretName, dkimSecretName
 *   keptOnDelete        the PVCs (and generated DKIM Secret) without an
 *                       owner reference to the relay: deleting the
 *                       relay keeps them
 *   dnsRecords          what upstream's `cmdeploy dns` lists: A/AAAA,
 *                       MX, _mta-sts TXT + mta-sts CNAME (real
 *                       certificates only), www CNAME, DKIM TXT (all
 *                       required), SPF, DMARC, ADSP, SRV, CAA naming
 *                       Let's Encrypt in ACME mode (recommended)
 *   dnsCheck, DNSReady  the last live check of those records
 *                       (operator/dnscheck.h); until the operator has
 *                       one, the previous status's are kept
 */
#ifndef OP_STATUS_H
#define OP_STATUS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "certprobe.h"
#include "dnscheck.h"
#include "servedcert.h"

struct status_in {
	int64_t generation;
	const cJSON *old_status; /* the relay's current .status, or NULL */
	const char *now;	 /* RFC 3339, for flipped conditions */

	/* reconcile outcome: err_reason NULL when it went through */
	const char *err_reason, *err_message;
	int paused;
	int dkim_pending; /* the DKIM key is still being generated */

	/* the StatefulSet as observed; sts_found 0 before it exists */
	int sts_found;
	int64_t sts_generation, sts_observed_generation;
	int replicas, ready_replicas, updated_replicas;
	const char *current_revision, *update_revision;
	/* CertManager mode: 1 ready, 0 not yet; -1 other modes */
	int cert_ready;
	/* ACME mode: the directory (NULL in other modes), whether the spec
	 * agreed to its terms, and the Pod's name (for the hint) */
	const char *acme_directory;
	int acme_tos_agreed;
	const char *pod_name;
	/* ACME mode: the cert container's newest probe line (the
	 * kubelet's Unhealthy event; certprobe.h), NULL none seen */
	const struct cert_probe *acme_probe;
	/* ACME mode, Pod Ready: what the relay serves on 443, read over
	 * TLS (servedcert.h); NULL not read yet */
	const struct served_cert *acme_served;

	/* TURN: -1 turned off, 0 on without an address clients can reach
	 * (no TURN server runs), 1 running; turn_address the relayed one */
	int turn_state;
	const char *turn_address;
	/* spec.turn.hostNetwork (turn_state 1): the <relay>-turn Pod as
	 * observed: its name, node and node address (NULL unknown), Ready;
	 * turn_host what clients are told (externalIP or the domain) */
	int turn_host_network;
	const char *turn_pod, *turn_node, *turn_node_ip, *turn_host;
	int turn_pod_ready;

	/* for the DNS records */
	const char *domain;
	const char *address; /* "" unknown */
	const char *dkim_selector;
	const char *dkim_txt;	/* "" unknown */
	int strict_tls;		/* not SelfSigned: publish MTA-STS */
	const char *sts_id;	/* _mta-sts id: YYYYmmddHHMM */
	const char *caa_issuer; /* ACME mode: the CA's CAA name, else NULL */
	const char *tls_secret, *dkim_secret;
	/* the last DNS check of the records, or NULL (none yet) */
	const struct dnscheck_result *dns;
	/* [{kind, name}] of children deleting the relay keeps; NULL or
	 * empty: the field is left out */
	const cJSON *kept;
};

/* status_build: the new .status object (caller frees) */
cJSON *status_build(const struct status_in *in);
/* status_dns_records: the records as an array (caller frees) */
cJSON *status_dns_records(const struct status_in *in);
/* status_condition: the condition of type in a status, or NULL */
const cJSON *status_condition(const cJSON *status, const char *type);
/* status_compact: replace status.dnsRecords (the bulk of a status: the
 * DKIM key) by the string "sha256:<hex>" of it, in place; what the
 * relay cache keeps, and what a new status is compared with */
void status_compact(cJSON *status);
/* status_equal: a and b say the same (key order ignored) */
int status_equal(const cJSON *a, const cJSON *b);

#endif
