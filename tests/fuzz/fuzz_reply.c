/*
 * fuzz_reply.c — what a model provider sends back: the body of an
 * Anthropic or OpenAI response, or a command's stdout.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "hypotop/llm.h"

static void expect(int rc, const struct llm_reply *r, const struct err *e, const char *what)
{
	if (rc < 0) {
		fuzz_need_msg(e, what);
		if (!r->kind)
			fuzz_fail("%s: refused without a failure kind", what);
	} else if (!r->text || !r->stop) {
		fuzz_fail("%s: accepted without a text and a stop reason", what);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct llm_client c = {0};
	char *body = fuzz_cstr(data, size);
	struct llm_reply r;
	struct err e = {{0}};

	c.model = "claude-sonnet-5-5";
	llm_reply_init(&r);
	expect(llm_anthropic_parse(&c, body, &r, &e), &r, &e, "anthropic");
	llm_reply_free(&r);

	c.model = "gpt-5";
	e.msg[0] = '\0';
	llm_reply_init(&r);
	expect(llm_openai_parse(&c, body, &r, &e), &r, &e, "openai");
	llm_reply_free(&r);

	e.msg[0] = '\0';
	llm_reply_init(&r);
	expect(llm_command_parse(body, &r, &e), &r, &e, "command");
	llm_reply_free(&r);
	free(body);
	return 0;
}
