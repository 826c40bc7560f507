/*
 * metrics.c — see metrics.h.
 *
 * A log line is cut at '\r' into the segments a terminal would show (a
 * progress bar redraws itself with '\r' and no newline); each segment has
 * its ANSI escapes dropped and NUL bytes turned into spaces, then is read
 * twice: once for the progress counter, once for the values, so that a
 * value gets the step of its own line whatever the order of the names.
 */
#include "hypotop/metrics.h"

#include <inttypes.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"

/*
 * Only the first SCAN_MAX bytes of a segment are looked at: metrics sit
 * in short lines, and a megabyte of one line is noise that must not cost
 * time or memory.
 */
#define SCAN_MAX 65536
#define NAME_MAX_LEN 128
#define NUM_MAX_LEN 128
#define RNG_SEED 0x9e3779b97f4a7c15ull

/* Progress counters, most preferred first. */
static const char *const counters[] = {"step", "iter", "iteration", "epoch"};
#define NO_COUNTER ((int)ARRAY_LEN(counters))

struct pattern {
	char *name;
	regex_t re;
	bool hit; /* matched the current segment */
	double value;
};

/* What struct metrics calls `patterns`: everything private to this file. */
struct metrics_priv {
	struct pattern *pat;
	size_t npat;
	char *text; /* the cleaned segment, NUL-terminated for regexec */
	size_t text_cap;
	size_t series_cap;
	int counter;	     /* the counter in use, an index of counters[] */
	uint64_t by_pattern; /* series a pattern set in this segment: bit per index */
};

/* The best counter seen in a segment (first pass). */
struct counter_seen {
	int rank;
	double value;
};

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Characters of a NAME in NAME=VALUE. */
static bool is_name_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '/' || c == '-';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * Length of the value at p[0..n): a decimal number, or nan/inf/infinity
 * with an optional sign (any case: Python's json writes NaN and
 * Infinity); 0 when there is none.
 */
static size_t value_scan(const char *p, size_t n, double *v)
{
	bool is_float;
	size_t i = num_scan(p, n, NUM_WORDS, &is_float);
	size_t sign = i && (p[0] == '+' || p[0] == '-');

	if (i && is_alpha(p[sign])) {
		bool nan = p[sign] == 'n' || p[sign] == 'N';
		*v = nan ? NAN : p[0] == '-' ? -INFINITY : INFINITY;
		return i;
	}
	if (!i || i > NUM_MAX_LEN)
		return 0; /* a wall of digits is not a metric */
	char tmp[NUM_MAX_LEN + 1];
	memcpy(tmp, p, i);
	tmp[i] = '\0';
	*v = strtod_c(tmp, NULL); /* overflow gives ±inf: counted as non-finite */
	return i;
}

static int counter_rank(const char *name, size_t n)
{
	for (int r = 0; r < NO_COUNTER; r++)
		if (strlen(counters[r]) == n && !memcmp(name, counters[r], n))
			return r;
	return NO_COUNTER;
}

/* ---- series ---- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull; /* xorshift64*: good low bits for % */
}

static struct series *series_find(const struct metrics *m, const char *name, size_t n, size_t *idx)
{
	for (size_t i = 0; i < m->len; i++) {
		if (!strncmp(m->v[i].name, name, n) && !m->v[i].name[n]) {
			*idx = i;
			return &m->v[i];
		}
	}
	return NULL;
}

static struct series *series_get(struct metrics *m, const char *name, size_t n, size_t *idx)
{
	struct metrics_priv *pv = m->patterns;
	struct series *s = series_find(m, name, n, idx);

	if (s || !n || n > NAME_MAX_LEN || m->len >= METRICS_MAX_SERIES)
		return s;
	if (m->len == pv->series_cap) {
		pv->series_cap = pv->series_cap ? pv->series_cap * 2 : 4;
		m->v = xrealloc(m->v, pv->series_cap * sizeof *m->v);
	}
	*idx = m->len;
	s = &m->v[m->len++];
	memset(s, 0, sizeof *s);
	s->name = xstrndup(name, n);
	s->min = s->max = s->mean = s->last = s->first = NAN;
	return s;
}

static void series_push(struct metrics *m, struct series *s, double v)
{
	struct metric_point pt = {m->step, v};

	if (!isfinite(v)) {
		s->nonfinite++;
		return;
	}
	s->count++;
	if (s->count == 1) {
		s->first = s->min = s->max = s->mean = v;
	} else {
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
		/* In this order no term overflows, even between ±1e308. */
		s->mean = s->mean - s->mean / (double)s->count + v / (double)s->count;
	}
	s->last = v;
	if (s->ring_len < METRICS_RING) {
		s->ring[(s->ring_head + s->ring_len++) % METRICS_RING] = pt;
	} else {
		s->ring[s->ring_head] = pt;
		s->ring_head = (s->ring_head + 1) % METRICS_RING;
	}
	/* Algorithm R: the n-th point replaces a random slot with chance k/n. */
	if (s->reservoir_len < METRICS_RESERVOIR) {
		s->reservoir[s->reservoir_len++] = pt;
	} else {
		uint64_t j = rng_next(&m->rng) % s->count;
		if (j < METRICS_RESERVOIR)
			s->reservoir[j] = pt;
	}
}

/*
 * One NAME VALUE found in the segment. First pass (seen != NULL): note the
 * best progress counter. Second pass: store everything else.
 */
static void item_take(struct metrics *m, struct counter_seen *seen, const char *name, size_t n,
		      double v, bool from_pattern)
{
	struct metrics_priv *pv = m->patterns;
	int rank = counter_rank(name, n);
	size_t idx;

	if (seen) {
		if (rank < NO_COUNTER && isfinite(v) && rank <= seen->rank) {
			seen->rank = rank;
			seen->value = v;
		}
		return;
	}
	if (rank < NO_COUNTER)
		return;
	struct series *s = series_get(m, name, n, &idx);
	if (!s)
		return;
	if (from_pattern)
		pv->by_pattern |= 1ull << idx;
	else if (pv->by_pattern & (1ull << idx))
		return; /* the config's pattern for this name has the say */
	series_push(m, s, v);
}

/* ---- the three sources ---- */

/*
 * Whether the value at p[0..n) is a setting's, not a metric's: a quoted
 * string, or True/False/None/true/false/null. A program that echoes its
 * arguments (vars(args), Namespace(...), a config dict) prints these among
 * its numbers; a line of metrics does not.
 */
static bool setting_value(const char *p, size_t n)
{
	static const char *const words[] = {"True", "False", "None", "true", "false", "null"};

	if (n && (p[0] == '\'' || p[0] == '"'))
		return true;
	for (size_t k = 0; k < ARRAY_LEN(words); k++) {
		size_t w = strlen(words[k]);
		if (n >= w && !memcmp(p, words[k], w) && (n == w || !is_name_char(p[w])))
			return true;
	}
	return false;
}

/*
 * NAME=VALUE pairs anywhere in t[0..n), taken when `take`; returns
 * whether one of them has a setting's value, which makes the whole line
 * an echo of settings.
 */
static bool pairs_walk(struct metrics *m, struct counter_seen *seen, const char *t, size_t n,
		       bool take)
{
	size_t i = 0;

	while (i < n) {
		if (!is_name_char(t[i])) {
			i++;
			continue;
		}
		size_t run = i;
		while (i < n && is_name_char(t[i]))
			i++;
		if (i >= n || t[i] != '=')
			continue;
		/* "--lr=0.1", "./a/b=1": the name starts at the first letter. */
		size_t s = run;
		while (s < i && (t[s] == '.' || t[s] == '-' || t[s] == '/'))
			s++;
		if (s == i || !(is_alpha(t[s]) || t[s] == '_'))
			continue;
		if (setting_value(t + i + 1, n - i - 1))
			return true;
		double v;
		size_t k = value_scan(t + i + 1, n - i - 1, &v);
		size_t end = i + 1 + k;
		if (!k || (end < n && (is_alpha(t[end]) || is_digit(t[end]) || t[end] == '_' ||
				       t[end] == '.' || t[end] == '-' || t[end] == ':')))
			continue; /* "v=1.2.3", "t=12:30", "x=nano": not a value */
		if (take)
			item_take(m, seen, t + s, i - s, v, false);
		i = end;
	}
	return false;
}

/* End of the value at t[i]: the ',' or '}' after it at depth 0, or 0. */
static size_t value_skip(const char *t, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++) {
		char c = t[i];
		if (c == '"' || c == '\'') {
			for (i++; i < n && t[i] != c; i++)
				if (t[i] == '\\')
					i++;
			if (i >= n)
				return 0;
		} else if (c == '{' || c == '[' || c == '(') {
			depth++;
		} else if (c == '}' || c == ']' || c == ')') {
			if (!depth)
				return i;
			depth--;
		} else if (c == ',' && !depth) {
			return i;
		}
	}
	return 0;
}

/*
 * The numeric members of the one-level object at t[0] == '{': a JSON
 * object, or a Python dict as Hugging Face and Lightning print them;
 * taken when `take`. Returns whether the object is an echo of settings
 * rather than metrics: a member is true/false/null (True/False/None), or,
 * in a Python dict (quoted with '), a string.
 */
static bool object_walk(struct metrics *m, struct counter_seen *seen, const char *t, size_t n,
			bool take)
{
	size_t i = 1;

	for (;;) {
		while (i < n && is_space(t[i]))
			i++;
		if (i >= n || (t[i] != '"' && t[i] != '\''))
			return false;
		char q = t[i];
		size_t ks = ++i;
		bool plain = true; /* printable ASCII without escapes: usable as a name */
		for (; i < n && t[i] != q; i++) {
			if (t[i] == '\\')
				i++, plain = false;
			else if (t[i] < 0x20 || t[i] == 0x7f)
				plain = false;
		}
		if (i >= n)
			return false;
		size_t ke = i++;
		while (i < n && is_space(t[i]))
			i++;
		if (i >= n || t[i] != ':')
			return false;
		for (i++; i < n && is_space(t[i]); i++)
			;
		if (setting_value(t + i, n - i) && (q == '\'' || (t[i] != '"' && t[i] != '\'')))
			return true;
		double v;
		size_t k = value_scan(t + i, n - i, &v);
		if (k && (i + k >= n || t[i + k] == ',' || t[i + k] == '}' || is_space(t[i + k]))) {
			if (plain && take)
				item_take(m, seen, t + ks, ke - ks, v, false);
			i += k;
		} else if (!(i = value_skip(t, n, i))) {
			return false;
		}
		while (i < n && is_space(t[i]))
			i++;
		if (i >= n || t[i] != ',')
			return false;
		i++;
	}
}

/*
 * Offset of the '{' of an object that ends the segment — one whose '{'
 * opens a quoted name, after an optional log prefix — or n when there is
 * none.
 */
static size_t object_find(const char *t, size_t n)
{
	size_t e = n;

	while (e && is_space(t[e - 1]))
		e--;
	if (!e || t[e - 1] != '}')
		return n;
	for (const char *b = memchr(t, '{', e); b;
	     b = memchr(b + 1, '{', e - (size_t)(b + 1 - t))) {
		const char *c = b + 1;
		while (c < t + e && is_space(*c))
			c++;
		if (c < t + e && (*c == '"' || *c == '\''))
			return (size_t)(b - t);
	}
	return n;
}

static void patterns_match(struct metrics_priv *pv)
{
	for (size_t k = 0; k < pv->npat; k++) {
		struct pattern *p = &pv->pat[k];
		regmatch_t mt[2];
		p->hit = false;
		if (regexec(&p->re, pv->text, 2, mt, 0) || mt[1].rm_so < 0)
			continue;
		size_t so = (size_t)mt[1].rm_so, eo = (size_t)mt[1].rm_eo;
		while (so < eo && is_space(pv->text[so]))
			so++;
		p->hit = value_scan(pv->text + so, eo - so, &p->value) > 0;
	}
}

/* The segment into pv->text: ANSI escapes dropped, NUL bytes as spaces. */
static size_t text_clean(struct metrics_priv *pv, const char *p, size_t n)
{
	size_t o = 0;

	if (n + 1 > pv->text_cap) {
		pv->text_cap = n + 1;
		pv->text = xrealloc(pv->text, pv->text_cap);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == 0x1b) {
			if (i + 1 < n &&
			    p[i + 1] == '[') { /* CSI: parameters, then one final byte */
				for (i += 2; i < n && p[i] >= 0x20 && p[i] <= 0x3f; i++)
					;
			} else if (i + 1 < n && p[i + 1] == ']') { /* OSC: to BEL or ESC \ */
				for (i += 2; i < n && p[i] != 0x07 && p[i] != 0x1b; i++)
					;
				if (i + 1 < n && p[i] == 0x1b && p[i + 1] == '\\')
					i++;
			} else {
				i++; /* a two-byte escape */
			}
			continue;
		}
		pv->text[o++] = c ? (char)c : ' ';
	}
	pv->text[o] = '\0';
	return o;
}

static void segment_feed(struct metrics *m, const char *p, size_t n)
{
	struct metrics_priv *pv = m->patterns;
	struct counter_seen seen = {NO_COUNTER, NAN};

	n = text_clean(pv, p, n < SCAN_MAX ? n : SCAN_MAX);
	if (!n)
		return;
	const char *t = pv->text;
	size_t obj = object_find(t, n);
	/* Settings echoed by the program: only the config's patterns read them. */
	bool settings = pairs_walk(m, NULL, t, obj, false) ||
			(obj < n && object_walk(m, NULL, t + obj, n - obj, false));
	patterns_match(pv);
	for (int pass = 0; pass < 2; pass++) {
		struct counter_seen *sp = pass ? NULL : &seen;
		pv->by_pattern = 0;
		for (size_t k = 0; k < pv->npat; k++)
			if (pv->pat[k].hit)
				item_take(m, sp, pv->pat[k].name, strlen(pv->pat[k].name),
					  pv->pat[k].value, true);
		if (!settings)
			pairs_walk(m, sp, t, obj, true);
		if (!settings && obj < n)
			object_walk(m, sp, t + obj, n - obj, true);
		/* A better counter takes over; a worse one never moves the step back. */
		if (!pass && seen.rank <= pv->counter) {
			pv->counter = seen.rank;
			m->step = seen.value;
		}
	}
}

/* ---- the interface ---- */

int metrics_init(struct metrics *m, const cJSON *patterns, struct err *e)
{
	struct metrics_priv *pv = xcalloc(1, sizeof *pv);

	memset(m, 0, sizeof *m);
	m->step = NAN;
	m->rng = RNG_SEED;
	m->patterns = pv;
	pv->counter = NO_COUNTER;
	if (!patterns)
		return 0;
	if (!cJSON_IsObject(patterns)) {
		err_set(e, "metrics.patterns: must be an object of metric name -> regex");
		goto fail;
	}
	pv->pat = xcalloc((size_t)cJSON_GetArraySize(patterns) + 1, sizeof *pv->pat);
	for (const cJSON *c = patterns->child; c; c = c->next) {
		struct pattern *p = &pv->pat[pv->npat];
		if (!cJSON_IsString(c)) {
			err_set(e, "metrics.patterns.%s: must be a string holding a regex",
				c->string);
			goto fail;
		}
		int rc = regcomp(&p->re, c->valuestring, REG_EXTENDED);
		if (rc) {
			char msg[256];
			regerror(rc, &p->re, msg, sizeof msg);
			err_set(e,
				"metrics.patterns.%s: bad regex: %s; fix it (POSIX ERE)",
				c->string, msg);
			goto fail;
		}
		if (p->re.re_nsub < 1) {
			regfree(&p->re);
			err_set(e,
				"metrics.patterns.%s: bad regex: no group around the value; "
				"write it like \"acc: ([0-9.]+)\"",
				c->string);
			goto fail;
		}
		p->name = xstrdup(c->string);
		pv->npat++;
	}
	m->npatterns = pv->npat;
	return 0;
fail:
	metrics_free(m);
	return -1;
}

void metrics_free(struct metrics *m)
{
	struct metrics_priv *pv = m->patterns;

	for (size_t i = 0; i < m->len; i++)
		free(m->v[i].name);
	free(m->v);
	if (pv) {
		for (size_t k = 0; k < pv->npat; k++) {
			free(pv->pat[k].name);
			regfree(&pv->pat[k].re);
		}
		free(pv->pat);
		free(pv->text);
		free(pv);
	}
	memset(m, 0, sizeof *m);
	m->step = NAN;
}

void metrics_feed(struct metrics *m, const char *line, size_t len)
{
	m->lines++;
	if (!m->patterns || !line)
		return;
	/* hypotop-job's own lines (the launch command, the exit) are not the run's. */
	if (len >= 10 && !memcmp(line, "[hypotop] ", 10))
		return;
	for (;;) {
		const char *cr = memchr(line, '\r', len);
		size_t n = cr ? (size_t)(cr - line) : len;
		segment_feed(m, line, n);
		if (!cr)
			return;
		line += n + 1;
		len -= n + 1;
	}
}

const struct series *metrics_get(const struct metrics *m, const char *name)
{
	size_t idx;

	return name ? series_find(m, name, strlen(name), &idx) : NULL;
}

/* ---- metrics.json ---- */

/* A finite number in the fewest digits that read back the same; else null. */
struct sorted_point {
	struct metric_point p;
	size_t seq;
};

/* Step order; points without a step (NAN) first; ties keep their order. */
static int point_cmp(const void *a, const void *b)
{
	const struct sorted_point *x = a, *y = b;
	bool xn = isnan(x->p.step), yn = isnan(y->p.step);

	if (xn != yn)
		return xn ? -1 : 1;
	if (!xn && x->p.step != y->p.step)
		return x->p.step < y->p.step ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* points[(head + i) % cap] for i < len, as [[step, value], ...] in step order. */
static void points_add(struct buf *b, const struct metric_point *points, size_t head, size_t len,
		       size_t cap)
{
	struct sorted_point sp[METRICS_RING > METRICS_RESERVOIR ? METRICS_RING : METRICS_RESERVOIR];

	for (size_t i = 0; i < len; i++) {
		sp[i].p = points[(head + i) % cap];
		sp[i].seq = i;
	}
	qsort(sp, len, sizeof *sp, point_cmp);
	buf_addc(b, '[');
	for (size_t i = 0; i < len; i++) {
		buf_adds(b, i ? ", [" : "[");
		json_append_num(b, sp[i].p.step);
		buf_adds(b, ", ");
		json_append_num(b, sp[i].p.value);
		buf_addc(b, ']');
	}
	buf_addc(b, ']');
}

/*
 * The mean at the precision of the values it is the mean of (the most
 * decimals of the first, last, min and max), not 17 digits of arithmetic.
 */
static double mean_rounded(const struct series *s)
{
	const double v[] = {s->first, s->last, s->min, s->max};
	int d = 0;
	char t[64];

	if (!isfinite(s->mean))
		return s->mean;
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		int k = num_decimals(v[i]);
		d = k > d ? k : d;
	}
	snprintf_c(t, sizeof t, "%.*f", d + 1 > 17 ? 17 : d + 1, s->mean);
	return strtod_c(t, NULL);
}

void metrics_to_json(const struct metrics *m, struct buf *b)
{
	buf_printf(b, "{\"lines\": %" PRIu64 ", \"step\": ", m->lines);
	json_append_num(b, m->step);
	buf_adds(b, ", \"series\": {");
	for (size_t i = 0; i < m->len; i++) {
		const struct series *s = &m->v[i];
		if (i)
			buf_adds(b, ", ");
		json_append_str(b, s->name);
		buf_printf(b, ": {\"count\": %" PRIu64 ", \"nonfinite\": %" PRIu64 ", \"first\": ",
			   s->count, s->nonfinite);
		json_append_num(b, s->first);
		buf_adds(b, ", \"last\": ");
		json_append_num(b, s->last);
		buf_adds(b, ", \"min\": ");
		json_append_num(b, s->min);
		buf_adds(b, ", \"max\": ");
		json_append_num(b, s->max);
		buf_adds(b, ", \"mean\": ");
		json_append_num(b, mean_rounded(s));
		buf_adds(b, ", \"recent\": ");
		points_add(b, s->ring, s->ring_head, s->ring_len, METRICS_RING);
		buf_adds(b, ", \"sample\": ");
		points_add(b, s->reservoir, 0, s->reservoir_len, METRICS_RESERVOIR);
		buf_addc(b, '}');
	}
	buf_adds(b, "}}");
}
