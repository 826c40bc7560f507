/* repo.c — repositories kept open per thread (see vcs_int.h). */
#include "hypotop/vcs_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hypotop/fsutil.h"

#define REPO_CACHE 8 /* the source repository and a work tree per slot, usually */

struct repo_slot {
	char *dir;
	dev_t dev;
	ino_t ino;
	git_repository *repo;
	unsigned long used; /* when last asked for: the oldest is closed first */
};

struct repo_cache {
	struct repo_slot slot[REPO_CACHE];
	unsigned long clock;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

const char *vcs_git_msg(void)
{
	const git_error *ge = git_error_last();

	return ge && ge->message ? ge->message : "unknown libgit2 error";
}

static void slot_clear(struct repo_slot *s)
{
	git_repository_free(s->repo);
	free(s->dir);
	memset(s, 0, sizeof *s);
}

static void cache_free(void *p)
{
	struct repo_cache *c = p;

	for (size_t i = 0; i < REPO_CACHE; i++)
		slot_clear(&c->slot[i]);
	free(c);
}

static void cache_key_make(void)
{
	pthread_key_create(&cache_key, cache_free);
}

/* What identifies the repository at dir: its .git, folder or file. */
static int repo_id(const char *dir, dev_t *dev, ino_t *ino)
{
	struct stat st;
	char *git = path_join(dir, ".git");
	int rc = stat(git, &st) == 0 || stat(dir, &st) == 0 ? 0 : -1;

	free(git);
	*dev = st.st_dev;
	*ino = st.st_ino;
	return rc;
}

int vcs_repo(git_repository **repo, const char *dir, struct err *e)
{
	pthread_once(&cache_once, cache_key_make);
	struct repo_cache *c = pthread_getspecific(cache_key);
	if (!c) {
		c = xcalloc(1, sizeof *c);
		pthread_setspecific(cache_key, c);
	}
	dev_t dev = 0;
	ino_t ino = 0;
	bool known = repo_id(dir, &dev, &ino) == 0;
	for (size_t i = 0; i < REPO_CACHE; i++) {
		struct repo_slot *s = &c->slot[i];
		if (!s->dir || strcmp(s->dir, dir))
			continue;
		if (known && s->dev == dev && s->ino == ino) {
			s->used = ++c->clock;
			*repo = s->repo;
			return 0;
		}
		slot_clear(s);
	}
	git_repository *r = NULL;
	if (git_repository_open_ext(&r, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		err_set(e, "git: %s: %s", dir, vcs_git_msg());
		return -1;
	}
	/* A free place, else the one asked for longest ago: never the one a caller holds. */
	struct repo_slot *s = &c->slot[0];
	for (size_t i = 1; i < REPO_CACHE && s->dir; i++)
		if (!c->slot[i].dir || c->slot[i].used < s->used)
			s = &c->slot[i];
	slot_clear(s);
	s->dir = xstrdup(dir);
	s->dev = dev;
	s->ino = ino;
	s->repo = r;
	s->used = ++c->clock;
	*repo = r;
	return 0;
}

void vcs_repo_forget(void)
{
	pthread_once(&cache_once, cache_key_make);
	struct repo_cache *c = pthread_getspecific(cache_key);
	if (c) {
		pthread_setspecific(cache_key, NULL);
		cache_free(c);
	}
}
