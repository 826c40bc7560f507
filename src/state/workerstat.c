/* workerstat.c — engine/workers.json (see workerstat.h). */
#include "hypotop/workerstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

static const char *const state_words[] = {
	[WORKER_UP] = "up",
	[WORKER_CONNECTING] = "connecting",
	[WORKER_DOWN] = "down",
	[WORKER_DISABLED] = "disabled",
};

size_t worker_slots_used(const struct worker_stat *w)
{
	size_t n = 0;

	for (size_t i = 0; i < w->nslots; i++)
		n += w->slot[i].node[0] != '\0';
	return n;
}

const char *worker_state_word(const struct worker_stat *w)
{
	if (!w->enabled)
		return "disabled";
	if (w->st.state == WORKER_UP && w->nslots && worker_slots_used(w) == w->nslots)
		return "busy";
	return state_words[w->st.state];
}

static void put_num(struct buf *b, const char *key, double v)
{
	if (v < 0)
		buf_printf(b, ",\"%s\":null", key);
	else
		buf_printf(b, ",\"%s\":%.6g", key, v);
}

/* ,"job":{...} when its cluster said something of it. */
static void job_json(struct buf *b, const struct job_info *j)
{
	if (!j->id[0])
		return;
	buf_adds(b, ",\"job\":{\"id\":");
	json_append_str(b, j->id);
	buf_adds(b, ",\"state\":");
	json_append_str(b, j->state);
	buf_adds(b, ",\"reason\":");
	json_append_str(b, j->reason);
	buf_adds(b, ",\"node\":");
	json_append_str(b, j->where);
	buf_printf(b, ",\"since\":%lld}", (long long)j->since);
}

void workerstat_json(struct buf *b, const struct worker_stat *v, size_t n)
{
	buf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		const struct worker_stat *w = &v[i];
		buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		json_append_str(b, w->name);
		buf_adds(b, ",\"kind\":");
		json_append_str(b, w->kind);
		buf_printf(b, ",\"enabled\":%s,\"state\":", w->enabled ? "true" : "false");
		json_append_str(b, state_words[w->st.state]);
		buf_adds(b, ",\"reason\":");
		json_append_str(b, w->st.reason);
		buf_printf(b, ",\"heartbeat\":%lld,\"slots\":[", (long long)w->st.heartbeat);
		for (size_t k = 0; k < w->nslots; k++) {
			buf_adds(b, k ? ",{\"node\":" : "{\"node\":");
			json_append_str(b, w->slot[k].node);
			buf_printf(b, ",\"gpu\":%d,\"unknown\":%s", w->slot[k].gpu,
				   w->slot[k].unknown ? "true" : "false");
			job_json(b, &w->slot[k].job);
			buf_addc(b, '}');
		}
		buf_adds(b, "],\"gpus\":[");
		for (size_t k = 0; k < w->st.ngpu; k++) {
			const struct worker_gpu *g = &w->st.gpu[k];
			buf_printf(b, "%s{\"index\":%d", k ? "," : "", g->index);
			put_num(b, "util", g->util);
			put_num(b, "mem_used", g->mem_used);
			put_num(b, "mem_total", g->mem_total);
			put_num(b, "temp", g->temp);
			buf_addc(b, '}');
		}
		buf_adds(b, "]}");
	}
	buf_addc(b, ']');
}

int workerstat_write(const char *workdir, int64_t updated, const struct worker_stat *v,
		     size_t n, struct err *e)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"updated\":%lld,\"workers\":", (long long)updated);
	workerstat_json(&b, v, n);
	buf_adds(&b, "}\n");
	char *path = path_join(workdir, WORKERSTAT_FILE);
	int rc = fs_write_view(path, b.data, b.len, 0644, e);
	free(path);
	buf_free(&b);
	return rc;
}

static double get_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void copy_str(char *dst, size_t size, const cJSON *o, const char *key)
{
	const char *s = json_string(o, key);

	snprintf(dst, size, "%s", s ? s : "");
}

static void job_read(struct job_info *j, const cJSON *o)
{
	if (!cJSON_IsObject(o))
		return;
	copy_str(j->id, sizeof j->id, o, "id");
	copy_str(j->state, sizeof j->state, o, "state");
	copy_str(j->reason, sizeof j->reason, o, "reason");
	copy_str(j->where, sizeof j->where, o, "node");
	double v = get_num(o, "since");
	j->since = v > 0 ? (int64_t)v : 0;
}

int workerstat_read(const char *workdir, int64_t *updated, struct worker_stat **v, size_t *n,
		    struct err *e)
{
	char *path = path_join(workdir, WORKERSTAT_FILE);

	*v = NULL;
	*n = 0;
	if (!fs_exists(path)) {
		free(path);
		return 1;
	}
	cJSON *j = json_parse_file(path, e);
	free(path);
	if (!j)
		return -1;
	const cJSON *ws = cJSON_GetObjectItemCaseSensitive(j, "workers"), *w;
	if (updated)
		*updated = (int64_t)get_num(j, "updated");
	size_t len = (size_t)cJSON_GetArraySize(ws);
	*v = xcalloc(len ? len : 1, sizeof **v);
	cJSON_ArrayForEach(w, ws)
	{
		struct worker_stat *s = &(*v)[(*n)++];
		copy_str(s->name, sizeof s->name, w, "name");
		copy_str(s->kind, sizeof s->kind, w, "kind");
		copy_str(s->st.reason, sizeof s->st.reason, w, "reason");
		s->enabled = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(w, "enabled"));
		const char *state = json_string(w, "state");
		s->st.state = WORKER_DOWN;
		for (size_t k = 0; state && k < ARRAY_LEN(state_words); k++)
			if (!strcmp(state, state_words[k]))
				s->st.state = (enum worker_state)k;
		double hb = get_num(w, "heartbeat");
		s->st.heartbeat = hb > 0 ? (int64_t)hb : 0;
		const cJSON *slots = cJSON_GetObjectItemCaseSensitive(w, "slots"), *sl;
		s->nslots = (size_t)cJSON_GetArraySize(slots);
		s->slot = xcalloc(s->nslots ? s->nslots : 1, sizeof *s->slot);
		size_t k = 0;
		cJSON_ArrayForEach(sl, slots)
		{
			copy_str(s->slot[k].node, sizeof s->slot[k].node, sl, "node");
			s->slot[k].gpu = (int)get_num(sl, "gpu");
			s->slot[k].unknown =
				cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sl, "unknown"));
			job_read(&s->slot[k].job, cJSON_GetObjectItemCaseSensitive(sl, "job"));
			k++;
		}
		const cJSON *g;
		cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(w, "gpus"))
		{
			if (s->st.ngpu == WORKER_GPUS_MAX)
				break;
			struct worker_gpu *p = &s->st.gpu[s->st.ngpu++];
			p->index = (int)get_num(g, "index");
			p->util = get_num(g, "util");
			p->mem_used = get_num(g, "mem_used");
			p->mem_total = get_num(g, "mem_total");
			p->temp = get_num(g, "temp");
		}
	}
	cJSON_Delete(j);
	return 0;
}

void workerstat_free(struct worker_stat *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].slot);
	free(v);
}
