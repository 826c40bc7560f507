/*
 * cmd_keys.c — `hypotop keys [--man]`: the terminal UI's actions with their
 * default keys, and the roles a theme colours, from the tables the UI
 * itself uses (actions.h, theme.h), so the man page cannot drift from them.
 */
#include <stdio.h>
#include <string.h>

#include "hypotop/actions.h"
#include "hypotop/cmd.h"
#include "hypotop/theme.h"

int cmd_keys(int argc, char **argv)
{
	struct buf b;
	bool man = argc == 2 && !strcmp(argv[1], "--man");

	if (argc > 2 || (argc == 2 && !man)) {
		cmd_usage("keys", 1);
		return EXIT_USAGE;
	}
	buf_init(&b);
	if (man)
		buf_adds(&b, ".SS Keys\n");
	else
		buf_printf(&b, "%-14s %-12s %-6s %s\n", "ACTION", "KEYS", "WHERE", "WHAT");
	actions_print_reference(&b, man);
	buf_adds(&b, man ? ".SS \"Theme roles\"\n"
			 : "\nTheme roles (in a theme file: ROLE = FG [BG] [ATTR...])\n");
	for (int r = 0; r < ROLE__COUNT; r++) {
		if (man)
			buf_printf(&b, ".TP\n.B %s\n%s\n", role_name(r), role_doc(r));
		else
			buf_printf(&b, "  %-16s %s\n", role_name(r), role_doc(r));
	}
	fputs(b.data, stdout);
	buf_free(&b);
	return EXIT_OK;
}
