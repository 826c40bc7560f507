#!/bin/sh
# slurm.sh — a real one-node Slurm on this machine for the tests (SPEC §12).
#
#   sh tests/tools/slurm.sh start DIR [CPUS]  make DIR, start munged, slurmctld
#                                            and slurmd, wait until the node is
#                                            idle; print conf= dir= cpus=
#                                            ctld_port= slurmd_port= munge_pid=
#                                            ctld_pid= slurmd_pid=
#   sh tests/tools/slurm.sh stop-ctld DIR     SIGTERM slurmctld, wait until it is gone
#   sh tests/tools/slurm.sh start-ctld DIR    start slurmctld again from its saved
#                                            state; print ctld_pid= once it answers
#                                            and slurmd has registered again
#   sh tests/tools/slurm.sh stop DIR          SIGKILL the jobs' slurmstepd and what
#                                            runs under them, SIGTERM the daemons
#                                            and wait until all are gone
#
# DIR gets munge/ (its own key, socket, pid, log and seed; mode 755, as
# munged wants of the socket's folder), slurm.conf, state/ (slurmctld's
# StateSaveLocation), spool/ (slurmd's), the daemons' pid and log files.
# The node is "localhost" with CPUS (default: this machine's) so that
# several 1-CPU jobs run at once, in two partitions: "debug" (the default)
# and "other". CPUS may be more than the machine has
# (SlurmdParameters=config_overrides): 8 on 2 cores runs 8 jobs at once.
# The ports are free ones picked here, so that clusters of tests that run
# side by side never meet. Commands reach it with SLURM_CONF=DIR/slurm.conf
# in their environment. The scheduler runs every 2 s and backfill every
# second, so that a job submitted runs within a second.
#
# The other settings that are not the recipe's are for the tests too:
# finished jobs stay in squeue for MinJobAge=300 s; a command gives up on
# a slurmctld that is down after MessageTimeout less a second (sbatch) or
# twice that (squeue), not 9 or 18 s; a requeued job may start again after
# cred_expire=10 s, not 120; KillWait=2 s between SIGTERM and SIGKILL.
# The time limit is checked every 30 s whatever the settings, so a job
# over --time=1 (a minute, the least) ends TIMEOUT 60 to 90 s after its
# start.
#
# Needs root, slurm-wlm and munge (make deps). Exits 1 with the reason and
# the daemon's log when something cannot start; never skips.
set -eu

# A start that fails stops what it started: nothing is left running for
# a test to stop.
starting=

die() {
	echo "slurm.sh: $*" >&2
	if [ -n "$starting" ]; then
		starting=
		stop "$starting_dir" 2>/dev/null || true
	fi
	exit 1
}

# The last lines of a log, to say why a daemon did not start.
tail_of() {
	[ -f "$1" ] && tail -n 15 "$1" | sed 's/^/    /' || echo "    ($1 is missing)"
}

# Alive and not a zombie (a daemon that ends is reaped by init a while later).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[ -r "/proc/$1/stat" ] || return 0
	state=$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)
	[ "$state" != Z ]
}

# tree PID: every process under PID, children first; then PID.
. "$(dirname "$0")/proc.sh"

# Wait up to 10 s until every pid given is gone.
wait_gone() {
	end=$(($(date +%s) + 10))
	while :; do
		left=
		for p in "$@"; do
			alive "$p" && left="$left $p"
		done
		[ -z "$left" ] && return 0
		[ "$(date +%s)" -le "$end" ] || die "still running 10 s after the signal:$left"
		sleep 0.02
	done
}

# A slurmstepd is not a child of slurmd (it is forked twice); it keeps
# slurmd's environment, and with it SLURM_CONF, which names its cluster.
stepds() {
	for p in $(pgrep -x slurmstepd || true); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$1/slurm.conf"; then
			echo "$p"
		fi
	done
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to 15 s until sinfo says the node is in one of the states given
# (idle at the start; after a restart of slurmctld, whatever its jobs make
# it, once slurmd has registered again: ≈ 4 s).
wait_node() {
	end=$(($(date +%s) + 15))
	while :; do
		st=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
		for want in "$@"; do
			[ "$st" = "$want" ] && return 0
		done
		case $st in
		inval* | drain*) end=0 ;; # it will not come up by itself
		esac
		if [ "$(date +%s)" -gt "$end" ]; then
			die "the node is ${st:-unknown to sinfo}, not $*; slurmctld.log:
$(tail_of "$dir/slurmctld.log")
slurmd.log:
$(tail_of "$dir/slurmd.log")"
		fi
		sleep 0.02
	done
}

start_ctld() { # start_ctld DIR [-c]
	: >>"$dir/slurmctld.log"
	# shellcheck disable=SC2086 # -c or nothing
	slurmctld ${2:-} || die "slurmctld did not start:
$(tail_of "$dir/slurmctld.log")"
	# It forks; its pid file is written once it is up.
	end=$(($(date +%s) + 15))
	while ! scontrol ping 2>/dev/null | grep -q 'is UP'; do
		[ "$(date +%s)" -le "$end" ] || die "slurmctld does not answer 15 s after its start:
$(tail_of "$dir/slurmctld.log")"
		sleep 0.02
	done
	echo "ctld_pid=$(cat "$dir/slurmctld.pid")"
}

start() { # start DIR [CPUS]
	dir=$1
	cpus=${2:-}
	[ -n "$cpus" ] || cpus=$(nproc)
	case $cpus in
	'' | *[!0-9]* | 0*) die "CPUS must be a number from 1: '$cpus'" ;;
	esac
	[ "$(id -u)" = 0 ] || die "needs root (slurmd runs the jobs as root's user here)"
	for bin in munged mungekey slurmctld slurmd; do
		[ -x "/usr/sbin/$bin" ] || die "/usr/sbin/$bin is missing: install slurm-wlm and munge (make deps)"
	done
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	starting=1
	starting_dir=$dir
	mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
	chmod 0755 "$dir" "$dir/munge"
	[ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" ||
		die "mungekey could not make $dir/munge/munge.key"
	if ! [ -f "$dir/munge/munged.pid" ] || ! alive "$(cat "$dir/munge/munged.pid")"; then
		/usr/sbin/munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
			--pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
			--seed-file="$dir/munge/munged.seed" ||
			die "munged did not start:
$(tail_of "$dir/munge/munged.log")"
	fi

	ctld_port=$(free_port)
	slurmd_port=$(free_port)
	while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done
	cat >"$dir/slurm.conf" <<CONF
ClusterName=test
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,bf_interval=1,sched_interval=2
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=2
MessageTimeout=3
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=other Nodes=ALL MaxTime=INFINITE State=UP
CONF
	SLURM_CONF=$dir/slurm.conf
	export SLURM_CONF
	start_ctld "$dir" -c >/dev/null
	: >>"$dir/slurmd.log"
	slurmd -N localhost || die "slurmd did not start:
$(tail_of "$dir/slurmd.log")"
	wait_node idle
	starting=
	echo "conf=$dir/slurm.conf"
	echo "dir=$dir"
	echo "cpus=$cpus"
	echo "ctld_port=$ctld_port"
	echo "slurmd_port=$slurmd_port"
	echo "munge_pid=$(cat "$dir/munge/munged.pid")"
	echo "ctld_pid=$(cat "$dir/slurmctld.pid")"
	echo "slurmd_pid=$(cat "$dir/slurmd.pid")"
}

# stop_pidfile FILE: SIGTERM the pid in FILE and wait until it is gone.
stop_pidfile() {
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || true
	wait_gone "$pid"
	rm -f "$1"
}

stop() { # stop DIR
	dir=$(cd "$1" && pwd) || die "no folder $1"
	pids=
	for p in $(stepds "$dir"); do
		pids="$pids $(tree "$p")"
	done
	if [ -n "$pids" ]; then
		# shellcheck disable=SC2086
		kill -s KILL $pids 2>/dev/null || true
		# shellcheck disable=SC2086
		wait_gone $pids
	fi
	stop_pidfile "$dir/slurmd.pid"
	stop_pidfile "$dir/slurmctld.pid"
	stop_pidfile "$dir/munge/munged.pid"
}

[ $# -ge 2 ] || die "usage: slurm.sh start DIR [CPUS] | stop-ctld DIR | start-ctld DIR | stop DIR"
case $1 in
start) start "$2" "${3:-}" ;;
stop-ctld) stop_pidfile "$(cd "$2" && pwd)/slurmctld.pid" ;;
start-ctld)
	dir=$(cd "$2" && pwd) || die "no folder $2"
	[ -f "$dir/slurm.conf" ] || die "no $dir/slurm.conf: start the cluster first"
	SLURM_CONF=$dir/slurm.conf
	export SLURM_CONF
	start_ctld "$dir"
	wait_node idle mixed allocated completing
	;;
stop) stop "$2" ;;
*) die "unknown command '$1': start, stop-ctld, start-ctld or stop" ;;
esac
