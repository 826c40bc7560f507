/* bg.c — see bg.h. */
#include "hypotop/bg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hypotop/util.h"

struct task {
	void (*work)(void *), (*done)(void *);
	void *arg;
	struct task *next;
};

struct bg {
	struct loop *loop;
	pthread_t *threads;
	int nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv, idle;
	struct task *todo, *todo_tail, *finished, *finished_tail;
	int pending;
	int busy; /* tasks being worked on */
	bool stop;
};

static void push(struct task **head, struct task **tail, struct task *t)
{
	t->next = NULL;
	if (*tail)
		(*tail)->next = t;
	else
		*head = t;
	*tail = t;
}

static void *run(void *p)
{
	struct bg *bg = p;

	pthread_mutex_lock(&bg->mu);
	for (;;) {
		while (!bg->todo && !bg->stop)
			pthread_cond_wait(&bg->cv, &bg->mu);
		if (bg->stop)
			break;
		struct task *t = bg->todo;
		bg->todo = t->next;
		if (!bg->todo)
			bg->todo_tail = NULL;
		bg->busy++;
		pthread_mutex_unlock(&bg->mu);
		t->work(t->arg); /* no lock held across the work */
		pthread_mutex_lock(&bg->mu);
		bg->busy--;
		push(&bg->finished, &bg->finished_tail, t);
		if (!bg->todo && !bg->busy)
			pthread_cond_broadcast(&bg->idle);
		loop_wake(bg->loop);
	}
	pthread_mutex_unlock(&bg->mu);
	return NULL;
}

/* The done callbacks of the tasks finished so far, in the order they finished. */
static void deliver(struct bg *bg)
{
	pthread_mutex_lock(&bg->mu);
	struct task *t = bg->finished;
	bg->finished = bg->finished_tail = NULL;
	pthread_mutex_unlock(&bg->mu);
	while (t) {
		struct task *next = t->next;
		bg->pending--;
		t->done(t->arg);
		free(t);
		t = next;
	}
}

static void on_wake(struct loop *l, void *ctx)
{
	(void)l;
	deliver(ctx);
}

struct bg *bg_new(struct loop *loop, int nthreads)
{
	struct bg *bg = xcalloc(1, sizeof *bg);

	bg->loop = loop;
	loop_wake_add(loop, on_wake, bg);
	bg->threads = xcalloc((size_t)nthreads, sizeof *bg->threads);
	pthread_mutex_init(&bg->mu, NULL);
	pthread_cond_init(&bg->cv, NULL);
	pthread_cond_init(&bg->idle, NULL);
	for (; bg->nthreads < nthreads; bg->nthreads++)
		if (pthread_create(&bg->threads[bg->nthreads], NULL, run, bg) != 0) {
			bg_free(bg);
			return NULL;
		}
	return bg;
}

static void drop(struct task *t)
{
	while (t) {
		struct task *next = t->next;
		free(t);
		t = next;
	}
}

void bg_free(struct bg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->mu);
	bg->stop = true;
	pthread_cond_broadcast(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
	for (int i = 0; i < bg->nthreads; i++)
		pthread_join(bg->threads[i], NULL);
	loop_wake_remove(bg->loop, on_wake, bg);
	free(bg->threads);
	drop(bg->todo);
	drop(bg->finished);
	pthread_mutex_destroy(&bg->mu);
	pthread_cond_destroy(&bg->cv);
	pthread_cond_destroy(&bg->idle);
	free(bg);
}

void bg_submit(struct bg *bg, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct task *t = xcalloc(1, sizeof *t);

	t->work = work;
	t->done = done;
	t->arg = arg;
	pthread_mutex_lock(&bg->mu);
	push(&bg->todo, &bg->todo_tail, t);
	bg->pending++;
	pthread_cond_signal(&bg->cv);
	pthread_mutex_unlock(&bg->mu);
}


void bg_drain(struct bg *bg)
{
	pthread_mutex_lock(&bg->mu);
	while ((bg->todo || bg->busy) && bg->nthreads)
		pthread_cond_wait(&bg->idle, &bg->mu);
	pthread_mutex_unlock(&bg->mu);
	deliver(bg);
}

int bg_pending(const struct bg *bg)
{
	return bg->pending;
}
