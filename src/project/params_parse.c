/*
 * params_parse.c — see params_int.h: the syntax of the three param file
 * formats, and numbers written the way each reads them back.
 */
#include "hypotop/params_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"

void params_num_format(double v, bool keep_float, bool yaml, char out[64])
{
	if (v == 0)
		v = 0; /* no "-0" */
	if (v == trunc(v) && fabs(v) < 1e17) {
		snprintf_c(out, 64, "%.*f", keep_float ? 1 : 0, v);
		return;
	}
	num_shortest(v, out);
	/* PyYAML reads "1e-05" as a string; "1.0e-05" is a float everywhere. */
	char *x = strchr(out, 'e');
	if (yaml && x && !strchr(out, '.')) {
		memmove(x + 2, x, strlen(x) + 1);
		memcpy(x, ".0", 2);
	}
}

/*
 * The value of a token num_scan accepted with NUM_GROUPS (underscores
 * between digits, as Python and YAML 1.1 allow); false when it overflows.
 */
static bool num_value(const char *p, size_t n, double *out)
{
	char *s = xmalloc(n + 1);
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] != '_')
			s[k++] = p[i];
	s[k] = '\0';
	*out = strtod_c(s, NULL);
	free(s);
	return isfinite(*out);
}

/* The whole of p[0..n) is a number. */
static bool num_whole(const char *p, size_t n, double *out, bool *is_float)
{
	return n && num_scan(p, n, NUM_GROUPS, is_float) == n && num_value(p, n, out);
}

static void utf8_put(struct buf *b, unsigned long cp)
{
	if (cp < 0x80) {
		buf_addc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_addc(b, (char)(0xc0 | (cp >> 6)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		buf_addc(b, (char)(0xe0 | (cp >> 12)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		buf_addc(b, (char)(0xf0 | (cp >> 18)));
		buf_addc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		buf_addc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		buf_addc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

enum qflavor { Q_YAML, Q_PY };

/* The code point a one-letter escape stands for, or -1. */
static long esc_simple(char c, enum qflavor fl)
{
	switch (c) {
	case '\\': return '\\';
	case '"': return '"';
	case '\'': return fl == Q_PY ? '\'' : -1;
	case 'a': return '\a';
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'v': return '\v';
	case '/': return fl == Q_YAML ? '/' : -1;
	case 'e': return fl == Q_YAML ? 033 : -1;
	case ' ': return fl == Q_YAML ? ' ' : -1;
	case '\t': return fl == Q_YAML ? '\t' : -1;
	case 'N': return fl == Q_YAML ? 0x85 : -1;
	case '_': return fl == Q_YAML ? 0xa0 : -1;
	case 'L': return fl == Q_YAML ? 0x2028 : -1;
	case 'P': return fl == Q_YAML ? 0x2029 : -1;
	}
	return -1;
}

/*
 * The quoted string starting at p[0] (its quote) within p[0..n): returns
 * its length including both quotes, with *out the decoded text (caller
 * frees); 0 when it does not end on this line, or (with *why) when it
 * holds an escape that a C string cannot keep or the format does not know.
 */
static size_t quoted_decode(const char *p, size_t n, enum qflavor fl, char **out, const char **why)
{
	char q = p[0];
	bool raw = fl == Q_YAML && q == '\''; /* YAML single quotes: only '' */
	struct buf b;
	size_t i;

	*out = NULL;
	*why = NULL;
	buf_init(&b);
	for (i = 1; i < n; i++) {
		char c = p[i];
		if (c == q) {
			if (raw && i + 1 < n && p[i + 1] == '\'') {
				buf_addc(&b, '\'');
				i++;
				continue;
			}
			*out = buf_steal(&b);
			return i + 1;
		}
		if (c != '\\' || raw) {
			buf_addc(&b, c);
			continue;
		}
		if (++i >= n)
			break;
		c = p[i];
		long cp = esc_simple(c, fl);
		int hex = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
		if (hex) {
			cp = 0;
			for (int k = 1; k <= hex; k++) {
				char d = i + (size_t)k < n ? p[i + (size_t)k] : 0;
				if (!isxdigit((unsigned char)d)) {
					*why = "a bad \\x, \\u or \\U escape";
					goto fail;
				}
				cp = cp * 16 + (isdigit((unsigned char)d)
							? d - '0'
							: tolower((unsigned char)d) - 'a' + 10);
			}
			i += (size_t)hex;
		} else if (cp < 0 && fl == Q_PY && !(c >= '0' && c <= '7') && c != 'N') {
			buf_addc(&b, '\\'); /* Python keeps an unknown escape as written */
			buf_addc(&b, c);
			continue;
		} else if (cp < 0) {
			*why = c == '0' || (c >= '1' && c <= '7') ? "an octal or NUL escape"
								  : "an unknown escape";
			goto fail;
		}
		if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
			*why = "an escape that is NUL or not a character";
			goto fail;
		}
		utf8_put(&b, (unsigned long)cp);
	}
fail:
	buf_free(&b);
	return 0;
}

static void entries_add(struct params_entries *es, const struct params_entry *en)
{
	if (es->len == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 16;
		es->v = xrealloc(es->v, es->cap * sizeof *es->v);
	}
	es->v[es->len++] = *en;
}

static void entry_free(struct params_entry *en)
{
	free(en->name);
	free(en->str);
	free(en->repl);
}

void params_entries_free(struct params_entries *es)
{
	for (size_t i = 0; i < es->len; i++)
		entry_free(&es->v[i]);
	free(es->v);
	es->v = NULL;
	es->len = es->cap = 0;
}

/* ---- JSON ---- */

struct json_walk {
	struct params_entries *es;
	struct json_lines jl;
};

static int json_member(void *ctx, const char *key, const char *val, size_t vlen, size_t off,
		       struct err *e)
{
	struct json_walk *w = ctx;
	struct params_entry en = {0};

	(void)e;
	en.name = xstrdup(key);
	en.line = json_lines_at(&w->jl, off);
	en.vstart = off;
	en.vend = off + vlen;
	en.kind = PARAM_OTHER;
	cJSON *j = val[0] == '{' || val[0] == '[' ? NULL : cJSON_ParseWithLength(val, vlen);
	if (cJSON_IsNumber(j) && isfinite(j->valuedouble)) {
		en.kind = PARAM_NUM;
		en.num = j->valuedouble;
		en.is_float =
			memchr(val, '.', vlen) || memchr(val, 'e', vlen) || memchr(val, 'E', vlen);
	} else if (cJSON_IsBool(j)) {
		en.kind = PARAM_BOOL;
		en.b = cJSON_IsTrue(j);
	} else if (cJSON_IsString(j)) {
		en.kind = PARAM_STR;
		en.quote = '"';
		en.str = xstrdup(j->valuestring);
	}
	cJSON_Delete(j);
	entries_add(w->es, &en);
	return 0;
}

static int json_entries(const char *path, const char *text, struct params_entries *es,
			struct err *e)
{
	size_t len = strlen(text);
	cJSON *doc = json_parse(text, len, path, e);
	struct json_walk w = {es, {0}};

	if (!doc)
		return -1;
	bool obj = cJSON_IsObject(doc);
	cJSON_Delete(doc);
	if (!obj) {
		err_set(e,
			"%s:1: the file must hold one JSON object of settings, "
			"{\"name\": value, ...}",
			path);
		return -1;
	}
	json_lines_init(&w.jl, text);
	return json_walk_object(text, len, path, json_member, &w, e);
}

/* ---- YAML ---- */

static bool word_in(const char *p, size_t n, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == n && !memcmp(p, *words, n))
			return true;
	return false;
}

static const char *const yaml_true[] = {"true", "True", "TRUE", NULL};
static const char *const yaml_false[] = {"false", "False", "FALSE", NULL};
/* Plain words a YAML loader does not read as a string or a finite number. */
static const char *const yaml_other[] = {"null",  "Null",  "NULL",  "~",     ".inf",  ".Inf",
					 ".INF",  "-.inf", "-.Inf", "-.INF", "+.inf", "+.Inf",
					 "+.INF", ".nan",  ".NaN",  ".NAN",  NULL};
/* Booleans to YAML 1.1 loaders (PyYAML): never written bare. */
static const char *const yaml_11_bools[] = {"y",  "Y",	 "yes", "Yes", "YES", "n",
					    "N",  "no",	 "No",	"NO",  "on",  "On",
					    "ON", "off", "Off", "OFF", NULL};

bool params_yaml_word(const char *s)
{
	size_t n = strlen(s);

	return word_in(s, n, yaml_true) || word_in(s, n, yaml_false) || word_in(s, n, yaml_other) ||
	       word_in(s, n, yaml_11_bools);
}

static int bool_style(const char *p)
{
	return isupper((unsigned char)p[0]) ? (isupper((unsigned char)p[1]) ? 2 : 1) : 0;
}

/* Classify a bare YAML value token. */
static void yaml_plain(const char *p, size_t n, struct params_entry *en)
{
	if (word_in(p, n, yaml_true) || word_in(p, n, yaml_false)) {
		en->kind = PARAM_BOOL;
		en->b = word_in(p, n, yaml_true);
		en->bool_style = bool_style(p);
	} else if (word_in(p, n, yaml_other)) {
		en->kind = PARAM_OTHER;
	} else if (num_whole(p, n, &en->num, &en->is_float)) {
		en->kind = PARAM_NUM;
	} else {
		en->kind = PARAM_STR;
		en->str = xstrndup(p, n);
	}
}

/*
 * One line of a YAML file: 1 with *en filled for a top-level `name: value`,
 * 0 for a line that holds no such setting, -1 on an error.
 */
static int yaml_line(const char *path, int line, const char *p, size_t n, size_t base,
		     struct params_entry *en, struct err *e)
{
	const char *why = NULL;
	size_t i = 0;

	if (!n || p[0] == '#' || p[0] == ' ' || p[0] == '\t' || p[0] == '-' || p[0] == '%' ||
	    (n >= 3 && !memcmp(p, "...", 3)))
		return 0; /* comments, nested lines, list items, document markers */
	if (strchr("[]{}?&*!|>@`,", p[0])) {
		err_set(e,
			"%s:%d: only flat 'name: value' lines are supported at the top level; "
			"rewrite this line as one",
			path, line);
		return -1;
	}
	if (p[0] == '"' || p[0] == '\'') {
		i = quoted_decode(p, n, Q_YAML, &en->name, &why);
		if (!i)
			goto bad_quote;
		while (i < n && (p[i] == ' ' || p[i] == '\t'))
			i++;
		if (i >= n || p[i] != ':' || (i + 1 < n && p[i + 1] != ' ' && p[i + 1] != '\t'))
			goto no_colon;
		i++;
	} else {
		for (; i < n; i++) {
			if (p[i] == ':' && (i + 1 == n || p[i + 1] == ' ' || p[i + 1] == '\t'))
				break;
			if (p[i] == '#' && (p[i - 1] == ' ' || p[i - 1] == '\t'))
				goto no_colon;
		}
		if (i >= n)
			goto no_colon;
		size_t k = i;
		while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
			k--;
		if (!k)
			goto no_colon;
		en->name = xstrndup(p, k);
		i++;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= n || p[i] == '#' || strchr("[{&*!|>", p[i]))
		return 0; /* nested below, a collection, an anchor, alias, tag or block text */
	en->line = line;
	en->vstart = base + i;
	if (p[i] == '"' || p[i] == '\'') {
		size_t q = quoted_decode(p + i, n - i, Q_YAML, &en->str, &why);
		if (!q)
			goto bad_quote;
		en->kind = PARAM_STR;
		en->quote = p[i];
		i += q;
		en->vend = base + i;
	} else {
		size_t s = i;
		while (i < n && !(p[i] == '#' && (p[i - 1] == ' ' || p[i - 1] == '\t')))
			i++;
		while (p[i - 1] == ' ' || p[i - 1] == '\t')
			i--;
		yaml_plain(p + s, i - s, en);
		en->vend = base + i;
	}
	size_t j = i;
	while (j < n && (p[j] == ' ' || p[j] == '\t'))
		j++;
	if (j < n && (p[j] != '#' || j == i)) {
		err_set(e,
			"%s:%d: unexpected text after the value of '%s'; put a comment after "
			"' #' or quote the whole value",
			path, line, en->name);
		return -1;
	}
	return 1;
bad_quote:
	err_set(e, "%s:%d: %s; close the quote on the same line%s", path, line,
		why ? why : "unterminated quoted string",
		why ? " and use only simple escapes" : " (multi-line strings are not supported)");
	return -1;
no_colon:
	err_set(e,
		"%s:%d: expected 'name: value' (a space after the ':'); fix the line or "
		"comment it out with '#'",
		path, line);
	return -1;
}

/* ---- Python constants ---- */

/* What carries over from one line of Python to the next. */
struct py_state {
	int depth; /* open brackets */
	char tq;   /* inside a triple-quoted string with this quote */
	bool cont; /* the line ended with a backslash */
};

static void py_advance(struct py_state *s, const char *p, size_t n)
{
	size_t i = 0;

	s->cont = false;
	while (i < n) {
		char c = p[i];
		if (s->tq) {
			if (c == '\\')
				i += 2;
			else if (c == s->tq && i + 2 < n && p[i + 1] == c && p[i + 2] == c)
				s->tq = 0, i += 3;
			else
				i++;
			continue;
		}
		if (c == '#')
			break;
		if (c == '"' || c == '\'') {
			if (i + 2 < n && p[i + 1] == c && p[i + 2] == c) {
				s->tq = c;
				i += 3;
				continue;
			}
			for (i++; i < n && p[i] != c; i++)
				if (p[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (c == '(' || c == '[' || c == '{')
			s->depth++;
		else if ((c == ')' || c == ']' || c == '}') && s->depth > 0)
			s->depth--;
		else if (c == '\\' && i + 1 == n)
			s->cont = true;
		i++;
	}
}

static bool py_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* One line of Python, as yaml_line(): `NAME = literal` or `NAME: type = literal`. */
static int py_line(const char *path, int line, const char *p, size_t n, size_t base,
		   struct params_entry *en, struct err *e)
{
	size_t i = 0;

	if (!n || !(isalpha((unsigned char)p[0]) || p[0] == '_'))
		return 0;
	while (i < n && py_ident(p[i]))
		i++;
	size_t name_len = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] == ':') { /* an annotation */
		while (i < n && p[i] != '=' && p[i] != '#')
			i++;
	}
	if (i >= n || p[i] != '=' || (i + 1 < n && p[i + 1] == '='))
		return 0;
	for (i++; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	if (i >= n)
		return 0;
	size_t s = i;
	if (p[i] == '"' || p[i] == '\'') {
		const char *why;
		if (i + 2 < n && p[i + 1] == p[i] && p[i + 2] == p[i])
			return 0; /* triple-quoted: not a one-line constant */
		size_t q = quoted_decode(p + i, n - i, Q_PY, &en->str, &why);
		if (!q) {
			if (!why) {
				err_set(e, "%s:%d: unterminated string; close the quote", path,
					line);
				return -1;
			}
			return 0;
		}
		en->kind = PARAM_STR;
		en->quote = p[i];
		i += q;
	} else if (py_ident(p[i]) && !isdigit((unsigned char)p[i])) {
		while (i < n && py_ident(p[i]))
			i++;
		if (i - s == 4 && !memcmp(p + s, "True", 4))
			en->kind = PARAM_BOOL, en->b = true, en->bool_style = 1;
		else if (i - s == 5 && !memcmp(p + s, "False", 5))
			en->kind = PARAM_BOOL, en->bool_style = 1;
		else if (i - s == 4 && !memcmp(p + s, "None", 4))
			en->kind = PARAM_OTHER;
		else
			return 0; /* another name: an expression, not a setting */
	} else {
		size_t k = num_scan(p + i, n - i, NUM_GROUPS, &en->is_float);
		if (!k || !num_value(p + i, k, &en->num))
			return 0;
		en->kind = PARAM_NUM;
		i += k;
	}
	size_t vend = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] != '#') {
		free(en->str);
		en->str = NULL;
		return 0; /* `X = 1 + 2`, `X = "a" if y else "b"`: not a constant */
	}
	en->name = xstrndup(p, name_len);
	en->line = line;
	en->vstart = base + s;
	en->vend = base + vend;
	return 1;
}

/* ---- both line formats ---- */

static int lines_entries(enum params_format f, const char *path, const char *text,
			 struct params_entries *es, struct err *e)
{
	struct py_state ps = {0};
	size_t i = 0;

	for (int line = 1;; line++) {
		size_t eol = i + strcspn(text + i, "\n");
		size_t n = eol - i;
		if (n && text[i + n - 1] == '\r')
			n--; /* CRLF files: the '\r' stays in the output untouched */
		struct params_entry en = {0};
		int rc = 0;
		if (f == PARAMS_YAML)
			rc = yaml_line(path, line, text + i, n, i, &en, e);
		else if (!ps.depth && !ps.tq && !ps.cont)
			rc = py_line(path, line, text + i, n, i, &en, e);
		if (f == PARAMS_PYTHON)
			py_advance(&ps, text + i, n);
		if (rc < 0) {
			entry_free(&en);
			return -1;
		}
		if (rc > 0)
			entries_add(es, &en);
		else
			entry_free(&en);
		if (!text[eol])
			return 0;
		i = eol + 1;
	}
}

int params_parse(enum params_format f, const char *path, const char *text,
		 struct params_entries *es, struct err *e)
{
	switch (f) {
	case PARAMS_JSON: return json_entries(path, text, es, e);
	case PARAMS_YAML:
	case PARAMS_PYTHON: return lines_entries(f, path, text, es, e);
	case PARAMS_UNKNOWN: break;
	}
	err_set(e,
		"%s: unknown param file type; name it *.json, *.yaml, *.yml or *.py "
		"(JSON, YAML or Python constants)",
		path);
	return -1;
}
