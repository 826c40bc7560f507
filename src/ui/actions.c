/* actions.c — the action table, key names and key maps (see actions.h). */
#include "hypotop/actions.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct action_info infos[] = {
#define X(e, name, keys, ctx, hint, doc) {name, keys, hint, doc, ctx},
	UI_ACTIONS(X)
#undef X
};

const struct action_info *action_info(enum ui_action a)
{
	return &infos[a];
}

enum ui_action action_parse(const char *name)
{
	for (int i = 0; i < ACT__COUNT; i++)
		if (!strcmp(infos[i].name, name))
			return (enum ui_action)i;
	return ACT_NONE;
}

/* ---- key names ----------------------------------------------------------- */

static const struct {
	const char *name;
	int key;
} names[] = {
	{"Up", UI_KEY_FN(KEY_UP)},
	{"Down", UI_KEY_FN(KEY_DOWN)},
	{"Left", UI_KEY_FN(KEY_LEFT)},
	{"Right", UI_KEY_FN(KEY_RIGHT)},
	{"PgUp", UI_KEY_FN(KEY_PPAGE)},
	{"PgDn", UI_KEY_FN(KEY_NPAGE)},
	{"Home", UI_KEY_FN(KEY_HOME)},
	{"End", UI_KEY_FN(KEY_END)},
	{"Ins", UI_KEY_FN(KEY_IC)},
	{"Del", UI_KEY_FN(KEY_DC)},
	{"Backspace", UI_KEY_FN(KEY_BACKSPACE)},
	{"BTab", UI_KEY_FN(KEY_BTAB)},
	{"Enter", UI_KEY_ENTER},
	{"Tab", '\t'},
	{"Esc", UI_KEY_ESC},
	{"Space", ' '},
};

/* One UTF-8 character; its code point, or -1. */
static int utf8_one(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int cp, n;

	if (p[0] < 0x80)
		cp = p[0], n = 1;
	else if ((p[0] & 0xe0) == 0xc0)
		cp = p[0] & 0x1f, n = 2;
	else if ((p[0] & 0xf0) == 0xe0)
		cp = p[0] & 0x0f, n = 3;
	else if ((p[0] & 0xf8) == 0xf0)
		cp = p[0] & 0x07, n = 4;
	else
		return -1;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (p[n] || cp < 0x20 || cp == 0x7f || cp > 0x10ffff)
		return -1;
	return cp;
}

int key_parse(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (!strcmp(names[i].name, name))
			return names[i].key;
	if ((name[0] == 'C' && name[1] == '-') || name[0] == '^') {
		const char *c = name + (name[0] == '^' ? 1 : 2);
		if (c[0] && !c[1]) {
			char l = c[0] >= 'A' && c[0] <= 'Z' ? (char)(c[0] - 'A' + 'a') : c[0];
			if (l >= 'a' && l <= 'z')
				return l - 'a' + 1;
		}
		return -1;
	}
	if (name[0] == 'F' && name[1] >= '1' && name[1] <= '9') {
		long n;
		if (!parse_long(name + 1, 1, 12, &n))
			return UI_KEY_FN(KEY_F(n));
	}
	return name[0] ? utf8_one(name) : -1;
}

void key_format(int key, char *buf, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (names[i].key == key) {
			snprintf(buf, n, "%s", names[i].name);
			return;
		}
	for (int f = 1; f <= 12; f++)
		if (key == UI_KEY_FN(KEY_F(f))) {
			snprintf(buf, n, "F%d", f);
			return;
		}
	if (key >= 1 && key <= 26) {
		snprintf(buf, n, "C-%c", 'a' + key - 1);
	} else if (key < 0x80) {
		snprintf(buf, n, "%c", key);
	} else if (key < 0x110000) {
		char u[5] = {0};
		if (key < 0x800) {
			u[0] = (char)(0xc0 | key >> 6);
			u[1] = (char)(0x80 | (key & 0x3f));
		} else if (key < 0x10000) {
			u[0] = (char)(0xe0 | key >> 12);
			u[1] = (char)(0x80 | (key >> 6 & 0x3f));
			u[2] = (char)(0x80 | (key & 0x3f));
		} else {
			u[0] = (char)(0xf0 | key >> 18);
			u[1] = (char)(0x80 | (key >> 12 & 0x3f));
			u[2] = (char)(0x80 | (key >> 6 & 0x3f));
			u[3] = (char)(0x80 | (key & 0x3f));
		}
		snprintf(buf, n, "%s", u);
	} else {
		snprintf(buf, n, "key%d", key - UI_KEY_FN(0));
	}
}

/* ---- key maps ------------------------------------------------------------ */

static int add_keys(struct keymap *km, enum ui_action a, const char *list, const char *what,
		    struct err *e)
{
	char *copy = xstrdup(list), *save = NULL;
	int rc = 0;

	for (char *t = strtok_r(copy, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
		int k = key_parse(t);
		if (k < 0) {
			err_set(e, "%s: keys: \"%s\": \"%s\" is not a key; write a character, C-x "
				   "for Ctrl-x, F1-F12, or one of Up Down Left Right PgUp PgDn Home "
				   "End Ins Del Backspace Tab BTab Enter Esc Space",
				what, infos[a].name, t);
			rc = -1;
			break;
		}
		if (km->len == KEYMAP_MAX) {
			err_set(e, "%s: keys: more than %d keys bound", what, KEYMAP_MAX);
			rc = -1;
			break;
		}
		km->v[km->len].key = k;
		km->v[km->len++].action = (short)a;
	}
	free(copy);
	return rc;
}

void keymap_defaults(struct keymap *km)
{
	struct err e;

	km->len = 0;
	for (int a = 0; a < ACT__COUNT; a++)
		add_keys(km, (enum ui_action)a, infos[a].keys, "defaults", &e);
}

static void drop_action(struct keymap *km, enum ui_action a)
{
	size_t j = 0;

	for (size_t i = 0; i < km->len; i++)
		if (km->v[i].action != a)
			km->v[j++] = km->v[i];
	km->len = j;
}

static int check_conflicts(const struct keymap *km, const char *what, struct err *e)
{
	for (size_t i = 0; i < km->len; i++)
		for (size_t j = i + 1; j < km->len; j++) {
			const struct action_info *a = &infos[km->v[i].action];
			const struct action_info *b = &infos[km->v[j].action];
			if (km->v[i].key != km->v[j].key || !(a->ctx & b->ctx) ||
			    km->v[i].action == km->v[j].action)
				continue;
			char k[32];
			key_format(km->v[i].key, k, sizeof k);
			err_set(e, "%s: keys: \"%s\" is bound to both %s and %s; give one of them "
				   "another key",
				what, k, a->name, b->name);
			return -1;
		}
	return 0;
}

static const char *closest_action(const char *name)
{
	struct nearest near;

	nearest_init(&near, name);
	for (int i = 0; i < ACT__COUNT; i++)
		nearest_offer(&near, infos[i].name);
	return near.d < 3 ? near.best : NULL;
}

int keymap_load(struct keymap *km, const cJSON *keys, const char *what, struct err *e)
{
	struct keymap next = *km;

	if (!cJSON_IsObject(keys)) {
		err_set(e, "%s: \"keys\" must be an object of action name to keys, like "
			   "{\"pause\": \"p\"}",
			what);
		return -1;
	}
	for (const cJSON *it = keys->child; it; it = it->next) {
		enum ui_action a = action_parse(it->string);
		if (a == ACT_NONE) {
			const char *near = closest_action(it->string);
			err_set(e, "%s: keys: \"%s\" is not an action%s%s%s; 'hypotop keys' lists them",
				what, it->string, near ? "; did you mean \"" : "", near ? near : "",
				near ? "\"" : "");
			return -1;
		}
		drop_action(&next, a);
		if (cJSON_IsString(it)) {
			if (add_keys(&next, a, it->valuestring, what, e) < 0)
				return -1;
		} else if (cJSON_IsArray(it)) {
			for (const cJSON *k = it->child; k; k = k->next) {
				if (!cJSON_IsString(k) || !k->valuestring[0] ||
				    strpbrk(k->valuestring, " \t,")) {
					err_set(e, "%s: keys: \"%s\": each key must be one key name "
						   "as a string",
						what, it->string);
					return -1;
				}
				if (add_keys(&next, a, k->valuestring, what, e) < 0)
					return -1;
			}
		} else {
			err_set(e, "%s: keys: \"%s\" must be a string of keys (\"p\", \"j Down\") "
				   "or an array of them",
				what, it->string);
			return -1;
		}
	}
	if (check_conflicts(&next, what, e) < 0)
		return -1;
	*km = next;
	return 0;
}

enum ui_action keymap_lookup(const struct keymap *km, int key, enum ui_ctx ctx)
{
	for (size_t i = 0; i < km->len; i++)
		if (km->v[i].key == key && (infos[km->v[i].action].ctx & ctx))
			return (enum ui_action)km->v[i].action;
	return ACT_NONE;
}

void keymap_keys(const struct keymap *km, enum ui_action a, char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < km->len; i++) {
		if (km->v[i].action != a)
			continue;
		char k[32];
		key_format(km->v[i].key, k, sizeof k);
		int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", k);
		if (w < 0 || (size_t)w >= n - len)
			break;
		len += (size_t)w;
	}
}

void keymap_first(const struct keymap *km, enum ui_action a, char *buf, size_t n)
{
	buf[0] = '\0';
	for (size_t i = 0; i < km->len; i++)
		if (km->v[i].action == a) {
			key_format(km->v[i].key, buf, n);
			return;
		}
}

static const char *ctx_name(enum ui_ctx c)
{
	return c == UC_MAIN ? "main" : c == UC_PAGER ? "pager" : "both";
}

/* Text for roff: backslashes and hyphens escaped. */
static void man_add(struct buf *b, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\' || *p == '-')
			buf_addc(b, '\\');
		buf_addc(b, *p);
	}
}

void actions_print_reference(struct buf *b, bool man)
{
	struct keymap km;

	keymap_defaults(&km);
	for (int a = 0; a < ACT__COUNT; a++) {
		char keys[128];
		keymap_keys(&km, (enum ui_action)a, keys, sizeof keys);
		if (man) {
			buf_adds(b, ".TP\n.B ");
			man_add(b, keys);
			buf_addc(b, '\n');
			man_add(b, infos[a].doc);
			buf_adds(b, " (\\fI");
			man_add(b, infos[a].name);
			buf_adds(b, "\\fR");
			if (infos[a].ctx != UC_ANY)
				buf_printf(b, ", %s screen", ctx_name(infos[a].ctx));
			buf_adds(b, ")\n");
		} else {
			buf_printf(b, "%-14s %-12s %-6s %s\n", infos[a].name, keys,
				   ctx_name(infos[a].ctx), infos[a].doc);
		}
	}
}
