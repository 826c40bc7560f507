/*
 * vast.h — the Vast.ai REST API (SPEC §6, REFERENCE.md "Vast.ai REST API"):
 * the account's instances, offers to rent, renting one, destroying,
 * starting and stopping. Blocking calls over libcurl (llm.h's transport),
 * for a command or a background thread, never the event loop.
 *
 * The key comes from $VAST_API_KEY or the official CLI's file
 * (~/.config/vastai/vast_api_key) and lives in memory only: it is sent as
 * "Authorization: Bearer" and never printed, logged or written.
 * 429 and 5xx are retried with backoff (retry-after honoured); a refused
 * key, an error status or an answer that is not what the API gives is an
 * error naming the endpoint (and the field).
 */
#ifndef HYPOTOP_VAST_H
#define HYPOTOP_VAST_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

#define VAST_DEFAULT_URL "https://console.vast.ai"

struct vast_client {
	char *base;   /* no trailing slash */
	char *auth;   /* "Authorization: Bearer KEY"; never shown */
	long timeout_ms;
	int max_retries;
};

/* One instance of the account; strings never NULL ("" when absent). */
struct vast_instance {
	long id;
	char *status; /* actual_status; "" when null */
	char *intended;
	char *gpu_name;
	char *label;
	char *ssh_host;
	long ssh_port; /* 0: none yet */
	long num_gpus;
	double dph;        /* dph_total, USD per hour */
	double start_date; /* Unix seconds; 0: unknown */
};

struct vast_instances {
	struct vast_instance *v;
	size_t len;
};

struct vast_offer {
	long id;
	char *gpu_name;
	char *where; /* geolocation; "" when absent */
	long num_gpus;
	double dph, dlperf, reliability, gpu_ram_gb;
};

struct vast_offers {
	struct vast_offer *v;
	size_t len;
};

struct vast_query {
	const char *gpu_name; /* NULL: any */
	long num_gpus;        /* 0: any */
	double max_dph;       /* <= 0: any */
	double min_reliability; /* <= 0: any */
	bool by_value;        /* order by dlperf per $/h, best first; else by $/h */
	long limit;           /* 0: 64 */
};

/*
 * The key and the base URL (NULL: VAST_DEFAULT_URL). -1 with e when no key
 * is found or it cannot be a header value.
 */
int vast_client_init(struct vast_client *c, const char *base_url, struct err *e);
void vast_client_free(struct vast_client *c);

int vast_list(struct vast_client *c, struct vast_instances *out, struct err *e);
void vast_instances_free(struct vast_instances *l);
const struct vast_instance *vast_find(const struct vast_instances *l, long id);

int vast_search(struct vast_client *c, const struct vast_query *q, struct vast_offers *out,
		struct err *e);
void vast_offers_free(struct vast_offers *l);

/* Rent offer_id; *id: the new instance. label may be NULL; disk_gb > 0. */
int vast_create(struct vast_client *c, long offer_id, const char *image, double disk_gb,
		const char *label, long *id, struct err *e);
int vast_destroy(struct vast_client *c, long id, struct err *e);
/*
 * Poll instance id until it runs and an SSH server answers at its address
 * (2, 4, 8, then every 16 s; at most timeout_s): *host (caller frees) and
 * *port. say (may be NULL) hears each change of its state.
 */
typedef void (*vast_progress_fn)(void *ctx, long id, const char *state, bool up);
int vast_wait_ssh(struct vast_client *c, long id, double timeout_s, vast_progress_fn say,
		  void *ctx, char **host, long *port, struct err *e);
int vast_set_running(struct vast_client *c, long id, bool running, struct err *e);

/* Parsers of the answers (endpoint names the request in messages); for tests. */
int vast_parse_instances(const char *endpoint, const char *text, size_t len,
			 struct vast_instances *out, char **next_token, struct err *e);
int vast_parse_offers(const char *endpoint, const char *text, size_t len,
		      struct vast_offers *out, struct err *e);

#endif
