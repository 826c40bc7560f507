/*
 * http.c — the one libcurl client (see llm.h), of the model providers and
 * of Vast.ai (src/exec/vast.c): a POST (or another method) with headers
 * and timeouts, the final response's status, headers and
 * body, and the retry rules of the official SDKs around it.
 *
 * Each request uses its own easy handle, so calls on several threads share
 * nothing. CURLOPT_NOSIGNAL keeps libcurl's timeouts off signals, which a
 * threaded program cannot use. Verbose output stays off: it would print
 * the request headers, and with them the API key.
 */
#include "hypotop/llm.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A larger answer is not a model's: the transfer is stopped. */
#define BODY_LIMIT (32u << 20)
/* A server's retry-after beyond this is ignored in favour of our own backoff (as the SDKs do). */
#define RETRY_AFTER_MAX_MS 60000

int llm_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void llm_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- cancellation ---- */

void llm_cancel_init(struct llm_cancel *c)
{
	pthread_condattr_t a;

	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &a);
	pthread_condattr_destroy(&a);
	c->cancelled = false;
}

void llm_cancel_destroy(struct llm_cancel *c)
{
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

void llm_cancel_set(struct llm_cancel *c)
{
	pthread_mutex_lock(&c->mu);
	c->cancelled = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

bool llm_cancelled(struct llm_cancel *c)
{
	bool v;

	if (!c)
		return false;
	pthread_mutex_lock(&c->mu);
	v = c->cancelled;
	pthread_mutex_unlock(&c->mu);
	return v;
}

bool llm_cancel_sleep(struct llm_cancel *c, long ms)
{
	struct timespec until;

	if (ms <= 0)
		return !llm_cancelled(c);
	if (!c) {
		struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
		while (nanosleep(&d, &d) < 0 && errno == EINTR)
			;
		return true;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->cancelled && pthread_cond_timedwait(&c->cv, &c->mu, &until) == 0)
		;
	bool ok = !c->cancelled;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* ---- responses ---- */

void http_response_init(struct http_response *r)
{
	r->status = 0;
	buf_init(&r->headers);
	buf_init(&r->body);
}

void http_response_free(struct http_response *r)
{
	buf_free(&r->headers);
	buf_free(&r->body);
	r->status = 0;
}

bool http_response_header(const struct http_response *r, const char *name, char *out,
			  size_t n)
{
	size_t nl = strlen(name);
	const char *p = r ? r->headers.data : NULL;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1, *end = p + len;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
				end--;
			snprintf(out, n, "%.*s", (int)(end - v), v);
			return true;
		}
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

struct xfer {
	struct http_response *rs;
	struct llm_cancel *cancel;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	if (x->rs->body.len + size * n > BODY_LIMIT) {
		x->too_big = true;
		return 0;
	}
	buf_add(&x->rs->body, data, size * n);
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	/* A new status line (after 100 Continue): keep only the final response's headers. */
	if (len >= 5 && !memcmp(data, "HTTP/", 5)) {
		buf_reset(&x->rs->headers);
		return len;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len && x->rs->headers.len < 65536) {
		buf_add(&x->rs->headers, data, len);
		buf_addc(&x->rs->headers, '\n');
	}
	return size * n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return llm_cancelled(x->cancel) ? 1 : 0;
}

enum http_fail http_post(const struct http_request *rq, struct http_response *rs,
			 struct err *e)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = {rs, rq->cancel, false};
	CURL *h = curl_easy_init();
	enum http_fail fail = HTTP_OK;

	http_response_free(rs);
	if (!h) {
		err_set(e, "cannot start an HTTP transfer (libcurl)");
		return HTTP_FATAL;
	}
	for (size_t i = 0; i < rq->nheaders; i++)
		hdrs = curl_slist_append(hdrs, rq->headers[i]);
	/* No "Expect: 100-continue" round trip for large prompts. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (rq->method && !strcmp(rq->method, "GET")) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (rq->method && strcmp(rq->method, "POST"))
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		if (rq->body || !rq->method) {
			curl_easy_setopt(h, CURLOPT_POST, 1L);
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
					 (curl_off_t)(rq->body ? rq->body_len : 0));
		}
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "hypotop/" HYPOTOP_VERSION);

	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
	} else {
		const char *why = *errbuf ? errbuf : curl_easy_strerror(rc);
		switch (rc) {
		case CURLE_ABORTED_BY_CALLBACK:
			fail = HTTP_CANCELLED;
			err_set(e, "%s: cancelled", rq->url);
			break;
		case CURLE_WRITE_ERROR:
			fail = x.too_big ? HTTP_FATAL : HTTP_TRANSIENT;
			err_set(e, "%s: %s", rq->url,
				x.too_big ? "the response is larger than 32 MiB" : why);
			break;
		case CURLE_OPERATION_TIMEDOUT:
			fail = HTTP_TRANSIENT;
			err_set(e, "%s: no complete answer within %.1f s (%s)", rq->url,
				(double)rq->timeout_ms / 1000, why);
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_PEER_FAILED_VERIFICATION:
			fail = HTTP_FATAL;
			err_set(e, "%s: %s", rq->url, why);
			break;
		default:
			/* Refused, reset, dropped, DNS: the SDKs retry all of these. */
			fail = HTTP_TRANSIENT;
			err_set(e, "%s: %s", rq->url, why);
			break;
		}
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return fail;
}

/* ---- retries ---- */

void llm_opts_default(struct llm_opts *o)
{
	o->connect_timeout_ms = 10000;
	o->timeout_ms = 600000;
	o->max_retries = 2;
	o->backoff_base_s = 0.5;
	o->backoff_max_s = 8;
	o->max_tokens = 8192;
	o->command_timeout_ms = 30L * 60 * 1000;
}

bool llm_should_retry(const struct http_response *r)
{
	char v[16];

	if (http_response_header(r, "x-should-retry", v, sizeof v)) {
		if (!strcmp(v, "true"))
			return true;
		if (!strcmp(v, "false"))
			return false;
	}
	return r->status == 408 || r->status == 409 || r->status == 429 || r->status >= 500;
}

/* Seconds or an HTTP date; -1 when it is neither. */
static long retry_after_ms(const char *v)
{
	char *end;
	double s = strtod_c(v, &end);
	struct tm tm;

	while (end && *end == ' ')
		end++;
	if (end != v && end && !*end)
		return s >= 0 && s < 1e9 ? (long)(s * 1000) : -1;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!rest || *rest)
		return -1;
	int64_t when = (int64_t)timegm(&tm) * 1000;
	return when > now_ms() ? (long)(when - now_ms()) : 0;
}

long llm_retry_delay_ms(const struct http_response *r, int attempt, const struct llm_opts *o,
			double jitter)
{
	char v[128];
	long ms = -1;

	if (r && http_response_header(r, "retry-after-ms", v, sizeof v)) {
		char *end;
		double d = strtod_c(v, &end);
		if (end != v && d >= 0 && d < 1e9)
			ms = (long)d;
	}
	if (ms < 0 && r && http_response_header(r, "retry-after", v, sizeof v))
		ms = retry_after_ms(v);
	if (ms > 0 && ms <= RETRY_AFTER_MAX_MS)
		return ms;
	double d = o->backoff_base_s;
	for (int i = 0; i < attempt && d < o->backoff_max_s; i++)
		d *= 2;
	if (d > o->backoff_max_s)
		d = o->backoff_max_s;
	return (long)(d * (1 - 0.25 * jitter) * 1000);
}

/* Jitter from a per-thread stream: no shared state, no lock. */
static double jitter(void)
{
	static _Thread_local uint64_t s;

	if (!s)
		s = (uint64_t)mono_ms() ^ (uint64_t)(uintptr_t)&s ^ 0x9E3779B97F4A7C15ull;
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (double)(s >> 11) * 0x1.0p-53;
}

static void note_attempt(struct llm_reply *r, long status, const char *error, long delay)
{
	cJSON *a = cJSON_CreateObject();

	if (!r->attempts)
		r->attempts = cJSON_CreateArray();
	if (status)
		cJSON_AddNumberToObject(a, "status", (double)status);
	if (error)
		cJSON_AddStringToObject(a, "error", error);
	if (delay >= 0)
		cJSON_AddNumberToObject(a, "retry_in_ms", (double)delay);
	cJSON_AddItemToArray(r->attempts, a);
}

enum http_fail llm_post(struct llm_client *c, const struct http_request *rq,
			bool (*is_final)(const struct http_response *), struct http_response *rs,
			struct llm_reply *r, struct err *e)
{
	for (int attempt = 0;; attempt++) {
		enum http_fail f = http_post(rq, rs, e);
		bool more = attempt < c->opts.max_retries;
		bool retry = f == HTTP_TRANSIENT ||
			     (f == HTTP_OK && rs->status / 100 != 2 && llm_should_retry(rs) &&
			      !(is_final && is_final(rs)));
		long delay = retry && more ? llm_retry_delay_ms(f == HTTP_OK ? rs : NULL, attempt,
								&c->opts, jitter())
					   : -1;
		if (f == HTTP_OK) {
			r->status = rs->status;
			note_attempt(r, rs->status, NULL, delay);
		} else {
			llm_scrub(c, e->msg, NULL);
			note_attempt(r, 0, e->msg, delay);
		}
		if (!retry || !more)
			return f;
		if (!llm_cancel_sleep(c->cancel, delay)) {
			err_set(e, "cancelled");
			return HTTP_CANCELLED;
		}
	}
}

static bool schema_refused(const struct llm_wire *w, const char *message)
{
	for (const char *const *word = w->schema_words; message && *word; word++)
		if (strstr(message, *word))
			return true;
	return false;
}

int llm_wire_call(struct llm_client *c, const struct llm_wire *w, const char *const *hdrs,
		  size_t nhdrs, const struct llm_call *q, struct llm_reply *r, struct err *e)
{
	struct http_response rs;
	int rc = -1;

	http_response_init(&rs);
	for (int pass = 0; pass < 2; pass++) {
		pthread_mutex_lock(c->mu);
		bool schema = !*c->no_schema;
		pthread_mutex_unlock(c->mu);
		char *body = w->body(c, q, schema);
		struct http_request rq = {c->url, hdrs, nhdrs, body, strlen(body),
					  c->opts.connect_timeout_ms, c->opts.timeout_ms, c->cancel, NULL};
		enum http_fail f = llm_post(c, &rq, w->is_final, &rs, r, e);
		free(body);
		if (f != HTTP_OK) {
			r->kind = planner_kind_name(f == HTTP_CANCELLED ? PK_CANCELLED
						    : f == HTTP_FATAL   ? PK_REQUEST
									: PK_UNAVAILABLE);
			err_prefix(e, "%s", w->provider);
			break;
		}
		const char *text = rs.body.data ? rs.body.data : "";
		cJSON_Delete(r->raw);
		r->raw = cJSON_Parse(text);
		if (!r->raw)
			r->raw = cJSON_CreateString(text);
		if (rs.status / 100 == 2) {
			rc = w->parse(c, text, r, e);
			break;
		}
		w->classify(&rs, r, e);
		/* A server without structured output: ask once more without it, and remember. */
		if (rs.status == 400 && schema && pass == 0 && schema_refused(w, e->msg)) {
			pthread_mutex_lock(c->mu);
			*c->no_schema = true;
			pthread_mutex_unlock(c->mu);
			r->schema_dropped = true;
			r->kind = NULL;
			continue;
		}
		break;
	}
	llm_scrub(c, e->msg, r->raw);
	http_response_free(&rs);
	return rc;
}
