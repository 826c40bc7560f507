/* theme.c — roles, theme files and where they are found (see theme.h). */
#include "hypotop/theme.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypotop/fsutil.h"

static const struct {
	const char *name, *doc;
} roles[] = {
#define X(e, name, doc) {name, doc},
	UI_ROLES(X)
#undef X
};

const char *role_name(enum ui_role r)
{
	return roles[r].name;
}

const char *role_doc(enum ui_role r)
{
	return roles[r].doc;
}

int role_parse(const char *name)
{
	for (int i = 0; i < ROLE__COUNT; i++)
		if (!strcmp(roles[i].name, name))
			return i;
	return -1;
}

static const char *const color_names[8] = {"black", "red",     "green", "yellow",
					   "blue",  "magenta", "cyan",  "white"};

static const struct {
	const char *name;
	unsigned bit;
} attr_names[] = {
	{"bold", TA_BOLD},	     {"dim", TA_DIM},	    {"reverse", TA_REVERSE},
	{"underline", TA_UNDERLINE}, {"italic", TA_ITALIC}, {"standout", TA_STANDOUT},
};

static int color_index(const char *s)
{
	for (int i = 0; i < 8; i++)
		if (!strcmp(color_names[i], s))
			return i;
	return -1;
}

/* The basic colour nearest to xterm colour n (16-255). */
static short nearest8(long n)
{
	if (n >= 232)
		return n >= 244 ? 7 : 0;
	n -= 16;
	int r = (int)(n / 36), g = (int)(n / 6 % 6), b = (int)(n % 6);
	return (short)((r >= 3) | (g >= 3) << 1 | (b >= 3) << 2);
}

static int parse_color(const char *s, struct color *c)
{
	int i;
	long n;

	memset(c, 0, sizeof *c);
	if (!strcmp(s, "default")) {
		c->c = c->c8 = -1;
		return 0;
	}
	if ((i = color_index(s)) >= 0) {
		c->c = c->c8 = (short)i;
		return 0;
	}
	if (!strncmp(s, "bright-", 7) && (i = color_index(s + 7)) >= 0) {
		c->c = (short)(i + 8);
		c->c8 = (short)i;
		c->bright8 = true;
		return 0;
	}
	char num[16];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof num)
		return -1;
	memcpy(num, s, len);
	num[len] = '\0';
	if (parse_long(num, 0, 255, &n) < 0)
		return -1;
	c->c = (short)n;
	if (slash) {
		struct color f;
		if (parse_color(slash + 1, &f) < 0 || f.c > 15 || strchr(slash + 1, '/'))
			return -1;
		c->c8 = f.c8;
		c->bright8 = f.bright8;
	} else if (n < 16) {
		c->c8 = (short)(n % 8);
		c->bright8 = n >= 8;
	} else {
		c->c8 = nearest8(n);
	}
	return 0;
}

static int parse_line(struct theme *t, char *line, const char *what, int lineno,
		      struct err *e)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	line = str_trim(line);
	if (!*line)
		return 0;
	char *eq = strchr(line, '=');
	if (!eq) {
		err_set(e, "%s:%d: write ROLE = FOREGROUND [BACKGROUND] [ATTRIBUTES]", what,
			lineno);
		return -1;
	}
	*eq = '\0';
	char *name = str_trim(line), *save = NULL;
	int r = role_parse(name);
	if (r < 0) {
		struct nearest n;
		nearest_init(&n, name);
		for (int i = 0; i < ROLE__COUNT; i++)
			nearest_offer(&n, roles[i].name);
		const char *near = n.d < 4 ? n.best : NULL;
		err_set(e, "%s:%d: \"%s\" is not a role%s%s%s", what, lineno, name,
			near ? "; did you mean \"" : "", near ? near : "", near ? "\"" : "");
		return -1;
	}
	struct style st = {{-1, -1, false}, {-1, -1, false}, 0, true};
	int ncolors = 0;
	for (char *w = strtok_r(eq + 1, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		bool is_attr = false;
		for (size_t i = 0; i < ARRAY_LEN(attr_names); i++)
			if (!strcmp(w, attr_names[i].name)) {
				st.attrs |= attr_names[i].bit;
				is_attr = true;
			}
		if (is_attr || !strcmp(w, "none"))
			continue;
		if (st.attrs) {
			err_set(e, "%s:%d: %s: colours come before attributes (\"%s\")", what,
				lineno, name, w);
			return -1;
		}
		if (ncolors == 2) {
			err_set(e, "%s:%d: %s: \"%s\": a role has at most a foreground and a "
				   "background colour",
				what, lineno, name, w);
			return -1;
		}
		if (parse_color(w, ncolors ? &st.bg : &st.fg) < 0) {
			err_set(e, "%s:%d: %s: \"%s\" is not a colour; use default, black, red, "
				   "green, yellow, blue, magenta, cyan, white, bright-NAME or "
				   "0-255[/NAME]",
				what, lineno, name, w);
			return -1;
		}
		ncolors++;
	}
	if (!ncolors && !st.attrs) {
		err_set(e, "%s:%d: %s: give a colour or an attribute", what, lineno, name);
		return -1;
	}
	t->r[r] = st;
	return 0;
}

int theme_parse(struct theme *t, const char *text, const char *what, struct err *e)
{
	struct theme next = *t;
	char *copy = xstrdup(text);
	int lineno = 0, rc = 0;
	const char *p = copy;

	for (char *line = copy; p; line = (char *)p) {
		char *nl = strchr(line, '\n');
		p = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if (parse_line(&next, line, what, lineno, e) < 0) {
			rc = -1;
			break;
		}
	}
	free(copy);
	if (rc == 0)
		*t = next;
	return rc;
}

static const struct theme_file *builtin(const char *name)
{
	size_t n = strlen(name);

	for (const struct theme_file *f = theme_files; f->name; f++)
		if (!strncmp(f->name, name, n) && !strcmp(f->name + n, ".theme"))
			return f;
	return NULL;
}

void theme_default(struct theme *t)
{
	struct err e;
	const struct theme_file *f = builtin("default");

	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "default");
	for (int i = 0; i < ROLE__COUNT; i++)
		t->r[i] = (struct style){{-1, -1, false}, {-1, -1, false}, 0, false};
	t->r[ROLE_CURSOR].attrs = TA_REVERSE;
	if (f)
		theme_parse(t, f->data, "default.theme", &e);
}

char *theme_config_dir(void)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");

	if (x && *x == '/')
		return path_join(x, "hypotop");
	if (h && *h)
		return xasprintf("%s/.config/hypotop", h);
	return NULL;
}

static bool name_ok(const char *name)
{
	return *name && strlen(name) < THEME_NAME_MAX - 8 && !strchr(name, '/') &&
	       name[0] != '.';
}

int theme_load(struct theme *t, const char *name, struct err *e)
{
	theme_default(t);
	if (!name_ok(name)) {
		err_set(e, "theme \"%s\": a theme name is a file name without \".theme\"", name);
		return -1;
	}
	char *dir = theme_config_dir(), *path = NULL, *text = NULL;
	char *what = xasprintf("%s.theme", name);
	struct err fe = {{0}};
	int rc = 0;

	if (dir) {
		path = xasprintf("%s/themes/%s.theme", dir, name);
		if (fs_exists(path)) {
			text = fs_read_max(path, FS_MAX_CONFIG, NULL, &fe);
			if (!text) {
				err_set(e, "%s; using the default theme", fe.msg);
				rc = -1;
				goto out;
			}
			free(what);
			what = xstrdup(path);
		}
	}
	if (!text) {
		const struct theme_file *f = builtin(name);
		if (!f) {
			err_set(e, "theme \"%s\": no such theme (built in, or %s/themes/%s.theme); "
				   "using the default theme",
				name, dir ? dir : "~/.config/hypotop", name);
			rc = -1;
			goto out;
		}
		text = xstrndup(f->data, f->len);
	}
	if (theme_parse(t, text, what, e) < 0) {
		err_suffix(e, "; using the default theme");
		rc = -1;
		goto out;
	}
	snprintf(t->name, sizeof t->name, "%s", name);
out:
	free(dir);
	free(path);
	free(text);
	free(what);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_add(char ***v, size_t *n, const char *file)
{
	size_t l = strlen(file);

	if (l <= 6 || strcmp(file + l - 6, ".theme"))
		return;
	char *name = xstrndup(file, l - 6);
	if (!name_ok(name)) {
		free(name);
		return;
	}
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i], name)) {
			free(name);
			return;
		}
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = name;
}

size_t theme_list(char ***names)
{
	char **v = NULL;
	size_t n = 0;
	char *dir = theme_config_dir();

	for (const struct theme_file *f = theme_files; f->name; f++)
		list_add(&v, &n, f->name);
	if (dir) {
		char *tdir = path_join(dir, "themes");
		DIR *d = opendir(tdir);
		struct dirent *de;
		while (d && (de = readdir(d)))
			list_add(&v, &n, de->d_name);
		if (d)
			closedir(d);
		free(tdir);
	}
	free(dir);
	/* The default first, then the others by name. */
	if (n > 1)
		qsort(v, n, sizeof *v, cmp_str);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], "default") && i) {
			char *d = v[i];
			memmove(v + 1, v, i * sizeof *v);
			v[0] = d;
		}
	*names = v;
	return n;
}

void theme_list_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}
