/*
 * bar.c — the two bottom lines: the status bar (engine state, counts,
 * best, rounds and patience, the newest message) and the key-hint line,
 * which becomes the prompt line while a question or an input is open.
 */
#include "hypotop/ui_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/termtext.h"

/* ---- the status bar ---------------------------------------------------------- */

static const char *const engine_words[] = {"RUNNING", "PAUSED", "STOPPING", "DONE"};

void status_draw(struct ui *ui)
{
	WINDOW *w = ui->w_status;
	struct workdir *wd = ui->host.wd;
	int width = ui->lay.status.w;
	char piece[160];
	struct buf b;

	if (!w)
		return;
	werase(w);
	draw_fill(ui, w, 0, 0, width, ROLE_BAR);
	enum engine_word ew = ui_engine_state(ui);
	enum ui_role er = ew == ENGINE_RUNNING  ? ROLE_ENGINE_RUNNING
			  : ew == ENGINE_PAUSED ? ROLE_ENGINE_PAUSED
						: ROLE_ENGINE_STOPPING;
	snprintf(piece, sizeof piece, " %s ", engine_words[ew]);
	int x = draw_text(ui, w, 0, 0, width, er, piece);
	if (ui->host.attached) {
		char q[32];
		keymap_first(&ui->keys, ACT_QUIT, q, sizeof q);
		if (ew >= ENGINE_STOPPING)
			snprintf(piece, sizeof piece, " engine pid %ld stopped |",
				 (long)ui->host.attached);
		else
			snprintf(piece, sizeof piece,
				 width >= 100 && *q ? " attached to pid %ld, %s detaches |"
						    : " attached to pid %ld |",
				 (long)ui->host.attached, q);
		x += draw_text(ui, w, 0, x, width - x, ROLE_BAR, piece);
	}
	buf_init(&b);
	/*
	 * The model's request in flight and for how long ("plan n0012, 14 s"),
	 * before the counts: what the loop waits on is never cut off.
	 */
	const struct sched *fs = ui->host.sched;
	if (fs && fs->nflights) {
		char fl[128];
		calls_flight_text(fs->flights, fs->nflights, ui_now(ui), fl, sizeof fl);
		buf_addc(&b, ' ');
		buf_add_safe(&b, fl);
		buf_adds(&b, " |");
		x += draw_text(ui, w, 0, x, width - x, ROLE_BAR, b.data);
		buf_reset(&b);
	}
	if (wd) {
		const int *c = ui->tv.counts;
		/* Running, prepared (ahead of a slot, or in one) and queued apart:
		 * only the first hold slots. */
		int run = c[ST_BUILDING] + c[ST_RUNNING];
		if (width >= 110) {
			buf_printf(&b, " run %d  prep %d  queued %d  done %d  failed %d", run,
				   c[ST_PREPARING], c[ST_QUEUED], c[ST_COMPLETED], c[ST_FAILED]);
			if (c[ST_ANALYZING])
				buf_printf(&b, "  analysing %d", c[ST_ANALYZING]);
			if (c[ST_WAITING])
				buf_printf(&b, "  waiting %d", c[ST_WAITING]);
			if (c[ST_PAUSED])
				buf_printf(&b, "  paused %d", c[ST_PAUSED]);
			if (c[ST_PRUNED])
				buf_printf(&b, "  pruned %d", c[ST_PRUNED]);
		} else {
			/* Narrow: the counts by status glyph, to leave room for the news. */
			const enum node_status order[] = {ST_RUNNING,   ST_QUEUED,   ST_COMPLETED,
							  ST_PREPARING, ST_ANALYZING, ST_FAILED,
							  ST_PAUSED};
			const int val[] = {run,		c[ST_QUEUED],	 c[ST_COMPLETED],
					   c[ST_PREPARING], c[ST_ANALYZING], c[ST_FAILED],
					   c[ST_PAUSED]};
			for (size_t i = 0; i < ARRAY_LEN(order); i++) {
				struct node g = {0};
				g.status = (uint8_t)order[i];
				if (val[i] || i < 3)
					buf_printf(&b, " %s%d", node_glyph(ui, &g), val[i]);
			}
		}
		/* The mean of the best's runs, as every headline gives it (noise.h). */
		struct node *best = workdir_best(wd);
		if (best) {
			char nid[NODE_ID_LEN];
			struct runs r;
			noise_runs(&wd->tree, best, &r);
			node_id_format(r.n && node_is_repeat(best) ? best->parent : best->id, nid);
			/* Compact: the bar leaves the room it can to the newest message. */
			buf_printf(&b, " | best %.4g", r.n ? r.mean : best->metric);
			if (r.n > 1)
				buf_printf(&b, " \xc2\xb1 %.2g", r.sd);
			buf_printf(&b, " (%d run%s) %s", r.n, r.n == 1 ? "" : "s", nid);
		}
		/* A model's spend (reports' too) against its cap. */
		struct sched *sc = ui->host.sched;
		double usd = wd->st.llm_usd + (sc ? sc->report_usd : 0);
		if (width >= 110 && (usd > 0 || strcmp(wd->cfg.llm_provider, "offline"))) {
			/* An unknown cost is shown as one, never as $0 (see planner_costs_known). */
			bool known = !sc || !sc->usd_unknown;
			if (known && sc && sc->planner)
				planner_spent_usd(sc->planner, &known);
			if (known)
				buf_printf(&b, "  $%.2f", usd);
			else if (usd > 0)
				buf_printf(&b, "  $%.2f+?", usd);
			else
				buf_adds(&b, "  $?");
			if (wd->cfg.budget_llm_usd >= 0)
				buf_printf(&b, "/%.2f", wd->cfg.budget_llm_usd);
		}
		/* Rented workers' spend beside the model's, against budget.usd. */
		double rent = 0, gpu_h = 0;
		if (sc)
			sched_rent_spend(sc, &rent, &gpu_h);
		if (width >= 110 && rent > 0) {
			buf_printf(&b, "  rented $%.2f", rent);
			if (wd->cfg.budget_usd >= 0)
				buf_printf(&b, " (all $%.2f/%.2f)", usd + rent, wd->cfg.budget_usd);
		}
	}
	x += draw_text(ui, w, 0, x, width - x, ROLE_BAR, b.data ? b.data : "");
	if (wd) {
		/*
		 * What σ rests on, in the alert colour while it is too little to
		 * trust: whole where the newest message still fits beside it,
		 * else short; a σ that is fine gives way to the message.
		 */
		const struct noise *nz = &ui->tv.noise;
		bool weak = nz->runs < NOISE_FEW_RUNS;
		int note = 0;
		if (ui->nnotes) {
			int len = text_width(ui->notes[(ui->nnotes - 1) % UI_NOTES].text, ui->utf8);
			note = 3 + (len < 40 ? len : 40);
		}
		buf_reset(&b);
		buf_adds(&b, " | ");
		noise_format(&b, nz, ui->tv.decimals);
		if (x + text_width(b.data, ui->utf8) + note > width) {
			buf_reset(&b);
			if (nz->groups)
				buf_printf(&b, " \xcf\x83 %.2g/%d runs", nz->sigma, nz->runs);
			else
				buf_adds(&b, " \xcf\x83 ?");
			if (!weak && x + text_width(b.data, ui->utf8) + note > width)
				buf_reset(&b);
		}
		x += draw_text(ui, w, 0, x, width - x, weak ? ROLE_BAR_ALERT : ROLE_BAR,
			       b.data ? b.data : "");
	}
	buf_free(&b);
	/* The health rules' alerts stay counted where a later message hides them: A lists them. */
	if (ui->alerts && width - x > 16) {
		char count[48];
		snprintf(count, sizeof count, " | %zu alert%s (A)", ui->alerts,
			 ui->alerts == 1 ? "" : "s");
		x += draw_text(ui, w, 0, x, width - x, ROLE_BAR_ALERT, count);
	}
	if (ui->nnotes && width - x > 6) {
		const struct note *n = &ui->notes[(ui->nnotes - 1) % UI_NOTES];
		x += draw_text(ui, w, 0, x, width - x, ROLE_BAR, " | ");
		char *t = draw_cut(ui, n->text, width - x);
		draw_text(ui, w, 0, x, width - x, n->alert ? ROLE_BAR_ALERT : ROLE_BAR, t);
		free(t);
	}
	wnoutrefresh(w);
}

/* ---- the key hints ------------------------------------------------------------ */

static const enum ui_action main_hints[] = {
	ACT_HELP, ACT_QUIT,  ACT_SEARCH, ACT_ANALYSIS, ACT_LOG,	  ACT_DIFF,
	ACT_PAUSE, ACT_CANCEL, ACT_EARLIER, ACT_ADD,	  ACT_RETRY, ACT_NEXT_PANE,
};
static const enum ui_action pager_hints[] = {ACT_BACK, ACT_SEARCH, ACT_NEXT_MATCH, ACT_WRAP,
					     ACT_HELP};

static int hint(struct ui *ui, WINDOW *w, int x, int width, const char *k, const char *word)
{
	if (!*k)
		return x;
	int need = text_width(k, ui->utf8) + 1 + text_width(word, ui->utf8) + 2;
	if (x + need > width)
		return width;
	x += draw_text(ui, w, 0, x, width - x, ROLE_HINT_KEY, k);
	x += 1;
	x += draw_text(ui, w, 0, x, width - x, ROLE_HINT, word);
	return x + 2;
}

/* Bytes of the first character of clean text. */
static size_t char_len(const char *s)
{
	unsigned char c = (unsigned char)*s;

	if (!c)
		return 0;
	return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static void draw_prompt(struct ui *ui, WINDOW *w, int width)
{
	struct prompt *p = &ui->pr;
	int x = draw_text(ui, w, 0, 0, width, ROLE_PROMPT, p->label);
	struct buf before, after;

	if (p->kind == PR_CANCEL || p->kind == PR_QUIT)
		return;
	buf_init(&before);
	buf_init(&after);
	const char *text = p->text.data ? p->text.data : "";
	text_clean(&before, text, p->cur, ui->utf8);
	text_clean(&after, text + p->cur, strlen(text + p->cur), ui->utf8);
	/* Show the end of a long input, so that the cursor stays on screen. */
	const char *shown = before.data ? before.data : "";
	while (*shown && text_width(shown, ui->utf8) > width - x - 1)
		shown += char_len(shown);
	x += draw_text(ui, w, 0, x, width - x, ROLE_NORMAL, shown);
	const char *a = after.data ? after.data : "";
	if (*a) {
		char *c = xstrndup(a, char_len(a));
		int cw = draw_text(ui, w, 0, x, width - x, ROLE_CURSOR, c);
		draw_text(ui, w, 0, x + cw, width - x - cw, ROLE_NORMAL, a + strlen(c));
		free(c);
	} else {
		draw_text(ui, w, 0, x, width - x, ROLE_CURSOR, " ");
	}
	buf_free(&before);
	buf_free(&after);
}

void hints_draw(struct ui *ui)
{
	WINDOW *w = ui->w_hints;
	int width = ui->lay.hints.w, x = 1;
	char k[48], k2[32];

	if (!w)
		return;
	werase(w);
	if (ui->pr.kind != PR_NONE) {
		draw_prompt(ui, w, width);
		wnoutrefresh(w);
		return;
	}
	if (ui->answer && ui->nnotes - ui->answer < UI_NOTES) {
		const struct note *n = &ui->notes[(ui->answer - 1) % UI_NOTES];
		char *t = draw_cut(ui, n->text, width - 1);
		draw_text(ui, w, 0, 1, width - 1, n->alert ? ROLE_BAR_ALERT : ROLE_HINT, t);
		free(t);
		wnoutrefresh(w);
		return;
	}
	const enum ui_action *list = ui->pg.open ? pager_hints : main_hints;
	size_t n = ui->pg.open ? ARRAY_LEN(pager_hints) : ARRAY_LEN(main_hints);
	for (size_t i = 0; i < n && x < width; i++) {
		enum ui_action a = list[i];
		const char *word = action_info(a)->hint;
		keymap_first(&ui->keys, a, k, sizeof k);
		if (a == ACT_EARLIER) {
			keymap_first(&ui->keys, ACT_LATER, k2, sizeof k2);
			if (*k2)
				snprintf(k + strlen(k), sizeof k - strlen(k), "/%s", k2);
		}
		if ((ui->pg.open || ui->focus == PANE_LOG) && a == ACT_SEARCH)
			word = "search";
		else if (a == ACT_NEXT_MATCH)
			word = "next";
		else if (a == ACT_WRAP)
			word = "wrap";
		else if (a == ACT_QUIT && ui->host.attached &&
			 ui_engine_state(ui) < ENGINE_STOPPING)
			word = "detach";
		else if (a == ACT_PAUSE) {
			struct node *sel = tree_selected(ui);
			word = sel && sel->status == ST_PAUSED ? "resume" : "pause";
		}
		x = hint(ui, w, x, width, k, word ? word : action_info(a)->name);
	}
	wnoutrefresh(w);
}

/* ---- the prompt ------------------------------------------------------------------ */

unsigned prompt_open(struct ui *ui, enum prompt_kind kind, uint32_t node, const char *label,
		     const char *text)
{
	struct prompt *p = &ui->pr;

	p->kind = kind;
	p->node = node;
	snprintf(p->label, sizeof p->label, "%s", label);
	buf_reset(&p->text);
	if (text)
		buf_adds(&p->text, text);
	p->cur = p->text.len;
	free(p->before);
	p->before = text ? xstrdup(text) : NULL;
	return DIRTY_HINTS;
}

static void prompt_close(struct ui *ui)
{
	struct prompt *p = &ui->pr;

	p->kind = PR_NONE;
	buf_reset(&p->text);
	p->cur = 0;
	free(p->before);
	p->before = NULL;
}

/* Apply a live filter or search as the text changes. */
static unsigned live(struct ui *ui, enum prompt_kind kind, const char *text)
{
	if (kind == PR_FILTER)
		return tree_set_filter(ui, text);
	if (kind == PR_SEARCH)
		return ui->pg.open ? pager_set_search(ui, text) : log_set_search(ui, text);
	return 0;
}

static size_t prev_char(const char *s, size_t at)
{
	if (!at)
		return 0;
	at--;
	while (at && ((unsigned char)s[at] & 0xc0) == 0x80)
		at--;
	return at;
}

static size_t next_char(const char *s, size_t len, size_t at)
{
	if (at >= len)
		return len;
	at++;
	while (at < len && ((unsigned char)s[at] & 0xc0) == 0x80)
		at++;
	return at;
}

static void cut(struct buf *b, size_t from, size_t to)
{
	memmove(b->data + from, b->data + to, b->len - to + 1);
	b->len -= to - from;
}

static void insert(struct buf *b, size_t at, int cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80)
		u[0] = (char)cp, n = 1;
	else if (cp < 0x800)
		u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
	else if (cp < 0x10000)
		u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f)),
		u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
	else
		u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f)),
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
	buf_reserve(b, n);
	if (!b->data)
		buf_adds(b, "");
	memmove(b->data + at + n, b->data + at, b->len - at + 1);
	memcpy(b->data + at, u, n);
	b->len += n;
}

unsigned prompt_key(struct ui *ui, int k)
{
	struct prompt *p = &ui->pr;
	struct buf *t = &p->text;
	enum prompt_kind kind = p->kind;
	uint32_t node = p->node;
	unsigned d = DIRTY_HINTS;

	if (kind == PR_CANCEL || kind == PR_QUIT) {
		prompt_close(ui);
		if (k == 'y' || k == 'Y')
			return d | control_answer(ui, kind, node, "y");
		ui_say(ui, false, kind == PR_QUIT ? "not quitting" : "not cancelled");
		return d | DIRTY_STATUS;
	}
	if (!t->data)
		buf_adds(t, "");
	size_t old_len = t->len;
	if (k == UI_KEY_ENTER) {
		char *text = xstrdup(t->data);
		prompt_close(ui);
		d |= control_answer(ui, kind, node, text);
		free(text);
		return d;
	}
	if (k == UI_KEY_ESC || k == 7 /* C-g */) {
		char *before = p->before ? xstrdup(p->before) : NULL;
		prompt_close(ui);
		d |= live(ui, kind, before);
		if (kind == PR_FILTER || kind == PR_SEARCH)
			d |= DIRTY_ALL;
		free(before);
		return d;
	}
	if (k == UI_KEY_FN(KEY_BACKSPACE)) {
		size_t at = prev_char(t->data, p->cur);
		cut(t, at, p->cur);
		p->cur = at;
	} else if (k == UI_KEY_FN(KEY_DC) || k == 4 /* C-d */) {
		cut(t, p->cur, next_char(t->data, t->len, p->cur));
	} else if (k == UI_KEY_FN(KEY_LEFT) || k == 2 /* C-b */) {
		p->cur = prev_char(t->data, p->cur);
	} else if (k == UI_KEY_FN(KEY_RIGHT) || k == 6 /* C-f */) {
		p->cur = next_char(t->data, t->len, p->cur);
	} else if (k == UI_KEY_FN(KEY_HOME) || k == 1 /* C-a */) {
		p->cur = 0;
	} else if (k == UI_KEY_FN(KEY_END) || k == 5 /* C-e */) {
		p->cur = t->len;
	} else if (k == 21 /* C-u */) {
		cut(t, 0, p->cur);
		p->cur = 0;
	} else if (k == 23 /* C-w */) {
		size_t at = p->cur;
		while (at && t->data[at - 1] == ' ')
			at--;
		while (at && t->data[at - 1] != ' ')
			at--;
		cut(t, at, p->cur);
		p->cur = at;
	} else if (k >= 0x20 && k != 0x7f && k < 0x110000 && !(k >= 0x80 && k < 0xa0) &&
		   t->len < 4000) {
		insert(t, p->cur, k);
		p->cur = next_char(t->data, t->len, p->cur);
	} else {
		return 0;
	}
	if (t->len != old_len)
		d |= live(ui, kind, t->data);
	return d;
}
