/*
 * calllog.c — the files every model request leaves under logs/ (see
 * llm_planner.c): NNN_<kind>_<node>_{prompt.md,output.md,raw.json}, all
 * mode 0600 and scrubbed of the API key; and the spend that report calls
 * recorded there (their cost lives only in their files, see planner.h).
 */
#include "hypotop/llm.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"


/* A node id fit for a file name. */
void llm_file_part(char *out, size_t n, const char *s)
{
	size_t i = 0;

	for (; s && *s && i + 1 < n && i < 40; s++)
		out[i++] = isalnum((unsigned char)*s) || *s == '-' || *s == '_' ? *s : '_';
	out[i] = '\0';
	if (!i)
		snprintf(out, n, "none");
}

/* Markdown text: newlines and tabs kept, other control characters made visible. */
void llm_add_md(struct buf *b, const char *s)
{
	while (s && *s) {
		size_t n = strcspn(s, "\n\t");
		char *part = xstrndup(s, n);
		buf_add_safe(b, part);
		free(part);
		s += n;
		if (*s)
			buf_addc(b, *s++);
	}
}

static void write_log(const struct llm_client *c, const char *path, char *text)
{
	struct err e = {{0}};

	llm_scrub(c, text, NULL);
	/* A log that cannot be written must not fail the call: the answer is what counts. */
	fs_write_atomic(path, text, strlen(text), 0600, &e);
}

/* What the call sent: instructions, project and history, request, and any retry's words. */
static size_t prompt_bytes(const struct llm_call *q)
{
	const char *parts[] = {q->system, q->stable, q->request, q->prev_answer, q->problem};
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(parts); i++)
		n += parts[i] ? strlen(parts[i]) : 0;
	return n;
}

static void cost_text(char *out, size_t n, const struct llm_reply *r)
{
	if (!r->has_cost)
		snprintf(out, n, "$0 (nothing billed)");
	else if (r->cost_known)
		snprintf(out, n, "$%.6f", r->usd);
	else
		snprintf(out, n, "unknown (no price for this model)");
}

void llm_log_call(const char *logs, const struct llm_client *c, const struct llm_call_log *cl,
		  const struct llm_call *q, const struct llm_reply *r, int rc, const struct err *e)
{
	char node[48], cost[64];
	struct buf b;

	llm_file_part(node, sizeof node, cl->node);
	char *base = xasprintf("%s/%03ld_%s_%s_", logs, cl->seq, cl->kind, node);
	char *stem = xasprintf("logs/%03ld_%s_%s", cl->seq, cl->kind, node);
	planner_note_call(stem); /* the nodes link the call by it */
	free(stem);
	cost_text(cost, sizeof cost, r);

	buf_init(&b);
	buf_printf(&b, "# %s %s — request %ld, attempt %d\n\nProvider: %s", cl->kind, node, cl->seq,
		   cl->attempt, c->provider);
	if (c->model)
		buf_printf(&b, ", model %s", c->model);
	buf_printf(&b, ", max_tokens %ld.\n\n## System\n\n", q->max_tokens);
	llm_add_md(&b, q->system);
	buf_adds(&b, "\n## User\n\n");
	llm_add_md(&b, q->stable);
	buf_adds(&b, "\n\n");
	llm_add_md(&b, q->request);
	if (q->problem) {
		buf_adds(&b, "\n## Assistant (the answer refused)\n\n");
		llm_add_md(&b, q->prev_answer);
		buf_adds(&b, "\n\n## User\n\nThat answer cannot be used: ");
		llm_add_md(&b, q->problem);
		buf_printf(&b, "\n\n%s\n", llm_prompt_again(q));
	}
	char *path = xasprintf("%sprompt.md", base);
	char *text = buf_steal(&b);
	write_log(c, path, text);
	free(text);
	free(path);

	buf_init(&b);
	if (r->text) {
		llm_add_md(&b, r->text);
		buf_adds(&b, "\n");
	}
	buf_adds(&b, "\n---\n\n");
	if (rc < 0)
		buf_printf(&b, "Failed (%s): %s\n\n", r->kind ? r->kind : "planner", e->msg);
	if (r->stop)
		buf_printf(&b, "Stop reason: %s. ", r->stop);
	if (r->has_usage)
		buf_printf(&b, "Tokens: input %ld, output %ld, cache write %ld, cache read %ld. ",
			   r->usage.input, r->usage.output, r->usage.cache_write, r->usage.cache_read);
	buf_printf(&b, "Prompt: %zu bytes. Cost: %s. Time: %.1f s.\n", prompt_bytes(q), cost,
		   (double)cl->ms / 1000);
	if (rc == 0)
		buf_printf(&b, "Contract: %s\n", cl->contract_error ? cl->contract_error : "valid");
	if (rc == 0 && cl->refused) {
		buf_adds(&b, "\nRefused before anything was queued:\n\n");
		llm_add_md(&b, cl->refused);
	}
	path = xasprintf("%soutput.md", base);
	text = buf_steal(&b);
	write_log(c, path, text);
	free(text);
	free(path);

	cJSON *j = cJSON_CreateObject();
	cJSON_AddNumberToObject(j, "request", (double)cl->seq);
	cJSON_AddStringToObject(j, "kind", cl->kind);
	cJSON_AddStringToObject(j, "node", cl->node ? cl->node : "");
	cJSON_AddNumberToObject(j, "attempt", cl->attempt);
	cJSON_AddStringToObject(j, "provider", c->provider);
	if (c->model)
		cJSON_AddStringToObject(j, "model", c->model);
	if (c->url)
		cJSON_AddStringToObject(j, "url", c->url);
	cJSON_AddNumberToObject(j, "started_ms", (double)cl->started);
	cJSON_AddNumberToObject(j, "duration_ms", (double)cl->ms);
	cJSON_AddNumberToObject(j, "max_tokens", (double)q->max_tokens);
	cJSON_AddNumberToObject(j, "prompt_bytes", (double)prompt_bytes(q));
	cJSON_AddBoolToObject(j, "structured_output", q->schema && !r->schema_dropped &&
						      strcmp(c->provider, "command"));
	if (r->status)
		cJSON_AddNumberToObject(j, "status", (double)r->status);
	if (r->stop)
		cJSON_AddStringToObject(j, "stop_reason", r->stop);
	if (r->has_usage) {
		cJSON *u = cJSON_AddObjectToObject(j, "usage");
		cJSON_AddNumberToObject(u, "input_tokens", (double)r->usage.input);
		cJSON_AddNumberToObject(u, "output_tokens", (double)r->usage.output);
		cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)r->usage.cache_write);
		cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)r->usage.cache_read);
	} else {
		cJSON_AddNullToObject(j, "usage");
	}
	if (!r->has_cost)
		cJSON_AddNumberToObject(j, "cost_usd", 0);
	else if (r->cost_known)
		cJSON_AddNumberToObject(j, "cost_usd", r->usd);
	else
		cJSON_AddStringToObject(j, "cost_usd", "unknown");
	if (rc < 0) {
		cJSON_AddStringToObject(j, "error_kind", r->kind ? r->kind : "planner");
		cJSON_AddStringToObject(j, "error", e->msg);
	} else {
		cJSON_AddBoolToObject(j, "valid", !cl->contract_error);
		if (cl->contract_error)
			cJSON_AddStringToObject(j, "contract_error", cl->contract_error);
		if (cl->refused)
			cJSON_AddStringToObject(j, "refused", cl->refused);
	}
	if (r->attempts)
		cJSON_AddItemToObject(j, "attempts", cJSON_Duplicate(r->attempts, true));
	if (r->raw)
		cJSON_AddItemToObject(j, "response", cJSON_Duplicate(r->raw, true));
	llm_scrub(c, NULL, j);
	path = xasprintf("%sraw.json", base);
	text = cJSON_Print(j);
	cJSON_Delete(j);
	write_log(c, path, text);
	free(text);
	free(path);
	free(base);
}

/* Whether name is NNN_<kind>_<node>_raw.json, of a report when report. */
static bool raw_name(const char *name, bool report)
{
	size_t digits = strspn(name, "0123456789"), n = strlen(name);
	static const char tail[] = "_raw.json";

	return digits && name[digits] == '_' &&
	       (!report || !strncmp(name + digits, "_report_", 8)) && n > sizeof tail &&
	       !strcmp(name + n - (sizeof tail - 1), tail);
}

/* What the calls' files under logs say they cost: reports' only, or all. */
static double spend_in(const char *logs, bool reports, bool *known)
{
	DIR *d = opendir(logs);
	struct dirent *de;
	double sum = 0;

	while (d && (de = readdir(d))) {
		if (!raw_name(de->d_name, reports))
			continue;
		char *path = path_join(logs, de->d_name);
		struct err e = {{0}};
		cJSON *j = json_parse_file(path, &e);
		const cJSON *cost = cJSON_GetObjectItemCaseSensitive(j, "cost_usd");
		if (cJSON_IsNumber(cost) && isfinite(cost->valuedouble) && cost->valuedouble > 0)
			sum += cost->valuedouble;
		else if (!cJSON_IsNumber(cost) && known)
			*known = false; /* "unknown", or a file that cannot be read */
		cJSON_Delete(j);
		free(path);
	}
	if (d)
		closedir(d);
	return sum;
}

double llm_report_spend_in(const char *logs, bool *known)
{
	return spend_in(logs, true, known);
}

bool planner_costs_known(const char *workdir)
{
	char *logs = path_join(workdir, "logs");
	bool known = true;

	spend_in(logs, false, &known);
	free(logs);
	return known;
}

double planner_report_spend(const char *workdir, bool *known)
{
	char *logs = path_join(workdir, "logs");
	double v;

	if (known)
		*known = true;
	v = llm_report_spend_in(logs, known);
	free(logs);
	return v;
}
