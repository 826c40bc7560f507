/*
 * pictures_step.c — when the pictures are drawn. Their texts are made
 * here, on the main thread, from the tree (pictures.h); dot and the two
 * files are the pictures' thread's, so that the loop never waits on a
 * child. A drawing that changes nothing writes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/lifecycle.h"
#include "hypotop/pictures.h"

/* Long enough for dot to lay out a tree of thousands of nodes. */
#define DOT_TIMEOUT_MS 60000

struct picture_task {
	struct sched *s;
	char *workdir;
	char *dot, *progress; /* the texts to draw; NULL: unchanged */
	int dot_rc;           /* pictures_dot's: 1 when there is no dot */
	bool failed;
	struct err e;         /* the first failure */
};

static void fail(struct picture_task *t, const struct err *e)
{
	if (!t->failed)
		t->e = *e;
	t->failed = true;
}

static void write_file(struct picture_task *t, const char *name, const char *text)
{
	struct err e = {{0}};
	char *path = path_join(t->workdir, name);

	if (fs_write_atomic(path, text, strlen(text), 0644, &e) < 0)
		fail(t, &e);
	free(path);
}

/* On the pictures' thread. */
static void draw_work(void *arg)
{
	struct picture_task *t = arg;

	if (t->progress)
		write_file(t, "progress.svg", t->progress);
	if (t->dot) {
		struct err e = {{0}};
		char *svg;
		t->dot_rc = pictures_dot(t->dot, DOT_TIMEOUT_MS, &svg, &e);
		if (t->dot_rc < 0)
			fail(t, &e);
		else if (t->dot_rc == 0)
			write_file(t, "hypothesis_tree.svg", svg);
		free(svg);
	}
}

static void keep(char **last, char **text)
{
	free(*last);
	*last = *text;
	*text = NULL;
}

static void draw_done(void *arg)
{
	struct picture_task *t = arg;
	struct sched *s = t->s;

	s->pictures_busy--;
	if (t->dot_rc == 1 && !s->said_no_dot)
		sched_say(s, "hypothesis_tree.svg is not drawn: graphviz's dot is not on PATH "
			     "(the graphviz package has it); progress.svg is");
	s->said_no_dot |= t->dot_rc == 1;
	if (t->failed) {
		/* Said once until a drawing succeeds; drawn again at the next turn. */
		if (!s->said_pictures_err && !err_out_of_fds(&t->e))
			sched_say(s, "warning: the pictures: %s", t->e.msg);
		s->said_pictures_err = true;
		free(s->pictures_dot);
		free(s->pictures_progress);
		s->pictures_dot = s->pictures_progress = NULL;
		s->pictures_seq = 0;
	} else {
		s->said_pictures_err = false;
		if (t->progress)
			keep(&s->pictures_progress, &t->progress);
		if (t->dot && t->dot_rc == 0)
			keep(&s->pictures_dot, &t->dot);
	}
	free(t->workdir);
	free(t->dot);
	free(t->progress);
	free(t);
	sched_timer_arm(s);
}

static bool behind(struct sched *s)
{
	return s->pictures && s->wd->seq != s->pictures_seq;
}

int64_t sched_pictures_due(struct sched *s)
{
	return behind(s) && !s->pictures_busy ? s->pictures_at + SCHED_PICTURES_MS : 0;
}

/* text, or NULL (and text freed) when it is what was last written. */
static char *changed(char *text, const char *last)
{
	if (last && !strcmp(text, last)) {
		free(text);
		return NULL;
	}
	return text;
}

void sched_pictures_step(struct sched *s, bool now)
{
	struct workdir *w = s->wd;

	if (!behind(s))
		return;
	if (!now && (s->pictures_busy || mono_ms() - s->pictures_at < SCHED_PICTURES_MS)) {
		if (!s->pictures_armed && !s->pictures_busy) {
			s->pictures_armed = true;
			sched_timer_arm(s);
		}
		return;
	}
	s->pictures_seq = w->seq;
	s->pictures_armed = false;
	bool max = sched_goal_max(s);
	char *dot = changed(pictures_tree_dot(&w->tree, w->st.best, w->cfg.metric, max),
			    s->pictures_dot);
	char *progress = changed(pictures_progress_svg(&w->tree, w->cfg.metric, max),
				 s->pictures_progress);
	if (!dot && !progress)
		return;
	struct picture_task *t = xcalloc(1, sizeof *t);
	t->s = s;
	t->workdir = xstrdup(w->path);
	t->dot = dot;
	t->progress = progress;
	s->pictures_at = mono_ms();
	s->pictures_busy++;
	bg_submit(s->pictures, draw_work, draw_done, t);
}
