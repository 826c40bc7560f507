# proc.sh — process helpers that sshd.sh and slurm.sh source.
# shellcheck shell=sh

# Every process under pid, children first; then pid.
tree() {
	ps -e -o pid= -o ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			n = 1; list[1] = root
			for (i = 1; i <= n; i++)
				for (p in parent)
					if (parent[p] == list[i]) list[++n] = p
			for (i = n; i >= 1; i--) print list[i]
		}'
}
