/*
 * sshd.h — a real OpenSSH sshd on 127.0.0.1 for the unit tests, through
 * tests/tools/sshd.sh (which says what the folder holds). Tests run from
 * the repository's root, as tests/run.sh runs them.
 *
 *	struct t_sshd s;
 *	if (t_sshd_start(&s, dir, 0) != 0) ... (the reason is printed)
 *	... s.port, s.key, s.known_hosts, s.user, s.dir ...
 *	t_sshd_kill(&s);            connections drop at once
 *	t_sshd_start(&s, dir, s.port);  the same port and host key
 *	t_sshd_stop(&s);
 *
 * dir's parent must be searchable by the test user: t_sshd_start makes it
 * so for a folder of t_tmpdir().
 */
#ifndef HYPOTOP_T_SSHD_H
#define HYPOTOP_T_SSHD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct t_sshd {
	char dir[512];
	int port;
	int pid;
	char key[600];
	char known_hosts[600];
	char user[64];
};

static inline void t_sshd_set(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src) < n ? strlen(src) : n - 1;

	memcpy(dst, src, len);
	dst[len] = 0;
}

static inline int t_sshd_run(const char *what, const char *dir, int port, struct t_sshd *s)
{
	char cmd[1200], line[700];
	const char *script = getenv("HYPOTOP_SSHD_SH") ? getenv("HYPOTOP_SSHD_SH")
						       : "tests/tools/sshd.sh";

	if (port)
		snprintf(cmd, sizeof cmd, "sh '%s' %s '%s' %d", script, what, dir, port);
	else
		snprintf(cmd, sizeof cmd, "sh '%s' %s '%s'", script, what, dir);
	FILE *p = popen(cmd, "r");
	if (!p) {
		perror("popen");
		return -1;
	}
	while (fgets(line, sizeof line, p)) {
		line[strcspn(line, "\n")] = 0;
		if (!s)
			continue;
		if (!strncmp(line, "port=", 5))
			s->port = atoi(line + 5);
		else if (!strncmp(line, "pid=", 4))
			s->pid = atoi(line + 4);
		else if (!strncmp(line, "key=", 4))
			t_sshd_set(s->key, sizeof s->key, line + 4);
		else if (!strncmp(line, "known_hosts=", 12))
			t_sshd_set(s->known_hosts, sizeof s->known_hosts, line + 12);
		else if (!strncmp(line, "user=", 5))
			t_sshd_set(s->user, sizeof s->user, line + 5);
		else if (!strncmp(line, "dir=", 4))
			t_sshd_set(s->dir, sizeof s->dir, line + 4);
	}
	int rc = pclose(p);
	if (rc != 0)
		fprintf(stderr, "%s: %s failed (status %d)\n", script, what, rc);
	return rc == 0 ? 0 : -1;
}

/* Start sshd in dir (made; mode 0755, and its parent too); port 0: a free one. */
static inline int t_sshd_start(struct t_sshd *s, const char *dir, int port)
{
	char parent[512];

	snprintf(parent, sizeof parent, "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		chmod(parent, 0755);
	}
	if (s->dir != dir)
		memset(s, 0, sizeof *s);
	return t_sshd_run("start", dir, port, s);
}

/* SIGKILL sshd and its sessions. */
static inline int t_sshd_kill(struct t_sshd *s)
{
	return t_sshd_run("kill", s->dir, 0, NULL);
}

static inline int t_sshd_stop(struct t_sshd *s)
{
	return t_sshd_run("stop", s->dir, 0, NULL);
}

#endif
