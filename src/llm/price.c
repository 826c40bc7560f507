/*
 * price.c — what a model's tokens cost, in USD per million tokens: the
 * config's llm.prices first, then the built-in table (REFERENCE.md). A
 * model missing from both has an unknown cost, never a cost of 0: a budget
 * must not believe an unpriced model is free.
 */
#include "hypotop/llm.h"

#include <string.h>

static const struct llm_price table[] = {
	/* model               input  cache write  cache read  output */
	{"claude-opus-5-5", 4, 5, 0.20, 20},
	{"claude-sonnet-5-5", 2, 2.50, 0.10, 10},
	{"claude-haiku-5-5", 0.10, 0.125, 0.01, 0.50},
	{"claude-opus-4-8", 5, 6.25, 0.50, 25},
};

/* "-20260901" or "-latest" after a table name: the same model, dated. */
static bool dated_suffix(const char *s)
{
	if (*s != '-')
		return false;
	s++;
	if (!strcmp(s, "latest"))
		return true;
	size_t n = strspn(s, "0123456789");
	return n >= 6 && !s[n];
}

/* model is name, or name and a dated suffix. */
static bool same_model(const char *model, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(model, name, n) && (!model[n] || dated_suffix(model + n));
}

/*
 * A price of the config's llm.prices (checked by config.c); missing cache
 * prices are the input's.
 */
static bool config_price(const cJSON *prices, const char *model, struct llm_price *out)
{
	for (const cJSON *m = prices ? prices->child : NULL; m; m = m->next) {
		if (!cJSON_IsObject(m) || !same_model(model, m->string))
			continue;
		const cJSON *in = cJSON_GetObjectItemCaseSensitive(m, "input");
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, "output");
		const cJSON *cr = cJSON_GetObjectItemCaseSensitive(m, "cache_read");
		const cJSON *cw = cJSON_GetObjectItemCaseSensitive(m, "cache_write");
		if (!cJSON_IsNumber(in) || !cJSON_IsNumber(o))
			continue;
		*out = (struct llm_price){m->string, in->valuedouble,
					  cJSON_IsNumber(cw) ? cw->valuedouble : in->valuedouble,
					  cJSON_IsNumber(cr) ? cr->valuedouble : in->valuedouble,
					  o->valuedouble};
		return true;
	}
	return false;
}

bool llm_price_find(const cJSON *prices, const char *model, struct llm_price *out)
{
	if (!model)
		return false;
	if (config_price(prices, model, out))
		return true;
	for (size_t i = 0; i < ARRAY_LEN(table); i++)
		if (same_model(model, table[i].model)) {
			*out = table[i];
			return true;
		}
	return false;
}

bool llm_cost(const cJSON *prices, const char *model, const struct llm_usage *u, double *usd)
{
	struct llm_price p;

	*usd = 0;
	if (!llm_price_find(prices, model, &p))
		return false;
	*usd = ((double)u->input * p.input + (double)u->cache_write * p.cache_write +
		(double)u->cache_read * p.cache_read + (double)u->output * p.output) /
	       1e6;
	return true;
}
