/* launch.c — see launch.h. */
#include "hypotop/launch.h"

#include <stdlib.h>
#include <string.h>

/* What one pass over a template meets, in order. */
struct piece {
	const char *p;
	size_t n;
	bool name; /* p[0..n) is a param's name, else literal text */
};

static bool name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool name_char(char c)
{
	return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/*
 * The piece at *at, moving *at past it; false at the end or on a bad
 * brace (e set, with the column).
 */
static bool piece_next(const char *t, size_t *at, struct piece *pc, const char *what,
		       struct err *e)
{
	size_t i = *at;

	if (!t[i])
		return false;
	pc->name = false;
	pc->p = t + i;
	if (t[i] == '$' && t[i + 1] == '{') {
		const char *close = strchr(t + i, '}');
		pc->n = close ? (size_t)(close - (t + i)) + 1 : strlen(t + i);
	} else if ((t[i] == '{' && t[i + 1] == '{') || (t[i] == '}' && t[i + 1] == '}')) {
		pc->n = 1;
		*at = i + 2;
		return true;
	} else if (t[i] == '{') {
		size_t k = i + 1;
		while (name_char(t[k]))
			k++;
		if (t[k] != '}' || !name_start(t[i + 1])) {
			err_set(e, "%s: column %zu: a '{' that opens no {NAME}; write {{ for a literal "
				   "brace, or {NAME} with a param of search_space.params",
				what, i + 1);
			return false;
		}
		pc->name = true;
		pc->p = t + i + 1;
		pc->n = k - i - 1;
		*at = k + 1;
		return true;
	} else if (t[i] == '}') {
		err_set(e, "%s: column %zu: a '}' that closes no {NAME}; write }} for a literal "
			   "brace",
			what, i + 1);
		return false;
	} else {
		pc->n = strcspn(t + i, "${}");
		if (!pc->n)
			pc->n = 1; /* a '$' that starts no ${ */
	}
	*at = i + pc->n;
	return true;
}

int launch_check(const char *tmpl, const cJSON *params, const char *what, struct err *e)
{
	struct piece pc;
	size_t at = 0;

	e->msg[0] = '\0';
	while (piece_next(tmpl, &at, &pc, what, e)) {
		if (!pc.name)
			continue;
		char *name = xstrndup(pc.p, pc.n);
		bool known = cJSON_GetObjectItemCaseSensitive(params, name) != NULL;
		if (!known)
			err_set(e, "%s: {%s} is not a param of search_space.params; add \"%s\" there, "
				   "or write {{%s}} for the text {%s}",
				what, name, name, name, name);
		free(name);
		if (!known)
			return -1;
	}
	return e->msg[0] ? -1 : 0;
}

bool launch_uses(const char *tmpl, const char *name)
{
	struct piece pc;
	size_t at = 0, n = strlen(name);
	struct err e;

	while (tmpl && piece_next(tmpl, &at, &pc, "launch", &e))
		if (pc.name && pc.n == n && !memcmp(pc.p, name, n))
			return true;
	return false;
}

/* Characters the shell takes as they are, in a word of their own. */
static bool word_safe(const char *s)
{
	return *s && !s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				  "_.,:/@%+=-")];
}

void launch_word(struct buf *b, const cJSON *v)
{
	char num[40];

	if (cJSON_IsNumber(v)) {
		num_shortest(v->valuedouble, num);
		buf_adds(b, num);
	} else if (cJSON_IsBool(v)) {
		buf_adds(b, cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsString(v) && word_safe(v->valuestring)) {
		buf_adds(b, v->valuestring);
	} else if (cJSON_IsString(v)) {
		sh_quote(b, v->valuestring);
	} else {
		char *text = cJSON_PrintUnformatted(v);
		sh_quote(b, text ? text : "");
		cJSON_free(text);
	}
}

int launch_expand(const char *tmpl, const cJSON *values, char **out, struct err *e)
{
	struct piece pc;
	struct buf b;
	size_t at = 0;

	*out = NULL;
	e->msg[0] = '\0';
	buf_init(&b);
	while (piece_next(tmpl, &at, &pc, "launch", e)) {
		if (!pc.name) {
			buf_add(&b, pc.p, pc.n);
			continue;
		}
		char *name = xstrndup(pc.p, pc.n);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(values, name);
		if (!v)
			err_set(e, "launch: {%s} has no value: give search_space.params.%s a "
				   "\"default\" (the baseline's value)",
				name, name);
		else
			launch_word(&b, v);
		free(name);
		if (!v)
			break;
	}
	if (e->msg[0]) {
		buf_free(&b);
		return -1;
	}
	*out = buf_steal(&b);
	return 0;
}
