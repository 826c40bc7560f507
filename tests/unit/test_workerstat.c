/*
 * Unit tests: engine/workers.json written and read back (workerstat.h),
 * and each worker of workers.json beside it (workers_view.h).
 */
#include "t.h"

#include "hypotop/fsutil.h"
#include "hypotop/workers_view.h"

static char *make_dir(char **base)
{
	*base = t_tmpdir();
	char *engine = path_join(*base, "engine");
	struct err e = {{0}};
	if (fs_mkdir_p(engine, 0755, &e) < 0) {
		printf("# mkdir: %s\n", e.msg);
		exit(2);
	}
	free(engine);
	return *base;
}

static void two_workers(struct worker_stat v[2], struct worker_slot slots[3])
{
	memset(v, 0, 2 * sizeof *v);
	memset(slots, 0, 3 * sizeof *slots);
	snprintf(v[0].name, sizeof v[0].name, "local");
	snprintf(v[0].kind, sizeof v[0].kind, "local");
	v[0].enabled = true;
	v[0].st.state = WORKER_UP;
	v[0].st.heartbeat = 1700000000123;
	v[0].st.ngpu = 2;
	v[0].st.gpu[0] = (struct worker_gpu){0, 87, 10240, 24576, 71};
	v[0].st.gpu[1] = (struct worker_gpu){3, -1, -1, -1, -1};
	snprintf(slots[0].node, sizeof slots[0].node, "n0003");
	slots[0].gpu = 0;
	slots[1].gpu = 3;
	v[0].slot = slots;
	v[0].nslots = 2;
	snprintf(v[1].name, sizeof v[1].name, "box");
	snprintf(v[1].kind, sizeof v[1].kind, "ssh");
	v[1].enabled = true;
	v[1].st.state = WORKER_DOWN;
	snprintf(v[1].st.reason, sizeof v[1].st.reason, "refused \"x\"\n\x1b[2J");
	snprintf(slots[2].node, sizeof slots[2].node, "n0005");
	slots[2].gpu = -1;
	slots[2].unknown = true;
	v[1].slot = slots + 2;
	v[1].nslots = 1;
}

static void round_trip(void)
{
	char *base, *dir = make_dir(&base);
	struct worker_stat v[2], *got;
	struct worker_slot slots[3];
	size_t n;
	int64_t updated = 0;
	struct err e = {{0}};

	two_workers(v, slots);
	T_CHECK(workerstat_write(dir, 1700000001000, v, 2, &e) == 0, "write: %s", e.msg);
	T_CHECK(workerstat_read(dir, &updated, &got, &n, &e) == 0, "read: %s", e.msg);
	T_CHECK(updated == 1700000001000 && n == 2, "updated %lld, %zu workers",
		(long long)updated, n);
	if (n != 2) {
		workerstat_free(got, n);
		return;
	}
	T_STREQ(got[0].name, "local");
	T_STREQ(got[0].kind, "local");
	T_CHECK(got[0].enabled && got[0].st.state == WORKER_UP &&
			got[0].st.heartbeat == 1700000000123,
		"local's state or heartbeat");
	T_CHECK(got[0].nslots == 2 && !strcmp(got[0].slot[0].node, "n0003") &&
			got[0].slot[0].gpu == 0 && got[0].slot[1].node[0] == '\0' &&
			got[0].slot[1].gpu == 3 && !got[0].slot[0].unknown,
		"local's slots");
	T_CHECK(got[0].st.ngpu == 2 && got[0].st.gpu[0].util == 87 &&
			got[0].st.gpu[0].mem_used == 10240 && got[0].st.gpu[0].mem_total == 24576 &&
			got[0].st.gpu[0].temp == 71,
		"gpu 0's readings");
	T_CHECK(got[0].st.gpu[1].index == 3 && got[0].st.gpu[1].util < 0 &&
			got[0].st.gpu[1].mem_used < 0 && got[0].st.gpu[1].temp < 0,
		"a reading not taken comes back as not taken, not 0");
	T_STREQ(got[1].st.reason, "refused \"x\"\n\x1b[2J");
	T_CHECK(got[1].st.state == WORKER_DOWN && got[1].nslots == 1 && got[1].slot[0].unknown &&
			got[1].slot[0].gpu == -1,
		"box's state and slot");
	T_STREQ(worker_state_word(&got[0]), "up");
	T_STREQ(worker_state_word(&got[1]), "down");
	/* Every slot used: busy. */
	snprintf(got[0].slot[1].node, sizeof got[0].slot[1].node, "n0004");
	T_STREQ(worker_state_word(&got[0]), "busy");
	got[0].enabled = false;
	T_STREQ(worker_state_word(&got[0]), "disabled");
	workerstat_free(got, n);
	free(base);
}

static void missing_and_garbage(void)
{
	char *base, *dir = make_dir(&base);
	struct worker_stat *got = NULL;
	size_t n = 7;
	int64_t updated = 5;
	struct err e = {{0}};

	T_CHECK(workerstat_read(dir, &updated, &got, &n, &e) == 1 && n == 0,
		"no file: 1 and no workers");
	workerstat_free(got, n);
	char *path = path_join(dir, WORKERSTAT_FILE);
	T_CHECK(fs_write_atomic(path, "{\"updated\": 1, \"workers\": [", 27, 0644, &e) == 0,
		"%s", e.msg);
	T_CHECK(workerstat_read(dir, &updated, &got, &n, &e) == -1, "garbage is an error");
	T_CONTAINS(e.msg, "engine/workers.json");
	workerstat_free(got, n);
	free(path);
	free(base);
}

static void view(void)
{
	struct worker_stat v[2];
	struct worker_slot slots[3];
	struct worker_def defs[3] = {
		{.name = "box", .kind = "ssh", .enabled = true, .slots = 4},
		{.name = "new", .kind = "ssh", .enabled = true, .slots = 2},
		{.name = "local", .kind = "local", .enabled = false, .slots = 1},
	};
	struct workers ws = {defs, 3};
	struct worker_view out[3];

	two_workers(v, slots);
	workers_view(&ws, v, 2, out);
	T_CHECK(out[0].stat == &v[1] && !strcmp(out[0].state, "down") && out[0].slots == 1 &&
			out[0].used == 1,
		"box: the engine's entry, its slots");
	T_CHECK(!out[1].stat && !strcmp(out[1].state, "unknown") && out[1].slots == 2 &&
			out[1].used == 0,
		"a worker the engine has not reported: unknown, the file's slots");
	T_CHECK(out[2].stat == &v[0] && !strcmp(out[2].state, "disabled"),
		"disabled in the file is disabled, whatever the engine last said");
}

static void ages_and_readings(void)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{-1, "-"},           {0, "now"},          {999, "now"},
		{12000, "12 s"},     {125000, "2 min"},   {3600000 + 300000, "1 h 5 min"},
		{2 * 86400000LL + 7200000, "2 d 2 h"},
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		fmt_age(buf, sizeof buf, cases[i].ms);
		T_STREQ(buf, cases[i].want);
	}
	/* A reading not taken is "-"; a real 0 is 0. */
	fmt_reading(buf, sizeof buf, -1, "%");
	T_STREQ(buf, "-");
	fmt_reading(buf, sizeof buf, 0, "%");
	T_STREQ(buf, "0%");
	fmt_reading(buf, sizeof buf, 10240.4, " MiB");
	T_STREQ(buf, "10240 MiB");
}

int main(void)
{
	T_RUN(round_trip);
	T_RUN(missing_and_garbage);
	T_RUN(view);
	T_RUN(ages_and_readings);
	T_END();
}
