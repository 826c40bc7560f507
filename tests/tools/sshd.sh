#!/bin/sh
# sshd.sh — a real OpenSSH sshd on 127.0.0.1 for the tests (SPEC §12).
#
#   sh tests/tools/sshd.sh start DIR [PORT]   make DIR, start sshd, print
#                                            port= pid= key= known_hosts= user= dir=
#   sh tests/tools/sshd.sh kill DIR           SIGKILL sshd and its sessions: connections drop
#   sh tests/tools/sshd.sh stop DIR           SIGTERM them and wait until they are gone
#
# DIR gets (once; a second start reuses them, so that a restart on the same
# PORT shows the same host key): host_ed25519 (the host key), id_ed25519
# (a client key without passphrase, in authorized_keys), known_hosts (the
# host's line, "[127.0.0.1]:PORT ssh-ed25519 ..."), bin/nvidia-smi (a fake
# first on the user's PATH that prints DIR/gpus.csv for --query-gpu=...
# and DIR/apps.csv for --query-compute-apps=...; without gpus.csv it fails
# as a machine without a driver does, exit 9), sshd_config, sshd.pid and
# sshd.log. Logins are as the user hypotop-test (shell /bin/sh: root's
# shell start-up on these machines is slow), made on first use. DIR's
# parent folders must be searchable by that user, and what a test hands
# it (a workspace) must be its own: chown it. SSHD_SETENV, when set, is
# more NAME=VALUE words every login gets in its environment (SetEnv).
#
# Needs root and openssh-server (make deps). Exits 1 with the reason when
# it cannot start sshd; never skips.
set -eu

USER_NAME=hypotop-test

die() {
	echo "sshd.sh: $*" >&2
	exit 1
}

# tree PID: every process under PID, children first; then PID.
. "$(dirname "$0")/proc.sh"

signal_all() { # signal_all SIG DIR
	[ -f "$2/sshd.pid" ] || return 0
	pid=$(cat "$2/sshd.pid")
	pids=$(tree "$pid")
	# shellcheck disable=SC2086
	kill -s "$1" $pids 2>/dev/null || true
	rm -f "$2/sshd.pid"
	gone=0
	end=$(($(date +%s) + 10))
	while [ "$(date +%s)" -le "$end" ]; do
		alive=0
		for p in $pids; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && { gone=1; break; }
		sleep 0.02
	done
	[ $gone = 1 ] || die "sshd (pid $pid) or its sessions did not exit within 10 s"
}

make_user() {
	if ! getent passwd "$USER_NAME" >/dev/null; then
		# Another test may make it at the same moment.
		useradd -m -s /bin/sh "$USER_NAME" 2>/dev/null ||
			getent passwd "$USER_NAME" >/dev/null || die "useradd $USER_NAME failed"
	fi
	# useradd leaves it locked ("!"), which sshd refuses with UsePAM no;
	# "*" allows key logins only.
	tries=0
	while [ "$(getent shadow "$USER_NAME" | cut -d: -f2)" != "*" ]; do
		usermod -p '*' "$USER_NAME" 2>/dev/null || true
		tries=$((tries + 1))
		[ $tries -lt 50 ] || die "usermod -p '*' $USER_NAME failed"
		sleep 0.1
	done
}

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() { # start DIR [PORT]
	dir=$1
	[ "$(id -u)" = 0 ] || die "needs root (it adds the user $USER_NAME and starts sshd)"
	[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing: install openssh-server (make deps)"
	command -v ssh-keygen >/dev/null && command -v ssh-keyscan >/dev/null ||
		die "ssh-keygen or ssh-keyscan is missing: install openssh-client (make deps)"
	mkdir -p "$dir/bin"
	dir=$(cd "$dir" && pwd)
	chmod 0755 "$dir" "$dir/bin"
	make_user
	[ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C test-host -f "$dir/host_ed25519"
	[ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C test-client -f "$dir/id_ed25519"
	cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
	chmod 0644 "$dir/authorized_keys"
	[ -f "$dir/gpus.csv" ] || printf '0, 35, 1024, 81920, 45\n1, 0, 0, 81920, 30\n' >"$dir/gpus.csv"
	cat >"$dir/bin/nvidia-smi" <<SMI
#!/bin/sh
# A fake nvidia-smi for the tests: what $dir/gpus.csv says.
case "\$*" in
*--query-gpu=*)
	[ -f "$dir/gpus.csv" ] || {
		echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2
		exit 9
	}
	cat "$dir/gpus.csv" ;;
*--query-compute-apps=*)
	[ ! -f "$dir/apps.csv" ] || cat "$dir/apps.csv" ;;
*)
	echo "fake nvidia-smi: only --query-gpu and --query-compute-apps" >&2
	exit 2 ;;
esac
SMI
	chmod 0755 "$dir/bin/nvidia-smi"
	chmod 0644 "$dir/gpus.csv"
	# What the user must reach: DIR and the folders above it.
	su -s /bin/sh "$USER_NAME" -c "test -r '$dir/authorized_keys' && test -x '$dir/bin/nvidia-smi'" ||
		die "$USER_NAME cannot read $dir: make its parent folders searchable (chmod 755)"

	port=${2:-}
	[ -n "$port" ] || port=$(free_port)
	mkdir -p -m 0755 /run/sshd
	cat >"$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
MaxSessions 100
MaxStartups 100
SetEnv PATH=$dir/bin:/usr/local/bin:/usr/bin:/bin ${SSHD_SETENV:-}
CONF
	: >"$dir/sshd.log"
	/usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" ||
		die "sshd did not start: $(tail -n 5 "$dir/sshd.log")"
	end=$(($(date +%s) + 15))
	while :; do
		if ssh-keyscan -T 2 -t ed25519 -p "$port" 127.0.0.1 >"$dir/known_hosts.new" 2>/dev/null &&
			[ -s "$dir/known_hosts.new" ]; then
			break
		fi
		if [ "$(date +%s)" -gt "$end" ]; then
			[ ! -f "$dir/sshd.pid" ] || kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
			die "sshd on 127.0.0.1:$port did not answer within 15 s: $(tail -n 5 "$dir/sshd.log")"
		fi
		sleep 0.05
	done
	mv "$dir/known_hosts.new" "$dir/known_hosts"
	echo "port=$port"
	echo "pid=$(cat "$dir/sshd.pid")"
	echo "key=$dir/id_ed25519"
	echo "known_hosts=$dir/known_hosts"
	echo "user=$USER_NAME"
	echo "dir=$dir"
}

[ $# -ge 2 ] || die "usage: sshd.sh start DIR [PORT] | kill DIR | stop DIR"
case $1 in
start) start "$2" "${3:-}" ;;
kill) signal_all KILL "$2" ;;
stop) signal_all TERM "$2" ;;
*) die "unknown command '$1': start, kill or stop" ;;
esac
