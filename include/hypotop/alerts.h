/*
 * alerts.h — where the health rules' firings go (SPEC §8): each one a
 * line of logs/alerts.jsonl, appended and synced; a critical one also
 * POSTed to alerts.webhook_url from a thread of its own, with retries,
 * so that a slow or dead server never holds the engine's loop. The line:
 *
 *   {"time": ms, "node", "worker", "rule", "value", "threshold", "step",
 *    "action", "severity"}
 *
 * (value and step null when unknown). Main thread only, but the sender.
 */
#ifndef HYPOTOP_ALERTS_H
#define HYPOTOP_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "hypotop/health_rules.h"
#include "hypotop/loop.h"
#include "hypotop/util.h"

struct alert {
	int64_t time; /* wall-clock ms */
	const char *node, *worker;
	enum health_rule rule;
	const char *event; /* not a rule's firing: what happened ("vast_rent"); NULL: rule */
	double value, threshold, step; /* NAN: unknown */
	enum health_action action;
	enum health_severity severity;
};

struct alerts;

/*
 * For the workdir at path; webhook_url may be NULL (none). A post given up
 * after its tries is told to say (on the main thread, from loop's wake),
 * without the URL, which may hold a secret.
 */
struct alerts *alerts_open(const char *path, const char *webhook_url, struct loop *loop,
			   void (*say)(void *ctx, const char *msg), void *say_ctx);
/* Waits for no sending: what is not sent is given up. NULL is fine. */
void alerts_close(struct alerts *a);
/*
 * Record one alert: its line in logs/alerts.jsonl, and for a critical one
 * the webhook, whose "text" is "hypotop WORKDIR: " and text (the status
 * bar's words).
 * -1 with e when the line could not be written.
 */
int alerts_record(struct alerts *a, const struct alert *al, const char *text, struct err *e);
/* One alert as its line (no newline). */
void alerts_format(const struct alert *al, struct buf *b);

#endif
