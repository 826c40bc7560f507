/*
 * test_sshconn.c — sshconn.h against a real OpenSSH sshd on 127.0.0.1
 * (tests/unit/sshd.h), through a real event loop: commands, files over
 * SFTP, host keys known, unknown, recorded and changed, a refused key
 * file, and the connection lost and found again. It fails, never skips,
 * when sshd cannot start.
 */
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/loop.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"
#include "sshc_t.h"
#include "sshd.h"
#include "t.h"

/*
 * libssh2 1.10 (Debian 12) leaks a BIGNUM each time it reads an ECDSA
 * private key file (fixed upstream after 1.11, libssh2 issue 2079): left
 * out of the leak check here, and only inside that one call. libcrypto
 * keeps no frame pointers: the leak's stack reaches that call only when
 * unwound the slow way.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libssh2_userauth_publickey_fromfile_ex\n";
}

static struct t_sshd sshd;
static bool sshd_up;
static char *dir;

/* ---- replies ----------------------------------------------------------- */

struct want_state {
	struct sshc *c;
	enum sshc_state state;
};

static bool in_state(void *ctx)
{
	struct want_state *w = ctx;
	struct sshc_status st;

	sshc_status(w->c, &st);
	return st.state == w->state;
}

static bool wait_state(struct sshc *c, enum sshc_state state, int ms)
{
	struct want_state w = {c, state};
	return pump(in_state, &w, ms);
}

/* ---- fixtures ---------------------------------------------------------- */

static struct ssh_target target(void)
{
	return (struct ssh_target){.name = "box",
				   .host = "127.0.0.1",
				   .port = sshd.port,
				   .user = sshd.user,
				   .key_file = sshd.key,
				   .known_hosts = sshd.known_hosts,
				   .timeout_ms = 10000};
}

static struct sshc *connect_up(const struct ssh_target *t)
{
	struct sshc *c = sshc_new(t, L, on_changed, NULL);
	struct sshc_status st;

	wait_state(c, SSHC_UP, 15000);
	sshc_status(c, &st);
	T_CHECK(st.state == SSHC_UP, "not connected: state %d, %s", st.state, st.reason);
	return c;
}

/* A connection that the host refuses: its status once down. */
static struct sshc *connect_down(const struct ssh_target *t, struct sshc_status *st)
{
	struct sshc *c = sshc_new(t, L, on_changed, NULL);

	wait_state(c, SSHC_DOWN, 15000);
	sshc_status(c, st);
	T_CHECK(st->state == SSHC_DOWN, "state %d, not down", st->state);
	return c;
}

static char *write_file(const char *name, const char *text)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static char *read_text(const char *path)
{
	size_t len;
	struct err e = {{0}};
	char *s = fs_read_max(path, 1 << 20, &len, &e);
	return s ? s : xstrdup("");
}

/* The key part ("ssh-ed25519 AAAA...") of a .pub file or a known_hosts line. */
static char *key_part(const char *path, int skip)
{
	char *s = read_text(path), *p = s;
	for (int i = 0; i < skip && p; i++) {
		p = strchr(p, ' ');
		p = p ? p + 1 : NULL;
	}
	char *out = xstrdup(p ? p : "");
	char *sp = strchr(out, ' ');
	if (sp)
		sp = strchr(sp + 1, ' ');
	if (sp)
		*sp = 0;
	out[strcspn(out, "\n")] = 0;
	free(s);
	return out;
}

/* ssh-keygen's fingerprint of a public key file: "SHA256:...". */
static char *keygen_fingerprint(const char *pub)
{
	char cmd[700], line[300] = "";
	snprintf(cmd, sizeof cmd, "ssh-keygen -l -E sha256 -f '%s'", pub);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(line, sizeof line, p))
		line[0] = 0;
	if (p)
		pclose(p);
	char *fp = strstr(line, "SHA256:");
	char *out = xstrdup(fp ? fp : "(ssh-keygen failed)");
	out[strcspn(out, " \n")] = 0;
	return out;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		printf("# failed: %s\n", cmd);
}

/* ---- the tests ---------------------------------------------------------- */

static void test_sshd_starts(void)
{
	T_CHECK(sshd_up, "sshd did not start (see the message above)");
}

static void test_exec(void)
{
	struct ssh_target t = target();
	struct sshc *c = connect_up(&t);
	struct got g = {0};

	exec_wait(c, "echo out; echo err >&2; exit 3", NULL, 0, &g);
	T_CHECK(g.rc == 0, "rc %d: %s", g.rc, g.err);
	T_STREQ(g.out, "out\n");
	T_STREQ(g.errout, "err\n");
	T_CHECK(g.exit_code == 3, "exit code %d", g.exit_code);

	exec_wait(c, "cat; echo done", "line one\nline two\n", 0, &g);
	T_STREQ(g.out, "line one\nline two\ndone\n");
	T_CHECK(g.exit_code == 0, "exit code %d", g.exit_code);

	/* Bigger than every window and buffer on the way. */
	size_t big = 3 << 20;
	char *in = xmalloc(big + 1);
	memset(in, 'x', big);
	in[big] = 0;
	exec_wait(c, "wc -c", in, 0, &g);
	free(in);
	T_CHECK(g.rc == 0 && atol(g.out) == (long)big, "wc -c said '%s' (%s)", g.out, g.err);

	exec_wait(c, "head -c 100000 /dev/zero | tr '\\0' y", NULL, 1000, &g);
	T_CHECK(g.out_len == 1000, "kept %zu bytes of 100000, not out_max 1000", g.out_len);

	exec_wait(c, "kill -TERM $$", NULL, 0, &g);
	T_CHECK(g.exit_code == 128 + 15, "killed by SIGTERM: exit code %d", g.exit_code);

	/* The fake nvidia-smi is first on the user's PATH. */
	exec_wait(c, "nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total,"
		     "temperature.gpu --format=csv,noheader,nounits", NULL, 0, &g);
	T_STREQ(g.out, "0, 35, 1024, 81920, 45\n1, 0, 0, 81920, 30\n");

	struct sshc_status st;
	sshc_status(c, &st);
	T_CHECK(st.connects == 1 && st.last_ok > 0, "connects %u, last_ok %lld", st.connects,
		(long long)st.last_ok);
	got_free(&g);
	sshc_free(c);
}

static void test_put_read(void)
{
	struct ssh_target t = target();
	struct sshc *c = connect_up(&t);
	struct got g = {0};
	struct passwd *pw = getpwnam(sshd.user);
	char *ws = path_join(dir, "ws");

	mkdir(ws, 0755);
	T_CHECK(pw && chown(ws, pw->pw_uid, pw->pw_gid) == 0, "chown %s", ws);
	char text[10001];
	for (int i = 0; i < 10000; i++)
		text[i] = (char)('a' + i % 26);
	text[10000] = 0;
	char *local = write_file("local.txt", text);
	char *remote = path_join(ws, "f.txt");

	sshc_put(c, local, remote, 0640, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000) && g.rc == 0, "put: rc %d %s", g.rc, g.err);
	char *there = read_text(remote);
	T_CHECK(!strcmp(there, text), "the remote file differs from the local one");
	free(there);
	struct stat st;
	T_CHECK(stat(remote, &st) == 0 && (st.st_mode & 0777) == 0640 && st.st_uid == pw->pw_uid,
		"mode %o uid %d", st.st_mode & 0777, (int)st.st_uid);

	got_free(&g);
	sshc_read(c, remote, 0, 1 << 20, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000) && g.rc == 0, "read: %s", g.err);
	T_CHECK(g.size == 10000 && g.out_len == 10000 && !strcmp(g.out, text),
		"read all: size %lld, %zu bytes", g.size, g.out_len);

	got_free(&g);
	sshc_read(c, remote, 100, 50, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000) && g.rc == 0, "read: %s", g.err);
	T_CHECK(g.size == 10000 && g.out_len == 50 && !strncmp(g.out, text + 100, 50),
		"read 50 at 100: size %lld, %zu bytes '%s'", g.size, g.out_len, g.out);

	got_free(&g);
	sshc_read(c, remote, 20000, 50, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000) && g.rc == 0, "read: %s", g.err);
	T_CHECK(g.size == 10000 && g.out_len == 0 && g.out && !*g.out,
		"read past the end: size %lld, %zu bytes", g.size, g.out_len);

	char *missing = path_join(ws, "missing");
	got_free(&g);
	sshc_read(c, missing, 0, 50, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000), "no answer");
	T_CHECK(g.rc == 0 && g.size == -1, "missing file: rc %d size %lld %s", g.rc, g.size, g.err);
	free(missing);

	/* Replaced whole, with nothing left beside it. */
	char *local2 = write_file("local2.txt", "second\n");
	got_free(&g);
	sshc_put(c, local2, remote, 0755, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000) && g.rc == 0, "put over: rc %d %s", g.rc, g.err);
	there = read_text(remote);
	T_STREQ(there, "second\n");
	free(there);
	T_CHECK(stat(remote, &st) == 0 && (st.st_mode & 0777) == 0755, "mode %o",
		st.st_mode & 0777);
	char *cmd = xasprintf("ls -a '%s'", ws);
	exec_wait(c, cmd, NULL, 0, &g);
	T_STREQ(g.out, ".\n..\nf.txt\n");
	free(cmd);

	/* Refused by the host: said, and the connection stays. */
	got_free(&g);
	sshc_put(c, local2, "/root/not-yours/x", 0644, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000), "no answer");
	T_CHECK(g.rc == -1 && strstr(g.err, "/root/not-yours/x"), "put refused: rc %d, '%s'", g.rc,
		g.err);
	got_free(&g);
	sshc_put(c, "/nonexistent/local", remote, 0644, on_reply, &g);
	T_CHECK(pump(answered, &g, 15000), "no answer");
	T_CHECK(g.rc == -1 && strstr(g.err, "/nonexistent/local"), "local file missing: '%s'",
		g.err);
	struct sshc_status s;
	sshc_status(c, &s);
	T_CHECK(s.state == SSHC_UP && s.connects == 1, "state %d connects %u after refusals",
		s.state, s.connects);

	got_free(&g);
	sshc_free(c);
	free(local);
	free(local2);
	free(remote);
	free(ws);
}

static void test_unknown_host_key_refused(void)
{
	char *kh = write_file("kh_empty", "# nothing yet\n");
	struct ssh_target t = target();
	t.known_hosts = kh;
	struct sshc_status st;
	struct sshc *c = connect_down(&t, &st);

	T_CHECK(st.state == SSHC_DOWN && st.refused, "state %d refused %d", st.state, st.refused);
	char *host_pub = path_join(sshd.dir, "host_ed25519.pub");
	char *fp = keygen_fingerprint(host_pub);
	T_CONTAINS(st.reason, "host key for [127.0.0.1]:");
	T_CONTAINS(st.reason, "is not known");
	T_CONTAINS(st.reason, fp);
	T_CONTAINS(st.reason, kh);
	T_CONTAINS(st.reason, "accept_new_host_key");
	T_CHECK(st.retry_at == 0 && st.connects == 0, "retry_at %lld connects %u",
		(long long)st.retry_at, st.connects);

	struct got g = {0};
	exec_wait(c, "true", NULL, 0, &g);
	T_CHECK(g.rc == -1, "a request while refused: rc %d", g.rc);
	T_CONTAINS(g.err, "not connected");
	T_CONTAINS(g.err, "is not known");
	char *now = read_text(kh);
	T_STREQ(now, "# nothing yet\n");
	free(now);
	got_free(&g);
	sshc_free(c);
	free(fp);
	free(host_pub);
	free(kh);
}

static void test_accept_new_records_the_key(void)
{
	char *kh = write_file("kh_new", "# mine\nother.example ssh-ed25519 "
					"AAAAC3NzaC1lZDI1NTE5AAAAIOvdDbmqrsFrAvTTw3Q1PzuIuZQHRJKwn0HFDbu4qpDE\n");
	struct ssh_target t = target();
	t.known_hosts = kh;
	t.accept_new = true;
	struct sshc *c = connect_up(&t);

	char *text = read_text(kh);
	char *want_key = key_part(sshd.known_hosts, 1);
	char *line = xasprintf("\n[127.0.0.1]:%d %s\n", sshd.port, want_key);
	T_CHECK(!strncmp(text, "# mine\nother.example ", 21), "the old lines are lost: %s", text);
	T_CONTAINS(text, line);
	free(line);
	free(text);
	sshc_free(c);

	/* And the next connection checks it: no second line. */
	t.accept_new = false;
	c = connect_up(&t);
	text = read_text(kh);
	T_CHECK(strstr(text, want_key) == strrchr(text, '\n') - strlen(want_key),
		"recorded once, at the end: %s", text);
	free(text);
	sshc_free(c);
	free(want_key);

	/* Missing known_hosts, in a missing folder: made, as OpenSSH makes ~/.ssh. */
	char *made = path_join(dir, "dot-ssh/known_hosts");
	t.known_hosts = made;
	t.accept_new = true;
	c = connect_up(&t);
	T_CHECK(fs_exists(made), "%s was not made", made);
	sshc_free(c);

	/* A link stays a link; its target gets the line. */
	char *target_file = write_file("kh_target", "# kept elsewhere\n");
	char *link = path_join(dir, "kh_link");
	T_CHECK(symlink(target_file, link) == 0, "symlink");
	t.known_hosts = link;
	c = connect_up(&t);
	sshc_free(c);
	struct stat st;
	T_CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
	text = read_text(target_file);
	const char *prefix = "# kept elsewhere\n[127.0.0.1]:";
	T_CHECK(!strncmp(text, prefix, strlen(prefix)), "the target: %s", text);
	free(text);
	free(link);
	free(target_file);
	free(made);
	free(kh);
}

static void test_changed_host_key_refused(void)
{
	/* The client's public key, as if it were the host's. */
	char *client_pub = xasprintf("%s.pub", sshd.key);
	char *wrong_key = key_part(client_pub, 0);
	char *text = xasprintf("[127.0.0.1]:%d %s\n", sshd.port, wrong_key);
	char *kh = write_file("kh_changed", text);
	struct ssh_target t = target();
	t.known_hosts = kh;
	t.accept_new = true; /* even so */
	struct sshc_status st;
	struct sshc *c = connect_down(&t, &st);

	T_CHECK(st.state == SSHC_DOWN && st.refused, "state %d refused %d", st.state, st.refused);
	char *host_pub = path_join(sshd.dir, "host_ed25519.pub");
	char *had = keygen_fingerprint(client_pub), *sent = keygen_fingerprint(host_pub);
	char *expect = xasprintf("host key for [127.0.0.1]:%d changed: known_hosts has %s, the host "
			       "sent %s; if the host was re-installed, remove its line from %s",
			       sshd.port, had, sent, kh);
	T_STREQ(st.reason, expect);
	char *now = read_text(kh);
	T_STREQ(now, text);
	free(now);

	/* Fixed by hand, then sshc_retry: connects. */
	char *right = read_text(sshd.known_hosts);
	free(write_file("kh_changed", right));
	sshc_retry(c);
	wait_state(c, SSHC_UP, 15000);
	sshc_status(c, &st);
	T_CHECK(st.state == SSHC_UP, "after sshc_retry: %s", st.reason);
	sshc_free(c);

	free(right);
	free(expect);
	free(had);
	free(sent);
	free(host_pub);
	free(kh);
	free(text);
	free(wrong_key);
	free(client_pub);
}

static void test_hashed_known_hosts(void)
{
	char *right = read_text(sshd.known_hosts);
	char *kh = write_file("kh_hashed", right);
	char *cmd = xasprintf("ssh-keygen -q -H -f '%s' >/dev/null 2>&1", kh);
	sh(cmd);
	char *text = read_text(kh);
	T_CHECK(!strncmp(text, "|1|", 3), "not hashed: %s", text);
	struct ssh_target t = target();
	t.known_hosts = kh;
	struct sshc *c = connect_up(&t);
	sshc_free(c);
	free(text);
	free(cmd);
	free(kh);
	free(right);
}

static void test_wrong_key_file(void)
{
	char *other = path_join(dir, "other_key");
	char *cmd = xasprintf("ssh-keygen -q -t ed25519 -N '' -f '%s'", other);
	sh(cmd);
	struct ssh_target t = target();
	t.key_file = other;
	struct sshc_status st;
	struct sshc *c = connect_down(&t, &st);

	T_CHECK(st.state == SSHC_DOWN && !st.refused && st.retry_at > 0,
		"state %d refused %d retry_at %lld", st.state, st.refused, (long long)st.retry_at);
	T_CONTAINS(st.reason, "authentication refused");
	T_CONTAINS(st.reason, other);
	sshc_free(c);

	char *missing = path_join(dir, "no_such_key");
	t.key_file = missing;
	c = connect_down(&t, &st);
	T_CONTAINS(st.reason, "key file");
	T_CONTAINS(st.reason, missing);
	T_CONTAINS(st.reason, "cannot read");
	sshc_free(c);
	free(missing);
	free(cmd);
	free(other);
}

static void test_ecdsa_key_and_agent(void)
{
	char *ecdsa = path_join(dir, "id_ecdsa");
	char *cmd = xasprintf("ssh-keygen -q -t ecdsa -N '' -f '%s' && "
			      "cat '%s.pub' >> '%s/authorized_keys'",
			      ecdsa, ecdsa, sshd.dir);
	sh(cmd);
	free(cmd);
	struct ssh_target t = target();
	t.key_file = ecdsa;
	struct sshc *c = connect_up(&t);
	sshc_free(c);

	/* No key file: ssh-agent's keys, as SSH_AUTH_SOCK says when the connection is made. */
	char *sock = path_join(dir, "agent.sock");
	cmd = xasprintf("ssh-agent -s -a '%s'", sock);
	FILE *p = popen(cmd, "r");
	free(cmd);
	char line[256];
	int agent = 0;
	while (p && fgets(line, sizeof line, p))
		if (!strncmp(line, "SSH_AGENT_PID=", 14))
			agent = atoi(line + 14);
	if (p)
		pclose(p);
	T_CHECK(agent > 0, "ssh-agent did not start");
	cmd = xasprintf("SSH_AUTH_SOCK='%s' ssh-add -q '%s' 2>/dev/null", sock, ecdsa);
	sh(cmd);
	free(cmd);
	char *old = getenv("SSH_AUTH_SOCK") ? xstrdup(getenv("SSH_AUTH_SOCK")) : NULL;
	setenv("SSH_AUTH_SOCK", sock, 1);
	t.key_file = NULL;
	c = connect_up(&t);
	sshc_free(c);

	struct sshc_status st;
	unsetenv("SSH_AUTH_SOCK");
	c = connect_down(&t, &st);
	T_CONTAINS(st.reason, "no key_file, and no ssh-agent");
	sshc_free(c);
	if (old)
		setenv("SSH_AUTH_SOCK", old, 1);
	free(old);
	if (agent > 0)
		kill(agent, SIGTERM);
	free(sock);
	free(ecdsa);
}

static void test_hundred_execs(void)
{
	struct ssh_target t = target();
	struct sshc *c = connect_up(&t);
	struct got g = {0};
	int ok = 0;
	int64_t t0 = mono_ms();

	for (int i = 0; i < 100; i++) {
		char cmd[32], want_out[32];
		snprintf(cmd, sizeof cmd, "echo %d", i);
		snprintf(want_out, sizeof want_out, "%d\n", i);
		exec_wait(c, cmd, NULL, 0, &g);
		ok += g.rc == 0 && !strcmp(g.out, want_out);
	}
	printf("# 100 sequential execs on one connection: %lld ms\n",
	       (long long)(mono_ms() - t0));
	T_CHECK(ok == 100, "%d of 100 right", ok);
	got_free(&g);
	sshc_free(c);
}

static bool file_there(void *ctx)
{
	return fs_exists(ctx);
}

static void test_free_mid_request(void)
{
	struct ssh_target t = target();
	struct sshc *c = connect_up(&t);
	char *mark = path_join(dir, "started");
	char *cmd = xasprintf("touch '%s'; sleep 30", mark);
	int calls = 0;

	chmod(dir, 0777);
	sshc_exec(c, cmd, NULL, 0, 0, never, &calls);
	T_CHECK(pump(file_there, mark, 15000), "the command did not start");
	int64_t t0 = mono_ms();
	sshc_free(c);
	int64_t took = mono_ms() - t0;
	T_CHECK(took < 2000, "sshc_free took %lld ms with a request in flight", (long long)took);
	struct got g = {0};
	loop_wake(L);
	pump(answered, &g, 100); /* whatever was queued is not delivered */
	T_CHECK(calls == 0, "a freed connection's answer came");
	chmod(dir, 0755);
	free(cmd);
	free(mark);
}

static void test_lost_and_found(void)
{
	struct ssh_target t = target();
	struct sshc *c = connect_up(&t);
	struct sshc_status st;
	struct got g = {0};

	T_CHECK(t_sshd_kill(&sshd) == 0, "cannot kill sshd");
	T_CHECK(wait_state(c, SSHC_DOWN, 10000), "still up after sshd was killed");
	sshc_status(c, &st);
	T_CHECK(st.reason[0] && st.retry_at > 0 && !st.refused, "reason '%s' retry_at %lld",
		st.reason, (long long)st.retry_at);
	printf("# down: %s\n", st.reason);

	int64_t t0 = mono_ms();
	sshc_exec(c, "true", NULL, 0, 0, on_reply, &g);
	T_CHECK(pump(answered, &g, 5000), "no answer while down");
	T_CHECK(g.rc == -1 && mono_ms() - t0 < 1000, "rc %d after %lld ms", g.rc,
		(long long)(mono_ms() - t0));
	T_CONTAINS(g.err, "not connected");

	T_CHECK(t_sshd_start(&sshd, sshd.dir, sshd.port) == 0, "sshd did not start again");
	T_CHECK(wait_state(c, SSHC_UP, 70000), "not reconnected");
	sshc_status(c, &st);
	T_CHECK(st.connects == 2, "connects %u", st.connects);
	exec_wait(c, "echo back", NULL, 0, &g);
	T_STREQ(g.out, "back\n");
	got_free(&g);
	sshc_free(c);
}

static void test_fingerprint(void)
{
	/* The empty key and "abc": SHA-256 test vectors, in OpenSSH's form. */
	char fp[64];
	sshc_fingerprint((const unsigned char *)"", 0, fp, sizeof fp);
	T_STREQ(fp, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	sshc_fingerprint((const unsigned char *)"abc", 3, fp, sizeof fp);
	T_STREQ(fp, "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0");
}

int main(void)
{
	sshc_global_init();
	dir = t_tmpdir();
	chmod(dir, 0755);
	char *sd = path_join(dir, "sshd");
	sshd_up = t_sshd_start(&sshd, sd, 0) == 0;
	free(sd);
	sshc_t_loop_start();

	T_RUN(test_fingerprint);
	T_RUN(test_sshd_starts);
	if (sshd_up) {
		T_RUN(test_exec);
		T_RUN(test_put_read);
		T_RUN(test_unknown_host_key_refused);
		T_RUN(test_accept_new_records_the_key);
		T_RUN(test_changed_host_key_refused);
		T_RUN(test_hashed_known_hosts);
		T_RUN(test_wrong_key_file);
		T_RUN(test_ecdsa_key_and_agent);
		T_RUN(test_hundred_execs);
		T_RUN(test_free_mid_request);
		T_RUN(test_lost_and_found);
		t_sshd_stop(&sshd);
	}
	sshc_t_loop_end();
	fs_remove_tree(dir);
	free(dir);
	sshc_global_cleanup();
	T_END();
}
