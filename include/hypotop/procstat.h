/*
 * procstat.h — what /proc/PID/stat tells of a process: its start time,
 * which tells it from a later process given the same pid.
 *
 * Libc only: hypotop-job, the static supervisor of local jobs, links it
 * as it is.
 */
#ifndef HYPOTOP_PROCSTAT_H
#define HYPOTOP_PROCSTAT_H

#include <sys/types.h>

/* Field 22 of /proc/PID/stat (pid 0: this process); 0 when there is no such process. */
unsigned long long proc_start_time(pid_t pid);

#endif
