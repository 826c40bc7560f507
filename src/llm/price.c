/*
 * price.c — what a model's tokens cost (REFERENCE.md prices, USD per
 * million tokens). A model missing from the table has an unknown cost,
 * never a cost of 0: a budget must not believe an unpriced model is free.
 */
#include "hypotop/llm.h"

#include <string.h>

static const struct llm_price prices[] = {
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

const struct llm_price *llm_price_find(const char *model)
{
	for (size_t i = 0; model && i < ARRAY_LEN(prices); i++) {
		size_t n = strlen(prices[i].model);
		if (!strncmp(model, prices[i].model, n) && (!model[n] || dated_suffix(model + n)))
			return &prices[i];
	}
	return NULL;
}

bool llm_cost(const char *model, const struct llm_usage *u, double *usd)
{
	const struct llm_price *p = llm_price_find(model);

	*usd = 0;
	if (!p)
		return false;
	*usd = ((double)u->input * p->input + (double)u->cache_write * p->cache_write +
		(double)u->cache_read * p->cache_read + (double)u->output * p->output) /
	       1e6;
	return true;
}
