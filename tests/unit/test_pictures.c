/* Unit tests: the pictures' texts (pictures.h): escaping, the tree's DOT, progress.svg. */
#include "t.h"

#include "hypotop/pictures.h"
#include "hypotop/tree.h"

static char *xml(const char *s)
{
	struct buf b;

	buf_init(&b);
	pic_xml_text(&b, s);
	buf_addc(&b, '\0'); /* "" for an empty text too */
	return buf_steal(&b);
}

static char *dot(const char *s)
{
	struct buf b;

	buf_init(&b);
	pic_dot_text(&b, s);
	buf_addc(&b, '\0');
	return buf_steal(&b);
}

static void xml_escapes_specials_and_bad_bytes(void)
{
	char *a = xml("a<b>&\"c'"), *b = xml("x\x01y\x1b\xff\xc3(z\xc2\x85"), *c = xml("é✓");

	T_STREQ(a, "a&lt;b&gt;&amp;&quot;c&#39;");
	/* Controls (C0, C1) and invalid UTF-8 are no XML: each a '?'. */
	T_STREQ(b, "x?y??" "?(z?");
	T_STREQ(c, "é✓");
	free(a);
	free(b);
	free(c);
}

static void dot_escapes_quotes_backslashes_and_references(void)
{
	char *a = dot("say \"hi\" \\n"), *b = dot("a & b&#1;&lt;"), *c = dot("t\tab");

	T_STREQ(a, "say \\\"hi\\\" \\\\n");
	/* Text that reads as a reference is shown as it is. */
	T_STREQ(b, "a &amp; b&amp;#1;&amp;lt;");
	T_STREQ(c, "t?ab");
	free(a);
	free(b);
	free(c);
}

static struct node *add(struct tree *t, uint32_t parent, const char *name, int status,
			double metric, int64_t finished)
{
	struct node *n = tree_add(t, parent);

	node_set_str(&n->name, name);
	n->status = (uint8_t)status;
	n->has_metric = metric >= 0;
	n->metric = metric;
	n->finished = finished;
	return n;
}

/* n0000 base, n0001 and n0002 its children, n0003 under n0001 (the best). */
static void build(struct tree *t)
{
	tree_init(t);
	add(t, NODE_NONE, "baseline", ST_COMPLETED, 1.0, 100);
	add(t, 0, "a<b", ST_COMPLETED, 0.8, 400)->improved = 1;
	add(t, 0, "slow", ST_RUNNING, -1, 0);
	add(t, 1, "deeper", ST_COMPLETED, 0.5, 300)->improved = 1;
	add(t, 0, "worse", ST_FAILED, 2.0, 200);
}

static void tree_dot_marks_the_best_and_its_path(void)
{
	struct tree t;

	build(&t);
	char *d = pictures_tree_dot(&t, 3, "val\"loss", false);
	T_CONTAINS(d, "label=\"hypothesis tree: val\\\"loss (lower is better)");
	T_CONTAINS(d, "\tn0001 [label=\"n0001\\na<b\\n0.8\", fillcolor=\"#c6e8c8\", "
		      "color=\"#c89400\", penwidth=2];\n");
	T_CONTAINS(d, "\tn0002 [label=\"n0002\\nslow\\nrunning\", fillcolor=\"#b7d5fb\"];\n");
	T_CONTAINS(d, "\tn0003 [label=\"n0003\\ndeeper\\n0.5 (best)\", fillcolor=\"#c6e8c8\", "
		      "color=\"#c89400\", penwidth=4, id=\"best\", class=\"best\"];\n");
	T_CONTAINS(d, "\tn0000 -> n0001 [color=\"#c89400\", penwidth=3];\n");
	T_CONTAINS(d, "\tn0001 -> n0003 [color=\"#c89400\", penwidth=3];\n");
	T_CONTAINS(d, "\tn0000 -> n0002;\n");
	T_CONTAINS(d, "\tn0000 -> n0004;\n");
	free(d);
	/* No best yet: nothing gold but the title. */
	d = pictures_tree_dot(&t, NODE_NONE, "m", true);
	T_CHECK(!strstr(d, "penwidth") && !strstr(d, "best\""), "%s", d);
	free(d);
	tree_free(&t);
}

static void progress_in_the_order_they_ended(void)
{
	struct tree t;

	build(&t);
	char *p = pictures_progress_svg(&t, "m<1>", false);
	T_CONTAINS(p, "<title>progress: m&lt;1&gt;</title>");
	/* Only the completed runs, by their end: n0000, n0003, n0001; the running and failed not. */
	const char *a = strstr(p, "<title>n0000 baseline: 1</title>");
	const char *b = strstr(p, "<title>n0003 deeper: 0.5 (improved)</title>");
	const char *c = strstr(p, "<title>n0001 a&lt;b: 0.8 (improved)</title>");
	T_CHECK(a && b && c && a < b && b < c, "order: %s", p);
	T_CHECK(!strstr(p, "n0002") && !strstr(p, "n0004"), "a run that did not complete: %s", p);
	/* The baseline is judged on nothing: a plain point. */
	T_CONTAINS(p, "<circle class=\"run\" cx=\"206.7\"");
	/* Best so far: 1, then 0.5 from the second point on, level after it. */
	T_CONTAINS(p, "points=\"206.7,");
	const char *line = strstr(p, "class=\"best-so-far\"");
	T_CHECK(line && strstr(line, " 440.0,") && strstr(line, " 673.3,"), "%s", line);
	free(p);
	tree_free(&t);
	tree_init(&t);
	p = pictures_progress_svg(&t, "m", true);
	T_CONTAINS(p, "no finished experiment yet");
	T_CHECK(!strstr(p, "best-so-far"), "a line with no point: %s", p);
	free(p);
	tree_free(&t);
}

int main(void)
{
	T_RUN(xml_escapes_specials_and_bad_bytes);
	T_RUN(dot_escapes_quotes_backslashes_and_references);
	T_RUN(tree_dot_marks_the_best_and_its_path);
	T_RUN(progress_in_the_order_they_ended);
	T_END();
}
