/*
 * Unit tests: workers.json read and refused (workers.h), the slurm
 * worker's keys above all.
 */
#include "t.h"

#include "hypotop/workers.h"

/* The workers of text, a workers.json; 0, or -1 with the message in e. */
static int parse(const char *text, struct workers *ws, struct err *e)
{
	memset(e, 0, sizeof *e);
	return workers_parse("workers.json", text, strlen(text), ws, e);
}

/* text must be refused with a message holding each of the words (NULL-ended). */
static void refused(const char *text, ...)
{
	struct workers ws;
	struct err e;
	va_list ap;

	T_CHECK(parse(text, &ws, &e) < 0, "accepted: %s", text);
	va_start(ap, text);
	for (const char *w; (w = va_arg(ap, const char *));)
		T_CHECK(strstr(e.msg, w), "\"%s\" does not say \"%s\" (for %s)", e.msg, w, text);
	va_end(ap);
}

static const struct worker_def *named(const struct workers *ws, const char *name)
{
	for (size_t i = 0; i < ws->len; i++)
		if (!strcmp(ws->v[i].name, name))
			return &ws->v[i];
	return NULL;
}

static void slurm_worker_read(void)
{
	const char *text = "{\"version\": 1, \"workers\": [\n"
			   "  {\"name\": \"local\", \"kind\": \"local\"},\n"
			   "  {\"name\": \"cluster\", \"kind\": \"slurm\",\n"
			   "   \"workspace\": \"hypotop\", \"partition\": \"gpu\",\n"
			   "   \"account\": \"lab42\", \"qos\": \"normal\", \"gres\": \"gpu:1\",\n"
			   "   \"max_jobs\": 20, \"sbatch_args\": [\"--mem=16G\", \"-C\", \"--x=a b\"],\n"
			   "   \"via\": \"login\", \"enabled\": false},\n"
			   "  {\"name\": \"login\", \"kind\": \"ssh\", \"host\": \"login.hpc\"},\n"
			   "  {\"name\": \"here\", \"kind\": \"slurm\", \"workspace\": \"/shared/hy\"}\n"
			   "]}\n";
	struct workers ws;
	struct err e;

	T_CHECK(parse(text, &ws, &e) == 0, "%s", e.msg);
	const struct worker_def *c = named(&ws, "cluster"), *h = named(&ws, "here");
	T_CHECK(c && h, "workers missing");
	if (!c || !h)
		return;
	T_STREQ(c->kind, "slurm");
	T_STREQ(c->workspace, "hypotop");
	T_STREQ(c->partition, "gpu");
	T_STREQ(c->account, "lab42");
	T_STREQ(c->qos, "normal");
	T_STREQ(c->gres, "gpu:1");
	T_STREQ(c->via, "login");
	T_CHECK(c->slots == 20, "max_jobs is slots: %ld", c->slots);
	T_CHECK(!c->enabled, "enabled false not read");
	T_CHECK(c->nsbatch_args == 3 && c->sbatch_args && !c->sbatch_args[3],
		"sbatch_args: %zu, not NULL-terminated", c->nsbatch_args);
	if (c->nsbatch_args == 3) {
		T_STREQ(c->sbatch_args[0], "--mem=16G");
		T_STREQ(c->sbatch_args[1], "-C");
		T_STREQ(c->sbatch_args[2], "--x=a b");
	}
	T_CHECK(!c->host && !c->user && !c->key_file && !c->gpus && c->port == 0,
		"a slurm worker with ssh settings of its own");
	/* The defaults: 4 jobs at once, no via (this machine), no options. */
	T_CHECK(h->slots == 4, "default max_jobs: %ld", h->slots);
	T_CHECK(h->enabled && !h->via && !h->partition && !h->account && !h->qos && !h->gres &&
			!h->sbatch_args && h->nsbatch_args == 0,
		"defaults of a bare slurm worker");
	workers_free(&ws);
}

#define SLURM(extra)                                                                    \
	"{\"version\": 1, \"workers\": [\n"                                             \
	"  {\"name\": \"login\", \"kind\": \"ssh\", \"host\": \"login.hpc\"},\n"       \
	"  {\"name\": \"c\", \"kind\": \"slurm\",\n"                                   \
	"   \"workspace\": \"/shared/hy\"" extra "}\n"                                  \
	"]}\n"

static void ssh_keys_refused_with_what_instead(void)
{
	static const char *const via_keys[] = {"host", "port", "user", "key_file", "known_hosts",
					       "accept_new_host_key"};
	static const char *const values[] = {"\"h\"", "22", "\"me\"", "\"/k\"", "\"/kh\"", "true"};
	char text[1024], key[64];

	for (size_t i = 0; i < sizeof via_keys / sizeof *via_keys; i++) {
		snprintf(text, sizeof text,
			 "{\"version\": 1, \"workers\": [\n"
			 "  {\"name\": \"c\", \"kind\": \"slurm\", \"workspace\": \"/s\",\n"
			 "   \"%s\": %s}\n]}\n",
			 via_keys[i], values[i]);
		snprintf(key, sizeof key, "\"%s\" does not apply to a slurm worker", via_keys[i]);
		refused(text, "workers.json:3:", key, "through \"via\"", "an ssh worker", NULL);
	}
	refused(SLURM(",\n   \"slots\": 2"), "workers.json:5:", "\"slots\" does not apply",
		"use \"max_jobs\"", NULL);
	refused(SLURM(",\n   \"gpus\": [0]"), "workers.json:5:", "\"gpus\" does not apply",
		"use \"gres\"", NULL);
	refused(SLURM(",\n   \"setup\": \"pip install\""), "workers.json:5:",
		"\"setup\" does not apply", "\"build\"", NULL);
	refused(SLURM(",\n   \"vast_id\": 3"), "workers.json:5:", "\"vast_id\" does not apply",
		"remove it", NULL);
}

static void slurm_keys_refused_elsewhere(void)
{
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"b\", \"kind\": \"ssh\", \"host\": \"h\",\n"
		"   \"max_jobs\": 3}]}\n",
		"workers.json:3:", "\"max_jobs\" does not apply to a ssh worker", "use \"slots\"",
		NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"b\", \"kind\": \"ssh\", \"host\": \"h\",\n"
		"   \"partition\": \"gpu\"}]}\n",
		"workers.json:3:", "\"partition\" does not apply to a ssh worker; remove it", NULL);
	refused("{\"version\": 1, \"workers\": [{\"name\": \"local\", \"kind\": \"local\", "
		"\"via\": \"x\"}]}",
		"\"via\" does not apply to a local worker; remove it", NULL);
	refused("{\"version\": 1, \"workers\": [{\"name\": \"local\", \"kind\": \"local\", "
		"\"gres\": \"gpu:1\"}]}",
		"\"gres\" does not apply to a local worker", "use \"gpus\"", NULL);
	/* Today's messages of ssh workers stay. */
	refused("{\"version\": 1, \"workers\": [\n  {\"name\": \"b\", \"kind\": \"ssh\"}]}",
		"workers.json:2:", "an ssh worker needs \"host\"", NULL);
	refused("{\"version\": 1, \"workers\": [{\"name\": \"b\", \"kind\": \"ssh\", \"hots\": 1}]}",
		"unknown key \"hots\"; did you mean \"host\"?", NULL);
}

static void workspace_rules(void)
{
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"c\",\n   \"kind\": \"slurm\"}]}",
		"workers.json:3:", "a slurm worker needs \"workspace\"",
		"file system its compute nodes share", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\",\n   \"workspace\": \"\"}]}",
		"workers.json:3:", "\"workspace\" must be a folder", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\",\n   \"workspace\": \"scratch/hy\"}]}",
		"workers.json:3:", "\"workspace\" is relative", "no \"via\"",
		"give an absolute path", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\",\n   \"workspace\": 3}]}",
		"workers.json:3:", "\"workspace\" must be a string", NULL);
}

static void max_jobs_and_names(void)
{
	refused(SLURM(",\n   \"max_jobs\": 0"), "workers.json:5:", "\"max_jobs\"",
		"from 1 to 4096", NULL);
	refused(SLURM(",\n   \"max_jobs\": \"4\""), "workers.json:5:", "\"max_jobs\"",
		"must be a number", NULL);
	refused(SLURM(",\n   \"partition\": \"gpu a100\""), "workers.json:5:",
		"\"partition\" must be one word", "--partition", NULL);
	refused(SLURM(",\n   \"account\": \"lab\\n#SBATCH --x\""), "workers.json:5:",
		"\"account\" must be one word", NULL);
	refused(SLURM(",\n   \"qos\": \"\""), "workers.json:5:", "\"qos\" must be one word",
		NULL);
	refused(SLURM(",\n   \"gres\": 1"), "workers.json:5:", "\"gres\" must be a string", NULL);
}

static void sbatch_args_rules(void)
{
	refused(SLURM(",\n   \"sbatch_args\": \"--mem=16G\""), "workers.json:5:",
		"\"sbatch_args\" must be an array", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--mem=16G\", 3]"), "workers.json:5:",
		"\"sbatch_args\" item 2 must be a string", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--mem\", \"16G\"]"), "workers.json:5:",
		"item 2, \"16G\", does not start with \"-\"", "\"--mem=16G\"", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--mem=1\\n#SBATCH -x\"]"), "workers.json:5:",
		"item 1 holds a control character", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--partition=gpu\"]"), "workers.json:5:",
		"\"--partition=gpu\", is an option hypotop gives sbatch itself",
		"use \"partition\"", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"-Jname\"]"), "an option hypotop gives",
		"after its node", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--output\"]"), "an option hypotop gives",
		"run's log", NULL);
	refused(SLURM(",\n   \"sbatch_args\": [\"--array=1-4\"]"), "one job per node", NULL);
	/* A like-named option of its own is no clash. */
	struct workers ws;
	struct err e;
	T_CHECK(parse(SLURM(",\n   \"sbatch_args\": [\"--partitions-ok\", \"--exclusive\"]"), &ws,
		      &e) == 0,
		"%s", e.msg);
	workers_free(&ws);
}

static void via_names_an_ssh_worker(void)
{
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"login\", \"kind\": \"ssh\", \"host\": \"h\"},\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\", \"workspace\": \"/s\",\n"
		"   \"via\": \"logon\"}]}\n",
		"workers.json:4:", "\"via\" names \"logon\", which is not a worker of this file",
		"its ssh workers: login", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\", \"workspace\": \"/s\",\n"
		"   \"via\": \"login\"}]}\n",
		"workers.json:3:", "\"via\" names \"login\", which is not a worker",
		"it has none yet", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"local\", \"kind\": \"local\"},\n"
		"  {\"name\": \"c\", \"kind\": \"slurm\", \"workspace\": \"/s\",\n"
		"   \"via\": \"local\"}]}\n",
		"workers.json:4:", "\"via\" names \"local\", a local worker", "must name an ssh",
		NULL);
	refused(SLURM(",\n   \"via\": \"\""), "workers.json:5:", "\"via\" is empty", NULL);
	/* The ssh worker may come after the slurm worker that names it. */
	struct workers ws;
	struct err e;
	T_CHECK(parse("{\"version\": 1, \"workers\": [\n"
		      "  {\"name\": \"c\", \"kind\": \"slurm\", \"workspace\": \"rel\",\n"
		      "   \"via\": \"login\"},\n"
		      "  {\"name\": \"login\", \"kind\": \"ssh\", \"host\": \"h\"}]}\n",
		      &ws, &e) == 0,
		"%s", e.msg);
	workers_free(&ws);
}

/* A rented instance's price: a number of dollars an hour, beside its vast_id. */
static void dph_rules(void)
{
	struct workers ws;
	struct err e;
	const char *ok = "{\"version\": 1, \"workers\": [\n"
			 "  {\"name\": \"g\", \"kind\": \"ssh\", \"host\": \"h\",\n"
			 "   \"vast_id\": 12, \"dph\": 0.25}]}\n";

	T_CHECK(parse(ok, &ws, &e) == 0, "%s", e.msg);
	T_CHECK(named(&ws, "g") && named(&ws, "g")->dph == 0.25 && named(&ws, "g")->vast_id == 12,
		"dph or vast_id not read");
	struct worker_def w = {.vast_id = 1, .rented_at = 3600};
	T_CHECK(workers_rent_hours(&w, 3600 * 3) == 2, "rented 2 h by now");
	w.released_at = 3600 * 2;
	T_CHECK(workers_rent_hours(&w, 3600 * 3) == 1, "released after 1 h");
	w.vast_id = 0;
	T_CHECK(workers_rent_hours(&w, 3600 * 3) == 0, "no instance, no rent");
	workers_free(&ws);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"g\", \"kind\": \"ssh\", \"host\": \"h\",\n"
		"   \"vast_id\": 12, \"dph\": \"cheap\"}]}\n",
		"workers.json:3:", "dph", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"g\", \"kind\": \"ssh\", \"host\": \"h\",\n"
		"   \"vast_id\": 12, \"dph\": -1}]}\n",
		"workers.json:3:", "\"dph\" must be the price in US dollars per hour", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"g\", \"kind\": \"ssh\", \"host\": \"h\",\n"
		"   \"dph\": 0.5}]}\n",
		"workers.json:3:", "need \"vast_id\"", NULL);
	refused("{\"version\": 1, \"workers\": [\n"
		"  {\"name\": \"g\", \"kind\": \"ssh\", \"host\": \"h\", \"vast_id\": 3,\n"
		"   \"rented_at\": 100,\n   \"released_at\": 50}]}\n",
		"workers.json:4:", "released after rented", NULL);
	refused(SLURM(",\n   \"dph\": 1"), "workers.json:5:", "\"dph\" does not apply", NULL);
}

int main(void)
{
	T_RUN(slurm_worker_read);
	T_RUN(dph_rules);
	T_RUN(ssh_keys_refused_with_what_instead);
	T_RUN(slurm_keys_refused_elsewhere);
	T_RUN(workspace_rules);
	T_RUN(max_jobs_and_names);
	T_RUN(sbatch_args_rules);
	T_RUN(via_names_an_ssh_worker);
	T_END();
}
