/* Unit tests: atomic writes and the journal. */
#include "t.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/journal.h"
#include "hypotop/json.h"

static void atomic_write_replaces_whole(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "f.json");
	struct err e = {{0}};
	size_t len;

	T_CHECK(fs_write_atomic(p, "old", 3, 0644, &e) == 0, "%s", e.msg);
	/* A temporary file a crash left under the same name lends it nothing. */
	char *left = xasprintf("%s.partial.%ld", p, (long)getpid());
	FILE *lf = fopen(left, "w");
	T_CHECK(lf && fputs("left over, and longer than what replaces it", lf) >= 0 &&
			fclose(lf) == 0 && chmod(left, 0666) == 0,
		"%s", left);
	free(left);
	T_CHECK(fs_write_atomic(p, "new text", 8, 0600, &e) == 0, "%s", e.msg);
	char *got = fs_read(p, &len, &e);
	T_CHECK(got && len == 8 && !memcmp(got, "new text", 8), "content");
	free(got);
	/* An empty file reads as "", terminated. */
	T_CHECK(fs_write_atomic(p, "", 0, 0600, &e) == 0, "%s", e.msg);
	got = fs_read(p, &len, &e);
	T_CHECK(got && len == 0 && !strcmp(got, ""), "an empty file read as %zu bytes: %.8s", len,
		got ? got : "(null)");
	free(got);
	T_CHECK(fs_write_atomic(p, "new text", 8, 0600, &e) == 0, "%s", e.msg);
	got = fs_read(p, &len, &e);
	struct stat st;
	T_CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	/* No temp file is left behind. */
	char *cmd = xasprintf("test $(ls -A %s | wc -l) -eq 1", dir);
	T_CHECK(system(cmd) == 0, "stray temp files in %s", dir);
	free(cmd);
	free(got);
	/* Writing into a missing folder fails with the path in the message. */
	char *bad = path_join(dir, "missing/f.json");
	T_CHECK(fs_write_atomic(bad, "x", 1, 0644, &e) < 0, "missing folder accepted");
	T_CONTAINS(e.msg, "missing/f.json");
	free(bad);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

struct seen {
	int n;
	double seqs[64];
};

static int collect(void *ctx, const cJSON *ev, int line, struct err *e)
{
	struct seen *s = ctx;
	double seq = 0;

	(void)line;
	(void)e;
	json_get_num(ev, "seq", "t", &seq, e);
	s->seqs[s->n++] = seq;
	return 0;
}

static void append_file(const char *p, const char *text)
{
	int fd = open(p, O_WRONLY | O_APPEND);
	T_CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "append");
	close(fd);
}

static void journal_group_commit_and_replay(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal j;
	struct journal_info info = {0};
	struct seen s = {0};

	info.base = 7;
	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	for (int i = 8; i < 18; i++) {
		char line[64];
		int n = snprintf(line, sizeof line, "{\"seq\":%d}", i);
		journal_append(&j, line, (size_t)n);
	}
	/* Nothing reaches the file before the commit. */
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0 && s.n == 0, "early: %d", s.n);
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	T_CHECK(j.lines == 10, "lines %llu", (unsigned long long)j.lines);
	journal_close(&j);
	s.n = 0;
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "%s", e.msg);
	T_CHECK(s.n == 10 && s.seqs[0] == 8 && s.seqs[9] == 17, "replayed %d", s.n);
	T_CHECK(info.base == 7 && !info.torn_line, "base %llu", (unsigned long long)info.base);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

/* Light lines are written by a commit, in order, and ask for no flush of their own. */
static void light_lines_are_written_in_order(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal j;
	struct journal_info info = {0};
	struct seen s = {0};

	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	journal_append_light(&j, "{\"seq\":1}", 9);
	T_CHECK(!j.want_sync, "a light line asks for a flush");
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0 && s.n == 1, "light: %d", s.n);
	journal_append_light(&j, "{\"seq\":2}", 9);
	journal_append(&j, "{\"seq\":3}", 9);
	T_CHECK(j.want_sync, "a durable line asks for no flush");
	T_CHECK(journal_write(&j, &e) == 0 && j.want_sync, "written, and still to be flushed");
	T_CHECK(journal_commit(&j, &e) == 0 && !j.want_sync, "%s", e.msg);
	journal_close(&j);
	s.n = 0;
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "%s", e.msg);
	T_CHECK(s.n == 3 && s.seqs[0] == 1 && s.seqs[1] == 2 && s.seqs[2] == 3, "replayed %d",
		s.n);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

static void torn_last_line_is_ignored_and_cut(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal j;
	struct journal_info info = {0};
	struct seen s = {0};

	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	journal_append(&j, "{\"seq\":1}", 9);
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	journal_close(&j);
	append_file(p, "{\"seq\":2,\"node\":{\"id\":\"n00");
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "torn tail is fatal: %s", e.msg);
	T_CHECK(s.n == 1 && info.torn_line == 3, "n=%d torn=%d", s.n, info.torn_line);
	/* Opening for append cuts the tail, so the next line is whole. */
	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	journal_append(&j, "{\"seq\":2}", 9);
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	journal_close(&j);
	s.n = 0;
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "%s", e.msg);
	T_CHECK(s.n == 2 && !info.torn_line, "after cut: n=%d torn=%d", s.n, info.torn_line);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

/*
 * A write cut short (here by a file size limit, as a full disk cuts it) is
 * undone: the file keeps its whole lines, and the next commit writes the
 * queued lines once, whole.
 */
static void a_write_cut_short_is_undone_not_repeated(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal j;
	struct journal_info info = {0};
	struct seen s = {0};
	struct rlimit old, small;
	struct stat before, after;
	char line[600];

	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	journal_append(&j, "{\"seq\":1}", 9);
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	int n = snprintf(line, sizeof line, "{\"seq\":2,\"pad\":\"%0500d\"}", 0);
	journal_append(&j, line, (size_t)n);
	journal_append(&j, "{\"seq\":3}", 9);
	stat(p, &before);
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = (rlim_t)before.st_size + 100;
	T_CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "setrlimit");
	T_CHECK(journal_commit(&j, &e) < 0, "a write past the limit succeeded");
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, was);
	T_CONTAINS(e.msg, "journal.jsonl: write:");
	stat(p, &after);
	T_CHECK(after.st_size == before.st_size, "the part written is left: %lld bytes, was %lld",
		(long long)after.st_size, (long long)before.st_size);
	/* With room again, the lines go in once, whole. */
	T_CHECK(journal_commit(&j, &e) == 0, "%s", e.msg);
	journal_close(&j);
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "%s", e.msg);
	T_CHECK(s.n == 3 && s.seqs[1] == 2 && s.seqs[2] == 3 && !info.torn_line,
		"replayed %d lines, torn %d", s.n, info.torn_line);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

/* Missing, empty, or with its first line cut short: said, for the caller to refuse. */
static void a_journal_without_its_header_says_so(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal_info info;
	static const char *const texts[] = {NULL, "", "{\"journal\":1,\"ba"};

	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		unlink(p);
		if (texts[i]) {
			FILE *f = fopen(p, "w");
			fputs(texts[i], f);
			fclose(f);
		}
		T_CHECK(journal_replay(p, collect, NULL, &info, &e) == 0, "%s", e.msg);
		T_CHECK(info.no_header && !info.lines && !info.torn_line, "case %zu", i);
	}
	FILE *f = fopen(p, "w");
	fputs("{\"journal\":1,\"base\":3}\n", f);
	fclose(f);
	T_CHECK(journal_replay(p, collect, NULL, &info, &e) == 0 && !info.no_header &&
			info.base == 3,
		"a header alone");
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

static void damage_in_the_middle_is_an_error(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal_info info;
	struct seen s = {0};
	struct stat before, after;

	FILE *f = fopen(p, "w");
	fputs("{\"journal\":1,\"base\":0}\n{\"seq\":1}\ngarbage\n{\"seq\":3}\n", f);
	fclose(f);
	stat(p, &before);
	T_CHECK(journal_replay(p, collect, &s, &info, &e) < 0, "accepted");
	T_CONTAINS(e.msg, "journal.jsonl:3:");
	stat(p, &after);
	T_CHECK(before.st_size == after.st_size, "file changed");
	/* A bad header is named too. */
	f = fopen(p, "w");
	fputs("{\"journal\":2}\n", f);
	fclose(f);
	T_CHECK(journal_replay(p, collect, &s, &info, &e) < 0, "bad header accepted");
	T_CONTAINS(e.msg, "journal.jsonl:1:");
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

static void reset_starts_from_a_new_base(void)
{
	char *dir = t_tmpdir(), *p = path_join(dir, "journal.jsonl");
	struct err e = {{0}};
	struct journal j;
	struct journal_info info = {0};
	struct seen s = {0};

	T_CHECK(journal_open(&j, p, &info, &e) == 0, "%s", e.msg);
	journal_append(&j, "{\"seq\":1}", 9);
	journal_commit(&j, &e);
	T_CHECK(journal_reset(&j, 1, &e) == 0, "%s", e.msg);
	journal_append(&j, "{\"seq\":2}", 9);
	journal_commit(&j, &e);
	journal_close(&j);
	T_CHECK(journal_replay(p, collect, &s, &info, &e) == 0, "%s", e.msg);
	T_CHECK(info.base == 1 && s.n == 1 && s.seqs[0] == 2, "base %llu n %d",
		(unsigned long long)info.base, s.n);
	fs_remove_tree(dir);
	free(p);
	free(dir);
}

static void json_errors_name_line_and_column(void)
{
	struct err e = {{0}};
	const char *text = "{\n  \"a\": 1,\n  \"b\": tru\n}\n";

	T_CHECK(!json_parse(text, strlen(text), "x.json", &e), "accepted");
	T_CONTAINS(e.msg, "x.json:3:");
	const char *cut = "{\n  \"a\": [1, 2,";
	T_CHECK(!json_parse(cut, strlen(cut), "y.json", &e), "accepted truncated");
	T_CONTAINS(e.msg, "ends early");
	T_CHECK(!json_parse("{} x", 4, "z.json", &e), "trailing text");
	T_CONTAINS(e.msg, "after the JSON value");
}

int main(void)
{
	T_RUN(atomic_write_replaces_whole);
	T_RUN(journal_group_commit_and_replay);
	T_RUN(light_lines_are_written_in_order);
	T_RUN(torn_last_line_is_ignored_and_cut);
	T_RUN(a_write_cut_short_is_undone_not_repeated);
	T_RUN(a_journal_without_its_header_says_so);
	T_RUN(damage_in_the_middle_is_an_error);
	T_RUN(reset_starts_from_a_new_base);
	T_RUN(json_errors_name_line_and_column);
	T_END();
}
