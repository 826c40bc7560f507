/*
 * lock.h — one writer per workdir: an exclusive flock(2) on engine/lock.
 *
 * The holder writes "PID ROLE" into the file so that a refused second
 * writer can say who holds it. The kernel drops the lock when the holder
 * dies, even by SIGKILL, so a stale file never blocks anyone.
 */
#ifndef HYPOTOP_LOCK_H
#define HYPOTOP_LOCK_H

#include <stdbool.h>
#include <sys/types.h>

#include "hypotop/util.h"

enum lock_result { LOCK_HELD = 0, LOCK_BUSY = 1, LOCK_ERROR = -1 };

/*
 * Try to take the lock at path without waiting; the file is not changed.
 * On LOCK_BUSY, *holder and holder_role (LOCK_ROLE_LEN bytes) say who has
 * it, when the holder wrote that down (an engine does; a short command
 * does not, so that a refused command leaves every byte as it was).
 */
#define LOCK_ROLE_LEN 32
int lock_take(const char *path, int *fd, pid_t *holder, char *holder_role, struct err *e);
/* Write "PID ROLE" into the held lock file; lock_clear empties it. */
int lock_claim(int fd, const char *role, struct err *e);
void lock_clear(int fd);
void lock_release(int fd);
/* Whether somebody holds the lock now; *pid is 0 when they have not said. */
bool lock_held(const char *path, pid_t *pid, char *role);

#endif
