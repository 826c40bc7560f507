/* remote.c — the scripts the ssh executor runs on a worker (see remote.h). */
#include "hypotop/remote.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/util.h"

/* NAME='value' and a newline. */
static void set_var(struct buf *b, const char *name, const char *value)
{
	buf_printf(b, "%s=", name);
	sh_quote(b, value ? value : "");
	buf_addc(b, '\n');
}

/* Field 22 of /proc/PID/stat, the start time that tells a process from a later one of its pid. */
#define START_OF "start_of() { sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f20; }\n"

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
		 "exit \"$1\"; }\n"
		 "run() { setsid sh -c \"$1\" </dev/null 9>&- & j=$!; rec pgid \"$j $(start_of $j)\"; "
		 "wait $j; }\n"
		 "head=$(git -C \"$T\" rev-parse HEAD 2>/dev/null)\n"
		 "[ \"$head\" = \"$C\" ] || fail 1 \"the work tree $T is at ${head:-no commit}, not "
		 "at the node's commit $C: hypotop runs the node's code or nothing\"\n");
	for (const char *const *u = rj->unset; u && *u; u++) {
		buf_adds(b, "unset ");
		sh_quote(b, *u);
		buf_addc(b, '\n');
	}
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

char *remote_launch_script(const struct remote_job *rj)
{
	struct buf b, job;

	buf_init(&b);
	buf_init(&job);
	wrapper(&job, rj);
	layout(&b, rj);
	set_var(&b, "C", rj->commit);
	set_var(&b, "BUNDLE", rj->bundle);
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
		 "printf '%s' \"$JOB\" > \"$R/job.sh\" || exit 4\n"
		 "mkdir \"$R/launched\" 2>/dev/null || { echo launched; exit 0; }\n"
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
	buf_adds(&b, "cd || exit 1\n" START_OF
		     "i=0\n"
		     "for R in");
	for (size_t i = 0; i < n; i++) {
		buf_addc(&b, ' ');
		sh_quote(&b, runs[i]);
	}
	buf_adds(&b, "; do\n"
		     "  l=0 p= s= a=0 b= e= z=\n"
		     "  [ -d \"$R/launched\" ] && l=1\n"
		     "  [ -r \"$R/pid\" ] && read -r p s < \"$R/pid\"\n"
		     "  [ -n \"$p\" ] && [ \"$(start_of $p)\" = \"$s\" ] && a=1\n"
		     "  [ -r \"$R/build_exit\" ] && read -r b < \"$R/build_exit\"\n"
		     "  [ -r \"$R/exit_code\" ] && read -r e < \"$R/exit_code\"\n"
		     "  [ -n \"$p\" ] && [ $a = 0 ] && [ -z \"$e\" ] && [ -r \"$R/pgid\" ] && "
		     "read -r q t < \"$R/pgid\" && [ -n \"$q\" ] && [ \"$(start_of $q)\" = \"$t\" ] && "
		     "kill -s KILL -- -$q 2>/dev/null\n"
		     "  [ -e \"$R/log\" ] && z=$(wc -c < \"$R/log\")\n"
		     "  echo J $i $l ${p:--} ${s:--} $a ${b:--} ${e:--} ${z:--}\n"
		     "  i=$((i+1))\n"
		     "done\n");
	if (gpus)
		buf_adds(&b, "command -v nvidia-smi >/dev/null && " REMOTE_NVIDIA_SMI
			     " 2>/dev/null | sed 's/^/G /'\n");
	buf_adds(&b, "exit 0\n");
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

void remote_parse_poll(const char *out, struct remote_state *st, size_t n, struct worker_gpu *gpu,
		       size_t *ngpu)
{
	struct buf g;

	buf_init(&g);
	buf_adds(&g, "");
	for (size_t i = 0; i < n; i++)
		st[i] = (struct remote_state){.build_exit = -1, .exit_code = -1, .log_size = -1};
	for (const char *p = out ? out : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char line[512], w[9][64];
		if (len < sizeof line) {
			memcpy(line, p, len);
			line[len] = '\0';
			if (!strncmp(line, "G ", 2)) {
				buf_adds(&g, line + 2);
				buf_addc(&g, '\n');
			} else if (sscanf(line, "J %63s %63s %63s %63s %63s %63s %63s %63s", w[0], w[1],
					  w[2], w[3], w[4], w[5], w[6], w[7]) == 8) {
				long long i = word_num(w[0]);
				if (i >= 0 && (size_t)i < n) {
					struct remote_state *s = &st[i];
					long long v;
					s->seen = true;
					s->launched = !strcmp(w[1], "1");
					s->pid = (v = word_num(w[2])) > 0 ? v : 0;
					s->start_time = (v = word_num(w[3])) > 0 ? v : 0;
					s->alive = !strcmp(w[4], "1") && s->pid;
					s->build_exit = (v = word_num(w[5])) <= 255 ? (int)v : -1;
					s->exit_code = (v = word_num(w[6])) <= 255 ? (int)v : -1;
					s->log_size = word_num(w[7]);
				}
			}
		}
		p += len + (nl != NULL);
	}
	if (gpu && ngpu)
		*ngpu = remote_parse_gpus(g.data, gpu, WORKER_GPUS_MAX);
	buf_free(&g);
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

char *remote_signal_script(const char *run, int sig)
{
	static const struct {
		int sig;
		const char *name;
	} names[] = {{SIGTERM, "TERM"}, {SIGKILL, "KILL"}, {SIGSTOP, "STOP"}, {SIGCONT, "CONT"},
		     {SIGINT, "INT"},   {SIGHUP, "HUP"},   {SIGUSR1, "USR1"}, {SIGUSR2, "USR2"}};
	const char *name = NULL;
	struct buf b;

	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].sig == sig)
			name = names[i].name;
	if (!name)
		return NULL;
	/* By name: signal numbers differ between the worker's kind of machine and this one. */
	buf_init(&b);
	set_var(&b, "R", run);
	buf_printf(&b, "cd || exit 1\n" START_OF
		       "read -r p s < \"$R/pgid\" && [ -n \"$p\" ] && [ \"$(start_of $p)\" = \"$s\" ] && "
		       "kill -s %s -- -$p\n",
		   name);
	return buf_steal(&b);
}
