/*
 * pictures.c — see pictures.h: the texts of the two pictures, and dot
 * run for the tree's layout. Writing them and when is the engine's part
 * (pictures_step.c).
 */
#include "hypotop/pictures.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/noise.h"

extern char **environ;

/* ---- escaping ---------------------------------------------------------- */

/*
 * The character at p and its length: '?' for a byte of invalid UTF-8, and
 * for a control character or a noncharacter, which XML 1.0 does not allow.
 */
static size_t next_char(const unsigned char *p, unsigned *cp)
{
	size_t n = utf8_decode(p, 4, cp);

	if (!n) {
		*cp = '?';
		return 1;
	}
	if (*cp < 0x20 || (*cp >= 0x7f && *cp <= 0x9f) || *cp == 0xfffe || *cp == 0xffff)
		*cp = '?';
	return n;
}

/* Append s, its characters cleaned by next_char, each special one as esc says (NULL: as is). */
static void add_clean(struct buf *b, const char *s, const char *(*esc)(unsigned c))
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
		unsigned cp;
		size_t n = next_char(p, &cp);
		const char *e = esc(cp);
		if (e)
			buf_adds(b, e);
		else if (cp == '?')
			buf_addc(b, '?');
		else
			buf_add(b, p, n);
		p += n;
	}
}

static const char *xml_esc(unsigned c)
{
	switch (c) {
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '&': return "&amp;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	}
	return NULL;
}

/* dot reads references ("&#1;", "&lt;") in a label: a '&' of the text is written "&amp;". */
static const char *dot_esc(unsigned c)
{
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '&': return "&amp;";
	}
	return NULL;
}

void pic_xml_text(struct buf *b, const char *s)
{
	add_clean(b, s, xml_esc);
}

void pic_dot_text(struct buf *b, const char *s)
{
	add_clean(b, s, dot_esc);
}

/* ---- hypothesis_tree.svg, as DOT --------------------------------------- */

#define GOLD "#c89400"

/* A node's fill, by status. */
static const char *const fills[ST__COUNT] = {
	[ST_QUEUED] = "#e4e4e4",    [ST_PREPARING] = "#fff2b3", [ST_BUILDING] = "#fff2b3",
	[ST_RUNNING] = "#b7d5fb",   [ST_ANALYZING] = "#dccaf2", [ST_COMPLETED] = "#c6e8c8",
	[ST_FAILED] = "#f5b5b0",    [ST_CANCELLED] = "#f4f4f4", [ST_PAUSED] = "#ffd9a6",
	[ST_WAITING] = "#fff2b3", [ST_PRUNED] = "#e3dccf",
};

static const char *fill_of(const struct node *n)
{
	return n->status < ST__COUNT && fills[n->status] ? fills[n->status] : "#ffffff";
}

char *pictures_tree_dot(const struct tree *t, uint32_t best, const char *metric, bool goal_max)
{
	bool *on_path = xcalloc(t->len + 1, sizeof *on_path);
	char id[NODE_ID_LEN];
	struct buf b;

	/* The best and its line of parents, to its root. */
	for (uint32_t i = best; i < t->len && t->nodes[i].present && !on_path[i];
	     i = t->nodes[i].parent)
		on_path[i] = true;
	buf_init(&b);
	buf_adds(&b, "digraph hypotheses {\n\tgraph [fontname=\"Helvetica\", fontsize=12, "
		     "labelloc=t, nodesep=0.25, ranksep=0.45, label=\"hypothesis tree: ");
	pic_dot_text(&b, metric);
	buf_printf(&b, " (%s is better); gold: the best and its path from the baseline\"];\n",
		   goal_max ? "higher" : "lower");
	buf_adds(&b, "\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", "
		     "fontsize=10, color=\"#666666\"];\n"
		     "\tedge [color=\"#999999\", arrowsize=0.6];\n");
	for (uint32_t i = 0; i < t->len; i++) {
		const struct node *n = &t->nodes[i];
		if (!n->present)
			continue;
		node_id_format(i, id);
		buf_printf(&b, "\t%s [label=\"%s\\n", id, id);
		pic_dot_text(&b, n->name);
		if (n->has_metric)
			buf_printf(&b, "\\n%.6g", n->metric);
		else
			buf_printf(&b, "\\n%s", status_name(n->status));
		buf_printf(&b, "%s\", fillcolor=\"%s\"", i == best ? " (best)" : "", fill_of(n));
		if (n->status == ST_CANCELLED)
			buf_adds(&b, ", style=\"rounded,filled,dashed\"");
		if (on_path[i])
			buf_printf(&b, ", color=\"" GOLD "\", penwidth=%d", i == best ? 4 : 2);
		if (i == best)
			buf_adds(&b, ", id=\"best\", class=\"best\"");
		buf_adds(&b, "];\n");
	}
	for (uint32_t i = 0; i < t->len; i++) {
		const struct node *n = &t->nodes[i];
		if (!n->present || n->parent >= t->len || !t->nodes[n->parent].present)
			continue;
		node_id_format(n->parent, id);
		buf_printf(&b, "\t%s -> ", id);
		node_id_format(i, id);
		buf_printf(&b, "%s%s;\n", id, on_path[i] ? " [color=\"" GOLD "\", penwidth=3]" : "");
	}
	buf_adds(&b, "}\n");
	free(on_path);
	return buf_steal(&b);
}

/* ---- progress.svg ------------------------------------------------------ */

/* The canvas and the plot inside it, in pixels. */
#define W 820
#define H 440
#define X0 90
#define X1 (W - 30)
#define Y0 60
#define Y1 (H - 70)

struct point {
	const struct node *n;
	int64_t at;
};

static int by_end(const void *pa, const void *pb)
{
	const struct point *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->n->id < b->n->id ? -1 : a->n->id > b->n->id;
}

struct scale {
	size_t n;
	double lo, hi;
};

static double px(const struct scale *sc, size_t i)
{
	return X0 + (X1 - X0) * (i + 0.5) / (double)sc->n;
}

static double py(const struct scale *sc, double v)
{
	return Y1 - (v - sc->lo) / (sc->hi - sc->lo) * (Y1 - Y0);
}

static void axes(struct buf *b, const struct scale *sc, const char *metric)
{
	buf_printf(b, "<path d=\"M%d,%d V%d H%d\" fill=\"none\" stroke=\"#333333\"/>\n", X0, Y0, Y1,
		   X1);
	for (int k = 0; k <= 4; k++) {
		double v = sc->lo + (sc->hi - sc->lo) * k / 4;
		double y = py(sc, v);
		buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n",
			   X0 + 1, y, X1, y);
		buf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", X0 - 6,
			   y + 4, v);
	}
	size_t step = sc->n > 10 ? (sc->n + 9) / 10 : 1;
	for (size_t i = 0; i < sc->n; i += step)
		buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%zu</text>\n",
			   px(sc, i), Y1 + 18, i + 1);
	buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">experiments, in the order "
		      "they ended</text>\n",
		   (X0 + X1) / 2, Y1 + 42);
	buf_printf(b, "<text transform=\"translate(22,%d) rotate(-90)\" text-anchor=\"middle\">",
		   (Y0 + Y1) / 2);
	pic_xml_text(b, metric);
	buf_adds(b, "</text>\n");
}

static void legend(struct buf *b)
{
	int x = X1 - 330, y = 40;

	buf_printf(b, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"#78909c\"/>"
		      "<text x=\"%d\" y=\"%d\">run</text>\n",
		   x, y, x + 8, y + 4);
	buf_printf(b, "<circle cx=\"%d\" cy=\"%d\" r=\"6\" fill=\"#2e7d32\"/>"
		      "<text x=\"%d\" y=\"%d\">improved</text>\n",
		   x + 60, y, x + 70, y + 4);
	buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"" GOLD
		      "\" stroke-width=\"2\"/><text x=\"%d\" y=\"%d\">best so far</text>\n",
		   x + 150, y, x + 175, y, x + 181, y + 4);
}

char *pictures_progress_svg(const struct tree *t, const char *metric, bool goal_max)
{
	struct point *pts = xcalloc(t->len + 1, sizeof *pts);
	struct scale sc = {0, INFINITY, -INFINITY};
	struct buf b;

	for (uint32_t i = 0; i < t->len; i++) {
		const struct node *n = &t->nodes[i];
		if (!n->present || n->status != ST_COMPLETED || !n->has_metric ||
		    !isfinite(n->metric))
			continue;
		pts[sc.n++] = (struct point){n, n->finished};
		sc.lo = fmin(sc.lo, n->metric);
		sc.hi = fmax(sc.hi, n->metric);
	}
	qsort(pts, sc.n, sizeof *pts, by_end);
	if (!sc.n)
		sc.lo = 0, sc.hi = 1;
	double pad = (sc.hi - sc.lo) * 0.06;
	if (!(pad > 0))
		pad = sc.lo ? fabs(sc.lo) * 0.05 : 1;
	sc.lo -= pad, sc.hi += pad;

	buf_init(&b);
	buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		       "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
		       "font-size=\"12\">\n<title>progress: ",
		   W, H, W, H);
	pic_xml_text(&b, metric);
	buf_printf(&b, "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
		       "<text x=\"%d\" y=\"22\" font-size=\"15\">",
		   W, H, X0);
	pic_xml_text(&b, metric);
	buf_printf(&b, " of each finished experiment (%s is better)</text>\n",
		   goal_max ? "higher" : "lower");
	legend(&b);
	axes(&b, &sc, metric);
	if (!sc.n)
		buf_printf(&b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#666666\">"
			       "no finished experiment yet</text>\n",
			   (X0 + X1) / 2, (Y0 + Y1) / 2);
	else {
		/* A step to each new best, level while none comes. */
		buf_adds(&b, "<polyline class=\"best-so-far\" fill=\"none\" stroke=\"" GOLD
			     "\" stroke-width=\"2\" points=\"");
		double best = pts[0].n->metric;
		for (size_t i = 0; i < sc.n; i++) {
			double v = pts[i].n->metric;
			buf_printf(&b, "%s%.1f,%.1f", i ? " " : "", px(&sc, i), py(&sc, best));
			if (goal_max ? v > best : v < best) {
				best = v;
				buf_printf(&b, " %.1f,%.1f", px(&sc, i), py(&sc, best));
			}
		}
		buf_adds(&b, "\"/>\n");
	}
	for (size_t i = 0; i < sc.n; i++) {
		const struct node *n = pts[i].n;
		bool up = node_improved(n) && n->parent != NODE_NONE && !node_is_repeat(n);
		char id[NODE_ID_LEN];
		node_id_format(n->id, id);
		buf_printf(&b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\">"
			       "<title>%s ",
			   up ? "improved" : "run", px(&sc, i), py(&sc, n->metric), up ? 6 : 4,
			   up ? "#2e7d32" : "#78909c", id);
		pic_xml_text(&b, n->name);
		buf_printf(&b, ": %.6g%s</title></circle>\n", n->metric, up ? " (improved)" : "");
	}
	buf_adds(&b, "</svg>\n");
	free(pts);
	return buf_steal(&b);
}

/* ---- dot ----------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The whole of a memfd written from its start; NULL on a failure. */
static char *read_back(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	char *text = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(text);
			return NULL;
		}
		got += (size_t)r;
	}
	text[got] = '\0';
	return text;
}

/*
 * Read what dot says on its stderr (the first of it kept in msg) until it
 * closes it, which it does as it exits; false when the deadline came first.
 */
static bool read_stderr(int fd, int64_t deadline, struct buf *msg)
{
	char chunk[1024];

	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return false;
		struct pollfd p = {fd, POLLIN, 0};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return false;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return true;
		if (msg->len < 400)
			buf_add(msg, chunk, (size_t)n);
	}
}

static int spawn_dot(int in, int out, int err_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	char *argv[] = {"dot", "-Tsvg", NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	/* The engine's blocked signals are not dot's; a ^C at the terminal is not for it. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	int rc = posix_spawnp(pid, "dot", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return rc;
}

int pictures_dot(const char *dot_text, int timeout_ms, char **svg, struct err *e)
{
	int in = memfd_create("hypotop-dot-in", MFD_CLOEXEC);
	int out = memfd_create("hypotop-dot-out", MFD_CLOEXEC);
	int er[2] = {-1, -1};
	int rc = -1, status = 0;
	pid_t pid = -1;
	struct buf msg;

	*svg = NULL;
	buf_init(&msg);
	if (in < 0 || out < 0 || pipe2(er, O_CLOEXEC) < 0 ||
	    write_all(in, dot_text, strlen(dot_text)) < 0 || lseek(in, 0, SEEK_SET) < 0) {
		err_set(e, "cannot run dot: %s", strerror(errno));
		goto out;
	}
	int spawned = spawn_dot(in, out, er[1], &pid);
	close(er[1]);
	er[1] = -1;
	if (spawned == ENOENT) {
		rc = 1;
		goto out;
	}
	if (spawned) {
		err_set(e, "cannot run dot: %s", strerror(spawned));
		goto out;
	}
	bool ended = read_stderr(er[0], mono_ms() + timeout_ms, &msg);
	if (!ended)
		kill(-pid, SIGKILL); /* its session: dot and anything it started */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	msg.len = strcspn(msg.data ? msg.data : "", "\n");
	if (msg.data)
		msg.data[msg.len] = '\0';
	if (!ended)
		err_set(e, "dot ran for more than %d s and was stopped", timeout_ms / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		err_set(e, "dot failed (%s %d)%s%s",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			msg.len ? ": " : "", msg.len ? msg.data : "");
	else if (!(*svg = read_back(out)))
		err_set(e, "cannot read dot's output: %s", strerror(errno));
	else
		rc = 0;
out:
	buf_free(&msg);
	for (int i = 0; i < 2; i++)
		if (er[i] >= 0)
			close(er[i]);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}
