/*
 * params.h — the param file of a training project: flat NAME = VALUE
 * settings in JSON, YAML or Python constants, chosen by the file's ending
 * (.json; .yaml/.yml; .py).
 *
 * params_read() gives the settings as a cJSON object of scalars (numbers,
 * strings, booleans). params_write() returns the file's text with some
 * values replaced, keeping everything else — comments, order, spacing —
 * as it was, so the commit's diff shows only the change. Pure functions:
 * no I/O, any thread.
 */
#ifndef HYPOTOP_PARAMS_H
#define HYPOTOP_PARAMS_H

#include <cjson/cJSON.h>

#include "hypotop/util.h"

enum params_format { PARAMS_JSON, PARAMS_YAML, PARAMS_PYTHON, PARAMS_UNKNOWN };

enum params_format params_format_of(const char *path);

/*
 * Parse text (the contents of the file at path) into *out, an object of
 * top-level scalar settings (nested values are skipped). On a parse error:
 * -1, with e naming path, line and problem.
 */
int params_read(const char *path, const char *text, cJSON **out, struct err *e);

/*
 * New text with each member of `values` (an object of scalars) set. A name
 * the file does not have is an error naming it — except in JSON, where it
 * is added. The caller frees *out.
 */
int params_write(const char *path, const char *text, const cJSON *values, char **out,
		 struct err *e);

/*
 * The distribution of a search_space.params entry ({"log_uniform": [lo,
 * hi]}, ...): its member other than "default"; NULL when there is none.
 */
const cJSON *params_dist(const cJSON *spec);

#endif
