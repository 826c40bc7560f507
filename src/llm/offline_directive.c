/*
 * offline_directive.c — the person's guidance (directive.md) as the
 * offline planner follows it: fix, avoid and try lines (offline_int.h),
 * each naming a search_space parameter. A line it cannot read is named
 * with the reason, never silently dropped: a model planner reads the
 * whole file as text, the offline planner only these rules.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypotop/json.h"
#include "hypotop/offline_int.h"

#define QUOTE_MAX 60

enum cmp { C_LT, C_LE, C_GT, C_GE, C_EQ, C_NE };

struct avoid {
	char *name;
	enum cmp op;
	cJSON *value;
};

static const char grammar[] = "write fix NAME=VALUE, avoid NAME>VALUE (or <, <=, >=, =, "
			      "!=), try NAME LO..HI or try NAME A,B,C";

/* A value as written (json_value_read); NULL where none is. */
static cJSON *value_read(const char *s)
{
	return *s ? json_value_read(s) : NULL;
}

static struct sparam *param(struct steer *st, const char *name)
{
	for (size_t i = 0; i < st->view.n; i++)
		if (!strcmp(st->view.v[i].name, name))
			return &st->view.v[i];
	return NULL;
}

static void set_choices(struct sparam *sp, cJSON *choices)
{
	cJSON_Delete(sp->choices);
	sp->choices = choices;
	sp->nchoices = cJSON_GetArraySize(choices);
	sp->dist = D_CHOICE;
}

static bool numeric(const struct sparam *sp)
{
	return sp->dist != D_CHOICE;
}

/* "fix NAME=VALUE": the parameter becomes a choice of one. */
static const char *read_fix(struct steer *st, char *rest)
{
	char *eq = strchr(rest, '=');

	if (!eq)
		return "write fix NAME=VALUE";
	*eq = '\0';
	struct sparam *sp = param(st, str_trim(rest));
	if (!sp)
		return NULL;
	cJSON *v = value_read(str_trim(eq + 1));
	if (!v)
		return "the value is missing";
	if (numeric(sp) && !cJSON_IsNumber(v)) {
		cJSON_Delete(v);
		return "the parameter takes numbers";
	}
	cJSON *one = cJSON_CreateArray();
	cJSON_AddItemToArray(one, cJSON_Duplicate(v, true));
	set_choices(sp, one);
	cJSON_DeleteItemFromObjectCaseSensitive(st->fixed, sp->name);
	cJSON_AddItemToObject(st->fixed, sp->name, v);
	return "";
}

/* "avoid NAME OP VALUE". */
static const char *read_avoid(struct steer *st, char *rest)
{
	static const struct {
		const char *text;
		enum cmp op;
	} ops[] = {{"<=", C_LE}, {">=", C_GE}, {"!=", C_NE}, {"==", C_EQ},
		   {"<", C_LT},  {">", C_GT},  {"=", C_EQ}};
	char *at = rest + strcspn(rest, "<>=!");
	size_t k = 0;

	while (k < ARRAY_LEN(ops) && strncmp(at, ops[k].text, strlen(ops[k].text)))
		k++;
	if (!*at || k == ARRAY_LEN(ops))
		return "write avoid NAME>VALUE (or <, <=, >=, =, !=)";
	char *value = at + strlen(ops[k].text);
	*at = '\0';
	struct sparam *sp = param(st, str_trim(rest));
	if (!sp)
		return NULL;
	cJSON *v = value_read(str_trim(value));
	if (!v)
		return "the value is missing";
	if (ops[k].op != C_EQ && ops[k].op != C_NE && !cJSON_IsNumber(v)) {
		cJSON_Delete(v);
		return "<, <=, > and >= compare numbers";
	}
	st->avoid = xrealloc(st->avoid, (st->navoid + 1) * sizeof *st->avoid);
	st->avoid[st->navoid++] = (struct avoid){xstrdup(sp->name), ops[k].op, v};
	return "";
}

/* "try NAME LO..HI" narrows a range (or a choice's numbers); "try NAME A,B,C" lists values. */
static const char *read_try(struct steer *st, char *rest)
{
	size_t nl = strcspn(rest, " \t=");
	char *what = rest + nl + strspn(rest + nl, " \t=");

	rest[nl] = '\0';
	struct sparam *sp = param(st, rest);
	if (!sp)
		return NULL;
	char *dots = strstr(what, "..");
	if (dots) {
		*dots = '\0';
		cJSON *lo = value_read(str_trim(what)), *hi = value_read(str_trim(dots + 2));
		bool ok = cJSON_IsNumber(lo) && cJSON_IsNumber(hi) &&
			  lo->valuedouble <= hi->valuedouble;
		double a = ok ? lo->valuedouble : 0, b = ok ? hi->valuedouble : 0;
		cJSON_Delete(lo);
		cJSON_Delete(hi);
		if (!ok)
			return "write try NAME LO..HI with numbers, LO at most HI";
		if (numeric(sp)) {
			a = fmax(a, sp->lo);
			b = fmin(b, sp->hi);
			if (sp->dist == D_INT)
				a = ceil(a), b = floor(b);
			if (a > b)
				return "the range is outside the search_space's";
			sp->lo = a;
			sp->hi = b;
			return "";
		}
		cJSON *keep = cJSON_CreateArray();
		const cJSON *c;
		cJSON_ArrayForEach(c, sp->choices)
		if (cJSON_IsNumber(c) && c->valuedouble >= a && c->valuedouble <= b)
			cJSON_AddItemToArray(keep, cJSON_Duplicate(c, true));
		if (!keep->child) {
			cJSON_Delete(keep);
			return "none of the parameter's choices is in the range";
		}
		set_choices(sp, keep);
		return "";
	}
	cJSON *list = cJSON_CreateArray();
	for (char *tok = what, *end; tok && *tok; tok = end ? end + 1 : NULL) {
		end = strchr(tok, ',');
		if (end)
			*end = '\0';
		cJSON *v = value_read(str_trim(tok));
		bool fits = v && (numeric(sp) ? cJSON_IsNumber(v) && v->valuedouble >= sp->lo &&
							 v->valuedouble <= sp->hi
					      : false);
		for (const cJSON *c = numeric(sp) ? NULL : sp->choices->child; v && c && !fits;
		     c = c->next)
			fits = offline_value_equal(c, v);
		if (!fits) {
			cJSON_Delete(v);
			cJSON_Delete(list);
			return "write try NAME LO..HI, or try NAME A,B,C with values of the "
			       "search_space";
		}
		cJSON_AddItemToArray(list, v);
	}
	if (!list->child) {
		cJSON_Delete(list);
		return "write try NAME LO..HI or try NAME A,B,C";
	}
	set_choices(sp, list);
	return "";
}

/* The line as a message quotes it: short, and without control characters. */
static void quote(struct buf *b, const char *line)
{
	size_t n = strlen(line);

	buf_addc(b, '"');
	for (size_t i = 0; i < n && i < QUOTE_MAX; i++)
		buf_addc(b, iscntrl((unsigned char)line[i]) || line[i] == '"' ? '?' : line[i]);
	buf_adds(b, n > QUOTE_MAX ? "…\"" : "\"");
}

static void names(struct buf *b, const struct offline *o)
{
	for (size_t i = 0; i < o->n; i++)
		buf_printf(b, "%s%s", i ? ", " : "", o->v[i].name);
}

void steer_read(struct steer *st, const struct offline *o, const char *directive)
{
	static const struct {
		const char *word;
		const char *(*read)(struct steer *, char *);
	} rules[] = {{"fix", read_fix}, {"avoid", read_avoid}, {"try", read_try}};
	struct buf followed, unread;
	int lineno = 0;

	memset(st, 0, sizeof *st);
	st->fixed = cJSON_CreateObject();
	st->view.n = o->n;
	st->view.v = xcalloc(o->n ? o->n : 1, sizeof *st->view.v);
	for (size_t i = 0; i < o->n; i++) {
		st->view.v[i] = o->v[i];
		st->view.v[i].choices = cJSON_Duplicate(o->v[i].choices, true);
	}
	buf_init(&st->notes);
	buf_init(&followed);
	buf_init(&unread);
	for (const char *p = directive; p && *p;) {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len), *s = str_trim(line);
		lineno++;
		p += len + (p[len] == '\n');
		if (*s && strchr("-*+", *s) && (s[1] == ' ' || s[1] == '\t'))
			s = str_trim(s + 1);
		if (!*s || *s == '#') {
			free(line);
			continue;
		}
		char *quoted = xstrdup(s);
		size_t wl = strcspn(s, " \t");
		const char *why = grammar;
		for (size_t k = 0; k < ARRAY_LEN(rules); k++)
			if (strlen(rules[k].word) == wl && !strncasecmp(s, rules[k].word, wl)) {
				char *rest = str_trim(s + wl);
				char name[128];
				snprintf(name, sizeof name, "%.*s", (int)strcspn(rest, " \t<>=!"), rest);
				why = rules[k].read(st, rest);
				if (!why) {
					buf_printf(&unread, "; directive.md:%d: ", lineno);
					quote(&unread, quoted);
					buf_printf(&unread, " not read: %s is not a search_space parameter (",
						   name);
					names(&unread, o);
					buf_addc(&unread, ')');
				}
			}
		if (why && !*why) {
			buf_printf(&followed, "%s%d", followed.len ? ", " : "", lineno);
		} else if (why) {
			buf_printf(&unread, "; directive.md:%d: ", lineno);
			quote(&unread, quoted);
			buf_printf(&unread, " not read: %s", why);
		}
		free(quoted);
		free(line);
	}
	if (followed.len)
		buf_printf(&st->notes, "; directive.md: followed line%s %s",
			   strchr(followed.data, ',') ? "s" : "", followed.data);
	if (unread.len)
		buf_add(&st->notes, unread.data, unread.len);
	buf_free(&followed);
	buf_free(&unread);
}

static bool holds(const struct avoid *a, const cJSON *v)
{
	if (a->op == C_EQ || a->op == C_NE)
		return offline_value_equal(v, a->value) == (a->op == C_EQ);
	if (!cJSON_IsNumber(v))
		return false;
	double x = v->valuedouble, y = a->value->valuedouble;
	return a->op == C_LT ? x < y : a->op == C_LE ? x <= y : a->op == C_GT ? x > y : x >= y;
}

bool steer_allows(const struct steer *st, const cJSON *full)
{
	for (size_t i = 0; i < st->navoid; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(full, st->avoid[i].name);
		if (v && holds(&st->avoid[i], v))
			return false;
	}
	return true;
}

void steer_free(struct steer *st)
{
	for (size_t i = 0; i < st->view.n; i++)
		cJSON_Delete(st->view.v[i].choices);
	free(st->view.v);
	for (size_t i = 0; i < st->navoid; i++) {
		free(st->avoid[i].name);
		cJSON_Delete(st->avoid[i].value);
	}
	free(st->avoid);
	cJSON_Delete(st->fixed);
	buf_free(&st->notes);
	memset(st, 0, sizeof *st);
}
