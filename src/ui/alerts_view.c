/*
 * alerts_view.c — the alerts view (A): the health rules' alerts of
 * logs/alerts.jsonl (engine/alerts.c writes it), newest first, one row
 * each, for the pager. Reads the file, never the engine: the same view
 * attached to an engine that runs elsewhere.
 */
#include "hypotop/ui_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

/* The newest alerts shown; older ones are in the file. */
#define ALERTS_SHOWN 500
#define ALERTS_READ (256 * 1024)
#define ROW "%-8s %-8s %-5s %-15s %8s / %-8s %-6s %-6s %s\n"

static void number(char *out, size_t n, const cJSON *v)
{
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
		snprintf(out, n, "%.4g", v->valuedouble);
	else
		snprintf(out, n, "-");
}

static const char *field(const cJSON *a, const char *key)
{
	const char *s = json_string(a, key);

	return s ? s : "?";
}

static void row(struct buf *b, const cJSON *a)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "time");
	char stamp[16] = "?", value[24], thr[24], step[24];
	if (cJSON_IsNumber(t)) {
		time_t secs = (time_t)(t->valuedouble / 1000);
		struct tm tm;
		strftime(stamp, sizeof stamp, "%H:%M:%S", localtime_r(&secs, &tm));
	}
	number(value, sizeof value, cJSON_GetObjectItemCaseSensitive(a, "value"));
	number(thr, sizeof thr, cJSON_GetObjectItemCaseSensitive(a, "threshold"));
	number(step, sizeof step, cJSON_GetObjectItemCaseSensitive(a, "step"));
	buf_printf(b, ROW, stamp, field(a, "severity"), field(a, "node"), field(a, "rule"), value, thr,
		   field(a, "action"), step, field(a, "worker"));
}

void alerts_view_build(struct ui *ui, struct buf *b)
{
	char *path = workdir_file(ui->host.wd, "logs/alerts.jsonl");
	struct err e = {{0}};
	char *text = fs_exists(path) ? fs_read_tail(path, ALERTS_READ, &e) : NULL;
	char **lines = NULL;
	size_t n = 0, cap = 0;

	free(path);
	for (char *p = text, *nl; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!*p)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			lines = xrealloc(lines, cap * sizeof *lines);
		}
		lines[n++] = p;
		if (!nl)
			break;
	}
	/* Newest first; a line that is not an alert (cut by a crash) is passed over. */
	cJSON **shown = xcalloc(n ? n : 1, sizeof *shown);
	size_t m = 0;
	for (size_t i = n; i-- > 0 && m < ALERTS_SHOWN;) {
		cJSON *a = cJSON_Parse(lines[i]);
		if (cJSON_IsObject(a))
			shown[m++] = a;
		else
			cJSON_Delete(a);
	}
	if (!m) {
		buf_adds(b, "No alerts: no health rule has fired (see health.rules in "
			    "'hypotop config-keys').\n");
	} else {
		buf_printf(b, "%zu alert%s, newest first (logs/alerts.jsonl)\n\n", m,
			   m == 1 ? "" : "s");
		buf_printf(b, ROW, "time", "severity", "node", "rule", "value", "threshold",
			   "action", "step", "worker");
	}
	for (size_t i = 0; i < m; i++) {
		row(b, shown[i]);
		cJSON_Delete(shown[i]);
	}
	free(shown);
	free(lines);
	free(text);
}
