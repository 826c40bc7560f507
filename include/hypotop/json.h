/*
 * json.h — reading and writing the workdir's JSON with messages a person
 * can act on.
 *
 * Parse errors name the file, line and column. Typed getters name the
 * field and what it should hold. Large files (tree.json with 10^5 nodes)
 * are walked member by member so that only one element is ever held as a
 * cJSON tree.
 */
#ifndef HYPOTOP_JSON_H
#define HYPOTOP_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

/* Parse text (of len bytes) named `what` in messages. */
cJSON *json_parse(const char *text, size_t len, const char *what, struct err *e);
/*
 * Parse the len bytes at val, a value inside the whole text named `what`
 * (as a walk below hands it): an error names its line and column in the
 * whole text.
 */
cJSON *json_parse_in(const char *text, const char *val, size_t len, const char *what,
		     struct err *e);
/* Read and parse a file of the workdir's own; _max: one of at most max bytes (fsutil.h). */
cJSON *json_parse_file(const char *path, struct err *e);
cJSON *json_parse_file_max(const char *path, size_t max, struct err *e);
/* 1-based line and column of byte offset off. */
void json_position(const char *text, size_t off, int *line, int *col);

/*
 * Line numbers for a walk that only moves forward: each call counts from
 * where the last one stopped, so naming the line of every element of a
 * large file stays linear.
 */
struct json_lines {
	const char *text;
	size_t off;
	int line;
};
void json_lines_init(struct json_lines *jl, const char *text);
int json_lines_at(struct json_lines *jl, size_t off);

/* Line of the first `"key":` at or after byte `from`; 0 when not found. */
int json_key_line(const char *text, size_t from, const char *key);

/* Walk a top-level object: fn gets each key and the raw bytes of its value. */
typedef int (*json_member_fn)(void *ctx, const char *key, const char *val, size_t vlen,
			      size_t off, struct err *e);
int json_walk_object(const char *text, size_t len, const char *what, json_member_fn fn,
		     void *ctx, struct err *e);
/* Walk an array given as raw bytes at offset base of the whole text. */
typedef int (*json_elem_fn)(void *ctx, const char *el, size_t ellen, size_t off,
			    struct err *e);
int json_walk_array(const char *text, const char *val, size_t vlen, const char *what,
		    json_elem_fn fn, void *ctx, struct err *e);

/*
 * Typed getters. Each returns 1 when the key is present and valid, 0 when
 * absent, -1 (with e set: "WHAT: KEY must be ...") when present but wrong.
 */
int json_get_str(const cJSON *o, const char *key, const char *what, const char **out,
		 struct err *e);
int json_get_int(const cJSON *o, const char *key, const char *what, long lo, long hi,
		 long *out, struct err *e);
int json_get_num(const cJSON *o, const char *key, const char *what, double *out,
		 struct err *e);
int json_get_bool(const cJSON *o, const char *key, const char *what, bool *out,
		  struct err *e);

/* The same checks on a member already found (v may be NULL). */
int json_str(const cJSON *v, const char *key, const char *what, const char **out,
	     struct err *e);
int json_int(const cJSON *v, const char *key, const char *what, long lo, long hi, long *out,
	     struct err *e);
int json_num(const cJSON *v, const char *key, const char *what, double *out, struct err *e);
int json_bool(const cJSON *v, const char *key, const char *what, bool *out, struct err *e);

/* For reading answers leniently: a member's string or NULL; a member's
 * count (a number from 0 to 10^15) or 0. */
const char *json_string(const cJSON *o, const char *key);
long json_count(const cJSON *o, const char *key);

/* Print compactly and append to a buffer. */
void json_append(struct buf *b, const cJSON *j);
/* Quote a C string as a JSON string onto b. */
void json_append_str(struct buf *b, const char *s);
/* A number in its shortest exact form onto b; null when not finite. */
void json_append_num(struct buf *b, double v);
/*
 * A value as a person writes it after NAME= (hypotop add --param, a line
 * of directive.md): JSON (3e-4, true, "text") or else the bare text. NULL
 * for a number no param can hold (1e999, nan, inf), which is an error,
 * not text.
 */
cJSON *json_value_read(const char *s);

#endif
