/*
 * schema.c — the contracts of SPEC §7 as JSON schemas, for providers that
 * take structured output. Every object is closed (additionalProperties
 * false), as Anthropic's structured output asks; the contracts are still
 * checked on the client by contract.c whatever the server promised.
 */
#include "hypotop/llm.h"
#include "hypotop/prompt_int.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/params.h"

static cJSON *closed_object(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", "object");
	cJSON_AddObjectToObject(o, "properties");
	cJSON_AddArrayToObject(o, "required");
	cJSON_AddFalseToObject(o, "additionalProperties");
	return o;
}

static void add_prop(cJSON *o, const char *name, cJSON *schema, bool required)
{
	cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(o, "properties"), name, schema);
	if (required)
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(o, "required"),
				     cJSON_CreateString(name));
}

static cJSON *typed(const char *type)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "type", type);
	return o;
}

static cJSON *string_enum(const char *const *v, size_t n)
{
	cJSON *o = typed("string");
	cJSON *e = cJSON_AddArrayToObject(o, "enum");

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(e, cJSON_CreateString(v[i]));
	return o;
}

static char *print_free(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	cJSON_Delete(j);
	return s;
}

char *llm_schema_analyse(void)
{
	static const char *const verdicts[] = {"improved", "no_change", "regressed", "failed"};
	cJSON *o = closed_object(), *items = typed("array"), *any = cJSON_CreateObject();
	cJSON *alts = cJSON_AddArrayToObject(any, "anyOf");

	add_prop(o, "summary", typed("string"), true);
	add_prop(o, "verdict", string_enum(verdicts, ARRAY_LEN(verdicts)), true);
	add_prop(o, "bottleneck", typed("string"), true);
	cJSON_AddItemToObject(items, "items", typed("string"));
	add_prop(o, "evidence", items, true);
	cJSON_AddItemToArray(alts, typed("boolean"));
	cJSON_AddItemToArray(alts, typed("null"));
	add_prop(o, "hypothesis_supported", any, true);
	return print_free(o);
}

/* One parameter of the search space: the JSON type a value must have. */
static cJSON *param_schema(const cJSON *spec)
{
	const cJSON *d = params_dist(spec);

	if (d && !strcmp(d->string, "int"))
		return typed("integer");
	if (d && !strcmp(d->string, "choice") && cJSON_IsArray(d)) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "enum", cJSON_Duplicate(d, true));
		return o;
	}
	return typed("number");
}

static cJSON *change_kind(const char *kind)
{
	cJSON *o = closed_object();
	const char *const one[] = {kind};

	add_prop(o, "kind", string_enum(one, 1), true);
	return o;
}

/* A change of kind `kind` whose `list` holds objects of the string keys given. */
static cJSON *blocks_kind(const char *kind, const char *list, const char *const *keys, size_t n)
{
	cJSON *o = change_kind(kind), *arr = typed("array"), *item = closed_object();

	for (size_t i = 0; i < n; i++)
		add_prop(item, keys[i], typed("string"), true);
	cJSON_AddItemToObject(arr, "items", item);
	add_prop(o, list, arr, true);
	return o;
}

/* A change: params (when the search space names them), edit, patch or files. */
static cJSON *change_schema(const struct config *cfg)
{
	cJSON *change = cJSON_CreateObject();
	cJSON *alts = cJSON_AddArrayToObject(change, "anyOf");
	const cJSON *space = cJSON_GetObjectItemCaseSensitive(cfg ? cfg->search_space : NULL,
							      "params");

	/*
	 * Structured output wants every object closed, so free-form params
	 * can only be offered when the search space names them.
	 */
	if (cJSON_IsObject(space) && space->child) {
		cJSON *k = change_kind("params"), *ps = closed_object();
		for (const cJSON *m = space->child; m; m = m->next)
			add_prop(ps, m->string, param_schema(m), false);
		add_prop(k, "params", ps, true);
		cJSON_AddItemToArray(alts, k);
	}
	static const char *const edit_keys[] = {"path", "search", "replace"};
	cJSON_AddItemToArray(alts, blocks_kind("edit", "edits", edit_keys, ARRAY_LEN(edit_keys)));
	cJSON *patch = change_kind("patch");
	add_prop(patch, "patch", typed("string"), true);
	cJSON_AddItemToArray(alts, patch);
	static const char *const file_keys[] = {"path", "content"};
	cJSON_AddItemToArray(alts, blocks_kind("files", "files", file_keys, ARRAY_LEN(file_keys)));
	return change;
}

char *llm_schema_plan(const struct config *cfg)
{
	cJSON *o = closed_object(), *prop = closed_object(), *list = typed("array");

	add_prop(prop, "name", typed("string"), true);
	add_prop(prop, "hypothesis", typed("string"), true);
	add_prop(prop, "priority", typed("integer"), true);
	add_prop(prop, "needs_rebuild", typed("boolean"), true);
	add_prop(prop, "change", change_schema(cfg), true);
	add_prop(prop, "parent", typed("string"), false);
	cJSON_AddItemToObject(list, "items", prop);
	add_prop(o, "stop", typed("boolean"), true);
	add_prop(o, "reason", typed("string"), true);
	add_prop(o, "proposals", list, true);
	return print_free(o);
}

/*
 * The schema of an answer {text_key: string, "change": CHANGE | null}.
 * Structured output takes a null in place of an object through anyOf.
 */
char *prompt_change_answer_schema(const struct config *cfg, const char *text_key)
{
	cJSON *o = closed_object(), *change = change_schema(cfg);

	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(change, "anyOf"), typed("null"));
	add_prop(o, text_key, typed("string"), true);
	add_prop(o, "change", change, true);
	return print_free(o);
}
