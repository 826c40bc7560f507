/*
 * Unit tests: the phase 1 health rules judged line by line (health_line),
 * from the metrics' running figures: what fires, at which step, and what
 * does not (a falling loss, a line past phase1_steps).
 */
#include "t.h"

#include <math.h>

#include "hypotop/config.h"
#include "hypotop/health.h"
#include "hypotop/json.h"

struct run {
	struct config cfg;
	struct metrics m;
	struct health_run h;
};

static void run_open(struct run *r, const char *health)
{
	struct err e = {{0}};
	char *text = xasprintf("{\"source_dir\": \"/s\", \"launch\": \"t\", \"metric\": "
			       "\"val_loss\", \"health\": %s}",
			       health);
	cJSON *doc = json_parse(text, strlen(text), "config.json", &e);

	T_CHECK(doc && config_from_json(&r->cfg, doc, "config.json", text, &e) == 0, "%s", e.msg);
	free(text);
	metrics_init(&r->m, NULL, &e);
	health_start(&r->h, &r->cfg);
}

static void run_close(struct run *r)
{
	metrics_free(&r->m);
	config_free(&r->cfg);
}

static void line(struct run *r, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	metrics_feed(&r->m, text, strlen(text));
	health_line(&r->h, &r->m);
}

static void nan_fires_at_its_step(void)
{
	struct run r;

	run_open(&r, "{}");
	for (int i = 0; i < 50; i++)
		line(&r, "step=%d loss=%g", i, 1.0 / (i + 1));
	T_CHECK(!r.h.pending[HR_LOSS_FINITE].set, "fired before the NaN");
	line(&r, "step=50 loss=nan");
	line(&r, "step=51 loss=nan");
	T_CHECK(r.h.pending[HR_LOSS_FINITE].set && r.h.pending[HR_LOSS_FINITE].step == 50,
		"step %g", r.h.pending[HR_LOSS_FINITE].step);
	run_close(&r);
}

static void a_rising_loss_fires_a_falling_one_does_not(void)
{
	struct run r;

	run_open(&r, "{\"rules\": {\"loss_decreasing\": {\"threshold\": 10}}}");
	for (int i = 0; i < 100; i++)
		line(&r, "step=%d loss=%g", i, 2.0 - i * 0.01 + (i % 2 ? 0.05 : -0.05));
	T_CHECK(!r.h.pending[HR_LOSS_DECREASING].set, "fired on a noisy falling loss");
	for (int i = 100; i < 130; i++)
		line(&r, "step=%d loss=%g", i, 1.0 + (i - 100) * 0.1);
	T_CHECK(r.h.pending[HR_LOSS_DECREASING].set, "a rising loss did not fire");
	T_CHECK(r.h.pending[HR_LOSS_DECREASING].step >= 110 &&
			r.h.pending[HR_LOSS_DECREASING].step <= 121,
		"at step %g, not the first window after the rise",
		r.h.pending[HR_LOSS_DECREASING].step);
	run_close(&r);
}

/*
 * The quickstart's log: a point every 100 steps, the loss falling with
 * SGD's ups and downs. A window of 100 steps holds one point: the rule
 * waits for 5, and so says nothing of a healthy run.
 */
static void a_sparse_noisy_falling_loss_does_not_fire(void)
{
	static const double loss[] = {0.654, 0.550, 0.329, 0.420, 0.390, 0.375, 0.244,
				      0.242, 0.248, 0.245, 0.208, 0.146, 0.171, 0.082, 0.102};
	struct run r;

	run_open(&r, "{}");
	for (size_t i = 0; i < ARRAY_LEN(loss); i++)
		line(&r, "step=%zu loss=%g", 100 * (i + 1), loss[i]);
	T_CHECK(!r.h.pending[HR_LOSS_DECREASING].set, "fired at step %g",
		r.h.pending[HR_LOSS_DECREASING].step);
	run_close(&r);
}

static void grad_norm_from_the_named_series_only_in_phase_1(void)
{
	struct run r;

	run_open(&r, "{\"phase1_steps\": 100, \"grad_norm_series\": \"gnorm\", "
		     "\"rules\": {\"grad_norm\": {\"threshold\": 10}}}");
	line(&r, "step=1 grad_norm=500 gnorm=2");
	T_CHECK(!r.h.pending[HR_GRAD_NORM].set, "another series fired");
	line(&r, "step=150 gnorm=500");
	T_CHECK(!r.h.pending[HR_GRAD_NORM].set, "fired past phase1_steps");
	run_close(&r);
	run_open(&r, "{\"phase1_steps\": 100, \"grad_norm_series\": \"gnorm\", "
		     "\"rules\": {\"grad_norm\": {\"threshold\": 10}}}");
	line(&r, "step=7 gnorm=11.5");
	T_CHECK(r.h.pending[HR_GRAD_NORM].set && r.h.pending[HR_GRAD_NORM].value == 11.5 &&
			r.h.pending[HR_GRAD_NORM].step == 7,
		"value %g step %g", r.h.pending[HR_GRAD_NORM].value, r.h.pending[HR_GRAD_NORM].step);
	run_close(&r);
}

static void a_rule_turned_off_never_fires(void)
{
	struct run r;

	run_open(&r, "{\"rules\": {\"loss_finite\": {\"action\": \"off\"}}}");
	line(&r, "step=1 loss=inf");
	T_CHECK(!r.h.pending[HR_LOSS_FINITE].set, "an off rule fired");
	run_close(&r);
}

int main(void)
{
	T_RUN(nan_fires_at_its_step);
	T_RUN(a_rising_loss_fires_a_falling_one_does_not);
	T_RUN(a_sparse_noisy_falling_loss_does_not_fire);
	T_RUN(grad_norm_from_the_named_series_only_in_phase_1);
	T_RUN(a_rule_turned_off_never_fires);
	T_END();
}
