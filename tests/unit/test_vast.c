/* test_vast.c — the Vast.ai answers read (vast.h): instances over pages,
 * offers, and answers that are not what the API gives named by field. */
#include <stdlib.h>
#include <string.h>

#include "hypotop/vast.h"
#include "t.h"

#define EP "GET /api/v1/instances/"

static int instances(const char *text, struct vast_instances *l, char **next, struct err *e)
{
	return vast_parse_instances(EP, text, strlen(text), l, next, e);
}

static void instances_read_and_paged(void)
{
	struct vast_instances l = {0};
	struct err e = {{0}};
	char *next = NULL;

	T_CHECK(instances("{\"instances\": [{\"id\": 5, \"actual_status\": \"running\", "
			  "\"gpu_name\": \"RTX_4090\", \"num_gpus\": 2, \"dph_total\": 0.41, "
			  "\"ssh_host\": \"ssh4.vast.ai\", \"ssh_port\": 31022, \"label\": null}], "
			  "\"next_token\": \"abc\"}",
			  &l, &next, &e) == 0,
		"%s", e.msg);
	T_CHECK(l.len == 1 && l.v[0].id == 5 && l.v[0].ssh_port == 31022 && l.v[0].num_gpus == 2,
		"instance not read");
	T_STREQ(l.v[0].ssh_host, "ssh4.vast.ai");
	T_STREQ(l.v[0].label, "");
	T_STREQ(next, "abc");
	free(next);
	/* A second page adds to the first; a null status and a null token. */
	T_CHECK(instances("{\"instances\": [{\"id\": 6, \"actual_status\": null, \"ssh_port\": "
			  "null}], \"next_token\": null}",
			  &l, &next, &e) == 0,
		"%s", e.msg);
	T_CHECK(l.len == 2 && !next && vast_find(&l, 6) && !vast_find(&l, 7), "page 2");
	T_STREQ(vast_find(&l, 6)->status, "");
	vast_instances_free(&l);
}

static void malformed(const char *text, const char *says)
{
	struct vast_instances l = {0};
	struct err e = {{0}};
	char *next = NULL;

	T_CHECK(instances(text, &l, &next, &e) < 0, "accepted: %s", text);
	T_CONTAINS(e.msg, EP);
	T_CONTAINS(e.msg, says);
	vast_instances_free(&l);
	free(next);
}

static void malformed_answers_named(void)
{
	malformed("not json", "not a JSON object");
	malformed("{\"instances\": 3}", "\"instances\" is missing or not an array");
	malformed("{}", "\"instances\" is missing");
	malformed("{\"instances\": [{\"id\": \"5\"}]}", "instances[0].id");
	malformed("{\"instances\": [{\"id\": 5}, {}]}", "instances[1].id");
	malformed("{\"instances\": [{\"id\": 5, \"ssh_port\": 70000}]}", "instances[0].ssh_port");
	malformed("{\"instances\": [{\"id\": 5, \"dph_total\": \"0.4\"}]}",
		  "instances[0].dph_total is not a number");
	malformed("{\"instances\": [{\"id\": 5, \"ssh_host\": 1}]}", "instances[0].ssh_host");
	malformed("{\"instances\": [], \"next_token\": 4}", "\"next_token\" is not text");
}

static void offers_read(void)
{
	struct vast_offers l;
	struct err e = {{0}};
	const char *ok = "{\"offers\": [{\"id\": 9, \"gpu_name\": \"H100\", \"num_gpus\": 1, "
			 "\"dph_total\": 2.5, \"dlperf\": 100, \"reliability\": 0.99, "
			 "\"gpu_ram\": 81920}]}";

	T_CHECK(vast_parse_offers("POST /api/v0/bundles/", ok, strlen(ok), &l, &e) == 0, "%s",
		e.msg);
	T_CHECK(l.len == 1 && l.v[0].id == 9 && l.v[0].dph == 2.5 && l.v[0].gpu_ram_gb == 80,
		"offer not read");
	vast_offers_free(&l);
	const char *bad = "{\"offers\": [{\"id\": 9, \"dph_total\": \"x\"}]}";
	T_CHECK(vast_parse_offers("POST /api/v0/bundles/", bad, strlen(bad), &l, &e) < 0,
		"accepted");
	T_CONTAINS(e.msg, "offers[0].dph_total");
}

int main(void)
{
	T_RUN(instances_read_and_paged);
	T_RUN(malformed_answers_named);
	T_RUN(offers_read);
	T_END();
}
