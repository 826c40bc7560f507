/* Unit tests: metrics read from log lines, bounded summaries, metrics.json. */
#include "t.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "hypotop/metrics.h"

static void feed(struct metrics *m, const char *line)
{
	metrics_feed(m, line, strlen(line));
}

static void init_plain(struct metrics *m)
{
	struct err e = {{0}};

	if (metrics_init(m, NULL, &e) < 0) {
		printf("metrics_init: %s\n", e.msg);
		exit(2);
	}
}

static int init_with(struct metrics *m, const char *patterns, struct err *e)
{
	cJSON *p = cJSON_Parse(patterns);
	int rc = metrics_init(m, p, e);

	cJSON_Delete(p);
	return rc;
}

/* The series' value count, or -1 when it does not exist. */
static long count_of(const struct metrics *m, const char *name)
{
	const struct series *s = metrics_get(m, name);

	return s ? (long)s->count : -1;
}

static double last_of(const struct metrics *m, const char *name)
{
	const struct series *s = metrics_get(m, name);

	return s ? s->last : NAN;
}

static void bad_patterns_are_refused(void)
{
	struct metrics m;
	struct err e = {{0}};

	T_CHECK(init_with(&m, "{\"acc\": \"acc: ([0-9.]+\"}", &e) < 0, "unbalanced (");
	T_CONTAINS(e.msg, "metrics.patterns.acc: bad regex: ");
	T_CHECK(init_with(&m, "{\"ok\": \"a(b)\", \"f1\": \"f1 [0-9]+\"}", &e) < 0, "no group");
	T_CONTAINS(e.msg, "metrics.patterns.f1: bad regex: no group");
	T_CHECK(init_with(&m, "{\"x\": 3}", &e) < 0, "not a string");
	T_CONTAINS(e.msg, "metrics.patterns.x: must be a string");
	T_CHECK(init_with(&m, "[1]", &e) < 0, "not an object");
	T_CONTAINS(e.msg, "metrics.patterns: must be an object");
	T_CHECK(init_with(&m, "{\"acc\": \"acc: ([0-9.]+)\"}", &e) == 0, "%s", e.msg);
	T_CHECK(m.npatterns == 1, "npatterns %zu", m.npatterns);
	metrics_free(&m);
}

static void pairs_are_found_anywhere(void)
{
	struct metrics m;

	init_plain(&m);
	feed(&m, "[12:00:01] epoch=1 step=100 loss=0.5 lr=1e-4 train/acc=0.9 val-loss=.3 "
		 "--seed=3 grad_norm=-2.5E+1, done");
	T_CHECK(m.step == 100, "step %g", m.step);
	T_CHECK(last_of(&m, "loss") == 0.5 && last_of(&m, "lr") == 1e-4, "loss, lr");
	T_CHECK(last_of(&m, "train/acc") == 0.9 && last_of(&m, "val-loss") == 0.3, "names");
	T_CHECK(last_of(&m, "seed") == 3 && last_of(&m, "grad_norm") == -25, "seed, grad_norm");
	T_CHECK(!metrics_get(&m, "step") && !metrics_get(&m, "epoch"), "counters are not series");
	T_CHECK(m.len == 6, "series %zu", m.len);
	/* Not values: versions, times, words, names starting with a digit, "==". */
	feed(&m, "v=1.2.3 t=12:30 x=nano y=0x1f 3abc=4 a==1 b= 2 c=e5 d=");
	T_CHECK(m.len == 6, "series after non-values %zu", m.len);
	T_CHECK(m.lines == 2, "lines %llu", (unsigned long long)m.lines);
	metrics_free(&m);
}

static void json_and_dict_lines(void)
{
	struct metrics m;

	init_plain(&m);
	feed(&m, "{\"step\": 3, \"loss\": 0.25, \"name\": \"x=9\", \"nested\": {\"a\": 1},"
		 " \"list\": [1, {\"b\": 2}], \"acc\": NaN, \"big\": -Infinity}");
	T_CHECK(m.step == 3, "step %g", m.step);
	T_CHECK(last_of(&m, "loss") == 0.25, "loss");
	T_CHECK(!metrics_get(&m, "name") && !metrics_get(&m, "x") && !metrics_get(&m, "a") &&
			!metrics_get(&m, "b"),
		"only numeric top-level members");
	const struct series *acc = metrics_get(&m, "acc"), *big = metrics_get(&m, "big");
	T_CHECK(acc && acc->count == 0 && acc->nonfinite == 1, "NaN counted");
	T_CHECK(big && big->nonfinite == 1, "-Infinity counted");
	/* Python dicts as Hugging Face prints them, after a log prefix. */
	feed(&m, "INFO trainer.py:12 step=9 {'loss': 0.125, 'grad_norm': 1.5, 'epoch': 0.04}");
	T_CHECK(last_of(&m, "loss") == 0.125 && last_of(&m, "grad_norm") == 1.5, "dict");
	T_CHECK(m.step == 9, "prefix pair %g", m.step);
	feed(&m, "{'eval loss': 2, \"t\": tensor(1.5), \"after\": 4}");
	T_CHECK(last_of(&m, "eval loss") == 2 && last_of(&m, "after") == 4, "skip odd values");
	metrics_free(&m);
}

static void echoed_settings_are_not_metrics(void)
{
	struct metrics m;

	init_plain(&m);
	/* A program that prints its arguments: vars(args), args, a config as JSON. */
	feed(&m, "{'input_file': 'names.txt', 'resume': False, 'num_workers': 4, 'max_steps': -1, "
		 "'device': 'cpu', 'seed': 3407, 'top_k': -1, 'n_layer': 4, 'learning_rate': 0.0005}");
	feed(&m, "Namespace(input_file='names.txt', seed=3407, top_k=-1, n_layer=4, resume=False)");
	feed(&m, "config: {\"lr\": 0.001, \"n_head\": 4, \"compile\": false, \"init_from\": null}");
	feed(&m, "lr=0.01 batch_size=32 out_dir='out'");
	/* hypotop's own lines in the log: the launch command and its settings. */
	feed(&m, "[hypotop] launch: OMP_NUM_THREADS=1 python3 train.py --lr 0.01");
	T_CHECK(m.len == 0, "%zu series from echoed settings, the first %s", m.len,
		m.len ? m.v[0].name : "");
	/* The lines that look like metrics still count. */
	feed(&m, "step 10: train loss 2.31, val loss 2.35 val_loss=2.35");
	feed(&m, "{'loss': 0.125, 'grad_norm': 1.5, 'epoch': 0.04}");
	feed(&m, "{\"event\": \"eval\", \"acc\": 0.5}");
	T_CHECK(m.len == 4, "series %zu", m.len);
	T_CHECK(last_of(&m, "val_loss") == 2.35 && last_of(&m, "loss") == 0.125 &&
			last_of(&m, "acc") == 0.5,
		"metrics lines");
	metrics_free(&m);
}

static void patterns_take_the_first_group(void)
{
	struct metrics m;
	struct err e = {{0}};

	T_CHECK(init_with(&m,
			  "{\"acc\": \"val acc: *([0-9.]+)%\", \"step\": \"^Step ([0-9]+)\","
			  " \"ppl\": \"ppl (x)?([0-9]+)\"}",
			  &e) == 0,
		"%s", e.msg);
	feed(&m, "Step 40 | val acc: 93.5% acc=1 ppl 12");
	T_CHECK(m.step == 40, "step %g", m.step);
	const struct series *acc = metrics_get(&m, "acc");
	T_CHECK(acc && acc->count == 1 && acc->last == 93.5, "the pattern wins over the pair");
	T_CHECK(!metrics_get(&m, "ppl"), "an unmatched first group gives nothing");
	feed(&m, "acc=2");
	T_CHECK(acc->count == 2 && acc->last == 2, "pairs still count on other lines");
	metrics_free(&m);
}

static void nonfinite_values_are_counted_not_stored(void)
{
	struct metrics m;

	init_plain(&m);
	feed(&m, "loss=nan a=1");
	feed(&m, "loss=inf");
	feed(&m, "loss=-inf");
	feed(&m, "loss=NaN loss=-Infinity");
	feed(&m, "loss=1e999");
	const struct series *s = metrics_get(&m, "loss");
	T_CHECK(s && s->nonfinite == 6 && s->count == 0 && s->ring_len == 0, "nonfinite %llu",
		s ? (unsigned long long)s->nonfinite : 0ULL);
	feed(&m, "loss=2");
	T_CHECK(s->count == 1 && s->first == 2 && s->min == 2 && s->max == 2 && s->mean == 2,
		"first finite value");
	struct buf b;
	buf_init(&b);
	metrics_to_json(&m, &b);
	cJSON *j = cJSON_Parse(b.data);
	T_CHECK(j, "metrics.json does not parse: %s", b.data);
	T_CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "step")), "no step yet: null");
	cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "series"), "a");
	T_CHECK(a && cJSON_GetObjectItem(a, "count")->valuedouble == 1, "a");
	cJSON_Delete(j);
	buf_free(&b);
	metrics_free(&m);
}

/* Steps are whole numbers, written as such; a mean keeps about the values' precision. */
static void numbers_in_metrics_json_read_as_written(void)
{
	struct metrics m;
	struct err e = {{0}};
	struct buf b;

	T_CHECK(metrics_init(&m, NULL, &e) == 0, "%s", e.msg);
	feed(&m, "step=190 loss=0.25");
	feed(&m, "step=1000000 loss=0.5");
	feed(&m, "step=1000010 loss=0.75");
	buf_init(&b);
	metrics_to_json(&m, &b);
	T_CHECK(!strstr(b.data, "e+"), "an exponent: %s", b.data);
	T_CONTAINS(b.data, "[190, 0.25]");
	T_CONTAINS(b.data, "\"step\": 1000010");
	/* (0.25 + 0.5 + 0.75) / 3 is 0.5, and (0.1 + 0.2) / 2 not 0.15000000000000002. */
	T_CONTAINS(b.data, "\"mean\": 0.5,");
	metrics_free(&m);
	T_CHECK(metrics_init(&m, NULL, &e) == 0, "%s", e.msg);
	feed(&m, "acc=0.1");
	feed(&m, "acc=0.2");
	buf_reset(&b);
	metrics_to_json(&m, &b);
	T_CONTAINS(b.data, "\"mean\": 0.15,");
	buf_free(&b);
	metrics_free(&m);
}

static void step_follows_the_best_counter(void)
{
	struct metrics m;

	init_plain(&m);
	feed(&m, "loss=1");
	T_CHECK(isnan(m.step) && isnan(metrics_get(&m, "loss")->ring[0].step), "no step yet");
	feed(&m, "epoch=1 loss=2");
	T_CHECK(m.step == 1, "epoch until better: %g", m.step);
	feed(&m, "loss=3 step=100 epoch=1");
	T_CHECK(m.step == 100, "step beats epoch: %g", m.step);
	T_CHECK(metrics_get(&m, "loss")->ring[2].step == 100, "a value gets its own line's step");
	feed(&m, "epoch=2 loss=4");
	feed(&m, "iter=7 loss=5");
	T_CHECK(m.step == 100, "worse counters do not move it: %g", m.step);
	feed(&m, "step=50 loss=6");
	T_CHECK(m.step == 50, "a restart may go back: %g", m.step);
	feed(&m, "step=nan step=inf loss=7");
	T_CHECK(m.step == 50, "non-finite counters ignored: %g", m.step);
	metrics_free(&m);
}

static void ring_and_reservoir_stay_bounded(void)
{
	struct metrics m;
	char line[64];
	const long n = 1000000;

	init_plain(&m);
	for (long i = 0; i < n; i++) {
		snprintf(line, sizeof line, "step=%ld loss=%ld", i, i);
		feed(&m, line);
	}
	const struct series *s = metrics_get(&m, "loss");
	T_CHECK(s && s->count == (uint64_t)n, "count");
	T_CHECK(s->ring_len == METRICS_RING && s->reservoir_len == METRICS_RESERVOIR, "lengths");
	T_CHECK(s->min == 0 && s->max == n - 1 && fabs(s->mean - (n - 1) / 2.0) < 1e-3,
		"min %g max %g mean %g", s->min, s->max, s->mean);
	T_CHECK(s->first == 0 && s->last == n - 1, "first/last");
	bool ring_ok = true;
	for (size_t i = 0; i < METRICS_RING; i++)
		ring_ok &= s->ring[(s->ring_head + i) % METRICS_RING].step ==
			   n - METRICS_RING + (long)i;
	T_CHECK(ring_ok, "the ring holds the newest points, oldest at ring_head");
	double sum = 0;
	long late = 0;
	for (size_t i = 0; i < s->reservoir_len; i++) {
		sum += s->reservoir[i].step;
		late += s->reservoir[i].step >= n / 2;
		T_CHECK(s->reservoir[i].step == s->reservoir[i].value, "a point keeps its step");
	}
	/* Uniform over the history: the mean step is near the middle (σ ≈ 25 000). */
	double mean = sum / (double)s->reservoir_len;
	T_CHECK(fabs(mean - n / 2.0) < 100000, "reservoir mean step %g", mean);
	T_CHECK(late > 32 && late < 96, "reservoir second half %ld of 128", late);
	metrics_free(&m);
}

static void to_json_has_the_documented_shape(void)
{
	struct metrics m;
	struct buf b;

	init_plain(&m);
	feed(&m, "loss=9");
	feed(&m, "step=5 loss=0.1");
	feed(&m, "step=3 loss=0.3");
	feed(&m, "step=4 loss=0.2");
	buf_init(&b);
	metrics_to_json(&m, &b);
	cJSON *j = cJSON_Parse(b.data);
	T_CHECK(j, "does not parse: %s", b.data);
	T_CHECK(cJSON_GetObjectItem(j, "lines")->valuedouble == 4, "lines");
	T_CHECK(cJSON_GetObjectItem(j, "step")->valuedouble == 4, "step");
	cJSON *loss = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "series"), "loss");
	static const char *const keys[] = {"count", "nonfinite", "first",  "last",  "min",
					   "max",   "mean",	 "recent", "sample"};
	for (size_t k = 0; k < ARRAY_LEN(keys); k++)
		T_CHECK(cJSON_GetObjectItem(loss, keys[k]), "no %s", keys[k]);
	T_CHECK(cJSON_GetObjectItem(loss, "count")->valuedouble == 4, "count");
	T_CHECK(cJSON_GetObjectItem(loss, "first")->valuedouble == 9, "first");
	T_CONTAINS(b.data, "\"recent\": [[null, 9], [3, 0.3], [4, 0.2], [5, 0.1]]");
	T_CONTAINS(b.data, "\"sample\": [[null, 9], [3, 0.3], [4, 0.2], [5, 0.1]]");
	T_CONTAINS(b.data, "\"mean\": 2.4");
	cJSON_Delete(j);
	buf_free(&b);
	metrics_free(&m);
}

static void series_are_capped(void)
{
	struct metrics m;
	struct buf line;

	init_plain(&m);
	buf_init(&line);
	for (int i = 0; i < 5000; i++)
		buf_printf(&line, "m%d=%d ", i, i);
	metrics_feed(&m, line.data, line.len);
	T_CHECK(m.len == METRICS_MAX_SERIES, "series %zu", m.len);
	T_CHECK(metrics_get(&m, "m63") && !metrics_get(&m, "m64"), "later names ignored");
	metrics_feed(&m, line.data, line.len);
	T_CHECK(metrics_get(&m, "m0")->count == 2, "known names still count");
	buf_free(&line);
	metrics_free(&m);
}

static void escapes_nuls_and_carriage_returns(void)
{
	struct metrics m;
	static const char nul_line[] = "loss=1\0 acc=2\0step=8";

	init_plain(&m);
	feed(&m, "\x1b[32mloss=0.5\x1b[0m step=\x1b[1m3\x1b[0m \x1b]0;title\x07 acc=0.7");
	T_CHECK(last_of(&m, "loss") == 0.5 && m.step == 3 && last_of(&m, "acc") == 0.7,
		"ANSI escapes are not part of names or values");
	metrics_feed(&m, nul_line, sizeof nul_line - 1);
	T_CHECK(last_of(&m, "acc") == 2 && m.step == 8, "the bytes after a NUL count");
	feed(&m, " 10%|#   | loss=0.9\r 20%|##  | loss=0.8\r 30%|### | loss=0.7\r\n");
	T_CHECK(count_of(&m, "loss") == 5 && last_of(&m, "loss") == 0.7,
		"a progress bar's redraws are each read");
	metrics_free(&m);
}

/* Only the start of a huge line is read: time and memory stay small. */
static void long_lines_are_cut(void)
{
	struct metrics m;
	size_t big = 4u << 20;
	char *huge = malloc(big);

	init_plain(&m);
	memset(huge, 'a', big);
	memcpy(huge, "head=1 ", 7);
	memcpy(huge + big - 7, " tail=1", 7);
	metrics_feed(&m, huge, big);
	T_CHECK(metrics_get(&m, "head") && !metrics_get(&m, "tail"), "head and tail");
	huge[big - 8] = '\r'; /* the tail is now a segment of its own: read */
	metrics_feed(&m, huge, big);
	T_CHECK(count_of(&m, "head") == 2 && count_of(&m, "tail") == 1, "after a \\r");
	free(huge);
	metrics_free(&m);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Random bytes, biased towards the characters the parsers care about. */
static void garbage_never_crashes(void)
{
	static const char alphabet[] = "=.-_/e+0123456789naif{}[]\"':, \t\r\x1b\x00\x07\\stepoch";
	struct metrics m;
	struct err e = {{0}};
	uint64_t s = 42;
	static char line[1 << 16];

	T_CHECK(init_with(&m, "{\"p\": \"p[=:]? *([^ ]*)\", \"q\": \"(x*)*y\"}", &e) == 0, "%s",
		e.msg);
	for (int i = 0; i < 100000; i++) {
		size_t n = rng_next(&s) % (i % 1000 == 0 ? sizeof line : 200);
		for (size_t k = 0; k < n; k++)
			line[k] = i % 3 ? alphabet[rng_next(&s) % (sizeof alphabet - 1)]
					: (char)rng_next(&s);
		metrics_feed(&m, line, n);
	}
	T_CHECK(m.len <= METRICS_MAX_SERIES, "series %zu", m.len);
	bool bounded = true;
	for (size_t i = 0; i < m.len; i++)
		bounded &= m.v[i].ring_len <= METRICS_RING &&
			   m.v[i].reservoir_len <= METRICS_RESERVOIR && strlen(m.v[i].name) <= 128;
	T_CHECK(bounded, "bounded series");
	struct buf b;
	buf_init(&b);
	metrics_to_json(&m, &b);
	cJSON *j = cJSON_Parse(b.data);
	T_CHECK(j, "metrics.json after garbage does not parse");
	cJSON_Delete(j);
	buf_free(&b);
	metrics_free(&m);
}

int main(void)
{
	T_RUN(bad_patterns_are_refused);
	T_RUN(pairs_are_found_anywhere);
	T_RUN(json_and_dict_lines);
	T_RUN(echoed_settings_are_not_metrics);
	T_RUN(patterns_take_the_first_group);
	T_RUN(nonfinite_values_are_counted_not_stored);
	T_RUN(step_follows_the_best_counter);
	T_RUN(numbers_in_metrics_json_read_as_written);
	T_RUN(ring_and_reservoir_stay_bounded);
	T_RUN(to_json_has_the_documented_shape);
	T_RUN(series_are_capped);
	T_RUN(escapes_nuls_and_carriage_returns);
	T_RUN(long_lines_are_cut);
	T_RUN(garbage_never_crashes);
	T_END();
}
