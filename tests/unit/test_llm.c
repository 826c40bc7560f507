/*
 * Unit tests: the model providers' pure parts (retry rules, prices, key
 * scrubbing, response parsing, request bodies, schemas, prompts, failure
 * kinds, request copies), then a few live calls against the fake server of
 * tests/e2e/fake_llm.py on 127.0.0.1 and a command, so that the HTTP
 * client, the planner and its threads also run under the sanitizers.
 */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/config.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/llm.h"
#include "hypotop/planner.h"

extern char **environ;

static struct http_response response(long status, const char *headers)
{
	struct http_response r;

	http_response_init(&r);
	r.status = status;
	buf_adds(&r.headers, headers);
	return r;
}

static void retry_rules(void)
{
	struct llm_opts o;
	struct http_response r;
	char v[64];

	llm_opts_default(&o);
	r = response(429, "Content-Type: application/json\nRetry-After: 3\n");
	T_CHECK(http_response_header(&r, "retry-after", v, sizeof v) && !strcmp(v, "3"), "%s", v);
	T_CHECK(llm_should_retry(&r), "429 retried");
	T_CHECK(llm_retry_delay_ms(&r, 0, &o, 0.5) == 3000, "retry-after seconds");
	http_response_free(&r);

	r = response(529, "retry-after-ms: 250\nretry-after: 9\n");
	T_CHECK(llm_retry_delay_ms(&r, 0, &o, 0) == 250, "retry-after-ms wins");
	http_response_free(&r);

	/* Beyond 60 s, or nonsense: our own backoff. */
	r = response(503, "retry-after: 3600\n");
	T_CHECK(llm_retry_delay_ms(&r, 0, &o, 0) == 500, "%ld", llm_retry_delay_ms(&r, 0, &o, 0));
	http_response_free(&r);
	r = response(503, "retry-after: soon\n");
	T_CHECK(llm_retry_delay_ms(&r, 1, &o, 0) == 1000, "attempt 1");
	http_response_free(&r);

	/* An HTTP date a few seconds ahead. */
	time_t t = time(NULL) + 5;
	struct tm tm;
	char date[64], hdr[96];
	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof hdr, "retry-after: %s\n", date);
	r = response(429, hdr);
	long d = llm_retry_delay_ms(&r, 0, &o, 0);
	T_CHECK(d > 3000 && d <= 5000, "date delay %ld", d);
	http_response_free(&r);

	/* The computed backoff: doubling, capped, with up to 25 % off. */
	T_CHECK(llm_retry_delay_ms(NULL, 0, &o, 0) == 500, "first");
	T_CHECK(llm_retry_delay_ms(NULL, 2, &o, 0) == 2000, "third");
	T_CHECK(llm_retry_delay_ms(NULL, 10, &o, 0) == 8000, "capped");
	T_CHECK(llm_retry_delay_ms(NULL, 10, &o, 0.999) > 6000, "jitter");

	static const struct {
		long status;
		const char *headers;
		bool retry;
	} cases[] = {
		{408, "", true},	{409, "", true},  {429, "", true},
		{500, "", true},	{529, "", true},  {503, "", true},
		{400, "", false},	{401, "", false}, {403, "", false},
		{404, "", false},	{413, "", false}, {500, "x-should-retry: false\n", false},
		{400, "X-Should-Retry: true\n", true},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		r = response(cases[i].status, cases[i].headers);
		T_CHECK(llm_should_retry(&r) == cases[i].retry, "case %zu", i);
		http_response_free(&r);
	}
}

static void prices(void)
{
	struct llm_usage u = {1000000, 1000000, 1000000, 1000000};
	double usd;

	struct llm_price p;

	T_CHECK(llm_cost(NULL, "claude-opus-5-5", &u, &usd) &&
			fabs(usd - (4 + 20 + 5 + 0.20)) < 1e-9,
		"opus %g", usd);
	T_CHECK(llm_cost(NULL, "claude-sonnet-5-5-20260901", &u, &usd) &&
			fabs(usd - (2 + 10 + 2.5 + 0.10)) < 1e-9,
		"dated sonnet %g", usd);
	T_CHECK(llm_price_find(NULL, "claude-haiku-5-5-latest", &p), "latest");
	T_CHECK(!llm_price_find(NULL, "claude-sonnet-5-50", &p), "a longer name is another model");
	T_CHECK(!llm_price_find(NULL, "claude-sonnet-5-5-x", &p), "not a date");
	T_CHECK(!llm_cost(NULL, "gpt-oss-20b", &u, &usd) && usd == 0, "unknown");
	T_CHECK(!llm_cost(NULL, NULL, &u, &usd), "no model");

	/* The config's table first; cache prices default to the input's. */
	cJSON *cfg = cJSON_Parse("{\"gpt-oss-20b\": {\"input\": 0.5, \"output\": 1},"
				 " \"claude-opus-5-5\": {\"input\": 1, \"output\": 2, "
				 "\"cache_read\": 0, \"cache_write\": 3}}");
	T_CHECK(llm_cost(cfg, "gpt-oss-20b", &u, &usd) && fabs(usd - (0.5 + 1 + 0.5 + 0.5)) < 1e-9,
		"configured %g", usd);
	T_CHECK(llm_cost(cfg, "claude-opus-5-5-20270101", &u, &usd) &&
			fabs(usd - (1 + 2 + 0 + 3)) < 1e-9,
		"the config overrides the table %g", usd);
	T_CHECK(llm_cost(cfg, "claude-sonnet-5-5", &u, &usd) && fabs(usd - 14.6) < 1e-9,
		"the table still answers %g", usd);
	T_CHECK(!llm_cost(cfg, "qwen-7b", &u, &usd) && usd == 0, "still unknown");
	cJSON_Delete(cfg);
}

static void redaction(void)
{
	char s[128] = "key=sk-ant-0123456789abcdef; again sk-ant-0123456789abcdef.";
	char t[64] = "a short k3y and k3y";
	char u[32] = "untouched";

	llm_redact(s, "sk-ant-0123456789abcdef");
	T_STREQ(s, "key=[redacted]; again [redacted].");
	llm_redact(t, "k3y");
	T_STREQ(t, "a short *** and ***");
	llm_redact(u, "");
	llm_redact(u, NULL);
	T_STREQ(u, "untouched");

	cJSON *j = cJSON_Parse("{\"a\": [\"x SECRETSECRETSECRET y\", {\"b\": "
			       "\"SECRETSECRETSECRET\"}], \"SECRETSECRETSECRET\": 1}");
	llm_redact_json(j, "SECRETSECRETSECRET");
	char *p = cJSON_PrintUnformatted(j);
	T_CHECK(!strstr(p, "SECRET"), "%s", p);
	T_CONTAINS(p, "x [redacted] y");
	free(p);
	cJSON_Delete(j);

	/* Every key of the environment, the longest first, so none is left half scrubbed. */
	struct llm_client c = {0};
	setenv("HYPOTOP_UNIT_KEY", "sk-named-0123456789", 1);
	setenv("ANTHROPIC_API_KEY", "sk-named-0123456789-and-more", 1);
	unsetenv("OPENAI_API_KEY");
	llm_secrets_load(&c, "HYPOTOP_UNIT_KEY");
	T_CHECK(c.nsecrets == 2 && c.key && !strcmp(c.key, "sk-named-0123456789"), "%zu",
		c.nsecrets);
	T_STREQ(c.secrets[0].var, "ANTHROPIC_API_KEY");
	char v[128] = "a sk-named-0123456789-and-more b sk-named-0123456789 c";
	T_STREQ(llm_scrub(&c, v, NULL), "ANTHROPIC_API_KEY");
	T_STREQ(v, "a [redacted] b [redacted] c");
	T_CHECK(!llm_scrub(&c, v, NULL), "scrubbed twice");
	j = cJSON_Parse("{\"a\": \"sk\\u002dnamed-0123456789\"}");
	T_STREQ(llm_scrub(&c, NULL, j), "HYPOTOP_UNIT_KEY");
	cJSON_Delete(j);
	llm_secrets_free(&c);
	T_CHECK(!c.key && !c.nsecrets, "not freed");
	/* A placeholder key that a local server takes is not looked for in answers. */
	setenv("HYPOTOP_UNIT_KEY", "x", 1);
	llm_secrets_load(&c, "HYPOTOP_UNIT_KEY");
	char w[64] = "max_len=2 x";
	T_CHECK(!llm_scrub(&c, w, NULL), "a placeholder key counted as a secret");
	T_STREQ(w, "max_len=2 x");
	llm_secrets_free(&c);
	unsetenv("HYPOTOP_UNIT_KEY");
	unsetenv("ANTHROPIC_API_KEY");
}

static struct llm_client client(const char *provider, const char *model)
{
	struct llm_client c = {0};

	c.provider = provider;
	c.model = (char *)(uintptr_t)model;
	llm_opts_default(&c.opts);
	return c;
}

static void parse_anthropic(void)
{
	struct llm_client c = client("anthropic", "claude-sonnet-5-5");
	struct llm_reply r;
	struct err e = {{0}};

	llm_reply_init(&r);
	int rc = llm_anthropic_parse(
		&c,
		"{\"content\": [{\"type\": \"thinking\", \"thinking\": \"hmm\"}, {\"type\": \"text\", "
		"\"text\": \"{\\\"a\\\":\"}, {\"type\": \"text\", \"text\": \"1}\"}], \"stop_reason\": "
		"\"max_tokens\", \"usage\": {\"input_tokens\": 10, \"output_tokens\": 20, "
		"\"cache_creation_input_tokens\": 30, \"cache_read_input_tokens\": 40}}",
		&r, &e);
	T_CHECK(rc == 0, "%s", e.msg);
	T_STREQ(r.text, "{\"a\":1}");
	T_STREQ(r.stop, "max_tokens");
	T_CHECK(r.has_usage && r.usage.input == 10 && r.usage.output == 20 &&
			r.usage.cache_write == 30 && r.usage.cache_read == 40,
		"usage");
	T_CHECK(r.cost_known && fabs(r.usd - (10 * 2 + 20 * 10 + 30 * 2.5 + 40 * 0.1) / 1e6) < 1e-12,
		"cost %g", r.usd);
	llm_reply_free(&r);

	rc = llm_anthropic_parse(&c, "{\"type\": \"message\"}", &r, &e);
	T_CHECK(rc < 0 && r.kind && !strcmp(r.kind, "llm_unavailable"), "no content");
	llm_reply_free(&r);
	rc = llm_anthropic_parse(&c, "<html>", &r, &e);
	T_CHECK(rc < 0, "not JSON");
	llm_reply_free(&r);
}

static void parse_openai(void)
{
	struct llm_client c = client("openai", "local-model");
	struct llm_reply r;
	struct err e = {{0}};

	llm_reply_init(&r);
	int rc = llm_openai_parse(&c,
				  "{\"choices\": [{\"message\": {\"role\": \"assistant\", "
				  "\"content\": \"hi\"}, \"finish_reason\": \"length\"}], "
				  "\"usage\": {\"prompt_tokens\": 50, \"completion_tokens\": 5, "
				  "\"prompt_tokens_details\": {\"cached_tokens\": 30}}}",
				  &r, &e);
	T_CHECK(rc == 0, "%s", e.msg);
	T_STREQ(r.text, "hi");
	T_STREQ(r.stop, "max_tokens");
	T_CHECK(r.usage.input == 20 && r.usage.cache_read == 30 && r.usage.output == 5, "usage");
	T_CHECK(r.has_cost && !r.cost_known, "an unknown model's cost is unknown");
	llm_reply_free(&r);

	rc = llm_openai_parse(&c,
			      "{\"choices\": [{\"message\": {\"content\": null, \"refusal\": "
			      "\"no\"}, \"finish_reason\": \"stop\"}]}",
			      &r, &e);
	T_CHECK(rc == 0 && !strcmp(r.stop, "refusal") && !strcmp(r.text, "no"), "refusal");
	llm_reply_free(&r);
	rc = llm_openai_parse(&c, "{\"choices\": []}", &r, &e);
	T_CHECK(rc < 0, "no choice");
	llm_reply_free(&r);
}

static void parse_command(void)
{
	struct llm_reply r;
	struct err e = {{0}};

	llm_reply_init(&r);
	T_CHECK(llm_command_parse("Sure: {\"x\": 1}\n", &r, &e) == 0, "plain");
	T_STREQ(r.text, "Sure: {\"x\": 1}\n");
	T_CHECK(r.has_cost && !r.cost_known, "a bare answer's cost is unknown");
	llm_reply_free(&r);

	T_CHECK(llm_command_parse("{\"type\": \"result\", \"subtype\": \"success\", \"is_error\": "
				  "false, \"result\": \"text {\\\"y\\\": 2}\", \"total_cost_usd\": "
				  "0.5}",
				  &r, &e) == 0,
		"%s", e.msg);
	T_STREQ(r.text, "text {\"y\": 2}");
	T_CHECK(r.cost_known && r.usd == 0.5, "cost");
	llm_reply_free(&r);

	T_CHECK(llm_command_parse("{\"type\": \"result\", \"subtype\": \"error_during_execution\", "
				  "\"is_error\": true, \"total_cost_usd\": 0.1}",
				  &r, &e) < 0,
		"error result");
	T_CONTAINS(e.msg, "error_during_execution");
	T_CHECK(r.cost_known && r.usd == 0.1, "a failed agent run still cost money");
	llm_reply_free(&r);
}

/* Every object schema says additionalProperties: false. */
static bool all_closed(const cJSON *s)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(s, "type");

	if (cJSON_IsString(type) && !strcmp(type->valuestring, "object") &&
	    !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")))
		return false;
	for (const cJSON *c = s ? s->child : NULL; c; c = c->next)
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !all_closed(c))
			return false;
	return true;
}

static int load(const char *text, struct config *c)
{
	struct err e = {{0}};
	cJSON *doc = json_parse(text, strlen(text), "config.json", &e);

	if (!doc || config_from_json(c, doc, "config.json", text, &e) < 0) {
		printf("# config: %s\n", e.msg);
		cJSON_Delete(doc);
		return -1;
	}
	return 0;
}

#define BASE "\"source_dir\": \"/src\", \"launch\": \"x\", \"metric\": \"val_loss\""

static void schemas(void)
{
	struct config c, bare;
	char *a = llm_schema_analyse();
	cJSON *j = cJSON_Parse(a);

	T_CHECK(j && all_closed(j), "analyse schema: %s", a);
	T_CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "required")) == 5, "required");
	cJSON_Delete(j);
	free(a);

	if (load("{" BASE ", \"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": "
		 "{\"log_uniform\": [1e-4, 1e-1]}, \"n\": {\"int\": [1, 4]}, \"act\": {\"choice\": "
		 "[\"relu\", \"gelu\"]}}}}",
		 &c) < 0 ||
	    load("{" BASE "}", &bare) < 0) {
		T_CHECK(0, "config");
		return;
	}
	char *p = llm_schema_plan(&c);
	j = cJSON_Parse(p);
	T_CHECK(j && all_closed(j), "plan schema: %s", p);
	T_CONTAINS(p, "\"lr\":{\"type\":\"number\"}");
	T_CONTAINS(p, "\"n\":{\"type\":\"integer\"}");
	T_CONTAINS(p, "\"act\":{\"enum\":[\"relu\",\"gelu\"]}");
	cJSON_Delete(j);
	free(p);
	p = llm_schema_plan(&bare);
	T_CHECK(!strstr(p, "\"params\""), "params offered without a search space: %s", p);
	T_CONTAINS(p, "\"patch\"");
	T_CONTAINS(p, "\"edits\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
		      "\"properties\":{\"path\":{\"type\":\"string\"},\"search\":{\"type\":"
		      "\"string\"},\"replace\":{\"type\":\"string\"}}");
	free(p);
	config_free(&c);
	config_free(&bare);
}

static void bodies(void)
{
	struct llm_client c = client("anthropic", "claude-opus-5-5");
	struct llm_call q = {"plan", "SYS", "STABLE", "REQ", NULL, NULL, "{\"type\":\"object\"}", 100};

	char *b = llm_anthropic_body(&c, &q, true);
	cJSON *j = cJSON_Parse(b);
	T_CHECK(cJSON_GetObjectItemCaseSensitive(j, "output_config") != NULL, "%s", b);
	T_CHECK(!cJSON_GetObjectItemCaseSensitive(j, "temperature"), "sampling params");
	T_CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "messages")) == 1, "one turn");
	T_CONTAINS(b, "\"system\":[{\"type\":\"text\",\"text\":\"SYS\",\"cache_control\":{\"type\":"
		      "\"ephemeral\"}}]");
	cJSON_Delete(j);
	free(b);

	q.prev_answer = "{\"bad\": 1}\n\n  ";
	q.problem = "plan: bad: unknown key";
	b = llm_anthropic_body(&c, &q, false);
	j = cJSON_Parse(b);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "messages");
	T_CHECK(!cJSON_GetObjectItemCaseSensitive(j, "output_config"), "schema left out");
	T_CHECK(cJSON_GetArraySize(m) == 3, "three turns");
	T_CONTAINS(b, "{\\\"bad\\\": 1}\"}]}"); /* no trailing white space */
	T_CONTAINS(b, "That answer cannot be used: plan: bad: unknown key");
	cJSON_Delete(j);
	free(b);

	c = client("openai", "m");
	b = llm_openai_body(&c, &q, true);
	T_CONTAINS(b, "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
		      "\"plan\"");
	T_CONTAINS(b, "\"role\":\"assistant\"");
	free(b);
}

static void prompts(void)
{
	struct config c;
	struct llm_prompt p;

	if (load("{" BASE ", \"notes\": \"an MLP\", \"goal\": \"max\"}", &c) < 0) {
		T_CHECK(0, "config");
		return;
	}
	struct analyse_request ar = {
		.cfg = &c,
		.node = "n0007",
		.name = "wide|net",
		.status = "failed",
		.failure_kind = "nan",
		.log_tail = "ok line\n\x1b[31mred\x1b[0m\n```\nloss=nan\n",
		.change = "{\"kind\": \"patch\", \"patch\": \"diff --git a/m.py b/m.py\\n+width = "
			  "4096\\n\"}",
		.metrics_json = "{\"series\": {}}",
	};
	llm_prompt_analyse(&ar, NULL, &p);
	T_CONTAINS(p.system, "\"hypothesis_supported\"");
	T_CONTAINS(p.stable, "higher is better");
	T_CONTAINS(p.stable, "an MLP");
	T_CONTAINS(p.request, "Status: failed (nan)");
	T_CONTAINS(p.request, "    \\e[31mred\\e[0m\n");
	T_CONTAINS(p.request, "    ```\n    loss=nan\n");
	T_CHECK(!strchr(p.request, '\x1b'), "an escape reached the prompt");
	T_CONTAINS(p.request, "| this run | not reported |");
	T_CONTAINS(p.request, "## The change it made\n\n    diff --git a/m.py b/m.py\n    +width = "
			      "4096\n");
	T_CONTAINS(p.request, "    {\"series\": {}}\n");
	llm_prompt_free(&p);
	/* An edit: each block's search text and what replaced it. */
	ar.change = "{\"kind\": \"edit\", \"edits\": [{\"path\": \"m.py\", \"search\": "
		    "\"width = 64\\n\", \"replace\": \"width = 4096\\n\"}]}";
	llm_prompt_analyse(&ar, NULL, &p);
	T_CONTAINS(p.request, "## The change it made\n\nFile `m.py`, this text:\n\n    width = 64\n"
			      "\nreplaced with:\n\n    width = 4096\n");
	llm_prompt_free(&p);

	/* The best is the mean of its runs, σ says on how many it rests, a candidate is one. */
	ar = (struct analyse_request){
		.cfg = &c, .node = "n0009", .status = "completed", .has_metric = true,
		.metric = 0.3, .has_best = true, .best_node = "n0000", .best_metric = 1.0,
		.best_sd = 0.1, .best_runs = 3, .noise_sigma = 0.4, .noise_runs = 9,
		.keep = KEEP_CANDIDATE, .has_decimals = true, .decimals = 2,
	};
	llm_prompt_analyse(&ar, NULL, &p);
	T_CONTAINS(p.request, "| best so far (n0000) | 1.00 ± 0.10 (3 runs) |");
	T_CONTAINS(p.request, "σ = 0.4 from 9 runs");
	T_CONTAINS(p.request, "it is a candidate, not improved unless");
	llm_prompt_free(&p);

	/* A long history: the best and the latest are kept, in id order. */
	size_t n = 500;
	struct plan_entry *h = xcalloc(n, sizeof *h);
	char (*ids)[16] = xcalloc(n, sizeof *ids);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof ids[i], "n%04zu", i);
		h[i] = (struct plan_entry){ids[i], i ? "n0000" : NULL, "x", "completed", NULL, NULL,
					   true, i == 7 ? 99.0 : (double)(i % 50),
					   i == 7 ? "wider | deeper" : NULL};
	}
	struct plan_request pr = {&c, NULL, h, n, "n0007", NULL, 3, 3, "Try \x1b[2Jwarmup."};
	llm_prompt_plan(&pr, NULL, &p);
	T_CONTAINS(p.stable, "# History (500 experiments)");
	T_CONTAINS(p.stable, "300 experiments are left out");
	T_CONTAINS(p.stable, "| n0007 | n0000 |");
	T_CONTAINS(p.stable, "| n0499 | n0000 |");
	T_CHECK(!strstr(p.stable, "| n0300 |"), "an old, poor row is kept");
	T_CONTAINS(p.request, "Propose 3 experiments as children of node n0007");
	T_CONTAINS(p.request, "Its val_loss: 99");
	T_CONTAINS(p.stable, "| 99 |  | (no change: a repeat of n0000) | wider \\| deeper |");
	T_CONTAINS(p.request, "# Guidance from the researcher\n\nTry \\e[2Jwarmup.");
	llm_prompt_free(&p);
	free(h);
	free(ids);

	/* A pruned run: listed with its step in the history, no failure to repair. */
	struct plan_entry pe[2] = {
		{"n0000", NULL, "baseline", "completed", NULL, NULL, true, 1.0, NULL, NULL},
		{"n0001", "n0000", "tiny-lr", "pruned",
		 "pruned at step 300 (loss 1.9 vs 1.2 of n0000)", NULL, true, 1.9, NULL, NULL},
	};
	struct plan_request pp = {&c, NULL, pe, 2, "n0000", NULL, 1, 3, NULL};
	llm_prompt_plan(&pp, NULL, &p);
	T_CONTAINS(p.stable, "| n0001 | n0000 | tiny-lr | pruned | 1.9 | pruned at step 300 "
			     "(loss 1.9 vs 1.2 of n0000) |");
	T_CONTAINS(p.system, "A \"pruned\" node was stopped early");
	llm_prompt_free(&p);
	ar = (struct analyse_request){
		.cfg = &c, .node = "n0001", .status = "pruned",
		.failure_kind = "pruned at step 300: its loss (1.9) was worse",
	};
	llm_prompt_analyse(&ar, NULL, &p);
	T_CONTAINS(p.request, "Status: pruned (pruned at step 300: its loss (1.9) was worse)");
	T_CONTAINS(p.system, "It is no failure of its code");
	llm_prompt_free(&p);

	/* Instructions from a file replace the built-in ones; the contract stays. */
	char *dir = t_tmpdir(), *file = path_join(dir, "analyse.md");
	struct err e = {{0}};
	fs_write_atomic(file, "Be terse.", 9, 0600, &e);
	llm_prompt_analyse(&ar, dir, &p);
	T_CHECK(!strncmp(p.system, "Be terse.\n\n", 11), "%s", p.system);
	T_CONTAINS(p.system, "\"verdict\"");
	llm_prompt_free(&p);
	fs_remove_tree(dir);
	free(file);
	free(dir);
	config_free(&c);
}

/* The history shows each node's own change: params against the baseline, or the files it touched. */
static void plan_history_shows_changes(void)
{
	struct config c;
	struct llm_prompt p;

	if (load("{" BASE "}", &c) < 0) {
		T_CHECK(0, "config");
		return;
	}
	cJSON *base = cJSON_Parse("{\"lr\": 0.01, \"depth\": 2}");
	cJSON *lr = cJSON_Parse("{\"lr\": 0.02, \"depth\": 2}");
	struct plan_entry h[] = {
		{"n0000", NULL, "base", "completed", NULL, base, true, 1, NULL, NULL},
		{"n0001", "n0000", "wider", "completed", NULL, base, true, 0.9, NULL,
		 "{\"kind\": \"patch\", \"patch\": \"diff --git a/model.py b/model.py\\n--- "
		 "a/model.py\\n+++ b/model.py\\n@@ -1 +1 @@\\n-w = 1\\n+w = 2\\ndiff --git "
		 "a/train.py b/train.py\\n--- a/train.py\\n+++ b/train.py\\n@@ -1 +1 @@\\n-a\\n+b\\n\"}"},
		{"n0002", "n0001", "lr-up", "completed", NULL, lr, true, 0.8, NULL,
		 "{\"kind\": \"params\", \"params\": {\"lr\": 0.02}}"},
		{"n0003", "n0000", "data", "failed", "crash", base, false, 0, NULL,
		 "{\"kind\": \"files\", \"files\": [{\"path\": \"data.py\", \"content\": \"x\"}]}"},
		{"n0004", "n0001", "again", "completed", NULL, base, true, 0.91, NULL, NULL},
	};
	struct plan_request pr = {&c, base, h, ARRAY_LEN(h), "n0002", lr, 3, 3, NULL};
	llm_prompt_plan(&pr, NULL, &p);
	T_CONTAINS(p.stable, "| n0000 | – | base | completed | 1 |  | (baseline) |");
	T_CONTAINS(p.stable, "| n0001 | n0000 | wider | completed | 0.9 |  | patch: model.py "
			     "train.py |");
	T_CONTAINS(p.stable, "| n0002 | n0001 | lr-up | completed | 0.8 |  | lr=0.02 |");
	T_CONTAINS(p.stable, "| n0003 | n0000 | data | failed |  | crash | files: data.py |");
	T_CONTAINS(p.stable, "| n0004 | n0001 | again | completed | 0.91 |  | (no change: a "
			     "repeat of n0001) |");
	llm_prompt_free(&p);
	cJSON_Delete(base);
	cJSON_Delete(lr);
	config_free(&c);
}

/*
 * The plan prompt shows the code: the node's diff against the baseline,
 * the sources whole, and those past the budget named with their sizes.
 */
/* The node's analysis and the newest failures' log ends, each bounded and made safe. */
static void plan_prompt_shows_the_analysis_and_failures(void)
{
	struct config c;
	struct llm_prompt p;

	if (load("{" BASE "}", &c) < 0) {
		T_CHECK(0, "config");
		return;
	}
	struct plan_entry h[] = {{"n0003", NULL, "base", "completed", NULL, NULL, true, 1, NULL,
				  NULL}};
	struct buf big;
	buf_init(&big);
	for (int i = 0; i < 2000; i++)
		buf_printf(&big, "line %d of a long analysis\n", i);
	struct plan_failure f[] = {
		{"n0007", "nan", "step 10 loss nan\n\x1b[31mTraceback\n"},
		{"n0005", "crash", ""},
	};
	struct plan_request pr = {&c, NULL, h, 1, "n0003", NULL, 1, 3, NULL};
	pr.analysis = big.data;
	pr.failures = f;
	pr.nfailures = ARRAY_LEN(f);
	llm_prompt_plan(&pr, NULL, &p);
	T_CONTAINS(p.request, "## Its analysis\n\n    line 0 of a long analysis\n");
	T_CHECK(!strstr(p.request, "line 1999 of"), "the analysis is not bounded");
	T_CONTAINS(p.request, "more bytes)");
	T_CONTAINS(p.request, "## The newest failed runs, with the end of their logs\n\n"
			      "### n0007 (nan)\n\n    step 10 loss nan\n");
	T_CHECK(!strchr(p.request, '\x1b'), "a raw escape in the prompt");
	T_CONTAINS(p.request, "### n0005 (crash)\n\n    (its log is empty)\n");
	llm_prompt_free(&p);
	buf_free(&big);
	config_free(&c);
}

/* The end of a file: whole lines within the window, the whole of a short file. */
static void read_tail_keeps_whole_lines(void)
{
	char *dir = t_tmpdir(), *path = path_join(dir, "log");
	struct err e = {{0}};
	FILE *f = fopen(path, "w");

	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %04d\n", i);
	fclose(f);
	char *t = fs_read_tail(path, 35, &e);
	T_STREQ(t, "line 0997\nline 0998\nline 0999\n");
	free(t);
	t = fs_read_tail(path, 1 << 20, &e);
	T_CHECK(t && strlen(t) == 10000 && !strncmp(t, "line 0000\n", 10), "the whole file");
	free(t);
	T_CHECK(fs_read_tail(dir, 100, &e) == NULL, "a folder read");
	T_CONTAINS(e.msg, "not a regular file");
	fs_remove_tree(dir);
	free(path);
	free(dir);
}

static void plan_prompt_shows_the_code(void)
{
	struct config c;
	struct llm_prompt p;

	if (load("{" BASE "}", &c) < 0) {
		T_CHECK(0, "config");
		return;
	}
	struct plan_entry h[] = {{"n0000", NULL, "base", "completed", NULL, NULL, true, 1, NULL,
				  NULL}};
	struct source_file f[] = {
		{"train.py", "import model\nfor step in range(10):\n    print(step)\n", 44},
		{"big.py", NULL, 90000},
	};
	struct plan_request pr = {&c, NULL, h, 1, "n0000", NULL, 1, 3, NULL};
	pr.files = f;
	pr.nfiles = ARRAY_LEN(f);
	pr.files_more = 2;
	pr.diff = "diff --git a/model.py b/model.py\n-w = 1\n+w = 2\n";
	llm_prompt_plan(&pr, NULL, &p);
	T_CONTAINS(p.request, "## What its path changed since the baseline (git diff)\n\n    "
			      "diff --git a/model.py b/model.py\n    -w = 1\n    +w = 2\n");
	T_CONTAINS(p.request, "## Sources at its commit (4 files)");
	T_CONTAINS(p.request, "File `train.py`:\n\n    import model\n    for step in "
			      "range(10):\n        print(step)\n");
	T_CONTAINS(p.request, "- `big.py` (90000)\n- and 2 more files\n");
	llm_prompt_free(&p);
	config_free(&c);
}

/* "params" is offered only where it can apply: a param file, or {NAME} in launch. */
static void plan_prompt_offers_params_only_where_they_apply(void)
{
	static const char *const cfgs[] = {
		"{" BASE "}",
		"{\"source_dir\": \"/src\", \"launch\": \"python3 t.py --lr {lr}\", "
		"\"metric\": \"m\", \"search_space\": {\"params\": {\"lr\": {\"uniform\": "
		"[0, 1], \"default\": 0.5}}}}",
		"{" BASE ", \"search_space\": {\"file\": \"p.json\", \"params\": {\"lr\": "
		"{\"uniform\": [0, 1]}}}}",
	};
	struct plan_entry h[] = {{"n0000", NULL, "base", "completed", NULL, NULL, true, 1, NULL,
				  NULL}};

	for (size_t i = 0; i < ARRAY_LEN(cfgs); i++) {
		struct config c;
		struct llm_prompt p;
		if (load(cfgs[i], &c) < 0) {
			T_CHECK(0, "config %zu", i);
			continue;
		}
		struct plan_request pr = {&c, NULL, h, 1, "n0000", NULL, 1, 3, NULL};
		llm_prompt_plan(&pr, NULL, &p);
		bool offered = strstr(p.system, "\"kind\": \"params\"") != NULL;
		T_CHECK(offered == (i > 0), "config %zu: params %s", i,
			offered ? "offered" : "not offered");
		T_CONTAINS(p.system, "{\"kind\": \"patch\"");
		T_CONTAINS(p.system, "\"change\": {\"kind\": \"edit\", \"edits\": [{\"path\": PATH, "
				     "\"search\": TEXT, \"replace\": TEXT}, ...]}\n");
		T_CONTAINS(p.system, "for changes to the code use an edit");
		T_CONTAINS(p.system, "An \"edit\" is the way to change code: copy each block's "
				     "\"search\" exactly from the source shown");
		llm_prompt_free(&p);
		struct fix_request fr = {.cfg = &c, .node = "n0001"};
		llm_prompt_repair(&fr, NULL, &p);
		offered = strstr(p.system, "\"kind\": \"params\"") != NULL;
		T_CHECK(offered == (i > 0), "repair, config %zu: params %s", i,
			offered ? "offered" : "not offered");
		T_CONTAINS(p.system, "{\"fix\": string (what was wrong, and what the change does "
				     "about it),\n     \"change\": {\"kind\": \"edit\"");
		T_CONTAINS(p.system, "An \"edit\" is the way to change code");
		llm_prompt_free(&p);
		config_free(&c);
	}
}

static void *other_thread_kind(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)(planner_last_kind() == NULL);
}

static void kinds(void)
{
	pthread_t t;
	void *clean;

	T_CHECK(planner_kind_pauses("llm_spend_limit") && planner_kind_pauses("llm_auth") &&
			planner_kind_pauses("llm_budget") && planner_kind_pauses("llm_request"),
		"pausing kinds");
	T_CHECK(!planner_kind_pauses("llm_unavailable") && !planner_kind_pauses("llm_invalid") &&
			!planner_kind_pauses("nonsense"),
		"kinds of one call");
	T_CONTAINS(planner_kind_doc("llm_invalid"), "contract");
	planner_set_kind("llm_unavailable");
	T_STREQ(planner_last_kind(), "llm_unavailable");
	pthread_create(&t, NULL, other_thread_kind, NULL);
	pthread_join(t, &clean);
	T_CHECK(clean, "the kind leaked to another thread");
	planner_set_kind("made-up");
	T_STREQ(planner_last_kind(), "planner");
	planner_set_kind(NULL);
	T_CHECK(!planner_last_kind(), "cleared");
}

static void offline_spends_nothing(void)
{
	struct config c;
	struct err e = {{0}};
	bool known = false;

	if (load("{" BASE ", \"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": "
		 "{\"log_uniform\": [1e-4, 1e-1]}}}}",
		 &c) < 0) {
		T_CHECK(0, "config");
		return;
	}
	struct planner *p = planner_new(&c, "/nonexistent", &e);
	T_CHECK(p && !strcmp(p->name, "offline"), "%s", e.msg);
	if (p) {
		T_CHECK(planner_spent_usd(p, &known) == 0 && known, "spent");
		planner_cancel(p);
		planner_set_prior_spend(p, 3);
		p->destroy(p);
	}
	config_free(&c);
}

/* ---- live calls ---- */

struct server {
	pid_t pid;
	char url[64];
};

static int server_start(struct server *s)
{
	int fd[2];
	posix_spawn_file_actions_t fa;
	char *argv[] = {"python3", "tests/e2e/fake_llm.py", NULL};
	const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
	char port[16] = "";

	if (pipe2(fd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
	int rc = posix_spawnp(&s->pid, py, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[1]);
	if (rc != 0) {
		close(fd[0]);
		return -1;
	}
	/* The server prints its port once it listens: reading it is the wait. */
	size_t got = 0;
	while (got < sizeof port - 1 && !strchr(port, '\n')) {
		ssize_t n = read(fd[0], port + got, sizeof port - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		port[got] = '\0';
	}
	close(fd[0]);
	if (!strchr(port, '\n')) {
		printf("# the fake server printed no port: [%s]\n", port);
		return -1;
	}
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", atoi(port));
	return 0;
}

static void server_stop(struct server *s)
{
	int st;

	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
}

static int server_script(struct server *s, const char *steps)
{
	char *url = xasprintf("%s/_script", s->url);
	const char *h[] = {"content-type: application/json"};
	struct http_request rq = {url, h, 1, steps, strlen(steps), 5000, 5000, NULL, NULL};
	struct http_response rs;
	struct err e = {{0}};

	http_response_init(&rs);
	enum http_fail f = http_post(&rq, &rs, &e);
	int rc = f == HTTP_OK && rs.status == 200 ? 0 : -1;
	http_response_free(&rs);
	free(url);
	return rc;
}

#define GOOD_PLAN                                                                          \
	"{\\\"stop\\\": false, \\\"reason\\\": \\\"r\\\", \\\"proposals\\\": [{\\\"name\\\": " \
	"\\\"a\\\", \\\"hypothesis\\\": \\\"h\\\", \\\"priority\\\": 1, \\\"needs_rebuild\\\": " \
	"false, \\\"change\\\": {\\\"kind\\\": \\\"params\\\", \\\"params\\\": {\\\"lr\\\": "   \
	"0.01}}}]}"
#define MSG(text)                                                                            \
	"{\"status\": 200, \"body\": {\"content\": [{\"type\": \"text\", \"text\": \"" text      \
	"\"}], \"stop_reason\": \"end_turn\", \"usage\": {\"input_tokens\": 1000000, "          \
	"\"output_tokens\": 0}}}"

struct job {
	struct planner *p;
	const struct plan_request *r;
	int rc;
	const char *kind;
	struct err e;
	cJSON *plan;
};

static void *plan_job(void *arg)
{
	struct job *j = arg;

	j->rc = planner_plan(j->p, j->r, &j->plan, &j->kind, &j->e);
	return NULL;
}

/* planner_plan() of a command provider that runs command (JSON-escaped). */
static int command_plan(const char *command, const struct plan_request *pr,
			const struct llm_opts *o, const char *wd, cJSON **plan, const char **kind,
			struct err *e)
{
	char *cfg = xasprintf("{" BASE ", \"llm\": {\"provider\": \"command\", \"command\": "
			      "\"%s\"}}",
			      command);
	struct plan_request r = *pr;
	struct config c;
	int rc = -1;

	if (load(cfg, &c) < 0) {
		err_set(e, "the config does not load: %s", cfg);
		free(cfg);
		return -1;
	}
	r.cfg = &c;
	struct planner *p = planner_llm_new_opts(&c, wd, o, e);
	if (p) {
		rc = planner_plan(p, &r, plan, kind, e);
		p->destroy(p);
	}
	config_free(&c);
	free(cfg);
	return rc;
}

static void live_calls(void)
{
	struct server s;
	struct config c;
	struct err e = {{0}};
	struct llm_opts o;

	if (server_start(&s) < 0) {
		T_CHECK(0, "cannot start the fake server");
		return;
	}
	char *cfg = xasprintf("{" BASE ", \"llm\": {\"provider\": \"anthropic\", \"base_url\": "
			      "\"%s\", \"model\": \"claude-haiku-5-5\"}, \"budget\": {\"llm_usd\": 10}}",
			      s.url);
	char *wd = t_tmpdir();
	setenv("ANTHROPIC_API_KEY", "sk-unit-test-key-0123456789", 1);
	setenv("NO_PROXY", "127.0.0.1", 1);
	llm_opts_default(&o);
	o.backoff_base_s = 0.01;
	if (load(cfg, &c) < 0 || !(o.timeout_ms = 5000)) {
		T_CHECK(0, "config");
		goto out;
	}
	/* Four calls at once; two of them meet a 529 first. */
	T_CHECK(server_script(&s, "[{\"status\": 529, \"body\": {}}, {\"status\": 529, \"body\": "
				  "{}}, " MSG(GOOD_PLAN) ", " MSG(GOOD_PLAN) ", " MSG(GOOD_PLAN)
				  ", " MSG(GOOD_PLAN) "]") == 0,
		"script");
	struct planner *p = planner_llm_new_opts(&c, wd, &o, &e);
	T_CHECK(p != NULL, "%s", e.msg);
	if (!p)
		goto out_cfg;
	struct plan_entry h[] = {{"n0000", NULL, "base", "completed", NULL, NULL, true, 1}};
	struct plan_request pr = {&c, NULL, h, 1, "n0000", NULL, 1, 2};
	struct job jobs[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct job){p, &pr, 0, NULL, {{0}}, NULL};
		pthread_create(&t[i], NULL, plan_job, &jobs[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		T_CHECK(jobs[i].rc == 0 && !jobs[i].kind, "call %d: %s", i, jobs[i].e.msg);
		cJSON_Delete(jobs[i].plan);
	}
	bool known;
	double spent = planner_spent_usd(p, &known);
	T_CHECK(known && fabs(spent - 4 * 0.10) < 1e-9, "spent %g", spent);

	/* A contract breach twice; then the budget (10 USD) is spent before any request. */
	T_CHECK(server_script(&s, "[" MSG("{}") ", " MSG("{}") "]") == 0, "script");
	struct job j = {p, &pr, 0, NULL, {{0}}, NULL};
	plan_job(&j);
	T_CHECK(j.rc < 0 && j.kind && !strcmp(j.kind, "llm_invalid"), "%s", j.e.msg);
	planner_set_prior_spend(p, 10);
	plan_job(&j);
	T_CHECK(j.rc < 0 && j.kind && !strcmp(j.kind, "llm_budget"), "%s", j.e.msg);
	spent = planner_spent_usd(p, &known);
	T_CHECK(fabs(spent - 10.6) < 1e-9, "spent %g", spent);
	p->destroy(p);

	/* The command provider, under the sanitizers too. */
	cJSON *plan = NULL;
	const char *kind = NULL;
	int rc = command_plan("cat >/dev/null; printf '%s' '{\\\"stop\\\": true, \\\"reason\\\": "
			      "\\\"done\\\", \\\"proposals\\\": []}'",
			      &pr, &o, wd, &plan, &kind, &e);
	T_CHECK(rc == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(plan, "stop")), "%s",
		e.msg);
	cJSON_Delete(plan);
	plan = NULL;
	/* A command that echoes the key: its plan is refused, whatever else it holds. */
	rc = command_plan("cat >/dev/null; printf '{\\\"stop\\\": true, \\\"reason\\\": "
			  "\\\"%s\\\", \\\"proposals\\\": []}' \\\"$ANTHROPIC_API_KEY\\\"",
			  &pr, &o, wd, &plan, &kind, &e);
	T_CHECK(rc < 0 && !plan && kind && !strcmp(kind, "llm_secret"), "%d %s", rc, e.msg);
	T_CONTAINS(e.msg, "the value of ANTHROPIC_API_KEY");
out_cfg:
	config_free(&c);
out:
	unsetenv("ANTHROPIC_API_KEY");
	server_stop(&s);
	fs_remove_tree(wd);
	free(wd);
	free(cfg);
}

/*
 * A model's plan shows the offline planner's picks for the round, with what
 * its surrogate expects; none without a search space whose params apply.
 */
static void plan_prompt_shows_the_surrogates_picks(void)
{
	static const char *const spaces[] = {
		" --lr {lr}\", \"search_space\": {\"params\": {\"lr\": {\"log_uniform\": "
		"[0.0001, 1], \"default\": 0.1}}}",
		"\"",
	};
	char *wd = t_tmpdir(), *seen = path_join(wd, "prompt");
	struct err e = {{0}};
	struct llm_opts o;

	llm_opts_default(&o);
	for (size_t i = 0; i < ARRAY_LEN(spaces); i++) {
		char *cfg = xasprintf("{\"source_dir\": \"/src\", \"metric\": \"m\", "
				      "\"launch\": \"t%s, \"llm\": {\"provider\": \"command\", "
				      "\"command\": \"cat > %s; echo '{\\\"stop\\\": true, "
				      "\\\"reason\\\": \\\"r\\\", \\\"proposals\\\": []}'\"}}",
				      spaces[i], seen);
		struct config c;
		if (load(cfg, &c) < 0) {
			T_CHECK(0, "config %zu: %s", i, cfg);
			free(cfg);
			continue;
		}
		cJSON *p0 = cJSON_Parse("{\"lr\": 0.1}"), *p1 = cJSON_Parse("{\"lr\": 0.01}");
		struct plan_entry h[] = {
			{"n0000", NULL, "base", "completed", NULL, p0, true, 2.0, NULL, NULL},
			{"n0001", "n0000", "lr-low", "completed", NULL, p1, true, 1.0, NULL, NULL},
		};
		struct plan_request pr = {&c, NULL, h, 2, "n0001", p1, 1, 3, NULL};
		struct planner *p = planner_llm_new_opts(&c, wd, &o, &e);
		cJSON *plan = NULL;
		const char *kind = NULL;
		T_CHECK(p && planner_plan(p, &pr, &plan, &kind, &e) == 0, "config %zu: %s", i,
			e.msg);
		char *prompt = fs_read_max(seen, 1 << 20, NULL, &e);
		bool shown = prompt && strstr(prompt, "## What a surrogate model of the search "
						      "space suggests");
		T_CHECK(shown == (i == 0), "config %zu: the picks %s", i,
			shown ? "shown" : "not shown");
		if (i == 0 && prompt) {
			T_CONTAINS(prompt, "- lr-");
			T_CONTAINS(prompt, ": {\"lr\":");
		}
		free(prompt);
		cJSON_Delete(plan);
		if (p)
			p->destroy(p);
		cJSON_Delete(p0);
		cJSON_Delete(p1);
		config_free(&c);
		free(cfg);
	}
	fs_remove_tree(wd);
	free(seen);
	free(wd);
}

/* A plan request's check that refuses the proposals named in ctx (" b c "). */
static int refuse_named(void *ctx, const cJSON *proposal, struct buf *why)
{
	const char *name = cJSON_GetObjectItemCaseSensitive(proposal, "name")->valuestring;
	char *pat = xasprintf(" %s ", name);
	bool refused = strstr(ctx, pat) != NULL;

	free(pat);
	if (refused)
		buf_printf(why, "%s cannot run; try-another-%s", name, name);
	return refused ? -1 : 0;
}

#define PROPOSAL(n)                                                                        \
	"{\"name\": \"" n "\", \"hypothesis\": \"h\", \"priority\": 1, \"needs_rebuild\": "     \
	"false, \"change\": {\"kind\": \"params\", \"params\": {\"lr\": 0.01}}}"

/*
 * The proposals a check refuses are asked for once more, in the same call:
 * the replacements join the accepted ones; a proposal refused again, and
 * one not given again under its name, stays once for the engine to drop;
 * the first answer's stop and reason stand.
 */
static void plan_refusals_are_asked_again_once(void)
{
	static const struct {
		const char *refuse, *second, *want;
	} cases[] = {
		/* The replacement is accepted; the one it replaces stays to be said dropped. */
		{" b ", "{\"stop\": true, \"reason\": \"second\", \"proposals\": [" PROPOSAL("c") "]}",
		 "a c b"},
		/* Refused again: it stays, after the accepted ones. */
		{" b c ", "{\"stop\": false, \"reason\": \"second\", \"proposals\": [" PROPOSAL("c")
		 "]}",
		 "a c b"},
		/* No replacement: the refused one stays; more than asked for is left out. */
		{" b ", "{\"stop\": true, \"reason\": \"none\", \"proposals\": []}", "a b"},
		{" a b ", "{\"stop\": false, \"reason\": \"x\", \"proposals\": [" PROPOSAL("c") ", "
		 PROPOSAL("d") ", " PROPOSAL("e") "]}",
		 "c d a b"},
		/* Given again under its name, out of order: each refused one is there once. */
		{" a b ", "{\"stop\": false, \"reason\": \"x\", \"proposals\": [" PROPOSAL("b")
		 "]}",
		 "b a"},
	};
	char *wd = t_tmpdir();
	char *agent = path_join(wd, "agent.sh"), *calls = path_join(wd, "calls");
	struct llm_opts o;
	struct err e = {{0}};

	llm_opts_default(&o);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		FILE *f = fopen(agent, "w");
		fprintf(f, "in=$(cat)\necho call >> %s\ncase \"$in\" in\n*try-another-*) cat <<'EOF'\n"
			   "%s\nEOF\n;;\n*) cat <<'EOF'\n{\"stop\": false, \"reason\": \"first\", "
			   "\"proposals\": [%s, %s]}\nEOF\n;;\nesac\n",
			calls, cases[i].second, PROPOSAL("a"), PROPOSAL("b"));
		fclose(f);
		unlink(calls);
		struct plan_vet vet = {refuse_named, (void *)cases[i].refuse};
		struct plan_entry h[] = {{"n0000", NULL, "base", "completed", NULL, NULL, true, 1}};
		struct plan_request pr = {NULL, NULL, h, 1, "n0000", NULL, 1, 3};
		pr.vet = &vet;
		char *command = xasprintf("sh %s", agent);
		cJSON *plan = NULL;
		const char *kind = NULL;
		int rc = command_plan(command, &pr, &o, wd, &plan, &kind, &e);
		T_CHECK(rc == 0, "case %zu: %s", i, e.msg);
		struct buf got;
		buf_init(&got);
		const cJSON *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(plan, "proposals"))
			buf_printf(&got, "%s%s", got.len ? " " : "",
				   cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring);
		T_CHECK(got.data && !strcmp(got.data, cases[i].want), "case %zu: %s, not %s", i,
			got.data ? got.data : "none", cases[i].want);
		T_CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(plan, "stop")) &&
				!strcmp(cJSON_GetObjectItemCaseSensitive(plan, "reason")->valuestring,
					"first"),
			"case %zu: the first answer's stop and reason", i);
		char *n = fs_read_max(calls, 1024, NULL, &e);
		T_CHECK(n && !strcmp(n, "call\ncall\n"), "case %zu: calls [%s]", i, n ? n : "");
		free(n);
		buf_free(&got);
		cJSON_Delete(plan);
		free(command);
	}
	fs_remove_tree(wd);
	free(agent);
	free(calls);
	free(wd);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (llm_global_init() < 0)
		return 2;
	T_RUN(retry_rules);
	T_RUN(prices);
	T_RUN(redaction);
	T_RUN(parse_anthropic);
	T_RUN(parse_openai);
	T_RUN(parse_command);
	T_RUN(schemas);
	T_RUN(bodies);
	T_RUN(prompts);
	T_RUN(plan_history_shows_changes);
	T_RUN(plan_prompt_shows_the_code);
	T_RUN(plan_prompt_shows_the_analysis_and_failures);
	T_RUN(read_tail_keeps_whole_lines);
	T_RUN(plan_prompt_offers_params_only_where_they_apply);
	T_RUN(kinds);
	T_RUN(offline_spends_nothing);
	T_RUN(live_calls);
	T_RUN(plan_refusals_are_asked_again_once);
	T_RUN(plan_prompt_shows_the_surrogates_picks);
	llm_global_cleanup();
	T_END();
}
