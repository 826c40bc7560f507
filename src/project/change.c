/* change.c — see change.h. */
#include "hypotop/change.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"

bool change_kind_known(const char *kind)
{
	static const char *const kinds[] = {"params", "edit", "patch", "files"};

	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

bool change_path_ok(const char *path)
{
	if (!path || !*path || path[0] == '/' || strchr(path, '\\'))
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 2 && !strncmp(p, "..", 2)) || (n == 4 && !strncmp(p, ".git", 4)) ||
		    n == 0)
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/* " name" on out, unless out holds it already after offset first. */
static void add_once(struct buf *out, size_t first, const char *name)
{
	size_t nl = strlen(name);

	for (const char *q = out->data ? strstr(out->data + first, name) : NULL; q;
	     q = strstr(q + 1, name))
		if (q[-1] == ' ' && (q[nl] == ' ' || !q[nl]))
			return;
	buf_printf(out, " %s", name);
}

/* A patch's files, each once, as its "diff --git a/X b/Y" lines name them (Y). */
static void patch_files(const char *patch, struct buf *out)
{
	size_t first = out->len;

	for (const char *p = patch; p && *p;) {
		size_t len = strcspn(p, "\n");
		const char *b = len > 11 && !strncmp(p, "diff --git ", 11) ? strstr(p, " b/") : NULL;
		if (b && b < p + len) {
			char *name = xstrndup(b + 3, (size_t)(p + len - b - 3));
			add_once(out, first, name);
			free(name);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
}

void change_describe(const cJSON *ch, struct buf *out)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind"), *m;
	size_t start = out->len;

	if (!cJSON_IsString(kind))
		return;
	if (!strcmp(kind->valuestring, "params")) {
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ch, "params"))
		{
			char *v = cJSON_PrintUnformatted(m);
			buf_printf(out, "%s%s=%s", out->len > start ? " " : "", m->string, v);
			free(v);
		}
	} else if (!strcmp(kind->valuestring, "files")) {
		buf_adds(out, "files:");
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ch, "files"))
		{
			const cJSON *path = cJSON_GetObjectItemCaseSensitive(m, "path");
			buf_printf(out, " %s", cJSON_IsString(path) ? path->valuestring : "?");
		}
	} else if (!strcmp(kind->valuestring, "edit")) {
		buf_adds(out, "edit:");
		size_t first = out->len;
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ch, "edits"))
		{
			const cJSON *path = cJSON_GetObjectItemCaseSensitive(m, "path");
			add_once(out, first, cJSON_IsString(path) ? path->valuestring : "?");
		}
	} else if (!strcmp(kind->valuestring, "patch")) {
		buf_adds(out, "patch:");
		patch_files(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "patch")), out);
	} else {
		buf_adds(out, kind->valuestring);
	}
}

/* Refuse a key of o not in keys (n of them), naming those allowed. */
static int only_keys(const cJSON *o, const char *what, const char *const *keys, size_t n,
		     struct err *e)
{
	for (const cJSON *m = o->child; m; m = m->next) {
		size_t i = 0;
		while (i < n && strcmp(m->string, keys[i]))
			i++;
		if (i == n) {
			struct buf b;
			buf_init(&b);
			for (i = 0; i < n; i++)
				buf_printf(&b, "%s%s", i ? ", " : "", keys[i]);
			err_set(e, "%s: change: unknown key \"%s\"; allowed: %s", what, m->string,
				b.data);
			buf_free(&b);
			return -1;
		}
	}
	return 0;
}

/* The keys of a change of kind `kind`: "kind" and the one named after it. */
static int change_keys(const cJSON *ch, const char *what, const char *kind, struct err *e)
{
	const char *const keys[] = {"kind", kind};

	return only_keys(ch, what, keys, ARRAY_LEN(keys), e);
}

/* Whether a quoted name ("a\"b") ends with its closing quote (blanks may follow). */
static bool quote_closed(const char *s)
{
	size_t n = strlen(s), bs = 0;

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	if (n < 2 || s[n - 1] != '"')
		return false;
	while (bs < n - 2 && s[n - 2 - bs] == '\\')
		bs++;
	return bs % 2 == 0;
}

/*
 * Check every path a git-format patch names. A file's rename and copy lines
 * must come once each and close their quotes: libgit2 keeps the last of
 * two and loses the memory of the first (and of an unclosed name).
 */
static int patch_paths(const char *patch, const char *what, struct err *e)
{
	static const char *const heads[] = {"--- ", "+++ ", "rename from ", "rename to ",
					    "copy from ", "copy to "};
	int line = 0;
	unsigned seen = 0; /* heads met since this file's "diff --git" line */

	if (strncmp(patch, "diff --git ", 11) && !strstr(patch, "\ndiff --git ")) {
		err_set(e, "%s: change: \"patch\" must be a git-format diff (starting with "
			   "\"diff --git\")",
			what);
		return -1;
	}
	for (const char *p = patch; *p; line++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char path[4096];
		const char *rest = NULL;
		bool strip = false;
		if (!strncmp(p, "diff --git ", 11)) {
			seen = 0;
			/* "diff --git a/X b/Y": both sides. */
			const char *a = p + 11, *sp = memchr(a, ' ', len - 11);
			if (!sp) {
				err_set(e, "%s: change: patch line %d: malformed diff header", what,
					line + 1);
				return -1;
			}
			snprintf(path, sizeof path, "%.*s", (int)(sp - a), a);
			if (strncmp(path, "a/", 2) || !change_path_ok(path + 2))
				goto bad;
			snprintf(path, sizeof path, "%.*s", (int)(len - (size_t)(sp + 1 - p)), sp + 1);
			if (strncmp(path, "b/", 2) || !change_path_ok(path + 2))
				goto bad;
		}
		size_t head = 0;
		for (size_t i = 0; i < ARRAY_LEN(heads); i++) {
			size_t hl = strlen(heads[i]);
			if (len > hl && !strncmp(p, heads[i], hl)) {
				rest = p + hl;
				strip = i < 2;
				head = i;
			}
		}
		if (rest) {
			snprintf(path, sizeof path, "%.*s", (int)(len - (size_t)(rest - p)), rest);
			char *tab = strchr(path, '\t');
			if (tab)
				*tab = '\0';
			if (head >= 2 && (seen & 1u << head)) {
				err_set(e, "%s: change: patch line %d: a second \"%.*s\" line for one "
					   "file; give each file's rename and copy lines once",
					what, line + 1, (int)strlen(heads[head]) - 1, heads[head]);
				return -1;
			}
			seen |= 1u << head;
			if (path[0] == '"' && !quote_closed(path)) {
				err_set(e, "%s: change: patch line %d: the quoted file name %s has no "
					   "closing quote; close it",
					what, line + 1, path);
				return -1;
			}
			if (strip && strcmp(path, "/dev/null")) {
				if (strncmp(path, "a/", 2) && strncmp(path, "b/", 2))
					goto bad;
				memmove(path, path + 2, strlen(path + 2) + 1);
			} else if (strip) {
				path[0] = '\0';
			}
			if (path[0] && !change_path_ok(path))
				goto bad;
		}
		p += len;
		if (*p == '\n')
			p++;
		continue;
bad:
		err_set(e, "%s: change: patch line %d names \"%s\", outside the source tree or in "
			   ".git; only relative paths inside the tree are allowed",
			what, line + 1, path);
		return -1;
	}
	return 0;
}

/*
 * The blocks of a files or edit change: ch[name] a non-empty array of
 * objects with exactly keys (n of them; the first is "path"), each a
 * string, and every path inside the tree.
 */
static int blocks_validate(const cJSON *ch, const char *what, const char *name,
			   const char *const *keys, size_t n, struct err *e)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(ch, name);
	int i = 0;

	if (change_keys(ch, what, name, e) < 0)
		return -1;
	if (!cJSON_IsArray(list) || !list->child) {
		err_set(e, "%s: change: \"%s\" must be a non-empty array", what, name);
		return -1;
	}
	for (const cJSON *m = list->child; m; m = m->next, i++) {
		bool ok = cJSON_IsObject(m) && only_keys(m, what, keys, n, e) == 0;
		for (size_t k = 0; k < n && ok; k++)
			ok = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, keys[k]));
		if (!ok) {
			struct buf b;
			buf_init(&b);
			for (size_t k = 0; k < n; k++)
				buf_printf(&b, "%s\"%s\": ...", k ? ", " : "", keys[k]);
			err_set(e, "%s: change: %s[%d] must be {%s}, each a string", what, name, i,
				b.data);
			buf_free(&b);
			return -1;
		}
		const char *path = cJSON_GetObjectItemCaseSensitive(m, "path")->valuestring;
		if (!change_path_ok(path)) {
			err_set(e, "%s: change: %s[%d]: \"%s\" is outside the source tree or in "
				   ".git; only relative paths inside the tree are allowed",
				what, name, i, path);
			return -1;
		}
	}
	return 0;
}

int change_validate(const cJSON *ch, const char *what, struct err *e)
{
	const char *kind;

	if (!cJSON_IsObject(ch) || json_get_str(ch, "kind", what, &kind, e) != 1) {
		err_set(e, "%s: change must be an object with \"kind\": " CHANGE_KINDS, what);
		return -1;
	}
	if (!strcmp(kind, "params")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(ch, "params");
		if (change_keys(ch, what, "params", e) < 0)
			return -1;
		if (!cJSON_IsObject(p) || !p->child) {
			err_set(e, "%s: change: \"params\" must be a non-empty object", what);
			return -1;
		}
		for (const cJSON *m = p->child; m; m = m->next) {
			if (!(cJSON_IsNumber(m) || cJSON_IsString(m) || cJSON_IsBool(m))) {
				err_set(e, "%s: change: param \"%s\" must be a number, string or "
					   "boolean",
					what, m->string);
				return -1;
			}
			if (cJSON_IsNumber(m) && !isfinite(m->valuedouble)) {
				err_set(e, "%s: change: param \"%s\" is too large a number (beyond "
					   "1.8e308); a param file holds finite numbers only",
					what, m->string);
				return -1;
			}
			if (!m->string[0] || m->string[strspn(m->string, "abcdefghijklmnopqrstuvwxyz"
								  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								  "0123456789_.-")]) {
				err_set(e, "%s: change: \"%s\" is not a parameter name (letters, "
					   "digits, _ . -)",
					what, m->string);
				return -1;
			}
		}
		return 0;
	}
	if (!strcmp(kind, "patch")) {
		const char *patch;
		if (change_keys(ch, what, "patch", e) < 0)
			return -1;
		if (json_get_str(ch, "patch", what, &patch, e) != 1) {
			err_set(e, "%s: change: \"patch\" must be a string holding a diff", what);
			return -1;
		}
		return patch_paths(patch, what, e);
	}
	if (!strcmp(kind, "files")) {
		static const char *const keys[] = {"path", "content"};
		return blocks_validate(ch, what, "files", keys, ARRAY_LEN(keys), e);
	}
	if (!strcmp(kind, "edit")) {
		static const char *const keys[] = {"path", "search", "replace"};
		return blocks_validate(ch, what, "edits", keys, ARRAY_LEN(keys), e);
	}
	err_set(e, "%s: change: \"kind\": \"%s\" is not one of " CHANGE_KINDS, what, kind);
	return -1;
}
