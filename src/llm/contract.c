/*
 * contract.c — the two answer shapes of SPEC §7 and the search for them in
 * free text (see planner.h).
 *
 * Whoever produced an answer — a model API, a command, the offline planner —
 * it passes through here before the engine acts on it, so the checks are
 * strict: every key present with its type, no key the contract does not
 * name, no key twice. Messages name the field as a path
 * ("plan: proposals[1].change.kind: ...") because they are quoted back to the
 * model on its retry and shown to the person.
 */
#include "hypotop/planner.h"

#include <stdio.h>
#include <string.h>

#include "hypotop/change.h"
#include "hypotop/json.h"

#define NAME_MAX_LEN 48
/* The range the queue accepts for a priority (tree.c, workdir.c). */
#define PRIORITY_LIMIT 1000000L
/*
 * contract_extract() tries every '{' of the text; a pathological answer (many
 * unmatched braces) would make that quadratic, so the bytes scanned are capped.
 */
#define EXTRACT_SCAN_BUDGET (64u << 20)

/*
 * The path of member key of the object at `at`: "plan" + "stop" gives
 * "plan: stop", "plan: proposals[0]" + "name" gives "plan: proposals[0].name".
 */
static void join(char *out, size_t n, const char *at, const char *key)
{
	snprintf(out, n, "%s%s%s", at, strchr(at, ':') ? "." : ": ", key);
}

/*
 * Every member of o must be one of keys, at most once, and the first
 * `required` of them must be present. `at` is the object's path for messages.
 */
static int check_some_keys(const cJSON *o, const char *at, const char *const *keys, size_t n,
			   size_t required, struct err *e)
{
	char allowed[256] = "", path[256];

	for (size_t i = 0; i < n; i++)
		snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s",
			 i ? ", " : "", keys[i]);
	for (const cJSON *m = o->child; m; m = m->next) {
		size_t i = 0;
		while (i < n && strcmp(m->string, keys[i]))
			i++;
		join(path, sizeof path, at, m->string);
		if (i == n) {
			err_set(e, "%s: unknown key; allowed: %s", path, allowed);
			return -1;
		}
		for (const cJSON *d = o->child; d != m; d = d->next)
			if (!strcmp(d->string, m->string)) {
				err_set(e, "%s: given twice; give each key once", path);
				return -1;
			}
	}
	for (size_t i = 0; i < required; i++)
		if (!cJSON_GetObjectItemCaseSensitive(o, keys[i])) {
			join(path, sizeof path, at, keys[i]);
			err_set(e, "%s: missing; the object needs %s", path, allowed);
			return -1;
		}
	return 0;
}

/* Every key present, none other. */
static int check_keys(const cJSON *o, const char *at, const char *const *keys, size_t n,
		      struct err *e)
{
	return check_some_keys(o, at, keys, n, n, e);
}

static int check_string(const cJSON *v, const char *at, bool nonempty, struct err *e)
{
	if (!cJSON_IsString(v)) {
		err_set(e, "%s: must be a string", at);
		return -1;
	}
	if (nonempty && !v->valuestring[strspn(v->valuestring, " \t\r\n")]) {
		err_set(e, "%s: must not be empty", at);
		return -1;
	}
	return 0;
}

static int check_string_array(const cJSON *v, const char *at, struct err *e)
{
	int i = 0;

	if (!cJSON_IsArray(v)) {
		err_set(e, "%s: must be an array of strings", at);
		return -1;
	}
	for (const cJSON *m = v->child; m; m = m->next, i++)
		if (!cJSON_IsString(m)) {
			err_set(e, "%s[%d]: must be a string", at, i);
			return -1;
		}
	return 0;
}

int contract_check_analysis(const cJSON *j, struct err *e)
{
	static const char *const keys[] = {"summary", "verdict", "bottleneck", "evidence",
					   "hypothesis_supported"};
	static const char *const verdicts[] = {"improved", "no_change", "regressed", "failed"};
	const cJSON *v;

	if (!cJSON_IsObject(j)) {
		err_set(e, "analysis: must be a JSON object {\"summary\", \"verdict\", "
			   "\"bottleneck\", \"evidence\", \"hypothesis_supported\"}");
		return -1;
	}
	if (check_keys(j, "analysis", keys, ARRAY_LEN(keys), e) < 0)
		return -1;
	if (check_string(cJSON_GetObjectItemCaseSensitive(j, "summary"), "analysis: summary",
			 true, e) < 0 ||
	    check_string(cJSON_GetObjectItemCaseSensitive(j, "bottleneck"),
			 "analysis: bottleneck", false, e) < 0 ||
	    check_string_array(cJSON_GetObjectItemCaseSensitive(j, "evidence"),
			       "analysis: evidence", e) < 0)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(j, "verdict");
	size_t i = 0;
	while (cJSON_IsString(v) && i < ARRAY_LEN(verdicts) && strcmp(v->valuestring, verdicts[i]))
		i++;
	if (!cJSON_IsString(v) || i == ARRAY_LEN(verdicts)) {
		err_set(e, "analysis: verdict: must be one of \"improved\", \"no_change\", "
			   "\"regressed\", \"failed\"");
		return -1;
	}
	v = cJSON_GetObjectItemCaseSensitive(j, "hypothesis_supported");
	if (!cJSON_IsBool(v) && !cJSON_IsNull(v)) {
		err_set(e, "analysis: hypothesis_supported: must be true, false or null");
		return -1;
	}
	return 0;
}

static bool is_slug(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= NAME_MAX_LEN && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/*
 * change_validate() words its messages "WHAT: change: ..."; rewrite them to
 * the dotted path every other message here uses.
 */
static int check_change(const cJSON *ch, const char *at, struct err *e)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind");
	struct err sub = {{0}};

	if (!cJSON_IsObject(ch)) {
		err_set(e, "%s.change: must be an object with \"kind\": " CHANGE_KINDS, at);
		return -1;
	}
	if (!cJSON_IsString(kind) || !change_kind_known(kind->valuestring)) {
		err_set(e, "%s.change.kind: must be one of " CHANGE_KINDS, at);
		return -1;
	}
	if (change_validate(ch, "@", &sub) == 0)
		return 0;
	const char *rest = sub.msg;
	if (!strncmp(rest, "@: change: ", 11))
		rest += 11;
	else if (!strncmp(rest, "@: ", 3))
		rest += 3;
	err_set(e, "%s.change: %s", at, rest);
	return -1;
}

/* "n0012": the spelling of a node id (whether the node exists is the engine's check). */
static bool node_id_like(const cJSON *v)
{
	const char *s = cJSON_IsString(v) ? v->valuestring : "";
	size_t digits = s[0] == 'n' ? strspn(s + 1, "0123456789") : 0;

	return digits >= 4 && digits <= 9 && !s[1 + digits];
}

static int check_proposal(const cJSON *p, const char *at, struct err *e)
{
	/* "parent", the last, may be left out: the node the round was asked about. */
	static const char *const keys[] = {"name", "hypothesis", "priority", "needs_rebuild",
					   "change", "parent"};
	char sub[128];
	long prio;

	if (!cJSON_IsObject(p)) {
		err_set(e, "%s: must be an object {\"name\", \"hypothesis\", \"priority\", "
			   "\"needs_rebuild\", \"change\"} and optionally \"parent\"",
			at);
		return -1;
	}
	if (check_some_keys(p, at, keys, ARRAY_LEN(keys), ARRAY_LEN(keys) - 1, e) < 0)
		return -1;
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
	snprintf(sub, sizeof sub, "%s.name", at);
	if (check_string(name, sub, false, e) < 0)
		return -1;
	if (!is_slug(name->valuestring)) {
		err_set(e, "%s: \"%.64s\" is not a slug: 1 to %d characters a-z, 0-9 and '-'",
			sub, name->valuestring, NAME_MAX_LEN);
		return -1;
	}
	snprintf(sub, sizeof sub, "%s.hypothesis", at);
	if (check_string(cJSON_GetObjectItemCaseSensitive(p, "hypothesis"), sub, true, e) < 0)
		return -1;
	snprintf(sub, sizeof sub, "%s.priority", at);
	if (json_int(cJSON_GetObjectItemCaseSensitive(p, "priority"), "priority", sub,
		     -PRIORITY_LIMIT, PRIORITY_LIMIT, &prio, e) != 1) {
		err_set(e, "%s: must be a whole number from %ld to %ld (lower runs first)", sub,
			-PRIORITY_LIMIT, PRIORITY_LIMIT);
		return -1;
	}
	if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(p, "needs_rebuild"))) {
		err_set(e, "%s.needs_rebuild: must be true or false", at);
		return -1;
	}
	const cJSON *parent = cJSON_GetObjectItemCaseSensitive(p, "parent");
	if (parent && !node_id_like(parent)) {
		err_set(e, "%s.parent: must be the id of a completed node of the history, like "
			   "n0012; or leave parent out to branch from the node asked about",
			at);
		return -1;
	}
	return check_change(cJSON_GetObjectItemCaseSensitive(p, "change"), at, e);
}

int contract_check_plan(const cJSON *j, struct err *e)
{
	static const char *const keys[] = {"stop", "reason", "proposals"};
	const cJSON *stop, *props;
	int n;

	if (!cJSON_IsObject(j)) {
		err_set(e, "plan: must be a JSON object {\"stop\", \"reason\", \"proposals\"}");
		return -1;
	}
	if (check_keys(j, "plan", keys, ARRAY_LEN(keys), e) < 0)
		return -1;
	stop = cJSON_GetObjectItemCaseSensitive(j, "stop");
	if (!cJSON_IsBool(stop)) {
		err_set(e, "plan: stop: must be true or false");
		return -1;
	}
	if (check_string(cJSON_GetObjectItemCaseSensitive(j, "reason"), "plan: reason", false,
			 e) < 0)
		return -1;
	props = cJSON_GetObjectItemCaseSensitive(j, "proposals");
	if (!cJSON_IsArray(props)) {
		err_set(e, "plan: proposals: must be an array of proposals");
		return -1;
	}
	n = cJSON_GetArraySize(props);
	if (n > PLAN_WANT_MAX || (n == 0 && !cJSON_IsTrue(stop))) {
		err_set(e, "plan: proposals: must hold 1 to %d proposals (none only with \"stop\": "
			   "true); got %d",
			PLAN_WANT_MAX, n);
		return -1;
	}
	int i = 0;
	for (const cJSON *p = props->child; p; p = p->next, i++) {
		char at[64];
		snprintf(at, sizeof at, "plan: proposals[%d]", i);
		if (check_proposal(p, at, e) < 0)
			return -1;
	}
	return 0;
}

/*
 * The answer to a request for code: {TEXT_KEY: str, "change": CHANGE | null}.
 * `what` names the contract in messages.
 */
static int check_change_answer(const cJSON *j, const char *what, const char *text_key,
			       struct err *e)
{
	const char *const keys[] = {text_key, "change"};
	char at[64];

	if (!cJSON_IsObject(j)) {
		err_set(e, "%s: must be a JSON object {\"%s\", \"change\"}", what, text_key);
		return -1;
	}
	if (check_keys(j, what, keys, ARRAY_LEN(keys), e) < 0)
		return -1;
	snprintf(at, sizeof at, "%s: %s", what, text_key);
	if (check_string(cJSON_GetObjectItemCaseSensitive(j, text_key), at, true, e) < 0)
		return -1;
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "change");
	if (cJSON_IsNull(ch))
		return 0;
	/* check_change() words its paths as the proposal's: "<at>.change...". */
	snprintf(at, sizeof at, "%s:", what);
	struct err sub = {{0}};
	if (check_change(ch, at, &sub) == 0)
		return 0;
	err_set(e, "%s: %s%s", what, sub.msg + strlen(at) + 1,
		cJSON_IsObject(ch) ? "" : ", or null when there is no change to give");
	return -1;
}

int contract_check_repair(const cJSON *j, struct err *e)
{
	return check_change_answer(j, "repair", "fix", e);
}

int contract_check_instrument(const cJSON *j, struct err *e)
{
	return check_change_answer(j, "instrument", "summary", e);
}

/*
 * The offset just past the '}' that closes the '{' at text[start], reading
 * strings (and their escapes) as JSON does; 0 when it is never closed.
 * *scanned grows by the bytes looked at.
 */
static size_t match_brace(const char *text, size_t len, size_t start, size_t *scanned)
{
	size_t depth = 0;
	bool in_str = false;

	for (size_t i = start; i < len; i++) {
		char c = text[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '{') {
			depth++;
		} else if (c == '}' && --depth == 0) {
			*scanned += i + 1 - start;
			return i + 1;
		}
	}
	*scanned += len - start;
	return 0;
}

/*
 * A nested object is tried too (a model may wrap its answer), but when it
 * fails, the problem reported stays that of the object around it: "plan:
 * reason: missing" helps a retry more than what a proposal lacks as a plan.
 */
cJSON *contract_extract(const char *text, int (*check)(const cJSON *, struct err *),
			struct err *e)
{
	size_t len = text ? strlen(text) : 0, scanned = 0, outer_end = 0;
	struct err sub = {{0}};
	bool tried = false;

	for (size_t i = 0; i < len; i++) {
		if (text[i] != '{')
			continue;
		if (scanned > EXTRACT_SCAN_BUDGET) {
			err_set(e, "gave up looking for a JSON object after %zu bytes: too many "
				   "unbalanced braces",
				scanned);
			return NULL;
		}
		size_t end = match_brace(text, len, i, &scanned);
		struct err *here = i < outer_end ? &sub : e;
		if (!end) {
			if (!tried)
				err_set(e, "the JSON object at byte %zu is never closed", i);
			tried = true;
			continue;
		}
		const char *parse_end = NULL;
		cJSON *j = cJSON_ParseWithLengthOpts(text + i, end - i, &parse_end, false);
		tried = true;
		outer_end = end > outer_end ? end : outer_end;
		if (!j || parse_end != text + end) {
			int sline, scol, line, col;
			size_t off = parse_end && parse_end >= text + i ? (size_t)(parse_end - text) : i;
			json_position(text, i, &sline, &scol);
			json_position(text, off, &line, &col);
			err_set(here, "the object starting at line %d, column %d is not valid JSON "
				      "(near line %d, column %d)",
				sline, scol, line, col);
			cJSON_Delete(j);
			continue;
		}
		if (check(j, here) == 0)
			return j;
		cJSON_Delete(j);
	}
	if (!tried)
		err_set(e, "no JSON object found");
	return NULL;
}
