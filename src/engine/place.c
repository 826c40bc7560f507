/*
 * place.c — where a planner call about a node runs (SPEC §7): a command
 * provider (an agent on the command line) gets a checkout of the node's
 * commit to read and try things in, made on the planner thread before the
 * call and removed after it, under WORKDIR/worktrees/call-N. A call of
 * another provider needs none. N counts the calls of this process: a
 * checkout an earlier engine left behind is replaced by the call that
 * takes its name, and all of them when the next engine starts.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

static atomic_uint calls;

int place_open(struct place *p, const struct config *cfg, const char *workdir,
	       const char *node, const char *commit, struct err *e)
{
	memset(p, 0, sizeof *p);
	p->pl.node = node;
	p->pl.commit = commit;
	if (!cfg->llm_provider || strcmp(cfg->llm_provider, "command") || !commit)
		return 0;
	char name[32];
	snprintf(name, sizeof name, "call-%u", atomic_fetch_add(&calls, 1));
	char *path = xasprintf("%s/worktrees/%s", workdir, name);
	if (vcs_checkout_add(cfg->source_dir, name, path, commit, e) < 0) {
		err_prefix(e, "a checkout of %s for the command", node);
		struct err ignored = {{0}};
		vcs_checkout_remove(cfg->source_dir, name, path, &ignored);
		free(path);
		return -1;
	}
	p->repo = cfg->source_dir;
	p->name = xstrdup(name);
	p->pl.dir = p->path = path;
	return 0;
}

void place_close(struct place *p)
{
	struct err ignored = {{0}};

	if (p->path)
		vcs_checkout_remove(p->repo, p->name, p->path, &ignored);
	free(p->name);
	free(p->path);
	memset(p, 0, sizeof *p);
}

void place_sweep(const struct config *cfg, const char *workdir)
{
	char *dir = path_join(workdir, "worktrees");
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "call-", 5))
			continue;
		char *path = path_join(dir, de->d_name);
		struct err ignored = {{0}};
		vcs_checkout_remove(cfg->source_dir, de->d_name, path, &ignored);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
}
