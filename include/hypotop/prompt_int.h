/*
 * prompt_int.h — the pieces of prompt.c that the prompts of prompt_fix.c
 * (repair, instrument) reuse. Nothing outside src/llm/prompt*.c includes it.
 */
#ifndef HYPOTOP_PROMPT_INT_H
#define HYPOTOP_PROMPT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/config.h"
#include "hypotop/planner.h"
#include "hypotop/util.h"

/* Text with newlines and tabs kept, other control characters made visible. */
void prompt_text(struct buf *b, const char *s);
/* Text as an indented block (no fence a line could close), at most max bytes. */
void prompt_indented(struct buf *b, const char *text, size_t max);
/* "# Project": metric, goal, noise rule, notes, search space. */
void prompt_project(struct buf *b, const struct config *c);
/* "## Last lines of the log" from a log's text. */
void prompt_log(struct buf *b, const char *log);
/* "## The change it made" from a change's JSON. */
void prompt_change(struct buf *b, const char *json);
/*
 * "## Sources <at>": each file with its text whole while room lasts, the
 * others (or those without text) listed with their sizes; more: files
 * left out of even the list.
 */
void prompt_sources(struct buf *b, const struct source_file *f, size_t n, size_t more,
		    const char *at, size_t room);
/*
 * Whether a change of kind "params" can apply: a param file is configured,
 * or launch passes a param as {NAME}.
 */
bool prompt_params_apply(const struct config *c);
/*
 * The change kinds a contract offers, one a line, the later ones after
 * pad and "| ": edit first, params only where it can apply. No newline
 * after the last.
 */
void prompt_change_alts(struct buf *b, const struct config *c, const char *pad);
/* What the kinds mean, edit first; a patch applies to base ("the parent's commit"). */
void prompt_change_rules(struct buf *b, const char *base);
/* Instructions (built in, or <override_dir>/<kind>.md), then the contract. */
char *prompt_system(const char *override_dir, const char *kind, const char *intro,
		    const char *contract);
/* JSON schema of {text_key: string, "change": CHANGE | null}; caller frees. */
char *prompt_change_answer_schema(const struct config *cfg, const char *text_key);

#endif
