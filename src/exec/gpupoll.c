/* gpupoll.c — see gpupoll.h. */
#include "hypotop/gpupoll.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/remote.h"
#include "hypotop/util.h"

struct gpupoll {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	struct worker_gpu gpu[WORKER_GPUS_MAX];
	size_t ngpu;
};

/* One run of nvidia-smi: its readings, none when it is not there or fails. */
static size_t query(struct worker_gpu *gpu)
{
	char text[8192];
	size_t len = 0, n;
	FILE *p = popen(REMOTE_NVIDIA_SMI " 2>/dev/null", "re");

	if (!p)
		return 0;
	while (len + 1 < sizeof text && (n = fread(text + len, 1, sizeof text - 1 - len, p)) > 0)
		len += n;
	text[len] = '\0';
	return pclose(p) == 0 ? remote_parse_gpus(text, gpu, WORKER_GPUS_MAX) : 0;
}

static void *run(void *arg)
{
	struct gpupoll *g = arg;
	struct worker_gpu gpu[WORKER_GPUS_MAX];

	pthread_mutex_lock(&g->mu);
	while (!g->stop) {
		pthread_mutex_unlock(&g->mu);
		size_t n = query(gpu); /* no lock held across it */
		pthread_mutex_lock(&g->mu);
		memcpy(g->gpu, gpu, n * sizeof *gpu);
		g->ngpu = n;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += GPUPOLL_MS / 1000;
		until.tv_nsec += (GPUPOLL_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!g->stop && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

struct gpupoll *gpupoll_start(void)
{
	struct gpupoll *g = xcalloc(1, sizeof *g);
	pthread_condattr_t a;

	pthread_mutex_init(&g->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cv, &a);
	pthread_condattr_destroy(&a);
	if (pthread_create(&g->thread, NULL, run, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return NULL;
	}
	return g;
}

void gpupoll_stop(struct gpupoll *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void gpupoll_read(struct gpupoll *g, struct worker_status *st)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	memcpy(st->gpu, g->gpu, g->ngpu * sizeof *g->gpu);
	st->ngpu = g->ngpu;
	pthread_mutex_unlock(&g->mu);
}
