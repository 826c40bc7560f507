/* util.c — see util.h. */
#include "hypotop/util.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void oom(size_t n)
{
	fprintf(stderr, "hypotop: out of memory (%zu bytes)\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *str_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_steal(&b);
}

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reserve(struct buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;

	if (want <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	buf_reserve(b, 64);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	if (n < 0)
		oom(0);
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
	}
	va_end(ap2);
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

void buf_add_safe(struct buf *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == 0x1b)
			buf_adds(b, "\\e");
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(b, "\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0)
			buf_printf(b, "\\x%02x", *++p); /* C1 controls, as UTF-8 */
		else
			buf_addc(b, (char)*p);
	}
}

size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp)
{
	unsigned c;
	size_t len;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		c = s[0] & 0x1f, len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		c = s[0] & 0x0f, len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		c = s[0] & 0x07, len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

char *buf_steal(struct buf *b)
{
	char *p = b->data ? b->data : xstrdup("");

	buf_init(b);
	return p;
}

void err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	char pre[512], old[sizeof e->msg];
	va_list ap;

	if (!e)
		return;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof pre, fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof old);
	char *both = xasprintf("%s: %s", pre, old);
	size_t n = strlen(both);
	if (n >= sizeof e->msg)
		n = sizeof e->msg - 1;
	memcpy(e->msg, both, n);
	e->msg[n] = '\0';
	free(both);
}

void err_suffix(struct err *e, const char *text)
{
	size_t n;

	if (!e)
		return;
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, "%s", text);
}

bool errno_out_of_fds(int errnum)
{
	return errnum == EMFILE || errnum == ENFILE;
}

bool err_out_of_fds(const struct err *e)
{
	/* strerror(ENFILE) begins with strerror(EMFILE): one search finds both. */
	return e && strstr(e->msg, strerror(EMFILE)) != NULL;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t hash64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL ^ len;
	size_t i = 0;

	/* FNV-1a's mixing over eight bytes at a time. */
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* Optimal string alignment distance: a swap of two neighbours costs 1. */
size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), w = lb + 1;
	size_t *d = xcalloc((la + 1) * w, sizeof *d);

	for (size_t i = 0; i <= la; i++)
		d[i * w] = i;
	for (size_t j = 0; j <= lb; j++)
		d[j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
			if (d[(i - 1) * w + j] + 1 < best)
				best = d[(i - 1) * w + j] + 1;
			if (d[i * w + j - 1] + 1 < best)
				best = d[i * w + j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[(i - 2) * w + j - 2] + 1 < best)
				best = d[(i - 2) * w + j - 2] + 1;
			d[i * w + j] = best;
		}
	}
	size_t r = d[la * w + lb];
	free(d);
	return r;
}

void nearest_init(struct nearest *n, const char *name)
{
	n->name = name;
	n->best = NULL;
	n->d = SIZE_MAX;
}

void nearest_offer(struct nearest *n, const char *candidate)
{
	size_t d = edit_distance(n->name, candidate);

	if (d < n->d) {
		n->d = d;
		n->best = candidate;
	}
}

int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

static locale_t c_numeric;
static pthread_once_t c_numeric_once = PTHREAD_ONCE_INIT;

static void c_numeric_init(void)
{
	c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

double strtod_c(const char *s, char **end)
{
	pthread_once(&c_numeric_once, c_numeric_init);
	return c_numeric ? strtod_l(s, end, c_numeric) : strtod(s, end);
}

void snprintf_c(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	pthread_once(&c_numeric_once, c_numeric_init);
	locale_t old = c_numeric ? uselocale(c_numeric) : (locale_t)0;
	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (old)
		uselocale(old);
}

void num_shortest(double v, char out[40])
{
	/* A step or a count is read as the whole number it is. */
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e16) {
		snprintf_c(out, 40, "%.0f", v);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf_c(out, 40, "%.*g", prec, v);
		if (strtod_c(out, NULL) == v)
			return;
	}
}

int num_decimals(double v)
{
	char s[40];

	if (!isfinite(v))
		return 0;
	num_shortest(v, s);
	const char *dot = strchr(s, '.'), *e = strpbrk(s, "eE");
	int d = dot ? (int)((e ? (size_t)(e - dot) : strlen(dot)) - 1) : 0;
	if (e)
		d -= atoi(e + 1);
	return d < 0 ? 0 : d;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

size_t num_scan(const char *p, size_t n, unsigned flags, bool *is_float)
{
	static const char *const words[] = {"infinity", "inf", "nan"};
	size_t i = 0, digits = 0;

	*is_float = false;
	if (i < n && (p[i] == '+' || p[i] == '-'))
		i++;
	for (size_t w = 0; (flags & NUM_WORDS) && w < ARRAY_LEN(words); w++) {
		size_t wl = strlen(words[w]);
		if (n - i >= wl && !strncasecmp(p + i, words[w], wl)) {
			*is_float = true;
			return i + wl;
		}
	}
	for (; i < n; i++) {
		if (is_digit(p[i]))
			digits++;
		else if (!((flags & NUM_GROUPS) && p[i] == '_' && digits && i + 1 < n &&
			   is_digit(p[i + 1])))
			break;
	}
	if (i < n && p[i] == '.') {
		*is_float = true;
		for (i++; i < n && is_digit(p[i]); i++)
			digits++;
	}
	if (!digits)
		return 0;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (p[j] == '+' || p[j] == '-'))
			j++;
		if (j < n && is_digit(p[j])) {
			while (j < n && is_digit(p[j]))
				j++;
			*is_float = true;
			i = j;
		}
	}
	return i;
}

void sh_quote(struct buf *b, const char *text)
{
	buf_addc(b, '\'');
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *p);
	}
	buf_addc(b, '\'');
}
