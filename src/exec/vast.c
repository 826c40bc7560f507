/* vast.c — see vast.h. */
#include "hypotop/vast.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/llm.h"

#define KEY_FILE ".config/vastai/vast_api_key"
#define PAGE 100
#define MAX_PAGES 1000

/* ---- the client ---------------------------------------------------------- */

/* The key: $VAST_API_KEY, else the CLI's file; caller frees. NULL with e. */
static char *read_key(struct err *e)
{
	const char *env = getenv("VAST_API_KEY"), *home = getenv("HOME");
	char *key = NULL, *path = NULL;

	if (env && *env) {
		key = xstrdup(env);
	} else if (home && *home) {
		path = path_join(home, KEY_FILE);
		if (fs_exists(path)) {
			size_t len;
			key = fs_read_max(path, 4096, &len, e);
			if (!key) {
				free(path);
				return NULL;
			}
		}
	}
	if (!key) {
		err_set(e, "no Vast.ai API key: set VAST_API_KEY, or save the key in "
			   "~/" KEY_FILE " (as 'vastai set api-key' does)");
		free(path);
		return NULL;
	}
	size_t kl = strlen(key);
	while (kl && (key[kl - 1] == '\n' || key[kl - 1] == '\r'))
		key[--kl] = 0; /* the file's last line */
	char *t = str_trim(key);
	bool ok = *t != 0;
	for (const char *p = t; *p; p++)
		ok = ok && (unsigned char)*p > ' ' && (unsigned char)*p < 127;
	if (!ok) {
		/* Never the key itself in the message. */
		err_set(e, "the Vast.ai API key from %s is empty or holds spaces or control "
			   "characters; it cannot be sent",
			env && *env ? "VAST_API_KEY" : path);
		free(key);
		free(path);
		return NULL;
	}
	char *out = xstrdup(t);
	explicit_bzero(key, strlen(key));
	free(key);
	free(path);
	return out;
}

int vast_client_init(struct vast_client *c, const char *base_url, struct err *e)
{
	memset(c, 0, sizeof *c);
	const char *base = base_url && *base_url ? base_url : VAST_DEFAULT_URL;
	if (strncmp(base, "https://", 8) && strncmp(base, "http://", 7)) {
		err_set(e, "vast.base_url \"%s\" is not an http:// or https:// URL", base);
		return -1;
	}
	char *key = read_key(e);
	if (!key)
		return -1;
	c->base = xstrdup(base);
	size_t n = strlen(c->base);
	while (n && c->base[n - 1] == '/')
		c->base[--n] = 0;
	c->auth = xasprintf("Authorization: Bearer %s", key);
	explicit_bzero(key, strlen(key));
	free(key);
	c->timeout_ms = 30000;
	c->max_retries = 4;
	return 0;
}

void vast_client_free(struct vast_client *c)
{
	if (c->auth)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	free(c->base);
	memset(c, 0, sizeof *c);
}

/* ---- one request --------------------------------------------------------- */

static bool retried(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* A short, terminal-safe excerpt of an error answer: its msg or error, else its start. */
static void answer_excerpt(const struct http_response *rs, char *out, size_t n)
{
	cJSON *j = rs->body.len ? cJSON_ParseWithLength(rs->body.data, rs->body.len) : NULL;
	const char *m = j ? json_string(j, "msg") : NULL;
	char raw[161];
	struct buf b;

	if (!m && j)
		m = json_string(j, "error");
	if (!m) {
		snprintf(raw, sizeof raw, "%.*s", (int)(rs->body.len < 160 ? rs->body.len : 160),
			 rs->body.data ? rs->body.data : "");
		m = raw;
	}
	buf_init(&b);
	buf_add_safe(&b, m);
	snprintf(out, n, "%s", b.data ? b.data : "");
	buf_free(&b);
	cJSON_Delete(j);
}

/*
 * METHOD base+path with body (or none); a 2xx answer's body parsed into
 * *out. endpoint ("GET /api/v1/instances/") names it in every message.
 */
static int call(struct vast_client *c, const char *method, const char *path, const char *body,
		const char *endpoint, cJSON **out, struct err *e)
{
	char *url = xasprintf("%s%s", c->base, path);
	const char *hdrs[] = {c->auth, "Accept: application/json",
			      "Content-Type: application/json"};
	struct http_request rq = {url, hdrs, body ? 3 : 2, body, body ? strlen(body) : 0,
				  10000, c->timeout_ms, NULL, method};
	struct http_response rs;
	struct llm_opts o;
	int rc = -1;

	llm_opts_default(&o);
	http_response_init(&rs);
	*out = NULL;
	for (int attempt = 0;; attempt++) {
		struct err te = {{0}};
		enum http_fail f = http_post(&rq, &rs, &te);
		if (f == HTTP_OK && !retried(rs.status))
			break;
		if (f == HTTP_FATAL || f == HTTP_CANCELLED || attempt >= c->max_retries) {
			if (f == HTTP_OK)
				err_set(e, "Vast.ai %s: HTTP %ld after %d tries", endpoint, rs.status,
					attempt + 1);
			else
				err_set(e, "Vast.ai %s: %s", endpoint, te.msg);
			goto out;
		}
		llm_cancel_sleep(NULL, llm_retry_delay_ms(f == HTTP_OK ? &rs : NULL, attempt, &o,
							  0.5));
	}
	char why[200];
	if (rs.status == 401 || rs.status == 403) {
		err_set(e, "Vast.ai %s: the API key was refused (HTTP %ld); check VAST_API_KEY or "
			   "~/" KEY_FILE " ('vastai show user' tries it)",
			endpoint, rs.status);
		goto out;
	}
	if (rs.status < 200 || rs.status > 299) {
		answer_excerpt(&rs, why, sizeof why);
		err_set(e, "Vast.ai %s: HTTP %ld: %s", endpoint, rs.status, why);
		goto out;
	}
	*out = rs.body.len ? cJSON_ParseWithLength(rs.body.data, rs.body.len) : NULL;
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		err_set(e, "Vast.ai %s: the answer is not a JSON object", endpoint);
		goto out;
	}
	rc = 0;
out:
	http_response_free(&rs);
	free(url);
	return rc;
}

/* ---- instances ----------------------------------------------------------- */

static char *field_str(const cJSON *o, const char *key)
{
	const char *s = json_string(o, key);
	return xstrdup(s ? s : "");
}

/* A number member that may be null or absent (0); -1 when it is something else. */
static int field_num(const cJSON *o, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v))
		return -1;
	*out = v->valuedouble;
	return 0;
}

static void instance_free(struct vast_instance *i)
{
	free(i->status);
	free(i->intended);
	free(i->gpu_name);
	free(i->label);
	free(i->ssh_host);
}

void vast_instances_free(struct vast_instances *l)
{
	for (size_t i = 0; i < l->len; i++)
		instance_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->len = 0;
}

static int parse_instance(const char *endpoint, const cJSON *o, size_t k,
			  struct vast_instance *in, struct err *e)
{
	double id, port, gpus;

	memset(in, 0, sizeof *in);
	if (!cJSON_IsObject(o) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "id")) ||
	    field_num(o, "id", &id) < 0 || id < 1 || id > 1e15) {
		err_set(e, "Vast.ai %s: instances[%zu].id is missing or not a positive number",
			endpoint, k);
		return -1;
	}
	static const char *const nums[] = {"ssh_port", "num_gpus", "dph_total", "start_date"};
	double *to[] = {&port, &gpus, &in->dph, &in->start_date};
	for (size_t i = 0; i < ARRAY_LEN(nums); i++)
		if (field_num(o, nums[i], to[i]) < 0) {
			err_set(e, "Vast.ai %s: instances[%zu].%s is not a number", endpoint, k,
				nums[i]);
			return -1;
		}
	static const char *const strs[] = {"actual_status", "intended_status", "gpu_name",
					   "label", "ssh_host"};
	for (size_t i = 0; i < ARRAY_LEN(strs); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, strs[i]);
		if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
			err_set(e, "Vast.ai %s: instances[%zu].%s is not text", endpoint, k,
				strs[i]);
			return -1;
		}
	}
	if (port < 0 || port > 65535) {
		err_set(e, "Vast.ai %s: instances[%zu].ssh_port %g is not a port", endpoint, k,
			port);
		return -1;
	}
	in->id = (long)id;
	in->ssh_port = (long)port;
	in->num_gpus = (long)gpus;
	in->status = field_str(o, "actual_status");
	in->intended = field_str(o, "intended_status");
	in->gpu_name = field_str(o, "gpu_name");
	in->label = field_str(o, "label");
	in->ssh_host = field_str(o, "ssh_host");
	return 0;
}

int vast_parse_instances(const char *endpoint, const char *text, size_t len,
			 struct vast_instances *out, char **next_token, struct err *e)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	const cJSON *arr = j ? cJSON_GetObjectItemCaseSensitive(j, "instances") : NULL;
	const cJSON *nt = j ? cJSON_GetObjectItemCaseSensitive(j, "next_token") : NULL;
	const cJSON *o;
	size_t k = 0;
	int rc = -1;

	*next_token = NULL;
	if (!cJSON_IsObject(j)) {
		err_set(e, "Vast.ai %s: the answer is not a JSON object", endpoint);
		goto out;
	}
	if (!cJSON_IsArray(arr)) {
		err_set(e, "Vast.ai %s: \"instances\" is missing or not an array", endpoint);
		goto out;
	}
	if (nt && !cJSON_IsNull(nt) && !cJSON_IsString(nt)) {
		err_set(e, "Vast.ai %s: \"next_token\" is not text", endpoint);
		goto out;
	}
	size_t n = (size_t)cJSON_GetArraySize(arr);
	out->v = xrealloc(out->v, (out->len + n + 1) * sizeof *out->v);
	cJSON_ArrayForEach(o, arr)
	{
		if (parse_instance(endpoint, o, k++, &out->v[out->len], e) < 0)
			goto out;
		out->len++;
	}
	if (cJSON_IsString(nt) && *nt->valuestring && n)
		*next_token = xstrdup(nt->valuestring);
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

/* Query text for a token: letters, digits and -_.~ as they are, the rest %XX. */
static void url_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-_.~", ch))
			buf_addc(b, (char)ch);
		else
			buf_printf(b, "%%%02X", ch);
	}
}

int vast_list(struct vast_client *c, struct vast_instances *out, struct err *e)
{
	static const char endpoint[] = "GET /api/v1/instances/";
	char *token = NULL;

	memset(out, 0, sizeof *out);
	for (int page = 0; page < MAX_PAGES; page++) {
		struct buf path;
		cJSON *j;
		buf_init(&path);
		buf_printf(&path, "/api/v1/instances/?limit=%d", PAGE);
		if (token) {
			buf_adds(&path, "&after_token=");
			url_escape(&path, token);
		}
		free(token);
		token = NULL;
		int rc = call(c, "GET", path.data, NULL, endpoint, &j, e);
		buf_free(&path);
		if (rc < 0)
			goto fail;
		char *text = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		rc = vast_parse_instances(endpoint, text, strlen(text), out, &token, e);
		free(text);
		if (rc < 0)
			goto fail;
		if (!token)
			return 0;
	}
	err_set(e, "Vast.ai %s: more than %d pages of instances; \"next_token\" never ends",
		endpoint, MAX_PAGES);
fail:
	free(token);
	vast_instances_free(out);
	return -1;
}

const struct vast_instance *vast_find(const struct vast_instances *l, long id)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

/* ---- offers -------------------------------------------------------------- */

void vast_offers_free(struct vast_offers *l)
{
	for (size_t i = 0; i < l->len; i++) {
		free(l->v[i].gpu_name);
		free(l->v[i].where);
	}
	free(l->v);
	l->v = NULL;
	l->len = 0;
}

int vast_parse_offers(const char *endpoint, const char *text, size_t len,
		      struct vast_offers *out, struct err *e)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	const cJSON *arr = j ? cJSON_GetObjectItemCaseSensitive(j, "offers") : NULL, *o;
	size_t k = 0;

	memset(out, 0, sizeof *out);
	if (!cJSON_IsArray(arr)) {
		err_set(e, "Vast.ai %s: %s", endpoint,
			cJSON_IsObject(j) ? "\"offers\" is missing or not an array"
					  : "the answer is not a JSON object");
		cJSON_Delete(j);
		return -1;
	}
	out->v = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *out->v);
	cJSON_ArrayForEach(o, arr)
	{
		struct vast_offer *f = &out->v[out->len];
		double id = 0, gpus = 0, ram = 0;
		static const char *const nums[] = {"id",     "num_gpus",    "dph_total",
						   "dlperf", "reliability", "gpu_ram"};
		double *to[] = {&id, &gpus, &f->dph, &f->dlperf, &f->reliability, &ram};
		for (size_t i = 0; i < ARRAY_LEN(nums); i++)
			if (!cJSON_IsObject(o) || field_num(o, nums[i], to[i]) < 0) {
				err_set(e, "Vast.ai %s: offers[%zu].%s is not a number", endpoint, k,
					nums[i]);
				goto fail;
			}
		if (id < 1 || id > 1e15) {
			err_set(e, "Vast.ai %s: offers[%zu].id is missing or not a positive number",
				endpoint, k);
			goto fail;
		}
		f->id = (long)id;
		f->num_gpus = (long)gpus;
		f->gpu_ram_gb = ram / 1024;
		f->gpu_name = field_str(o, "gpu_name");
		f->where = field_str(o, "geolocation");
		out->len++;
		k++;
	}
	cJSON_Delete(j);
	return 0;
fail:
	cJSON_Delete(j);
	vast_offers_free(out);
	return -1;
}

/* {"op": value} under q[field]. */
static void add_filter(cJSON *q, const char *field, const char *op, cJSON *value)
{
	cJSON *f = cJSON_AddObjectToObject(q, field);
	cJSON_AddItemToObject(f, op, value);
}

int vast_search(struct vast_client *c, const struct vast_query *q, struct vast_offers *out,
		struct err *e)
{
	static const char endpoint[] = "POST /api/v0/bundles/";
	cJSON *body = cJSON_CreateObject(), *filters = cJSON_AddObjectToObject(body, "q"), *j;

	memset(out, 0, sizeof *out);
	add_filter(filters, "rentable", "eq", cJSON_CreateTrue());
	add_filter(filters, "rented", "eq", cJSON_CreateFalse());
	if (q->gpu_name)
		add_filter(filters, "gpu_name", "eq", cJSON_CreateString(q->gpu_name));
	if (q->num_gpus > 0)
		add_filter(filters, "num_gpus", "eq", cJSON_CreateNumber((double)q->num_gpus));
	if (q->max_dph > 0)
		add_filter(filters, "dph_total", "lte", cJSON_CreateNumber(q->max_dph));
	if (q->min_reliability > 0)
		add_filter(filters, "reliability", "gte", cJSON_CreateNumber(q->min_reliability));
	cJSON *order = cJSON_AddArrayToObject(body, "order"), *o1 = cJSON_CreateArray();
	cJSON_AddItemToArray(o1, cJSON_CreateString(q->by_value ? "dlperf_per_dphtotal"
								: "dph_total"));
	cJSON_AddItemToArray(o1, cJSON_CreateString(q->by_value ? "desc" : "asc"));
	cJSON_AddItemToArray(order, o1);
	cJSON_AddStringToObject(body, "type", "on-demand");
	cJSON_AddNumberToObject(body, "limit", (double)(q->limit > 0 ? q->limit : 64));
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	int rc = call(c, "POST", "/api/v0/bundles/", text, endpoint, &j, e);
	free(text);
	if (rc < 0)
		return -1;
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	rc = vast_parse_offers(endpoint, text, strlen(text), out, e);
	free(text);
	return rc;
}

/* ---- changes ------------------------------------------------------------- */

/* {"success": false, "msg": ...} is a refusal even with a 200. */
static int success(const char *endpoint, cJSON *j, struct err *e)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "success");

	if (s && !cJSON_IsBool(s)) {
		err_set(e, "Vast.ai %s: \"success\" is not true or false", endpoint);
		return -1;
	}
	if (cJSON_IsFalse(s)) {
		const char *m = json_string(j, "msg") ?: json_string(j, "error") ?: "no reason given";
		struct buf b;
		buf_init(&b);
		buf_add_safe(&b, m);
		err_set(e, "Vast.ai %s: refused: %s", endpoint, b.data);
		buf_free(&b);
		return -1;
	}
	return 0;
}

int vast_create(struct vast_client *c, long offer_id, const char *image, double disk_gb,
		const char *label, long *id, struct err *e)
{
	char *path = xasprintf("/api/v0/asks/%ld/", offer_id);
	char *endpoint = xasprintf("PUT %s", path);
	cJSON *body = cJSON_CreateObject(), *j;

	cJSON_AddStringToObject(body, "client_id", "me");
	cJSON_AddStringToObject(body, "image", image);
	cJSON_AddNumberToObject(body, "disk", disk_gb);
	if (label)
		cJSON_AddStringToObject(body, "label", label);
	cJSON_AddNullToObject(body, "onstart");
	cJSON_AddStringToObject(body, "runtype", "ssh");
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	int rc = call(c, "PUT", path, text, endpoint, &j, e);
	free(text);
	if (rc == 0 && (rc = success(endpoint, j, e)) == 0) {
		const cJSON *nc = cJSON_GetObjectItemCaseSensitive(j, "new_contract");
		if (!cJSON_IsNumber(nc) || nc->valuedouble < 1 || nc->valuedouble > 1e15) {
			err_set(e, "Vast.ai %s: \"new_contract\" is missing or not an instance id",
				endpoint);
			rc = -1;
		} else {
			*id = (long)nc->valuedouble;
		}
	}
	cJSON_Delete(j);
	free(path);
	free(endpoint);
	return rc;
}

static int change(struct vast_client *c, const char *method, long id, const char *body,
		  struct err *e)
{
	char *path = xasprintf("/api/v0/instances/%ld/", id);
	char *endpoint = xasprintf("%s %s", method, path);
	cJSON *j;
	int rc = call(c, method, path, body, endpoint, &j, e);

	if (rc == 0)
		rc = success(endpoint, j, e);
	cJSON_Delete(j);
	free(path);
	free(endpoint);
	return rc;
}

int vast_destroy(struct vast_client *c, long id, struct err *e)
{
	return change(c, "DELETE", id, NULL, e);
}

int vast_set_running(struct vast_client *c, long id, bool running, struct err *e)
{
	return change(c, "PUT", id, running ? "{\"state\":\"running\"}" : "{\"state\":\"stopped\"}",
		      e);
}

/* ---- waiting for a new instance ----------------------------------------- */

/* Whether an SSH server answers at host:port within ms: its banner starts "SSH-". */
static bool ssh_answers(const char *host, long port, int ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char serv[16], banner[8] = "";
	bool ok = false;

	snprintf(serv, sizeof serv, "%ld", port);
	if (getaddrinfo(host, serv, &hints, &res) != 0)
		return false;
	for (struct addrinfo *a = res; a && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		struct pollfd p = {fd, POLLOUT, 0};
		if ((connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) &&
		    poll(&p, 1, ms) == 1) {
			size_t got = 0;
			int64_t end = mono_ms() + ms;
			p.events = POLLIN;
			while (got < 4 && mono_ms() < end && poll(&p, 1, (int)(end - mono_ms())) == 1) {
				ssize_t n = read(fd, banner + got, 4 - got);
				if (n <= 0)
					break;
				got += (size_t)n;
			}
			ok = got == 4 && !memcmp(banner, "SSH-", 4);
		}
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

int vast_wait_ssh(struct vast_client *c, long id, double timeout_s, vast_progress_fn say, void *ctx,
		  char **host, long *port, struct err *e)
{
	int64_t end = mono_ms() + (int64_t)(timeout_s * 1000);
	char last[64] = "";
	long delay = 0;

	for (;;) {
		struct vast_instances l;
		if (delay)
			llm_cancel_sleep(NULL, delay);
		delay = delay ? (delay < 16000 ? delay * 2 : 16000) : 2000;
		if (vast_list(c, &l, e) < 0)
			return -1;
		const struct vast_instance *in = vast_find(&l, id);
		if (!in) {
			vast_instances_free(&l);
			err_set(e, "instance %ld is no longer on the account; it was destroyed or "
				   "failed to start",
				id);
			return -1;
		}
		bool up = !strcmp(in->status, "running") && in->ssh_host[0] && in->ssh_port;
		char now[64];
		snprintf(now, sizeof now, "%s", up ? "running" : in->status[0] ? in->status : "created");
		if (strcmp(now, last)) {
			if (say)
				say(ctx, id, now, up);
			snprintf(last, sizeof last, "%s", now);
		}
		if (up && ssh_answers(in->ssh_host, in->ssh_port, 5000)) {
			*host = xstrdup(in->ssh_host);
			*port = in->ssh_port;
			vast_instances_free(&l);
			return 0;
		}
		vast_instances_free(&l);
		if (mono_ms() + delay > end) {
			struct buf b;
			buf_init(&b);
			buf_add_safe(&b, last);
			err_set(e, "instance %ld did not run and answer SSH within %.0f s (last: %s)",
				id, timeout_s, b.data);
			buf_free(&b);
			return -1;
		}
	}
}

