/* remote.c — the scripts the ssh executor runs on a worker (see remote.h). */
#include "hypotop/remote.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/util.h"

/* NAME='value' and a newline. */
static void set_var(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, "%s=", name);
	sh_quote(b, value ? value : "");
	buf_addc(b, '\n');
}

/* "unset NAME" for each name of u. */
static void unset_all(struct buf *b, const char *const *u)
{
	for (; u && *u; u++) {
		buf_adds(b, "unset ");
		sh_quote(b, *u);
		buf_addc(b, '\n');
	}
}

/* Field 22 of /proc/PID/stat, the start time that tells a process from a later one of its pid. */
/* The shell's own words only: a poll asks it of every job, and a process each would cost. */
#define START_OF                                                                          \
	"start_of() { read -r l < /proc/$1/stat 2>/dev/null || return 0; set -- ${l##*) }; " \
	"shift 19; echo \"$1\"; }\n"

/* A folder of the workspace, relative to the remote home unless it is absolute. */
static const char *workspace_of(const char *w)
{
	if (!w || !*w || !strcmp(w, "~"))
		return "hypotop";
	return !strncmp(w, "~/", 2) ? w + 2 : w;
}

char *remote_run_path(const char *workspace, const char *ns, const char *run)
{
	return xasprintf("%s/runs/%s/%s", workspace_of(workspace), ns, run);
}

char *remote_tree_path(const char *workspace, const char *ns, const char *node)
{
	return xasprintf("%s/trees/%s/%s", workspace_of(workspace), ns, node);
}

char *remote_ship_path(const char *workspace, const char *name)
{
	return xasprintf("%s/ship/%s", workspace_of(workspace), name);
}

/*
 * job.sh: run as `setsid sh job.sh RUN_DIR TREE SETUP_MARK SETUP_LOCK` in
 * RUN_DIR, its output appended to the log. It stays while the job runs,
 * to record its end, and is out of the job's way: each command it runs
 * (setup, build, launch) is a session of its own, whose leader it
 * records in pgid before it waits for it, and which is what a signal is
 * sent to (remote_signal_script). So a job killed records its status as
 * a shell reports it, 128+N for signal N; only this script killed too
 * leaves no exit code.
 */
static void wrapper(struct buf *b, const struct remote_job *rj)
{
	buf_adds(b, "R=$1 T=$2 MARK=$3 LOCK=$4\n");
	set_var(b, "C", rj->commit);
	set_var(b, "SETUP", rj->setup);
	set_var(b, "BUILD", rj->build);
	set_var(b, "LAUNCH", rj->launch);
	buf_adds(b,
		 "cd \"$R\" || exit 127\n"
		 "rec() { printf '%s\\n' \"$2\" > \"$R/$1.partial\" && mv -f \"$R/$1.partial\" \"$R/$1\"; }\n"
		 START_OF
		 "rec pid \"$$ $(start_of $$)\" || exit 127\n"
		 "fail() { echo \"[hypotop] error: $2\"; rec build_exit \"$1\"; rec exit_code \"$1\"; "
		 "exit \"$1\"; }\n");
	/*
	 * Under Slurm, the commands stay in the batch step's session: Slurm
	 * signals the whole step (pause, cancel), and a session of their own
	 * would escape it. Here each is a session of its own, signalled by pgid.
	 */
	if (rj->slurm)
		buf_adds(b, "run() { sh -c \"$1\" </dev/null 9>&- & j=$!; wait $j; }\n");
	else
		buf_adds(b, "run() { setsid sh -c \"$1\" </dev/null 9>&- & j=$!; "
			    "rec pgid \"$j $(start_of $j)\"; wait $j; }\n");
	buf_adds(b,
		 /* A compute node may lack git: the work tree's HEAD is then read as a file. */
		 "head=$(git -C \"$T\" rev-parse HEAD 2>/dev/null) || { g=; read -r _ g < \"$T/.git\" "
		 "&& read -r head < \"$g/HEAD\"; } 2>/dev/null\n"
		 "[ \"$head\" = \"$C\" ] || fail 1 \"the work tree $T is at ${head:-no commit}, not "
		 "at the node's commit $C: hypotop runs the node's code or nothing\"\n");
	unset_all(b, rj->unset);
	for (const char *const *v = rj->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq || eq == *v)
			continue;
		buf_printf(b, "export %.*s=", (int)(eq - *v), *v);
		sh_quote(b, eq + 1);
		buf_addc(b, '\n');
	}
	buf_adds(b, "export HYPOTOP_RUN_DIR=\"$R\"\n");
	if (rj->gpu >= 0)
		buf_printf(b, "export CUDA_VISIBLE_DEVICES=%d\n", rj->gpu);
	buf_adds(b,
		 "cd \"$T\" || fail 127 \"cannot enter the work tree $T\"\n"
		 "if [ -n \"$SETUP\" ] && [ ! -e \"$MARK\" ]; then\n"
		 "  (command -v flock >/dev/null && flock 9\n"
		 "   [ -e \"$MARK\" ] && exit 0\n"
		 "   echo \"[hypotop] setup: $SETUP\"\n"
		 "   run \"$SETUP\"; s=$?\n"
		 "   [ $s -eq 0 ] && : > \"$MARK\"\n"
		 "   exit $s) 9>\"$LOCK\"\n"
		 "  s=$?\n"
		 "  [ $s -eq 0 ] || fail $s \"the worker's setup exited with status $s\"\n"
		 "fi\n"
		 "if [ -n \"$BUILD\" ]; then\n"
		 "  echo \"[hypotop] build: $BUILD\"\n"
		 "  run \"$BUILD\"; s=$?\n"
		 "  rec build_exit $s\n"
		 "  [ $s -eq 0 ] || { rec exit_code $s; exit $s; }\n"
		 "fi\n"
		 "echo \"[hypotop] launch: $LAUNCH\"\n"
		 "run \"$LAUNCH\"; s=$?\n"
		 "rec exit_code $s\n"
		 "exit $s\n");
}

/* W made absolute, and the paths of the layout; a failure said on stderr, exit 4. */
static void layout(struct buf *b, const struct remote_job *rj)
{
	set_var(b, "W", workspace_of(rj->workspace));
	set_var(b, "P", rj->project);
	set_var(b, "NS", rj->ns);
	set_var(b, "NODE", rj->node);
	set_var(b, "RUN", rj->run);
	buf_adds(b, "cd || exit 4\n"
		    "say() { printf '%s\\n' \"$*\" >&2; }\n"
		    "mkdir -p \"$W\" && W=$(cd \"$W\" && pwd) || { say \"cannot make the workspace "
		    "$W\"; exit 4; }\n"
		    "B=$W/repos/$P.git T=$W/trees/$NS/$NODE R=$W/runs/$NS/$RUN M=$W/setup/$P\n");
}

/* "#SBATCH --NAME=VALUE" when there is a value. */
static void directive(struct buf *b, const char *name, const char *value)
{
	if (!value || !*value)
		return;
	buf_printf(b, "#SBATCH --%s=", name);
	/* A directive is read by words, without a shell: a value has none of its own. */
	for (const char *p = value; *p; p++)
		buf_addc(b, isspace((unsigned char)*p) ? '_' : *p);
	buf_addc(b, '\n');
}

/*
 * job.sh's head for Slurm: its options, read by sbatch from the script.
 * The output goes to the run folder's log, appended, as a job started
 * here writes it; Slurm gives the job its GPUs (CUDA_VISIBLE_DEVICES).
 */
static void directives(struct buf *b, const struct remote_job *rj)
{
	const struct remote_slurm *o = rj->slurm;
	char *name = xasprintf("hypotop-%s", rj->node);

	buf_adds(b, "#!/bin/sh\n");
	directive(b, "job-name", name);
	directive(b, "output", "log");
	buf_adds(b, "#SBATCH --open-mode=append\n");
	directive(b, "partition", o->partition);
	directive(b, "account", o->account);
	directive(b, "qos", o->qos);
	directive(b, "gres", o->gres);
	if (o->time_s > 0)
		buf_printf(b, "#SBATCH --time=%ld:%02ld:%02ld\n", o->time_s / 3600,
			   o->time_s / 60 % 60, o->time_s % 60);
	free(name);
}

/*
 * The submission, in place of starting job.sh here: once (launched/ is
 * made first, and taken back when sbatch fails), with the secrets out of
 * the environment sbatch hands the job (Slurm keeps it on its disk), and
 * the job id recorded before "launched" is said. The job runs in its run
 * folder, with the same arguments job.sh gets here.
 */
static void submit(struct buf *b, const struct remote_job *rj)
{
	buf_adds(b, "command -v sbatch >/dev/null || { say \"sbatch is not found: is Slurm's "
		    "client on the PATH of a login shell?\"; exit 4; }\n"
		    "mkdir \"$R/launched\" 2>/dev/null || { echo launched; exit 0; }\n");
	unset_all(b, rj->unset);
	buf_adds(b, "cd \"$R\" || exit 4\n"
		    "o=$(sbatch --parsable");
	for (const char *const *a = rj->slurm->args; a && *a; a++) {
		buf_addc(b, ' ');
		sh_quote(b, *a);
	}
	buf_printf(b, " ./job.sh \"$R\" \"$T\" \"$M/$C\" \"$M.lock\" </dev/null 2>submit.err)\n"
		      "s=$? id=$(printf '%%s\\n' \"$o\" | tail -n 1) id=${id%%%%;*}\n"
		      "case $s:$id in\n"
		      "0:*[!0-9]*|0:) say \"sbatch said no job id: $o\"; rmdir launched; exit %d ;;\n"
		      "0:*) ;;\n"
		      "*) rmdir launched; m=$(tr '\\n' ' ' < submit.err); say \"${m:-sbatch exited "
		      "with status $s}\"\n"
		      "   case $m in *'ontact slurm controller'*|*'ocket timed out'*|*'onnection "
		      "refused'*|*'Zero Bytes were transmitted'*) exit %d ;; esac\n"
		      "   exit %d ;;\n"
		      "esac\n"
		      "printf '%%s\\n' \"$id\" > slurm_id.partial && mv -f slurm_id.partial slurm_id "
		      "|| exit 4\n"
		      "echo launched\n",
		   REMOTE_REFUSED, REMOTE_UNREACHABLE, REMOTE_REFUSED);
}

char *remote_launch_script(const struct remote_job *rj)
{
	struct buf b, job;

	buf_init(&b);
	buf_init(&job);
	if (rj->slurm)
		directives(&job, rj);
	wrapper(&job, rj);
	layout(&b, rj);
	set_var(&b, "C", rj->commit);
	set_var(&b, "BUNDLE", rj->bundle);
	/* A bundle in a workspace relative to the home: git reads it from elsewhere. */
	buf_adds(&b, "case $BUNDLE in /* | '') ;; *) BUNDLE=$PWD/$BUNDLE ;; esac\n");
	set_var(&b, "JOB", job.data);
	buf_adds(&b,
		 "mkdir -p \"$W/repos\" \"$W/trees/$NS\" \"$R\" \"$M\" || { say \"cannot write in "
		 "the workspace $W\"; exit 4; }\n"
		 "[ -d \"$R/launched\" ] && { echo launched; exit 0; }\n"
		 "command -v git >/dev/null || { say 'git is not installed on the worker'; exit 4; }\n"
		 "command -v setsid >/dev/null || { say 'setsid is not installed on the worker'; "
		 "exit 4; }\n"
		 "exec 9>\"$B.lock\"; command -v flock >/dev/null && flock 9\n"
		 "[ -d \"$B\" ] || git init -q --bare \"$B\" </dev/null || exit 4\n"
		 "if [ -n \"$BUNDLE\" ]; then\n"
		 "  git -C \"$B\" fetch -q \"$BUNDLE\" \"+refs/hypotop/ship:refs/hypotop/c/$C\" "
		 "</dev/null; f=$?\n"
		 "  rm -f \"$BUNDLE\"\n"
		 "  [ $f -eq 0 ] || exit 3\n"
		 "fi\n"
		 "git -C \"$B\" cat-file -e \"$C^{commit}\" 2>/dev/null || { say \"the worker lacks "
		 "commit $C\"; exit 3; }\n"
		 "git -C \"$B\" update-ref \"refs/hypotop/c/$C\" \"$C\" || exit 4\n"
		 "if [ -e \"$T/.git\" ] && git -C \"$T\" checkout -q -f --detach \"$C\" </dev/null "
		 "2>/dev/null; then\n"
		 "  git -C \"$T\" clean -q -f -f -d -x || exit 4\n"
		 "else\n"
		 "  rm -rf \"$T\"; git -C \"$B\" worktree prune\n"
		 "  git -C \"$B\" worktree add -q -f --detach \"$T\" \"$C\" </dev/null || exit 4\n"
		 "fi\n"
		 "exec 9>&-\n"
		 "printf '%s' \"$JOB\" > \"$R/job.sh\" || exit 4\n");
	if (rj->slurm)
		submit(&b, rj);
	else
		buf_adds(&b, "mkdir \"$R/launched\" 2>/dev/null || { echo launched; exit 0; }\n"
			     "cd \"$R\" && setsid sh ./job.sh \"$R\" \"$T\" \"$M/$C\" \"$M.lock\" "
			     "</dev/null >>log 2>&1 &\n"
			     "echo launched\n");
	buf_free(&job);
	return buf_steal(&b);
}

char *remote_known_script(const char *workspace, const char *project)
{
	struct buf b;

	buf_init(&b);
	set_var(&b, "W", workspace_of(workspace));
	set_var(&b, "P", project);
	buf_printf(&b, "cd || exit %d\n"
		       "e=$(mkdir -p \"$W/ship\" 2>&1) || { printf 'cannot write in the workspace %%s: "
		       "%%s\\n' \"$(cd \"$W\" 2>/dev/null && pwd || echo \"$W\")\" \"${e##*: }\" >&2; "
		       "exit %d; }\n",
		   REMOTE_UNWRITABLE, REMOTE_UNWRITABLE);
	buf_adds(&b, "git -C \"$W/repos/$P.git\" for-each-ref --format='%(objectname)' "
		     "refs/hypotop/ 2>/dev/null; exit 0\n");
	return buf_steal(&b);
}

/* "for R in 'a' 'b'; do" over the run folders. */
static void for_runs(struct buf *b, char *const runs[], size_t n)
{
	buf_adds(b, "for R in");
	for (size_t i = 0; i < n; i++) {
		buf_addc(b, ' ');
		sh_quote(b, runs[i]);
	}
	buf_adds(b, "; do\n");
}

/*
 * The sizes of the jobs' logs, by one wc for all ("Z INDEX SIZE" lines):
 * each log there is put in the script's arguments, in order, with its
 * job's index in I (a log gone between the two is not: wc says nothing
 * of it, and the sizes after it would go to the wrong jobs).
 */
#define LOG_OF "  [ -e \"$R/log\" ] && set -- \"$@\" \"$R/log\" && I=\"$I $i\"\n"
#define LOG_SIZES                                                                          \
	"[ $# -gt 0 ] && wc -c \"$@\" 2>/dev/null | { for k in $I; do read -r z f || break; " \
	"echo \"Z $k $z\"; done; }\n"

char *remote_poll_script(char *const runs[], size_t n, bool gpus)
{
	struct buf b;

	buf_init(&b);
	/*
	 * Alive is looked at before the exit code: a job seen gone has recorded its end by then.
	 * A command whose wrapper is gone without an exit code has no one to record its end,
	 * and the engine queues the node again as lost: its session is killed first, so
	 * that the copy never runs beside it.
	 */
	buf_adds(&b, "cd || exit 1\n" START_OF "set -- ; I= i=0\n");
	for_runs(&b, runs, n);
	buf_adds(&b, "  l=0 p= s= a=0 b= e= z=\n"
		     "  [ -d \"$R/launched\" ] && l=1\n"
		     "  [ -r \"$R/pid\" ] && read -r p s < \"$R/pid\"\n"
		     "  [ -n \"$p\" ] && [ \"$(start_of $p)\" = \"$s\" ] && a=1\n"
		     "  [ -r \"$R/build_exit\" ] && read -r b < \"$R/build_exit\"\n"
		     "  [ -r \"$R/exit_code\" ] && read -r e < \"$R/exit_code\"\n"
		     "  [ -n \"$p\" ] && [ $a = 0 ] && [ -z \"$e\" ] && [ -r \"$R/pgid\" ] && "
		     "read -r q t < \"$R/pgid\" && [ -n \"$q\" ] && [ \"$(start_of $q)\" = \"$t\" ] && "
		     "kill -s KILL -- -$q 2>/dev/null\n"
		     "  echo J $i $l ${p:--} ${s:--} $a ${b:--} ${e:--} -\n"
		     LOG_OF
		     "  i=$((i+1))\n"
		     "done\n"
		     LOG_SIZES);
	if (gpus)
		buf_adds(&b, "command -v nvidia-smi >/dev/null && " REMOTE_NVIDIA_SMI
			     " 2>/dev/null | sed 's/^/G /'\n");
	buf_adds(&b, "exit 0\n");
	return buf_steal(&b);
}

char *remote_slurm_poll_script(char *const runs[], size_t n)
{
	struct buf b;

	/*
	 * One squeue for all: a job that left it (Slurm forgets a job some
	 * minutes after its end) is asked of scontrol, once a poll, until the
	 * engine settles it.
	 */
	buf_init(&b);
	buf_adds(&b, "cd || exit 1\n"
		     "q=$(squeue -h -t all -u \"$(id -un)\" -o '%i|%T|%r|%N|%M|%V' 2>&1) || "
		     "{ printf 'D %s\\n' \"$(printf '%s' \"$q\" | tr '\\n' ' ')\"; exit 0; }\n"
		     "printf '%s\\n' \"$q\" | sed -n 's/^[0-9]/Q &/p'\n"
		     "nl='\n'\n"
		     "set -- ; I= i=0\n");
	for_runs(&b, runs, n);
	buf_adds(&b, "  l=0 j= b= e= z=\n"
		     "  [ -d \"$R/launched\" ] && l=1\n"
		     "  [ -r \"$R/slurm_id\" ] && read -r j < \"$R/slurm_id\"\n"
		     "  [ -r \"$R/build_exit\" ] && read -r b < \"$R/build_exit\"\n"
		     "  [ -r \"$R/exit_code\" ] && read -r e < \"$R/exit_code\"\n"
		     "  echo J $i $l ${j:--} - 0 ${b:--} ${e:--} -\n"
		     LOG_OF
		     "  case $j in ''|*[!0-9]*) ;; *)\n"
		     "    case \"$nl$q\" in *\"$nl$j|\"*) ;; *)\n"
		     "      printf 'S %s %s\\n' \"$j\" \"$(scontrol show job -o \"$j\" 2>&1 | "
		     "head -n 1)\" ;;\n"
		     "    esac ;;\n"
		     "  esac\n"
		     "  i=$((i+1))\n"
		     "done\n" LOG_SIZES
		     "exit 0\n");
	return buf_steal(&b);
}

/* A whole number, or -1 when the word is not one ("-" for not recorded). */
static long long word_num(const char *w)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*w))
		return -1;
	v = strtoll(w, &end, 10);
	return *end ? -1 : v;
}

/* The same for the len bytes at p. */
static long long word_num_n(const char *p, size_t len)
{
	char w[32];

	if (len >= sizeof w)
		return -1;
	memcpy(w, p, len);
	w[len] = '\0';
	return word_num(w);
}

/* A J line's word on run i. */
static void parse_job(char w[][64], struct remote_state *st, size_t n)
{
	long long i = word_num(w[0]), v;

	if (i < 0 || (size_t)i >= n)
		return;
	struct remote_state *s = &st[i];
	s->seen = true;
	s->launched = !strcmp(w[1], "1");
	s->pid = (v = word_num(w[2])) > 0 ? v : 0;
	s->start_time = (v = word_num(w[3])) > 0 ? v : 0;
	s->alive = !strcmp(w[4], "1") && s->pid;
	s->build_exit = (v = word_num(w[5])) <= 255 ? (int)v : -1;
	s->exit_code = (v = word_num(w[6])) <= 255 ? (int)v : -1;
	s->log_size = word_num(w[7]);
}

/*
 * The J lines into st[0..n); every other line whose first word is one
 * of tags (each a letter) is kept, without its tag, in the buffer of
 * that tag's place (bufs[k] for tags[k]).
 */
static void parse_lines(const char *out, struct remote_state *st, size_t n, const char *tags,
			struct buf *bufs)
{
	for (size_t i = 0; i < n; i++)
		st[i] = (struct remote_state){.build_exit = -1, .exit_code = -1, .log_size = -1,
					      .slurm_since_s = -1};
	for (const char *p = out ? out : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *tag = len > 2 && p[1] == ' ' ? strchr(tags, p[0]) : NULL;
		char line[512], w[8][64];
		long long zi, zs;
		if (len > 2 && !strncmp(p, "Z ", 2) && sscanf(p, "Z %lld %lld", &zi, &zs) == 2) {
			if (zi >= 0 && (size_t)zi < n && zs >= 0)
				st[zi].log_size = zs;
		} else if (tag && *tag != 'J') {
			buf_add(&bufs[tag - tags], p + 2, len - 2);
			buf_addc(&bufs[tag - tags], '\n');
		} else if (len < sizeof line) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (sscanf(line, "J %63s %63s %63s %63s %63s %63s %63s %63s", w[0], w[1], w[2],
				   w[3], w[4], w[5], w[6], w[7]) == 8)
				parse_job(w, st, n);
		}
		p += len + (nl != NULL);
	}
}

void remote_parse_poll(const char *out, struct remote_state *st, size_t n, struct worker_gpu *gpu,
		       size_t *ngpu)
{
	struct buf b[2];

	buf_init(&b[0]);
	buf_init(&b[1]);
	buf_adds(&b[1], "");
	parse_lines(out, st, n, "JG", b);
	if (gpu && ngpu)
		*ngpu = remote_parse_gpus(b[1].data, gpu, WORKER_GPUS_MAX);
	buf_free(&b[0]);
	buf_free(&b[1]);
}

static const char *const slurm_active[] = {
	"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED",
	"REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
	"RESV_DEL_HOLD",
};

bool remote_slurm_active(const char *state)
{
	for (size_t i = 0; i < sizeof slurm_active / sizeof *slurm_active; i++)
		if (!strcmp(state, slurm_active[i]))
			return true;
	return false;
}

const char *remote_slurm_kind(const char *state)
{
	static const struct {
		const char *state, *kind;
	} kinds[] = {
		{"CANCELLED", "slurm_cancelled"}, {"TIMEOUT", "timeout"}, {"NODE_FAIL", "node_fail"},
		{"OUT_OF_MEMORY", "oom"},   {"PREEMPTED", "preempted"}, {"BOOT_FAIL", "node_fail"},
		{"DEADLINE", "timeout"},
	};

	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (!strcmp(state, kinds[i].state))
			return kinds[i].kind;
	return NULL;
}

/* Copy the field [p, end) into out, cut to fit. */
static void field_copy(char *out, size_t outsz, const char *p, const char *end)
{
	size_t len = (size_t)(end - p);

	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

/* Slurm's [DD-[HH:]]MM:SS, in seconds; -1 when it is none. */
static long long slurm_duration(const char *t)
{
	long long v[4] = {0}, days = 0;
	int k = 0;
	const char *dash = strchr(t, '-');

	if (dash) {
		days = word_num_n(t, (size_t)(dash - t));
		t = dash + 1;
	}
	for (const char *p = t; k < 3;) {
		const char *c = strchr(p, ':');
		size_t len = c ? (size_t)(c - p) : strlen(p);
		if ((v[k++] = word_num_n(p, len)) < 0 || !c)
			break;
		p = c + 1;
	}
	if (days < 0 || k < 2 || v[k - 1] < 0)
		return -1;
	long long s = 0;
	for (int i = 0; i < k; i++)
		s = s * 60 + v[i];
	return days * 86400 + s;
}

/* Slurm's local YYYY-MM-DDTHH:MM:SS, in seconds since the epoch; -1 when it is none. */
static long long slurm_time(const char *t)
{
	struct tm tm = {0};
	const char *end = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	time_t v = mktime(&tm);
	return v == (time_t)-1 ? -1 : (long long)v;
}

/* A squeue line: ID|STATE|REASON|NODE|ELAPSED|SUBMIT. */
static void slurm_queued(const char *line, struct remote_state *st, size_t n, long long now_s)
{
	const char *f[6], *end[6], *p = line;
	int k;

	for (k = 0; k < 6 && p; k++) {
		f[k] = p;
		const char *bar = strchr(p, '|');
		end[k] = bar ? bar : p + strlen(p);
		p = bar ? bar + 1 : NULL;
	}
	if (k < 6)
		return;
	long long id = word_num_n(f[0], (size_t)(end[0] - f[0]));
	for (size_t i = 0; id > 0 && i < n; i++) {
		struct remote_state *s = &st[i];
		if (s->pid != id)
			continue;
		field_copy(s->slurm_state, sizeof s->slurm_state, f[1], end[1]);
		field_copy(s->slurm_reason, sizeof s->slurm_reason, f[2], end[2]);
		if (!strcmp(s->slurm_reason, "None"))
			s->slurm_reason[0] = '\0';
		field_copy(s->slurm_node, sizeof s->slurm_node, f[3], end[3]);
		char t[64];
		if (!strcmp(s->slurm_state, "PENDING")) {
			field_copy(t, sizeof t, f[5], end[5]);
			long long at = slurm_time(t);
			s->slurm_since_s = at < 0 ? -1 : now_s > at ? now_s - at : 0;
		} else {
			field_copy(t, sizeof t, f[4], end[4]);
			s->slurm_since_s = slurm_duration(t);
		}
	}
}

/* The value of NAME= in an `scontrol show job -o` line, into out; "" when absent. */
static void scontrol_field(const char *line, const char *name, char *out, size_t outsz)
{
	size_t len = strlen(name);

	out[0] = '\0';
	for (const char *p = line; (p = strstr(p, name)); p += len) {
		if ((p == line || p[-1] == ' ') && p[len] == '=') {
			const char *v = p + len + 1, *e = strchr(v, ' ');
			field_copy(out, outsz, v, e ? e : v + strlen(v));
			return;
		}
	}
}

/* An S line: "ID" and what scontrol said of the job squeue no longer lists. */
static void slurm_shown(const char *line, struct remote_state *st, size_t n)
{
	const char *sp = strchr(line, ' ');
	long long id = sp ? word_num_n(line, (size_t)(sp - line)) : -1;

	for (size_t i = 0; id > 0 && i < n; i++) {
		struct remote_state *s = &st[i];
		if (s->pid != id)
			continue;
		scontrol_field(sp + 1, "JobState", s->slurm_state, sizeof s->slurm_state);
		if (!s->slurm_state[0] && strstr(sp + 1, "Invalid job id"))
			snprintf(s->slurm_state, sizeof s->slurm_state, "GONE");
		scontrol_field(sp + 1, "Reason", s->slurm_reason, sizeof s->slurm_reason);
		if (!strcmp(s->slurm_reason, "None"))
			s->slurm_reason[0] = '\0';
		scontrol_field(sp + 1, "NodeList", s->slurm_node, sizeof s->slurm_node);
		if (!strcmp(s->slurm_node, "(null)"))
			s->slurm_node[0] = '\0';
	}
}

void remote_parse_slurm_poll(const char *out, struct remote_state *st, size_t n, long long now_s,
			     char *down, size_t downsz)
{
	struct buf b[4];

	for (int k = 0; k < 4; k++) {
		buf_init(&b[k]);
		buf_adds(&b[k], "");
	}
	parse_lines(out, st, n, "JQSD", b);
	/* The id is in the pid's place; a job is alive by Slurm's word, not by a pid. */
	for (size_t i = 0; i < n; i++)
		st[i].alive = false;
	for (int k = 1; k <= 2; k++)
		for (char *p = b[k].data, *nl; *p; p = nl + 1) {
			nl = strchr(p, '\n');
			*nl = '\0';
			if (k == 1)
				slurm_queued(p, st, n, now_s);
			else
				slurm_shown(p, st, n);
		}
	for (size_t i = 0; i < n; i++)
		st[i].alive = remote_slurm_active(st[i].slurm_state);
	char *nl = strchr(b[3].data, '\n');
	if (nl)
		*nl = '\0';
	snprintf(down, downsz, "%s", b[3].data);
	if (b[3].len && !*down)
		snprintf(down, downsz, "squeue failed");
	for (int k = 0; k < 4; k++)
		buf_free(&b[k]);
}

/* The number in the field [p, end) trimmed, or -1 ("[N/A]", "[Not Supported]", nothing). */
static double field_num(const char *p, const char *end)
{
	char text[64];

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	if (end == p || (size_t)(end - p) >= sizeof text)
		return -1;
	memcpy(text, p, (size_t)(end - p));
	text[end - p] = '\0';
	double v;
	return parse_double(text, &v) == 0 && v >= 0 ? v : -1;
}

size_t remote_parse_gpus(const char *text, struct worker_gpu *gpu, size_t max)
{
	size_t n = 0;

	for (const char *p = text ? text : ""; *p && n < max;) {
		const char *nl = strchr(p, '\n');
		const char *eol = nl ? nl : p + strlen(p);
		double f[5];
		const char *q = p;
		for (int k = 0; k < 5; k++) {
			const char *c = q <= eol ? memchr(q, ',', (size_t)(eol - q)) : NULL;
			const char *fe = c ? c : eol;
			f[k] = q <= eol ? field_num(q, fe) : -1;
			q = c ? c + 1 : eol + 1;
		}
		if (f[0] >= 0 && f[0] == (int)f[0] && q > eol) {
			gpu[n] = (struct worker_gpu){(int)f[0], f[1], f[2], f[3], f[4]};
			n++;
		}
		p = nl ? nl + 1 : eol;
	}
	return n;
}

/* A signal by name: numbers differ between the worker's kind of machine and this one. */
static const char *sig_name(int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {{SIGTERM, "TERM"}, {SIGKILL, "KILL"}, {SIGSTOP, "STOP"}, {SIGCONT, "CONT"},
		     {SIGINT, "INT"},   {SIGHUP, "HUP"},   {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].sig == sig)
			return names[i].name;
	return NULL;
}

char *remote_slurm_signal_script(long long id, int sig)
{
	const char *name = sig_name(sig);

	if (!name || id <= 0)
		return NULL;
	/* A job that waits has no process: it is held, released or cancelled. */
	if (sig == SIGSTOP)
		return xasprintf("s=$(squeue -h -j %lld -o %%T 2>/dev/null)\n"
				 "if [ \"$s\" = PENDING ]; then scontrol hold %lld; "
				 "else scancel --full --signal=STOP %lld; fi\n",
				 id, id, id);
	if (sig == SIGCONT)
		return xasprintf("s=$(squeue -h -j %lld -o %%T 2>/dev/null)\n"
				 "if [ \"$s\" = PENDING ]; then scontrol release %lld; "
				 "else scancel --full --signal=CONT %lld; fi\n",
				 id, id, id);
	return xasprintf("scancel %lld\n", id);
}

char *remote_signal_script(const char *run, int sig)
{
	const char *name = sig_name(sig);
	struct buf b;

	if (!name)
		return NULL;
	buf_init(&b);
	set_var(&b, "R", run);
	buf_printf(&b, "cd || exit 1\n" START_OF
		       "read -r p s < \"$R/pgid\" && [ -n \"$p\" ] && [ \"$(start_of $p)\" = \"$s\" ] && "
		       "kill -s %s -- -$p\n",
		   name);
	return buf_steal(&b);
}
