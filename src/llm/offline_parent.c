/*
 * offline_parent.c — where an offline proposal goes in the tree: under the
 * completed run whose params it changes least, so that each proposal
 * reads as a small step from a run a person can look at ("lr 0.3 →
 * 0.004"), not as a jump from the best node.
 *
 * A parent must run the same code as the node the round was asked about
 * (no code change between them but params) and hold the same settings
 * outside the search space: a proposal changes search-space params only.
 * Among those, the nearest in the space's own coordinates (log scale for
 * log_uniform, a choice's position among its elements), ties to the
 * better metric, then to the older node. A seed repeat (or a copy of the
 * baseline) is never one: the node it repeats is.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/offline_int.h"

static bool in_space(const struct offline *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].name, name))
			return true;
	return false;
}

/* Every setting outside the space is the same in a and b. */
static bool same_outside(const struct offline *o, const cJSON *a, const cJSON *b)
{
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *x = pass ? b : a, *y = pass ? a : b;
		for (const cJSON *m = x->child; m; m = m->next) {
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(y, m->string);
			if (!in_space(o, m->string) && !(w && offline_value_equal(m, w)))
				return false;
		}
	}
	return true;
}

static const struct plan_entry *entry_of(const struct plan_request *r, const char *id)
{
	for (size_t i = 0; id && i < r->nhistory; i++)
		if (r->history[i].id && !strcmp(r->history[i].id, id))
			return &r->history[i];
	return NULL;
}

/* A change of the code (any kind but params); a node without one changes nothing. */
static bool changes_code(const struct plan_entry *h)
{
	cJSON *ch = h->change ? cJSON_Parse(h->change) : NULL;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind");
	bool code = ch && !(cJSON_IsString(kind) && !strcmp(kind->valuestring, "params"));

	cJSON_Delete(ch);
	return code;
}

/*
 * The code h runs, named by the nearest node up its path (itself
 * included) that changed the code; "" for the baseline's code, NULL when
 * its path leaves the history.
 */
static const char *code_of(const struct plan_request *r, const struct plan_entry *h)
{
	for (int depth = 0; h && depth < 4096; depth++) {
		if (changes_code(h))
			return h->id;
		if (!h->parent)
			return "";
		h = entry_of(r, h->parent);
	}
	return NULL;
}

/* Squared distance of two points of the space, each coordinate in [0, 1]. */
static double distance(const struct offline *o, const cJSON *a, const cJSON *b)
{
	double sum = 0;

	for (size_t i = 0; i < o->n; i++) {
		const struct sparam *sp = &o->v[i];
		double x = tpe_coord(sp, cJSON_GetObjectItemCaseSensitive(a, sp->name));
		double y = tpe_coord(sp, cJSON_GetObjectItemCaseSensitive(b, sp->name));
		if (sp->dist == D_CHOICE && sp->nchoices > 1) {
			x /= sp->nchoices - 1;
			y /= sp->nchoices - 1;
		}
		if (isnan(x) != isnan(y))
			sum += 1;
		else if (!isnan(x))
			sum += (x - y) * (x - y);
	}
	return sum;
}

const struct plan_entry *offline_parent(const struct offline *o, const struct plan_request *r,
					const cJSON *full)
{
	const struct plan_entry *node = entry_of(r, r->node), *best = NULL;
	const char *code = node ? code_of(r, node) : NULL;
	bool max = goal_is_max(r->cfg);
	double best_d = INFINITY;

	if (!code)
		return NULL;
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *h = &r->history[i];
		/* A run again of another node (no change of its own) stands for it, not for itself. */
		bool again = !h->change && (h->parent || (h->id && strcmp(h->id, "n0000")));
		if (again || !h->id || !h->status || strcmp(h->status, "completed") || !h->has_metric ||
		    !isfinite(h->metric) || !cJSON_IsObject(h->params) ||
		    !same_outside(o, h->params, full))
			continue;
		const char *its = code_of(r, h);
		if (!its || strcmp(its, code))
			continue;
		double d = distance(o, h->params, full);
		if (best && (d > best_d || (d == best_d && (max ? h->metric <= best->metric
								 : h->metric >= best->metric))))
			continue;
		best = h;
		best_d = d;
	}
	return best;
}
