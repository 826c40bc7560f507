/* workers_view.c — see workers_view.h. */
#include "hypotop/workers_view.h"

#include <stdio.h>
#include <string.h>

void workers_view(const struct workers *ws, const struct worker_stat *v, size_t n,
		  struct worker_view *out)
{
	for (size_t i = 0; i < ws->len; i++) {
		struct worker_view *o = &out[i];
		o->def = &ws->v[i];
		o->stat = NULL;
		for (size_t k = 0; k < n && !o->stat; k++)
			if (!strcmp(v[k].name, o->def->name))
				o->stat = &v[k];
		o->slots = o->stat ? o->stat->nslots : (size_t)o->def->slots;
		o->used = o->stat ? worker_slots_used(o->stat) : 0;
		/* Disabled in the file is disabled, even before the engine has read it. */
		if (!o->def->enabled)
			o->state = "disabled";
		else
			o->state = o->stat ? worker_state_word(o->stat) : "unknown";
	}
}

void fmt_age(char *buf, size_t size, int64_t ms)
{
	long s = (long)(ms / 1000);

	if (ms < 0)
		snprintf(buf, size, "-");
	else if (s < 1)
		snprintf(buf, size, "now");
	else if (s < 60)
		snprintf(buf, size, "%ld s", s);
	else if (s < 3600)
		snprintf(buf, size, "%ld min", s / 60);
	else if (s < 86400)
		snprintf(buf, size, "%ld h %ld min", s / 3600, s / 60 % 60);
	else
		snprintf(buf, size, "%ld d %ld h", s / 86400, s / 3600 % 24);
}

void fmt_job(char *buf, size_t size, const struct job_info *j)
{
	char since[32] = "";

	if (!j->id[0]) {
		snprintf(buf, size, "%s", "");
		return;
	}
	if (j->since) {
		char age[24];
		int64_t ms = now_ms() - j->since;
		fmt_age(age, sizeof age, ms > 0 ? ms : 0);
		snprintf(since, sizeof since, " for %s", !strcmp(age, "now") ? "0 s" : age);
	}
	snprintf_c(buf, size, "slurm job %s: %s%s%s%s%s%s%s", j->id, j->state[0] ? j->state : "?",
		   j->reason[0] ? " (" : "", j->reason, j->reason[0] ? ")" : "",
		   j->where[0] ? " on " : "", j->where, since);
}

void fmt_reading(char *buf, size_t size, double v, const char *unit)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf_c(buf, size, "%.0f%s", v, unit);
}
