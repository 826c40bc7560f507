/*
 * t.h — the unit tests' few macros. A test file defines test functions,
 * lists them in main with T_RUN, and ends with T_END. Each test prints
 * "ok - NAME" or "not ok - NAME: WHY" (TAP-like); tests/run.sh counts them.
 */
#ifndef HYPOTOP_T_H
#define HYPOTOP_T_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_here, t_pass, t_fail;
static const char *t_name;

#define T_CHECK(cond, ...)                                                        \
	do {                                                                      \
		if (!(cond)) {                                                    \
			if (!t_failed_here) {                                     \
				printf("not ok - %s: %s:%d: ", t_name, __FILE__,  \
				       __LINE__);                                 \
				printf(__VA_ARGS__);                              \
				printf("\n");                                     \
			}                                                         \
			t_failed_here = 1;                                        \
		}                                                                 \
	} while (0)

#define T_STREQ(a, b)                                                              \
	do {                                                                       \
		const char *t_a = (a), *t_b = (b);                                 \
		T_CHECK(t_a && t_b && !strcmp(t_a, t_b), "\"%s\" != \"%s\"",       \
			t_a ? t_a : "(null)", t_b ? t_b : "(null)");               \
	} while (0)

#define T_CONTAINS(hay, needle)                                                    \
	do {                                                                       \
		const char *t_h = (hay), *t_n = (needle);                          \
		T_CHECK(t_h && strstr(t_h, t_n), "\"%s\" does not contain \"%s\"", \
			t_h ? t_h : "(null)", t_n);                                \
	} while (0)

#define T_RUN(fn)                                                                  \
	do {                                                                       \
		t_name = #fn;                                                      \
		t_failed_here = 0;                                                 \
		fn();                                                              \
		if (t_failed_here)                                                 \
			t_fail++;                                                  \
		else {                                                             \
			t_pass++;                                                  \
			printf("ok - %s\n", #fn);                                  \
		}                                                                  \
		fflush(stdout);                                                    \
	} while (0)

#define T_END() return t_fail ? 1 : 0

/* A fresh empty folder under $TMPDIR; caller frees. */
static inline char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p = malloc(strlen(base) + 32);
	sprintf(p, "%s/hypotop-t.XXXXXX", base);
	if (!mkdtemp(p)) {
		perror("mkdtemp");
		exit(2);
	}
	return p;
}

/* fmt formatted, in memory the caller frees. */
static inline char *t_vfmt(const char *fmt, va_list ap)
{
	va_list again;

	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	char *text = malloc((size_t)n + 1);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	return text;
}

/* Run a shell command made from fmt; its exit status. */
static inline int t_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int t_sh(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	char *cmd = t_vfmt(fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

/* The first line (no newline) a shell command made from fmt prints, into out[n]; "" none. */
static inline void t_sh_line(char *out, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void t_sh_line(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	char *cmd = t_vfmt(fmt, ap);
	va_end(ap);
	FILE *f = popen(cmd, "r");
	out[0] = '\0';
	if (f) {
		if (!fgets(out, (int)n, f))
			out[0] = '\0';
		pclose(f);
	}
	out[strcspn(out, "\n")] = '\0';
	free(cmd);
}

#endif
