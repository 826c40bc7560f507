/*
 * reply.c — one model exchange's result (struct llm_reply) and the
 * scrubbing of the keys of the environment out of anything that could
 * reach a file.
 */
#include "hypotop/llm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"

void llm_reply_init(struct llm_reply *r)
{
	memset(r, 0, sizeof *r);
}

void llm_reply_free(struct llm_reply *r)
{
	free(r->text);
	free(r->stop);
	cJSON_Delete(r->raw);
	cJSON_Delete(r->attempts);
	llm_reply_init(r);
}

#define REDACTED "[redacted]"

bool llm_redact(char *s, const char *key)
{
	size_t kl = key ? strlen(key) : 0, rl = strlen(REDACTED);
	bool found = false;
	char *p;

	if (!s || !kl)
		return false;
	while ((p = strstr(s, key))) {
		found = true;
		/* In place: the text never grows, a short key is starred out instead. */
		if (kl >= rl) {
			memcpy(p, REDACTED, rl);
			memmove(p + rl, p + kl, strlen(p + kl) + 1);
			s = p + rl;
		} else {
			memset(p, '*', kl);
			s = p + kl;
		}
	}
	return found;
}

bool llm_redact_json(cJSON *j, const char *key)
{
	bool found = false;

	if (!j || !key || !*key)
		return false;
	for (cJSON *c = j; c; c = c->next) {
		if (cJSON_IsString(c))
			found |= llm_redact(c->valuestring, key);
		if (c->string)
			found |= llm_redact(c->string, key);
		found |= llm_redact_json(c->child, key);
	}
	return found;
}

/* The value of var kept among c's secrets, the longer ones first: none is left half scrubbed. */
static char *secret_add(struct llm_client *c, const char *var)
{
	const char *v = getenv(var);
	size_t i;

	for (i = 0; i < c->nsecrets; i++)
		if (!strcmp(c->secrets[i].var, var))
			return c->secrets[i].value;
	if (!v || !*v || c->nsecrets == LLM_SECRETS_MAX)
		return NULL;
	for (i = c->nsecrets; i > 0 && strlen(c->secrets[i - 1].value) < strlen(v); i--)
		c->secrets[i] = c->secrets[i - 1];
	c->secrets[i] = (struct llm_secret){var, xstrdup(v)};
	c->nsecrets++;
	return c->secrets[i].value;
}

void llm_secrets_load(struct llm_client *c, const char *key_var)
{
	c->key = secret_add(c, key_var);
	secret_add(c, "ANTHROPIC_API_KEY");
	secret_add(c, "OPENAI_API_KEY");
}

void llm_secrets_free(struct llm_client *c)
{
	for (size_t i = 0; i < c->nsecrets; i++) {
		explicit_bzero(c->secrets[i].value, strlen(c->secrets[i].value));
		free(c->secrets[i].value);
	}
	c->nsecrets = 0;
	c->key = NULL;
}

const char *llm_scrub(const struct llm_client *c, char *s, cJSON *j)
{
	const char *found = NULL;

	for (size_t i = 0; i < c->nsecrets; i++) {
		/*
		 * A placeholder such as "x" or "none", which a local server takes,
		 * is ordinary text: scrubbing it would garble every answer, and
		 * refuse every proposal that used the letter.
		 */
		if (strlen(c->secrets[i].value) < LLM_SECRET_MIN)
			continue;
		bool in_s = llm_redact(s, c->secrets[i].value);
		bool in_j = llm_redact_json(j, c->secrets[i].value);
		if ((in_s || in_j) && !found)
			found = c->secrets[i].var;
	}
	return found;
}

void llm_http_failure(struct llm_reply *r, const char *provider, long status, bool spend_limit,
		      const char *what, const char *spend_fix, const char *key_fix,
		      struct err *e)
{
	if (spend_limit) {
		r->kind = planner_kind_name(PK_SPEND_LIMIT);
		err_set(e, "%s: %s; %s", provider, what, spend_fix);
	} else if (status == 401 || status == 403) {
		r->kind = planner_kind_name(PK_AUTH);
		err_set(e, "%s: %s; %s", provider, what, key_fix);
	} else if (status == 400 || status == 404 || status == 413 || status == 422) {
		r->kind = planner_kind_name(PK_REQUEST);
		err_set(e, "%s: %s; the request was refused: check llm.model and llm.base_url",
			provider, what);
	} else {
		int n = cJSON_GetArraySize(r->attempts);
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "%s: %s; gave up after %d retr%s", provider, what, n - 1,
			n == 2 ? "y" : "ies");
	}
}

void llm_reply_usage(struct llm_reply *r, const cJSON *usage)
{
	if (!cJSON_IsObject(usage))
		return;
	r->has_usage = true;
	r->usage.input = json_count(usage, "input_tokens");
	r->usage.output = json_count(usage, "output_tokens");
	r->usage.cache_write = json_count(usage, "cache_creation_input_tokens");
	r->usage.cache_read = json_count(usage, "cache_read_input_tokens");
}
