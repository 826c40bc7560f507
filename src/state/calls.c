/* calls.c — see calls.h. */
#include "hypotop/calls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

#define FLIGHTS_FILE "engine/calls.json"

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static double num(const cJSON *o, const char *key, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : def;
}

void call_info_read(const char *workdir, const char *stem, struct call_info *ci)
{
	memset(ci, 0, sizeof *ci);
	ci->stem = xstrdup(stem);
	char *path = xasprintf("%s/%s_raw.json", workdir, stem);
	struct err e = {{0}};
	cJSON *j = json_parse_file(path, &e);
	free(path);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	ci->read = true;
	ci->seq = (long)num(j, "request", 0);
	ci->kind = dup_or_null(json_string(j, "kind"));
	ci->node = dup_or_null(json_string(j, "node"));
	ci->provider = dup_or_null(json_string(j, "provider"));
	ci->model = dup_or_null(json_string(j, "model"));
	ci->attempt = (int)num(j, "attempt", 1);
	ci->seconds = num(j, "duration_ms", 0) / 1000;
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
	if (cJSON_IsObject(u)) {
		ci->has_usage = true;
		ci->input = (long)num(u, "input_tokens", 0);
		ci->output = (long)num(u, "output_tokens", 0);
		ci->cache_write = (long)num(u, "cache_creation_input_tokens", 0);
		ci->cache_read = (long)num(u, "cache_read_input_tokens", 0);
	}
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(j, "cost_usd");
	if (cJSON_IsNumber(cost) && cost->valuedouble > 0) {
		ci->cost = CALL_COST_KNOWN;
		ci->usd = cost->valuedouble;
	} else {
		ci->cost = cJSON_IsNumber(cost) ? CALL_COST_NONE : CALL_COST_UNKNOWN;
	}
	const char *ek = json_string(j, "error_kind"), *em = json_string(j, "error");
	const char *ce = json_string(j, "contract_error");
	if (ek || em)
		ci->error = xasprintf("%s: %s", ek ? ek : "failed", em ? em : "");
	else if (ce)
		ci->error = xasprintf("refused: %s", ce);
	cJSON_Delete(j);
}

void call_info_free(struct call_info *ci)
{
	free(ci->stem);
	free(ci->kind);
	free(ci->node);
	free(ci->provider);
	free(ci->model);
	free(ci->error);
	memset(ci, 0, sizeof *ci);
}

void call_cost_text(const struct call_info *ci, char *out, size_t n)
{
	if (!ci->read || ci->cost == CALL_COST_UNKNOWN)
		snprintf(out, n, "unknown");
	else if (ci->cost == CALL_COST_NONE)
		snprintf(out, n, "$0 (nothing billed)");
	else
		snprintf(out, n, "$%.4f", ci->usd);
}

static void str_or_null(struct buf *b, const char *s)
{
	if (s)
		json_append_str(b, s);
	else
		buf_adds(b, "null");
}

void call_info_members(const struct call_info *ci, struct buf *b)
{
	buf_adds(b, "\"log\":");
	json_append_str(b, ci->stem);
	buf_adds(b, ",\"kind\":");
	str_or_null(b, ci->kind);
	buf_printf(b, ",\"seq\":%ld,\"model\":", ci->seq);
	str_or_null(b, ci->model);
	if (ci->has_usage)
		buf_printf(b, ",\"input_tokens\":%ld,\"output_tokens\":%ld", ci->input, ci->output);
	else
		buf_adds(b, ",\"input_tokens\":null,\"output_tokens\":null");
	if (ci->read && ci->cost == CALL_COST_KNOWN)
		buf_printf(b, ",\"cost_usd\":%.6f", ci->usd);
	else if (ci->read && ci->cost == CALL_COST_NONE)
		buf_adds(b, ",\"cost_usd\":0");
	else
		buf_adds(b, ",\"cost_usd\":null");
	buf_printf(b, ",\"seconds\":%.3f,\"error\":", ci->seconds);
	str_or_null(b, ci->error);
}

/* ---- in flight ---- */

int calls_flight_write(struct workdir *w, const struct call_flight *f, size_t n, struct err *e)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "{\"calls\":[");
	for (size_t i = 0; i < n; i++) {
		buf_adds(&b, i ? ",{\"kind\":" : "{\"kind\":");
		json_append_str(&b, f[i].kind);
		buf_adds(&b, ",\"node\":");
		json_append_str(&b, f[i].node);
		buf_printf(&b, ",\"started\":%lld}", (long long)f[i].started);
	}
	buf_adds(&b, "]}\n");
	char *path = workdir_file(w, FLIGHTS_FILE);
	int rc = fs_write_view(path, b.data, b.len, 0644, e);
	free(path);
	buf_free(&b);
	return rc;
}

size_t calls_flight_read(struct workdir *w, struct call_flight *f, size_t max)
{
	char *path = workdir_file(w, FLIGHTS_FILE);
	struct err e = {{0}};
	cJSON *j = json_parse_file(path, &e);
	const cJSON *c;
	size_t n = 0;

	free(path);
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "calls"))
	{
		const char *kind = json_string(c, "kind"), *node = json_string(c, "node");
		if (n == max || !kind || !node)
			continue;
		snprintf(f[n].kind, sizeof f[n].kind, "%s", kind);
		snprintf(f[n].node, sizeof f[n].node, "%s", node);
		f[n++].started = (int64_t)num(c, "started", 0);
	}
	cJSON_Delete(j);
	return n;
}

void calls_flight_text(const struct call_flight *f, size_t n, int64_t now, char *out,
		       size_t size)
{
	int64_t s = n && now > f[0].started ? (now - f[0].started) / 1000 : 0;

	if (!n)
		snprintf(out, size, "%s", "");
	else if (n == 1)
		snprintf(out, size, "%s %s, %lld s", f[0].kind, f[0].node, (long long)s);
	else
		snprintf(out, size, "%s %s, %lld s +%zu", f[0].kind, f[0].node, (long long)s,
			 n - 1);
}
