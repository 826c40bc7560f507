/* test_launch.c — the launch command as a template of the params (launch.h). */
#include <stdio.h>

#include "hypotop/launch.h"
#include "t.h"

static char *expand(const char *tmpl, const char *values_json, struct err *e)
{
	cJSON *v = cJSON_Parse(values_json);
	char *out = NULL;

	if (launch_expand(tmpl, v, &out, e) < 0)
		out = NULL;
	cJSON_Delete(v);
	return out;
}

static void placeholders_become_words(void)
{
	struct err e = {{0}};
	char *s = expand("python3 train.py --lr {lr} --n-layer {n_layer} --amp {amp}",
			 "{\"lr\": 0.0003, \"n_layer\": 6, \"amp\": true}", &e);
	T_STREQ(s, "python3 train.py --lr 0.0003 --n-layer 6 --amp true");
	free(s);
	s = expand("train --lr={lr} --big {big}", "{\"lr\": 1e-5, \"big\": 1e20}", &e);
	T_STREQ(s, "train --lr=1e-05 --big 1e+20");
	free(s);
	s = expand("train --act {act} --sched {s}", "{\"act\": \"gelu\", \"s\": \"cos/2\"}", &e);
	T_STREQ(s, "train --act gelu --sched cos/2");
	free(s);
}

static void strings_are_quoted_for_the_shell(void)
{
	struct err e = {{0}};
	char *s = expand("t {a} {b} {c} {d} {e}",
			 "{\"a\": \"two words\", \"b\": \"it's\", \"c\": \"$HOME `id` \\\"q\\\"\","
			 " \"d\": \"\", \"e\": \"~x;rm -rf *\"}",
			 &e);
	T_STREQ(s, "t 'two words' 'it'\\''s' '$HOME `id` \"q\"' '' '~x;rm -rf *'");
	free(s);
	/* What the shell makes of it: the values, each one word, untouched. */
	s = expand("printf '%s|' {a} {b} {c} {d}",
		   "{\"a\": \"two words\", \"b\": \"it's\", \"c\": \"$HOME `id` \\\"q\\\" *\","
		   " \"d\": \"\"}",
		   &e);
	T_CHECK(s, "%s", e.msg);
	FILE *f = s ? popen(s, "r") : NULL;
	char got[256] = "";
	if (f) {
		size_t n = fread(got, 1, sizeof got - 1, f);
		got[n] = '\0';
		pclose(f);
	}
	T_STREQ(got, "two words|it's|$HOME `id` \"q\" *||");
	free(s);
}

static void braces_escape_and_shell_expansions_stay(void)
{
	struct err e = {{0}};
	char *s = expand("awk '{{print $1}}' f; echo ${HYPOTOP_SEED} ${X:-a} {lr} $lr",
			 "{\"lr\": 0.1}", &e);
	T_STREQ(s, "awk '{print $1}' f; echo ${HYPOTOP_SEED} ${X:-a} 0.1 $lr");
	free(s);
	T_CHECK(!expand("t {lr} {wd}", "{\"lr\": 0.1}", &e), "a value missing");
	T_CONTAINS(e.msg, "{wd}");
	T_CONTAINS(e.msg, "default");
}

static void bad_templates_are_refused_with_the_fix(void)
{
	struct err e = {{0}};
	cJSON *params = cJSON_Parse("{\"lr\": {\"uniform\": [0, 1]}, \"n_layer\": {\"int\": [1, 4]}}");

	T_CHECK(launch_check("t --lr {lr} --n {n_layer} ${HOME} {{x}}", params, "c.json: \"launch\"",
			     &e) == 0,
		"%s", e.msg);
	T_CHECK(launch_check("t --wd {wd}", params, "c.json: \"launch\"", &e) < 0, "unknown");
	T_CONTAINS(e.msg, "c.json: \"launch\": {wd} is not a param of search_space.params");
	T_CONTAINS(e.msg, "{{wd}}");
	T_CHECK(launch_check("awk '{print $1}'", params, "c.json: \"launch\"", &e) < 0, "lone {");
	T_CONTAINS(e.msg, "column 6");
	T_CONTAINS(e.msg, "write {{");
	T_CHECK(launch_check("t }", params, "l", &e) < 0, "lone }");
	T_CONTAINS(e.msg, "column 3");
	T_CONTAINS(e.msg, "}}");
	T_CHECK(launch_check("t { lr}", params, "l", &e) < 0, "a space");
	T_CHECK(launch_check("t {lr", params, "l", &e) < 0, "unclosed");
	T_CHECK(launch_check("t {lr}", NULL, "l", &e) < 0, "no params at all");
	T_CHECK(launch_uses("a {lr} b", "lr") && !launch_uses("a {lr} b", "l") &&
			!launch_uses("a {{lr}} ${lr}", "lr") && !launch_uses(NULL, "lr"),
		"uses");
	cJSON_Delete(params);
}

int main(void)
{
	T_RUN(placeholders_become_words);
	T_RUN(strings_are_quoted_for_the_shell);
	T_RUN(braces_escape_and_shell_expansions_stay);
	T_RUN(bad_templates_are_refused_with_the_fix);
	T_END();
}
