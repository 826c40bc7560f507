/*
 * launch.h — the launch command as a template of the search space's
 * params: "python3 train.py --lr {lr} --n-layer {n_layer}" runs with each
 * {NAME} replaced by the node's value of param NAME, as one shell word.
 *
 * {{ and }} stand for a literal brace; ${...} is the shell's and is left
 * as it is. Any other brace is an error, so that a typo never runs a
 * command with a brace in it. Pure functions: no I/O, any thread.
 */
#ifndef HYPOTOP_LAUNCH_H
#define HYPOTOP_LAUNCH_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/util.h"

/*
 * Check tmpl: every {NAME} must be a member of params (an object; NULL
 * for none). On a bad brace or an unknown name: -1, with e saying what,
 * at which column, and the fix; `what` names the field ("config.json:
 * \"launch\"").
 */
int launch_check(const char *tmpl, const cJSON *params, const char *what, struct err *e);
/* Whether tmpl has {name}. A template launch_check() refuses has none. */
bool launch_uses(const char *tmpl, const char *name);
/*
 * The command: each {NAME} becomes values' NAME as one shell word (a
 * number as its shortest form, a string quoted where the shell needs it,
 * true/false), {{ and }} a brace. A name values lacks: -1 with e set.
 * The caller frees *out.
 */
int launch_expand(const char *tmpl, const cJSON *values, char **out, struct err *e);
/* One value as a shell word, appended to b. */
void launch_word(struct buf *b, const cJSON *v);

#endif
