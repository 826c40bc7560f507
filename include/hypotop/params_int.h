/*
 * params_int.h — what the param file module's two halves share:
 * params_parse.c (the syntax of JSON, YAML and Python constants) and
 * params.c (reading and rewriting). A file is a list of entries, each a
 * top-level setting with its line and the byte range of its value token,
 * so that a value can be replaced without touching anything else. Nothing
 * outside src/project/params*.c includes it. Pure functions, any thread.
 */
#ifndef HYPOTOP_PARAMS_INT_H
#define HYPOTOP_PARAMS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/params.h"
#include "hypotop/util.h"

/* PARAM_OTHER: null or nested; it can be overwritten but is not read. */
enum param_kind { PARAM_NUM, PARAM_BOOL, PARAM_STR, PARAM_OTHER };

struct params_entry {
	char *name;
	int line;
	size_t vstart, vend; /* the value token in the text, quotes included */
	enum param_kind kind;
	char quote;	/* PARAM_STR: the quote it was written with, 0 when bare */
	bool is_float;	/* PARAM_NUM: written with '.' or an exponent */
	int bool_style; /* PARAM_BOOL: 0 true, 1 True, 2 TRUE */
	double num;
	bool b;
	char *str;
	char *repl; /* for params_write: the new token, or NULL to keep the old */
};

struct params_entries {
	struct params_entry *v;
	size_t len, cap;
};

/*
 * The settings of text in the order they appear (a name given twice is
 * listed twice). -1 on a syntax error, with e naming path and line.
 * Free es with params_entries_free() either way.
 */
int params_parse(enum params_format f, const char *path, const char *text,
		 struct params_entries *es, struct err *e);
void params_entries_free(struct params_entries *es);

/*
 * v as the format reads it back exactly, whatever the locale: integers
 * without a point ("3.0" when keep_float), else the shortest %.Ng; for
 * YAML an exponent always has a point ("1.0e-05") so PyYAML sees a float.
 */
void params_num_format(double v, bool keep_float, bool yaml, char out[64]);

/* A bare word a YAML loader reads as a boolean, null or non-finite number. */
bool params_yaml_word(const char *s);

#endif
