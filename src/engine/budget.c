/*
 * budget.c — the caps on all spend (budget.usd: the model's and the
 * rented workers' dollars; budget.gpu_hours: the rented workers' hours
 * times their GPUs). Reached, no new job starts (sched_dispatch) and
 * planning stops (sched_plan); the jobs running finish. Said once each
 * time the reason changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/lifecycle.h"
#include "hypotop/workdir.h"

const char *sched_budget_stop(struct sched *s)
{
	const struct config *c = &s->wd->cfg;
	double rent_usd, gpu_h;
	char *why = NULL;

	if (c->budget_usd < 0 && c->budget_gpu_hours < 0)
		return NULL;
	sched_rent_spend(s, &rent_usd, &gpu_h);
	double model = s->wd->st.llm_usd + s->report_usd, all = model + rent_usd;
	if (c->budget_usd >= 0 && all >= c->budget_usd)
		why = xasprintf("budget.usd is reached: $%.2f spent ($%.2f on the model, $%.2f on "
				"rented workers) of $%.2f; raise it in config.json to go on",
				all, model, rent_usd, c->budget_usd);
	else if (c->budget_gpu_hours >= 0 && gpu_h >= c->budget_gpu_hours)
		why = xasprintf("budget.gpu_hours is reached: %.2f GPU-hours rented of %.2f; raise "
				"it in config.json to go on",
				gpu_h, c->budget_gpu_hours);
	/* The figures move by the second: said again only when the cap hit changes. */
	if (why && (!s->budget_why || strncmp(s->budget_why, why, 16)))
		sched_say(s, "no new jobs: %s", why);
	free(s->budget_why);
	s->budget_why = why;
	return why;
}
