/*
 * Unit tests: vcs — a node's commit made from each kind of change without a
 * work tree, refused paths, idempotency, linked work trees, reading commits.
 * Each test builds a real repository with the git command line.
 */
#include "t.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lifecycle.h"
#include "hypotop/llm.h"
#include "hypotop/vcs.h"
#include "hypotop/vcs_int.h" /* the seals of work trees */

#define BR "hypotop/n0001"

#define sh t_sh

/* The first line a shell command prints; caller frees. */
static char *sh_out(const char *fmt, ...) PRINTF_LIKE(1, 2);
static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	struct buf b;
	char line[4096] = "";

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	FILE *f = popen(b.data, "r");
	if (f) {
		if (!fgets(line, sizeof line, f))
			line[0] = '\0';
		pclose(f);
	}
	buf_free(&b);
	line[strcspn(line, "\n")] = '\0';
	return xstrdup(line);
}

/*
 * A repository with one commit: a JSON param file, code in a folder, an
 * executable script, a symlink to a folder outside and one to a file.
 */
struct repo {
	char *base, *dir;
	char head[VCS_OID_HEX];
};

static void repo_make(struct repo *r)
{
	struct err e = {{0}};

	r->base = t_tmpdir();
	r->dir = path_join(r->base, "src");
	if (sh("set -e; git init -q -b main '%s'; cd '%s';"
	       "printf '{\\n  \"lr\": 0.1,\\n  \"layers\": 2\\n}\\n' > hparams.json;"
	       "printf '{ not json\\n' > broken.json;"
	       "mkdir -p model docs; printf 'print(1)\\n' > model/train.py;"
	       "printf 'a\\nb\\nc\\n' > notes.txt; printf 'doc\\n' > docs/README;"
	       "printf '#!/bin/sh\\necho run\\n' > run.sh; chmod +x run.sh;"
	       "ln -s /etc linkdir; ln -s notes.txt notes_link;"
	       "git add -A; git -c user.name=t -c user.email=t@t commit -qm base",
	       r->dir, r->dir) != 0) {
		printf("# cannot make a test repository\n");
		exit(2);
	}
	if (vcs_head(r->dir, r->head, NULL, &e) < 0) {
		printf("# head: %s\n", e.msg);
		exit(2);
	}
}

static void repo_free(struct repo *r)
{
	fs_remove_tree(r->base);
	free(r->dir);
	free(r->base);
}

static bool branch_exists(struct repo *r, const char *branch)
{
	return sh("git -C '%s' rev-parse -q --verify 'refs/heads/%s' >/dev/null", r->dir,
		  branch) == 0;
}

/* Commit change on BR from the repository's first commit. */
static int commit(struct repo *r, const char *change, const char *params_file,
		  char oid[VCS_OID_HEX], const char **kind, struct err *e)
{
	return vcs_commit_change(r->dir, r->head, change, params_file, BR, "n0001: test", oid,
				 kind, e);
}

static char *read_at(struct repo *r, const char *commit_id, const char *path)
{
	struct err e = {{0}};
	char *text = NULL;

	if (vcs_read_file(r->dir, commit_id, path, &text, NULL, &e) < 0)
		printf("# read %s: %s\n", path, e.msg);
	return text;
}

/* The main work tree, its index and HEAD (at commit) are never touched. */
static void check_untouched_at(struct repo *r, const char *commit_id)
{
	char *st = sh_out("git -C '%s' status --porcelain | head -1", r->dir);
	char *head = sh_out("git -C '%s' rev-parse HEAD", r->dir);
	T_STREQ(st, "");
	T_STREQ(head, commit_id);
	free(st);
	free(head);
}

static void check_untouched(struct repo *r)
{
	check_untouched_at(r, r->head);
}

static void params_change_commits_the_param_file(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = "unset";

	repo_make(&r);
	T_CHECK(commit(&r, "{\"kind\":\"params\",\"params\":{\"lr\":0.01}}", "hparams.json", oid,
		       &kind, &e) == 0,
		"%s", e.msg);
	T_CHECK(kind == NULL, "kind set on success");
	char *tip = sh_out("git -C '%s' rev-parse " BR, r.dir);
	char *parent = sh_out("git -C '%s' rev-parse '%s^'", r.dir, oid);
	char *nparents = sh_out("git -C '%s' rev-list --parents -n1 '%s' | wc -w", r.dir, oid);
	char *who = sh_out("git -C '%s' log -1 --format='%%an <%%ae>|%%cn <%%ce>|%%s' '%s'", r.dir,
			   oid);
	T_STREQ(tip, oid);
	T_STREQ(parent, r.head);
	T_STREQ(nparents, "2");
	T_STREQ(who, "hypotop <hypotop@localhost>|hypotop <hypotop@localhost>|n0001: test");
	char *text = read_at(&r, oid, "hparams.json");
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	const cJSON *lr = cJSON_GetObjectItem(doc, "lr");
	const cJSON *layers = cJSON_GetObjectItem(doc, "layers");
	T_CHECK(cJSON_IsNumber(lr) && lr->valuedouble == 0.01, "lr not set: %s", text);
	T_CHECK(cJSON_IsNumber(layers) && layers->valueint == 2, "layers lost: %s", text);
	/* Only the param file changed. */
	char *changed = sh_out("git -C '%s' diff --name-only '%s' '%s' | tr '\\n' ' '", r.dir,
			       r.head, oid);
	T_STREQ(changed, "hparams.json ");
	check_untouched(&r);
	cJSON_Delete(doc);
	free(text);
	free(changed);
	free(tip);
	free(parent);
	free(nparents);
	free(who);
	repo_free(&r);
}

static void params_change_refused_as_params_invalid(void)
{
	static const struct {
		const char *file, *want;
	} cases[] = {
		{"missing.json", "missing.json"},
		{"broken.json", "broken.json"},
		{NULL, "search_space.file"},
	};
	struct repo r;

	repo_make(&r);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct err e = {{0}};
		char oid[VCS_OID_HEX];
		const char *kind = NULL;
		T_CHECK(commit(&r, "{\"kind\":\"params\",\"params\":{\"lr\":1}}", cases[i].file,
			       oid, &kind, &e) < 0,
			"case %zu accepted", i);
		T_STREQ(kind, "params_invalid");
		T_CONTAINS(e.msg, cases[i].want);
		if (getenv("T_VERBOSE"))
			printf("# %s\n", e.msg);
		T_CHECK(!branch_exists(&r, BR), "branch made for case %zu", i);
	}
	repo_free(&r);
}

static void files_change_replaces_and_creates(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(commit(&r,
		       "{\"kind\":\"files\",\"files\":["
		       "{\"path\":\"model/train.py\",\"content\":\"print(2)\\n\"},"
		       "{\"path\":\"run.sh\",\"content\":\"#!/bin/sh\\necho two\\n\"},"
		       "{\"path\":\"new/deep/cfg.txt\",\"content\":\"x=1\\n\"},"
		       "{\"path\":\"docs/README\",\"content\":\"\"}]}",
		       NULL, oid, &kind, &e) == 0,
		"%s", e.msg);
	char *a = read_at(&r, oid, "model/train.py"), *b = read_at(&r, oid, "new/deep/cfg.txt");
	char *c = read_at(&r, oid, "notes.txt"), *d = read_at(&r, oid, "run.sh");
	T_STREQ(a, "print(2)\n");
	T_STREQ(b, "x=1\n");
	T_STREQ(c, "a\nb\nc\n");
	T_STREQ(d, "#!/bin/sh\necho two\n");
	char *empty = NULL;
	size_t len = 99;
	T_CHECK(vcs_read_file(r.dir, oid, "docs/README", &empty, &len, &e) == 0, "%s", e.msg);
	T_CHECK(empty && !*empty && len == 0, "emptied file reads \"%s\" (%zu)", empty, len);
	free(empty);
	char *mode = sh_out("git -C '%s' ls-tree '%s' run.sh | cut -c1-6", r.dir, oid);
	T_STREQ(mode, "100755");
	char *parent = sh_out("git -C '%s' rev-parse '%s^'", r.dir, oid);
	T_STREQ(parent, r.head);
	T_CHECK(branch_exists(&r, BR), "no branch");
	check_untouched(&r);
	free(a);
	free(b);
	free(c);
	free(d);
	free(mode);
	free(parent);
	repo_free(&r);
}

static const char patch_ok[] = "diff --git a/notes.txt b/notes.txt\n"
			       "--- a/notes.txt\n"
			       "+++ b/notes.txt\n"
			       "@@ -1,3 +1,3 @@\n"
			       " a\n"
			       "-b\n"
			       "+B\n"
			       " c\n"
			       "diff --git a/added.txt b/added.txt\n"
			       "new file mode 100644\n"
			       "--- /dev/null\n"
			       "+++ b/added.txt\n"
			       "@@ -0,0 +1 @@\n"
			       "+hello\n";

static char *patch_change(const char *patch)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "{\"kind\":\"patch\",\"patch\":");
	json_append_str(&b, patch);
	buf_adds(&b, "}");
	return buf_steal(&b);
}

static void patch_change_applies(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;
	char *ch = patch_change(patch_ok);

	repo_make(&r);
	T_CHECK(commit(&r, ch, NULL, oid, &kind, &e) == 0, "%s", e.msg);
	T_CHECK(kind == NULL, "kind %s", kind);
	char *a = read_at(&r, oid, "notes.txt"), *b = read_at(&r, oid, "added.txt");
	T_STREQ(a, "a\nB\nc\n");
	T_STREQ(b, "hello\n");
	char *parent = sh_out("git -C '%s' rev-parse '%s^'", r.dir, oid);
	T_STREQ(parent, r.head);
	check_untouched(&r);
	free(a);
	free(b);
	free(parent);
	free(ch);
	repo_free(&r);
}

static void patch_that_does_not_apply_is_a_conflict(void)
{
	static const char *const patches[] = {
		/* Context the file does not have. */
		"diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n"
		"@@ -1,3 +1,3 @@\n a\n-x\n+X\n c\n",
		/* A file that is not there. */
		"diff --git a/nothere.txt b/nothere.txt\n--- a/nothere.txt\n+++ b/nothere.txt\n"
		"@@ -1 +1 @@\n-a\n+b\n",
		/* Creating a file that exists. */
		"diff --git a/notes.txt b/notes.txt\nnew file mode 100644\n--- /dev/null\n"
		"+++ b/notes.txt\n@@ -0,0 +1 @@\n+a\n",
	};
	struct repo r;

	repo_make(&r);
	for (size_t i = 0; i < ARRAY_LEN(patches); i++) {
		struct err e = {{0}};
		char oid[VCS_OID_HEX];
		const char *kind = NULL;
		char *ch = patch_change(patches[i]);
		T_CHECK(commit(&r, ch, NULL, oid, &kind, &e) < 0, "patch %zu applied", i);
		T_STREQ(kind, "patch_conflict");
		T_CONTAINS(e.msg, "does not apply");
		if (getenv("T_VERBOSE"))
			printf("# %s\n", e.msg);
		T_CHECK(!branch_exists(&r, BR), "branch made for patch %zu", i);
		free(ch);
	}
	check_untouched(&r);
	repo_free(&r);
}

/*
 * A second commit for the edit and patch details: model/net.py of 30
 * lines "xNN = N" but line 17, "    lr = 0.1"; dup.txt with one line three
 * times; empty.txt. r->head moves to it.
 */
static void repo_more(struct repo *r)
{
	struct err e = {{0}};

	if (sh("set -e; cd '%s'; for i in $(seq 1 30); do if [ $i = 17 ]; then "
	       "echo '    lr = 0.1'; else printf 'x%%02d = %%d\\n' $i $i; fi; done > model/net.py;"
	       "printf 'a = 1\\nb\\na = 1\\nc\\na = 1\\n' > dup.txt; : > empty.txt;"
	       "git add -A; git -c user.name=t -c user.email=t@t commit -qm more",
	       r->dir) != 0 ||
	    vcs_head(r->dir, r->head, NULL, &e) < 0) {
		printf("# cannot add to the test repository: %s\n", e.msg);
		exit(2);
	}
}

/* An edit of one block, as JSON text; caller frees. */
static char *edit_change(const char *path, const char *search, const char *replace)
{
	cJSON *ch = cJSON_CreateObject(), *block = cJSON_CreateObject();

	cJSON_AddStringToObject(ch, "kind", "edit");
	cJSON_AddItemToArray(cJSON_AddArrayToObject(ch, "edits"), block);
	cJSON_AddStringToObject(block, "path", path);
	cJSON_AddStringToObject(block, "search", search);
	cJSON_AddStringToObject(block, "replace", replace);
	char *text = cJSON_PrintUnformatted(ch), *out = xstrdup(text);
	cJSON_free(text);
	cJSON_Delete(ch);
	return out;
}

static void edit_change_replaces_compounds_and_creates(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(commit(&r,
		       "{\"kind\":\"edit\",\"edits\":["
		       "{\"path\":\"notes.txt\",\"search\":\"b\\n\",\"replace\":\"B\\nb2\\n\"},"
		       "{\"path\":\"model/train.py\",\"search\":\"print(1)\",\"replace\":\"print(2)\"},"
		       "{\"path\":\"model/train.py\",\"search\":\"print(2)\\n\","
		       "\"replace\":\"print(2)\\nprint(3)\\n\"},"
		       "{\"path\":\"new/deep/cfg.py\",\"search\":\"\",\"replace\":\"x = 1\\n\"},"
		       "{\"path\":\"new/deep/cfg.py\",\"search\":\"x = 1\",\"replace\":\"x = 2\"},"
		       "{\"path\":\"run.sh\",\"search\":\"echo run\",\"replace\":\"echo edited\"}]}",
		       NULL, oid, &kind, &e) == 0,
		"%s", e.msg);
	T_CHECK(kind == NULL, "kind %s", kind);
	char *a = read_at(&r, oid, "notes.txt"), *b = read_at(&r, oid, "model/train.py");
	char *c = read_at(&r, oid, "new/deep/cfg.py"), *d = read_at(&r, oid, "run.sh");
	T_STREQ(a, "a\nB\nb2\nc\n");
	T_STREQ(b, "print(2)\nprint(3)\n");
	T_STREQ(c, "x = 2\n");
	T_STREQ(d, "#!/bin/sh\necho edited\n");
	char *mode = sh_out("git -C '%s' ls-tree '%s' run.sh | cut -c1-6", r.dir, oid);
	T_STREQ(mode, "100755");
	char *made = sh_out("git -C '%s' ls-tree '%s' new/deep/cfg.py | cut -c1-6", r.dir, oid);
	T_STREQ(made, "100644");
	char *files = sh_out("git -C '%s' diff --name-only '%s' '%s' | tr '\\n' ' '", r.dir, r.head,
			     oid);
	T_STREQ(files, "model/train.py new/deep/cfg.py notes.txt run.sh ");
	check_untouched(&r);
	free(a);
	free(b);
	free(c);
	free(d);
	free(mode);
	free(made);
	free(files);
	repo_free(&r);
}

/* Refused as vcs_change_tree() refuses it: the kind, the reason, and the detail. */
static void refused_with(struct repo *r, const char *change, const char *kind_want,
			 const char *msg_want, struct buf *detail)
{
	struct err e = {{0}};
	char tree[VCS_OID_HEX];
	const char *kind = NULL;

	buf_reset(detail);
	T_CHECK(vcs_change_tree(r->dir, r->head, change, NULL, tree, &kind, detail, &e) < 0,
		"applied: %s", change);
	T_STREQ(kind, kind_want);
	T_CONTAINS(e.msg, msg_want);
	T_CHECK(strncmp(e.msg, "change: ", 8), "a node's prefix with no node: %s", e.msg);
	T_CHECK(detail->len && detail->data[detail->len - 1] == '\n', "no detail for %s", change);
	if (getenv("T_VERBOSE"))
		printf("# %s\n# detail:\n%s", e.msg, detail->data);
}

static void edit_refusals_say_where_to_look(void)
{
	struct repo r;
	struct buf d;

	repo_make(&r);
	repo_more(&r);
	buf_init(&d);
	/* Not there: the lines around the line most like its first line. */
	char *ch = edit_change("model/net.py", "lr = 0.2\nx18 = 18\n", "lr = 0.3\n");
	refused_with(&r, ch, "patch_conflict", "edits[0]: the search text is not in model/net.py",
		     &d);
	T_CONTAINS(d.data, "edits[0]: the search text is not in model/net.py");
	T_CONTAINS(d.data, "is line 17");
	T_CONTAINS(d.data, "\n  12| x12 = 12\n");
	T_CONTAINS(d.data, "\n  17|     lr = 0.1\n");
	T_CONTAINS(d.data, "\n  23| x23 = 23\n");
	T_CHECK(!strstr(d.data, "  11|") && !strstr(d.data, "  24|"), "%s", d.data);
	free(ch);
	/* The same line with other indentation comes first. */
	ch = edit_change("model/net.py", "\t x05 = 5  \nx06 = 7\n", "");
	refused_with(&r, ch, "patch_conflict", "not in model/net.py", &d);
	T_CONTAINS(d.data, "is line 5");
	T_CONTAINS(d.data, "\n   1| x01 = 1\n");
	T_CONTAINS(d.data, "\n  11| x11 = 11\n");
	T_CHECK(!strstr(d.data, "  12|"), "%s", d.data);
	free(ch);
	/* Nothing like it: the first lines; an empty file is said to be empty. */
	ch = edit_change("model/net.py", "\n\nqqq\n", "");
	refused_with(&r, ch, "patch_conflict", "not in model/net.py", &d);
	T_CONTAINS(d.data, "No line of it is like");
	T_CONTAINS(d.data, "\n   1| x01 = 1\n");
	free(ch);
	ch = edit_change("empty.txt", "x", "y");
	refused_with(&r, ch, "patch_conflict", "not in empty.txt", &d);
	T_CONTAINS(d.data, "empty.txt is empty");
	free(ch);
	/* Not unique: every place's line, and the lines around the first few. */
	ch = edit_change("dup.txt", "a = 1", "a = 2");
	refused_with(&r, ch, "patch_conflict", "3 times (lines 1, 3, 5)", &d);
	T_CONTAINS(d.data, "at lines 1, 3, 5; add lines around it so that it occurs once");
	T_CONTAINS(d.data, "\n   2| b\n");
	free(ch);
	/* What an earlier block left is what a later one is matched on. */
	refused_with(&r,
		     "{\"kind\":\"edit\",\"edits\":["
		     "{\"path\":\"notes.txt\",\"search\":\"b\",\"replace\":\"B\"},"
		     "{\"path\":\"notes.txt\",\"search\":\"b\",\"replace\":\"x\"}]}",
		     "patch_conflict", "edits[1]: the search text is not in notes.txt (as the blocks "
				       "before it left it)",
		     &d);
	T_CONTAINS(d.data, "\n   2| B\n");
	/* An empty search makes a file, never replaces one; a search needs a file. */
	ch = edit_change("notes.txt", "", "z\n");
	refused_with(&r, ch, "patch_conflict", "give the text to replace, or use a files change",
		     &d);
	T_CHECK(!strstr(d.data, "|"), "file lines for a path: %s", d.data);
	free(ch);
	ch = edit_change("model/nothere.py", "x", "y");
	refused_with(&r, ch, "patch_conflict", "\"model/nothere.py\" is not in the parent commit",
		     &d);
	free(ch);
	/* Paths: through a symlink, onto one, into .git, a file and a folder at once. */
	static const char *const paths[] = {"linkdir/passwd", "notes_link", ".git/config",
					    "model/.GIT/x", "notes.txt/x", "../x"};
	for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
		ch = edit_change(paths[i], "", "x");
		refused_with(&r, ch, "patch_rejected", paths[i], &d);
		T_CHECK(!strstr(d.data, "|"), "file lines for a path: %s", d.data);
		free(ch);
	}
	refused_with(&r,
		     "{\"kind\":\"edit\",\"edits\":["
		     "{\"path\":\"new\",\"search\":\"\",\"replace\":\"1\"},"
		     "{\"path\":\"new/x\",\"search\":\"\",\"replace\":\"2\"}]}",
		     "patch_rejected", "\"new/x\" clashes with \"new\"", &d);
	buf_free(&d);
	check_untouched(&r);
	repo_free(&r);
}

/* A patch that does not apply: the lines around each hunk that fails. */
static void patch_conflict_shows_the_lines_around_the_hunk(void)
{
	struct repo r;
	struct buf d;

	repo_make(&r);
	repo_more(&r);
	buf_init(&d);
	/* Hunk 1 applies; hunk 2's line 17 is not what the file has. */
	char *ch = patch_change("diff --git a/model/net.py b/model/net.py\n"
				"--- a/model/net.py\n+++ b/model/net.py\n"
				"@@ -2,3 +2,3 @@\n x02 = 2\n-x03 = 3\n+x03 = 33\n x04 = 4\n"
				"@@ -16,3 +16,3 @@\n x16 = 16\n-    lr = 0.3\n+    lr = 0.4\n x18 = 18\n");
	refused_with(&r, ch, "patch_conflict", "does not apply", &d);
	T_CONTAINS(d.data, "Hunk 2 of model/net.py (@@ -16,3 +16,3 @@) does not apply");
	T_CHECK(!strstr(d.data, "Hunk 1"), "hunk 1 applies: %s", d.data);
	T_CONTAINS(d.data, "\n  13| x13 = 13\n");
	T_CONTAINS(d.data, "\n  17|     lr = 0.1\n");
	T_CONTAINS(d.data, "\n  21| x21 = 21\n");
	T_CHECK(!strstr(d.data, "  12|") && !strstr(d.data, "  22|"), "%s", d.data);
	free(ch);
	/* The file that fails, of two. */
	ch = patch_change("diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n+++ b/notes.txt\n"
			  "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
			  "diff --git a/dup.txt b/dup.txt\n--- a/dup.txt\n+++ b/dup.txt\n"
			  "@@ -1,2 +1,2 @@\n a = 1\n-x\n+y\n");
	refused_with(&r, ch, "patch_conflict", "does not apply", &d);
	T_CONTAINS(d.data, "Hunk 1 of dup.txt");
	T_CONTAINS(d.data, "\n   1| a = 1\n   2| b\n");
	T_CHECK(!strstr(d.data, "notes.txt"), "notes.txt applies: %s", d.data);
	free(ch);
	buf_free(&d);
	repo_free(&r);
}

/* A dry run: the tree the commit would have, and no commit, no branch. */
static void change_tree_is_the_commits_tree_without_a_commit(void)
{
	static const char *change = "{\"kind\":\"files\",\"files\":[{\"path\":\"notes.txt\","
				    "\"content\":\"z\\n\"}]}";
	struct repo r;
	struct err e = {{0}};
	char tree[VCS_OID_HEX], same[VCS_OID_HEX], oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(vcs_change_tree(r.dir, r.head, NULL, NULL, same, &kind, NULL, &e) == 0, "%s",
		e.msg);
	char *head_tree = sh_out("git -C '%s' rev-parse '%s^{tree}'", r.dir, r.head);
	T_STREQ(same, head_tree);
	T_CHECK(vcs_change_tree(r.dir, r.head, change, NULL, tree, &kind, NULL, &e) == 0, "%s",
		e.msg);
	T_CHECK(strcmp(tree, same) != 0, "the change made the parent's tree");
	char *refs = sh_out("git -C '%s' for-each-ref | wc -l", r.dir);
	T_STREQ(refs, "1");
	T_CHECK(commit(&r, change, NULL, oid, &kind, &e) == 0, "%s", e.msg);
	char *made = sh_out("git -C '%s' rev-parse '%s^{tree}'", r.dir, oid);
	T_STREQ(tree, made);
	/* Refused as the commit would be, with its kind. */
	char *ch = patch_change("diff --git a/notes.txt b/notes.txt\n--- a/notes.txt\n"
				"+++ b/notes.txt\n@@ -1,3 +1,3 @@\n a\n-x\n+X\n c\n");
	T_CHECK(vcs_change_tree(r.dir, r.head, ch, NULL, tree, &kind, NULL, &e) < 0, "applied");
	T_STREQ(kind, "patch_conflict");
	free(ch);
	free(head_tree);
	free(refs);
	free(made);
	check_untouched(&r);
	repo_free(&r);
}

/* What protect is checked against: both sides of every file, no /dev/null. */
static void patch_paths_name_both_sides(void)
{
	const char *patch = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n"
			    "diff --git a/old.py b/new.py\nsimilarity index 100%\n"
			    "rename from old.py\nrename to new.py\n"
			    "diff --git a/c.py b/c.py\nnew file mode 100644\n--- /dev/null\n"
			    "+++ b/c.py\n@@ -0,0 +1 @@\n+c\n"
			    "diff --git a/d.py b/d.py\ndeleted file mode 100644\n--- a/d.py\n"
			    "+++ /dev/null\n@@ -1 +0,0 @@\n-d\n";
	const char *want[] = {"a.py", "old.py", "new.py", "c.py", "d.py"};
	struct err e = {{0}};
	char **paths = NULL;
	size_t n = 0;

	T_CHECK(vcs_patch_paths(patch, &paths, &n, &e) == 0, "%s", e.msg);
	T_CHECK(n == ARRAY_LEN(want), "%zu paths", n);
	for (size_t i = 0; i < n && i < ARRAY_LEN(want); i++)
		T_STREQ(paths[i], want[i]);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	T_CHECK(vcs_patch_paths("not a patch at all", &paths, &n, &e) < 0 || n == 0,
		"a text with no diff names no path");
	free(paths);
}

static void refused_paths(void)
{
	static const struct {
		const char *change, *params_file, *names;
	} cases[] = {
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"/etc/passwd\",\"content\":\"x\"}]}",
		 NULL, "/etc/passwd"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"../outside.txt\",\"content\":\"x\"}]}",
		 NULL, "../outside.txt"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"model/../../x\",\"content\":\"x\"}]}",
		 NULL, "model/../../x"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\".git/config\",\"content\":\"x\"}]}",
		 NULL, ".git/config"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"model/.GIT/hooks/x\","
		 "\"content\":\"x\"}]}",
		 NULL, "model/.GIT/hooks/x"},
		/* Through a symlink in the parent tree, and onto one. */
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"linkdir/passwd\",\"content\":\"x\"}]}",
		 NULL, "linkdir/passwd"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"notes_link\",\"content\":\"x\"}]}",
		 NULL, "notes_link"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"linkdir/a/b\",\"content\":\"x\"}]}",
		 NULL, "linkdir/a/b"},
		{"{\"kind\":\"params\",\"params\":{\"lr\":1}}", "linkdir/hp.json",
		 "linkdir/hp.json"},
		{"{\"kind\":\"params\",\"params\":{\"lr\":1}}", "/abs/hp.json", "/abs/hp.json"},
		{"{\"kind\":\"params\",\"params\":{\"lr\":1}}", "notes_link", "notes_link"},
		/* Patches: through a symlink, onto one, into .git, making one. */
		{"diff --git a/linkdir/x b/linkdir/x\nnew file mode 100644\n--- /dev/null\n"
		 "+++ b/linkdir/x\n@@ -0,0 +1 @@\n+x\n",
		 NULL, "linkdir/x"},
		{"diff --git a/notes_link b/notes_link\n--- a/notes_link\n+++ b/notes_link\n"
		 "@@ -1 +1 @@\n-notes.txt\n+/etc/passwd\n",
		 NULL, "notes_link"},
		{"diff --git a/.git/hooks/pre-commit b/.git/hooks/pre-commit\n"
		 "new file mode 100755\n--- /dev/null\n+++ b/.git/hooks/pre-commit\n"
		 "@@ -0,0 +1 @@\n+x\n",
		 NULL, ".git/hooks/pre-commit"},
		{"diff --git a/esc b/esc\nnew file mode 120000\n--- /dev/null\n+++ b/esc\n"
		 "@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n",
		 NULL, "esc"},
		/* A file where a folder is needed, and the same file twice. */
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"notes.txt/x\",\"content\":\"x\"}]}",
		 NULL, "notes.txt/x"},
		{"{\"kind\":\"files\",\"files\":[{\"path\":\"a.txt\",\"content\":\"1\"},"
		 "{\"path\":\"a.txt\",\"content\":\"2\"}]}",
		 NULL, "a.txt"},
	};
	struct repo r;

	repo_make(&r);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct err e = {{0}};
		char oid[VCS_OID_HEX];
		const char *kind = NULL;
		char *ch = strncmp(cases[i].change, "diff", 4) ? xstrdup(cases[i].change)
							       : patch_change(cases[i].change);
		T_CHECK(commit(&r, ch, cases[i].params_file, oid, &kind, &e) < 0,
			"case %zu (%s) accepted", i, cases[i].names);
		T_STREQ(kind, "patch_rejected");
		T_CONTAINS(e.msg, cases[i].names);
		if (getenv("T_VERBOSE"))
			printf("# %s\n", e.msg);
		T_CHECK(!branch_exists(&r, BR), "branch made for case %zu", i);
		free(ch);
	}
	/* Malformed changes are refused the same way. */
	static const char *const bad[] = {"{\"kind\":\"files\"", "{\"kind\":\"rm\"}",
					  "{\"kind\":\"patch\",\"patch\":\"not a diff\"}"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct err e = {{0}};
		char oid[VCS_OID_HEX];
		const char *kind = NULL;
		T_CHECK(commit(&r, bad[i], NULL, oid, &kind, &e) < 0, "bad %zu accepted", i);
		T_STREQ(kind, "patch_rejected");
	}
	T_CHECK(!branch_exists(&r, BR), "branch made");
	check_untouched(&r);
	repo_free(&r);
}

static void other_failures_have_no_kind(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = "unset";

	repo_make(&r);
	T_CHECK(vcs_commit_change(r.dir, "0123456789abcdef0123456789abcdef01234567", NULL, NULL,
				  BR, "m", oid, &kind, &e) < 0,
		"unknown parent accepted");
	T_CHECK(kind == NULL, "kind %s", kind);
	T_CONTAINS(e.msg, "git: commit 0123456789abcdef0123456789abcdef01234567: ");
	T_CHECK(vcs_commit_change(r.dir, r.head, NULL, NULL, "bad..name", "m", oid, &kind, &e) < 0,
		"bad branch name accepted");
	T_CONTAINS(e.msg, "bad..name");
	char *nowhere = path_join(r.base, "nowhere");
	T_CHECK(vcs_commit_change(nowhere, r.head, NULL, NULL, BR, "m", oid, &kind, &e) < 0,
		"missing repository accepted");
	T_CONTAINS(e.msg, "git: ");
	T_CHECK(!branch_exists(&r, BR), "branch made");
	free(nowhere);
	repo_free(&r);
}

static void existing_branch_is_returned_and_nothing_made(void)
{
	struct repo r;
	struct err e = {{0}};
	char first[VCS_OID_HEX], second[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(commit(&r, "{\"kind\":\"params\",\"params\":{\"lr\":0.5}}", "hparams.json", first,
		       &kind, &e) == 0,
		"%s", e.msg);
	char *objs = sh_out("git -C '%s' count-objects | cut -d' ' -f1", r.dir);
	char *refs = sh_out("git -C '%s' for-each-ref | wc -l", r.dir);
	/* The same call again, and one with another change: both keep the branch. */
	T_CHECK(commit(&r, "{\"kind\":\"params\",\"params\":{\"lr\":0.5}}", "hparams.json", second,
		       &kind, &e) == 0,
		"%s", e.msg);
	T_STREQ(second, first);
	T_CHECK(commit(&r, "{\"kind\":\"files\",\"files\":[{\"path\":\"z\",\"content\":\"z\"}]}",
		       NULL, second, &kind, &e) == 0,
		"%s", e.msg);
	T_STREQ(second, first);
	char *objs2 = sh_out("git -C '%s' count-objects | cut -d' ' -f1", r.dir);
	char *refs2 = sh_out("git -C '%s' for-each-ref | wc -l", r.dir);
	T_STREQ(objs2, objs);
	T_STREQ(refs2, refs);
	free(objs);
	free(objs2);
	free(refs);
	free(refs2);
	repo_free(&r);
}

static void no_change_branches_at_the_parent(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	char *objs = sh_out("git -C '%s' count-objects | cut -d' ' -f1", r.dir);
	T_CHECK(commit(&r, NULL, NULL, oid, &kind, &e) == 0, "%s", e.msg);
	T_STREQ(oid, r.head);
	char *tip = sh_out("git -C '%s' rev-parse " BR, r.dir);
	char *objs2 = sh_out("git -C '%s' count-objects | cut -d' ' -f1", r.dir);
	T_STREQ(tip, r.head);
	T_STREQ(objs2, objs);
	check_untouched(&r);
	free(tip);
	free(objs);
	free(objs2);
	repo_free(&r);
}

static bool worktree_listed(struct repo *r, const char *path)
{
	return sh("git -C '%s' worktree list --porcelain | grep -qx 'worktree %s'", r->dir,
		  path) == 0;
}

static void worktree_add_remove_readd(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX], head[VCS_OID_HEX];
	const char *kind = NULL;
	bool dirty = true;

	repo_make(&r);
	T_CHECK(commit(&r, "{\"kind\":\"files\",\"files\":[{\"path\":\"model/train.py\","
			   "\"content\":\"print(3)\\n\"}]}",
		       NULL, oid, &kind, &e) == 0,
		"%s", e.msg);
	char *wt = path_join(r.base, "work/nodes/n0001");
	char *real_base = path_real(r.base, &e);
	char *real_wt = path_join(real_base, "work/nodes/n0001");
	char *file = path_join(wt, "model/train.py");

	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "%s", e.msg);
	T_CHECK(vcs_head(wt, head, &dirty, &e) == 0, "%s", e.msg);
	T_STREQ(head, oid);
	T_CHECK(!dirty, "new worktree dirty");
	char *text = fs_read(file, NULL, &e);
	T_STREQ(text, "print(3)\n");
	free(text);
	T_CHECK(worktree_listed(&r, real_wt), "not listed");
	char *br = sh_out("git -C '%s' symbolic-ref HEAD", wt);
	T_STREQ(br, "refs/heads/" BR);
	free(br);

	/* Remove; a second removal is not an error. */
	T_CHECK(vcs_worktree_remove(r.dir, "n0001", wt, &e) == 0, "%s", e.msg);
	T_CHECK(!fs_exists(wt), "folder left");
	T_CHECK(!worktree_listed(&r, real_wt), "still listed");
	T_CHECK(branch_exists(&r, BR), "branch removed with the worktree");
	T_CHECK(vcs_worktree_remove(r.dir, "n0001", wt, &e) == 0, "%s", e.msg);

	/* Re-add; then replace a stale one: folder deleted behind git's back. */
	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "%s", e.msg);
	T_CHECK(fs_exists(file), "re-added worktree empty");
	fs_remove_tree(wt);
	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "stale folder gone: %s", e.msg);
	T_CHECK(fs_exists(file), "worktree empty after replacing a stale one");

	/* A locked one with local edits, and a leftover folder with no metadata. */
	sh("git -C '%s' worktree lock '%s'; echo junk > '%s'", r.dir, wt, file);
	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "locked: %s", e.msg);
	text = fs_read(file, NULL, &e);
	T_STREQ(text, "print(3)\n");
	free(text);
	T_CHECK(vcs_worktree_remove(r.dir, "n0001", wt, &e) == 0, "%s", e.msg);
	sh("mkdir -p '%s/sub' && echo junk > '%s/sub/f'", wt, wt);
	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "leftover: %s", e.msg);
	T_CHECK(fs_exists(file), "worktree empty after a leftover folder");
	char *junk = path_join(wt, "sub/f");
	T_CHECK(!fs_exists(junk), "leftover kept");
	free(junk);

	/* Half-written metadata from a crash. */
	sh("git -C '%s' worktree remove --force '%s' && mkdir -p '%s/.git/worktrees/n0001'", r.dir,
	   wt, r.dir);
	T_CHECK(vcs_worktree_add(r.dir, "n0001", wt, BR, &e) == 0, "half metadata: %s", e.msg);
	T_CHECK(fs_exists(file), "worktree empty after half metadata");

	/* Errors: no such branch; names that are not one component; the repository. */
	T_CHECK(vcs_worktree_add(r.dir, "n0002", wt, "hypotop/none", &e) < 0, "no branch");
	T_CONTAINS(e.msg, "hypotop/none");
	T_CHECK(vcs_worktree_remove(r.dir, "..", wt, &e) < 0, "name ..");
	T_CHECK(vcs_worktree_remove(r.dir, "", wt, &e) < 0, "empty name");
	T_CHECK(vcs_worktree_remove(r.dir, "n0009", r.base, &e) < 0, "removed the repository");
	T_CHECK(fs_is_dir(r.dir), "repository gone");

	T_CHECK(vcs_worktree_remove(r.dir, "n0001", wt, &e) == 0, "%s", e.msg);
	T_CHECK(!fs_exists(wt), "folder left");
	check_untouched(&r);
	free(file);
	free(real_wt);
	free(real_base);
	free(wt);
	repo_free(&r);
}

/*
 * A pooled tree lent to the next node: at the same commit and untouched it
 * is not checked out again (its index stays the file it was); with what a
 * run changed, added or left ignored, it becomes the commit's exactly.
 */
/* The descriptors open now: the lowest limit under which nothing more opens. */
static int fds_open(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/*
 * What is left where a work tree goes cannot be removed for want of
 * descriptors: the error says so (EMFILE), so that the engine waits the
 * shortage out instead of failing the node.
 */
static void a_leftover_kept_by_a_shortage_of_descriptors_says_so(void)
{
	struct repo r;
	struct err e = {{0}};
	struct rlimit old;

	char oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(commit(&r, "{\"kind\":\"files\",\"files\":[{\"path\":\"a.py\","
			   "\"content\":\"print(3)\\n\"}]}",
		       NULL, oid, &kind, &e) == 0,
		"%s", e.msg);
	char *wt = path_join(r.base, "work/nodes/n0001");
	/* Each level of a removal holds a descriptor open: 40 levels need 40. */
	struct buf deep;
	buf_init(&deep);
	buf_adds(&deep, wt);
	for (int i = 0; i < 40; i++)
		buf_adds(&deep, "/d");
	T_CHECK(fs_mkdir_p(deep.data, 0755, &e) == 0, "%s", e.msg);
	T_CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0, "getrlimit");
	struct rlimit low = {(rlim_t)fds_open() + 12, old.rlim_max};
	T_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit");
	int rc = vcs_worktree_add(r.dir, "n0001", wt, BR, &e);
	setrlimit(RLIMIT_NOFILE, &old);
	T_CHECK(rc < 0, "the work tree was made in place of what is left there");
	T_CONTAINS(e.msg, "left there");
	T_CHECK(err_out_of_fds(&e), "the shortage is not said: %s", e.msg);
	buf_free(&deep);
	free(wt);
	repo_free(&r);
}

static void worktree_reused_for_the_same_commit(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX], again[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	sh("cd '%s' && echo '*.log' > .gitignore && git add .gitignore && "
	   "git -c user.name=t -c user.email=t@t commit -qm ignore",
	   r.dir);
	char *tip = sh_out("git -C '%s' rev-parse HEAD", r.dir);
	T_CHECK(vcs_commit_change(r.dir, tip, NULL, NULL, "hypotop/n0001", "one", oid, &kind,
				  &e) == 0,
		"%s", e.msg);
	T_CHECK(vcs_commit_change(r.dir, tip, NULL, NULL, "hypotop/n0002", "two", again, &kind,
				  &e) == 0,
		"%s", e.msg);
	T_STREQ(again, oid);
	char *wt = path_join(r.base, "trees/wt0");
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	char *index = sh_out("cd '%s' && realpath \"$(git rev-parse --git-path index)\"", wt);
	/* Files older than the index, which git would otherwise hash again (racily clean). */
	sh("cd '%s' && find . -path ./.git -prune -o -type f -exec touch -d '-10 seconds' {} + && "
	   "git update-index -q --really-refresh",
	   wt);
	struct stat before, after;
	T_CHECK(stat(index, &before) == 0, "no index at %s", index);

	/* Untouched: the next node's branch, no checkout. */
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0002", &e) == 0, "%s", e.msg);
	char *br = sh_out("git -C '%s' symbolic-ref HEAD", wt);
	T_STREQ(br, "refs/heads/hypotop/n0002");
	free(br);
	T_CHECK(stat(index, &after) == 0 && after.st_ino == before.st_ino &&
			after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
			after.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
		"the index of an untouched tree was written again");

	/* What a run leaves: an edit, a new file, an ignored one, a new folder. */
	sh("cd '%s' && echo junk > notes.txt && echo new > new.txt && echo x > run.log && "
	   "mkdir -p out && echo y > out/f",
	   wt);
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	char *st = sh_out("git -C '%s' status --porcelain --ignored | head -1", wt);
	T_STREQ(st, "");
	free(st);
	char *notes = path_join(wt, "notes.txt"), *text = fs_read(notes, NULL, &e);
	T_STREQ(text, "a\nb\nc\n");
	free(text);
	free(notes);
	br = sh_out("git -C '%s' symbolic-ref HEAD", wt);
	T_STREQ(br, "refs/heads/hypotop/n0001");
	free(br);
	T_CHECK(vcs_worktree_remove(r.dir, "wt0", wt, &e) == 0, "%s", e.msg);
	check_untouched_at(&r, tip);
	free(index);
	free(wt);
	free(tip);
	repo_free(&r);
}

/*
 * Reuse the tree for branch until its seal holds: the files' change times
 * must fall before a tick of the kernel's coarse clock first (a poll with
 * a deadline, a few milliseconds in practice).
 */
static bool reuse_until_sealed(struct repo *r, const char *wt, const char *gitdir,
			       const char *branch, const git_oid *id)
{
	struct err e = {{0}};
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (vcs_worktree_add(r->dir, "wt0", wt, branch, &e) < 0) {
			printf("# %s\n", e.msg);
			return false;
		}
		if (vcs_seal_intact(wt, gitdir, id, NULL))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 10);
	return false;
}

/* The tree is clean at the commit and its branch is checked out: what a seal must keep. */
static void check_clean(const char *wt, const char *branch)
{
	char *st = sh_out("git -C '%s' status --porcelain --ignored | head -1", wt);
	T_STREQ(st, "");
	free(st);
	char *br = sh_out("git -C '%s' symbolic-ref HEAD", wt);
	char *want = xasprintf("refs/heads/%s", branch);
	T_STREQ(br, want);
	free(want);
	free(br);
}

/*
 * A sealed tree is reused without asking git; every kind of change a run
 * can make breaks the seal (a link or a fifo in place of what was there
 * too), and the tree is cleaned as without one.
 */
static void a_sealed_tree_is_reused_and_any_change_breaks_the_seal(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX], again[VCS_OID_HEX];
	const char *kind = NULL;
	git_oid id, other;

	repo_make(&r);
	T_CHECK(vcs_commit_change(r.dir, r.head, NULL, NULL, "hypotop/n0001", "one", oid, &kind,
				  &e) == 0,
		"%s", e.msg);
	T_CHECK(vcs_commit_change(r.dir, r.head, NULL, NULL, "hypotop/n0002", "two", again,
				  &kind, &e) == 0,
		"%s", e.msg);
	git_oid_fromstr(&id, oid);
	char *wt = path_join(r.base, "trees/wt0");
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	char *gitdir = sh_out("cd '%s' && git rev-parse --absolute-git-dir", wt);
	char *notes = path_join(wt, "notes.txt"), *deep = path_join(wt, "model/train.py");
	char *index = path_join(gitdir, "index");

	T_CHECK(reuse_until_sealed(&r, wt, gitdir, "hypotop/n0002", &id), "never sealed");
	check_clean(wt, "hypotop/n0002");
	git_oid_fromstr(&other, "0123456789012345678901234567890123456789");
	T_CHECK(!vcs_seal_intact(wt, gitdir, &other, NULL), "sealed at another commit");

	/* The same size written in place, its modification time put back. */
	struct stat st;
	T_CHECK(stat(notes, &st) == 0, "%s", notes);
	T_CHECK(sh("printf 'x\\ny\\nz\\n' > '%s'", notes) == 0, "write");
	struct timespec times[2] = {st.st_atim, st.st_mtim};
	T_CHECK(utimensat(AT_FDCWD, notes, times, 0) == 0, "utimensat");
	char **unseen = NULL;
	T_CHECK(!vcs_seal_intact(wt, gitdir, &id, &unseen), "an edit in place left the seal");
	T_CHECK(unseen && unseen[0] && !strcmp(unseen[0], "notes.txt") && !unseen[1],
		"the edit is not named as one git cannot see: %s", unseen && unseen[0] ? unseen[0] : "(none)");
	for (char **f = unseen; f && *f; f++)
		free(*f);
	free(unseen);
	T_CHECK(reuse_until_sealed(&r, wt, gitdir, "hypotop/n0001", &id), "not sealed again");
	check_clean(wt, "hypotop/n0001");
	char *text = fs_read(notes, NULL, &e);
	T_STREQ(text, "a\nb\nc\n");
	free(text);

	/* A file in a folder below, a mode, a rename, the index: each breaks it. */
	const char *changes[] = {
		"echo y > model/out.txt",
		"chmod +x notes.txt",
		"mv docs/README docs/README.md",
		"git add -N notes.txt && touch .git 2>/dev/null; touch -c \"$(git rev-parse "
		"--git-path index)\"",
		"rm notes_link",
		"mkdir cache",
		"mkdir -p ../../outside && rm -r model && ln -s ../../outside model",
		"rm notes.txt && mkfifo notes.txt",
		"rm -r docs && echo x > docs",
	};
	for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
		T_CHECK(sh("cd '%s' && %s", wt, changes[i]) == 0, "%s", changes[i]);
		T_CHECK(!vcs_seal_intact(wt, gitdir, &id, NULL), "the seal held after: %s", changes[i]);
		T_CHECK(reuse_until_sealed(&r, wt, gitdir, "hypotop/n0002", &id), "after: %s",
			changes[i]);
		check_clean(wt, "hypotop/n0002");
	}

	char *outside = path_join(r.base, "outside");
	T_CHECK(sh("test -z \"$(ls -A '%s')\"", outside) == 0, "written through the link");
	free(outside);

	/* Changed in the tick it is sealed in (here: a time ahead of the clock): not sealed. */
	T_CHECK(sh("touch -d '+1 hour' '%s'", deep) == 0, "touch");
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	T_CHECK(!vcs_seal_intact(wt, gitdir, &id, NULL), "sealed a tree with a file newer than the seal");
	check_clean(wt, "hypotop/n0001");

	T_CHECK(vcs_worktree_remove(r.dir, "wt0", wt, &e) == 0, "%s", e.msg);
	T_CHECK(!vcs_seal_intact(wt, gitdir, &id, NULL), "a removed tree is still sealed");
	free(index);
	free(deep);
	free(notes);
	free(gitdir);
	free(wt);
	repo_free(&r);
}

/* The target of the symlink at path, or "" when it is none; caller frees. */
static char *link_at(const char *path)
{
	char buf[4096];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	buf[n > 0 ? n : 0] = '\0';
	return xstrdup(buf);
}

/*
 * What a run leaves in a tree that is not the commit's is removed before
 * the next checkout, never followed: a link in place of a tracked folder,
 * a file where a folder was and the reverse, a hard link to a file
 * outside, links in an untracked folder. The commit's own links stay.
 */
static void a_reused_tree_is_cleaned_without_following_links(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;
	struct stat st, link_before, link_after;

	repo_make(&r);
	T_CHECK(vcs_commit_change(r.dir, r.head, NULL, NULL, "hypotop/n0001", "one", oid, &kind,
				  &e) == 0,
		"%s", e.msg);
	char *wt = path_join(r.base, "trees/wt0"), *out = path_join(r.base, "outside");
	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	char *lnk = path_join(wt, "notes_link");
	T_CHECK(lstat(lnk, &link_before) == 0, "%s", lnk);
	T_CHECK(sh("set -e; mkdir '%s'; cd '%s'; echo outside > train.py; echo keep > notes.txt;"
		   "cd '%s'; rm -r model docs run.sh notes.txt; ln -s '%s' model; echo x > docs;"
		   "mkdir -p run.sh/sub; ln -s '%s' run.sh/sub/out; ln '%s/notes.txt' notes.txt;"
		   "mkdir ckpt; ln -s '%s' ckpt/out; ln -s '%s/train.py' ckpt/train.py",
		   out, out, wt, out, out, out, out, out) == 0,
		"plant");

	T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
	char *sum = sh_out("cd '%s' && ls -A | tr '\\n' ' ' && cat train.py notes.txt | tr '\\n' ' '",
			   out);
	T_STREQ(sum, "notes.txt train.py outside keep ");
	free(sum);
	check_clean(wt, "hypotop/n0001");
	char *model = path_join(wt, "model"), *notes = path_join(wt, "notes.txt");
	T_CHECK(lstat(model, &st) == 0 && S_ISDIR(st.st_mode), "model is not a folder");
	T_CHECK(lstat(notes, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1,
		"notes.txt is still linked to the file outside");
	char *ckpt = path_join(wt, "ckpt");
	T_CHECK(!fs_exists(ckpt), "an untracked folder was left");
	T_CHECK(lstat(lnk, &link_after) == 0 && link_after.st_ino == link_before.st_ino,
		"the commit's own link was made again");
	char *target = link_at(lnk);
	T_STREQ(target, "notes.txt");
	free(target);

	T_CHECK(vcs_worktree_remove(r.dir, "wt0", wt, &e) == 0, "%s", e.msg);
	check_untouched(&r);
	free(ckpt);
	free(notes);
	free(model);
	free(lnk);
	free(out);
	free(wt);
	repo_free(&r);
}

/*
 * The cleaning itself, on a tree git made: each kind of thing a run can
 * leave is removed, none is followed or opened (a fifo would block), and
 * what is the commit's is kept as it is.
 */
static void scrub_removes_what_is_not_the_commits(void)
{
	struct repo r;
	struct err e = {{0}};
	git_repository *repo;
	git_object *tree = NULL;
	struct stat st;

	repo_make(&r);
	char *wt = path_join(r.base, "wt"), *out = path_join(r.base, "outside");
	T_CHECK(sh("set -e; git -C '%s' worktree add -q --detach '%s'; mkdir '%s';"
		   "echo keep > '%s/f'; cd '%s';"
		   "rm -r docs && ln -s '%s' docs;"               /* a link for a folder */
		   "rm notes.txt && mkfifo notes.txt;"            /* a fifo for a file */
		   "rm -r model && echo x > model;"               /* a file for a folder */
		   "rm run.sh && mkdir -p run.sh/a;"              /* a folder for a file */
		   "rm notes_link && echo x > notes_link;"        /* a file for a link */
		   "rm hparams.json && ln '%s/f' hparams.json;"   /* a hard link */
		   "python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")';"
		   "mkdir -p ckpt/deep/er .git-not; ln -s '%s' ckpt/out; mkfifo ckpt/deep/er/p;"
		   "echo 1 > ckpt/deep/w; echo 1 > top.log",
		   r.dir, wt, out, out, wt, out, out, out) == 0,
		"plant");
	char *linkdir = path_join(wt, "linkdir");
	struct stat before;
	T_CHECK(lstat(linkdir, &before) == 0, "no tracked link");

	T_CHECK(vcs_repo(&repo, r.dir, &e) == 0, "%s", e.msg);
	T_CHECK(git_revparse_single(&tree, repo, "HEAD^{tree}") == 0, "%s", vcs_git_msg());
	T_CHECK(vcs_scrub(wt, (git_tree *)tree, &e) == 0, "%s", e.msg);
	char *left = sh_out("cd '%s' && find . -path ./.git -prune -o -printf '%%y:%%p\\n' | "
			    "sort | tr '\\n' ' '",
			    wt);
	T_STREQ(left, "d:. f:./broken.json l:./linkdir ");
	free(left);
	T_CHECK(lstat(linkdir, &st) == 0 && st.st_ino == before.st_ino, "the tracked link was replaced");
	char *sum = sh_out("cd '%s' && ls -A | tr '\\n' ' ' && cat f", out);
	T_STREQ(sum, "f keep");
	free(sum);
	char *dotgit = path_join(wt, ".git");
	T_CHECK(lstat(dotgit, &st) == 0 && S_ISREG(st.st_mode), "the tree's .git was removed");
	free(dotgit);

	/* Then git makes it the commit's again. */
	T_CHECK(sh("git -C '%s' checkout -q -f HEAD -- . && test -z \"$(git -C '%s' status "
		   "--porcelain --ignored)\"",
		   wt, wt) == 0,
		"not the commit's after a checkout");
	git_object_free(tree);
	free(linkdir);
	free(out);
	free(wt);
	repo_free(&r);
}

/*
 * A link a run put in place of the tree's .git or of the tree itself
 * leads into another repository, here the source's own: the tree is made
 * again, and its removal removes the link, not what it names.
 */
static void a_tree_a_run_replaced_with_a_link_is_made_again(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;
	struct stat st;

	repo_make(&r);
	T_CHECK(vcs_commit_change(r.dir, r.head, NULL, NULL, "hypotop/n0001", "one", oid, &kind,
				  &e) == 0,
		"%s", e.msg);
	char *wt = path_join(r.base, "trees/wt0"), *dotgit = path_join(wt, ".git");
	char *mine = path_join(r.dir, "mine.txt");
	T_CHECK(sh("echo work > '%s'", mine) == 0, "mine.txt");
	const char *plants[] = {
		"rm \"$wt/.git\" && ln -s \"$src/.git\" \"$wt/.git\"",
		"rm -r \"$wt\" && ln -s \"$src\" \"$wt\"",
		"rm \"$wt/.git\" && mkfifo \"$wt/.git\"",
	};
	for (size_t i = 0; i < sizeof plants / sizeof *plants; i++) {
		T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s", e.msg);
		T_CHECK(sh("wt='%s' src='%s'; %s", wt, r.dir, plants[i]) == 0, "%s", plants[i]);
		T_CHECK(vcs_worktree_add(r.dir, "wt0", wt, "hypotop/n0001", &e) == 0, "%s: %s",
			plants[i], e.msg);
		T_CHECK(lstat(wt, &st) == 0 && S_ISDIR(st.st_mode) && lstat(dotgit, &st) == 0 &&
				S_ISREG(st.st_mode),
			"not made again after: %s", plants[i]);
		check_clean(wt, "hypotop/n0001");
		char *st_src = sh_out("git -C '%s' status --porcelain", r.dir);
		char *head = sh_out("git -C '%s' symbolic-ref HEAD", r.dir);
		T_STREQ(st_src, "?? mine.txt");
		T_STREQ(head, "refs/heads/main");
		free(head);
		free(st_src);
	}
	T_CHECK(sh("rm -r '%s' && ln -s '%s' '%s'", wt, r.dir, wt) == 0, "link");
	T_CHECK(vcs_worktree_remove(r.dir, "wt0", wt, &e) == 0, "%s", e.msg);
	T_CHECK(lstat(wt, &st) < 0 && fs_exists(mine), "removed through the link");
	unlink(mine);
	check_untouched(&r);
	free(mine);
	free(dotgit);
	free(wt);
	repo_free(&r);
}

/* A branch a power cut lost is made again from the commit the journal names. */
static void lost_branches_are_made_again(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;

	repo_make(&r);
	T_CHECK(commit(&r, "{\"kind\":\"files\",\"files\":[{\"path\":\"z\",\"content\":\"z\"}]}",
		       NULL, oid, &kind, &e) == 0,
		"%s", e.msg);
	char *branch[] = {BR, "hypotop/n0002"};
	char *commits[] = {oid, r.head};
	sh("git -C '%s' update-ref -d refs/heads/" BR, r.dir);
	T_CHECK(!branch_exists(&r, BR), "the branch is still there");
	T_CHECK(vcs_branches_restore(r.dir, 2, branch, commits, &e) == 2, "%s", e.msg);
	char *tip = sh_out("git -C '%s' rev-parse " BR, r.dir);
	T_STREQ(tip, oid);
	free(tip);
	tip = sh_out("git -C '%s' rev-parse hypotop/n0002", r.dir);
	T_STREQ(tip, r.head);
	free(tip);
	T_CHECK(vcs_branches_restore(r.dir, 2, branch, commits, &e) == 0, "made twice");

	/* A commit that is not there is said, and the others are still made. */
	char *lost[] = {"hypotop/n0003", "hypotop/n0004"};
	char *lost_commits[] = {"feedfacefeedfacefeedfacefeedfacefeedface", r.head};
	T_CHECK(vcs_branches_restore(r.dir, 2, lost, lost_commits, &e) < 0, "a lost commit");
	T_CONTAINS(e.msg, "hypotop/n0003");
	T_CONTAINS(e.msg, "feedface");
	T_CHECK(branch_exists(&r, "hypotop/n0004"), "the next branch was not made");

	/* A git command holding the branch's lock: refused, and said how to clear it. */
	sh("touch '%s/.git/refs/heads/hypotop/n0005.lock'", r.dir);
	char *held[] = {"hypotop/n0005"};
	T_CHECK(vcs_branches_restore(r.dir, 1, held, commits, &e) < 0, "a held lock");
	T_CONTAINS(e.msg, "n0005.lock");
	T_CONTAINS(e.msg, "remove the lock file");
	check_untouched(&r);
	repo_free(&r);
}

/* The highest node branch, loose or packed; other names and other branches do not count. */
static void the_highest_node_branch(void)
{
	struct repo r;
	struct err e = {{0}};
	long top = 0;

	repo_make(&r);
	T_CHECK(vcs_branch_top(r.dir, "hypotop/n", 999999, &top, &e) == 0 && top == -1,
		"no branch: %ld %s", top, e.msg);
	sh("set -e; cd '%s'; for b in hypotop/n0003 hypotop/n0012 other/n0099 hypotop/n0040x "
	   "hypotop/n1000000 hypotop/notes; do git branch $b; done; git pack-refs --all; "
	   "git branch hypotop/n0007",
	   r.dir);
	T_CHECK(vcs_branch_top(r.dir, "hypotop/n", 999999, &top, &e) == 0 && top == 12,
		"top %ld %s", top, e.msg);
	sh("git -C '%s' branch hypotop/n0031", r.dir);
	T_CHECK(vcs_branch_top(r.dir, "hypotop/n", 999999, &top, &e) == 0 && top == 31,
		"loose: top %ld %s", top, e.msg);
	repo_free(&r);
}

static void read_file_at_commit(void)
{
	struct repo r;
	struct err e = {{0}};
	char *text = NULL;
	size_t len = 0;

	repo_make(&r);
	T_CHECK(vcs_read_file(r.dir, r.head, "docs/README", &text, &len, &e) == 0, "%s", e.msg);
	T_STREQ(text, "doc\n");
	T_CHECK(len == 4, "len %zu", len);
	free(text);
	T_CHECK(vcs_read_file(r.dir, r.head, "docs/nope", &text, &len, &e) < 0, "missing read");
	T_CHECK(text == NULL, "text set on failure");
	T_CONTAINS(e.msg, "docs/nope");
	T_CHECK(vcs_read_file(r.dir, r.head, "docs", &text, &len, &e) < 0, "folder read");
	T_CONTAINS(e.msg, "not a file");
	T_CHECK(vcs_read_file(r.dir, "feedfacefeedfacefeedfacefeedfacefeedface", "notes.txt", &text,
			      &len, &e) < 0,
		"bad commit");
	T_CONTAINS(e.msg, "git: commit feedfacefeedfacefeedfacefeedfacefeedface: ");
	repo_free(&r);
}

static void diff_between_commits(void)
{
	struct repo r;
	struct err e = {{0}};
	char oid[VCS_OID_HEX], again[VCS_OID_HEX];
	const char *kind = NULL;
	char *text = NULL;
	char *ch = patch_change(patch_ok);

	repo_make(&r);
	T_CHECK(commit(&r, ch, NULL, oid, &kind, &e) == 0, "%s", e.msg);
	T_CHECK(vcs_diff(r.dir, r.head, oid, &text, &e) == 0, "%s", e.msg);
	T_CONTAINS(text, "diff --git a/notes.txt b/notes.txt\n");
	T_CONTAINS(text, "-b\n+B\n");
	T_CONTAINS(text, "diff --git a/added.txt b/added.txt\nnew file mode 100644\n");
	/* The diff is a patch that makes the same tree again. */
	char *ch2 = patch_change(text ? text : "");
	T_CHECK(vcs_commit_change(r.dir, r.head, ch2, NULL, "hypotop/n0002", "again", again,
				  &kind, &e) == 0,
		"%s", e.msg);
	char *t1 = sh_out("git -C '%s' rev-parse '%s^{tree}'", r.dir, oid);
	char *t2 = sh_out("git -C '%s' rev-parse '%s^{tree}'", r.dir, again);
	T_STREQ(t2, t1);
	free(text);
	T_CHECK(vcs_diff(r.dir, oid, oid, &text, &e) == 0, "%s", e.msg);
	T_STREQ(text, "");
	free(text);
	T_CHECK(vcs_diff(r.dir, r.head, "nosuchrev", &text, &e) < 0, "bad commit");
	T_CONTAINS(e.msg, "git: commit nosuchrev: ");
	free(t1);
	free(t2);
	free(ch2);
	free(ch);
	repo_free(&r);
}

/*
 * The sources a repair is shown: the launch and build scripts first, then
 * the files of the traceback, then those the change names; never a data
 * file, however loudly the log names it.
 */
static void repair_sources_are_ranked_and_no_data(void)
{
	struct repo r;
	struct err e = {{0}};
	struct sources src;

	repo_make(&r);
	if (sh("set -e; cd '%s'; mkdir -p data;"
	       "python3 -c \"print('the quick brown fox\\n' * 2500, end='')\" > data/input.txt;"
	       "printf 'x,y\\n1,2\\n' > data/rows.csv;"
	       "printf 'import model\\n' > train.py; printf 'def f(): pass\\n' > model.py;"
	       "printf 'pass\\n' > aaa_helpers.py;"
	       "git add -A; git -c user.name=t -c user.email=t@t commit -qm data",
	       r.dir) != 0 ||
	    vcs_head(r.dir, r.head, NULL, &e) < 0) {
		T_CHECK(0, "repository: %s", e.msg);
		repo_free(&r);
		return;
	}
	const char *hints[] = {"python3 train.py --data data/input.txt", NULL,
			       "loading data/input.txt and data/rows.csv\nTraceback (most recent "
			       "call last):\n  File \"/w/src/model.py\", line 1, in <module>\n"
			       "NameError: name 'x' is not defined\n",
			       NULL, "the program exited with status 1"};
	sources_gather(r.dir, r.head, hints, ARRAY_LEN(hints), &src);
	T_CHECK(src.n == 2, "%zu sources", src.n);
	T_CHECK(src.n > 0 && !strcmp(src.v[0].path, "train.py"), "first: %s",
		src.n ? src.v[0].path : "none");
	T_CHECK(src.n > 1 && !strcmp(src.v[1].path, "model.py"), "second: %s",
		src.n > 1 ? src.v[1].path : "none");
	for (size_t i = 0; i < src.n; i++)
		T_CHECK(strncmp(src.v[i].path, "data/", 5), "a data file: %s", src.v[i].path);
	sources_free(&src);

	/* Nothing named: the tree's sources, still no data. */
	const char *none[] = {"./run.sh", NULL};
	sources_gather(r.dir, r.head, none + 1, 1, &src);
	T_CHECK(src.n > 0, "no sources");
	for (size_t i = 0; i < src.n; i++)
		T_CHECK(strncmp(src.v[i].path, "data/", 5) && strcmp(src.v[i].path, "notes.txt"),
			"a data file: %s", src.v[i].path);
	sources_free(&src);
	repo_free(&r);
}

static const struct source_file *source_find(const struct sources *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].path, path))
			return &s->v[i];
	return NULL;
}

/*
 * What a plan is shown of the code at the node's commit: the launch
 * script, the param file and the changed file whole, llm.context's globs;
 * never a binary file, never a data file; and on a tree of 5 MB, no more
 * text than llm.context_bytes, the changed file still whole.
 */
static void plan_sources_in_scope_within_the_budget(void)
{
	struct repo r;
	struct err e = {{0}};
	struct sources src;
	char base[VCS_OID_HEX];

	repo_make(&r);
	if (sh("set -e; cd '%s'; mkdir -p lib data;"
	       "printf 'import lib\\nprint(\\\"step=1\\\")\\n' > train.py;"
	       "printf 'x,y\\n1,2\\n' > data/rows.csv;"
	       "printf 'def f():\\n\\0return 1\\n' > lib/blob.py;"
	       "python3 -c \"\n"
	       "for i in range(700):\n"
	       "    open('lib/m%%03d.py' %% i, 'w').write((('w%%d = 1 # ' %% i).ljust(74, 'x') + "
	       "'\\n') * 100)\n\";"
	       "git add -A; git -c user.name=t -c user.email=t@t commit -qm tree",
	       r.dir) != 0 ||
	    vcs_head(r.dir, base, NULL, &e) < 0 ||
	    sh("set -e; cd '%s'; printf 'print(2)\\nwidth = 4096\\n' > model/train.py;"
	       "git -c user.name=t -c user.email=t@t commit -qam change",
	       r.dir) != 0 ||
	    vcs_head(r.dir, r.head, NULL, &e) < 0) {
		T_CHECK(0, "repository: %s", e.msg);
		repo_free(&r);
		return;
	}
	cJSON *doc = cJSON_Parse("{\"search_space\": {\"file\": \"hparams.json\"}, "
				 "\"context\": [\"lib/*.py\", \"data/*\"]}");
	struct config c = {.source_dir = r.dir, .launch = "python3 train.py --data data/rows.csv",
			   .search_space = cJSON_GetObjectItemCaseSensitive(doc, "search_space"),
			   .llm_context = cJSON_GetObjectItemCaseSensitive(doc, "context"),
			   .llm_context_bytes = 1 << 20};
	/* Within the budget: all whole, no binary, and the globbed data file asked for. */
	c.llm_context = NULL;
	sources_scope(&c, base, r.head, &src);
	const struct source_file *f = source_find(&src, "train.py");
	T_CHECK(f && f->text && strstr(f->text, "step=1"), "the launch script: %s",
		f && f->text ? f->text : "missing");
	f = source_find(&src, "model/train.py");
	T_CHECK(f && f->text && strstr(f->text, "width = 4096"), "the changed file: %s",
		f && f->text ? f->text : "missing");
	T_CHECK(source_find(&src, "hparams.json") != NULL, "no param file");
	T_CHECK(!source_find(&src, "data/rows.csv"), "a data file no glob asked for");
	T_CHECK(!source_find(&src, "lib/m000.py"), "a file out of scope");
	sources_free(&src);

	/* 5 MB in scope: the budget holds, the changed file first and whole. */
	c.llm_context = cJSON_GetObjectItemCaseSensitive(doc, "context");
	c.llm_context_bytes = 65536;
	sources_scope(&c, base, r.head, &src);
	size_t whole = 0, named = 0;
	for (size_t i = 0; i < src.n; i++) {
		T_CHECK(strcmp(src.v[i].path, "lib/blob.py"), "a binary file is shown");
		whole += src.v[i].text ? src.v[i].size : 0;
		named += !src.v[i].text;
	}
	T_CHECK(whole <= 65536 && whole > 32768, "%zu bytes whole", whole);
	T_CHECK(named > 0 && src.more > 0, "%zu named, %zu more", named, src.more);
	T_CHECK(src.n > 0 && !strcmp(src.v[0].path, "model/train.py") && src.v[0].text,
		"first: %s", src.n ? src.v[0].path : "none");
	f = source_find(&src, "data/rows.csv");
	T_CHECK(f && f->text, "the data file a glob asked for");
	struct plan_entry h[] = {{"n0001", NULL, "x", "completed", NULL, NULL, true, 1, NULL,
				  NULL}};
	struct plan_request pr = {.cfg = &c, .history = h, .nhistory = 1, .node = "n0001",
				  .want = 3, .files = src.v, .nfiles = src.n,
				  .files_more = src.more};
	struct llm_prompt p;
	llm_prompt_plan(&pr, NULL, &p);
	T_CHECK(strlen(p.request) < 65536 + 32768, "a request of %zu bytes", strlen(p.request));
	T_CHECK(!strstr(p.request, "lib/blob.py"), "a binary file in the prompt");
	llm_prompt_free(&p);
	sources_free(&src);
	cJSON_Delete(doc);
	repo_free(&r);
}

int main(void)
{
	vcs_init();
	T_RUN(params_change_commits_the_param_file);
	T_RUN(params_change_refused_as_params_invalid);
	T_RUN(files_change_replaces_and_creates);
	T_RUN(patch_change_applies);
	T_RUN(patch_that_does_not_apply_is_a_conflict);
	T_RUN(change_tree_is_the_commits_tree_without_a_commit);
	T_RUN(edit_change_replaces_compounds_and_creates);
	T_RUN(edit_refusals_say_where_to_look);
	T_RUN(patch_conflict_shows_the_lines_around_the_hunk);
	T_RUN(refused_paths);
	T_RUN(other_failures_have_no_kind);
	T_RUN(existing_branch_is_returned_and_nothing_made);
	T_RUN(no_change_branches_at_the_parent);
	T_RUN(worktree_add_remove_readd);
	T_RUN(worktree_reused_for_the_same_commit);
	T_RUN(a_sealed_tree_is_reused_and_any_change_breaks_the_seal);
	T_RUN(a_reused_tree_is_cleaned_without_following_links);
	T_RUN(scrub_removes_what_is_not_the_commits);
	T_RUN(a_tree_a_run_replaced_with_a_link_is_made_again);
	T_RUN(lost_branches_are_made_again);
	T_RUN(the_highest_node_branch);
	T_RUN(read_file_at_commit);
	T_RUN(diff_between_commits);
	T_RUN(a_leftover_kept_by_a_shortage_of_descriptors_says_so);
	T_RUN(patch_paths_name_both_sides);
	T_RUN(repair_sources_are_ranked_and_no_data);
	T_RUN(plan_sources_in_scope_within_the_budget);
	vcs_shutdown();
	T_END();
}
