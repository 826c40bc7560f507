/*
 * llm_planner.c — a model behind the planner interface (planner.h): the
 * prompt from the request, one exchange with the provider, the answer
 * taken out of the text and checked against its contract, one retry that
 * quotes what was wrong, the call's files under logs/, and the spend.
 *
 * Thread safety: a call reads the request, the config and the client, and
 * touches shared state only under `mu` (the log sequence number, the spend,
 * whether the server takes structured output). No lock is held across
 * network or disk I/O. Several calls may run at once.
 *
 * Log files: each model request (a contract retry is a request of its own)
 * gets the next number NNN and writes logs/NNN_<kind>_<node>_prompt.md (what
 * was sent), _output.md (what came back, with usage and cost) and _raw.json
 * (the provider's response and the call's record), all mode 0600 and all
 * scrubbed of the API key.
 */
#include "hypotop/llm.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

#define ANTHROPIC_BASE "https://api.anthropic.com"
#define ANTHROPIC_MODEL "claude-sonnet-5-5"
#define OPENAI_BASE "https://api.openai.com"
#define MAX_TOKENS_LIMIT 32768
/* Room for what a provider adds around the prompt (roles, the request's JSON). */
#define PROMPT_FRAMING_BYTES 256

typedef int (*call_fn)(struct llm_client *, const struct llm_call *, struct llm_reply *,
		       struct err *);

struct llm_planner {
	const struct config *cfg;
	char *logs, *prompts, *knowledge;
	struct llm_client client;
	call_fn call;
	struct llm_cancel cancel;
	pthread_mutex_t mu;
	/* Guarded by mu: */
	bool no_schema;
	long seq;
	double spent, prior;
	double reserved; /* the worst cases of the requests in flight */
	/*
	 * Spent on reports (hypotop report), read once: while an engine runs
	 * no report asks the model, and a report's own process makes one call.
	 */
	double reports;
	bool unknown_cost;
	/* The offline planner over search_space, whose picks a plan shows; or NULL. */
	struct planner *surrogate;
	/* The requests in flight, for the status bar (planner_in_flight). */
	struct planner_flight flights[PLANNER_FLIGHTS_MAX];
	bool flying[PLANNER_FLIGHTS_MAX];
};

/* ---- bookkeeping ---- */

static long claim_seq(struct llm_planner *lp)
{
	pthread_mutex_lock(&lp->mu);
	long n = ++lp->seq;
	pthread_mutex_unlock(&lp->mu);
	return n;
}

/* A report's cost is counted from its log file instead (planner_report_spend). */
static void account(struct llm_planner *lp, const char *kind, const struct llm_reply *r)
{
	if (!r->has_cost || !strcmp(kind, "report"))
		return;
	pthread_mutex_lock(&lp->mu);
	if (r->cost_known)
		lp->spent += r->usd;
	else
		lp->unknown_cost = true;
	pthread_mutex_unlock(&lp->mu);
}

/* A request goes out: its slot among the flights (-1 when all are taken), and the watcher told. */
static int flight_begin(struct planner *p, const char *kind, const char *node)
{
	struct llm_planner *lp = p->priv;
	int slot = -1;

	pthread_mutex_lock(&lp->mu);
	for (int i = 0; i < PLANNER_FLIGHTS_MAX && slot < 0; i++)
		if (!lp->flying[i]) {
			slot = i;
			lp->flying[i] = true;
			struct planner_flight *f = &lp->flights[i];
			snprintf(f->kind, sizeof f->kind, "%s", kind);
			snprintf(f->node, sizeof f->node, "%s", node ? node : "");
			f->started = now_ms();
		}
	pthread_mutex_unlock(&lp->mu);
	if (p->on_flight)
		p->on_flight(p->on_flight_ctx);
	return slot;
}

static void flight_end(struct planner *p, int slot)
{
	struct llm_planner *lp = p->priv;

	pthread_mutex_lock(&lp->mu);
	if (slot >= 0)
		lp->flying[slot] = false;
	pthread_mutex_unlock(&lp->mu);
	if (p->on_flight)
		p->on_flight(p->on_flight_ctx);
}

static size_t llm_in_flight(struct planner *p, struct planner_flight *out, size_t max)
{
	struct llm_planner *lp = p->priv;
	size_t n = 0;

	pthread_mutex_lock(&lp->mu);
	for (int i = 0; i < PLANNER_FLIGHTS_MAX; i++)
		if (lp->flying[i] && n < max)
			out[n++] = lp->flights[i];
	pthread_mutex_unlock(&lp->mu);
	/* Oldest first: the status bar names the first. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j].started < out[j - 1].started; j--) {
			struct planner_flight x = out[j];
			out[j] = out[j - 1];
			out[j - 1] = x;
		}
	return n;
}

static double llm_spent(struct planner *p, bool *known)
{
	struct llm_planner *lp = p->priv;

	pthread_mutex_lock(&lp->mu);
	double v = lp->prior + lp->spent;
	if (known)
		*known = !lp->unknown_cost;
	pthread_mutex_unlock(&lp->mu);
	return v;
}

static void llm_set_prior(struct planner *p, double usd)
{
	struct llm_planner *lp = p->priv;

	pthread_mutex_lock(&lp->mu);
	lp->prior = usd >= 0 && isfinite(usd) ? usd : 0;
	pthread_mutex_unlock(&lp->mu);
}

static void llm_cancel_calls(struct planner *p)
{
	struct llm_planner *lp = p->priv;

	llm_cancel_set(&lp->cancel);
}

/* ---- the budget ---- */

/*
 * The most a request can cost, in USD: every byte of the prompt taken as a
 * token (a token holds at least one byte), all of it at the dearer of the
 * input and cache-write prices, and max_tokens of output. false when the
 * model's price is unknown, or for the command provider, whose command
 * may make calls of its own.
 */
static bool worst_case(const struct llm_planner *lp, const struct llm_call *q, double *usd,
		       size_t *bytes)
{
	const char *parts[] = {q->system, q->stable, q->request, q->prev_answer, q->problem,
			       q->schema};
	struct llm_price pr;

	if (!strcmp(lp->client.provider, "command") ||
	    !llm_price_find(lp->client.prices, lp->client.model, &pr))
		return false;
	*bytes = PROMPT_FRAMING_BYTES;
	for (size_t i = 0; i < ARRAY_LEN(parts); i++)
		*bytes += parts[i] ? strlen(parts[i]) : 0;
	double in = pr.input > pr.cache_write ? pr.input : pr.cache_write;
	*usd = ((double)*bytes * in + (double)q->max_tokens * pr.output) / 1e6;
	return true;
}

/*
 * budget.llm_usd is a hard cap: a request is sent only when what is spent
 * (the reports' spend included), what the calls in flight may still cost,
 * and this request's worst case stay within it. *held: the amount set
 * aside for the request, to give back with budget_release() once it is
 * over. A model without a price is checked against what is spent only.
 */
static int budget_reserve(struct planner *p, const struct llm_call *q, double *held,
			  struct err *e)
{
	struct llm_planner *lp = p->priv;
	double cap = lp->cfg->budget_llm_usd, worst = 0;
	size_t bytes = 0;

	*held = 0;
	if (cap < 0)
		return 0;
	bool priced = worst_case(lp, q, &worst, &bytes);
	pthread_mutex_lock(&lp->mu);
	double spent = lp->prior + lp->spent + lp->reports, pending = lp->reserved;
	bool over = spent >= cap || (priced && spent + pending + worst > cap);
	if (!over) {
		lp->reserved += worst;
		*held = worst;
	}
	pthread_mutex_unlock(&lp->mu);
	if (!over)
		return 0;
	planner_set_kind(planner_kind_name(PK_BUDGET));
	if (spent >= cap)
		err_set(e, "budget.llm_usd is spent: $%.4f of $%.2f; raise it in config.json to go on",
			spent, cap);
	else
		err_set(e, "budget.llm_usd would be passed by up to $%.4f: $%.4f spent and $%.4f "
			   "held by calls in flight, of $%.2f, and this request may cost up to "
			   "$%.4f (%zu bytes of prompt taken as tokens and max_tokens %ld at the "
			   "prices of %s); raise budget.llm_usd in config.json to go on",
			spent + pending + worst - cap, spent, pending, cap, worst, bytes,
			q->max_tokens, lp->client.model);
	return -1;
}

static void budget_release(struct llm_planner *lp, double held)
{
	pthread_mutex_lock(&lp->mu);
	lp->reserved -= held;
	if (lp->reserved < 1e-12)
		lp->reserved = 0;
	pthread_mutex_unlock(&lp->mu);
}

/* ---- one call, with its one contract retry ---- */

/*
 * A Markdown answer (the report): any text but an empty one or one cut
 * off, which would end mid-sentence.
 */
static cJSON *text_answer(const struct llm_reply *r, struct err *e)
{
	if (r->stop && !strcmp(r->stop, "max_tokens")) {
		err_set(e, "the report is incomplete");
		return NULL;
	}
	if (!r->text || !r->text[strspn(r->text, " \t\r\n")]) {
		err_set(e, "the answer is empty; write the report in Markdown");
		return NULL;
	}
	return cJSON_CreateString(r->text);
}

/* How much of knowledge.md a prompt carries. */
#define KNOWLEDGE_MAX (64 * 1024)

/*
 * WORKDIR/knowledge.md, the researcher's knowledge base, goes first in
 * every call's stable part: read afresh each time (a person may edit it
 * between calls), and the same from call to call, so a prompt cache keeps it.
 * One that cannot be read fails the call rather than go unsaid.
 */
static char *with_knowledge(const struct llm_planner *lp, const char *stable, struct err *e)
{
	size_t len = 0;
	char *kb = NULL;
	struct buf b;

	if (fs_exists(lp->knowledge) &&
	    !(kb = fs_read_max(lp->knowledge, FS_MAX_CONFIG, &len, e))) {
		err_suffix(e, "; make it a text file of at most 1 MiB, or remove it");
		return NULL;
	}
	if (!kb || !kb[strspn(kb, " \t\r\n")]) {
		free(kb);
		return xstrdup(stable ? stable : "");
	}
	buf_init(&b);
	buf_adds(&b, "# Knowledge base\n\nWhat the researcher knows about this project "
		     "(knowledge.md):\n\n");
	if (len > KNOWLEDGE_MAX)
		kb[KNOWLEDGE_MAX] = '\0';
	llm_add_md(&b, kb);
	if (len > KNOWLEDGE_MAX)
		buf_printf(&b, "\n…(%zu more bytes not shown)", len - KNOWLEDGE_MAX);
	buf_adds(&b, "\n\n");
	buf_adds(&b, stable ? stable : "");
	free(kb);
	return buf_steal(&b);
}

/*
 * The answer taken out of r's text (already scrubbed) and checked, then
 * scrubbed again: a key may hide behind a JSON escape ("\u002d") until
 * the text is parsed. *leak: the variable of a secret the answer held, or
 * NULL; sub: what was wrong with it, scrubbed too.
 */
static cJSON *take_answer(const struct llm_planner *lp, const struct llm_reply *r,
			  int (*check)(const cJSON *, struct err *), const char **leak,
			  struct err *sub)
{
	cJSON *answer = check ? contract_extract(r->text, check, sub) : text_answer(r, sub);
	const char *hidden = llm_scrub(&lp->client, sub->msg, answer);

	if (!*leak)
		*leak = hidden;
	return answer;
}

/*
 * What ask() is given beyond the prompt, and what it gives back. A
 * follow-up (prev and problem set) shows the model its answer prev and
 * what is wrong with it, and is itself the call's one retry. vet (may be
 * NULL) looks at an answer that passed the contract before its request's
 * log is written: its note (what it refused, malloc'd; NULL for nothing)
 * goes into the log.
 */
struct turn {
	const char *prev, *problem;
	char *(*vet)(void *ctx, const cJSON *answer);
	void *ctx;
	long seq;   /* out: the number of the accepted request's logs */
	char *text; /* out: the accepted answer's text; the caller frees it */
};

/*
 * Ask until an answer passes check (NULL: text_answer), at most twice; the
 * second request quotes the first answer and its problem.
 *
 * committed: the answer's words and change go into commits and later
 * prompts (a plan, a repair, an instrumentation), so one that carried a
 * secret is refused, not scrubbed and used.
 */
static cJSON *ask(struct planner *p, const char *kind, const char *node,
		  const struct planner_place *place, const struct llm_prompt *pr,
		  int (*check)(const cJSON *, struct err *), bool committed, struct turn *t,
		  struct err *e)
{
	struct llm_planner *lp = p->priv;
	char *stable = with_knowledge(lp, pr->stable, e);
	if (!stable)
		return NULL;
	struct llm_call q = {kind, pr->system, stable, pr->request, NULL, NULL, pr->schema,
			     lp->client.opts.max_tokens, lp->cfg->source_dir, place};
	char *prev = t->problem ? xstrdup(t->prev ? t->prev : "") : NULL;
	char *problem = t->problem ? xstrdup(t->problem) : NULL;
	cJSON *answer = NULL;

	for (int attempt = t->problem ? 2 : 1; attempt <= 2 && !answer; attempt++) {
		struct llm_reply r;
		struct err sub = {{0}};
		double held;

		q.prev_answer = prev;
		q.problem = problem;
		const struct llm_call sent = q;
		if (budget_reserve(p, &sent, &held, e) < 0)
			break;
		struct llm_call_log cl = {claim_seq(lp), kind, node, attempt, now_ms(), 0, NULL};
		int64_t t0 = mono_ms();
		llm_reply_init(&r);
		int flight = flight_begin(p, kind, node);
		int rc = lp->call(&lp->client, &sent, &r, e);
		flight_end(p, flight);
		/* The one way in for what a model says: no secret goes past this line. */
		const char *leak = llm_scrub(&lp->client, r.text, NULL);
		cl.ms = mono_ms() - t0;
		account(lp, kind, &r);
		budget_release(lp, held);
		if (rc == 0 && r.stop && !strcmp(r.stop, "refusal")) {
			cl.contract_error = "the model refused";
			llm_log_call(lp->logs, &lp->client, &cl, &sent, &r, rc, e);
			planner_set_kind(planner_kind_name(PK_REFUSED));
			err_set(e, "%s: the model refused to answer%s%.300s", lp->client.provider,
				r.text && *r.text ? ": " : "", r.text ? r.text : "");
			llm_scrub(&lp->client, e->msg, NULL);
			llm_reply_free(&r);
			break;
		}
		if (rc == 0 && r.stop && !strcmp(r.stop, "model_context_window_exceeded")) {
			/* Asking again would send a longer prompt still. */
			cl.contract_error = "the prompt filled the model's context window";
			llm_log_call(lp->logs, &lp->client, &cl, &sent, &r, rc, e);
			planner_set_kind(planner_kind_name(PK_REQUEST));
			err_set(e, "%s: the prompt is too long for the model's context window; choose "
				   "a model with a larger one in llm.model",
				lp->client.provider);
			llm_reply_free(&r);
			break;
		}
		char *next_problem = NULL;
		if (rc == 0)
			answer = take_answer(lp, &r, check, &leak, &sub);
		if (rc == 0 && leak && committed) {
			cJSON_Delete(answer);
			answer = NULL;
			err_set(e, "%s: the answer carried the value of %s, an API key, so the %s "
				   "answer is refused: nothing of it may reach a commit or a file; "
				   "check what answers at llm.%s",
				lp->client.provider, leak, kind,
				lp->client.command ? "command" : "base_url");
			cl.contract_error = e->msg;
			llm_log_call(lp->logs, &lp->client, &cl, &sent, &r, rc, e);
			planner_set_kind(planner_kind_name(PK_SECRET));
			llm_reply_free(&r);
			break;
		}
		if (rc == 0) {
			bool cut = r.stop && !strcmp(r.stop, "max_tokens");
			if (!answer && cut) {
				next_problem = xasprintf("it was cut off at the max_tokens limit (%ld "
							 "tokens) before the answer was "
							 "complete; give a shorter answer (%s)",
							 sent.max_tokens, sub.msg);
				/* More room for the retry. */
				q.max_tokens = sent.max_tokens * 2 > MAX_TOKENS_LIMIT
						       ? MAX_TOKENS_LIMIT
						       : sent.max_tokens * 2;
			} else if (!answer) {
				next_problem = xstrdup(sub.msg);
			}
			cl.contract_error = next_problem;
		}
		char *note = answer && t->vet ? t->vet(t->ctx, answer) : NULL;
		cl.refused = note;
		llm_log_call(lp->logs, &lp->client, &cl, &sent, &r, rc, e);
		free(note);
		free(problem);
		problem = next_problem;
		if (rc < 0) {
			planner_set_kind(r.kind ? r.kind : planner_kind_name(PK_UNAVAILABLE));
			llm_reply_free(&r);
			break;
		}
		if (answer) {
			t->seq = cl.seq;
			t->text = xstrdup(r.text ? r.text : "");
		} else if (attempt == 2) {
			planner_set_kind(planner_kind_name(PK_INVALID));
			err_set(e, "%s: the answer broke the contract even after a retry: %s",
				lp->client.provider, problem);
			llm_scrub(&lp->client, e->msg, NULL);
		} else {
			free(prev);
			prev = xstrdup(r.text ? r.text : "");
		}
		llm_reply_free(&r);
	}
	free(prev);
	free(problem);
	free(stable);
	return answer;
}

/* ---- analyse and plan ---- */

static void render_analysis(struct buf *b, const struct analyse_request *r, const cJSON *v,
			    const struct llm_planner *lp, long seq)
{
	const cJSON *x;

	buf_adds(b, "# ");
	llm_add_md(b, r->node ? r->node : "run");
	if (r->name) {
		buf_adds(b, ": ");
		buf_add_safe(b, r->name);
	}
	buf_adds(b, "\n\n");
	if (r->hypothesis && *r->hypothesis) {
		buf_adds(b, "**Hypothesis.** ");
		llm_add_md(b, r->hypothesis);
		buf_adds(b, "\n\n");
	}
	buf_adds(b, "## Verdict: ");
	buf_add_safe(b, cJSON_GetObjectItemCaseSensitive(v, "verdict")->valuestring);
	buf_adds(b, "\n\n");
	llm_add_md(b, cJSON_GetObjectItemCaseSensitive(v, "summary")->valuestring);
	buf_adds(b, "\n");
	x = cJSON_GetObjectItemCaseSensitive(v, "bottleneck");
	if (*x->valuestring) {
		buf_adds(b, "\n**Bottleneck.** ");
		llm_add_md(b, x->valuestring);
		buf_adds(b, "\n");
	}
	x = cJSON_GetObjectItemCaseSensitive(v, "evidence");
	if (x->child)
		buf_adds(b, "\n**Evidence.**\n\n");
	for (const cJSON *m = x->child; m; m = m->next) {
		buf_adds(b, "- ");
		buf_add_safe(b, m->valuestring);
		buf_adds(b, "\n");
	}
	x = cJSON_GetObjectItemCaseSensitive(v, "hypothesis_supported");
	buf_printf(b, "\nHypothesis supported: %s.\n",
		   cJSON_IsTrue(x) ? "yes" : cJSON_IsFalse(x) ? "no" : "undecided");
	buf_printf(b, "\n*Analysed by the %s provider", lp->client.provider);
	if (lp->client.model) {
		buf_adds(b, " (");
		buf_add_safe(b, lp->client.model);
		buf_adds(b, ")");
	}
	char node[48];
	llm_file_part(node, sizeof node, r->node);
	buf_printf(b, "; the exchange is in logs/%03ld_analyse_%s_*.*\n", seq, node);
}

static int llm_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		       cJSON **verdict, struct err *e)
{
	struct llm_planner *lp = p->priv;
	struct analyse_request rr = *r;
	struct llm_prompt pr;
	struct turn t = {0};

	if (!rr.cfg)
		rr.cfg = lp->cfg;
	llm_prompt_analyse(&rr, lp->prompts, &pr);
	cJSON *v = ask(p, "analyse", r->node, r->place, &pr, contract_check_analysis, false, &t, e);
	llm_prompt_free(&pr);
	free(t.text);
	if (!v)
		return -1;
	struct buf b;
	buf_init(&b);
	render_analysis(&b, r, v, lp, t.seq);
	*analysis = buf_steal(&b);
	*verdict = v;
	return 0;
}

/* ask() for an answer that needs no rendering, a change; pr is freed. */
static int ask_json(struct planner *p, const char *kind, const char *node,
		    const struct planner_place *place, struct llm_prompt *pr,
		    int (*check)(const cJSON *, struct err *), cJSON **answer, struct err *e)
{
	struct turn t = {0};

	*answer = ask(p, kind, node, place, pr, check, true, &t, e);
	free(t.text);
	llm_prompt_free(pr);
	return *answer ? 0 : -1;
}

/*
 * A plan answer's proposals through the request's check, in order: those
 * accepted join kept, those refused refused, each said with its reason in
 * the note for the log and the model.
 */
struct vetting {
	const struct plan_vet *vet;
	int asked;      /* the follow-up: the replacements asked for (0: the first answer) */
	int given;      /* how many of them the answer gave */
	cJSON *kept, *refused;
	struct buf said; /* "- NAME: why" of each refused */
};

static char *vet_answer(void *ctx, const cJSON *answer)
{
	struct vetting *v = ctx;
	const cJSON *p;
	struct buf note;

	buf_init(&note);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(answer, "proposals"))
	{
		const char *name = cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring;
		if (v->asked && v->given == v->asked) {
			buf_printf(&note, "- \"%s\": left out, past the %d replacement%s asked for\n",
				   name, v->asked, v->asked == 1 ? "" : "s");
			continue;
		}
		v->given++;
		struct buf why;
		buf_init(&why);
		bool ok = v->vet->check(v->vet->ctx, p, &why) == 0;
		cJSON_AddItemToArray(ok ? v->kept : v->refused, cJSON_Duplicate(p, true));
		if (!ok)
			buf_printf(&note, "- \"%s\": %s\n", name, why.data ? why.data : "refused");
		buf_free(&why);
	}
	if (note.len)
		buf_add(&v->said, note.data, note.len);
	return note.len ? buf_steal(&note) : NULL;
}

/* Whether a proposal of list has the name of proposal p. */
static bool named_in(const cJSON *list, const cJSON *p)
{
	const char *name = cJSON_GetObjectItemCaseSensitive(p, "name")->valuestring;
	const cJSON *m;

	cJSON_ArrayForEach(m, list)
		if (!strcmp(cJSON_GetObjectItemCaseSensitive(m, "name")->valuestring, name))
			return true;
	return false;
}

/*
 * The check's refusals are quoted back to the model once, in the same
 * call, for replacements of just those proposals; what the replacements
 * leave refused stays in the plan for the engine to drop (planner.h).
 * The plan keeps its first answer's stop and reason.
 */
static int llm_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
		    struct err *e)
{
	struct llm_planner *lp = p->priv;
	struct plan_request rr = *r;
	struct llm_prompt pr;
	struct vetting first = {.vet = r->vet, .kept = cJSON_CreateArray(),
				.refused = cJSON_CreateArray()};
	struct vetting again = {.vet = r->vet, .kept = cJSON_CreateArray(),
				.refused = cJSON_CreateArray()};
	struct turn t = {.vet = r->vet ? vet_answer : NULL, .ctx = &first};
	struct turn t2 = {.vet = vet_answer, .ctx = &again};
	char *problem = NULL;
	int rc = -1;

	if (!rr.cfg)
		rr.cfg = lp->cfg;
	cJSON *picks = NULL;
	if (lp->surrogate && !rr.confirm_stop) {
		struct plan_request sr = rr;
		struct err ignored = {{0}};
		sr.vet = NULL;
		sr.want = PLAN_SUGGESTIONS;
		if (lp->surrogate->plan(lp->surrogate, &sr, &picks, &ignored) == 0)
			rr.suggestions = cJSON_GetObjectItemCaseSensitive(picks, "proposals");
	}
	llm_prompt_plan(&rr, lp->prompts, &pr);
	*plan = ask(p, "plan", r->node, r->place, &pr, contract_check_plan, true, &t, e);
	if (!*plan)
		goto out;
	rc = 0;
	again.asked = cJSON_GetArraySize(first.refused);
	if (!again.asked)
		goto out;
	struct buf b;
	buf_init(&b);
	int all = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(*plan, "proposals"));
	if (again.asked == all)
		buf_printf(&b, "its proposals were refused before anything was queued:\n\n");
	else
		buf_printf(&b, "%d of its %d proposals %s refused before anything was queued (the "
			       "others are accepted):\n\n",
			   again.asked, all, again.asked == 1 ? "was" : "were");
	buf_add(&b, first.said.data, first.said.len);
	buf_printf(&b, "\nAnswer with a plan of at most %d proposal%s: a replacement for each of "
		       "these, in the same order (its change corrected, or another experiment); "
		       "the accepted ones stay as they are. The \"stop\" and \"reason\" of this "
		       "answer are not used; with no replacement to give, answer {\"stop\": true, "
		       "\"reason\": \"...\", \"proposals\": []}.",
		   again.asked, again.asked == 1 ? "" : "s");
	problem = buf_steal(&b);
	t2.prev = t.text;
	t2.problem = problem;
	struct err sub = {{0}};
	cJSON *more = ask(p, "plan", r->node, r->place, &pr, contract_check_plan, true, &t2, &sub);
	const char *kind = planner_last_kind();
	if (!more && kind && (!strcmp(kind, planner_kind_name(PK_SECRET)) ||
			      !strcmp(kind, planner_kind_name(PK_CANCELLED)))) {
		*e = sub;
		cJSON_Delete(*plan);
		*plan = NULL;
		rc = -1;
		goto out;
	}
	cJSON_Delete(more);
	/* The first answer's accepted, the replacements', then what stays refused. */
	cJSON *merged = first.kept;
	first.kept = NULL;
	for (cJSON *m = again.kept->child; m; m = m->next)
		cJSON_AddItemToArray(merged, cJSON_Duplicate(m, true));
	for (cJSON *m = again.refused->child; m; m = m->next)
		cJSON_AddItemToArray(merged, cJSON_Duplicate(m, true));
	/* A refused one the follow-up gave again under its name is said once, as that. */
	for (cJSON *m = first.refused->child; m; m = m->next)
		if (!named_in(again.kept, m) && !named_in(again.refused, m))
			cJSON_AddItemToArray(merged, cJSON_Duplicate(m, true));
	cJSON_ReplaceItemInObjectCaseSensitive(*plan, "proposals", merged);
out:
	cJSON_Delete(picks);
	free(problem);
	free(t.text);
	free(t2.text);
	llm_prompt_free(&pr);
	cJSON_Delete(first.kept);
	cJSON_Delete(first.refused);
	cJSON_Delete(again.kept);
	cJSON_Delete(again.refused);
	buf_free(&first.said);
	buf_free(&again.said);
	return rc;
}

/* ---- repair and instrument: changes to the code ---- */

static int llm_repair(struct planner *p, const struct fix_request *r, cJSON **answer,
		      struct err *e)
{
	struct llm_planner *lp = p->priv;
	struct fix_request rr = *r;
	struct llm_prompt pr;

	rr.cfg = rr.cfg ? rr.cfg : lp->cfg;
	llm_prompt_repair(&rr, lp->prompts, &pr);
	return ask_json(p, "repair", r->node, r->place, &pr, contract_check_repair, answer, e);
}

static int llm_instrument(struct planner *p, const struct fix_request *r, cJSON **answer,
			  struct err *e)
{
	struct llm_planner *lp = p->priv;
	struct fix_request rr = *r;
	struct llm_prompt pr;

	rr.cfg = rr.cfg ? rr.cfg : lp->cfg;
	llm_prompt_instrument(&rr, lp->prompts, &pr);
	return ask_json(p, "instrument", r->node, r->place, &pr, contract_check_instrument, answer, e);
}

static int llm_report(struct planner *p, const struct report_request *r, char **report,
		      struct err *e)
{
	struct llm_planner *lp = p->priv;
	struct report_request rr = *r;
	struct llm_prompt pr;
	struct turn t = {0};

	if (!rr.cfg)
		rr.cfg = lp->cfg;
	llm_prompt_report(&rr, lp->prompts, &pr);
	cJSON *text = ask(p, "report", "all", NULL, &pr, NULL, false, &t, e);
	llm_prompt_free(&pr);
	free(t.text);
	if (!text)
		return -1;
	struct buf b;
	buf_init(&b);
	llm_add_md(&b, text->valuestring);
	size_t n = b.len;
	while (n && strchr(" \t\r\n", b.data[n - 1]))
		n--;
	b.data[n] = '\0';
	b.len = n;
	buf_printf(&b, "\n\n---\n\n*Written by the %s provider", lp->client.provider);
	if (lp->client.model) {
		buf_adds(&b, " (");
		buf_add_safe(&b, lp->client.model);
		buf_adds(&b, ")");
	}
	buf_printf(&b, "; the exchange is in logs/%03ld_report_all_*.*\n", t.seq);
	cJSON_Delete(text);
	*report = buf_steal(&b);
	return 0;
}

/* ---- construction ---- */

static void llm_destroy(struct planner *p)
{
	struct llm_planner *lp = p ? p->priv : NULL;

	if (lp) {
		if (lp->surrogate)
			lp->surrogate->destroy(lp->surrogate);
		llm_secrets_free(&lp->client);
		free(lp->client.model);
		free(lp->client.url);
		free(lp->client.command);
		free(lp->logs);
		free(lp->prompts);
		free(lp->knowledge);
		llm_cancel_destroy(&lp->cancel);
		pthread_mutex_destroy(&lp->mu);
		free(lp);
	}
	free(p);
}

/* base + path, where a base that already ends in /v1 keeps it once. */
static char *api_url(const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	if (n >= 3 && !strncmp(base + n - 3, "/v1", 3))
		n -= 3;
	return xasprintf("%.*s/v1/%s", (int)n, base, path);
}

/* The highest NNN of logs/NNN_* so far: numbering goes on after a restart. */
static long last_seq(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long max = 0;

	while (d && (de = readdir(d))) {
		char *end;
		long v = strtol(de->d_name, &end, 10);
		if (end != de->d_name && *end == '_' && v > max && v < 1000000000L)
			max = v;
	}
	if (d)
		closedir(d);
	return max;
}

static bool good_env_name(const char *s)
{
	return s && *s && !isdigit((unsigned char)*s) &&
	       s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")] == '\0';
}

struct planner *planner_llm_new_opts(const struct config *cfg, const char *workdir,
				     const struct llm_opts *o, struct err *e)
{
	const char *prov = cfg->llm_provider ? cfg->llm_provider : "";
	bool anthropic = !strcmp(prov, "anthropic"), openai = !strcmp(prov, "openai");
	bool command = !strcmp(prov, "command");

	if (!anthropic && !openai && !command) {
		err_set(e, "config.json: llm.provider \"%s\" is not a model provider; use anthropic, "
			   "openai, command or offline",
			prov);
		return NULL;
	}
	if (cfg->llm_api_key_env && !good_env_name(cfg->llm_api_key_env)) {
		err_set(e, "config.json: llm.api_key_env must name an environment variable (letters, "
			   "digits, _), not hold the key itself");
		return NULL;
	}
	const char *env = cfg->llm_api_key_env ? cfg->llm_api_key_env
			  : openai		 ? "OPENAI_API_KEY"
						 : "ANTHROPIC_API_KEY";
	const char *key = getenv(env);
	if (key && !*key)
		key = NULL;
	if (anthropic && !key) {
		planner_set_kind(planner_kind_name(PK_AUTH));
		err_set(e, "llm.provider anthropic needs an API key: set %s in the environment%s",
			env, cfg->llm_api_key_env ? "" : " (or name another variable in llm.api_key_env)");
		return NULL;
	}
	if (openai && !key && cfg->llm_api_key_env) {
		planner_set_kind(planner_kind_name(PK_AUTH));
		err_set(e, "llm.api_key_env names %s, which is not set in the environment", env);
		return NULL;
	}
	if (openai && !cfg->llm_model) {
		err_set(e, "config.json: llm.model is needed for llm.provider openai: the name the "
			   "server serves (vLLM: --served-model-name; Ollama: the tag)");
		return NULL;
	}
	if (command && (!cfg->llm_command || !*cfg->llm_command)) {
		err_set(e, "config.json: llm.command is needed for llm.provider command: a shell "
			   "command that reads the prompt on stdin and prints the answer");
		return NULL;
	}
	char *logs = path_join(workdir, "logs");
	if (fs_mkdir_p(logs, 0700, e) < 0) {
		free(logs);
		return NULL;
	}

	struct planner *p = xcalloc(1, sizeof *p);
	struct llm_planner *lp = xcalloc(1, sizeof *lp);
	p->name = anthropic ? "anthropic" : openai ? "openai" : "command";
	p->paid = true;
	p->analyse = llm_analyse;
	p->plan = llm_plan;
	p->repair = llm_repair;
	p->instrument = llm_instrument;
	p->report = llm_report;
	p->destroy = llm_destroy;
	p->spent = llm_spent;
	p->set_prior_spend = llm_set_prior;
	p->cancel = llm_cancel_calls;
	p->in_flight = llm_in_flight;
	p->priv = lp;
	lp->cfg = cfg;
	lp->logs = logs;
	lp->prompts = path_join(workdir, "prompts");
	lp->knowledge = path_join(workdir, "knowledge.md");
	lp->reports = llm_report_spend_in(logs, NULL);
	lp->seq = last_seq(logs);
	pthread_mutex_init(&lp->mu, NULL);
	llm_cancel_init(&lp->cancel);
	lp->client.provider = p->name;
	lp->client.opts = *o;
	if (cfg->llm_timeout_s > 0)
		lp->client.opts.timeout_ms = lp->client.opts.command_timeout_ms =
			(long)(cfg->llm_timeout_s * 1000);
	lp->client.prices = cfg->llm_prices;
	lp->client.cancel = &lp->cancel;
	lp->client.mu = &lp->mu;
	lp->client.no_schema = &lp->no_schema;
	/* The command provider never sends it, but scrubs it from what it writes all the same. */
	llm_secrets_load(&lp->client, env);
	if (anthropic) {
		lp->client.model = xstrdup(cfg->llm_model ? cfg->llm_model : ANTHROPIC_MODEL);
		lp->client.url = api_url(cfg->llm_base_url ? cfg->llm_base_url : ANTHROPIC_BASE,
					 "messages");
		lp->call = llm_anthropic_call;
	} else if (openai) {
		lp->client.model = xstrdup(cfg->llm_model);
		lp->client.url = api_url(cfg->llm_base_url ? cfg->llm_base_url : OPENAI_BASE,
					 "chat/completions");
		lp->call = llm_openai_call;
	} else {
		lp->client.model = cfg->llm_model ? xstrdup(cfg->llm_model) : NULL;
		lp->client.command = xstrdup(cfg->llm_command);
		lp->call = llm_command_call;
	}
	/* Without a search space there is nothing for it to pick from. */
	struct err none = {{0}};
	if (cJSON_GetObjectItemCaseSensitive(cfg->search_space, "params"))
		lp->surrogate = planner_offline_new(cfg, &none);
	return p;
}

struct planner *planner_llm_new(const struct config *cfg, const char *workdir, struct err *e)
{
	struct llm_opts o;

	llm_opts_default(&o);
	return planner_llm_new_opts(cfg, workdir, &o, e);
}
