/* alerts.c — see alerts.h. */
#include "hypotop/alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/json.h"
#include "hypotop/llm.h"

/* Tries of one webhook post, the waits between them doubling from the first. */
#define HOOK_TRIES 4
#define HOOK_WAIT_MS 500
#define HOOK_TIMEOUT_MS 10000
/* Posts waiting beyond this are dropped, the oldest first: a dead server holds no memory. */
#define HOOK_QUEUE_MAX 64

struct hook_msg {
	char *body;
	struct hook_msg *next;
};

struct alerts {
	char *path; /* the workdir, named in the webhook's text */
	char *file;
	char *url;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hook_msg *head, *tail;
	size_t queued;
	bool stop;
	struct llm_cancel cancel;
	struct loop *loop;
	void (*say)(void *ctx, const char *msg);
	void *say_ctx;
	char failed[sizeof(struct err) + 160]; /* a post given up, not said yet; "" none */
};

void alerts_format(const struct alert *al, struct buf *b)
{
	buf_printf(b, "{\"time\":%lld,\"node\":", (long long)al->time);
	json_append_str(b, al->node);
	buf_adds(b, ",\"worker\":");
	json_append_str(b, al->worker);
	buf_adds(b, ",\"rule\":");
	json_append_str(b, al->event ? al->event : health_rule_info(al->rule)->name);
	buf_adds(b, ",\"value\":");
	json_append_num(b, al->value);
	buf_adds(b, ",\"threshold\":");
	json_append_num(b, al->threshold);
	buf_adds(b, ",\"step\":");
	json_append_num(b, al->step);
	buf_printf(b, ",\"action\":\"%s\",\"severity\":\"%s\"}", health_action_name(al->action),
		   health_severity_name(al->severity));
}

/* Given up: said on the main thread (on_wake). */
static void give_up(struct alerts *a, const char *why)
{
	pthread_mutex_lock(&a->mu);
	snprintf(a->failed, sizeof a->failed,
		 "warning: alerts: a critical alert's webhook post (alerts.webhook_url) was given "
		 "up after %d tries: %s",
		 HOOK_TRIES, why);
	pthread_mutex_unlock(&a->mu);
	loop_wake(a->loop);
}

static void on_wake(struct loop *l, void *ctx)
{
	struct alerts *a = ctx;
	char msg[sizeof a->failed];

	(void)l;
	pthread_mutex_lock(&a->mu);
	snprintf(msg, sizeof msg, "%s", a->failed);
	a->failed[0] = '\0';
	pthread_mutex_unlock(&a->mu);
	if (msg[0] && a->say)
		a->say(a->say_ctx, msg);
}

/* One post, tried HOOK_TRIES times; false when cancelled. */
static bool post(struct alerts *a, const char *body)
{
	static const char *const headers[] = {"Content-Type: application/json"};
	char why[sizeof(struct err)] = "";

	for (int i = 0; i < HOOK_TRIES; i++) {
		struct http_request rq = {.url = a->url,
					  .headers = headers,
					  .nheaders = 1,
					  .body = body,
					  .body_len = strlen(body),
					  .connect_timeout_ms = HOOK_TIMEOUT_MS / 2,
					  .timeout_ms = HOOK_TIMEOUT_MS,
					  .cancel = &a->cancel};
		struct http_response rs;
		struct err e = {{0}};
		http_response_init(&rs);
		enum http_fail f = http_post(&rq, &rs, &e);
		long status = rs.status;
		http_response_free(&rs);
		if (f == HTTP_CANCELLED)
			return false;
		if (f == HTTP_OK && status >= 200 && status < 300)
			return true;
		if (f == HTTP_OK)
			snprintf(why, sizeof why, "the server answered HTTP %ld", status);
		else /* without the URL http.c puts first: it may hold a secret */
			snprintf(why, sizeof why, "%s",
				 !strncmp(e.msg, a->url, strlen(a->url)) &&
						 !strncmp(e.msg + strlen(a->url), ": ", 2)
					 ? e.msg + strlen(a->url) + 2
					 : e.msg);
		/* A bad URL, or refused: trying again will not help. */
		if (f == HTTP_FATAL ||
		    (f == HTTP_OK && status >= 400 && status < 500 && status != 408 && status != 429))
			break;
		if (i + 1 < HOOK_TRIES && !llm_cancel_sleep(&a->cancel, (long)HOOK_WAIT_MS << i))
			return false;
	}
	give_up(a, why);
	return true;
}

static void *sender(void *p)
{
	struct alerts *a = p;

	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->head && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stop)
			break;
		struct hook_msg *m = a->head;
		a->head = m->next;
		if (!a->head)
			a->tail = NULL;
		a->queued--;
		pthread_mutex_unlock(&a->mu);
		bool go_on = post(a, m->body); /* no lock held across the I/O */
		free(m->body);
		free(m);
		pthread_mutex_lock(&a->mu);
		if (!go_on)
			break;
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct alerts *alerts_open(const char *path, const char *webhook_url, struct loop *loop,
			   void (*say)(void *ctx, const char *msg), void *say_ctx)
{
	struct alerts *a = xcalloc(1, sizeof *a);

	a->loop = loop;
	a->say = say;
	a->say_ctx = say_ctx;

	a->path = xstrdup(path);
	a->file = xasprintf("%s/logs/alerts.jsonl", path);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	llm_cancel_init(&a->cancel);
	if (webhook_url && *webhook_url) {
		a->url = xstrdup(webhook_url);
		loop_wake_add(loop, on_wake, a);
		a->started = pthread_create(&a->thread, NULL, sender, a) == 0;
	}
	return a;
}

void alerts_close(struct alerts *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		llm_cancel_set(&a->cancel);
		pthread_join(a->thread, NULL);
	}
	if (a->url)
		loop_wake_remove(a->loop, on_wake, a);
	for (struct hook_msg *m = a->head, *next; m; m = next) {
		next = m->next;
		free(m->body);
		free(m);
	}
	llm_cancel_destroy(&a->cancel);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a->path);
	free(a->file);
	free(a->url);
	free(a);
}

static void hook_queue(struct alerts *a, const struct alert *al, const char *text)
{
	struct buf b;
	struct hook_msg *m = xcalloc(1, sizeof *m);

	buf_init(&b);
	char *said = xasprintf("hypotop %s: %s", a->path, text);
	buf_adds(&b, "{\"text\":");
	json_append_str(&b, said);
	free(said);
	buf_adds(&b, ",\"alert\":");
	alerts_format(al, &b);
	buf_addc(&b, '}');
	m->body = buf_steal(&b);
	pthread_mutex_lock(&a->mu);
	if (a->queued == HOOK_QUEUE_MAX) {
		struct hook_msg *old = a->head;
		a->head = old->next;
		if (!a->head)
			a->tail = NULL;
		a->queued--;
		free(old->body);
		free(old);
	}
	if (a->tail)
		a->tail->next = m;
	else
		a->head = m;
	a->tail = m;
	a->queued++;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

int alerts_record(struct alerts *a, const struct alert *al, const char *text, struct err *e)
{
	struct buf b;
	int rc = 0;

	if (al->severity == SEV_CRITICAL && a->started)
		hook_queue(a, al, text);
	buf_init(&b);
	alerts_format(al, &b);
	buf_addc(&b, '\n');
	/* Rare (a rule and node at most once per repeat_seconds): opened, written and synced each time. */
	int fd = open(a->file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len || fsync(fd) < 0) {
		err_set(e, "%s: %s", a->file, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	buf_free(&b);
	return rc;
}
