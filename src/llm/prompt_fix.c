/*
 * prompt_fix.c — the prompts of the calls that ask for code rather than
 * judgement (SPEC §5, §7): repair, for a run that died at start-up, and
 * instrument, once before the baseline. Built like the analyse and plan
 * prompts (prompt.c): instructions and contract first, then the project,
 * then this call; the sources go in as indented blocks.
 */
#include "hypotop/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/prompt_int.h"

#define SOURCES_BYTES 60000

static const char repair_intro[] =
	"You are the repair step of an autonomous machine-learning experiment loop. An "
	"experiment died at start-up, before it reported any progress: its build failed, its "
	"launch command could not run, or the program crashed. From the log and the sources, "
	"propose the smallest change that lets it start.\n\n"
	"- Fix only what stops it from running; keep what the experiment tests.\n"
	"- When no change to the source tree can fix it (a missing machine resource, a "
	"failure outside the code), give \"change\": null and say why in \"fix\".\n";

static const char instrument_intro[] =
	"You are the instrumentation step of an autonomous machine-learning experiment loop, "
	"run once before the baseline. Make the training script report how long its steps "
	"take.\n\n"
	"- At each step it already reports (or every step when it reports none), print one "
	"line `step=N step_time=S` to standard output and flush it: N the step number, S the "
	"wall-clock seconds of that step.\n"
	"- Change nothing else: not the model, the data, the parameters, nor the lines it "
	"already prints.\n"
	"- When the script already reports step times, or has no training loop to time, give "
	"\"change\": null and say why in \"summary\".\n";

/* The contract: text_line, then the change; "params" only where it can apply. */
static char *fix_contract(const struct config *c, const char *text_line)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "Answer with one JSON object and nothing else (no prose, no fence), exactly "
		     "these keys:\n\n    {");
	buf_adds(&b, text_line);
	buf_adds(&b, ",\n     \"change\": ");
	prompt_change_alts(&b, c, "             ");
	buf_adds(&b, "\n             | null}\n\n"
		     "No other key is accepted. The change applies to the sources shown.\n");
	prompt_change_rules(&b, "the sources shown");
	return buf_steal(&b);
}

static void command_lines(struct buf *b, const struct config *c)
{
	if (!c)
		return;
	if (c->build) {
		buf_adds(b, "Build command: `");
		prompt_text(b, c->build);
		buf_adds(b, "`\n");
	}
	buf_adds(b, "Launch command (run in the source tree through /bin/sh): `");
	prompt_text(b, c->launch ? c->launch : "?");
	buf_adds(b, "`\n");
}

void llm_prompt_repair(const struct fix_request *r, const char *override_dir,
		       struct llm_prompt *p)
{
	struct buf s, q;

	char *contract = fix_contract(r->cfg, "\"fix\": string (what was wrong, and what the "
						"change does about it)");
	p->system = prompt_system(override_dir, "repair", repair_intro, contract);
	free(contract);
	p->schema = prompt_change_answer_schema(r->cfg, "fix");
	buf_init(&s);
	prompt_project(&s, r->cfg);
	p->stable = buf_steal(&s);

	buf_init(&q);
	buf_adds(&q, "# The experiment that died at start-up\n\nNode: ");
	prompt_text(&q, r->node ? r->node : "?");
	if (r->name) {
		buf_adds(&q, " (");
		prompt_text(&q, r->name);
		buf_adds(&q, ")");
	}
	if (r->hypothesis && *r->hypothesis) {
		buf_adds(&q, "\nHypothesis: ");
		prompt_text(&q, r->hypothesis);
	}
	buf_adds(&q, "\nFailure: ");
	prompt_text(&q, r->failure_kind ? r->failure_kind : "?");
	if (r->why && *r->why) {
		buf_adds(&q, " — ");
		prompt_text(&q, r->why);
	}
	buf_printf(&q, "\nThis is repair attempt %d of %d.\n", r->attempt, r->attempts);
	command_lines(&q, r->cfg);
	if (r->change && *r->change)
		prompt_change(&q, r->change);
	if (r->log_tail && *r->log_tail)
		prompt_log(&q, r->log_tail);
	else
		buf_adds(&q, "\n## Last lines of the log\n\n(the log is empty)\n");
	prompt_sources(&q, r->files, r->nfiles, 0, "at its commit", SOURCES_BYTES);
	p->request = buf_steal(&q);
}

void llm_prompt_instrument(const struct fix_request *r, const char *override_dir,
			   struct llm_prompt *p)
{
	struct buf s, q;

	char *contract = fix_contract(r->cfg, "\"summary\": string (what the change adds, and "
						"where)");
	p->system = prompt_system(override_dir, "instrument", instrument_intro, contract);
	free(contract);
	p->schema = prompt_change_answer_schema(r->cfg, "summary");
	buf_init(&s);
	prompt_project(&s, r->cfg);
	p->stable = buf_steal(&s);

	buf_init(&q);
	buf_adds(&q, "# The training script to instrument\n\n");
	command_lines(&q, r->cfg);
	prompt_sources(&q, r->files, r->nfiles, 0, "of the baseline", SOURCES_BYTES);
	p->request = buf_steal(&q);
}
