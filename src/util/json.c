/* json.c — see json.h. */
#include "hypotop/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"

void json_position(const char *text, size_t off, int *line, int *col)
{
	int l = 1, c = 1;

	for (size_t i = 0; i < off && text[i]; i++) {
		if (text[i] == '\n')
			l++, c = 1;
		else
			c++;
	}
	*line = l;
	*col = c;
}

int json_key_line(const char *text, size_t from, const char *key)
{
	size_t kl = strlen(key);

	if (!text)
		return 0;
	for (const char *p = text + from; (p = strchr(p, '"')); p++) {
		if (strncmp(p + 1, key, kl) || p[kl + 1] != '"')
			continue;
		const char *q = p + kl + 2;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q == ':') {
			int line, col;
			json_position(text, (size_t)(p - text), &line, &col);
			return line;
		}
	}
	return 0;
}

void json_lines_init(struct json_lines *jl, const char *text)
{
	jl->text = text;
	jl->off = 0;
	jl->line = 1;
}

int json_lines_at(struct json_lines *jl, size_t off)
{
	if (off < jl->off)
		json_lines_init(jl, jl->text);
	while (jl->off < off) {
		const char *nl = memchr(jl->text + jl->off, '\n', off - jl->off);
		if (!nl) {
			jl->off = off;
			break;
		}
		jl->line++;
		jl->off = (size_t)(nl - jl->text) + 1;
	}
	return jl->line;
}

/* True when text stops inside an object, array or string: a cut-off file. */
static bool runs_off_end(const char *p, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in_str = false;
		} else if (p[i] == '"') {
			in_str = true;
		} else if (p[i] == '{' || p[i] == '[') {
			depth++;
		} else if (p[i] == '}' || p[i] == ']') {
			depth--;
		}
	}
	return in_str || depth > 0;
}

static size_t skip_ws(const char *p, size_t i, size_t len)
{
	while (i < len && strchr(" \t\r\n", p[i]) && p[i])
		i++;
	return i;
}

/*
 * Where a string holds a NUL character, raw or written \u0000, which would
 * cut the text short wherever it is used (cJSON keeps C strings): its
 * offset, or len when none does. *key (klen bytes): the name of the member
 * whose name or value that string is, or NULL.
 */
static size_t nul_at(const char *p, size_t len, const char **key, size_t *klen)
{
	size_t start = 0;
	bool in = false;

	*key = NULL;
	*klen = 0;
	if (!memchr(p, '\0', len) && !memmem(p, len, "\\u0000", 6))
		return len;
	for (size_t i = 0; i < len; i++) {
		if (!in) {
			if (p[i] == '"')
				in = true, start = i + 1;
			continue;
		}
		if (!p[i] || (p[i] == '\\' && i + 6 <= len && !memcmp(p + i + 1, "u0000", 5))) {
			size_t j = i; /* the string's own name, when it is one */
			while (j < len && p[j] != '"')
				j += p[j] == '\\' ? 2 : 1;
			j = skip_ws(p, j + 1, len);
			if (j < len && p[j] == ':')
				*key = p + start, *klen = i - start;
			return i;
		}
		if (p[i] == '\\') {
			i++;
		} else if (p[i] == '"') {
			in = false;
			size_t j = skip_ws(p, i + 1, len);
			if (j < len && p[j] == ':')
				*key = p + start, *klen = i - start;
		}
	}
	return len;
}

/*
 * A problem at byte off of the len bytes at text + base, which may be a
 * value inside a larger text: its line and column are counted in the
 * whole text from its start.
 */
static void parse_error_at(const char *what, const char *text, size_t base, size_t len,
			   size_t off, const char *problem, struct err *e)
{
	int line, col;

	if (runs_off_end(text + base, len))
		off = len;
	json_position(text, base + off, &line, &col);
	if (off >= len)
		err_set(e, "%s:%d:%d: %s: the file ends early (truncated?); restore it or fix "
			   "the JSON by hand",
			what, line, col, problem);
	else
		err_set(e, "%s:%d:%d: %s near '%.*s'; fix the JSON at that spot", what, line,
			col, problem, (int)(len - off < 12 ? len - off : 12), text + base + off);
}

static void parse_error(const char *what, const char *text, size_t len, size_t off,
			const char *problem, struct err *e)
{
	parse_error_at(what, text, 0, len, off, problem, e);
}

cJSON *json_parse_in(const char *text, const char *val, size_t len, const char *what,
		     struct err *e)
{
	const char *end = NULL, *key;
	size_t base = (size_t)(val - text), klen, nul = nul_at(val, len, &key, &klen);

	if (nul < len) {
		int line, col;
		json_position(text, base + nul, &line, &col);
		err_set(e, "%s:%d:%d: %s%.*s%sa NUL character (\\u0000) in a string; remove it "
			   "(the text would be cut short there)",
			what, line, col, key ? "\"" : "", (int)(klen < 64 ? klen : 64),
			key ? key : "", key ? "\": " : "");
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLengthOpts(val, len, &end, false);

	if (!j) {
		parse_error_at(what, text, base, len, end ? (size_t)(end - val) : 0,
			       "malformed JSON", e);
		return NULL;
	}
	/* Only white space may follow the value. */
	for (size_t i = (size_t)(end - val); i < len; i++) {
		if (!strchr(" \t\r\n", val[i]) && val[i]) {
			parse_error_at(what, text, base, len, i,
				       "malformed JSON: text after the JSON value", e);
			cJSON_Delete(j);
			return NULL;
		}
	}
	return j;
}

cJSON *json_parse(const char *text, size_t len, const char *what, struct err *e)
{
	return json_parse_in(text, text, len, what, e);
}

cJSON *json_parse_file(const char *path, struct err *e)
{
	return json_parse_file_max(path, FS_MAX_STATE, e);
}

cJSON *json_parse_file_max(const char *path, size_t max, struct err *e)
{
	size_t len;
	char *text = fs_read_max(path, max, &len, e);

	if (!text)
		return NULL;
	cJSON *j = json_parse(text, len, path, e);
	free(text);
	return j;
}

/* Index of the '"' closing the string whose body starts at p[i], or 0. */
static size_t string_end(const char *p, size_t i, size_t len)
{
	while (i < len) {
		/* Strings are most of the bytes: let the library scan them. */
		i += strcspn(p + i, "\"\\");
		if (i >= len || !p[i])
			return 0;
		if (p[i] == '"')
			return i;
		i += 2; /* a backslash and the character it escapes */
	}
	return 0;
}

/* End (exclusive) of the JSON value starting at p[i], or 0 if malformed. */
static size_t value_end(const char *p, size_t i, size_t len)
{
	int depth = 0;

	if (i >= len)
		return 0;
	if (p[i] != '{' && p[i] != '[' && p[i] != '"') {
		size_t j = i;
		while (j < len && !strchr(",]} \t\r\n", p[j]))
			j++;
		return j > i ? j : 0;
	}
	for (size_t j = i; j < len; j++) {
		char c = p[j];
		if (c == '"') {
			j = string_end(p, j + 1, len);
			if (!j)
				return 0;
			if (depth == 0)
				return j + 1;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return j + 1;
			if (depth < 0)
				return 0;
		}
	}
	return 0;
}

int json_walk_object(const char *text, size_t len, const char *what, json_member_fn fn,
		     void *ctx, struct err *e)
{
	size_t i = skip_ws(text, 0, len);

	if (i >= len || text[i] != '{') {
		parse_error(what, text, len, i, "malformed JSON: expected a JSON object", e);
		return -1;
	}
	i = skip_ws(text, i + 1, len);
	if (i < len && text[i] == '}')
		goto tail;
	for (;;) {
		size_t kend = value_end(text, i, len);
		if (!kend || text[i] != '"') {
			parse_error(what, text, len, i, "malformed JSON: expected a member name", e);
			return -1;
		}
		cJSON *k = cJSON_ParseWithLength(text + i, kend - i);
		if (!k || !cJSON_IsString(k)) {
			cJSON_Delete(k);
			parse_error(what, text, len, i, "malformed JSON: bad member name", e);
			return -1;
		}
		i = skip_ws(text, kend, len);
		if (i >= len || text[i] != ':') {
			cJSON_Delete(k);
			parse_error(what, text, len, i, "malformed JSON: expected ':'", e);
			return -1;
		}
		i = skip_ws(text, i + 1, len);
		size_t vend = value_end(text, i, len);
		if (!vend) {
			cJSON_Delete(k);
			parse_error(what, text, len, i, "malformed JSON", e);
			return -1;
		}
		int rc = fn(ctx, k->valuestring, text + i, vend - i, i, e);
		cJSON_Delete(k);
		if (rc < 0)
			return -1;
		i = skip_ws(text, vend, len);
		if (i < len && text[i] == ',') {
			i = skip_ws(text, i + 1, len);
			continue;
		}
		if (i < len && text[i] == '}')
			break;
		parse_error(what, text, len, i, "malformed JSON: expected ',' or '}'", e);
		return -1;
	}
tail:
	i = skip_ws(text, i + 1, len);
	if (i < len && text[i]) {
		parse_error(what, text, len, i, "malformed JSON: text after the JSON value", e);
		return -1;
	}
	return 0;
}

int json_walk_array(const char *text, const char *val, size_t vlen, const char *what,
		    json_elem_fn fn, void *ctx, struct err *e)
{
	size_t base = (size_t)(val - text), i = skip_ws(val, 0, vlen);
	size_t tlen = strlen(text);

	if (i >= vlen || val[i] != '[') {
		parse_error(what, text, tlen, base + i, "malformed JSON: expected a JSON array", e);
		return -1;
	}
	i = skip_ws(val, i + 1, vlen);
	if (i < vlen && val[i] == ']')
		return 0;
	for (;;) {
		size_t end = value_end(val, i, vlen);
		if (!end) {
			parse_error(what, text, tlen, base + i, "malformed JSON", e);
			return -1;
		}
		if (fn(ctx, val + i, end - i, base + i, e) < 0)
			return -1;
		i = skip_ws(val, end, vlen);
		if (i < vlen && val[i] == ',') {
			i = skip_ws(val, i + 1, vlen);
			continue;
		}
		if (i < vlen && val[i] == ']')
			return 0;
		parse_error(what, text, tlen, base + i, "malformed JSON: expected ',' or ']'", e);
		return -1;
	}
}

int json_str(const cJSON *v, const char *key, const char *what, const char **out,
	     struct err *e)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		err_set(e, "%s: \"%s\" must be a string", what, key);
		return -1;
	}
	*out = v->valuestring;
	return 1;
}

int json_num(const cJSON *v, const char *key, const char *what, double *out, struct err *e)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		err_set(e, "%s: \"%s\" must be a number", what, key);
		return -1;
	}
	*out = v->valuedouble;
	return 1;
}

int json_int(const cJSON *v, const char *key, const char *what, long lo, long hi, long *out,
	     struct err *e)
{
	double d;
	int rc = json_num(v, key, what, &d, e);

	if (rc <= 0)
		return rc;
	if (d != floor(d) || d < (double)lo || d > (double)hi) {
		err_set(e, "%s: \"%s\" must be a whole number from %ld to %ld (got %g)", what,
			key, lo, hi, d);
		return -1;
	}
	*out = (long)d;
	return 1;
}

int json_bool(const cJSON *v, const char *key, const char *what, bool *out, struct err *e)
{
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v)) {
		err_set(e, "%s: \"%s\" must be true or false", what, key);
		return -1;
	}
	*out = cJSON_IsTrue(v);
	return 1;
}

#define MEMBER(o, key) cJSON_GetObjectItemCaseSensitive(o, key)

int json_get_str(const cJSON *o, const char *key, const char *what, const char **out,
		 struct err *e)
{
	return json_str(MEMBER(o, key), key, what, out, e);
}

int json_get_num(const cJSON *o, const char *key, const char *what, double *out,
		 struct err *e)
{
	return json_num(MEMBER(o, key), key, what, out, e);
}

int json_get_int(const cJSON *o, const char *key, const char *what, long lo, long hi,
		 long *out, struct err *e)
{
	return json_int(MEMBER(o, key), key, what, lo, hi, out, e);
}

int json_get_bool(const cJSON *o, const char *key, const char *what, bool *out,
		  struct err *e)
{
	return json_bool(MEMBER(o, key), key, what, out, e);
}

void json_append_num(struct buf *b, double v)
{
	char t[40];

	if (!isfinite(v)) {
		buf_adds(b, "null");
		return;
	}
	num_shortest(v, t);
	buf_adds(b, t);
}

void json_append(struct buf *b, const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	if (!s) {
		buf_adds(b, "null");
		return;
	}
	buf_adds(b, s);
	cJSON_free(s);
}

void json_append_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	buf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': buf_adds(b, "\\\""); break;
		case '\\': buf_adds(b, "\\\\"); break;
		case '\n': buf_adds(b, "\\n"); break;
		case '\t': buf_adds(b, "\\t"); break;
		case '\r': buf_adds(b, "\\r"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				char u[7] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15], 0};
				buf_adds(b, u);
			} else {
				buf_addc(b, (char)*p);
			}
		}
	}
	buf_addc(b, '"');
}

const char *json_string(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

long json_count(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e15
		       ? (long)v->valuedouble
		       : 0;
}

cJSON *json_value_read(const char *s)
{
	size_t n = strlen(s);
	bool is_float;
	cJSON *v = cJSON_ParseWithOpts(s, NULL, true);

	if (v && !(cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsString(v))) {
		cJSON_Delete(v);
		v = NULL;
	}
	if (v ? cJSON_IsNumber(v) && !isfinite(v->valuedouble)
	      : n && num_scan(s, n, NUM_WORDS, &is_float) == n) {
		cJSON_Delete(v);
		return NULL;
	}
	return v ? v : cJSON_CreateString(s);
}
