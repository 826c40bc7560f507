/*
 * fuzz_theme.c — a theme file from the user's config folder
 * ($XDG_CONFIG_HOME/hypotop/themes/NAME.theme), parsed over the default.
 * A refusal says why and leaves the theme as it was.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/theme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {{0}};
	struct theme t, before;
	char *text = fuzz_cstr(data, size);

	theme_default(&t);
	before = t;
	if (theme_parse(&t, text, "mine.theme", &e) < 0) {
		fuzz_need_msg(&e, "mine.theme");
		if (memcmp(&t, &before, sizeof t))
			fuzz_fail("mine.theme: refused, but the theme was changed");
	}
	free(text);
	return 0;
}
