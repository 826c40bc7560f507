/*
 * params.c — see params.h.
 *
 * params_parse() turns a file into entries: each setting's name, line and
 * the byte range of its value token. Reading turns the entries into a
 * cJSON object; writing copies the text and swaps only the value tokens
 * it has to, so every other byte — comments, spacing, order, line endings
 * — survives and a commit's diff shows only the change.
 */
#include "hypotop/params.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypotop/json.h"
#include "hypotop/params_int.h"

/* Where params_write puts JSON members the file lacks. */
struct json_shape {
	size_t ins_off;
	char *lead0, *lead; /* before the first new member, before later ones */
	char *sep1, *sep2;  /* around the ':' */
};

enum params_format params_format_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');

	if (!dot)
		return PARAMS_UNKNOWN;
	if (!strcasecmp(dot, ".json"))
		return PARAMS_JSON;
	if (!strcasecmp(dot, ".yaml") || !strcasecmp(dot, ".yml"))
		return PARAMS_YAML;
	if (!strcasecmp(dot, ".py"))
		return PARAMS_PYTHON;
	return PARAMS_UNKNOWN;
}

/* ---- JSON layout ---- */

static bool json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Start of the key (its opening quote) of the member whose value starts at voff. */
static size_t json_key_start(const char *t, size_t voff, size_t *key_end, size_t *colon)
{
	size_t i = voff;

	while (i > 0 && json_ws(t[i - 1]))
		i--;
	*colon = --i;
	while (i > 0 && json_ws(t[i - 1]))
		i--;
	*key_end = i--; /* t[i] is the closing quote */
	while (i > 0) {
		i--;
		if (t[i] != '"')
			continue;
		size_t bs = 0;
		while (bs < i && t[i - 1 - bs] == '\\')
			bs++;
		if (bs % 2 == 0)
			break;
	}
	return i;
}

/* How the file lays out its members, so new ones look like their neighbours. */
static void json_shape_find(const char *t, const struct params_entries *es, struct json_shape *sh)
{
	if (!es->len) {
		size_t open = 0;
		while (json_ws(t[open]))
			open++;
		size_t close = open + 1;
		while (json_ws(t[close]))
			close++;
		bool nl = memchr(t + open, '\n', close - open) != NULL;
		sh->ins_off = open + 1;
		sh->lead0 = xstrdup(nl ? "\n  " : "");
		sh->lead = xstrdup(nl ? ",\n  " : ", ");
		sh->sep1 = xstrdup("");
		sh->sep2 = xstrdup(" ");
		return;
	}
	const struct params_entry *last = &es->v[es->len - 1];
	size_t ke, colon, ks = json_key_start(t, last->vstart, &ke, &colon);
	size_t p = ks;
	while (p > 0 && json_ws(t[p - 1]))
		p--;
	struct buf b;
	buf_init(&b);
	buf_addc(&b, ',');
	if (es->len == 1 && !memchr(t + p, '\n', ks - p))
		buf_addc(&b, ' '); /* {"a": 1} gets ", " rather than "," */
	else
		buf_add(&b, t + p, ks - p);
	sh->ins_off = last->vend;
	sh->lead0 = xstrdup(b.data);
	sh->lead = buf_steal(&b);
	sh->sep1 = xstrndup(t + ke, colon - ke);
	sh->sep2 = xstrndup(t + colon + 1, last->vstart - colon - 1);
}

static void json_shape_free(struct json_shape *sh)
{
	free(sh->lead0);
	free(sh->lead);
	free(sh->sep1);
	free(sh->sep2);
}

int params_read(const char *path, const char *text, cJSON **out, struct err *e)
{
	struct params_entries es = {0};

	*out = NULL;
	if (params_parse(params_format_of(path), path, text, &es, e) < 0) {
		params_entries_free(&es);
		return -1;
	}
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < es.len; i++) {
		const struct params_entry *en = &es.v[i];
		cJSON *v = en->kind == PARAM_NUM    ? cJSON_CreateNumber(en->num)
			   : en->kind == PARAM_BOOL ? cJSON_CreateBool(en->b)
			   : en->kind == PARAM_STR  ? cJSON_CreateString(en->str)
						    : NULL;
		if (!v)
			continue;
		/* A name given twice: the last one wins, as loaders do. */
		if (cJSON_GetObjectItemCaseSensitive(o, en->name))
			cJSON_ReplaceItemInObjectCaseSensitive(o, en->name, v);
		else
			cJSON_AddItemToObject(o, en->name, v);
	}
	params_entries_free(&es);
	*out = o;
	return 0;
}

/* ---- writing ---- */

/* True when s, written bare, reads back as the same string in YAML 1.1 and 1.2. */
static bool yaml_plain_ok(const char *s)
{
	size_t n = strlen(s);

	/* Indicators, and anything that may be a number, date or time: 1e3, 0x1f, 1:30. */
	if (!n || strchr("-?:,[]{}#&*!|>'\"%@` \t.+0123456789", s[0]) || s[n - 1] == ' ' ||
	    s[n - 1] == '\t' || s[n - 1] == ':')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return !strstr(s, ": ") && !strstr(s, ":\t") && !strstr(s, " #") && !strstr(s, "\t#") &&
	       !params_yaml_word(s);
}

/* s as a quoted string with escapes; q is '"' or '\'' (Python or YAML). */
static void quoted_add(struct buf *b, const char *s, char q, bool yaml)
{
	bool ctl = false;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		ctl |= *p < 0x20 || *p == 0x7f;
	if (yaml && q == '\'' && !ctl) { /* YAML single quotes escape only by doubling */
		buf_addc(b, '\'');
		for (const char *p = s; *p; p++) {
			if (*p == '\'')
				buf_addc(b, '\'');
			buf_addc(b, *p);
		}
		buf_addc(b, '\'');
		return;
	}
	if (yaml)
		q = '"';
	buf_addc(b, q);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\' || *p == (unsigned char)q)
			buf_addc(b, '\\'), buf_addc(b, (char)*p);
		else if (*p == '\n')
			buf_adds(b, "\\n");
		else if (*p == '\t')
			buf_adds(b, "\\t");
		else if (*p == '\r')
			buf_adds(b, "\\r");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\x%02x", *p);
		else
			buf_addc(b, (char)*p);
	}
	buf_addc(b, q);
}

/* The new token for a setting (old: its entry, or NULL when added); NULL to keep it. */
static char *value_format(enum params_format f, const struct params_entry *old, const cJSON *v)
{
	static const char *const bools[3][2] = {
		{"false", "true"}, {"False", "True"}, {"FALSE", "TRUE"}};
	struct buf b;

	buf_init(&b);
	if (cJSON_IsBool(v)) {
		bool t = cJSON_IsTrue(v);
		if (old && old->kind == PARAM_BOOL && old->b == t)
			return NULL;
		int style = f == PARAMS_PYTHON					 ? 1
			    : f == PARAMS_YAML && old && old->kind == PARAM_BOOL ? old->bool_style
										 : 0;
		buf_adds(&b, bools[style][t]);
	} else if (cJSON_IsNumber(v)) {
		char tmp[64];
		if (old && old->kind == PARAM_NUM && old->num == v->valuedouble)
			return NULL;
		params_num_format(v->valuedouble, old && old->kind == PARAM_NUM && old->is_float,
				  f == PARAMS_YAML, tmp);
		buf_adds(&b, tmp);
	} else {
		const char *s = v->valuestring;
		char q = old && old->kind == PARAM_STR ? old->quote : 0;
		if (old && old->kind == PARAM_STR && !strcmp(old->str, s))
			return NULL;
		if (f == PARAMS_JSON)
			json_append_str(&b, s);
		else if (f == PARAMS_YAML && !q && yaml_plain_ok(s))
			buf_adds(&b, s);
		else
			quoted_add(&b, s, q ? q : '"', f == PARAMS_YAML);
	}
	return buf_steal(&b);
}

static bool value_ok(const cJSON *v)
{
	return cJSON_IsBool(v) || cJSON_IsString(v) ||
	       (cJSON_IsNumber(v) && isfinite(v->valuedouble));
}

/* The file's settings, for an error about a name it lacks. */
static void unknown_name(const char *path, const char *name, const struct params_entries *es,
			 enum params_format f, struct err *e)
{
	struct buf names, hint;
	size_t shown = 0;
	struct nearest near;

	buf_init(&names);
	buf_init(&hint);
	nearest_init(&near, name);
	for (size_t i = 0; i < es->len; i++) {
		nearest_offer(&near, es->v[i].name);
		if (shown < 12)
			buf_printf(&names, "%s%s", shown++ ? ", " : "", es->v[i].name);
		else if (shown++ == 12)
			buf_adds(&names, ", ...");
	}
	if (near.best && near.d <= 2)
		buf_printf(&hint, " (did you mean '%s'?)", near.best);
	err_set(e,
		"%s: no setting named '%s'%s; the file has %s; add a line '%s%s' to it or "
		"use one of its names",
		path, name, hint.data ? hint.data : "", names.data ? names.data : "none", name,
		f == PARAMS_YAML ? ": VALUE" : " = VALUE");
	buf_free(&names);
	buf_free(&hint);
}

/* The text with each entry's replacement, and `ins` added at ins_off. */
static char *text_rebuild(const char *text, const struct params_entries *es, size_t ins_off,
			  const char *ins)
{
	struct buf b;
	size_t pos = 0;

	buf_init(&b);
	for (size_t i = 0; i < es->len; i++) {
		const struct params_entry *en = &es->v[i];
		if (!en->repl)
			continue;
		buf_add(&b, text + pos, en->vstart - pos);
		buf_adds(&b, en->repl);
		pos = en->vend;
	}
	if (ins && *ins) {
		buf_add(&b, text + pos, ins_off - pos);
		buf_adds(&b, ins);
		pos = ins_off;
	}
	buf_adds(&b, text + pos);
	return buf_steal(&b);
}

/* Later duplicates in `values` win, as in a JSON loader. */
static bool superseded(const cJSON *v)
{
	for (const cJSON *w = v->next; w; w = w->next)
		if (!strcmp(w->string, v->string))
			return true;
	return false;
}

int params_write(const char *path, const char *text, const cJSON *values, char **out, struct err *e)
{
	enum params_format f = params_format_of(path);
	struct params_entries es = {0};
	struct json_shape sh = {0};
	struct buf ins;
	int rc = -1;

	*out = NULL;
	buf_init(&ins);
	if (!cJSON_IsObject(values)) {
		err_set(e, "%s: the new settings must be a JSON object {\"name\": value}", path);
		return -1;
	}
	if (params_parse(f, path, text, &es, e) < 0)
		goto done;
	if (f == PARAMS_JSON)
		json_shape_find(text, &es, &sh);
	for (const cJSON *v = values->child; v; v = v->next) {
		if (!value_ok(v)) {
			err_set(e,
				"%s: %s: a setting must be a finite number, a string or true/false",
				path, v->string);
			goto done;
		}
		if (superseded(v))
			continue;
		bool found = false;
		for (size_t i = 0; i < es.len; i++) {
			struct params_entry *en = &es.v[i];
			if (strcmp(en->name, v->string))
				continue;
			found = true;
			free(en->repl);
			en->repl = value_format(f, en, v);
		}
		if (found)
			continue;
		if (f != PARAMS_JSON) {
			unknown_name(path, v->string, &es, f, e);
			goto done;
		}
		char *val = value_format(f, NULL, v);
		buf_adds(&ins, ins.len ? sh.lead : sh.lead0);
		json_append_str(&ins, v->string);
		buf_printf(&ins, "%s:%s%s", sh.sep1, sh.sep2, val);
		free(val);
	}
	*out = text_rebuild(text, &es, sh.ins_off, ins.data);
	rc = 0;
done:
	params_entries_free(&es);
	json_shape_free(&sh);
	buf_free(&ins);
	return rc;
}

const cJSON *params_dist(const cJSON *spec)
{
	const cJSON *r = cJSON_IsObject(spec) ? spec->child : NULL;

	while (r && !strcmp(r->string, "default"))
		r = r->next;
	return r;
}
