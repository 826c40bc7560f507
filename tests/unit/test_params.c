/* Unit tests: param files (JSON, YAML, Python constants) read and rewritten in place. */
#include "t.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "hypotop/params.h"

/* Write `values` (JSON text) into text; NULL on error with e set. */
static char *write_with(const char *path, const char *text, const char *values, struct err *e)
{
	cJSON *v = cJSON_Parse(values);
	char *out = NULL;

	if (!v) {
		err_set(e, "bad test values %s", values);
		return NULL;
	}
	if (params_write(path, text, v, &out, e) < 0)
		out = NULL;
	cJSON_Delete(v);
	return out;
}

/* The settings of text as compact JSON; caller frees. */
static char *read_as_json(const char *path, const char *text, struct err *e)
{
	cJSON *o = NULL;

	if (params_read(path, text, &o, e) < 0)
		return NULL;
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void check_read(const char *path, const char *text, const char *want)
{
	struct err e = {{0}};
	char *got = read_as_json(path, text, &e);

	T_CHECK(got, "%s: %s", path, e.msg);
	if (got)
		T_STREQ(got, want);
	free(got);
}

static void check_write(const char *path, const char *text, const char *values, const char *want)
{
	struct err e = {{0}};
	char *got = write_with(path, text, values, &e);

	T_CHECK(got, "%s: %s", path, e.msg);
	if (got)
		T_STREQ(got, want);
	free(got);
}

static void check_error(const char *path, const char *text, const char *values, const char *want)
{
	struct err e = {{0}};
	char *got = NULL;
	int rc;

	if (values) {
		got = write_with(path, text, values, &e);
		rc = got ? 0 : -1;
	} else {
		cJSON *o = NULL;
		rc = params_read(path, text, &o, &e);
		cJSON_Delete(o);
	}
	T_CHECK(rc < 0, "%s: no error for %s", path, text);
	T_CONTAINS(e.msg, want);
	free(got);
}

static void format_follows_the_ending(void)
{
	T_CHECK(params_format_of("hparams.json") == PARAMS_JSON, "json");
	T_CHECK(params_format_of("conf/h.yaml") == PARAMS_YAML, "yaml");
	T_CHECK(params_format_of("h.YML") == PARAMS_YAML, "yml");
	T_CHECK(params_format_of("a.b/config.py") == PARAMS_PYTHON, "py");
	T_CHECK(params_format_of("a.json/config") == PARAMS_UNKNOWN, "dot in a folder");
	T_CHECK(params_format_of("h.toml") == PARAMS_UNKNOWN, "toml");
	check_error("h.toml", "lr = 1", NULL, "h.toml: unknown param file type");
	check_error("h.toml", "lr = 1", "{\"lr\": 2}", ".json, *.yaml, *.yml or *.py");
}

static void json_reads_scalars_only(void)
{
	check_read("h.json",
		   "{\"lr\": 1e-4, \"layers\": 3, \"name\": \"res\\\"net\", \"amp\": true,\n"
		   " \"model\": {\"depth\": 2}, \"sizes\": [1, 2], \"none\": null}",
		   "{\"lr\":0.0001,\"layers\":3,\"name\":\"res\\\"net\",\"amp\":true}");
	check_read("h.json", "{}", "{}");
	check_read("h.json", "{\"a\": 1, \"a\": 2}", "{\"a\":2}");
}

static void json_write_keeps_the_layout(void)
{
	const char *text = "{\n"
			   "    \"lr\" : 0.001,\n"
			   "    \"model\": {\"depth\": 2, \"lr\": 5},\n"
			   "    \"layers\":3,\n"
			   "    \"name\": \"a\"\n"
			   "}\n";
	check_write("h.json", text, "{\"lr\": 0.1, \"layers\": 4, \"name\": \"b\\n\"}",
		    "{\n"
		    "    \"lr\" : 0.1,\n"
		    "    \"model\": {\"depth\": 2, \"lr\": 5},\n"
		    "    \"layers\":4,\n"
		    "    \"name\": \"b\\n\"\n"
		    "}\n");
	/* An unchanged value keeps its token: no diff for "1e-4" written as 0.0001. */
	check_write("h.json", "{\"lr\": 1e-4, \"n\": 3}", "{\"lr\": 0.0001, \"n\": 3}",
		    "{\"lr\": 1e-4, \"n\": 3}");
}

static void json_write_adds_missing_names(void)
{
	check_write(
		"h.json", "{\n  \"lr\": 0.1,\n  \"n\": 2\n}\n",
		"{\"dropout\": 0.25, \"n\": 3, \"act\": \"gelu\"}",
		"{\n  \"lr\": 0.1,\n  \"n\": 3,\n  \"dropout\": 0.25,\n  \"act\": \"gelu\"\n}\n");
	check_write("h.json", "{\"a\": 1}", "{\"b\": false}", "{\"a\": 1, \"b\": false}");
	check_write("h.json", "{\"a\":1,\"c\":2}", "{\"b\": 2}", "{\"a\":1,\"c\":2,\"b\":2}");
	check_write("h.json", "{}", "{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 2}");
	check_write("h.json", "{\n}\n", "{\"a\": 1, \"b\": 2}", "{\n  \"a\": 1,\n  \"b\": 2\n}\n");
	check_write("h.json", "{\"a\": 1}", "{\"a\": 2, \"a\": 3}", "{\"a\": 3}");
}

static void numbers_are_written_shortest(void)
{
	check_write("h.json", "{\"a\": 1, \"b\": 2, \"c\": 3, \"d\": 4, \"e\": 5}",
		    "{\"a\": 0.1, \"b\": 3, \"c\": 1e-5, \"d\": 0.30000000000000004, "
		    "\"e\": -2.5e300}",
		    "{\"a\": 0.1, \"b\": 3, \"c\": 1e-05, \"d\": 0.30000000000000004, "
		    "\"e\": -2.5e+300}");
	/* A float stays a float so Python and YAML loaders keep the type. */
	check_write("h.json", "{\"a\": 0.5, \"b\": 7}", "{\"a\": 2, \"b\": 8}",
		    "{\"a\": 2.0, \"b\": 8}");
	check_write("h.yaml", "lr: 0.1\n", "{\"lr\": 1e-5}", "lr: 1.0e-05\n");
	check_write("h.py", "LR = 0.1\n", "{\"LR\": 1e-5}", "LR = 1e-05\n");
	check_write("h.json", "{\"a\": 1}", "{\"a\": -0.0}", "{\"a\": 0}");
	check_write("h.json", "{\"a\": 1}", "{\"a\": 12345678901234}", "{\"a\": 12345678901234}");
	check_read("h.yaml", "a: 1e-4\nb: 3\nc: 0.1\nd: -2.\ne: .5\nf: 1_000\n",
		   "{\"a\":0.0001,\"b\":3,\"c\":0.1,\"d\":-2,\"e\":0.5,\"f\":1000}");
	/* num_scan, the lexer of param files (NUM_GROUPS) and of log metrics (NUM_WORDS). */
	static const struct {
		const char *text;
		unsigned flags;
		size_t len;
		bool is_float;
	} scans[] = {
		{"12 ", 0, 2, false},               {"-2.", 0, 3, true},
		{".5e", 0, 2, true},                {"+1e-3x", 0, 5, true},
		{"1E+", 0, 1, false},               {"0x1f", 0, 1, false},
		{".", 0, 0, true},                  {"-", 0, 0, false},
		{"", 0, 0, false},                  {"1_000", 0, 1, false},
		{"1_000", NUM_GROUPS, 5, false},    {"1__0", NUM_GROUPS, 1, false},
		{"_1", NUM_GROUPS, 0, false},       {"1_", NUM_GROUPS, 1, false},
		{"1.0_5", NUM_GROUPS, 3, true},     {"nan", 0, 0, false},
		{"nan", NUM_GROUPS, 0, false},      {"NaN,", NUM_WORDS, 3, true},
		{"-Infinity", NUM_WORDS, 9, true},  {"+inff", NUM_WORDS, 4, true},
		{"in", NUM_WORDS, 0, false},        {"1_0", NUM_WORDS, 1, false},
	};
	for (size_t i = 0; i < ARRAY_LEN(scans); i++) {
		bool is_float;
		size_t len = num_scan(scans[i].text, strlen(scans[i].text), scans[i].flags, &is_float);
		T_CHECK(len == scans[i].len && is_float == scans[i].is_float,
			"num_scan(\"%s\", %u): %zu %d", scans[i].text, scans[i].flags, len,
			is_float);
	}
}

static void json_errors_name_the_line(void)
{
	check_error("h.json", "{\n  \"a\": 1,\n  \"b\": ,\n}", NULL, "h.json:3:");
	check_error("h.json", "[1, 2]", NULL, "h.json:1: the file must hold one JSON object");
	check_error("h.json", "{\"a\": 1", "{\"a\": 2}", "h.json:1:");
	check_error("h.json", "{\"a\": 1}", "{\"a\": [1]}", "a: a setting must be");
	check_error("h.json", "{\"a\": 1}", "[1]", "must be a JSON object");
}

static const char yaml_text[] = "# training settings\n"
				"---\n"
				"lr: 0.001   # learning rate\n"
				"layers: 3\n"
				"name: 'res''net'\n"
				"title: \"a \\\"b\\\"\\tc\"  # quoted\n"
				"act: gelu\n"
				"amp: True\n"
				"opt:\n"
				"  name: adam\n"
				"  lr: 5\n"
				"sizes: [1, 2]\n"
				"- 4\n"
				"sched: null\n"
				"url: http://x:8/a#b\n"
				"\n"
				"...\n";

static void yaml_reads_flat_settings(void)
{
	check_read("h.yaml", yaml_text,
		   "{\"lr\":0.001,\"layers\":3,\"name\":\"res'net\",\"title\":\"a \\\"b\\\"\\tc\","
		   "\"act\":\"gelu\",\"amp\":true,\"url\":\"http://x:8/a#b\"}");
	check_read("h.yml", "\"quoted key\": 1\r\nb: x y  \r\n",
		   "{\"quoted key\":1,\"b\":\"x y\"}");
}

static void yaml_write_changes_only_values(void)
{
	check_write("h.yaml", yaml_text,
		    "{\"lr\": 0.01, \"layers\": 4, \"name\": \"it's\", \"title\": \"t\","
		    " \"act\": \"relu\", \"amp\": false, \"sched\": \"cosine\"}",
		    "# training settings\n"
		    "---\n"
		    "lr: 0.01   # learning rate\n"
		    "layers: 4\n"
		    "name: 'it''s'\n"
		    "title: \"t\"  # quoted\n"
		    "act: relu\n"
		    "amp: False\n"
		    "opt:\n"
		    "  name: adam\n"
		    "  lr: 5\n"
		    "sizes: [1, 2]\n"
		    "- 4\n"
		    "sched: cosine\n"
		    "url: http://x:8/a#b\n"
		    "\n"
		    "...\n");
	/* Strings that would read back as something else are quoted. */
	check_write("h.yaml", "a: x\r\nb: 1\r\nc: 2\r\nd: 3\r\n",
		    "{\"a\": \"yes\", \"b\": \"0.5\", \"c\": \"x: y\", \"d\": \"\"}",
		    "a: \"yes\"\r\nb: \"0.5\"\r\nc: \"x: y\"\r\nd: \"\"\r\n");
	check_write("h.yaml", "a: 'x'\n", "{\"a\": \"line\\nbreak\"}", "a: \"line\\nbreak\"\n");
}

static void yaml_errors_name_the_line(void)
{
	check_error("hparams.yaml", "a: 1\n# c\nb 2\n", NULL,
		    "hparams.yaml:3: expected 'name: value'");
	check_error("hparams.yaml", "a: 1\nb:2\n", NULL, "hparams.yaml:2:");
	check_error("hparams.yaml", "a: 1\nb: \"open\n", NULL, "hparams.yaml:2: unterminated");
	check_error("hparams.yaml", "a: \"x\" y\n", NULL, "hparams.yaml:1: unexpected text");
	check_error("hparams.yaml", "a: \"\\q\"\n", NULL, "hparams.yaml:1: an unknown escape");
	check_error("hparams.yaml", "{a: 1}\n", NULL, "hparams.yaml:1: only flat");
	check_error("hparams.yaml", "lr: 1\nlayers: 2\n", "{\"layrs\": 3}",
		    "no setting named 'layrs' (did you mean 'layers'?)");
	check_error("hparams.yaml", "opt:\n  lr: 1\n", "{\"lr\": 3}", "no setting named 'lr'");
}

static const char py_text[] = "\"\"\"Settings.\n"
			      "LR = 9\n"
			      "\"\"\"\n"
			      "import os\n"
			      "\n"
			      "LR = 3e-4  # learning rate\n"
			      "LAYERS: int = 3\n"
			      "NAME = 'res\\'net'\n"
			      "USE_AMP = True\n"
			      "DEVICE = os.environ.get('D', 'cpu')\n"
			      "SIZES = [\n"
			      "X = 1,\n"
			      "]\n"
			      "TOTAL = LAYERS * 2\n"
			      "NOTHING = None\n"
			      "BIG = 1_000_000\n"
			      "EQ == 3\n"
			      "def f():\n"
			      "    LR = 5\n"
			      "    return LR\n";

static void python_reads_top_level_constants(void)
{
	check_read("train.py", py_text,
		   "{\"LR\":0.0003,\"LAYERS\":3,\"NAME\":\"res'net\",\"USE_AMP\":true,"
		   "\"BIG\":1000000}");
}

static void python_write_changes_only_values(void)
{
	check_write("train.py", py_text,
		    "{\"LR\": 0.001, \"LAYERS\": 5, \"NAME\": \"a\\\"b'c\", \"USE_AMP\": false,"
		    " \"NOTHING\": \"x\"}",
		    "\"\"\"Settings.\n"
		    "LR = 9\n"
		    "\"\"\"\n"
		    "import os\n"
		    "\n"
		    "LR = 0.001  # learning rate\n"
		    "LAYERS: int = 5\n"
		    "NAME = 'a\"b\\'c'\n"
		    "USE_AMP = False\n"
		    "DEVICE = os.environ.get('D', 'cpu')\n"
		    "SIZES = [\n"
		    "X = 1,\n"
		    "]\n"
		    "TOTAL = LAYERS * 2\n"
		    "NOTHING = \"x\"\n"
		    "BIG = 1_000_000\n"
		    "EQ == 3\n"
		    "def f():\n"
		    "    LR = 5\n"
		    "    return LR\n");
}

static void python_errors_name_the_line(void)
{
	check_error("train.py", "A = 1\nB = 'open\n", NULL, "train.py:2: unterminated string");
	check_error("train.py", "A = 1\n", "{\"DEVICE\": \"cuda\"}",
		    "train.py: no setting named 'DEVICE'");
	check_error("train.py", "A = 1\n", "{\"A\": null}", "train.py: A: a setting must be");
}

/* Write then read gives back what was written, in every format. */
static void round_trips(void)
{
	static const char *const files[][2] = {
		{"h.json", "{\"a\": 1, \"b\": \"x\", \"c\": true}"},
		{"h.yaml", "a: 1\nb: x\nc: true\n"},
		{"h.py", "a = 1\nb = 'x'\nc = True\n"},
	};
	static const char *const values[] = {
		"{\"a\": 0.1, \"b\": \"tab\\there\", \"c\": false}",
		"{\"a\": 1e-300, \"b\": \"#not a comment\", \"c\": true}",
		"{\"a\": -7, \"b\": \"quote'\\\"\\\\back\", \"c\": false}",
		"{\"a\": 123456.789, \"b\": \"caf\\u00e9: 1\", \"c\": true}",
		"{\"a\": 2, \"b\": \"- dash\", \"c\": false}",
		"{\"a\": 3, \"b\": \"nan\", \"c\": false}",
		"{\"a\": 3, \"b\": \"\", \"c\": false}",
	};
	for (size_t f = 0; f < ARRAY_LEN(files); f++) {
		for (size_t v = 0; v < ARRAY_LEN(values); v++) {
			struct err e = {{0}};
			char *text = write_with(files[f][0], files[f][1], values[v], &e);
			T_CHECK(text, "%s: %s", files[f][0], e.msg);
			if (!text)
				continue;
			cJSON *got = NULL, *want = cJSON_Parse(values[v]);
			T_CHECK(params_read(files[f][0], text, &got, &e) == 0, "%s: %s\n%s",
				files[f][0], e.msg, text);
			T_CHECK(cJSON_Compare(got, want, true),
				"%s: %s reads back differently:\n%s", files[f][0], values[v], text);
			cJSON_Delete(got);
			cJSON_Delete(want);
			free(text);
		}
	}
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random bytes and mutated real files: an error or a result, never a crash. */
static void garbage_never_crashes(void)
{
	static const char *const paths[] = {"h.json", "h.yaml", "h.py"};
	static const char *const seeds[] = {
		"{\n  \"lr\": 0.1,\n  \"n\": [1, {\"x\": \"y\"}],\n  \"s\": \"a\\u00e9\\\"\"\n}\n",
		yaml_text, py_text};
	static const char alphabet[] = "\"'\\:#=-[]{}\n\r\t ,.0123456789eExuU_TrueFalsNon\x01\xff";
	uint64_t s = 0x1234567;
	cJSON *values = cJSON_Parse("{\"lr\": 0.5, \"n\": \"x\", \"new\": true}");
	char text[512];

	for (int round = 0; round < 30000; round++) {
		size_t f = (size_t)(round % 3), n;
		if (round % 2) {
			n = strlen(seeds[f]);
			memcpy(text, seeds[f], n + 1);
			for (int k = 0; k < 4; k++)
				text[rng_next(&s) % n] =
					alphabet[rng_next(&s) % (sizeof alphabet - 1)];
		} else {
			n = rng_next(&s) % (sizeof text - 1);
			for (size_t i = 0; i < n; i++)
				text[i] = round % 4 ? alphabet[rng_next(&s) % (sizeof alphabet - 1)]
						    : (char)(rng_next(&s) % 255 + 1);
			text[n] = '\0';
		}
		struct err e = {{0}};
		cJSON *o = NULL;
		char *out = NULL;
		if (params_read(paths[f], text, &o, &e) < 0)
			T_CHECK(e.msg[0] && strstr(e.msg, paths[f]), "error without a path: %s",
				e.msg);
		cJSON_Delete(o);
		if (params_write(paths[f], text, values, &out, &e) == 0) {
			/* Whatever it wrote must read back. */
			T_CHECK(params_read(paths[f], out, &o, &e) == 0,
				"rewritten %s unreadable: %s", paths[f], e.msg);
			cJSON_Delete(o);
		}
		free(out);
	}
	cJSON_Delete(values);
}

int main(void)
{
	T_RUN(format_follows_the_ending);
	T_RUN(json_reads_scalars_only);
	T_RUN(json_write_keeps_the_layout);
	T_RUN(json_write_adds_missing_names);
	T_RUN(numbers_are_written_shortest);
	T_RUN(json_errors_name_the_line);
	T_RUN(yaml_reads_flat_settings);
	T_RUN(yaml_write_changes_only_values);
	T_RUN(yaml_errors_name_the_line);
	T_RUN(python_reads_top_level_constants);
	T_RUN(python_write_changes_only_values);
	T_RUN(python_errors_name_the_line);
	T_RUN(round_trips);
	T_RUN(garbage_never_crashes);
	T_END();
}
