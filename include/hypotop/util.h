/*
 * util.h — allocation that cannot fail, a growable string buffer and the
 * error record every fallible call fills in.
 *
 * x*alloc() abort on out-of-memory so call sites stay clean. Every other
 * failure is returned to the caller with a message in a struct err, written
 * as "file:line: field: problem; fix" so that it can be shown to a person
 * as it is.
 */
#ifndef HYPOTOP_UTIL_H
#define HYPOTOP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* s without its leading blanks, its trailing ones (and \r) cut off in place. */
char *str_trim(char *s);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);

/* A growable, always NUL-terminated byte string. */
struct buf {
	char *data;
	size_t len, cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
void buf_reset(struct buf *b);
/*
 * Append text for a terminal: control characters and escape sequences
 * (C0, DEL, C1) are shown as visible escapes (\e, \x07) instead of being
 * passed through, so a log line or model answer cannot drive the terminal.
 */
void buf_add_safe(struct buf *b, const char *s);
char *buf_steal(struct buf *b);
/*
 * Decode one UTF-8 character at s (at most n bytes) into *cp: its length,
 * or 0 when invalid (overlong, a surrogate, past U+10FFFF, cut short).
 */
size_t utf8_decode(const unsigned char *s, size_t n, unsigned *cp);

/* An error message for a person; empty when no error was set. */
struct err {
	char msg[1024];
};

void err_set(struct err *e, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Prefix the current message with "prefix: ". */
void err_prefix(struct err *e, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* Append text to the current message. */
void err_suffix(struct err *e, const char *text);
/*
 * Whether a failure was this process or the system running out of file
 * descriptors (EMFILE, ENFILE): a passing want, to wait out, not a fault
 * of the step that met it. err_out_of_fds reads the message, for those
 * (libgit2's) that keep only strerror's text.
 */
bool errno_out_of_fds(int errnum);
bool err_out_of_fds(const struct err *e);

/*
 * Exit statuses of SPEC §3. EXIT_UNKNOWN: a request reached an engine that
 * never answered, so whether it was applied is not known.
 */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_UNKNOWN = 3 };

/* Wall-clock milliseconds since the epoch, and a monotonic clock. */
int64_t now_ms(void);
int64_t mono_ms(void);

/* A fast 64-bit hash (FNV-1a style): tells whether a file is still the one written. */
uint64_t hash64(const void *data, size_t len);

/* Edit distance, for "did you mean" suggestions. */
size_t edit_distance(const char *a, const char *b);
/*
 * The nearest of the names offered to one asked for: nearest_init, then
 * nearest_offer for each; the first of equally near ones stays. The caller
 * decides how near is near enough (d).
 */
struct nearest {
	const char *name; /* asked for */
	const char *best; /* the nearest offered, or NULL */
	size_t d;         /* its edit distance; SIZE_MAX before any */
};
void nearest_init(struct nearest *n, const char *name);
void nearest_offer(struct nearest *n, const char *candidate);

/*
 * Numbers in files and logs use '.' whatever LC_NUMERIC says: these read
 * and write them in the C locale, from any thread.
 */
double strtod_c(const char *s, char **end);
void snprintf_c(char *out, size_t n, const char *fmt, ...) PRINTF_LIKE(3, 4);
/*
 * The fewest digits of finite v that read back as v: "0.1", "3", "1e-05";
 * a whole number in its digits ("190", never "1.9e+02").
 */
void num_shortest(double v, char out[40]);
/* Digits after the point in v's shortest form: 0.52 has 2, 1.5e-05 has 6, 190 none. */
int num_decimals(double v);
/* 'text' quoted for /bin/sh: 'it'\''s'. Appended to b. */
void sh_quote(struct buf *b, const char *text);

/* What else num_scan accepts as a number. */
enum {
	NUM_GROUPS = 1 << 0, /* '_' between digits of the whole part, as Python and YAML 1.1 */
	NUM_WORDS = 1 << 1,  /* nan, inf, infinity after the sign, in any case */
};
/*
 * Length of the decimal number at p[0..n), 0 when there is none: sign,
 * digits, fraction, exponent (an 'e' without digits after it is not part
 * of it). No hex, unlike strtod. *is_float: a '.', an exponent or a word
 * was seen, even when 0 is returned.
 */
size_t num_scan(const char *p, size_t n, unsigned flags, bool *is_float);

/* Parse a whole decimal integer / finite number; 0 on success. */
int parse_long(const char *s, long lo, long hi, long *out);
int parse_double(const char *s, double *out);

#endif
