/*
 * seal.c — work trees left clean at a known commit (see vcs_int.h).
 *
 * Whether a pooled tree is still exactly as hypotop left it decides
 * whether the next node that runs the same commit needs a checkout. Git
 * answers by reading the index and every file's status through libgit2;
 * for the short jobs of a sweep that costs more than the job. A seal
 * answers the same question from what the kernel says of each entry: the
 * tree's files and folders, each with its inode, type, size and both
 * times, and the tree's index. Anything written, added, removed, renamed
 * or chmodded since changes an entry's change time (ctime), which no
 * program can set; a byte-for-byte comparison of the two lists finds it.
 *
 * The times are the kernel's coarse clock, so a change made within the
 * clock tick in which an entry last changed can leave its times as they
 * were. An entry that changed in the tick the seal is taken in would be
 * such a case; the tree is then not sealed, and the next node asks git,
 * as git itself re-reads files as new as its index ("racily clean").
 *
 * A broken seal also names the files git cannot see changed: written
 * with their size kept and their modification time put back (cp -p), so
 * that only the change time tells. They are removed before git looks, and
 * the checkout writes them again.
 */
#include "hypotop/vcs_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"

#define SEALS 16             /* trees: the pool is a few per slot */
#define SEAL_MAX (1u << 20)   /* bytes of entries; a bigger tree asks git */
#define SEAL_DEPTH 64

struct seal {
	char *path;
	git_oid id;
	struct buf entries;
};

static struct seal seals[SEALS];
static unsigned next_seal;
static pthread_mutex_t seal_mu = PTHREAD_MUTEX_INITIALIZER;

struct walk {
	struct buf *out;
	struct buf rel; /* the folder being listed, relative to the tree */
	struct timespec since; /* entries changed at or after this are too new */
	bool ok;               /* listed whole */
	bool too_new;          /* an entry too new to seal */
};

struct rec {
	ino_t ino;
	mode_t mode;
	off_t size;
	struct timespec mtime, ctime;
};

static bool too_new(const struct timespec *t, const struct timespec *since)
{
	return t->tv_sec > since->tv_sec ||
	       (t->tv_sec == since->tv_sec && t->tv_nsec >= since->tv_nsec);
}

/* One entry: its path in the tree, then what the kernel keeps of it. */
static void entry(struct walk *w, const char *name, const struct stat *st)
{
	struct rec rec;

	if (too_new(&st->st_mtim, &w->since) || too_new(&st->st_ctim, &w->since))
		w->too_new = true;
	memset(&rec, 0, sizeof rec); /* the padding too: lists are compared whole */
	rec.ino = st->st_ino;
	rec.mode = st->st_mode;
	rec.size = st->st_size;
	rec.mtime = st->st_mtim;
	rec.ctime = st->st_ctim;
	if (w->rel.len)
		buf_add(w->out, w->rel.data, w->rel.len);
	buf_adds(w->out, name);
	buf_addc(w->out, '\0');
	buf_add(w->out, &rec, sizeof rec);
	if (w->out->len > SEAL_MAX)
		w->ok = false;
}

/* The folder open at fd, and every folder in it; a nested .git is listed, not entered. */
static void walk_dir(struct walk *w, int fd, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de = NULL;

	if (!d) {
		close(fd);
		w->ok = false;
		return;
	}
	while (w->ok && (errno = 0, de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			w->ok = false;
			break;
		}
		entry(w, de->d_name, &st);
		if (!S_ISDIR(st.st_mode) || !strcmp(de->d_name, ".git"))
			continue;
		int sub = depth < SEAL_DEPTH
				  ? openat(dirfd(d), de->d_name,
					   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				  : -1;
		if (sub < 0) {
			w->ok = false;
			break;
		}
		size_t at = w->rel.len;
		buf_adds(&w->rel, de->d_name);
		buf_addc(&w->rel, '/');
		walk_dir(w, sub, depth + 1);
		w->rel.len = at; /* back to this folder */
		w->rel.data[at] = '\0';
	}
	if (errno != 0 && !de)
		w->ok = false;
	closedir(d);
}

/*
 * What the kernel says of the tree at path and of its index in gitdir;
 * false when it cannot be listed whole. *fresh: an entry is too new to seal.
 */
static bool list(const char *path, const char *gitdir, struct buf *out, bool *fresh)
{
	struct walk w = {out, {0}, {0, 0}, true, false};
	struct stat st;

	clock_gettime(CLOCK_REALTIME_COARSE, &w.since);
	char *index = path_join(gitdir, "index");
	bool have_index = stat(index, &st) == 0;
	free(index);
	if (!have_index)
		return false;
	entry(&w, "/index", &st); /* no path in the tree starts with a slash */
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	entry(&w, ".", &st);
	buf_init(&w.rel);
	walk_dir(&w, fd, 0);
	buf_free(&w.rel);
	*fresh = w.too_new;
	return w.ok;
}

/* The entries of a list: path, then its record. */
struct item {
	const char *path;
	struct rec rec;
};

static size_t items(const struct buf *b, struct item **out)
{
	size_t n = 0, cap = 0;
	struct item *v = NULL;

	for (size_t off = 0; off < b->len;) {
		const char *path = b->data + off;
		off += strlen(path) + 1;
		if (n == cap)
			v = xrealloc(v, (cap = cap ? 2 * cap : 64) * sizeof *v);
		v[n].path = path;
		memcpy(&v[n].rec, b->data + off, sizeof v[n].rec);
		off += sizeof v[n].rec;
		n++;
	}
	*out = v;
	return n;
}

static int item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

/* Files in now that were in then with the same size and time, yet changed. */
static char **unseen_changes(const struct buf *then, const struct buf *now)
{
	struct item *old, *cur;
	size_t nold = items(then, &old), ncur = items(now, &cur), n = 0;
	char **out = xcalloc(ncur + 1, sizeof *out);

	qsort(old, nold, sizeof *old, item_cmp);
	for (size_t i = 0; i < ncur; i++) {
		const struct rec *a = &cur[i].rec;
		struct item *was = bsearch(&cur[i], old, nold, sizeof *old, item_cmp);
		if (!was || !S_ISREG(a->mode) || !S_ISREG(was->rec.mode) ||
		    a->size != was->rec.size || a->mtime.tv_sec != was->rec.mtime.tv_sec ||
		    a->mtime.tv_nsec != was->rec.mtime.tv_nsec)
			continue;
		if (a->ino != was->rec.ino || a->ctime.tv_sec != was->rec.ctime.tv_sec ||
		    a->ctime.tv_nsec != was->rec.ctime.tv_nsec)
			out[n++] = xstrdup(cur[i].path);
	}
	free(old);
	free(cur);
	return out;
}

static struct seal *seal_of(const char *path)
{
	for (size_t i = 0; i < SEALS; i++)
		if (seals[i].path && !strcmp(seals[i].path, path))
			return &seals[i];
	return NULL;
}

static void seal_clear(struct seal *s)
{
	free(s->path);
	buf_free(&s->entries);
	memset(s, 0, sizeof *s);
}

bool vcs_seal_intact(const char *path, const char *gitdir, const git_oid *id, char ***unseen)
{
	struct buf now;
	bool intact = false;

	if (unseen)
		*unseen = NULL;
	buf_init(&now);
	pthread_mutex_lock(&seal_mu);
	struct seal *s = seal_of(path);
	bool known = s && git_oid_equal(&s->id, id);
	pthread_mutex_unlock(&seal_mu);
	if (known) {
		bool fresh, listed = list(path, gitdir, &now, &fresh);
		pthread_mutex_lock(&seal_mu);
		s = seal_of(path);
		if (s && git_oid_equal(&s->id, id)) {
			intact = listed && s->entries.len == now.len &&
				 !memcmp(s->entries.data, now.data, now.len);
			if (!intact && listed && unseen)
				*unseen = unseen_changes(&s->entries, &now);
		}
		pthread_mutex_unlock(&seal_mu);
	}
	buf_free(&now);
	return intact;
}

void vcs_seal(const char *path, const char *gitdir, const git_oid *id)
{
	struct buf now;

	buf_init(&now);
	bool fresh, ok = list(path, gitdir, &now, &fresh) && !fresh;
	pthread_mutex_lock(&seal_mu);
	struct seal *s = seal_of(path);
	if (!s) {
		s = &seals[next_seal++ % SEALS];
		seal_clear(s);
	}
	if (ok) {
		free(s->path);
		buf_free(&s->entries);
		s->path = xstrdup(path);
		git_oid_cpy(&s->id, id);
		s->entries = now;
		buf_init(&now);
	} else {
		seal_clear(s);
	}
	pthread_mutex_unlock(&seal_mu);
	buf_free(&now);
}

void vcs_seal_break(const char *path)
{
	pthread_mutex_lock(&seal_mu);
	struct seal *s = seal_of(path);
	if (s)
		seal_clear(s);
	pthread_mutex_unlock(&seal_mu);
}

void vcs_seals_forget(void)
{
	pthread_mutex_lock(&seal_mu);
	for (size_t i = 0; i < SEALS; i++)
		seal_clear(&seals[i]);
	pthread_mutex_unlock(&seal_mu);
}
