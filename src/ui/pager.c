/*
 * pager.c — a view over the whole screen (above the status bar) of one
 * text: the node's analysis (Enter), its change (d), its log (l), its JSON
 * (s), its model calls (M), the engine's messages (m), or the help (?). q
 * or Esc goes back.
 *
 * Files are read with a cap (a log from its last PAGER_MAX bytes), so a
 * huge file costs no more memory than that.
 */
#include "hypotop/ui_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/calls.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/termtext.h"

#define PAGER_MAX (4 << 20)

/* Up to cap bytes of a file: its head, or (tail) its end; NULL if unreadable. */
static char *read_capped(const char *path, bool tail, size_t *skipped)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*skipped = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	size_t size = (size_t)st.st_size, want = size > PAGER_MAX ? PAGER_MAX : size;
	off_t from = tail ? (off_t)(size - want) : 0;
	char *text = xmalloc(want + 1);
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(fd, text + got, want - got, from + (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	text[got] = '\0';
	*skipped = size - want;
	return text;
}

static char *node_file(struct ui *ui, const char *dir, const struct node *n, const char *file)
{
	char nid[NODE_ID_LEN];

	node_id_format(n->id, nid);
	char *rel = xasprintf("%s/%s/%s", dir, nid, file);
	char *path = workdir_file(ui->host.wd, rel);
	free(rel);
	return path;
}

static void add_file(struct buf *b, const char *path, bool tail, const char *missing)
{
	size_t skipped;
	char *text = read_capped(path, tail, &skipped);

	if (!text) {
		buf_adds(b, missing);
		return;
	}
	if (skipped)
		buf_printf(b, "[the first %zu bytes are not shown]\n", skipped);
	buf_adds(b, text);
	free(text);
}

static void build_analysis(struct ui *ui, const struct node *n, struct buf *b)
{
	char nid[NODE_ID_LEN], msg[160];

	size_t skipped;
	node_id_format(n->id, nid);
	char *path = node_file(ui, "runs", n, "analysis.md");
	char *text = read_capped(path, false, &skipped);
	/* An analysis has its own title and hypothesis: they are not said twice. */
	if (!text || strncmp(text, "# ", 2)) {
		buf_printf(b, "# %s %s\n\n", nid, n->name ? n->name : "");
		if (n->hypothesis)
			buf_printf(b, "Hypothesis: %s\n\n", n->hypothesis);
	}
	free(text);
	snprintf(msg, sizeof msg, "No analysis yet: %s is %s.\n", nid,
		 status_name((enum node_status)n->status));
	add_file(b, path, false, msg);
	free(path);
}

/* A file name, its control characters shown (text_clean would hide an escape sequence). */
static void add_name(struct buf *b, const char *name)
{
	text_escape_controls(b, name, strlen(name));
}

/* A git-format patch, the file names in its header lines shown as add_name does. */
static void add_patch(struct buf *b, const char *patch)
{
	static const char *const heads[] = {"diff --git ", "--- ", "+++ ", "rename ", "copy "};

	for (const char *p = patch; *p;) {
		size_t len = strcspn(p, "\n");
		bool names = false;
		for (size_t i = 0; i < ARRAY_LEN(heads) && !names; i++)
			names = !strncmp(p, heads[i], strlen(heads[i]));
		if (names)
			text_escape_controls(b, p, len);
		else
			buf_add(b, p, len);
		p += len;
		if (*p == '\n')
			buf_addc(b, *p++);
	}
}

/* Each line of a text (an edit's search or replace) after mark, as a diff shows it. */
static void add_marked(struct buf *b, char mark, const cJSON *text)
{
	for (const char *p = cJSON_IsString(text) ? text->valuestring : ""; *p;) {
		size_t len = strcspn(p, "\n");
		buf_addc(b, mark);
		buf_add(b, p, len);
		buf_addc(b, '\n');
		p += len + (p[len] == '\n');
	}
}

static void build_diff(struct ui *ui, const struct node *n, struct buf *b)
{
	char nid[NODE_ID_LEN];
	struct err e;

	node_id_format(n->id, nid);
	cJSON *c = n->change ? json_parse(n->change, strlen(n->change), "change", &e) : NULL;
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(c, "kind");
	if (!c || !cJSON_IsString(kind)) {
		buf_printf(b, "# %s %s: no change\n\nIt runs %s.\n", nid, n->name ? n->name : "",
			   n->parent == NODE_NONE ? "the commit it was given" : "its parent's commit");
		cJSON_Delete(c);
		return;
	}
	buf_printf(b, "# %s %s: %s change", nid, n->name ? n->name : "", kind->valuestring);
	if (n->commit)
		buf_printf(b, ", commit %.12s on branch hypotop/%s", n->commit, nid);
	/* What the commit changed, as git diff shows it against the parent's commit. */
	size_t skipped;
	char *file = node_file(ui, "engine/nodes", n, "change.diff");
	char *diff = n->commit ? read_capped(file, false, &skipped) : NULL;
	free(file);
	if (diff) {
		char pid[NODE_ID_LEN];
		node_id_format(n->parent, pid);
		buf_printf(b, "\n(git diff against %s's commit)\n\n", pid);
		add_patch(b, *diff ? diff : "The commit changes no file: the change sets what the "
					   "parent had.\n");
		if (skipped)
			buf_printf(b, "[the last %zu bytes are not shown]\n", skipped);
		free(diff);
		cJSON_Delete(c);
		return;
	}
	buf_adds(b, n->commit ? "\n\n" : "\n(not committed yet: the change as proposed)\n\n");
	if (!strcmp(kind->valuestring, "params")) {
		const cJSON *ss = ui->host.wd->cfg.search_space;
		const cJSON *f = ss ? cJSON_GetObjectItemCaseSensitive(ss, "file") : NULL;
		if (cJSON_IsString(f)) {
			buf_adds(b, "--- ");
			add_name(b, f->valuestring);
			buf_adds(b, "\n+++ ");
			add_name(b, f->valuestring);
			buf_addc(b, '\n');
		}
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "params");
		for (const cJSON *it = p ? p->child : NULL; it; it = it->next) {
			char *v = cJSON_PrintUnformatted(it);
			buf_printf(b, "+%s = %s\n", it->string, v);
			cJSON_free(v);
		}
	} else if (!strcmp(kind->valuestring, "patch")) {
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(c, "patch");
		if (cJSON_IsString(p))
			add_patch(b, p->valuestring);
	} else if (!strcmp(kind->valuestring, "edit")) {
		const cJSON *edits = cJSON_GetObjectItemCaseSensitive(c, "edits");
		for (const cJSON *x = edits ? edits->child : NULL; x; x = x->next) {
			const cJSON *path = cJSON_GetObjectItemCaseSensitive(x, "path");
			buf_adds(b, "=== ");
			add_name(b, cJSON_IsString(path) ? path->valuestring : "?");
			buf_adds(b, " (edit)\n");
			add_marked(b, '-', cJSON_GetObjectItemCaseSensitive(x, "search"));
			add_marked(b, '+', cJSON_GetObjectItemCaseSensitive(x, "replace"));
		}
	} else if (!strcmp(kind->valuestring, "files")) {
		const cJSON *files = cJSON_GetObjectItemCaseSensitive(c, "files");
		for (const cJSON *f = files ? files->child : NULL; f; f = f->next) {
			const cJSON *path = cJSON_GetObjectItemCaseSensitive(f, "path");
			const cJSON *content = cJSON_GetObjectItemCaseSensitive(f, "content");
			buf_adds(b, "=== ");
			add_name(b, cJSON_IsString(path) ? path->valuestring : "?");
			buf_adds(b, " (whole file)\n");
			if (cJSON_IsString(content))
				buf_adds(b, content->valuestring);
			buf_addc(b, '\n');
		}
	}
	cJSON_Delete(c);
}

static void build_json(struct ui *ui, const struct node *n, struct buf *b)
{
	struct buf j;
	struct err e;

	buf_init(&j);
	node_to_json(n, &j);
	cJSON *doc = json_parse(j.data, j.len, "node", &e);
	char *pretty = doc ? cJSON_Print(doc) : NULL;
	buf_adds(b, "# the node (engine/nodes/<id>/spec.json and status)\n");
	buf_adds(b, pretty ? pretty : j.data);
	buf_adds(b, "\n");
	if (pretty)
		cJSON_free(pretty);
	cJSON_Delete(doc);
	buf_free(&j);
	char *path = node_file(ui, "engine/nodes", n, "result.json");
	if (fs_exists(path)) {
		buf_adds(b, "\n# result.json\n");
		add_file(b, path, false, "");
	}
	free(path);
}

/* One file of a call, under a heading that names it. */
static void add_call_file(struct ui *ui, struct buf *b, const struct call_info *ci,
			  const char *what, const char *suffix)
{
	char *rel = xasprintf("%s_%s", ci->stem, suffix);
	char *path = workdir_file(ui->host.wd, rel);

	buf_printf(b, "\n# %s: %s (", ci->stem + 5, what);
	add_name(b, rel);
	buf_adds(b, ")\n\n");
	add_file(b, path, false, "(this file cannot be read)\n");
	if (b->len && b->data[b->len - 1] != '\n')
		buf_addc(b, '\n');
	free(path);
	free(rel);
}

/*
 * The node's model calls (struct node.calls): a table of each request's
 * kind, model, tokens, cost and time, then each one's answer and prompt.
 */
static void build_calls(struct ui *ui, const struct node *n, struct buf *b)
{
	char nid[NODE_ID_LEN], cost[48];
	cJSON *calls = n->calls ? cJSON_Parse(n->calls) : NULL;
	int count = cJSON_GetArraySize(calls);

	node_id_format(n->id, nid);
	buf_printf(b, "# %s %s: model calls\n\n", nid, n->name ? n->name : "");
	if (!count) {
		if (!strcmp(ui->host.wd->cfg.llm_provider, "offline"))
			buf_adds(b, "None: the offline planner makes no model calls (it computes "
				    "its proposals and analyses here).\n");
		else
			buf_printf(b, "No model call concerns %s yet: the call that proposed it, "
				      "its analyses and repairs are listed here once made.\n",
				   nid);
		cJSON_Delete(calls);
		return;
	}
	struct call_info *ci = xcalloc((size_t)count, sizeof *ci);
	int i = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, calls)
	{
		call_info_read(ui->host.wd->path, c->valuestring, &ci[i++]);
	}
	buf_adds(b, "  seq  kind        about  model               tokens in/out  cost       "
		    "time\n");
	for (i = 0; i < count; i++) {
		const struct call_info *x = &ci[i];
		char tokens[48] = "-";
		if (x->has_usage)
			snprintf(tokens, sizeof tokens, "%ld/%ld", x->input, x->output);
		call_cost_text(x, cost, sizeof cost);
		if (!x->read) {
			buf_printf(b, "  %s: its raw.json cannot be read\n", x->stem + 5);
			continue;
		}
		buf_printf(b, "  %03ld  %-10.10s  %-5.5s  %-18.18s  %-13s  %-9s  %.1f s\n", x->seq,
			   x->kind ? x->kind : "?", x->node ? x->node : "?",
			   x->model ? x->model : x->provider ? x->provider : "?", tokens, cost,
			   x->seconds);
		if (x->error)
			buf_printf(b, "       %s\n", x->error);
	}
	buf_adds(b, "\nEach call's answer and prompt follow (/ searches; the files are under "
		    "logs/).\n");
	for (i = 0; i < count; i++) {
		add_call_file(ui, b, &ci[i], "the answer", "output.md");
		add_call_file(ui, b, &ci[i], "the prompt", "prompt.md");
		call_info_free(&ci[i]);
	}
	free(ci);
	cJSON_Delete(calls);
}

static void build_help(struct ui *ui, struct buf *b)
{
	char keys[96];

	buf_adds(b, "hypotop: keys\n\n");
	for (int a = 0; a < ACT__COUNT; a++) {
		const struct action_info *in = action_info((enum ui_action)a);
		keymap_keys(&ui->keys, (enum ui_action)a, keys, sizeof keys);
		buf_printf(b, "  %s\t%s%s\n", *keys ? keys : "(none)", in->doc,
			   in->ctx == UC_PAGER ? " (pager)" : "");
	}
	buf_adds(b, "\nStatuses of a node\n\n");
	for (int s = 0; s < ST__COUNT; s++) {
		struct node n = {0};
		n.status = (uint8_t)s;
		n.improved = -1;
		if (s != ST_COMPLETED) {
			buf_printf(b, "  %s %s\t%s\n", node_glyph(ui, &n), status_name(s),
				   status_doc(s));
			continue;
		}
		/* A node of its own (no id a real one has), for the glyphs of completed ones. */
		n.present = true;
		n.id = NODE_NONE;
		n.parent = 0;
		n.improved = 1;
		const char *best = ui->utf8 ? "\xe2\x98\x85" : "*";
		buf_printf(b, "  %s %s\t%s, and the current best\n", best, status_name(s),
			   status_doc(s));
		buf_printf(b, "  %s %s\t%s, and improved (no longer the best)\n",
			   node_glyph(ui, &n), status_name(s), status_doc(s));
		n.improved = 0;
		buf_printf(b, "  %s %s\t%s, without a gain\n", node_glyph(ui, &n), status_name(s),
			   status_doc(s));
		n.seed = 1;
		buf_printf(b, "  %s %s\t%s: a seed repeat (of its parent, or of the baseline), "
			      "judged on nothing\n",
			   node_glyph(ui, &n), status_name(s), status_doc(s));
	}
	buf_adds(b, "\nThemes\n\n  t switches between:");
	for (size_t i = 0; i < ui->nthemes; i++)
		buf_printf(b, " %s", ui->themes[i]);
	buf_printf(b, "\n  now: %s%s\n", ui->theme.name,
		   ui->color ? "" : " (no colours: NO_COLOR is set or the terminal has none)");
	char *dir = theme_config_dir();
	buf_printf(b, "\nSettings\n\n  %s/config.json: {\"theme\": \"NAME\", \"keys\": "
		      "{\"ACTION\": \"KEY ...\"}}\n  %s/themes/NAME.theme: your own themes\n",
		   dir ? dir : "~/.config/hypotop", dir ? dir : "~/.config/hypotop");
	free(dir);
}

static void build_messages(struct ui *ui, struct buf *b)
{
	size_t n = ui->nnotes < UI_NOTES ? ui->nnotes : UI_NOTES;

	if (!n)
		buf_adds(b, "No messages yet.\n");
	for (size_t i = ui->nnotes - n; i < ui->nnotes; i++) {
		const struct note *nt = &ui->notes[i % UI_NOTES];
		time_t t = (time_t)(nt->at / 1000);
		struct tm tm;
		char stamp[16];
		localtime_r(&t, &tm);
		strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
		buf_printf(b, "%s %s%s\n", stamp, nt->alert ? "! " : "", nt->text);
	}
}

static const char *const kind_names[] = {"Analysis", "Change", "Log", "JSON", "Help",
					 "Messages", "Model calls", "Alerts", "Curves"};

void pager_close(struct ui *ui)
{
	struct pager *pg = &ui->pg;

	free(pg->title);
	free(pg->text);
	free(pg->lines);
	free(pg->search);
	curves_free(pg->curves);
	memset(pg, 0, sizeof *pg);
}

unsigned pager_show(struct ui *ui, enum pager_kind kind)
{
	struct pager *pg = &ui->pg;
	struct node *n = NULL;
	struct buf b;
	char nid[NODE_ID_LEN];

	if (kind != PG_HELP && kind != PG_MESSAGES && kind != PG_ALERTS) {
		n = tree_selected(ui);
		if (!n) {
			ui_nothing(ui, "no node selected");
			return DIRTY_STATUS;
		}
	}
	buf_init(&b);
	switch (kind) {
	case PG_ANALYSIS:
		build_analysis(ui, n, &b);
		break;
	case PG_DIFF:
		build_diff(ui, n, &b);
		break;
	case PG_LOG: {
		char *path = node_file(ui, "runs", n, "log");
		node_id_format(n->id, nid);
		char msg[96];
		snprintf(msg, sizeof msg, "%s has no log%s.\n", nid,
			 status_is_final((enum node_status)n->status) ? "" : " yet");
		add_file(&b, path, true, msg);
		free(path);
		break;
	}
	case PG_JSON:
		build_json(ui, n, &b);
		break;
	case PG_HELP:
		build_help(ui, &b);
		break;
	case PG_MESSAGES:
		build_messages(ui, &b);
		break;
	case PG_CALLS:
		build_calls(ui, n, &b);
		break;
	case PG_ALERTS:
		alerts_view_build(ui, &b);
		break;
	case PG_CURVES:
		break; /* drawn, not text: ui->pg.curves, below */
	}
	pager_close(ui);
	if (kind == PG_CURVES)
		pg->curves = curves_load(ui, n);
	pg->open = true;
	pg->kind = kind;
	pg->wrap = kind == PG_ANALYSIS || kind == PG_HELP || kind == PG_MESSAGES || kind == PG_CALLS;
	pg->match = -1;
	if (n) {
		node_id_format(n->id, nid);
		pg->title = xasprintf(" %s  %s %s", kind_names[kind], nid, n->name ? n->name : "");
	} else {
		pg->title = xasprintf(" %s", kind_names[kind]);
	}
	pg->text = buf_steal(&b);
	/* Offsets of the lines; a last line without a newline counts too. */
	size_t len = strlen(pg->text), cap = 64;
	pg->lines = xmalloc(cap * sizeof *pg->lines);
	for (size_t i = 0; i < len;) {
		if (pg->nlines == cap) {
			cap *= 2;
			pg->lines = xrealloc(pg->lines, cap * sizeof *pg->lines);
		}
		pg->lines[pg->nlines++] = i;
		char *nl = memchr(pg->text + i, '\n', len - i);
		i = nl ? (size_t)(nl - pg->text) + 1 : len;
	}
	return DIRTY_ALL;
}

static const char *line_at(const struct pager *pg, size_t i, size_t *len)
{
	size_t start = pg->lines[i];
	size_t end = i + 1 < pg->nlines ? pg->lines[i + 1] : strlen(pg->text + start) + start;

	if (end > start && pg->text[end - 1] == '\n')
		end--;
	*len = end - start;
	return pg->text + start;
}

static enum ui_role line_role(const struct pager *pg, const char *s, size_t len)
{
	if (pg->kind == PG_HELP)
		return len && s[0] != ' ' ? ROLE_HEADING : ROLE_NORMAL;
	if (len && s[0] == '#' && pg->kind != PG_LOG)
		return ROLE_HEADING;
	if (pg->kind == PG_MESSAGES && len > 9 && !strncmp(s + 9, "! ", 2))
		return ROLE_ERROR;
	if (pg->kind != PG_DIFF || !len)
		return ROLE_NORMAL;
	if (!strncmp(s, "+++", 3) || !strncmp(s, "---", 3) || !strncmp(s, "===", 3) ||
	    !strncmp(s, "diff ", 5) || !strncmp(s, "@@", 2))
		return ROLE_DIFF_HUNK;
	if (s[0] == '+')
		return ROLE_DIFF_ADD;
	if (s[0] == '-')
		return ROLE_DIFF_DEL;
	return ROLE_NORMAL;
}

static int body_rows(struct ui *ui)
{
	return ui->lay.pager.h > 1 ? ui->lay.pager.h - 1 : 1;
}

void pager_draw(struct ui *ui)
{
	struct pager *pg = &ui->pg;
	WINDOW *w = ui->w_pager;
	char right[64];

	if (!w)
		return;
	int width = ui->lay.pager.w, h = body_rows(ui);
	werase(w);
	size_t last = pg->top + (size_t)h < pg->nlines ? pg->top + (size_t)h : pg->nlines;
	snprintf(right, sizeof right, "%s %zu-%zu/%zu ", pg->wrap ? "wrap" : "",
		 pg->nlines ? pg->top + 1 : 0, last, pg->nlines);
	char *title = draw_cut(ui, pg->title, width - 24 > 8 ? width - 24 : 8);
	draw_title(ui, w, width, true, title, pg->kind == PG_CURVES ? "" : right);
	free(title);
	if (pg->kind == PG_CURVES) {
		curves_draw(ui, w, 1, width, h);
		wnoutrefresh(w);
		return;
	}
	int y = 1;
	for (size_t i = pg->top; i < pg->nlines && y <= h; i++) {
		size_t len;
		const char *s = line_at(pg, i, &len);
		enum ui_role r = line_role(pg, s, len);
		struct buf c;
		buf_init(&c);
		const char *tab = pg->kind == PG_HELP ? memchr(s, '\t', len) : NULL;
		if (tab) {
			/* Help: the keys in a column of their own. */
			int kw = width / 3 < 22 ? width / 3 : 22;
			text_clean(&c, s, (size_t)(tab - s), ui->utf8);
			char *keys = draw_cut(ui, c.data ? c.data : "", kw - 1);
			draw_text(ui, w, y, 0, kw, ROLE_HINT_KEY, keys);
			free(keys);
			buf_reset(&c);
			text_clean(&c, tab + 1, len - (size_t)(tab + 1 - s), ui->utf8);
			int used = draw_wrapped(ui, w, y, kw, width - kw, 0, pg->wrap ? h - y + 1 : 1,
						c.data ? c.data : "", pg->search, r);
			y += used ? used : 1;
		} else {
			text_clean(&c, s, len, ui->utf8);
			int used = draw_wrapped(ui, w, y, 0, width, 0, pg->wrap ? h - y + 1 : 1,
						c.data ? c.data : "", pg->search, r);
			y += used ? used : 1;
		}
		buf_free(&c);
	}
	wnoutrefresh(w);
}

static unsigned pager_scroll(struct ui *ui, long to)
{
	struct pager *pg = &ui->pg;
	long h = body_rows(ui);
	long max = (long)pg->nlines > h ? (long)pg->nlines - h : 0;

	if (to > max)
		to = max;
	if (to < 0)
		to = 0;
	if ((size_t)to == pg->top)
		return 0;
	pg->top = (size_t)to;
	return DIRTY_PAGER;
}

unsigned pager_act(struct ui *ui, enum ui_action a)
{
	struct pager *pg = &ui->pg;
	long top = (long)pg->top, h = body_rows(ui);

	switch (a) {
	case ACT_BACK:
		pager_close(ui);
		return DIRTY_ALL;
	case ACT_DOWN:
		return pager_scroll(ui, top + 1);
	case ACT_UP:
		return pager_scroll(ui, top - 1);
	case ACT_PAGE_DOWN:
		return pager_scroll(ui, top + h - 1);
	case ACT_PAGE_UP:
		return pager_scroll(ui, top - h + 1);
	case ACT_TOP:
		return pager_scroll(ui, 0);
	case ACT_BOTTOM:
		return pager_scroll(ui, (long)pg->nlines);
	case ACT_WRAP:
		pg->wrap = !pg->wrap;
		return DIRTY_PAGER;
	case ACT_SEARCH:
		return prompt_open(ui, PR_SEARCH, NODE_NONE, "search: ", pg->search);
	case ACT_NEXT_MATCH:
	case ACT_PREV_MATCH:
		return pager_next_match(ui, a == ACT_NEXT_MATCH ? 1 : -1);
	default:
		return 0;
	}
}

static bool line_has(struct pager *pg, size_t i, const char *needle)
{
	size_t len;
	const char *s = line_at(pg, i, &len);
	char *c = xstrndup(s, len);
	bool m = text_find(c, 0, needle) >= 0;

	free(c);
	return m;
}

static unsigned go_match(struct ui *ui, long from, int dir)
{
	struct pager *pg = &ui->pg;

	for (long i = from; i >= 0 && i < (long)pg->nlines; i += dir)
		if (line_has(pg, (size_t)i, pg->search)) {
			pg->match = i;
			pager_scroll(ui, i > 2 ? i - 2 : 0);
			return DIRTY_PAGER;
		}
	ui_nothing(ui, "no %s match of \"%s\"", dir > 0 ? "later" : "earlier", pg->search);
	return DIRTY_PAGER | DIRTY_STATUS;
}

unsigned pager_set_search(struct ui *ui, const char *text)
{
	struct pager *pg = &ui->pg;

	free(pg->search);
	pg->search = text && *text ? xstrdup(text) : NULL;
	pg->match = -1;
	if (!pg->search)
		return DIRTY_PAGER;
	return go_match(ui, (long)pg->top, 1);
}

unsigned pager_next_match(struct ui *ui, int dir)
{
	struct pager *pg = &ui->pg;

	if (!pg->search) {
		ui_nothing(ui, "no search: press / to search");
		return DIRTY_STATUS;
	}
	long from = pg->match >= 0 ? pg->match + dir : (long)pg->top;
	return go_match(ui, from, dir);
}
