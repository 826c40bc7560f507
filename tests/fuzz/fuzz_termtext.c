/*
 * fuzz_termtext.c — text from outside (log lines, model output) made safe
 * for a terminal. The first byte picks UTF-8 or not; the rest is the text.
 * What comes out holds no control character, nothing that starts an escape
 * sequence and, without UTF-8, nothing but ASCII.
 */
#include "fuzz.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "hypotop/termtext.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		fuzz_fail("no C.UTF-8 locale");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;

	if (!size)
		return 0;
	bool utf8 = data[0] & 1;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	buf_init(&out);
	text_clean(&out, s, len, utf8);
	const char *t = out.data ? out.data : "";
	if (strlen(t) != out.len)
		fuzz_fail("clean text holds a NUL");
	mbstate_t st;
	memset(&st, 0, sizeof st);
	for (size_t i = 0; i < out.len;) {
		unsigned char c = (unsigned char)t[i];
		if (c < 0x20 || c == 0x7f)
			fuzz_fail("clean text holds control byte 0x%02x at %zu", c, i);
		if (c < 0x80) {
			i++;
			continue;
		}
		if (!utf8)
			fuzz_fail("clean text holds byte 0x%02x at %zu without UTF-8", c, i);
		wchar_t wc;
		size_t n = mbrtowc(&wc, t + i, out.len - i, &st);
		if (n == (size_t)-1 || n == (size_t)-2)
			fuzz_fail("clean text holds invalid UTF-8 at %zu", i);
		if (wc < 0xa0 || wcwidth(wc) < 0 || (wc >= 0x202a && wc <= 0x202e) ||
		    (wc >= 0x2066 && wc <= 0x2069))
			fuzz_fail("clean text holds U+%04x at %zu", (unsigned)wc, i);
		i += n;
	}
	int used;
	int width = text_width(t, utf8);
	size_t fit = text_fit(t, width / 2, &used, utf8);
	if (width < 0 || fit > out.len || used > width / 2)
		fuzz_fail("text_fit: %zu bytes in %d columns (width %d, %zu bytes)", fit, used,
			  width, out.len);
	if (len) {
		char needle[9];
		size_t nl = len < 8 ? len : 8;
		memcpy(needle, s, nl);
		needle[nl] = '\0';
		long at = text_find(t, 0, needle);
		if (at >= 0 && (size_t)at + strlen(needle) > out.len)
			fuzz_fail("text_find: a match past the end");
	}
	buf_free(&out);
	return 0;
}
