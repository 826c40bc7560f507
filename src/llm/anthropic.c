/*
 * anthropic.c — the Messages API (REFERENCE.md): POST {base}/v1/messages
 * with x-api-key and anthropic-version, structured output through
 * output_config.format when the server takes it, prompt caching on the
 * stable parts, and the API's error shapes mapped to planner kinds.
 *
 * Sampling parameters are left out on purpose: newer models refuse them.
 */
#include "hypotop/json.h"
#include "hypotop/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_VERSION "2023-06-01"

static cJSON *text_block(const char *text, bool cache)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "type", "text");
	cJSON_AddStringToObject(b, "text", text && *text ? text : "(empty)");
	if (cache)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "cache_control"), "type",
					"ephemeral");
	return b;
}

static cJSON *message(cJSON *msgs, const char *role)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddItemToArray(msgs, m);
	return cJSON_AddArrayToObject(m, "content");
}

char *llm_anthropic_body(const struct llm_client *c, const struct llm_call *q, bool schema)
{
	cJSON *o = cJSON_CreateObject(), *content;
	char *s;

	cJSON_AddStringToObject(o, "model", c->model);
	cJSON_AddNumberToObject(o, "max_tokens", (double)q->max_tokens);
	/* Two cache breakpoints: the instructions (every call of a kind), the project and history. */
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "system"), text_block(q->system, true));
	cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
	content = message(msgs, "user");
	cJSON_AddItemToArray(content, text_block(q->stable, true));
	cJSON_AddItemToArray(content, text_block(q->request, false));
	if (q->problem) {
		/* The API refuses an assistant turn that ends in white space. */
		char *prev = xstrdup(q->prev_answer && *q->prev_answer ? q->prev_answer : "(empty)");
		size_t n = strlen(prev);
		while (n > 1 && strchr(" \t\r\n", prev[n - 1]))
			prev[--n] = '\0';
		cJSON_AddItemToArray(message(msgs, "assistant"), text_block(prev, false));
		free(prev);
		char *ask = xasprintf("That answer cannot be used: %s\n\n%s", q->problem,
				      llm_prompt_again(q));
		cJSON_AddItemToArray(message(msgs, "user"), text_block(ask, false));
		free(ask);
	}
	if (schema && q->schema) {
		cJSON *sch = cJSON_Parse(q->schema);
		if (sch) {
			cJSON *fmt = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "output_config"),
							     "format");
			cJSON_AddStringToObject(fmt, "type", "json_schema");
			cJSON_AddItemToObject(fmt, "schema", sch);
		}
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}



int llm_anthropic_parse(const struct llm_client *c, const char *body, struct llm_reply *r,
			struct err *e)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content"), *b;
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
	struct buf text;

	if (!cJSON_IsObject(j) || !cJSON_IsArray(content)) {
		cJSON_Delete(j);
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "anthropic: the response is not a message (no \"content\" array)");
		return -1;
	}
	buf_init(&text);
	cJSON_ArrayForEach(b, content)
	{
		const char *type = json_string(b, "type"), *t = json_string(b, "text");
		if (type && !strcmp(type, "text") && t)
			buf_adds(&text, t);
	}
	r->text = buf_steal(&text);
	r->stop = xstrdup(json_string(j, "stop_reason") ? json_string(j, "stop_reason") : "unknown");
	llm_reply_usage(r, usage);
	if (r->has_usage) {
		r->has_cost = true;
		r->cost_known = llm_cost(c->prices, c->model, &r->usage, &r->usd);
	}
	cJSON_Delete(j);
	return 0;
}

/* A 429 that no wait will lift. */
static bool spend_limit(const struct http_response *rs)
{
	cJSON *j;
	bool v = false;

	if (rs->status != 429)
		return false;
	j = cJSON_Parse(rs->body.data ? rs->body.data : "");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	const char *code = json_string(cJSON_GetObjectItemCaseSensitive(err, "details"), "error_code");
	v = code && !strcmp(code, "enforced_spend_limit_reached");
	cJSON_Delete(j);
	return v;
}

/* The error of a non-2xx response, as a kind and a message for a person. */
static void classify(const struct http_response *rs, struct llm_reply *r, struct err *e)
{
	cJSON *j = cJSON_Parse(rs->body.data ? rs->body.data : "");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	const char *type = json_string(err, "type"), *msg = json_string(err, "message");
	const char *rid = json_string(j, "request_id");
	char what[600];

	snprintf(what, sizeof what, "HTTP %ld%s%s%s%.400s%s%s%s", rs->status, type ? " " : "",
		 type ? type : "", msg ? ": " : "", msg ? msg : "", rid ? " (request " : "",
		 rid ? rid : "", rid ? ")" : "");
	llm_http_failure(r, "anthropic", rs->status, spend_limit(rs), what,
			 "the organisation's spend limit is reached: raise it in the console, "
			 "then resume planning",
			 "check the API key (ANTHROPIC_API_KEY or the variable llm.api_key_env "
			 "names) and its permissions",
			 e);
	cJSON_Delete(j);
}

int llm_anthropic_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		       struct err *e)
{
	static const char *const schema_words[] = {"output_config", "output_format",
						   "json_schema", "structured", NULL};
	static const struct llm_wire wire = {"anthropic", llm_anthropic_body, spend_limit,
					     classify, llm_anthropic_parse, schema_words};
	char *key_hdr = xasprintf("x-api-key: %s", c->key ? c->key : "");
	const char *hdrs[] = {key_hdr, "anthropic-version: " API_VERSION,
			      "content-type: application/json", "accept: application/json"};
	int rc = llm_wire_call(c, &wire, hdrs, ARRAY_LEN(hdrs), q, r, e);

	/* The header held the key: wipe it before the memory goes back. */
	explicit_bzero(key_hdr, strlen(key_hdr));
	free(key_hdr);
	return rc;
}
