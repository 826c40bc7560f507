/*
 * fuzz_metrics.c — a run's log, line by line, as metrics_feed() reads it:
 * the config's patterns, NAME=VALUE pairs and JSON-object lines.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *patterns;
	struct err e = {{0}};
	struct metrics m;
	struct buf b;
	const char *p = (const char *)data, *end = p + size;

	if (!patterns)
		patterns = cJSON_Parse("{\"val_loss\": \"val loss ([0-9.]+)\", "
				       "\"tokens_per_s\": \"tok/s: ([0-9.eE+-]+)\"}");
	if (metrics_init(&m, patterns, &e) < 0)
		fuzz_fail("metrics_init: %s", e.msg);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		metrics_feed(&m, p, len);
		p += len + 1;
	}
	buf_init(&b);
	metrics_to_json(&m, &b);
	cJSON *j = cJSON_ParseWithLength(b.data, b.len);
	if (!j)
		fuzz_fail("metrics.json does not parse: %s", b.data);
	cJSON_Delete(j);
	buf_free(&b);
	metrics_free(&m);
	return 0;
}
