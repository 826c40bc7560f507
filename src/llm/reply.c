/*
 * reply.c — one model exchange's result (struct llm_reply) and the
 * scrubbing of the API key out of anything that could reach a file.
 */
#include "hypotop/llm.h"

#include <stdlib.h>
#include <string.h>

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

void llm_redact(char *s, const char *key)
{
	size_t kl = key ? strlen(key) : 0, rl = strlen(REDACTED);
	char *p;

	if (!s || !kl)
		return;
	while ((p = strstr(s, key))) {
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
}

void llm_redact_json(cJSON *j, const char *key)
{
	if (!j || !key || !*key)
		return;
	for (cJSON *c = j; c; c = c->next) {
		if (cJSON_IsString(c))
			llm_redact(c->valuestring, key);
		if (c->string)
			llm_redact(c->string, key);
		llm_redact_json(c->child, key);
	}
}
