#!/bin/sh
# `make fuzz`: runs the harnesses named as arguments (config, journal, ...)
# one after another, each for FUZZ_SECONDS, starting from its committed
# corpus. New inputs go to build/fuzz/new/NAME, never into the corpus;
# crashes, leaks and hangs to build/fuzz/crash/NAME/. Ends with one line
# per harness: its executions, coverage (cov, ft) and findings. A finding
# belongs in the corpus, tests/fuzz/corpus/NAME/, named after what it
# exercises, with the fix of the parser.
set -u
cd "$(dirname "$0")/../.." || exit 2
secs=${FUZZ_SECONDS:-60}
# The workdir harnesses write files for every input: on tmpfs when there is
# one, in a folder of this run, which also takes what a crashed harness
# leaves behind.
base=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	base=/dev/shm
fi
TMPDIR=$(mktemp -d "$base/hypotop-fuzz-run.XXXXXX") || exit 2
export TMPDIR
summary=$TMPDIR/summary
trap 'rm -rf "$TMPDIR"' EXIT
found=0
for name in "$@"; do
	bin=build/fuzz/fuzz_$name
	corpus=tests/fuzz/corpus/$name
	new=build/fuzz/new/$name
	crash=build/fuzz/crash/$name
	log=build/fuzz/log/$name.log
	if [ ! -x "$bin" ]; then
		echo "fuzz: $bin is not built (make fuzzers; it needs clang)" >&2
		exit 2
	fi
	mkdir -p "$new" "$crash" build/fuzz/log
	dict=
	[ -f "tests/fuzz/dict/$name.dict" ] && dict=-dict=tests/fuzz/dict/$name.dict
	echo "fuzz: $name for ${secs}s (log $log)"
	before=$(ls "$crash" | wc -l)
	# -timeout: an input that runs 10 s is a hang. The fuzzing runs in a child
	# (-fork=1) that is started again after a finding, so the run goes on.
	"$bin" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$crash/" -ignore_crashes=1 \
		-ignore_timeouts=1 -ignore_ooms=1 -fork=1 "$new" "$corpus" >"$log" 2>&1
	after=$(ls "$crash" | wc -l)
	# The last status line: "#EXECS: cov: N ft: N corp: N ...".
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(echo "$last" | sed -n 's/^#\([0-9]*\).*/\1/p')
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	printf 'fuzz_%s: %s executions, cov %s, ft %s, %d new finding(s) in %s\n' "$name" \
		"${execs:-?}" "${cov:-?}" "${ft:-?}" $((after - before)) "$crash" >>"$summary"
	[ "$after" -gt "$before" ] && found=1
done
cat "$summary"
# Every run's figures, for comparing runs.
sed "s/^/$(date '+%Y-%m-%d %H:%M') /" "$summary" >>build/fuzz/history.txt
[ "$found" -eq 0 ]
