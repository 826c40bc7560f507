/* health_rules.c — see health_rules.h. */
#include "hypotop/health_rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/config.h"

static const struct health_rule_info rules[] = {
#define X(e, name, phase, thr, unit, act, sev, doc) {name, phase, thr, unit, act, sev, doc},
	HEALTH_RULES(X)
#undef X
};

static const char *const actions[] = {"off", "warn", "pause", "stop"};
static const char *const severities[] = {"info", "warning", "critical"};

const struct health_rule_info *health_rule_info(enum health_rule r)
{
	return &rules[r];
}

const char *health_action_name(enum health_action a)
{
	return actions[a];
}

const char *health_severity_name(enum health_severity s)
{
	return severities[s];
}

static int rule_find(const char *name)
{
	for (int i = 0; i < HR__COUNT; i++)
		if (!strcmp(rules[i].name, name))
			return i;
	return -1;
}

static int word_find(const char *const *words, int n, const char *w)
{
	for (int i = 0; w && i < n; i++)
		if (!strcmp(words[i], w))
			return i;
	return -1;
}

static int check_rule(const cJSON *r, const char *at, struct err *e)
{
	if (!cJSON_IsObject(r)) {
		err_set(e, "%s must be an object such as {\"threshold\": 10, \"action\": \"warn\"}",
			at);
		return -1;
	}
	for (const cJSON *f = r->child; f; f = f->next) {
		if (!strcmp(f->string, "threshold")) {
			if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < 0) {
				err_set(e, "%s.threshold must be a number, 0 or more, without quotes",
					at);
				return -1;
			}
		} else if (!strcmp(f->string, "action")) {
			if (word_find(actions, 4, cJSON_GetStringValue(f)) < 0) {
				err_set(e, "%s.action must be one of warn, pause, stop, off", at);
				return -1;
			}
		} else if (!strcmp(f->string, "severity")) {
			if (word_find(severities, 3, cJSON_GetStringValue(f)) < 0) {
				err_set(e, "%s.severity must be one of info, warning, critical", at);
				return -1;
			}
		} else {
			err_set(e, "%s: unknown key \"%s\"; use threshold, action, severity", at,
				f->string);
			return -1;
		}
	}
	return 0;
}

int health_rules_check(const cJSON *rs, const char *at, struct err *e)
{
	char sub[1024];

	for (const cJSON *r = rs ? rs->child : NULL; r; r = r->next) {
		snprintf(sub, sizeof sub, "%s.%s", at, r->string);
		if (rule_find(r->string) < 0) {
			struct nearest near;
			nearest_init(&near, r->string);
			for (int i = 0; i < HR__COUNT; i++)
				nearest_offer(&near, rules[i].name);
			if (near.best && near.d <= 3)
				err_set(e, "%s: no such rule; did you mean \"%s\"?", sub, near.best);
			else
				err_set(e, "%s: no such rule; see 'hypotop config-keys' for the rules",
					sub);
			return -1;
		}
		if (check_rule(r, sub, e) < 0)
			return -1;
	}
	return 0;
}

void health_rules_fill(struct health_rule_cfg *out, const cJSON *rs, double stall_seconds)
{
	for (int i = 0; i < HR__COUNT; i++) {
		out[i].threshold = rules[i].threshold < 0 ? stall_seconds : rules[i].threshold;
		out[i].action = rules[i].action;
		out[i].severity = rules[i].severity;
	}
	for (const cJSON *r = rs ? rs->child : NULL; r; r = r->next) {
		int i = rule_find(r->string);
		if (i < 0)
			continue;
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "threshold");
		if (cJSON_IsNumber(t))
			out[i].threshold = t->valuedouble;
		int a = word_find(actions, 4,
				  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "action")));
		if (a >= 0)
			out[i].action = (enum health_action)a;
		int s = word_find(severities, 3,
				  cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "severity")));
		if (s >= 0)
			out[i].severity = (enum health_severity)s;
	}
}

void health_rules_reference(struct buf *b, bool man)
{
	if (man)
		buf_adds(b, ".RS\n");
	for (int i = 0; i < HR__COUNT; i++) {
		const struct health_rule_info *r = &rules[i];
		char thr[96];
		if (!r->threshold && !*r->unit)
			snprintf(thr, sizeof thr, "no threshold");
		else if (r->threshold < 0)
			snprintf(thr, sizeof thr, "threshold stall_seconds %s", r->unit);
		else
			snprintf(thr, sizeof thr, "threshold %g%s%s", r->threshold, *r->unit ? " " : "",
				 r->unit);
		char *head = xasprintf("phase %d, %s, %s, %s", r->phase, thr,
				       health_action_name(r->action),
				       health_severity_name(r->severity));
		if (man) {
			buf_adds(b, ".TP\n.I ");
			config_man_escape(b, r->name);
			buf_adds(b, "\n(");
			config_man_escape(b, head);
			buf_adds(b, ")\n");
			config_man_escape(b, r->doc);
			buf_addc(b, '\n');
		} else {
			buf_printf(b, "    %s (%s)\n      %s\n", r->name, head, r->doc);
		}
		free(head);
	}
	if (man)
		buf_adds(b, ".RE\n");
}
