/*
 * vcs.h — the training project's git repository, through libgit2.
 *
 * Called from one thread at a time per repository (libgit2 rule); the
 * engine runs these on its git thread, the command line directly.
 */
#ifndef HYPOTOP_VCS_H
#define HYPOTOP_VCS_H

#include <stdbool.h>

#include "hypotop/util.h"

#define VCS_OID_HEX 41

/* Once per process, before any thread starts. */
void vcs_init(void);
void vcs_shutdown(void);

/*
 * The commit HEAD of the repository at dir points to (dir must be the top
 * of a work tree), and whether tracked files differ from it.
 */
int vcs_head(const char *dir, char oid[VCS_OID_HEX], bool *dirty, struct err *e);

#endif
