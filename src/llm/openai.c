/*
 * openai.c — any OpenAI-compatible chat completions server (vLLM,
 * llama.cpp, Ollama, OpenAI itself): POST {base}/v1/chat/completions,
 * response_format json_schema when the server takes it, both error shapes
 * ({"error": {...}} and old vLLM's flat {"object": "error", ...}).
 *
 * The system message and the stable user text come first so that a
 * server's prefix cache reuses them.
 */
#include "hypotop/json.h"
#include "hypotop/llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_msg(cJSON *msgs, const char *role, const char *text)
{
	cJSON *m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddStringToObject(m, "content", text && *text ? text : "(empty)");
	cJSON_AddItemToArray(msgs, m);
}

char *llm_openai_body(const struct llm_client *c, const struct llm_call *q, bool schema)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *msgs;
	char *user, *s;

	cJSON_AddStringToObject(o, "model", c->model);
	cJSON_AddNumberToObject(o, "max_tokens", (double)q->max_tokens);
	msgs = cJSON_AddArrayToObject(o, "messages");
	add_msg(msgs, "system", q->system);
	user = xasprintf("%s\n\n%s", q->stable ? q->stable : "", q->request ? q->request : "");
	add_msg(msgs, "user", user);
	free(user);
	if (q->problem) {
		add_msg(msgs, "assistant", q->prev_answer);
		char *ask = xasprintf("That answer cannot be used: %s\n\n%s", q->problem,
				      llm_prompt_again(q));
		add_msg(msgs, "user", ask);
		free(ask);
	}
	if (schema && q->schema) {
		cJSON *sch = cJSON_Parse(q->schema);
		if (sch) {
			cJSON *rf = cJSON_AddObjectToObject(o, "response_format");
			cJSON_AddStringToObject(rf, "type", "json_schema");
			cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
			cJSON_AddStringToObject(js, "name", q->kind ? q->kind : "answer");
			cJSON_AddItemToObject(js, "schema", sch);
		}
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}



int llm_openai_parse(const struct llm_client *c, const char *body, struct llm_reply *r,
		     struct err *e)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(ch, "message");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
	const char *content = json_string(msg, "content"), *refusal = json_string(msg, "refusal");
	const char *finish = json_string(ch, "finish_reason");

	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(j);
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "openai: the response has no choices[0].message");
		return -1;
	}
	r->text = xstrdup(content ? content : refusal ? refusal : "");
	/* One vocabulary of stop reasons for the planner, the Messages API's. */
	r->stop = xstrdup(refusal || (finish && !strcmp(finish, "content_filter")) ? "refusal"
			  : finish && !strcmp(finish, "length")			   ? "max_tokens"
			  : finish && !strcmp(finish, "stop")			   ? "end_turn"
			  : finish						   ? finish
										   : "unknown");
	if (cJSON_IsObject(usage)) {
		long prompt = json_count(usage, "prompt_tokens");
		long cached = json_count(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details"),
				  "cached_tokens");
		r->has_usage = true;
		r->usage.cache_read = cached <= prompt ? cached : prompt;
		r->usage.input = prompt - r->usage.cache_read;
		r->usage.output = json_count(usage, "completion_tokens");
		r->has_cost = true;
		r->cost_known = llm_cost(c->prices, c->model, &r->usage, &r->usd);
	}
	cJSON_Delete(j);
	return 0;
}

/* The error object of either shape: {"error": {...}} or the flat {"object": "error", ...}. */
static const cJSON *error_of(const cJSON *j)
{
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
	const char *obj = json_string(j, "object");

	if (cJSON_IsObject(err))
		return err;
	return obj && !strcmp(obj, "error") ? j : NULL;
}

static bool quota_exhausted(const struct http_response *rs)
{
	cJSON *j;
	bool v;

	if (rs->status != 429)
		return false;
	j = cJSON_Parse(rs->body.data ? rs->body.data : "");
	const cJSON *err = error_of(j);
	const char *code = json_string(err, "code"), *type = json_string(err, "type");
	v = (code && !strcmp(code, "insufficient_quota")) || (type && !strcmp(type, "insufficient_quota"));
	cJSON_Delete(j);
	return v;
}

static void classify(const struct http_response *rs, struct llm_reply *r, struct err *e)
{
	cJSON *j = cJSON_Parse(rs->body.data ? rs->body.data : "");
	const cJSON *err = error_of(j);
	const char *type = json_string(err, "type"), *msg = json_string(err, "message");
	char what[600];

	if (!msg && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")))
		msg = json_string(j, "error"); /* Ollama: {"error": "text"} */
	snprintf(what, sizeof what, "HTTP %ld%s%s%s%.400s", rs->status, type ? " " : "",
		 type ? type : "", msg ? ": " : "", msg ? msg : "");
	llm_http_failure(r, "openai", rs->status, quota_exhausted(rs), what,
			 "the account's quota is spent: raise it, then resume planning",
			 "check the API key (the variable llm.api_key_env names, or OPENAI_API_KEY)",
			 e);
	cJSON_Delete(j);
}

int llm_openai_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		    struct err *e)
{
	static const char *const schema_words[] = {"response_format", "json_schema", "structured",
						   NULL};
	static const struct llm_wire wire = {"openai", llm_openai_body, quota_exhausted, classify,
					     llm_openai_parse, schema_words};
	char *auth = c->key ? xasprintf("Authorization: Bearer %s", c->key) : NULL;
	const char *hdrs[] = {"content-type: application/json", "accept: application/json", auth};
	int rc = llm_wire_call(c, &wire, hdrs, auth ? 3 : 2, q, r, e);

	if (auth) {
		/* The header held the key: wipe it before the memory goes back. */
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	return rc;
}
