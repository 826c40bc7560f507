/*
 * workdir_create.c — a new workdir (hypotop init): built in a temp folder
 * beside its final place and renamed there, so a crash leaves either no
 * workdir or a whole one. See workdir.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/workdir.h"

static int create_file(struct workdir *w, const char *rel, const struct buf *b, struct err *e)
{
	char *path = workdir_file(w, rel);
	int rc = fs_write_atomic(path, b->data ? b->data : "", b->len, 0644, e);

	free(path);
	return rc;
}

int workdir_create(const char *path, const cJSON *config, const char *commit, struct err *e)
{
	struct workdir w;
	struct buf b;
	char *tmp = NULL, *cfg_text = NULL;
	int rc = -1;

	if (fs_exists(path)) {
		err_set(e, "%s: already exists; give init a new folder (it will not write into "
			   "an existing one)",
			path);
		return -1;
	}
	memset(&w, 0, sizeof w);
	w.lock_fd = -1;
	w.journal.fd = -1;
	tree_init(&w.tree);
	queue_init(&w.queue, &w.tree);
	w.st.best = w.st.best_at_round = NODE_NONE;
	buf_init(&b);
	tmp = xasprintf("%s.init.%ld", path, (long)getpid());
	w.path = tmp;
	if (fs_mkdir_p(tmp, 0755, e) < 0)
		goto out;
	static const char *const dirs[] = {"engine", "engine/nodes", "runs", "logs"};
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		char *d = path_join(tmp, dirs[i]);
		int r = fs_mkdir_p(d, 0755, e);
		free(d);
		if (r < 0)
			goto out;
	}
	cfg_text = cJSON_Print(config);
	buf_adds(&b, cfg_text);
	buf_addc(&b, '\n');
	if (create_file(&w, "config.json", &b, e) < 0)
		goto out;
	buf_reset(&b);
	buf_adds(&b, "{\n  \"version\": 1,\n  \"workers\": [\n    {\"name\": \"local\", "
		     "\"kind\": \"local\"}\n  ]\n}\n");
	if (create_file(&w, "workers.json", &b, e) < 0)
		goto out;
	/* The config is ours and valid: load it for the derived files. */
	if (config_from_json(&w.cfg, cJSON_Duplicate(config, true), "config.json", NULL, e) < 0)
		goto out;
	struct node *base = tree_add(&w.tree, NODE_NONE);
	node_set_str(&base->name, "baseline");
	node_set_str(&base->hypothesis, "The source tree as it is: the reference every "
					 "experiment is measured against.");
	node_set_str(&base->commit, commit);
	base->status = ST_QUEUED;
	/* With noise.seeds > 1 the baseline runs again with other seeds: the
	 * spread of those runs is the noise that improvements must beat. */
	for (long k = 1; k < w.cfg.noise_seeds; k++) {
		struct node *n = tree_add(&w.tree, NODE_NONE);
		char *name = xasprintf("baseline-seed-%ld", k);
		char *hyp = xasprintf("The baseline again with seed +%ld, to measure the run-to-run "
				      "spread (noise.seeds).", k);
		n->name = name;
		n->hypothesis = hyp;
		node_set_str(&n->commit, commit);
		n->seed = (int)k;
		n->retry_of = 0;
		n->status = ST_QUEUED;
	}
	/* The fixed experiments run right after the baseline, before any planning. */
	const cJSON *fx;
	cJSON_ArrayForEach(fx, w.cfg.fixed_experiments)
	{
		struct node *n = tree_add(&w.tree, 0);
		if (!n) {
			err_set(e, "config.json: \"fixed_experiments\": more than a tree holds");
			goto out;
		}
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(fx, "name");
		/* A name that is no label (a '/', a control character) becomes a slug. */
		const char *name = cJSON_IsString(v) ? v->valuestring : "fixed";
		n->name = node_name_ok(name) ? xstrdup(name) : slugify(name);
		v = cJSON_GetObjectItemCaseSensitive(fx, "hypothesis");
		node_set_str(&n->hypothesis, cJSON_IsString(v) ? v->valuestring : n->name);
		v = cJSON_GetObjectItemCaseSensitive(fx, "priority");
		n->priority = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
		char *ch = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(fx, "change"));
		node_set_str(&n->change, ch);
		cJSON_free(ch);
		n->status = ST_QUEUED;
	}
	char *jpath = workdir_file(&w, "engine/journal.jsonl");
	struct journal_info info = {0};
	int jr = journal_open(&w.journal, jpath, &info, e);
	free(jpath);
	char *lock = workdir_file(&w, "engine/lock");
	int lr = fs_write_atomic(lock, "", 0, 0644, e);
	free(lock);
	if (lr < 0 || jr < 0 || workdir_checkpoint(&w, e) < 0 ||
	    workdir_set_engine_state(&w, "created", e) < 0)
		goto out;
	if (rename(tmp, path) < 0) {
		err_set(e, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	rc = fs_fsync_parent(path, e);
out:
	if (rc < 0 && tmp)
		fs_remove_tree(tmp);
	journal_close(&w.journal);
	config_free(&w.cfg);
	queue_free(&w.queue);
	tree_free(&w.tree);
	buf_free(&b);
	free(cfg_text);
	free(tmp);
	return rc;
}
