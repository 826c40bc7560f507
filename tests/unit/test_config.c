/* Unit tests: config.json validation and change validation. */
#include "t.h"

#include "hypotop/change.h"
#include "hypotop/config.h"
#include "hypotop/json.h"

#define BASE "\"source_dir\": \"/src\", \"launch\": \"python3 train.py\", \"metric\": \"loss\""

static int load(const char *text, struct config *c, struct err *e)
{
	cJSON *doc = json_parse(text, strlen(text), "config.json", e);

	if (!doc)
		return -1;
	if (config_from_json(c, doc, "config.json", text, e) < 0) {
		cJSON_Delete(doc);
		return -1;
	}
	return 0;
}

static void defaults_fill_a_minimal_config(void)
{
	struct config c;
	struct err e = {{0}};

	T_CHECK(load("{" BASE "}", &c, &e) == 0, "%s", e.msg);
	T_STREQ(c.goal, "min");
	T_CHECK(c.max_iterations == 20 && c.patience == 5 && c.max_concurrency == 1,
		"numbers %ld %ld %ld", c.max_iterations, c.patience, c.max_concurrency);
	T_STREQ(c.llm_provider, "offline");
	T_STREQ(c.image, "hypotop-$NODE");
	T_CHECK(c.noise_seeds == 1 && c.noise_k == 2, "noise");
	T_CHECK(c.requeue_lost == 1, "requeue_lost %ld", c.requeue_lost);
	T_CHECK(c.budget_llm_usd < 0, "no budget cap by default");
	T_CHECK(!c.build && !c.search_space, "absent keys");
	T_CHECK(!c.prune_series && !c.prune_goal, "no pruning by default");
	T_CHECK(c.prune_min_runs == 3 && c.prune_patience == 3 && c.prune_margin == 2 &&
			c.prune_margin_relative == 0.1 && c.prune_warmup_steps == 0,
		"prune defaults");
	config_free(&c);
}

static void every_key_is_read(void)
{
	struct config c;
	struct err e = {{0}};
	const char *text =
		"{" BASE ", \"goal\": \"max\", \"build\": \"make\", \"max_iterations\": 3,"
		"\"patience\": 2, \"max_concurrency\": 4, \"job_timeout\": 60, \"notes\": \"n\","
		"\"image\": \"img-$NODE\", \"seed\": 9, \"repair_attempts\": 2, \"stall_seconds\": 30,"
		"\"requeue_lost\": 3,"
		"\"gpus\": [0, 1], \"noise\": {\"seeds\": 3, \"k\": 1.5},"
		"\"metrics\": {\"patterns\": {\"acc\": \"acc: ([0-9.]+)\"}},"
		"\"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": {\"log_uniform\": [1e-4, 1e-1]},"
		" \"layers\": {\"int\": [1, 4]}, \"bs\": {\"choice\": [16, 32]}, \"p\": {\"uniform\": [0, 0.5]}}},"
		"\"fixed_experiments\": [{\"name\": \"wide\", \"hypothesis\": \"h\", \"change\": "
		"{\"kind\": \"params\", \"params\": {\"width\": 2}}}],"
		"\"llm\": {\"provider\": \"openai\", \"model\": \"m\", \"base_url\": \"http://x\","
		" \"api_key_env\": \"K\", \"command\": \"c\"},"
		"\"budget\": {\"llm_usd\": 5, \"gpu_hours\": 10},"
		"\"prune\": {\"series\": \"loss\", \"goal\": \"max\", \"warmup_steps\": 50,"
		" \"min_runs\": 2, \"margin\": 1.5, \"margin_relative\": 0.2, \"patience\": 4}}";
	T_CHECK(load(text, &c, &e) == 0, "%s", e.msg);
	T_STREQ(c.goal, "max");
	T_STREQ(c.build, "make");
	T_CHECK(c.max_iterations == 3 && c.patience == 2 && c.max_concurrency == 4, "ints");
	T_CHECK(c.job_timeout == 60 && c.seed == 9 && c.repair_attempts == 2, "more");
	T_CHECK(c.requeue_lost == 3, "requeue_lost %ld", c.requeue_lost);
	T_CHECK(c.stall_seconds == 30 && c.noise_seeds == 3 && c.noise_k == 1.5, "noise");
	T_CHECK(cJSON_GetArraySize(c.gpus) == 2, "gpus");
	T_CHECK(c.search_space && c.fixed_experiments && c.metric_patterns, "objects");
	T_STREQ(c.llm_provider, "openai");
	T_STREQ(c.llm_api_key_env, "K");
	T_CHECK(c.budget_llm_usd == 5 && c.budget_gpu_hours == 10, "budget");
	T_STREQ(c.prune_series, "loss");
	T_STREQ(c.prune_goal, "max");
	T_CHECK(c.prune_warmup_steps == 50 && c.prune_min_runs == 2 && c.prune_margin == 1.5 &&
			c.prune_margin_relative == 0.2 && c.prune_patience == 4,
		"prune");
	config_free(&c);
}

static void bad_configs_name_field_line_and_fix(void)
{
	static const struct {
		const char *text, *want1, *want2;
	} cases[] = {
		{"{" BASE ",\n\"max_iteration\": 3}", "config.json:2:", "did you mean \"max_iterations\""},
		{"{" BASE ", \"noise\": {\"seed\": 2}}", "\"noise.seed\"", "did you mean \"seeds\""},
		{"{" BASE ", \"zzzzzzzz\": 1}", "unknown key", "man hypotop"},
		{"{" BASE ", \"patience\": \"5\"}", "\"patience\"", "must be a number"},
		{"{" BASE ", \"patience\": -1}", "\"patience\"", "from 0 to"},
		{"{" BASE ",\n\"requeue_lost\": 11}", "config.json:2: \"requeue_lost\"", "from 0 to 10"},
		{"{" BASE ", \"max_concurrency\": 1.5}", "\"max_concurrency\"", "whole number"},
		{"{" BASE ", \"goal\": \"up\"}", "\"goal\"", "min|max"},
		{"{\"source_dir\": \"/s\", \"launch\": \"  \", \"metric\": \"m\"}", "\"launch\"",
		 "must not be empty"},
		{"{\"source_dir\": \"/s\", \"metric\": \"m\"}", "\"launch\"", "missing"},
		{"{" BASE ", \"llm\": {\"provider\": \"gpt\"}}", "\"llm.provider\"", "anthropic"},
		{"{" BASE ", \"gpus\": [0, -1]}", "gpus\"[1]", "GPU index"},
		{"{" BASE ", \"search_space\": {\"file\": \"h\", \"params\": {\"lr\": {\"log_uniform\": [0, 1]}}}}",
		 "log_uniform", "lo > 0"},
		{"{" BASE ", \"search_space\": {\"file\": \"h\", \"params\": {\"lr\": {\"normal\": [0, 1]}}}}",
		 "\"normal\"", "not a distribution"},
		{"{" BASE ", \"search_space\": {\"params\": {}}}", "search_space", "needs \"params\""},
		/* The launch as a template of the params. */
		{"{\"source_dir\": \"/s\", \"metric\": \"m\",\n\"launch\": \"t --wd {wd}\",\n"
		 "\"search_space\": {\"params\": {\"lr\": {\"uniform\": [0, 1], \"default\": 0.5}}}}",
		 "config.json:2: \"launch\": {wd} is not a param of search_space.params", "{{wd}}"},
		{"{\"source_dir\": \"/s\", \"metric\": \"m\", \"launch\": \"awk '{print $1}' f\"}",
		 "\"launch\": column 6: a '{' that opens no {NAME}", "write {{ for a literal brace"},
		{"{" BASE ", \"search_space\": {\"params\": {\"lr\": {\"uniform\": [0, 1]}}}}",
		 "\"search_space.params.lr\" is neither passed as {lr}", "search_space.file"},
		{"{\"source_dir\": \"/s\", \"metric\": \"m\", \"launch\": \"t {lr}\", "
		 "\"search_space\": {\"params\": {\"lr\": {\"uniform\": [0, 1]}}}}",
		 "passed as {lr} in \"launch\" but has no \"default\"", "baseline's value"},
		{"{" BASE ", \"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": "
		 "{\"uniform\": [0, 1], \"default\": 0.1}}}}",
		 "\"default\" is only for a param passed as {lr}", "drop \"default\""},
		{"{" BASE ", \"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": "
		 "{\"uniform\": [0, 1], \"default\": [1]}}}}",
		 "\"default\" must be a number", "\"search_space.params\".lr"},
		{"{" BASE ", \"fixed_experiments\": [{\"name\": \"x\", \"change\": {\"kind\": \"files\", "
		 "\"files\": [{\"path\": \"../etc/passwd\", \"content\": \"\"}]}}]}",
		 "../etc/passwd", "outside the source tree"},
		{"[1, 2]", "config.json", "JSON object"},
		{"{" BASE ", \"llm\": {\"prices\": {\"m\": 3}}}", "\"llm.prices\".m",
		 "dollars per million tokens"},
		{"{" BASE ", \"llm\": {\"prices\": {\"m\": {\"input\": 1}}}}", "\"llm.prices\".m",
		 "needs \"input\" and \"output\""},
		{"{" BASE ", \"llm\": {\"prices\": {\"m\": {\"input\": 1, \"output\": \"2\"}}}}",
		 ".m.output", "without quotes"},
		{"{" BASE ", \"llm\": {\"prices\": {\"m\": {\"input\": 1, \"output\": -2}}}}",
		 ".m.output", "0 or more"},
		{"{" BASE ", \"llm\": {\"prices\": {\"m\": {\"input\": 1, \"output\": 2, "
		 "\"cached\": 0}}}}",
		 "unknown key \"cached\"", "cache_read"},
		{"{" BASE ", \"notes\": \"a\\u0000b\"}", "config.json:1:", "\"notes\": a NUL character"},
		{"{" BASE ", \"llm\": {\"context\": [\"model/*.py\", 3]}}", "\"llm.context\"[1]",
		 "glob of source files in double quotes"},
		{"{" BASE ", \"llm\": {\"context\": [\"a/../../etc/*\"]}}", "\"llm.context\"[0]",
		 "leaves the source tree"},
		{"{" BASE ", \"llm\": {\"context\": [\"/etc/*\"]}}", "\"llm.context\"[0]",
		 "without a leading / or .."},
		{"{" BASE ", \"llm\": {\"context\": \"*.py\"}}", "\"llm.context\"", "array"},
		{"{" BASE ", \"protect\": [\"../eval.py\"]}", "\"protect\"[0]",
		 "leaves the source tree"},
		{"{" BASE ", \"llm\": {\"context_bytes\": 10}}", "\"llm.context_bytes\"",
		 "from 1024 to 16777216"},
		{"{" BASE ", \"prune\": {\"series\": \" \"}}", "\"prune.series\" is empty",
		 "remove it to turn pruning off"},
		{"{" BASE ", \"prune\": {\"series\": \"loss\", \"patience\": 0}}",
		 "\"prune.patience\"", "from 1 to"},
		{"{" BASE ", \"prune\": {\"series\": \"loss\", \"goal\": \"lower\"}}",
		 "\"prune.goal\"", "min|max"},
		{"{" BASE ", \"prune\": {\"margin\": -1}}", "\"prune.margin\"", "at least 0"},
		{"{" BASE ", \"prune\": {\"serie\": \"loss\"}}", "\"prune.serie\"",
		 "did you mean \"series\""},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config c;
		struct err e = {{0}};
		T_CHECK(load(cases[i].text, &c, &e) < 0, "case %zu accepted", i);
		T_CONTAINS(e.msg, cases[i].want1);
		T_CONTAINS(e.msg, cases[i].want2);
	}
	/* A backslash written \\ before u0000 is text, not a NUL. */
	struct config c;
	struct err e = {{0}};
	T_CHECK(load("{" BASE ", \"notes\": \"C:\\\\u0000\"}", &c, &e) == 0, "%s", e.msg);
	T_STREQ(c.notes, "C:\\u0000");
	config_free(&c);
	/* llm.context: globs inside the tree; the budget's default. */
	T_CHECK(load("{" BASE ", \"llm\": {\"context\": [\"model/*.py\", \"..x/a\"]}}", &c,
		     &e) == 0,
		"%s", e.msg);
	T_CHECK(cJSON_GetArraySize(c.llm_context) == 2 && c.llm_context_bytes == 65536,
		"context %d, %ld bytes", cJSON_GetArraySize(c.llm_context), c.llm_context_bytes);
	config_free(&c);
	/* protect: globs matched per path component, a leading dot only by name. */
	T_CHECK(load("{" BASE ", \"protect\": [\"eval.py\", \"data/*.py\"]}", &c, &e) == 0,
		"%s", e.msg);
	T_CHECK(config_globbed(c.protect, "eval.py") && config_globbed(c.protect, "data/load.py"),
		"protected files not matched");
	T_CHECK(!config_globbed(c.protect, "data/sub/load.py") &&
			!config_globbed(c.protect, "data/.hidden.py") &&
			!config_globbed(c.protect, "model/eval.py") &&
			!config_globbed(NULL, "eval.py"),
		"unprotected file matched");
	config_free(&c);
}

static void flags_from_the_search_space_need_no_param_file(void)
{
	struct config c;
	struct err e = {{0}};

	T_CHECK(load("{\"source_dir\": \"/s\", \"metric\": \"m\", "
		     "\"launch\": \"python3 train.py --lr {lr} --n-layer {n_layer} ${HOME} {{x}}\", "
		     "\"search_space\": {\"params\": {\"lr\": {\"default\": 0.001, \"log_uniform\": "
		     "[0.0001, 0.01]}, \"n_layer\": {\"int\": [2, 8], \"default\": 4}}}}",
		     &c, &e) == 0,
		"%s", e.msg);
	config_free(&c);
	/* Some params as flags, the others in the file. */
	T_CHECK(load("{\"source_dir\": \"/s\", \"metric\": \"m\", \"launch\": \"t --lr {lr}\", "
		     "\"search_space\": {\"file\": \"h.json\", \"params\": {\"lr\": {\"uniform\": "
		     "[0, 1], \"default\": 0.5}, \"wd\": {\"uniform\": [0, 1]}}}}",
		     &c, &e) == 0,
		"%s", e.msg);
	config_free(&c);
}

static void reference_lists_every_key(void)
{
	struct buf b;

	buf_init(&b);
	config_print_reference(&b, true);
	T_CONTAINS(b.data, ".B max_iterations");
	T_CONTAINS(b.data, ".B llm.provider");
	T_CONTAINS(b.data, "default 20");
	T_CONTAINS(b.data, ".I gpu_temp");
	buf_free(&b);
}

/* The health section: defaults from the rule table, changes per rule, errors that name the key. */
static void health_rules_are_read_and_checked(void)
{
	static const struct {
		const char *text, *want1, *want2;
	} bad[] = {
		{"{" BASE ",\n\"health\": {\"rules\": {\"grad_nrom\": {}}}}",
		 "config.json:2: \"health.rules\".grad_nrom", "did you mean \"grad_norm\""},
		{"{" BASE ", \"health\": {\"rules\": {\"gpu_temp\": {\"action\": \"kill\"}}}}",
		 "\"health.rules\".gpu_temp.action", "warn, pause, stop, off"},
		{"{" BASE ", \"health\": {\"rules\": {\"gpu_temp\": {\"threshold\": \"90\"}}}}",
		 "gpu_temp.threshold", "a number"},
		{"{" BASE ", \"health\": {\"rules\": {\"gpu_temp\": {\"severity\": \"high\"}}}}",
		 "gpu_temp.severity", "info, warning, critical"},
		{"{" BASE ", \"health\": {\"rules\": {\"gpu_temp\": {\"bound\": 1}}}}",
		 "unknown key \"bound\"", "threshold, action, severity"},
		{"{" BASE ", \"health\": {\"patrol_seconds\": 0}}", "\"health.patrol_seconds\"",
		 "at least 1"},
		{"{" BASE ", \"alerts\": {\"webhook_url\": \"ftp://x\"}}", "\"alerts.webhook_url\"",
		 "http:// or https://"},
	};
	struct config c;
	struct err e = {{0}};

	T_CHECK(load("{" BASE ", \"stall_seconds\": 42}", &c, &e) == 0, "%s", e.msg);
	T_CHECK(c.health_phase1_steps == 1000 && c.health_patrol_seconds == 300, "phases");
	T_CHECK(c.health[HR_LOSS_FINITE].action == HA_STOP, "loss_finite stops");
	T_CHECK(c.health[HR_GPU_TEMP].severity == SEV_CRITICAL, "gpu_temp is critical");
	T_CHECK(c.health[HR_LOG_SILENCE].threshold == 42, "log_silence from stall_seconds");
	T_CHECK(c.alerts_bell && c.alerts_repeat_seconds == 600 && !c.alerts_webhook_url, "alerts");
	T_STREQ(c.health_grad_norm_series, "grad_norm");
	config_free(&c);
	T_CHECK(load("{" BASE ", \"stall_seconds\": 42, \"health\": {\"phase1_steps\": 50, "
		     "\"rules\": {\"grad_norm\": {\"threshold\": 5, \"action\": \"pause\"}, "
		     "\"log_silence\": {\"threshold\": 7}, \"loss_plateau\": {\"action\": \"off\", "
		     "\"severity\": \"warning\"}}}}",
		     &c, &e) == 0,
		"%s", e.msg);
	T_CHECK(c.health_phase1_steps == 50, "phase1_steps");
	T_CHECK(c.health[HR_GRAD_NORM].threshold == 5 && c.health[HR_GRAD_NORM].action == HA_PAUSE,
		"grad_norm");
	T_CHECK(c.health[HR_GRAD_NORM].severity == SEV_WARNING, "default severity kept");
	T_CHECK(c.health[HR_LOG_SILENCE].threshold == 7, "the rule over stall_seconds");
	T_CHECK(c.health[HR_LOSS_PLATEAU].action == HA_OFF &&
			c.health[HR_LOSS_PLATEAU].severity == SEV_WARNING,
		"loss_plateau");
	config_free(&c);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		memset(&e, 0, sizeof e);
		T_CHECK(load(bad[i].text, &c, &e) < 0, "accepted: %s", bad[i].text);
		T_CONTAINS(e.msg, bad[i].want1);
		T_CONTAINS(e.msg, bad[i].want2);
	}
}

static void change_paths_stay_inside_the_tree(void)
{
	const char *ok[] = {"a.py", "src/model.py", "a/b/c.json", ".github/x", "x.git"};
	const char *bad[] = {"", "/etc/passwd", "../x", "a/../../x", "a/..", ".git/config",
			     "sub/.git/HEAD", "a//b", "a\\b"};

	for (size_t i = 0; i < ARRAY_LEN(ok); i++)
		T_CHECK(change_path_ok(ok[i]), "refused %s", ok[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		T_CHECK(!change_path_ok(bad[i]), "accepted %s", bad[i]);
}

static void changes_are_validated(void)
{
	static const struct {
		const char *json, *want; /* want NULL: valid */
	} cases[] = {
		{"{\"kind\":\"params\",\"params\":{\"lr\":0.1,\"name\":\"x\",\"on\":true}}", NULL},
		{"{\"kind\":\"params\",\"params\":{}}", "non-empty"},
		{"{\"kind\":\"params\",\"params\":{\"lr\":[1]}}", "number, string or boolean"},
		{"{\"kind\":\"params\",\"params\":{\"lr\":-1e999}}", "\"lr\" is too large a number"},
		{"{\"kind\":\"params\",\"params\":{\"a b\":1}}", "not a parameter name"},
		{"{\"kind\":\"params\",\"params\":{\"a\":1},\"extra\":1}", "unknown key \"extra\""},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/x.py b/x.py\\n--- a/x.py\\n+++ b/x.py\\n@@ -1 +1 @@\\n-a\\n+b\\n\"}",
		 NULL},
		{"{\"kind\":\"patch\",\"patch\":\"--- a/x\\n+++ b/x\\n\"}", "git-format diff"},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/../x b/../x\\n\"}", "outside the source tree"},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/x b/x\\n--- a/x\\n+++ b/.git/hooks/pre-commit\\n\"}",
		 ".git/hooks"},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/x b/x\\nrename from x\\nrename to /tmp/y\\n\"}",
		 "/tmp/y"},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/n b/n\\nnew file mode 100644\\n--- /dev/null\\n+++ b/n\\n\"}",
		 NULL},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"a.py\",\"content\":\"x\"}]}", NULL},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"/abs\",\"content\":\"x\"}]}", "/abs"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"a\"}]}", "files[0]"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":\"x = 1\","
		 "\"replace\":\"x = 2\"},{\"path\":\"a.py\",\"search\":\"y\",\"replace\":\"\"}]}",
		 NULL},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"new/b.py\",\"search\":\"\","
		 "\"replace\":\"print(1)\\n\"}]}",
		 NULL},
		{"{\"kind\":\"edit\",\"edits\":[]}", "\"edits\" must be a non-empty array"},
		{"{\"kind\":\"edit\",\"edits\":{\"path\":\"a.py\"}}", "\"edits\" must be a non-empty array"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":\"x\"}]}",
		 "edits[0] must be {\"path\": ..., \"search\": ..., \"replace\": ...}"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":1,\"replace\":\"\"}]}",
		 "edits[0] must be"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":\"x\",\"replace\":\"y\","
		 "\"content\":\"z\"}]}",
		 "edits[0] must be"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":\"x\",\"replace\":\"y\"},"
		 "{\"path\":\"../a.py\",\"search\":\"x\",\"replace\":\"y\"}]}",
		 "edits[1]: \"../a.py\" is outside the source tree"},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\".git/config\",\"search\":\"\",\"replace\":\"y\"}]}",
		 "edits[0]: \".git/config\""},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a\",\"search\":\"x\",\"replace\":\"y\"}],"
		 "\"files\":[]}",
		 "unknown key \"files\"; allowed: kind, edits"},
		{"{\"kind\":\"sed\"}", "not one of params, edit, patch, files"},
		{"{\"params\":{}}", "\"kind\""},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct err e = {{0}};
		cJSON *j = cJSON_Parse(cases[i].json);
		int rc = change_validate(j, "x", &e);
		if (!cases[i].want)
			T_CHECK(rc == 0, "case %zu refused: %s", i, e.msg);
		else {
			T_CHECK(rc < 0, "case %zu accepted", i);
			T_CONTAINS(e.msg, cases[i].want);
		}
		cJSON_Delete(j);
	}
}

/* One line per change; the files of a patch or an edit each once. */
static void changes_are_described(void)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"kind\":\"params\",\"params\":{\"lr\":0.1,\"act\":\"relu\"}}",
		 "lr=0.1 act=\"relu\""},
		{"{\"kind\":\"edit\",\"edits\":[{\"path\":\"a.py\",\"search\":\"x\",\"replace\":\"y\"},"
		 "{\"path\":\"b.py\",\"search\":\"\",\"replace\":\"z\"},"
		 "{\"path\":\"a.py\",\"search\":\"y\",\"replace\":\"w\"}]}",
		 "edit: a.py b.py"},
		{"{\"kind\":\"patch\",\"patch\":\"diff --git a/x.py b/x.py\\n--- a/x.py\\n+++ b/x.py\\n"
		 "diff --git a/x.py b/x.py\\n\"}",
		 "patch: x.py"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"a\",\"content\":\"\"}]}", "files: a"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		cJSON *j = cJSON_Parse(cases[i].json);
		struct buf b;
		buf_init(&b);
		change_describe(j, &b);
		T_STREQ(b.data, cases[i].want);
		buf_free(&b);
		cJSON_Delete(j);
	}
}

int main(void)
{
	T_RUN(defaults_fill_a_minimal_config);
	T_RUN(every_key_is_read);
	T_RUN(bad_configs_name_field_line_and_fix);
	T_RUN(flags_from_the_search_space_need_no_param_file);
	T_RUN(reference_lists_every_key);
	T_RUN(health_rules_are_read_and_checked);
	T_RUN(change_paths_stay_inside_the_tree);
	T_RUN(changes_are_validated);
	T_RUN(changes_are_described);
	T_END();
}
