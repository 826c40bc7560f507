/*
 * bench_ui — what one frame of the terminal UI costs (SPEC §11: a 10 000
 * node tree and a log growing at 10 000 lines/s draw in under 2 ms).
 *
 *   bench_ui WORKDIR NODES LINES_PER_S FRAMES
 *
 * Fills the workdir's tree with NODES nodes (in memory), selects a running
 * one and, for each frame, appends a quarter of a second of its log
 * (LINES_PER_S / 4 lines, the engine's tick), changes one node (so the tree
 * is rebuilt), then times ui_draw() on a 120x40 screen written to
 * /dev/null. Prints one line of key=value pairs. The workdir must exist
 * (hypotop init).
 */
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/ui_int.h"
#include "hypotop/workdir.h"

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nop_apply(void *ctx, const struct op *op, uint32_t *node, struct err *e)
{
	(void)ctx;
	(void)op;
	(void)node;
	err_set(e, "read-only");
	return -1;
}

int main(int argc, char **argv)
{
	struct workdir w;
	struct err e = {{0}};
	struct sched s;

	if (argc != 5) {
		fprintf(stderr, "usage: bench_ui WORKDIR NODES LINES_PER_S FRAMES\n");
		return 2;
	}
	long nodes = atol(argv[2]), rate = atol(argv[3]), frames = atol(argv[4]);
	setlocale(LC_CTYPE, "C.UTF-8");
	setenv("TERM", "xterm-256color", 1);
	if (workdir_open(&w, argv[1], WD_WRITE, "bench", &e) != WD_OK) {
		fprintf(stderr, "bench_ui: %s\n", e.msg);
		return 1;
	}
	srand(1);
	for (long i = 1; i < nodes; i++) {
		uint32_t parent = (uint32_t)(i < 8 ? 0 : i - 1 - rand() % (i < 64 ? i : 64));
		struct node *n = tree_add(&w.tree, parent);
		n->name = xasprintf("experiment-%ld", i);
		n->status = (uint8_t)(i % 5 == 0 ? ST_QUEUED : i % 7 == 0 ? ST_FAILED : ST_COMPLETED);
		n->has_metric = n->status == ST_COMPLETED;
		n->metric = 1.0 / (double)(i + 1);
		n->improved = (int8_t)(i % 3 == 0);
	}
	uint32_t run = (uint32_t)(nodes / 2);
	w.tree.nodes[run].status = ST_RUNNING;
	w.tree.nodes[run].started = now_ms();
	queue_rebuild(&w.queue);

	memset(&s, 0, sizeof s);
	s.wd = &w;
	s.nslots = 1;
	s.slots = xcalloc(1, sizeof *s.slots);
	s.slots[0].used = true;
	s.slots[0].node = run;
	s.slots[0].gpu = -1;
	metrics_init(&s.slots[0].metrics, NULL, &e);

	char nid[NODE_ID_LEN];
	node_id_format(run, nid);
	char *rel = xasprintf("runs/%s", nid);
	char *dir = workdir_file(&w, rel);
	fs_mkdir_p(dir, 0755, &e);
	char *log = path_join(dir, "log");
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

	FILE *in = fopen("/dev/null", "r"), *out = fopen("/dev/null", "w");
	struct ui_host host = {&w, &s, nop_apply, NULL, NULL, NULL};
	struct ui *ui = ui_open(&host, in, out, &e);
	if (!ui) {
		fprintf(stderr, "bench_ui: %s\n", e.msg);
		return 1;
	}
	ui_resize_to(ui, 40, 120);
	tree_select(ui, run);
	ui_draw(ui);

	long per_frame = rate / 4, step = 0;
	double total = 0, worst = 0, full = 0;
	struct buf chunk;
	buf_init(&chunk);
	for (long f = 0; f < frames; f++) {
		buf_reset(&chunk);
		for (long i = 0; i < per_frame; i++, step++) {
			buf_printf(&chunk, "step=%ld loss=%.5f lr=0.001 \033[32mok\033[0m\n", step,
				   1.0 / (double)(step + 1));
			if (i % 16 == 0)
				metrics_feed(&s.slots[0].metrics, "step=1 loss=0.5", 15);
		}
		(void)!write(fd, chunk.data, chunk.len);
		w.tree.nodes[run].metric = (double)f;
		w.seq++; /* a change recorded: the tree is rebuilt */
		double t0 = secs();
		ui_draw(ui);
		double dt = (secs() - t0) * 1000;
		total += dt;
		if (dt > worst)
			worst = dt;
	}
	/* A whole-screen redraw (Ctrl-L, resize). */
	double t0 = secs();
	ui_resize_to(ui, 40, 120);
	ui_draw(ui);
	full = (secs() - t0) * 1000;

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("nodes=%ld lines_per_s=%ld frames=%ld frame_ms_mean=%.3f frame_ms_max=%.3f "
	       "full_redraw_ms=%.3f max_rss_kib=%ld\n",
	       nodes, rate, frames, total / (double)frames, worst, full, ru.ru_maxrss);
	ui_close(ui);
	fclose(in);
	fclose(out);
	close(fd);
	buf_free(&chunk);
	metrics_free(&s.slots[0].metrics);
	free(s.slots);
	free(log);
	free(dir);
	free(rel);
	workdir_close(&w);
	return 0;
}
